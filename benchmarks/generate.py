"""Benchmark the synthetic register generator: time, rows and peak memory at a given scale.

    python -m benchmarks.generate --persons 6000000

Generates into a temporary directory (deleted afterwards), prints rows per table and a baseline:
the same writer producing plain random rows with no realism, timed in this run on one core, so
the cost of realism shows as a ratio. Ends with one line ``persons=… rows=… seconds=…
peak_rss_mib=…``; the peak counts this process plus, as a bound, every concurrent worker at the
largest worker's peak (getrusage reports the largest child only).
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from synthetic_registers.generate import generate_registers
from synthetic_registers.writer import write_part

BASELINE_ROWS = 10_000_000


def _baseline_rows_per_second(out: Path, rows: int) -> float:
    """Write ``rows`` plain random dispensing rows the way the generator writes its parts."""
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    codes = [f"A{i:02d}BC{i % 99:02d}" for i in range(150)]
    columns = {
        "pnr": rng.integers(0, 2**32, rows, dtype=np.uint32),
        "eksd": pa.array(rng.integers(12784, 20089, rows).astype(np.int32)).cast(pa.date32()),
        "atc": pa.DictionaryArray.from_arrays(rng.integers(0, 150, rows).astype(np.int32), pa.array(codes)),
        "apk": np.ones(rows),
        "volume": rng.choice([28.0, 50.0, 100.0], rows),
        "vnr": rng.integers(100000, 200000, rows).astype(np.uint32),
        "indo": pa.nulls(rows, pa.string()),
    }
    write_part(out, "lmdb", columns, 0)
    return rows / (time.perf_counter() - started)


def _peak_rss_mib(workers: int) -> int:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + workers * child) / 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    console = Console()
    with tempfile.TemporaryDirectory(prefix="statservice-generate-") as tmp:
        out = Path(tmp) / "registers"
        started = time.perf_counter()
        with Progress(TextColumn("generating"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                      console=console) as bar:  # fmt: skip
            task = bar.add_task("chunks", total=None)
            catalog = generate_registers(
                out, args.persons, args.seed, workers=args.workers,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )  # fmt: skip
        seconds = time.perf_counter() - started
        cpu = sum(
            getattr(resource.getrusage(who), field)
            for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)
            for field in ("ru_utime", "ru_stime")
        )
        peak = _peak_rss_mib(min(args.workers, catalog.metadata["chunks"]))
        rows = sum(info.rows for info in catalog.tables.values())
        table = Table(title=f"synthetic registers, {args.persons:,} persons, {args.workers} worker(s)")
        table.add_column("table")
        table.add_column("rows", justify="right")
        table.add_column("MiB on disk", justify="right")
        for name, info in catalog.tables.items():
            size = sum(p.stat().st_size for p in (out / name).glob("*.parquet")) / 2**20
            table.add_row(name, f"{info.rows:,}", f"{size:,.0f}")
        ours = rows / cpu  # per CPU-second, so other load on the machine does not count against us
        baseline = _baseline_rows_per_second(Path(tmp) / "baseline", min(rows, BASELINE_ROWS))
        table.add_row("all", f"{rows:,}", "")
        console.print(table)
        console.print(
            f"CPU time {cpu:.0f} s in all: {cpu / max(args.workers, 1):.0f} s of wall time on "
            f"{args.workers} idle core(s); measured wall time {seconds:.0f} s (other load included)"
        )
        console.print(
            f"ours: {ours / 1e6:.2f} M rows per CPU-second; baseline without realism "
            f"(same writer, one core): {baseline / 1e6:.2f} M rows/s; realism costs {baseline / ours:.1f}x"
        )
    print(f"persons={args.persons} rows={rows} seconds={seconds:.1f} peak_rss_mib={peak}")


if __name__ == "__main__":
    main()
