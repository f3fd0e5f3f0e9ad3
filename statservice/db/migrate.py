"""Run Alembic programmatically: statservice's and billing's version directories, ``upgrade heads``."""

from __future__ import annotations

import os
from pathlib import Path

from alembic import command
from alembic.config import Config

import billing
import statservice
from statservice.db.session import private_sqlite_file

MIGRATIONS = Path(statservice.__file__).resolve().parent / "migrations"
BILLING_VERSIONS = Path(billing.__file__).resolve().parent / "migrations" / "versions"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    locations = [str(MIGRATIONS / "versions")]
    if BILLING_VERSIONS.is_dir():
        locations.append(str(BILLING_VERSIONS))
    config.set_main_option("version_locations", os.pathsep.join(locations))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str) -> None:
    if url.startswith("sqlite:///"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:":
            private_sqlite_file(path)
    command.upgrade(alembic_config(url), "heads")


def current_heads(url: str) -> set[str]:
    from alembic.script import ScriptDirectory

    return set(ScriptDirectory.from_config(alembic_config(url)).get_heads())


def applied_heads(url: str) -> set[str]:
    """The revisions the database is at (empty for a database never migrated)."""
    from alembic.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return set(MigrationContext.configure(connection).get_current_heads())
    finally:
        engine.dispose()


class NotMigrated(RuntimeError):
    """The database is not at the head revisions of the code (``statservice migrate`` first)."""


def require_head(url: str) -> None:
    """Raise ``NotMigrated`` naming the missing revisions unless the database is at head. ``serve``
    checks this instead of migrating, so several processes starting at once never race on a
    migration, and a database newer than the code (a rollback) is refused too."""
    expected, applied = current_heads(url), applied_heads(url)
    if applied != expected:
        missing = ", ".join(sorted(expected - applied)) or "none"
        unknown = ", ".join(sorted(applied - expected)) or "none"
        raise NotMigrated(
            f"the database is not at the current schema (missing heads: {missing}; heads this code "
            f"does not know: {unknown}); run `statservice migrate` first"
        )
