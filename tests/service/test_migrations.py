"""Alembic: statservice's branch and billing's migrate together (`upgrade heads`) on SQLite and
PostgreSQL, re-running is a no-op, and the models match the migrations."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, text

from statservice.db.migrate import alembic_config, current_heads, upgrade
from statservice.db.models import Base


def test_both_branches_are_at_head_and_upgrade_is_idempotent(database_url):
    heads = current_heads(database_url)
    assert "ss0013" in heads and len(heads) >= 2  # statservice + billing
    upgrade(database_url)
    engine = create_engine(database_url)
    with engine.connect() as connection:
        applied = set(connection.execute(text("SELECT version_num FROM alembic_version")).scalars())
        tables = set(inspect(connection).get_table_names())
    engine.dispose()
    assert applied == heads
    assert {t.name for t in Base.metadata.sorted_tables} <= tables
    assert "billing_invoice_lines" in tables
    assert "statservice" in alembic_config(database_url).get_main_option("version_locations")


def test_models_match_migrations(database_url):
    engine = create_engine(database_url)
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    ours = [d for d in diff if _table_of(d).startswith("ss_")]
    assert ours == []


def _table_of(difference) -> str:
    """The table a difference is about (billing's tables are not on our metadata)."""
    item = difference[0] if isinstance(difference, list) else difference
    for part in item[1:]:
        name = getattr(part, "name", None)
        table = getattr(part, "table", None)
        if table is not None and getattr(table, "name", None):
            return table.name
        if name and hasattr(part, "columns"):
            return name
        if isinstance(part, str):
            return part
    return ""
