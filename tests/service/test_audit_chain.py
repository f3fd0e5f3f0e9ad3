"""The audit log is append-only and HMAC-chained: any edit, deletion or reordering is detected, by the
library, by GET /v1/audit/verify and by `statservice audit verify` (rehashing, truncation and rollback:
test_audit_tampering)."""

from __future__ import annotations

import csv
import itertools
import json
import stat

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DBAPIError
from typer.testing import CliRunner

from statservice import audit
from statservice.cli import app as cli
from statservice.db.models import AuditRecord


def append_some(service, n: int = 5) -> None:
    for i in range(n):
        with service.db.write() as session:
            audit.append(
                session,
                actor="test",
                organisation_id="org_x",
                action="test.event",
                query_hash=f"{i:064x}",
                payload={"i": i, "text": "æøå"},
            )


TRIGGERS = {
    "ss_audit_log": (
        "ss_audit_log_no_update",
        "ss_audit_log_no_delete",
        "ss_audit_log_append_at_end",
        "ss_audit_log_no_truncate",
    ),
    "ss_audit_head": ("ss_audit_head_forward", "ss_audit_head_no_delete", "ss_audit_head_no_truncate"),
}


def as_intruder(service) -> None:
    """Someone with DDL rights: drop every trigger guarding the log and its head, so records can be
    edited, replaced, truncated and the head reset at all."""
    postgres = service.db.dialect == "postgresql"
    with service.db.write() as session:
        for table, names in TRIGGERS.items():
            for name in names:
                session.execute(text(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else "")))


def checkpoint(service) -> audit.Checkpoint:
    with service.db.session() as session:
        return audit.write_checkpoint(session, service.settings.audit_checkpoint_dir)


def verify(api) -> dict:
    response = api.get("/v1/audit/verify", api.auditor)
    assert response.status_code == 200
    return response.json()


def run_cli(api, monkeypatch, *args: str):
    settings = api.service.settings
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("STATSERVICE_AUDIT_KEY", settings.audit_key.get_secret_value())
    monkeypatch.setenv("STATSERVICE_AUDIT_CHECKPOINT_DIR", str(settings.audit_checkpoint_dir))
    from statservice.core.config import get_settings

    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, list(args))
    finally:
        get_settings.cache_clear()


def cli_verify(api, monkeypatch) -> int:
    return run_cli(api, monkeypatch, "audit", "verify").exit_code


def test_intact_chain_verifies(api, monkeypatch):
    append_some(api.service)
    result = verify(api)
    assert result["ok"] is True and result["problems"] == []
    # seeding wrote organisation and key records too: the sequence is contiguous from 1
    assert result["records"] == result["last_sequence"] >= 5
    assert cli_verify(api, monkeypatch) == 0


def test_each_record_hash_covers_its_content_and_predecessor(api):
    append_some(api.service, 3)
    with api.service.db.session() as session:
        records = session.execute(select(AuditRecord).order_by(AuditRecord.sequence)).scalars().all()
    for previous, record in itertools.pairwise(records):
        assert record.prev_hash == previous.hash
        assert record.sequence == previous.sequence + 1
    assert records[0].prev_hash == audit.GENESIS_HASH


