"""``statservice keys create/list/revoke``: API keys, shown once and stored hashed."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import select

from statservice import accounts
from statservice.core.config import get_settings
from statservice.db.migrate import upgrade
from statservice.db.models import Organisation
from statservice.db.session import Database

app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")


def _console() -> Console:
    return Console()  # created per command, so the terminal width is read when it runs


def _database() -> Database:
    settings = get_settings()
    upgrade(settings.database_url)
    return Database(settings.database_url)


@app.command("create")
def create(
    organisation: Annotated[str, typer.Option(help="organisation id or name (created if unknown)")],
    role: Annotated[str, typer.Option(help="customer, staff, auditor or admin")] = "customer",
    name: Annotated[str, typer.Option(help="what the key is for")] = "cli",
    segment: Annotated[str | None, typer.Option(help="billing segment of a new organisation")] = None,
) -> None:
    """Create a key and print it once."""
    settings = get_settings()
    db = _database()
    with db.write() as session:
        org = (
            session.get(Organisation, organisation)
            or session.execute(
                select(Organisation).where(Organisation.name == organisation)
            ).scalar_one_or_none()
        )
        if org is None:
            org = accounts.create_organisation(
                session, organisation, segment or settings.customer_segment_default, actor="cli"
            )
        row, secret = accounts.create_key(session, org.id, role, name, actor="cli")
        console = _console()
        console.print(f"[bold]{row.id}[/] {role} for {org.name} ({org.id})")
        console.print("API key (shown once, store it now):")
        print(secret)
    db.dispose()


@app.command("list")
def list_(organisation: Annotated[str | None, typer.Option(help="organisation id")] = None) -> None:
    """List keys (never the secrets)."""
    db = _database()
    with db.session() as session:
        table = Table("id", "organisation", "role", "name", "prefix", "created", "revoked")
        for column in table.columns:
            column.overflow = "fold"  # never elide an id
        for row in accounts.list_keys(session, organisation):
            table.add_row(
                row.id,
                row.organisation_id,
                row.role,
                row.name,
                row.prefix + "…",
                row.created_at.isoformat(timespec="seconds"),
                row.revoked_at.isoformat(timespec="seconds") if row.revoked_at else "",
            )
        _console().print(table)
    db.dispose()


@app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="key id (key_...)")]) -> None:
    """Revoke a key (it stops working immediately)."""
    db = _database()
    try:
        with db.write() as session:
            accounts.revoke_key(session, key_id, actor="cli")
    except Exception as error:
        _console().print(f"[red]{getattr(error, 'detail', error)}[/]")
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    _console().print(f"revoked {key_id}")
