"""``statservice ingest``: read a register delivery into a new data version, or refuse it."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()


def ingest(
    source: Path = typer.Argument(..., help="Directory of delivered files (SAS7BDAT, XPT, CSV, Parquet)."),
    mapping: Path | None = typer.Option(
        None, "--mapping", help="Mapping TOML (default: the shipped ingestion/default_mapping.toml)."
    ),
    out: Path = typer.Option(..., "--out", help="Directory of the new data version (must not exist)."),
    start_year: int | None = typer.Option(None, "--start-year", help="First year of the extract."),
    end_year: int | None = typer.Option(None, "--end-year", help="Last year of the extract."),
) -> None:
    """Map, validate and write a register delivery as a new data version with its catalog. Exits 1,
    writing nothing but the report, when anything would silently change answers."""
    from ingestion.ingest import REPORT_FILE
    from ingestion.ingest import ingest as run_ingest
    from ingestion.mapping import MappingError, load_mapping

    try:
        loaded = load_mapping(mapping)
    except MappingError as error:
        console.print(f"statservice ingest: {error}", highlight=False, soft_wrap=True)
        raise typer.Exit(code=2) from None
    report = run_ingest(source, loaded, out, start_year, end_year)
    wide = Console(width=max(console.width, 150))
    wide.print(tables_table(report))
    if report.problems:
        wide.print(problems_table(report))
    where = out.with_name(f"{out.name}.{REPORT_FILE}")
    if not report.accepted:
        console.print(
            f"[bold red]refused[/bold red]: {len(report.errors)} errors; nothing written. Report: {where}",
            highlight=False,
        )
        raise typer.Exit(code=1)
    console.print(
        f"data version {report.data_version} written to {out} ({len(report.warnings)} warnings). "
        f"Report: {where}. Activate it with `statservice versions activate {out.name}` "
        "when it sits in the versions directory.",
        highlight=False,
    )


def tables_table(report) -> Table:
    table = Table(title=f"delivery {report.source}")
    for heading in (
        "table",
        "files",
        "rows",
        "years",
        "missing",
        "unknown codes",
        "duplicates",
        "not in BEF",
    ):
        table.add_column(heading, justify="left" if heading in ("table", "years") else "right")
    for name, summary in sorted(report.tables.items()):
        years = sorted(int(y) for y in summary.coverage_by_year)
        table.add_row(
            name,
            str(len(summary.files)),
            f"{summary.rows:,}",
            f"{years[0]}-{years[-1]}" if years else "",
            f"{sum(v['missing'] for v in summary.variables.values()):,}",
            f"{sum(summary.unknown_codes.values()):,}",
            f"{summary.duplicate_rows:,}",
            f"{summary.persons_not_in_population_register:,}",
        )
    return table


def problems_table(report) -> Table:
    table = Table(title="problems (rows are 1-based data rows of the file)")
    for heading in ("severity", "file", "variable", "problem", "rows", "first rows"):
        table.add_column(heading)
    for problem in report.problems:
        style = "red" if problem.severity == "error" else "yellow"
        table.add_row(
            f"[{style}]{problem.severity}[/{style}]",
            problem.file or "",
            problem.variable or "",
            problem.problem,
            f"{problem.count:,}",
            ", ".join(str(r) for r in problem.rows),
        )
    return table
