"""Fixtures for the service tests: a real database (SQLite, and PostgreSQL when configured), the real
HTTP app through Starlette's TestClient, organisations and keys per role."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from statservice import accounts
from statservice.api.app import create_app
from statservice.core.config import Settings
from statservice.db.migrate import upgrade
from statservice.service import Service

PG_URL = os.environ.get("STATSERVICE_TEST_POSTGRES_URL")
REQUIRE_PG = os.environ.get("STATSERVICE_REQUIRE_POSTGRES") == "1"
SECRET = "test-secret-0123456789abcdef"
AUDIT_KEY = "test-audit-key-not-the-default-7f3a"


def _pg_admin():
    return create_engine(PG_URL, isolation_level="AUTOCOMMIT")


@pytest.fixture(scope="session")
def pg_template():
    """A migrated database that every PostgreSQL test database is copied from (CREATE ... TEMPLATE)."""
    name = f"ss_template_{uuid.uuid4().hex[:8]}"
    admin = _pg_admin()
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        upgrade(make_url(PG_URL).set(database=name).render_as_string(hide_password=False))
        yield name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postgres_database(request: pytest.FixtureRequest) -> str:
    """A fresh, migrated PostgreSQL database for one test (dropped afterwards)."""
    if not PG_URL:
        if REQUIRE_PG:
            pytest.fail("STATSERVICE_REQUIRE_POSTGRES=1 but STATSERVICE_TEST_POSTGRES_URL is not set")
        pytest.skip("PostgreSQL not configured (set STATSERVICE_TEST_POSTGRES_URL)")
    name = f"ss_test_{uuid.uuid4().hex[:12]}"
    try:
        template = request.getfixturevalue("pg_template")
        admin = _pg_admin()
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
    except Exception as error:
        if REQUIRE_PG:
            pytest.fail(f"PostgreSQL at STATSERVICE_TEST_POSTGRES_URL is not usable: {error}")
        pytest.skip(f"PostgreSQL not reachable: {error}")

    def drop() -> None:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    request.addfinalizer(drop)
    return make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "statservice.sqlite3"
    upgrade(f"sqlite:///{path}")
    return path


def sqlite_database(template: Path, tmp_path: Path) -> str:
    """A migrated SQLite database for one test (a copy of the session's migrated template)."""
    target = tmp_path / "statservice.sqlite3"
    shutil.copyfile(template, target)
    return f"sqlite:///{target}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path) -> str:
    """A migrated database: SQLite, and PostgreSQL (skipped unless configured; required in CI)."""
    if request.param == "sqlite":
        return sqlite_database(sqlite_template, tmp_path)
    return postgres_database(request)


@pytest.fixture
def sqlite_url(tmp_path: Path, sqlite_template: Path) -> str:
    return sqlite_database(sqlite_template, tmp_path)


def make_settings(database_url: str, data_dir: Path, **overrides) -> Settings:
    values = {
        "database_url": database_url,
        "data_dir": data_dir,
        "secret_key": SECRET,
        "noise_secret": SECRET,
        "rate_limit_per_second": 1000.0,
        "release_time_bucket_ms": 0,  # test_release checks the padding on its own
        "run_executor": "thread",  # fault injection patches this process; test_release covers "process"
        "rate_limit_burst": 1000,
        "demo_keys_file": data_dir.parent / "demo-keys.json",
        # one checkpoint directory per database (data_dir may be shared between tests)
        "audit_checkpoint_dir": Path(tempfile.mkdtemp(prefix="audit-checkpoints-")),
        "audit_key": AUDIT_KEY,
        "audit_checkpoint_seconds": 0,  # startup and shutdown only; test_audit_chain tests the timer
        # Tests assert the synchronous answer (201); a loaded CI machine can take longer than the
        # default 20 s for a first run. The 202 path is tested with busy slots or a wait of 0.
        "sync_wait_seconds": 120,
    }
    values.update(overrides)
    return Settings(**values)


@dataclass
class Actor:
    role: str
    organisation_id: str
    key_id: str
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}


@dataclass
class Api:
    client: TestClient
    service: Service
    actors: dict[str, Actor] = field(default_factory=dict)

    def __getattr__(self, name: str) -> Actor:
        actors = self.__dict__.get("actors", {})
        if name in actors:
            return actors[name]
        raise AttributeError(name)

    def get(self, path: str, actor: Actor | None = None, **kwargs):
        return self.client.get(
            path, headers={**(actor.headers if actor else {}), **kwargs.pop("headers", {})}, **kwargs
        )

    def post(self, path: str, actor: Actor | None = None, **kwargs):
        return self.client.post(
            path, headers={**(actor.headers if actor else {}), **kwargs.pop("headers", {})}, **kwargs
        )


def seed_actors(service: Service) -> dict[str, Actor]:
    """Two customer organisations (A, B) and an operator organisation with staff, auditor, admin."""
    actors: dict[str, Actor] = {}
    with service.db.write() as session:
        org_a = accounts.create_organisation(session, "Customer A", "public_research")
        org_b = accounts.create_organisation(session, "Customer B", "private_company")
        operator = accounts.create_organisation(session, "Operator", "public_authority")
        for name, org, role in (
            ("customer", org_a, "customer"),
            ("customer2", org_a, "customer"),
            ("foreign", org_b, "customer"),
            ("staff", operator, "staff"),
            ("auditor", operator, "auditor"),
            ("admin", operator, "admin"),
        ):
            row, secret = accounts.create_key(session, org.id, role, name)
            actors[name] = Actor(role, org.id, row.id, secret)
    return actors


def build_api(settings: Settings) -> Api:
    service = Service(settings)
    actors = seed_actors(service)
    app = create_app(settings, service)
    client = TestClient(app, raise_server_exceptions=False)
    client.__enter__()
    # the server's startup checkpoint runs in a thread: tests start from a checkpointed head
    assert service.wait_for_first_audit_checkpoint(timeout=60)
    return Api(client=client, service=service, actors=actors)


@pytest.fixture
def api(database_url: str, tmp_path: Path):
    """The app on an empty data directory (catalog schema, auth, audit, errors; no query runs)."""
    api = build_api(make_settings(database_url, tmp_path / "no-registers"))
    yield api
    api.client.__exit__(None, None, None)


@pytest.fixture(scope="session")
def service_registers(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shared small synthetic registers (generated once per session by synthetic_registers)."""
    try:
        return Path(request.getfixturevalue("small_registers"))
    except pytest.FixtureLookupError:
        from synthetic_registers.generate import generate_registers

        directory = tmp_path_factory.mktemp("service-registers")
        generate_registers(directory, persons=10_000, seed=20261125)
        return directory


@pytest.fixture
def data_api(database_url: str, service_registers: Path):
    """The app over synthetic registers (real DuckDB engine, real disclosure, real billing)."""
    api = build_api(make_settings(database_url, service_registers))
    yield api
    api.client.__exit__(None, None, None)
