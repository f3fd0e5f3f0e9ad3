"""The command line: keys create/list/revoke, and `run` (what `make run` calls) without serving."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from statservice.cli import app as cli
from statservice.core.config import get_settings
from statservice.core.security import ROLES, hash_api_key
from statservice.db.models import ApiKey
from statservice.db.session import Database


@pytest.fixture
def env(monkeypatch, database_url, tmp_path, service_registers):
    monkeypatch.setenv("COLUMNS", "250")  # rich tables in full width
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", database_url)
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(service_registers))
    monkeypatch.setenv("STATSERVICE_DEMO_KEYS_FILE", str(tmp_path / "var" / "demo-keys.json"))
    get_settings.cache_clear()
    yield database_url
    get_settings.cache_clear()


def invoke(*args: str):
    result = CliRunner().invoke(cli, list(args))
    return result


def test_keys_create_list_revoke(env):
    created = invoke(
        "keys", "create", "--organisation", "Cli Org", "--role", "auditor", "--segment", "student"
    )
    assert created.exit_code == 0, created.output
    secret = created.output.strip().splitlines()[-1]
    assert secret.startswith("ss_")
    db = Database(env)
    with db.session() as session:
        row = session.execute(select(ApiKey).where(ApiKey.key_hash == hash_api_key(secret))).scalar_one()
    listed = invoke("keys", "list")
    assert listed.exit_code == 0 and row.id in listed.output and secret not in listed.output
    revoked = invoke("keys", "revoke", row.id)
    assert revoked.exit_code == 0
    with db.session() as session:
        assert session.get(ApiKey, row.id).revoked_at is not None
    assert invoke("keys", "revoke", "key_nope").exit_code == 1
    db.dispose()


def test_run_sets_up_demo_keys_once_and_reprints_them(env, tmp_path):
    first = invoke("run", "--no-serve")
    assert first.exit_code == 0, first.output
    path = tmp_path / "var" / "demo-keys.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    keys = json.loads(path.read_text())["keys"]
    assert set(keys) == set(ROLES)
    for entry in keys.values():
        assert entry["key"] in first.output.replace("\n", "")
    assert "curl" in first.output and "/v1/queries/quote" in first.output
    assert "Web pages: http://" in first.output  # the page address next to the curl commands
    assert "/v1/public/statistics" in first.output  # the free statistics, no key needed
    second = invoke("run", "--no-serve")
    assert second.exit_code == 0
    assert json.loads(path.read_text())["keys"] == keys
    db = Database(env)
    with db.session() as session:
        assert session.execute(select(ApiKey)).scalars().all().__len__() == len(ROLES)
    db.dispose()


def test_run_generates_the_registers_when_missing(monkeypatch, sqlite_url, tmp_path):
    data_dir = tmp_path / "data" / "registers"
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(data_dir))
    monkeypatch.setenv("STATSERVICE_DEMO_KEYS_FILE", str(tmp_path / "var" / "demo-keys.json"))
    get_settings.cache_clear()
    try:
        result = invoke("run", "--no-serve", "--persons", "2000")
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert (data_dir / "catalog.json").is_file() and any(data_dir.rglob("*.parquet"))
    assert "generated 2,000 synthetic persons" in result.output
    # a new data version: its public statistics are built (those disclosure control allows)
    assert "public statistics:" in result.output and "published (/v1/public/statistics)" in result.output
    monkeypatch.setenv("COLUMNS", "250")  # rich tables in full width
    listed = invoke("public-statistics", "list")
    assert listed.exit_code == 0 and "type-2-diabetes-incidence-prevalence-by-sex" in listed.output


def test_run_regenerates_an_extract_that_a_first_run_left_half_written(tmp_path):
    from statservice.cli.run import ensure_registers
    from synthetic_registers.catalog import CATALOG_FILE, Catalog

    data_dir = tmp_path / "registers"
    (data_dir / "bef").mkdir(parents=True)
    (data_dir / "bef" / "part-00000.parquet").write_bytes(b"interrupted")  # no catalog.json: unfinished

    assert ensure_registers(data_dir, persons=2000) is True
    catalog = Catalog.load(data_dir)
    assert catalog is not None and (data_dir / CATALOG_FILE).is_file()
    assert ensure_registers(data_dir, persons=2000) is False  # complete now: left alone


def test_run_generates_again_an_extract_an_older_generator_made_and_never_touches_a_delivery(tmp_path):
    from statservice.cli.run import ensure_registers
    from synthetic_registers.catalog import CATALOG_FILE
    from synthetic_registers.generate import GENERATOR_VERSION

    data_dir = tmp_path / "registers"
    assert ensure_registers(data_dir, persons=2000) is True
    catalog = json.loads((data_dir / CATALOG_FILE).read_text())
    (data_dir / CATALOG_FILE).write_text(json.dumps({**catalog, "generator_version": "0.9.0"}))

    assert ensure_registers(data_dir, persons=2000) is True
    assert json.loads((data_dir / CATALOG_FILE).read_text())["generator_version"] == GENERATOR_VERSION
    aside = tmp_path / "registers.generator-0.9.0"
    assert json.loads((aside / CATALOG_FILE).read_text())["generator_version"] == "0.9.0"  # kept, not deleted

    delivery = tmp_path / "delivery"
    delivery.mkdir()
    (delivery / CATALOG_FILE).write_text(json.dumps({"data_version": "from-the-owners"}))
    assert ensure_registers(delivery, persons=2000) is False
    assert sorted(p.name for p in delivery.iterdir()) == [CATALOG_FILE]


def test_run_in_production_creates_no_demo_organisation_and_prints_no_keys(env, monkeypatch, tmp_path):
    from statservice.db.models import Organisation

    monkeypatch.setenv("STATSERVICE_ENVIRONMENT", "production")
    monkeypatch.setenv("STATSERVICE_SECRET_KEY", "9f2c4e81b7d05a3e6c18f4b2a97d0e53c6b1f8a2")
    monkeypatch.setenv("STATSERVICE_NOISE_SECRET", "Zq7-Lr2pXw9_Tm4sKd8vHn3cBf6yJg1a")
    monkeypatch.setenv("STATSERVICE_AUDIT_KEY", "e3b7a91c5f08d24e6a7c3b19f0d85e2a4c6b8d1f")
    get_settings.cache_clear()
    result = invoke("run", "--no-serve")
    assert result.exit_code == 0, result.output
    assert "ss_" not in result.output and "curl" not in result.output
    assert "no demo organisation" in result.output and "keys create" in result.output
    assert not (tmp_path / "var" / "demo-keys.json").exists()
    db = Database(env)
    with db.session() as session:
        assert session.execute(select(Organisation)).scalars().all() == []
        assert session.execute(select(ApiKey)).scalars().all() == []
    db.dispose()


def test_the_sqlite_database_and_its_wal_are_private(monkeypatch, tmp_path, service_registers):
    import os

    database = tmp_path / "fresh" / "statservice.sqlite3"
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", f"sqlite:///{database}")
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(service_registers))
    monkeypatch.setenv("STATSERVICE_DEMO_KEYS_FILE", str(tmp_path / "var" / "demo-keys.json"))
    old_umask = os.umask(0o022)  # what most shells have: files 0644 unless created otherwise
    get_settings.cache_clear()
    try:
        assert invoke("run", "--no-serve").exit_code == 0
        db = Database(f"sqlite:///{database}")  # opened: the -wal and -shm exist while it is
        with db.session() as session:
            session.execute(select(ApiKey)).all()
            companions = [database.with_name(database.name + suffix) for suffix in ("-wal", "-shm")]
            assert all(path.exists() for path in companions)
            for path in (database, *companions):
                assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        db.dispose()
        database.chmod(0o644)  # left readable by an older version: tightened on the next start
        Database(f"sqlite:///{database}").dispose()
        assert stat.S_IMODE(database.stat().st_mode) == 0o600
    finally:
        os.umask(old_umask)
        get_settings.cache_clear()


def _statservice(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The command line as a user runs it: a process of its own, real stdout and stderr."""
    root = Path(__file__).resolve().parents[2]  # this checkout's packages, not an installed copy
    return subprocess.run(
        [sys.executable, "-m", "statservice", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "250"},
    )


