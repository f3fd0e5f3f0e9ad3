"""``statservice audit verify/export``: check the hash chain; export it as JSON lines."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from statservice import audit as audit_log
from statservice.core.config import get_settings
from statservice.db.session import Database

app = typer.Typer(no_args_is_help=True, help="Verify and export the hash-chained audit log.")
console = Console(stderr=True)


@app.command("verify")
def verify() -> None:
    """Exit 0 if the chain is intact, 1 if any record was edited, deleted or reordered."""
    db = Database(get_settings().database_url)
    with db.session() as session:
        result = audit_log.verify(session)
    db.dispose()
    if result.ok:
        console.print(f"[green]audit log intact[/]: {result.records} records, head {result.last_hash[:16]}…")
        return
    console.print(f"[red]audit log BROKEN[/]: {len(result.problems)} problem(s)")
    for problem in result.problems:
        console.print(f"  sequence {problem['sequence']}: {problem['problem']}")
    raise typer.Exit(1)


@app.command("export")
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default: stdout)")] = None,
) -> None:
    """Write every record as one JSON line, in sequence order."""
    db = Database(get_settings().database_url)
    stream = output.open("w", encoding="utf-8") if output else sys.stdout
    count = 0
    try:
        with db.session() as session:
            for record in audit_log.iter_records(session):
                stream.write(json.dumps(audit_log.record_dict(record), ensure_ascii=False) + "\n")
                count += 1
    finally:
        if output:
            stream.close()
        db.dispose()
    console.print(f"exported {count} records")