@pytest.mark.parametrize(
    "column, value",
    [
        ("actor", "someone else"),
        ("payload_json", '{"i":99}'),
        ("action", "release"),
        ("timestamp", "2020-01-01T00:00:00+00:00"),
    ],
)
def test_edited_record_is_detected(api, monkeypatch, column, value):
    append_some(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(update(AuditRecord).where(AuditRecord.sequence == 3).values({column: value}))
    result = verify(api)
    assert result["ok"] is False
    assert any(p["sequence"] == 3 and "edited" in p["problem"] for p in result["problems"])
    assert cli_verify(api, monkeypatch) == 1


def test_deleted_record_is_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        session.execute(delete(AuditRecord).where(AuditRecord.sequence == 4))
    result = verify(api)
    assert result["ok"] is False
    assert any(p["sequence"] == 5 for p in result["problems"])
    assert cli_verify(api, monkeypatch) == 1


def test_deleted_last_record_is_detected(api):
    append_some(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        last = (
            session.execute(select(AuditRecord.sequence).order_by(AuditRecord.sequence.desc()))
            .scalars()
            .first()
        )
        session.execute(delete(AuditRecord).where(AuditRecord.sequence == last))
    result = verify(api)
    assert result["ok"] is False
    assert any("head" in p["problem"] for p in result["problems"])


def test_reordered_records_are_detected(api, monkeypatch):
    append_some(api.service)
    as_intruder(api.service)
    with api.service.db.write() as session:
        a = session.get(AuditRecord, 3)
        b = session.get(AuditRecord, 4)
        fields = (
            "timestamp",
            "actor",
            "organisation_id",
            "action",
            "query_hash",
            "payload_json",
            "prev_hash",
            "hash",
        )
        values_a = {f: getattr(a, f) for f in fields}
        values_b = {f: getattr(b, f) for f in fields}
        # swap through a temporary hash (hash is unique)
        session.execute(update(AuditRecord).where(AuditRecord.sequence == 3).values(hash="tmp"))
        session.execute(update(AuditRecord).where(AuditRecord.sequence == 4).values(values_a))
        session.execute(update(AuditRecord).where(AuditRecord.sequence == 3).values(values_b))
    result = verify(api)
    assert result["ok"] is False
    assert {p["sequence"] for p in result["problems"]} & {3, 4, 5}
    assert cli_verify(api, monkeypatch) == 1


def test_the_database_refuses_edits_and_deletions(api):
    append_some(api.service, 2)
    for statement in (
        update(AuditRecord).where(AuditRecord.sequence == 1).values(actor="x"),
        delete(AuditRecord).where(AuditRecord.sequence == 2),
    ):
        with pytest.raises(DBAPIError, match="append-only"), api.service.db.write() as session:
            session.execute(statement)
    assert verify(api)["ok"] is True


def test_export_is_the_chain_as_json_lines(api, monkeypatch, tmp_path):
    append_some(api.service, 3)
    response = api.get("/v1/audit/export", api.auditor)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert [r["sequence"] for r in lines] == list(range(1, len(lines) + 1))
    chain_key = audit.AuditKeys.from_secret(api.service.settings.audit_key).chain
    fields = (
        "sequence",
        "timestamp",
        "actor",
        "organisation_id",
        "action",
        "query_hash",
        "payload",
        "prev_hash",
    )
    for record in lines:
        assert record["chain"] == audit.CHAIN_HMAC
        # verifiable offline with the audit key, and only with it
        assert audit.record_hash(**{k: record[k] for k in fields}, key=chain_key) == record["hash"]
        assert audit.record_hash(**{k: record[k] for k in fields}) != record["hash"]
    out = tmp_path / "audit.jsonl"
    result = run_cli(api, monkeypatch, "audit", "export", "-o", str(out))
    assert result.exit_code == 0
    assert [json.loads(line) for line in out.read_text().splitlines()] == lines
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_audit_filters(api):
    append_some(api.service, 4)
    page = api.get("/v1/audit/records", api.auditor, params={"action": "test.event", "limit": 2}).json()
    assert page["total"] == 4 and len(page["items"]) == 2
    assert all(item["action"] == "test.event" for item in page["items"])
    page = api.get(
        "/v1/audit/records", api.auditor, params={"organisation_id": api.customer.organisation_id}
    ).json()
    assert page["total"] >= 1
    assert all(item["organisation_id"] == api.customer.organisation_id for item in page["items"])


def test_audit_is_for_auditors(api):
    for name in ("customer", "staff"):
        response = api.get("/v1/audit/verify", getattr(api, name))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
    assert api.get("/v1/audit/verify", api.admin).status_code == 200


def test_csv_export_is_formula_safe_and_private(api, monkeypatch, tmp_path):
    with api.service.db.write() as session:
        audit.append(
            session,
            actor='=HYPERLINK("http://evil.example")',
            organisation_id=None,
            action="test.event",
            query_hash=None,
            payload={"note": "-1+1"},
        )
    out = tmp_path / "audit.csv"
    out.write_text("older export")
    out.chmod(0o644)
    result = run_cli(api, monkeypatch, "audit", "export", "-o", str(out), "--format", "csv")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    with out.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[-1]["actor"] == '\'=HYPERLINK("http://evil.example")'
    assert json.loads(rows[-1]["payload"]) == {"note": "-1+1"}  # JSON text starts with "{": as is
    assert [int(row["sequence"]) for row in rows] == list(range(1, len(rows) + 1))