@pytest.fixture
def busy_port(monkeypatch):
    """A port another program listens on (a real bound, listening socket), set as STATSERVICE_PORT."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        monkeypatch.setenv("STATSERVICE_HOST", "127.0.0.1")
        monkeypatch.setenv("STATSERVICE_PORT", str(port))
        get_settings.cache_clear()
        yield port
    get_settings.cache_clear()


def test_run_on_a_busy_port_says_which_setting_moves_it_before_printing_anything(env, busy_port):
    """It printed the welcome and the curl commands, then died in uvicorn: "address already in use"."""
    result = _statservice("run")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert result.stdout == ""  # no welcome, no keys, no curl commands for the other program's port
    message = " ".join(result.stderr.split())
    assert f"cannot serve on 127.0.0.1:{busy_port}: port {busy_port} is already in use" in message
    assert "STATSERVICE_PORT=" in message and "make run" in message and "docs/settings.md" in message
    assert "Traceback" not in result.stderr and "address already in use" not in result.stderr


def test_serve_on_a_busy_port_names_its_flag_and_a_free_port(env, busy_port):
    assert invoke("migrate").exit_code == 0
    result = _statservice("serve")
    assert result.returncode == 1, (result.stdout, result.stderr)
    message = " ".join(result.stderr.split())
    assert f"port {busy_port} is already in use" in message
    suggested = int(message.split("--port ")[1].split()[0])
    from statservice.cli.checks import bind_problem

    assert suggested != busy_port and bind_problem("127.0.0.1", suggested) is None
    assert f"STATSERVICE_PORT={suggested}" in message


def test_the_port_check_passes_a_free_port_and_names_a_foreign_address():
    from statservice.cli.checks import bind_problem

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    assert bind_problem("127.0.0.1", free) is None
    kind, reason = bind_problem("192.0.2.1", free)  # TEST-NET-1: never an address of this machine
    assert kind == "host" and "not an address of this machine" in reason
