"""Billing tests run against real SQLite and real PostgreSQL.

``billing_engine`` is parametrised over both databases, SQLite in two configurations: pysqlite's
defaults (rollback journal, deferred transactions: billing's own locking is what keeps numbers
gapless) and the service's (WAL, every transaction ``BEGIN IMMEDIATE``). PostgreSQL is used when
``STATSERVICE_TEST_POSTGRES_URL`` is set; each test gets its own schema there (dropped afterwards) so
billing tests never meet the service's tables in the shared test database. Without the URL the
PostgreSQL parameters are skipped, unless ``STATSERVICE_REQUIRE_POSTGRES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import URL, Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from billing.models import Base

POSTGRES_URL = os.environ.get("STATSERVICE_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = os.environ.get("STATSERVICE_REQUIRE_POSTGRES") == "1"
BACKENDS = ["sqlite", "sqlite-wal", pytest.param("postgresql", marks=pytest.mark.postgres)]
POOL_SIZE = 10  # enough for the concurrency tests' threads to hold connections at once


def _enable_sqlite_foreign_keys(dbapi_connection, _record) -> None:
    dbapi_connection.execute("PRAGMA foreign_keys=ON")


def sqlite_engine(path: Path) -> Engine:
    # timeout: concurrent writers wait for SQLite's single write lock instead of failing at once
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 60}, pool_size=POOL_SIZE)
    event.listen(engine, "connect", _enable_sqlite_foreign_keys)
    return engine


def sqlite_wal_immediate_engine(path: Path) -> Engine:
    """SQLite configured like the service's engine: WAL, busy timeout, BEGIN IMMEDIATE."""
    engine = create_engine(
        f"sqlite:///{path}", connect_args={"timeout": 60, "check_same_thread": False}, pool_size=POOL_SIZE
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_connection, _record) -> None:
        dbapi_connection.isolation_level = None  # transactions are begun below, not by pysqlite
        for pragma in ("journal_mode=WAL", "busy_timeout=60000", "foreign_keys=ON"):
            dbapi_connection.execute(f"PRAGMA {pragma}")

    @event.listens_for(engine, "begin")
    def _begin_immediate(connection) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def require_postgres_url() -> str:
    if POSTGRES_URL:
        return POSTGRES_URL
    if REQUIRE_POSTGRES:
        pytest.fail("STATSERVICE_REQUIRE_POSTGRES=1 but STATSERVICE_TEST_POSTGRES_URL is not set")
    pytest.skip("PostgreSQL not configured (set STATSERVICE_TEST_POSTGRES_URL)")


class PostgresSchema:
    """A private schema in the test database; engines made here see only it."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.name = f"billing_test_{uuid.uuid4().hex[:12]}"
        self._admin = create_engine(url)
        with self._admin.begin() as connection:
            connection.execute(text(f'CREATE SCHEMA "{self.name}"'))

    def engine_url(self) -> URL:
        # the search path rides in the URL, so a URL handed to the CLI sees the same schema
        return make_url(self.url).update_query_dict({"options": f"-csearch_path={self.name}"})

    def engine(self) -> Engine:
        return create_engine(self.engine_url(), pool_size=POOL_SIZE, max_overflow=4)

    def drop(self) -> None:
        with self._admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{self.name}" CASCADE'))
        self._admin.dispose()


@pytest.fixture(params=BACKENDS)
def empty_engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on an empty database of each kind (no billing tables yet)."""
    if request.param.startswith("sqlite"):
        make = sqlite_engine if request.param == "sqlite" else sqlite_wal_immediate_engine
        engine = make(tmp_path / "billing.sqlite3")
        yield engine
        engine.dispose()
        return
    schema = PostgresSchema(require_postgres_url())
    engine = schema.engine()
    try:
        yield engine
    finally:
        engine.dispose()
        schema.drop()


@pytest.fixture
def billing_engine(empty_engine: Engine) -> Engine:
    Base.metadata.create_all(empty_engine)
    return empty_engine


@pytest.fixture
def billing_sessions(billing_engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(billing_engine, expire_on_commit=False)


@pytest.fixture
def billing_session(billing_sessions: sessionmaker[Session]) -> Iterator[Session]:
    with billing_sessions() as session:
        yield session
