"""Startup checks the commands that serve queries run before opening anything.

``statservice serve`` and ``statservice run`` refuse to start on a register extract without
``catalog.json``: query validation takes its code lists and coverage from the catalog only (never
from the rows, where the set of codes present is itself information about persons), and the
generator writes the catalog last, so without it the extract is unfinished.
"""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from queries.vocabulary import MissingCatalogError, require_catalog

error_console = Console(stderr=True)


def require_register_catalog(data_dir: Path) -> None:
    """Exit with status 1 and a message saying what to do unless the extract has its catalog."""
    try:
        require_catalog(data_dir)
    except MissingCatalogError as error:
        error_console.print(f"statservice: refusing to start: {error}", highlight=False, soft_wrap=True)
        error_console.print(
            "Point STATSERVICE_DATA_DIR at a finished extract, or run `make run` (statservice run) "
            "to generate the demo registers.",
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=1) from None
