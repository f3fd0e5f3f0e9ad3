"""Billing's Alembic migrations, on their own branch labelled ``billing`` (see README.md here).

The service's Alembic environment includes ``billing/migrations/versions`` in its ``version_locations``
and runs ``upgrade heads``. For billing on its own (tests, a standalone database), ``alembic_config``
builds a minimal configuration in code, no ini file needed.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

MIGRATIONS_DIR = Path(__file__).resolve().parent
VERSIONS_DIR = MIGRATIONS_DIR / "versions"
BRANCH = "billing"


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """Alembic config for billing alone: migrate through ``connection`` (preferred) or ``url``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(VERSIONS_DIR))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(connection: Connection, revision: str = f"{BRANCH}@head") -> None:
    command.upgrade(alembic_config(connection), revision)


def downgrade(connection: Connection, revision: str = f"{BRANCH}@base") -> None:
    command.downgrade(alembic_config(connection), revision)
