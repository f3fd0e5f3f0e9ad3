"""``statservice versions list|activate|retire``: the data versions beside the served one."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.table import Table

from statservice.core.config import get_settings

app = typer.Typer(no_args_is_help=True, help="Data versions: list, activate one, retire old ones.")
console = Console()


@app.command("list")
def list_command() -> None:
    """The versions in the versions directory; the active one is marked."""
    from statservice.versions import list_versions, versions_directory

    settings = get_settings()
    table = Table(title=f"data versions in {versions_directory(settings.data_dir)}")
    for heading in ("", "name", "data version", "source", "persons", "layout"):
        table.add_column(heading)
    for version in list_versions(settings.data_dir):
        table.add_row(
            "active" if version.active else "",
            version.name,
            version.data_version or "",
            version.source,
            f"{version.persons:,}" if version.persons is not None else "",
            "built" if version.layout_built else "",
        )
    Console(width=max(console.width, 120)).print(table)


@app.command("activate")
def activate_command(name: str = typer.Argument(..., help="Version (directory name) to serve.")) -> None:
    """Build the version's layout, then switch the service to it atomically."""
    from queries.engine import DuckDBEngine
    from queries.storage import rich_build_progress
    from statservice.versions import VersionError, activate

    def prepare(path) -> None:
        engine = DuckDBEngine(path)
        try:
            with rich_build_progress(console) as progress:
                engine.prepare(progress)
        finally:
            engine.close()

    try:
        version = activate(get_settings().data_dir, name, prepare)
    except VersionError as error:
        console.print(f"statservice versions: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(f"active: {version.name} (data version {version.data_version})", highlight=False)
    # public statistics are releases of one data version: the new one has none until they are built
    console.print("publish its public statistics with `statservice public-statistics build`", highlight=False)


@app.command("retire")
def retire_command(name: str = typer.Argument(..., help="Version (directory name) to remove.")) -> None:
    """Remove an inactive version's files; its releases and audit records stay."""
    from statservice.versions import VersionError, retire

    try:
        version = retire(get_settings().data_dir, name)
    except VersionError as error:
        console.print(f"statservice versions: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=1) from None
    console.print(f"retired: {version.name} (data version {version.data_version})", highlight=False)
