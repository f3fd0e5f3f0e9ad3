"""Someone who can write the database (and drop its triggers) but does not hold the audit key or the
checkpoint directory: every way of rewriting history is refused by the database where SQL alone can
refuse it, and detected by `audit verify`, `statservice audit verify` and GET /v1/audit/verify, each
naming the first bad sequence or the checkpoint it contradicts. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import time
import uuid
from contextlib import closing

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from statservice import audit
from statservice.api.app import create_app
from statservice.db.models import AuditHead, AuditRecord
from statservice.service import Service
from tests.service.conftest import PG_URL, make_settings
from tests.service.test_audit_chain import append_some, as_intruder, checkpoint, run_cli, verify

FIELDS = ("timestamp", "actor", "organisation_id", "action", "query_hash", "payload_json", "prev_hash")


def records(service) -> list[AuditRecord]:
    with service.db.session() as session:
        return list(session.execute(select(AuditRecord).order_by(AuditRecord.sequence)).scalars())


def rehash(record: AuditRecord, prev_hash: str, key: bytes | None) -> str:
    return audit.record_hash(
        sequence=record.sequence,
        timestamp=record.timestamp,
        actor=record.actor,
        organisation_id=record.organisation_id,
        action=record.action,
        query_hash=record.query_hash,
        payload=json.loads(record.payload_json),
        prev_hash=prev_hash,
        key=key,
    )


def rewrite_from(service, first: int, *, key: bytes | None = None, chain: str | None = None) -> None:
    """Edit record ``first`` and rehash it and every later one (plain SHA-256 unless ``key``), relabel
    their scheme if ``chain`` is given, and point the head at the new last hash: a consistent chain
    to anyone without the audit key."""
    rows = records(service)
    with service.db.write() as session:
        prev_hash = rows[first - 2].hash if first > 1 else audit.GENESIS_HASH
        for record in rows[first - 1 :]:
            if record.sequence == first:
                record.actor = "nobody"
            own = rehash(record, prev_hash, key)
            values = {"actor": record.actor, "prev_hash": prev_hash, "hash": own}
            if chain is not None:
                values["chain"] = chain
            # a unique hash column: move the row's old hash out of the way first
            session.execute(
                update(AuditRecord)
                .where(AuditRecord.sequence == record.sequence)
                .values(hash=f"x{record.sequence}")
            )
            session.execute(update(AuditRecord).where(AuditRecord.sequence == record.sequence).values(values))
            prev_hash = own
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_hash=prev_hash))


def reset_head(service) -> None:
    with service.db.write() as session:
        last = session.execute(select(AuditRecord).order_by(AuditRecord.sequence.desc()).limit(1)).scalar()
        values = (
            {"last_sequence": last.sequence, "last_hash": last.hash}
            if last
            else {"last_sequence": 0, "last_hash": audit.GENESIS_HASH}
        )
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(values))


def assert_detected(api, monkeypatch, sequence: int, *words: str, checkpoint_name: str | None = None) -> None:
    """The HTTP verify, the CLI and the library all fail, naming ``sequence`` (and the checkpoint)."""
    result = verify(api)
    assert result["ok"] is False
    first = result["problems"][0] if checkpoint_name is None else None
    matching = [
        p
        for p in result["problems"]
        if p["sequence"] == sequence
        and all(word in p["problem"] for word in words)
        and (checkpoint_name is None or p.get("checkpoint") == checkpoint_name)
    ]
    assert matching, result["problems"]
    if first is not None:  # the first problem reported is the first bad sequence
        assert first["sequence"] == sequence, result["problems"]
    cli = run_cli(api, monkeypatch, "audit", "verify")
    assert cli.exit_code == 1
    assert f"sequence {sequence}:" in cli.output
    if checkpoint_name:
        assert checkpoint_name in cli.output.replace("\n", "")


def test_an_intact_chain_and_its_checkpoints_verify(api, monkeypatch):
    append_some(api.service)
    written = checkpoint(api.service)
    result = verify(api)
    assert result["ok"] is True, result["problems"]
    assert result["keyed_from"] == 1 and result["checkpoints"] >= 2  # the server's at startup, and ours
    assert result["last_checkpoint_sequence"] == written.sequence == result["last_sequence"]
    assert run_cli(api, monkeypatch, "audit", "verify").exit_code == 0
    path = api.service.settings.audit_checkpoint_dir / written.name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_edit_and_rehash_with_plain_sha256_is_detected(api, monkeypatch):
    append_some(api.service)
    checkpoint(api.service)
    as_intruder(api.service)
    rewrite_from(api.service, 3)
    assert_detected(api, monkeypatch, 3, "HMAC")


def test_edit_and_rehash_relabelled_as_the_old_scheme_is_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    rewrite_from(api.service, 4, chain=audit.CHAIN_SHA256)
    assert_detected(api, monkeypatch, 4, "unkeyed")


def test_whole_chain_rewritten_as_the_old_scheme_contradicts_the_checkpoints(api, monkeypatch):
    append_some(api.service)
    written = checkpoint(api.service)
    as_intruder(api.service)
    rewrite_from(api.service, 1, chain=audit.CHAIN_SHA256)
    assert_detected(api, monkeypatch, 1, "keyed from sequence 1")
    assert any(
        p.get("checkpoint") == written.name and "differs" in p["problem"] for p in verify(api)["problems"]
    )


def test_rehash_under_a_guessed_key_is_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    rewrite_from(api.service, 2, key=audit.AuditKeys.from_secret("changethis").chain)
    assert_detected(api, monkeypatch, 2, "HMAC")


def test_rehashing_only_the_newest_record_is_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    last = records(api.service)[-1].sequence
    rewrite_from(api.service, last)  # only the newest record: no later record links to it
    assert_detected(api, monkeypatch, last, "HMAC")


def replace_statement(dialect: str, sequence: int) -> str:
    columns = "sequence, timestamp, actor, organisation_id, action, query_hash, payload_json, prev_hash, "
    columns += "hash, chain"
    select_columns = columns.replace("actor", "'nobody'").replace("hash, chain", "'forged', chain")
    source = f"SELECT {select_columns} FROM ss_audit_log WHERE sequence = {sequence}"
    if dialect == "sqlite":
        return f"INSERT OR REPLACE INTO ss_audit_log ({columns}) {source}"
    return (
        f"INSERT INTO ss_audit_log ({columns}) {source} "
        "ON CONFLICT (sequence) DO UPDATE SET actor = EXCLUDED.actor, hash = EXCLUDED.hash"
    )


def test_insert_or_replace_is_refused_by_the_database(api):
    append_some(api.service)
    statement = replace_statement(api.service.db.dialect, 3)
    with pytest.raises(DBAPIError, match="append-only"), api.service.db.write() as session:
        session.execute(text(statement))
    assert verify(api)["ok"] is True


def test_insert_or_replace_past_dropped_triggers_is_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(text(replace_statement(api.service.db.dialect, 3)))
    assert records(api.service)[2].actor == "nobody"
    assert_detected(api, monkeypatch, 3, "HMAC")


def test_inserting_out_of_place_is_refused_by_the_database(api):
    append_some(api.service, 2)
    last = records(api.service)[-1]
    for sequence, prev_hash, chain in (
        (last.sequence + 2, last.hash, audit.CHAIN_HMAC),  # a gap
        (last.sequence + 1, audit.GENESIS_HASH, audit.CHAIN_HMAC),  # not linked to the last record
        (last.sequence + 1, last.hash, audit.CHAIN_SHA256),  # unkeyed after keyed records
    ):
        with pytest.raises(DBAPIError, match="append-only"), api.service.db.write() as session:
            session.add(
                AuditRecord(
                    sequence=sequence,
                    timestamp="2026-01-01T00:00:00+00:00",
                    actor="x",
                    organisation_id=None,
                    action="x",
                    query_hash=None,
                    payload_json="{}",
                    prev_hash=prev_hash,
                    hash=uuid.uuid4().hex * 2,
                    chain=chain,
                )
            )
    with pytest.raises(DBAPIError, match="forward"), api.service.db.write() as session:
        session.execute(update(AuditHead).where(AuditHead.id == 1).values(last_sequence=0))
    assert verify(api)["ok"] is True


def test_truncate_is_refused_and_truncate_with_head_reset_is_detected(api, monkeypatch):
    append_some(api.service)
    written = checkpoint(api.service)
    postgres = api.service.db.dialect == "postgresql"
    wipe = "TRUNCATE ss_audit_log" if postgres else "DELETE FROM ss_audit_log"
    with pytest.raises(DBAPIError, match="append-only"), api.service.db.write() as session:
        session.execute(text(wipe))
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(text(wipe))
    reset_head(api.service)
    result = verify(api)
    assert result["records"] == 0
    assert_detected(api, monkeypatch, written.sequence, "ahead of the log", checkpoint_name=written.name)


def test_deleting_the_last_records_and_resetting_the_head_is_detected(api, monkeypatch):
    append_some(api.service)
    written = checkpoint(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(text(f"DELETE FROM ss_audit_log WHERE sequence > {written.sequence - 2}"))
    reset_head(api.service)
    assert_detected(api, monkeypatch, written.sequence, "ahead of the log", checkpoint_name=written.name)


def test_rollback_then_new_records_contradict_the_checkpoint(api, monkeypatch):
    """Deleting records and appending others through the application (which holds the key) in their
    place: the chain verifies on its own, the checkpoint does not."""
    append_some(api.service)
    written = checkpoint(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(text(f"DELETE FROM ss_audit_log WHERE sequence > {written.sequence - 2}"))
    reset_head(api.service)
    append_some(api.service, 4)
    assert_detected(api, monkeypatch, written.sequence, "differs", checkpoint_name=written.name)
    # and the service refuses to sign the rewritten head
    with pytest.raises(audit.CheckpointRefused, match=f"sequence {written.sequence}"):
        checkpoint(api.service)
    assert run_cli(api, monkeypatch, "audit", "checkpoint").exit_code == 1


def _snapshot(api, tmp_path):
    """A backup of the database as it is now (SQLite: the backup API; PostgreSQL: a copy)."""
    url = api.service.settings.database_url
    if api.service.db.dialect == "sqlite":
        path = make_url(url).database
        backup = tmp_path / "backup.sqlite3"
        with closing(sqlite3.connect(path)) as source, closing(sqlite3.connect(backup)) as target:
            source.backup(target)
        return backup
    name = f"{make_url(url).database}_backup"
    api.service.db.engine.dispose()
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{make_url(url).database}"'))
    admin.dispose()
    return name


def _restore(api, snapshot) -> None:
    """Put the backup in place of the live database, under the same name."""
    url = api.service.settings.database_url
    api.service.db.engine.dispose()
    if api.service.db.dialect == "sqlite":
        path = make_url(url).database
        for suffix in ("-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        shutil.copyfile(snapshot, path)
        return
    live = make_url(url).database
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE "{live}" WITH (FORCE)'))
        connection.execute(text(f'ALTER DATABASE "{snapshot}" RENAME TO "{live}"'))
    admin.dispose()


def test_restoring_an_older_copy_of_the_database_is_detected(api, monkeypatch, tmp_path):
    append_some(api.service, 2)
    snapshot = _snapshot(api, tmp_path)
    append_some(api.service, 3)
    written = checkpoint(api.service)
    _restore(api, snapshot)
    restored = records(api.service)
    assert restored[-1].sequence < written.sequence
    with api.service.db.session() as session:  # the copy is consistent in itself
        assert audit.verify(session).ok
    assert_detected(api, monkeypatch, written.sequence, "older copy", checkpoint_name=written.name)


def test_a_forged_or_missing_checkpoint_is_reported(api, monkeypatch):
    append_some(api.service, 2)
    directory = api.service.settings.audit_checkpoint_dir
    written = checkpoint(api.service)
    data = json.loads((directory / written.name).read_text())
    forged = audit.Checkpoint(data["sequence"] - 1, "f" * 64, 1, data["written_at"])
    (directory / "checkpoint-999999999999.json").write_text(
        json.dumps(
            {**forged.body(), "signature": forged.signature(audit.AuditKeys.from_secret("changethis"))}
        )
    )
    result = verify(api)
    assert result["ok"] is False
    assert any(p.get("checkpoint") == "checkpoint-999999999999.json" for p in result["problems"])
    append_some(api.service, 1)
    assert checkpoint(api.service).sequence == written.sequence + 1  # a stray file stops no checkpoint
    for path in directory.glob("checkpoint-*.json"):
        path.unlink()
    result = verify(api)
    assert result["ok"] is False and "no valid checkpoint" in result["problems"][0]["problem"]
    assert run_cli(api, monkeypatch, "audit", "checkpoint").exit_code == 0
    assert verify(api)["ok"] is True


def test_the_server_checkpoints_at_startup_on_its_timer_and_at_shutdown(database_url, tmp_path):
    settings = make_settings(database_url, tmp_path / "no-registers", audit_checkpoint_seconds=0.2)
    service = Service(settings)
    directory = settings.audit_checkpoint_dir
    with TestClient(create_app(settings, service)):
        assert service.wait_for_first_audit_checkpoint(timeout=30)
        assert [p.name for p in directory.glob("checkpoint-*.json")] == [audit.checkpoint_file_name(0)]
        append_some(service, 3)
        deadline = time.monotonic() + 10
        while not (directory / audit.checkpoint_file_name(3)).exists():
            assert time.monotonic() < deadline, "the timer wrote no checkpoint"
            time.sleep(0.05)
        append_some(service, 1)
    assert (directory / audit.checkpoint_file_name(4)).exists()  # written at shutdown
    with service.db.session() as session:
        result = audit.verify(session, directory)
    assert result.ok and result.last_checkpoint_sequence == 4
    service.close()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database_url(request, tmp_path):
    """A database with no tables yet (to migrate step by step)."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'old.sqlite3'}"
    if not PG_URL:
        pytest.skip("PostgreSQL not configured (set STATSERVICE_TEST_POSTGRES_URL)")
    name = f"ss_old_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _write_legacy_chain(url: str, count: int) -> None:
    """What versions before ss0006 stored: a plain SHA-256 chain, no scheme column."""
    engine = create_engine(url)
    prev_hash = audit.GENESIS_HASH
    with engine.begin() as connection:
        for sequence in range(1, count + 1):
            fields = {
                "sequence": sequence,
                "timestamp": f"2026-11-0{sequence}T10:00:00.000000+00:00",
                "actor": "key_old",
                "organisation_id": "org_old",
                "action": "release",
                "query_hash": None,
                "payload": {"n": sequence},
                "prev_hash": prev_hash,
            }
            own = audit.record_hash(**fields)
            connection.execute(
                text(
                    "INSERT INTO ss_audit_log (sequence, timestamp, actor, organisation_id, action, "
                    "query_hash, payload_json, prev_hash, hash) VALUES (:sequence, :timestamp, :actor, "
                    ":organisation_id, :action, :query_hash, :payload_json, :prev_hash, :hash)"
                ),
                {**fields, "payload_json": audit.canonical_json(fields["payload"]), "hash": own},
            )
            prev_hash = own
        connection.execute(
            text("UPDATE ss_audit_head SET last_sequence = :s, last_hash = :h WHERE id = 1"),
            {"s": count, "h": prev_hash},
        )
    engine.dispose()


