"""Benchmark the storage layout build: wall and CPU time, peak memory, and the time per relation.

    python -m benchmarks.layout --persons 6000000
    python -m benchmarks.layout --persons 6000000 --data /work/national/registers-6000000

Uses the extract in ``data/bench-<N>`` (generated there once if missing, as ``benchmarks.queries``
does) or ``--data DIR``, deletes that extract's layout for its current data version and builds it
again in a fresh process, so the peak memory and CPU time are the build's alone. Prints the seconds
spent on each relation and the load average before and after (the machine may be shared: CPU
seconds are the figure other load does not inflate). Ends with one line ``persons=… seconds=…
peak_rss_mib=… cpu_seconds=…`` for scripts.
"""

from __future__ import annotations

import argparse
import os
import resource
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from benchmarks.queries import ensure_registers
from queries.storage import BUILD_MEMORY_LIMIT, build_layout, data_version_of, layout_path


def _build(data_dir: str) -> dict[str, Any]:
    """Build the layout in this (fresh) process and report what it cost."""
    directory = Path(data_dir)
    version = data_version_of(directory)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    path = build_layout(directory, version, timings=timings)
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "seconds": seconds,
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,
        "timings": timings,
        "layout_bytes": path.stat().st_size,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing extract instead of data/bench-<persons>")
    args = parser.parse_args()
    console = Console()
    data_dir = args.data or ensure_registers(args.persons, Path("data") / f"bench-{args.persons}", args.seed)
    target = layout_path(data_dir, data_version_of(data_dir))
    for stale in (target, target.with_name(target.name + ".wal")):
        stale.unlink(missing_ok=True)
    load_before = os.getloadavg()
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result = pool.submit(_build, str(data_dir)).result()
    load_after = os.getloadavg()

    table = Table(title=f"layout build, {args.persons:,} persons (memory limit {BUILD_MEMORY_LIMIT})")
    table.add_column("relation")
    table.add_column("seconds", justify="right")
    for name, seconds in result["timings"].items():
        table.add_row(name, f"{seconds:.1f}")
    console.print(table)
    console.print(
        f"wall {result['seconds']:.1f} s, CPU {result['cpu_seconds']:.0f} s on {os.cpu_count()} core(s), "
        f"peak RSS {result['peak_rss_mib']:.0f} MiB, layout {result['layout_bytes'] / 2**30:.1f} GiB; "
        f"load average before {load_before[0]:.2f}, after {load_after[0]:.2f} (1 min), "
        f"{load_after[2]:.2f} (15 min)"
    )
    print(
        f"persons={args.persons} seconds={result['seconds']:.1f} peak_rss_mib={result['peak_rss_mib']:.0f} "
        f"cpu_seconds={result['cpu_seconds']:.0f}"
    )


if __name__ == "__main__":
    main()
