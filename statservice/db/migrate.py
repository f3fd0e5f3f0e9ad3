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