def test_a_chain_from_before_the_audit_key_still_verifies_and_cannot_be_rewritten(
    empty_database_url, tmp_path, monkeypatch
):
    from alembic import command

    from statservice.db.migrate import alembic_config, upgrade

    url = empty_database_url
    command.upgrade(alembic_config(url), "ss0004")
    _write_legacy_chain(url, 3)
    upgrade(url)  # ss0006: the rows become chain = 'sha256'
    settings = make_settings(url, tmp_path / "no-registers")
    service = Service(settings)
    from tests.service.conftest import seed_actors

    actors = seed_actors(service)  # keyed records after the old ones
    with TestClient(create_app(settings, service)) as client:
        assert service.wait_for_first_audit_checkpoint(timeout=30)  # the startup checkpoint
        answer = client.get("/v1/audit/verify", headers=actors["auditor"].headers).json()
        assert answer["ok"] is True, answer["problems"]
        assert answer["keyed_from"] == 4 and answer["checkpoints"] == 1
        chains = [r.chain for r in records(service)]
        assert chains[:3] == [audit.CHAIN_SHA256] * 3 and set(chains[3:]) == {audit.CHAIN_HMAC}
        # an old record rewritten, and everything after it relabelled old-style and rehashed
        as_intruder(service)
        rewrite_from(service, 2, chain=audit.CHAIN_SHA256)
        answer = client.get("/v1/audit/verify", headers=actors["auditor"].headers).json()
        assert answer["ok"] is False
        assert answer["problems"][0]["sequence"] == 4  # record 4 should be keyed
        assert "keyed from sequence 4" in answer["problems"][0]["problem"]
        assert any(p.get("checkpoint") for p in answer["problems"])  # and the head differs
    service.close()
