"""Several API processes over one database (issue 14): run leases, organisation rate limits, key
revocation across processes, and ``serve`` refusing a database that is not migrated.

The lease tests start real ``statservice serve`` processes (uvicorn) on one PostgreSQL database and
stop one of them mid-run: with SIGSTOP (it stalls, then wakes up after its lease was reaped and must
not release) and with SIGKILL (it dies). The run is held mid-release by this test holding the audit
chain's row lock, which every release takes, so "mid-run" is a certainty rather than a race.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from statservice import pipeline
from statservice.cli import app as cli
from statservice.core.config import get_settings
from statservice.db.migrate import NotMigrated, alembic_config, require_head, upgrade
from statservice.db.models import QueryRun, ReleaseRecord, utcnow
from statservice.service import Service
from tests.service.conftest import (
    AUDIT_KEY,
    SECRET,
    Api,
    build_api,
    make_settings,
    postgres_database,
    seed_actors,
)
from tests.service.helpers import assert_consistent, cohort

ROOT = Path(__file__).resolve().parents[2]
LEASE_SECONDS = 3


# --- real server processes ---------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """``statservice serve`` in a subprocess of its own."""

    def __init__(self, database_url: str, data_dir: Path, log: Path, workers: int = 1) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT),
            "STATSERVICE_DATABASE_URL": database_url,
            "STATSERVICE_DATA_DIR": str(data_dir),
            "STATSERVICE_SECRET_KEY": SECRET,
            "STATSERVICE_NOISE_SECRET": SECRET,
            # the test's own Service verifies the chain these servers append to: the same key
            "STATSERVICE_AUDIT_KEY": AUDIT_KEY,
            "STATSERVICE_AUDIT_CHECKPOINT_DIR": str(log.parent / f"checkpoints-{self.port}"),
            "STATSERVICE_RUN_EXECUTOR": "thread",
            "STATSERVICE_RUN_LEASE_SECONDS": str(LEASE_SECONDS),
            "STATSERVICE_SYNC_WAIT_SECONDS": "1",
            "STATSERVICE_RELEASE_TIME_BUCKET_MS": "0",
        }
        self._log = log.open("wb")
        arguments = ["serve", "--port", str(self.port), "--workers", str(workers)]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "statservice", *arguments],
            env=env,
            cwd=ROOT,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self.log = log

    def wait_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.log.read_text()[-3000:]
            try:
                if httpx.get(f"{self.base}/v1/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise AssertionError("the server did not start: " + self.log.read_text()[-3000:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self._log.close()


@pytest.fixture
def two_servers(request, service_registers, tmp_path):
    url = postgres_database(request)
    service = Service(make_settings(url, service_registers))
    actors = seed_actors(service)
    servers = [Server(url, service_registers, tmp_path / f"server-{name}.log") for name in "AB"]
    try:
        for server in servers:
            server.wait_ready()
        yield url, service, actors, servers
    finally:
        for server in servers:
            server.stop()
        service.close()


class ChainLock:
    """Holds the audit chain's head row locked, as a release in progress does: every release of the
    servers waits behind it."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.connection = self.engine.connect()
        self.connection.execute(text("SELECT last_sequence FROM ss_audit_head WHERE id = 1 FOR UPDATE"))

    def waiters(self) -> int:
        with self.engine.connect() as other:
            return other.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            ).scalar_one()

    def release(self) -> None:
        self.connection.rollback()
        self.connection.close()
        self.engine.dispose()


def _start_run_on(server: Server, key: str, query: dict) -> dict:
    """POST a run (answered 202 after the 1 s synchronous wait, since the release is held)."""
    answer: dict = {}

    def post() -> None:
        try:
            response = httpx.post(
                f"{server.base}/v1/queries/runs",
                json=query,
                headers={"Authorization": f"Bearer {key}"},
                timeout=60,
            )
        except httpx.HTTPError as error:  # the server was killed
            answer["error"] = error
            return
        answer["status"] = response.status_code

    thread = threading.Thread(target=post, daemon=True)
    thread.start()
    answer["thread"] = thread
    return answer


