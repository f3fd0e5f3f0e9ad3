"""``statservice invoices issue/export``: monthly invoicing and invoice files from the database.

Works from a database URL alone (``--database-url``, default ``$STATSERVICE_DATABASE_URL`` or the
local SQLite file), so accounting can run it without the service running.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from billing.errors import BillingError
from billing.exports import FORMATS, export
from billing.invoicing import invoices_for_month, issue_monthly_invoices
from statservice.core.files import write_private

DEFAULT_DATABASE_URL = "sqlite:///var/statservice.sqlite3"

app = typer.Typer(no_args_is_help=True, help="Issue monthly invoices and export them (CSV, PDF, Peppol UBL).")
console = Console(stderr=True)

DatabaseUrl = Annotated[
    str,
    typer.Option(
        "--database-url", envvar="STATSERVICE_DATABASE_URL", help="SQLAlchemy URL of the service database"
    ),
]
Year = Annotated[int, typer.Option("--year", min=2000, max=9999, help="year of the invoiced month")]
Month = Annotated[int, typer.Option("--month", min=1, max=12, help="invoiced month, 1-12")]


def _fail(error: BillingError) -> typer.Exit:
    console.print(f"[red]error[/]: {error.message}")
    return typer.Exit(2)


@app.command("issue")
def issue(
    year: Year,
    month: Month,
    issue_date: Annotated[
        str | None, typer.Option("--issue-date", help="YYYY-MM-DD (default: today, UTC)")
    ] = None,
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Issue one invoice per organisation for its uninvoiced lines up to the end of the month."""
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            invoices = issue_monthly_invoices(
                session, year, month, issue_date=date.fromisoformat(issue_date) if issue_date else None
            )
            session.commit()
            for invoice in invoices:
                console.print(
                    f"{invoice.display_number}  {invoice.organisation_id}  "
                    f"{len(invoice.lines)} line(s)  {invoice.gross_total} {invoice.currency}"
                )
            console.print(f"issued {len(invoices)} invoice(s) for {year}-{month:02d}")
    except BillingError as error:
        raise _fail(error) from error
    finally:
        engine.dispose()


@app.command("export")
def export_command(
    organisation: Annotated[str, typer.Option("--organisation", help="organisation id")],
    year: Year,
    month: Month,
    export_format: Annotated[str, typer.Option("--format", help=f"one of {', '.join(FORMATS)}")],
    out: Annotated[Path, typer.Option("--out", help="file to write")],
    database_url: DatabaseUrl = DEFAULT_DATABASE_URL,
) -> None:
    """Write the organisation's invoice for the month to ``--out``.

    If the month has several invoices (lines that arrived after the first run get a supplementary
    invoice), each is written next to ``--out`` with its number appended: ``out-F0000012.pdf``.
    """
    if export_format not in FORMATS:
        console.print(f"[red]error[/]: --format must be one of {', '.join(FORMATS)}")
        raise typer.Exit(2)
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            invoices = invoices_for_month(session, organisation, year, month)
            if not invoices:
                console.print(f"[red]error[/]: no invoice for {organisation} in {year}-{month:02d}")
                raise typer.Exit(1)
            out.parent.mkdir(parents=True, exist_ok=True)
            for invoice in invoices:
                path = (
                    out
                    if len(invoices) == 1
                    else out.with_name(f"{out.stem}-{invoice.display_number}{out.suffix}")
                )
                write_private(path, export(invoice, export_format))  # buyer names and amounts
                console.print(f"wrote {invoice.display_number} ({export_format}) to {path}")
    except BillingError as error:
        raise _fail(error) from error
    finally:
        engine.dispose()
