"""``statservice public-statistics build/list``: answer the free public statistics of the data version
served (``statservice.public_statistics``); ``statservice run`` builds them when it generates a data
version."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from statservice.core.config import Settings, get_settings

app = typer.Typer(no_args_is_help=True, help="Build and list the free public statistics (no key needed).")
console = Console(stderr=True)


def build_public_statistics(settings: Settings) -> None:
    """Release the public statistics not stored yet for the data version (each a release through
    disclosure control, in order)."""
    from statservice import public_statistics
    from statservice.service import Service

    service = Service(settings)
    try:
        wanted = public_statistics.statistics_for(service)
        with console.status(f"building {len(wanted)} public statistics (disclosure control, first run only)"):
            outcomes = public_statistics.build(
                service, wanted, progress=lambda outcome: console.print(f"  {outcome.slug}: {outcome.status}")
            )
        released = sum(outcome.status in ("released", "stored") for outcome in outcomes)
        console.print(f"public statistics: {released} of {len(outcomes)} published (/v1/public/statistics)")
    finally:
        service.close()


@app.command("build")
def build() -> None:
    """Release every public statistic not stored yet for the data version served. A statistic that
    disclosure control refuses is not published (it is tried again on the next build)."""
    build_public_statistics(get_settings())


@app.command("list")
def list_statistics() -> None:
    """The public statistics of the data version served and whether each is published."""
    from statservice import public_statistics
    from statservice.service import Service

    service = Service(get_settings())
    try:
        with service.db.session() as session:
            published = {row.slug for row, _ in public_statistics.stored(service, session)}
        table = Table("slug", "title", "published")
        for statistic in public_statistics.statistics_for(service):
            table.add_row(statistic.slug, statistic.title, "yes" if statistic.slug in published else "no")
        Console().print(table)
    finally:
        service.close()
