"""``statservice audit verify/checkpoint/export``: check the HMAC chain against its checkpoints; sign
the head into the checkpoint directory; export the log as JSON lines or CSV."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console

from billing.spreadsheet_safety import write_csv
from statservice import audit as audit_log
from statservice.core.config import get_settings
from statservice.core.files import open_private
from statservice.db.session import Database

app = typer.Typer(no_args_is_help=True, help="Verify, checkpoint and export the HMAC-chained audit log.")
console = Console(stderr=True)

CSV_COLUMNS = (
    "sequence",
    "timestamp",
    "actor",
    "organisation_id",
    "action",
    "query_hash",
    "payload",
    "prev_hash",
    "hash",
    "chain",
)


def _database() -> Database:
    settings = get_settings()
    return Database(settings.database_url, audit_key=settings.audit_key)


@app.command("verify")
def verify() -> None:
    """Exit 0 if the chain and every checkpoint agree, 1 if anything was edited, rehashed, deleted,
    reordered, truncated or rolled back (each problem names the first bad sequence or the checkpoint)."""
    settings = get_settings()
    db = _database()
    try:
        with db.session() as session:
            result = audit_log.verify(session, settings.audit_checkpoint_dir)
    finally:
        db.dispose()
    if result.ok:
        console.print(
            f"[green]audit log intact[/]: {result.records} records (keyed from sequence "
            f"{result.keyed_from}), head {result.last_hash[:16]}…, {result.checkpoints} checkpoint(s) agree"
        )
        return
    console.print(f"[red]audit log BROKEN[/]: {len(result.problems)} problem(s)")
    for problem in result.problems:
        console.print(f"  sequence {problem['sequence']}: {problem['problem']}", highlight=False)
    raise typer.Exit(1)


@app.command("checkpoint")
def checkpoint() -> None:
    """Sign the current chain head into the checkpoint directory (refused if the chain does not verify)."""
    settings = get_settings()
    db = _database()
    try:
        with db.session() as session:
            written = audit_log.write_checkpoint(session, settings.audit_checkpoint_dir)
    except audit_log.CheckpointRefused as error:
        console.print(f"[red]refused[/]: {error}", highlight=False)
        raise typer.Exit(1) from error
    finally:
        db.dispose()
    console.print(
        f"checkpoint of sequence {written.sequence} in {settings.audit_checkpoint_dir / written.name}",
        highlight=False,
    )


@app.command("export")
def export(
    output: Annotated[Path | None, typer.Option("--output", "-o", help="file (default: stdout)")] = None,
    export_format: Annotated[
        Literal["jsonl", "csv"], typer.Option("--format", help="jsonl (one record a line) or csv")
    ] = "jsonl",
) -> None:
    """Write every record in sequence order, as JSON lines or as formula-safe CSV."""
    db = _database()
    stream = open_private(output) if output else sys.stdout
    count = 0
    try:
        with db.session() as session:
            records = audit_log.iter_records(session)
            if export_format == "jsonl":
                for record in records:
                    stream.write(json.dumps(audit_log.record_dict(record), ensure_ascii=False) + "\n")
                    count += 1
            else:
                rows = []
                for record in records:
                    row = audit_log.record_dict(record)
                    row["payload"] = audit_log.canonical_json(row["payload"])
                    rows.append([row[column] for column in CSV_COLUMNS])
                count = len(rows)
                stream.write(write_csv(CSV_COLUMNS, rows))
    finally:
        if output:
            stream.close()
        db.dispose()
    console.print(f"exported {count} records")
