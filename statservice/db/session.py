"""Engines and sessions: SQLite with WAL and busy_timeout (writes begin IMMEDIATE), or PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pydantic import SecretStr
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

WRITE_OPTION = "statservice_write"
# anyio's default threadpool size, which runs our sync endpoints and dependencies: every one of them
# may hold a connection at once, so a SQLite pool smaller than this makes threads queue for one.
THREADPOOL_THREADS = 40
AUDIT_SECRET_INFO = "statservice_audit_secret"  # Session.info entry: the audit key its appends chain with


def is_sqlite(engine: Engine) -> bool:
    return engine.dialect.name == "sqlite"


def private_sqlite_file(database: str) -> None:
    """Create the SQLite file readable by its owner only (0600), or tighten one an older version left
    world-readable. SQLite creates the -wal and -shm files with the database file's permissions."""
    path = Path(database)
    path.parent.mkdir(parents=True, exist_ok=True)
    os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))  # an empty file is a new database to SQLite
    for companion in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        if companion.exists():
            os.chmod(companion, 0o600)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        pool: dict[str, int] = {}
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
            private_sqlite_file(database)
            # A SQLite connection is only a file handle, and every holder is a thread (threadpool,
            # session teardown, run slots), so the pool keeps one per threadpool thread and never
            # makes a thread wait for one (max_overflow=-1): waiting only queued requests behind
            # each other. (An in-memory database has its own one-connection-per-thread pool.)
            pool = {"pool_size": THREADPOOL_THREADS, "max_overflow": -1}
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30}, **pool)

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection, _record):  # pragma: no cover - exercised by every test
            dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(conn):
            # Write transactions take the database write lock up front (BEGIN IMMEDIATE), so a
            # budget re-check and its spend cannot interleave with another writer.
            if conn.get_execution_options().get(WRITE_OPTION):
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                conn.exec_driver_sql("BEGIN")

        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10)


class Database:
    """An engine plus two session factories: reads (deferred) and writes (IMMEDIATE on SQLite).

    Its sessions carry the audit key (``audit_key``, or the configured ``STATSERVICE_AUDIT_KEY``) so that
    every audit record appended through them is chained with it, whichever module appends.
    """

    def __init__(self, url: str, audit_key: SecretStr | str | None = None) -> None:
        if audit_key is None:
            from statservice.core.config import get_settings

            audit_key = get_settings().audit_key
        if isinstance(audit_key, str):
            audit_key = SecretStr(audit_key)
        self.url = url
        self.engine = make_engine(url)
        info = {AUDIT_SECRET_INFO: audit_key}
        self._read = sessionmaker(self.engine, expire_on_commit=False, info=info)
        self._write = sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False, info=info
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        return self._read()

    @contextmanager
    def write(self) -> Iterator[Session]:
        """One write transaction: commit on success, roll back on any exception."""
        with self._write() as session, session.begin():
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
