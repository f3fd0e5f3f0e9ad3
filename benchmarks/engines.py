"""Benchmark: the standard questions on DuckDB and on Spark, which must give the same tables.

    .venv/bin/python -m benchmarks.engines --persons 100000 [--spark-master spark://host:7077]

Generates (or reuses, in ``data/bench-<N>``) synthetic registers of N persons, opens both engines
over the same Parquet (DuckDB builds its layout, Spark caches its relations: each timed once), then
runs the four standard questions of ``benchmarks.queries`` warm on each, ``--repeat`` times. Every
table is compared whole: dimensions, every cell's count and person set, and the measures (person-
time); a difference is a mismatch. Both times include everything ``run`` does (compilation, SQL,
person-set bitmaps). The last line is ``key=value`` for scripts: the p50 of each engine is the
median over the questions of each question's median warm time.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from functools import partial
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.queries import STANDARD_QUERIES, ensure_registers, timed
from disclosure.table import AggregateTable
from queries.engine import DuckDBEngine
from queries.model import Query
from queries.spark_engine import SparkEngine, spark_session


def differences(ours: list[AggregateTable], theirs: list[AggregateTable]) -> list[str]:
    """What differs between two engines' tables (empty when they agree): never a count or a person,
    only where."""
    if len(ours) != len(theirs):
        return [f"{len(ours)} tables against {len(theirs)}"]
    found = []
    for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        if (a.kind, a.dimensions, a.registers, a.max_cells_per_person) != (
            b.kind,
            b.dimensions,
            b.registers,
            b.max_cells_per_person,
        ):
            found.append(f"table {k}: shape")
            continue
        cells_b = {cell.coordinates: cell for cell in b.cells}
        for cell in a.cells:
            other = cells_b.get(cell.coordinates)
            if other is None or cell.count != other.count or cell.persons != other.persons:
                found.append(f"table {k}: cell {cell.coordinates}")
            elif cell.measures.keys() != other.measures.keys() or not all(
                math.isclose(v, other.measures[name], rel_tol=1e-9, abs_tol=1e-9)
                for name, v in cell.measures.items()
            ):
                found.append(f"table {k}: measures of {cell.coordinates}")
    return found


def cached_mib(engine: SparkEngine) -> float:
    """Memory the Spark engine's cached relations take in the executors."""
    context = engine._spark().sparkContext
    infos = context._jsc.sc().getRDDStorageInfo()
    return sum(info.memSize() for info in infos) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing extract instead of data/bench-<persons>")
    parser.add_argument("--spark-master", help="a Spark cluster manager's URL (default: local[2])")
    args = parser.parse_args()
    console = Console()
    data_dir = args.data or ensure_registers(args.persons, Path("data") / f"bench-{args.persons}", args.seed)

    duckdb = DuckDBEngine(data_dir)
    started = time.perf_counter()
    duckdb.prepare()
    duckdb_open = time.perf_counter() - started
    started = time.perf_counter()
    spark = SparkEngine(data_dir, session=spark_session(args.spark_master))
    spark.prepare()
    spark_open = time.perf_counter() - started
    assert spark.data_version == duckdb.data_version
    console.print(
        f"DuckDB layout ready in {duckdb_open:.1f} s; Spark (JVM, views, cached relations: "
        f"{cached_mib(spark):.0f} MiB) in {spark_open:.1f} s"
    )

    table = Table(title=f"standard questions, {args.persons:,} persons, p50 of {args.repeat} warm runs (ms)")
    for column in ("question", "DuckDB", "Spark", "Spark / DuckDB", "tables"):
        table.add_column(column, justify="left" if column == "question" else "right")
    duckdb_p50s: list[float] = []
    spark_p50s: list[float] = []
    mismatches = 0
    for name, payload in STANDARD_QUERIES.items():
        query = Query.model_validate(payload)
        duckdb_ms, duckdb_tables = timed(partial(duckdb.run, query), args.repeat)
        spark_ms, spark_tables = timed(partial(spark.run, query), args.repeat)
        found: list[Any] = differences(duckdb_tables, spark_tables)
        mismatches += bool(found)
        duckdb_p50s.append(duckdb_ms)
        spark_p50s.append(spark_ms)
        table.add_row(
            name,
            f"{duckdb_ms:.0f}",
            f"{spark_ms:.0f}",
            f"{spark_ms / duckdb_ms:.1f}",
            "same" if not found else "; ".join(found[:3]),
        )
    console.print(table)
    duckdb.close()
    spark.close()
    print(
        f"persons={args.persons} queries={len(STANDARD_QUERIES)} mismatches={mismatches} "
        f"duckdb_p50_ms={statistics.median(duckdb_p50s):.0f} spark_p50_ms={statistics.median(spark_p50s):.0f}"
    )


if __name__ == "__main__":
    main()