def _held_run(service: Service, lock: ChainLock) -> QueryRun:
    """Wait until a run is running and its release is waiting behind the chain lock."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with service.db.session() as session:
            run = session.execute(select(QueryRun).where(QueryRun.status == "running")).scalar_one_or_none()
        if run is not None and lock.waiters() >= 1:
            return run
        time.sleep(0.05)
    raise AssertionError("the run never reached its release")


def _run_row(service: Service, run_id: str) -> QueryRun:
    with service.db.session() as session:
        return session.get(QueryRun, run_id)


def _releases_of(service: Service, run_id: str) -> int:
    with service.db.session() as session:
        return session.execute(
            select(func.count()).select_from(ReleaseRecord).where(ReleaseRecord.run_id == run_id)
        ).scalar_one()


def _watch_until_failed(
    server: Server, key: str, run_id: str, timeout: float
) -> list[tuple[dt.datetime, str]]:
    """Poll the run through ``server`` until it is no longer running: (time, status) seen."""
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = httpx.get(
            f"{server.base}/v1/queries/runs/{run_id}", headers={"Authorization": f"Bearer {key}"}, timeout=10
        )
        assert response.status_code == 200, response.text
        seen.append((utcnow(), response.json()["status"]))
        if seen[-1][1] not in ("queued", "running"):
            return seen
        time.sleep(0.1)
    raise AssertionError(f"run {run_id} was never reaped: {seen[-3:]}")


@pytest.mark.postgres
def test_a_stalled_process_loses_its_run_only_after_its_lease_and_never_releases_it(two_servers):
    url, service, actors, (a, b) = two_servers
    key = actors["customer"].key
    lock = ChainLock(url)
    try:
        answer = _start_run_on(a, key, cohort())
        run = _held_run(service, lock)
        # the synchronous wait ends while the release is held; waiting for it before the stall keeps
        # the stall from racing the wait's timer (a stopped process resumes both at once)
        answer["thread"].join(timeout=30)
        assert answer["status"] == 202
        a.process.send_signal(signal.SIGSTOP)  # A stalls mid-release: no more lease renewals
        stopped_at = utcnow()
        lease_end = _run_row(service, run.id).lease_expires_at
        assert lease_end > stopped_at  # A held a live lease when it stalled

        seen = _watch_until_failed(b, key, run.id, timeout=LEASE_SECONDS * 6)
        assert len(seen) > 1 and all(status == "running" for _, status in seen[:-1])
        assert seen[-1][1] == "failed" and seen[-1][0] >= lease_end
        reaped = _run_row(service, run.id)
        assert reaped.finished_at >= lease_end  # B waited for the lease to expire
        assert json.loads(reaped.problem_json)["type"].endswith("/interrupted")
    finally:
        lock.release()
    # A wakes up and finishes its release transaction: the lease fence refuses it
    a.process.send_signal(signal.SIGCONT)
    a.wait_ready()
    deadline = time.monotonic() + 10
    while lock.waiters() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    after = _run_row(service, run.id)
    assert after.status == "failed" and after.release_id is None
    assert _releases_of(service, run.id) == 0
    # both processes still release runs, each exactly once
    for server in (a, b):
        response = httpx.post(
            f"{server.base}/v1/queries/runs",
            json=cohort(title=f"after the stall on {server.port}"),
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        assert response.status_code in (201, 409), response.text
    assert_consistent(service)


@pytest.mark.postgres
def test_a_killed_process_run_is_reaped_after_its_lease_and_can_be_run_again(two_servers):
    url, service, actors, (a, b) = two_servers
    key = actors["customer"].key
    lock = ChainLock(url)
    try:
        _start_run_on(a, key, cohort())
        run = _held_run(service, lock)
        a.process.send_signal(signal.SIGKILL)  # A dies mid-run
        a.process.wait(timeout=10)
        lease_end = _run_row(service, run.id).lease_expires_at
        seen = _watch_until_failed(b, key, run.id, timeout=LEASE_SECONDS * 6)
        assert len(seen) > 1 and seen[-1][1] == "failed" and seen[-1][0] >= lease_end
        assert _run_row(service, run.id).finished_at >= lease_end
    finally:
        lock.release()
    assert _releases_of(service, run.id) == 0
    again = httpx.post(
        f"{b.base}/v1/queries/runs", json=cohort(), headers={"Authorization": f"Bearer {key}"}, timeout=60
    )
    assert again.status_code == 201, again.text
    with service.db.session() as session:
        assert session.execute(select(func.count()).select_from(ReleaseRecord)).scalar_one() == 1
    assert_consistent(service)


# --- leases without servers: both databases -------------------------------------------------------


def test_a_restart_reaps_only_expired_leases_and_a_reaped_run_never_runs(database_url, service_registers):
    owner = Service(make_settings(database_url, service_registers, run_lease_seconds=30))
    other = Service(make_settings(database_url, service_registers))
    try:
        actors = seed_actors(owner)
        requester = pipeline.Requester(
            key_id=actors["customer"].key_id,
            role="customer",
            key_organisation_id=actors["customer"].organisation_id,
            organisation_id=actors["customer"].organisation_id,
            actor="test",
        )
        prepared = pipeline.prepare(owner, cohort(), "public_research")
        run_id = pipeline.create_run(owner, requester, prepared)
        # another process starting now leaves the live lease alone
        assert pipeline.mark_interrupted_runs(other) == 0
        assert _run_row(owner, run_id).status == "queued"
        # renewing moves the expiry forward
        before = _run_row(owner, run_id).lease_expires_at
        time.sleep(0.01)
        from statservice import leases

        assert leases.renew(owner.db, owner.lease_owner, 30) == 1
        assert _run_row(owner, run_id).lease_expires_at > before
        assert leases.renew(other.db, other.lease_owner, 30) == 0  # nothing of the other's
        # once expired, any process reaps it; the owner then neither runs nor releases it
        assert pipeline.mark_interrupted_runs(other, utcnow() + dt.timedelta(seconds=31)) == 1
        assert pipeline.execute_run(owner, run_id, requester, prepared) == "failed"
        reaped = _run_row(owner, run_id)
        assert reaped.status == "failed" and json.loads(reaped.problem_json)["type"].endswith("/interrupted")
        assert _releases_of(owner, run_id) == 0
        assert pipeline.mark_interrupted_runs(other, utcnow() + dt.timedelta(seconds=31)) == 0
        assert_consistent(owner)
    finally:
        owner.close()
        other.close()


def test_a_run_whose_lease_is_lost_mid_release_is_not_released(database_url, service_registers, monkeypatch):
    """The fence inside the release transaction: reaped after the engine ran, before the commit."""
    service = Service(make_settings(database_url, service_registers))
    try:
        actors = seed_actors(service)
        requester = pipeline.Requester(
            key_id=actors["customer"].key_id,
            role="customer",
            key_organisation_id=actors["customer"].organisation_id,
            organisation_id=actors["customer"].organisation_id,
            actor="test",
        )
        prepared = pipeline.prepare(service, cohort(), "public_research")
        run_id = pipeline.create_run(service, requester, prepared)
        real_run = service.engine.run

        def run_then_stall(query):
            tables = real_run(query)
            # the process stalled past its lease and another process reaped the run
            pipeline.mark_interrupted_runs(service, utcnow() + dt.timedelta(seconds=3600))
            return tables

        monkeypatch.setattr(service.engine, "run", run_then_stall)
        assert pipeline.execute_run(service, run_id, requester, prepared) == "failed"
        assert _releases_of(service, run_id) == 0
        assert json.loads(_run_row(service, run_id).problem_json)["type"].endswith("/interrupted")
        assert_consistent(service)
    finally:
        service.close()


# --- organisation rate limits and revocation across processes ------------------------------------


def _apps(database_url: str, data_dir: Path, **settings):
    """Two app instances (two Services, as two processes have) on PostgreSQL; one on SQLite, which
    is served by a single process."""
    count = 1 if database_url.startswith("sqlite") else 2
    apps = [build_api(make_settings(database_url, data_dir, **settings))]
    for _ in range(count - 1):
        from fastapi.testclient import TestClient

        from statservice.api.app import create_app

        service = Service(make_settings(database_url, data_dir, **settings))
        client = TestClient(create_app(service.settings, service), raise_server_exceptions=False)
        client.__enter__()
        apps.append(Api(client=client, service=service, actors=apps[0].actors))
    return apps


def _close(apps) -> None:
    for api in apps:
        api.client.__exit__(None, None, None)
        if api is not apps[0]:
            api.service.close()


def test_an_organisation_with_five_keys_is_limited_as_one(database_url, tmp_path):
    apps = _apps(database_url, tmp_path / "no-registers", rate_limit_per_second=0.01, rate_limit_burst=10)
    try:
        first = apps[0]
        organisation = first.customer.organisation_id
        keys = []
        with first.service.db.write() as session:
            from statservice import accounts

            for n in range(5):
                _, secret = accounts.create_key(session, organisation, "customer", f"key {n}")
                keys.append(secret)
        statuses = []
        for n in range(15):  # three rounds over the five keys, alternating between the processes
            api = apps[n % len(apps)]
            response = api.client.get(
                "/v1/catalog/data-owners", headers={"Authorization": f"Bearer {keys[n % 5]}"}
            )
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert int(response.headers["retry-after"]) >= 1
                assert response.headers["content-type"].startswith("application/problem+json")
        assert statuses == [200] * 10 + [429] * 5
        # the organisation's other keys are limited with it; another organisation is not
        assert apps[-1].get("/v1/catalog/data-owners", first.customer2).status_code == 429
        assert apps[-1].get("/v1/catalog/data-owners", first.foreign).status_code == 200
    finally:
        _close(apps)


@pytest.mark.postgres
def test_a_key_revoked_through_one_process_is_refused_by_another_on_the_next_request(request, tmp_path):
    url = postgres_database(request)
    a, b = _apps(url, tmp_path / "no-registers")
    try:
        assert b.get("/v1/catalog/data-owners", a.customer2).status_code == 200
        revoked = a.client.delete(f"/v1/keys/{a.customer2.key_id}", headers=a.admin.headers)
        assert revoked.status_code == 200, revoked.text
        refused = b.get("/v1/catalog/data-owners", a.customer2)
        assert refused.status_code == 401
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert b.get("/v1/catalog/data-owners", a.customer).status_code == 200  # the organisation's other key
    finally:
        _close([a, b])


@pytest.mark.postgres
def test_the_key_check_survives_its_connections_being_closed_by_the_server(request, tmp_path):
    """The per-request key check's pool does not ping before each use (a round trip on every
    request): a connection the server closed (restart, idle timeout) is retried, not a 500."""
    url = postgres_database(request)
    (a,) = _apps(url, tmp_path / "no-registers")[:1]
    try:
        assert a.get("/v1/catalog/data-owners", a.customer).status_code == 200
        with a.service.auth_engine.connect() as connection:
            pids = {connection.connection.dbapi_connection.info.backend_pid}
        admin = create_engine(url, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            for pid in pids:
                connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        admin.dispose()
        response = a.get("/v1/catalog/data-owners", a.customer)
        assert response.status_code == 200, response.text
    finally:
        _close([a])


def _listeners_and_holders(port: int) -> tuple[int, Counter]:
    """Listening sockets on ``port`` and, per process id, its established connections to it."""

    def ss(*state: str) -> str:
        command = ["ss", "-tnpH", *state, f"( sport = :{port} )"]
        return subprocess.run(command, capture_output=True, text=True, check=True).stdout

    listeners = [line for line in ss("state", "listening").splitlines() if line.strip()]
    holders = Counter(re.findall(r"pid=(\d+)", ss("state", "established")))
    return len(listeners), holders


@pytest.mark.postgres
def test_api_processes_listen_on_sockets_of_their_own_and_share_a_burst_of_clients(
    request, tmp_path, service_registers
):
    """``serve --workers 4``: one SO_REUSEPORT socket per process, so the kernel spreads connections.
    On uvicorn's one shared socket the first process to wake took most of a burst (21 to 39 of 50
    keep-alive connections on one process of four) and served their requests on one core."""
    url = postgres_database(request)
    upgrade(url)
    server = Server(url, service_registers, tmp_path / "server.log", workers=4)
    try:
        server.wait_ready()
        # every process is up once each socket answers; give the slowest a moment more
        time.sleep(2)
        listeners, _ = _listeners_and_holders(server.port)
        assert listeners == 4

        async def burst() -> Counter:
            clients = [httpx.AsyncClient(base_url=server.base) for _ in range(48)]
            try:
                answers = await asyncio.gather(*(client.get("/v1/health") for client in clients))
                assert {answer.status_code for answer in answers} == {200}
                return _listeners_and_holders(server.port)[1]
            finally:
                await asyncio.gather(*(client.aclose() for client in clients))

        holders = asyncio.run(burst())
        assert sum(holders.values()) == 48
        assert len(holders) >= 3 and max(holders.values()) <= 24, holders
    finally:
        server.stop()


# --- migrate, then serve ------------------------------------------------------------------------------


def _serve_with(monkeypatch, url: str, data_dir: Path, *args: str):
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", url)
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(cli, ["serve", *args])
    finally:
        get_settings.cache_clear()


def test_serve_refuses_a_database_that_is_not_migrated(monkeypatch, tmp_path, service_registers):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = _serve_with(monkeypatch, url, service_registers)
    output = " ".join(result.output.split())
    assert result.exit_code == 2, result.output
    assert "not at the current schema" in output and "statservice migrate" in output

    # half migrated (an older release's schema): refused, naming what is missing
    from alembic import command

    command.upgrade(alembic_config(url), "ss0004")
    with pytest.raises(NotMigrated, match=r"missing heads: .*ss0013"):
        require_head(url)
    assert _serve_with(monkeypatch, url, service_registers).exit_code == 2

    monkeypatch.setenv("STATSERVICE_DATABASE_URL", url)
    get_settings.cache_clear()
    try:
        migrated = CliRunner().invoke(cli, ["migrate"])
    finally:
        get_settings.cache_clear()
    assert migrated.exit_code == 0, migrated.output
    require_head(url)  # at head now: serve would start


def test_serve_refuses_several_workers_on_sqlite(monkeypatch, tmp_path, service_registers):
    url = f"sqlite:///{tmp_path / 'db.sqlite3'}"
    upgrade(url)
    result = _serve_with(monkeypatch, url, service_registers, "--workers", "2")
    assert result.exit_code == 2
    assert "PostgreSQL" in " ".join(result.output.split())


def test_migrations_repair_unfinished_runs_of_older_versions(tmp_path):
    """Runs an older version left queued or running have no lease: the migration gives them an
    expired one, so the first process to start reaps them (as the old startup did)."""
    from alembic import command

    url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    command.upgrade(alembic_config(url), "ss0004")
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO ss_organisations (id, name, segment, created_at) "
                "VALUES ('org_old', 'Old', 'public_research', '2026-01-01 00:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO ss_api_keys (id, organisation_id, role, name, key_hash, prefix, created_at) "
                "VALUES ('key_old', 'org_old', 'customer', 'old', :hash, 'ss_old', '2026-01-01 00:00:00')"
            ),
            {"hash": "0" * 64},
        )
        for status in ("queued", "running", "released"):
            connection.execute(
                text(
                    "INSERT INTO ss_query_runs (id, organisation_id, key_id, acting_key_organisation_id, "
                    "status, query_json, query_hash, created_at) VALUES "
                    "(:id, 'org_old', 'key_old', 'org_old', :status, '{}', 'h', '2026-01-01 00:00:00')"
                ),
                {"id": f"run_old_{status}", "status": status},
            )
    engine.dispose()
    upgrade(url)
    require_head(url)
    service = Service(make_settings(url, tmp_path / "no-registers"))
    try:
        assert pipeline.mark_interrupted_runs(service) == 2
        assert _run_row(service, "run_old_released").status == "released"
        assert _run_row(service, "run_old_queued").status == "failed"
        assert _run_row(service, "run_old_running").status == "failed"
    finally:
        service.close()


def test_runs_are_admitted_across_processes(database_url, service_registers):
    """max_concurrent_runs holds for all processes together: a second process's run waits queued
    while the first process's run holds the only slot, and starts once it has finished."""
    from statservice import leases

    a = Service(make_settings(database_url, service_registers, max_concurrent_runs=1))
    b = Service(make_settings(database_url, service_registers, max_concurrent_runs=1))
    try:
        actors = seed_actors(a)
        requester = pipeline.Requester(
            key_id=actors["customer"].key_id,
            role="customer",
            key_organisation_id=actors["customer"].organisation_id,
            organisation_id=actors["customer"].organisation_id,
            actor="test",
        )
        prepared = pipeline.prepare(a, cohort(), "public_research")
        first = pipeline.create_run(a, requester, prepared)
        second = pipeline.create_run(b, requester, prepared)
        with a.db.write() as session:
            assert leases.start(session, first, a.lease_owner, 30, max_running=1) is True
        with b.db.write() as session:
            assert leases.start(session, second, b.lease_owner, 30, max_running=1) is None  # no slot
        with b.db.write() as session:  # nor can a process start a run it does not hold
            assert leases.start(session, first, b.lease_owner, 30, max_running=5) is False
        assert _run_row(b, second).status == "queued"
        with a.db.write() as session:
            session.get(QueryRun, first).status = "failed"
        with b.db.write() as session:
            assert leases.start(session, second, b.lease_owner, 30, max_running=1) is True
        assert _run_row(b, second).status == "running"
    finally:
        a.close()
        b.close()
