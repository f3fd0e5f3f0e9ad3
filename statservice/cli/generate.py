"""``statservice generate``: write a synthetic register extract, optionally with its validation report."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

console = Console()


def generate(
    persons: int = typer.Option(..., "--persons", help="Population on 1 January 2024 (national: 5,961,249)."),
    seed: int = typer.Option(..., "--seed", help="Random seed; same persons and seed give the same data."),
    out: Path = typer.Option(
        ..., "--out", help="Directory to write the Parquet tables and catalog.json into."
    ),
    start_year: int = typer.Option(2005, "--start-year", help="First calendar year of the extract."),
    end_year: int = typer.Option(2024, "--end-year", help="Last calendar year of the extract."),
    report: bool = typer.Option(
        False, "--report", help="Compare the result with the national target figures."
    ),
    workers: int | None = typer.Option(None, "--workers", help="Worker processes (default: one per core)."),
    fmt: str = typer.Option(
        "parquet",
        "--format",
        help="parquet: the layout the service reads, with its catalog; csv or sas: a delivery as register "
        "owners send one (Danish CSV, or SAS7BDAT datasets), for `statservice ingest`.",
    ),
) -> None:
    """Generate realistic synthetic Danish registers as Parquet, with their catalog (or as a delivery)."""
    from synthetic_registers.delivery import DELIVERY_FORMATS
    from synthetic_registers.generate import generate_registers

    if fmt not in ("parquet", *DELIVERY_FORMATS):
        raise typer.BadParameter(f"must be parquet, {' or '.join(DELIVERY_FORMATS)}", param_hint="--format")
    if fmt != "parquet":
        report = False  # the comparison reads the Parquet layout, which a delivery is not
        delivery_out, out = out, out.with_name(f".{out.name}.parquet")

    started = time.perf_counter()
    with Progress(
        TextColumn("[bold]generating[/bold] chunks of persons"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task("chunks", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        catalog = generate_registers(
            out, persons, seed, start_year, end_year, progress=advance, workers=workers
        )
    summary = Table(title=f"synthetic registers in {out} (data version {catalog.data_version})")
    summary.add_column("table")
    summary.add_column("rows", justify="right")
    summary.add_column("years")
    for name, info in catalog.tables.items():
        summary.add_row(name, f"{info.rows:,}", f"{info.coverage[0]}-{info.coverage[1]}")
    console.print(summary)
    console.print(f"generated in {time.perf_counter() - started:.1f} s")
    if fmt != "parquet":
        import shutil

        from synthetic_registers.delivery import write_delivery

        files = write_delivery(out, delivery_out, fmt)  # type: ignore[arg-type]
        shutil.rmtree(out)
        console.print(f"wrote a {fmt} delivery of {len(files)} files to {delivery_out}")
    if report:
        from synthetic_registers.validation import compare_with_targets, drug_list_breadth, report_table

        # wide enough for figure names and reasons even when the output is not a terminal
        wide = Console(width=max(console.width, 150))
        wide.print(report_table(compare_with_targets(out)))
        wide.print(drug_list_breadth(out).line(persons))
