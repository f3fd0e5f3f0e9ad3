"""``statservice migrate``: bring the database to the current schema (a step of its own before
``serve``, which only checks it: several API processes never race on a migration)."""

from __future__ import annotations

from rich.console import Console

from statservice.core.config import get_settings


def migrate() -> None:
    """Upgrade the database (statservice's and billing's migrations) to head."""
    from statservice.db.migrate import applied_heads, upgrade

    settings = get_settings()
    upgrade(settings.database_url)
    Console().print(f"database at {', '.join(sorted(applied_heads(settings.database_url)))}")
