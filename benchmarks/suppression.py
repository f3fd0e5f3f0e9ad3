"""Protect and audit a sex × age band × municipality table with every margin (6,000+ cells).

Counts are realistic and small: a cohort (default 200,000 persons, e.g. everyone treated for
hypertension) spread over 98 municipalities of very different size (lognormal, like Læsø next to
Copenhagen) and 20 five-year age bands (population flat until 70, thinning after, prevalence
rising with age), so the small municipalities and the oldest bands hold cells of 0..4 persons.

Prints the pipeline time, then the attacker audit of the final pattern two ways, measured in the
same run: ours (independent components, one warm-started HiGHS model per component, only the
objective changes between LPs) and a baseline with one ``scipy.optimize.linprog`` per LP over the
whole table, and checks both give the same intervals. Ends with
``cells=… suppressed=… audit_lps=… seconds=…``.

    .venv/bin/python -m benchmarks.suppression [--persons 200000] [--seed 1] [--baseline-lps N]
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from pyroaring import BitMap
from rich.console import Console
from rich.table import Table
from scipy.optimize import linprog
from scipy.sparse import lil_matrix

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.structure import analyse
from disclosure.suppression import Node, ReleaseSystem, audit
from disclosure.table import AggregateTable, Cell, Dimension

SEXES = ("F", "M")
AGE_BANDS = (*(f"{5 * i}-{5 * i + 4}" for i in range(19)), "95+")
MUNICIPALITIES = tuple(f"K{code:03d}" for code in range(101, 199))


def realistic_table(persons: int, seed: int) -> AggregateTable:
    rng = np.random.default_rng(seed)
    municipality_weight = rng.lognormal(mean=0.0, sigma=0.8, size=len(MUNICIPALITIES))
    age_midpoints = np.arange(len(AGE_BANDS)) * 5 + 2.5
    population = np.where(age_midpoints < 70, 1.0, np.exp(-(((age_midpoints - 70) / 13) ** 2)))
    age_weight = population * (0.3 + age_midpoints / 100)
    sex = rng.choice(len(SEXES), size=persons, p=[0.48, 0.52])
    age = rng.choice(len(AGE_BANDS), size=persons, p=age_weight / age_weight.sum())
    municipality = rng.choice(
        len(MUNICIPALITIES), size=persons, p=municipality_weight / municipality_weight.sum()
    )
    keys = rng.permutation(np.arange(1, 10 * persons, dtype=np.uint32))[:persons]
    dims = (
        Dimension("sex", SEXES),
        Dimension("age_band", AGE_BANDS),
        Dimension("municipality", MUNICIPALITIES),
    )
    codes = [sex, age, municipality]
    categories = [SEXES, AGE_BANDS, MUNICIPALITIES]
    cells: list[Cell] = []
    for pattern in range(8):
        margins = [(pattern >> d) & 1 == 1 for d in range(3)]
        grouped = [d for d in range(3) if not margins[d]]
        shape = [len(categories[d]) for d in grouped]
        flat = np.zeros(persons, dtype=np.int64)
        for d in grouped:
            flat = flat * len(categories[d]) + codes[d]
        order = np.argsort(flat, kind="stable")
        boundaries = np.searchsorted(flat[order], np.arange(int(np.prod(shape)) + 1))
        for position in range(int(np.prod(shape)) if shape else 1):
            members = BitMap(keys[order[boundaries[position] : boundaries[position + 1]]])
            index = np.unravel_index(position, shape) if shape else ()
            values = iter(index)
            coordinates = tuple(None if margins[d] else categories[d][int(next(values))] for d in range(3))
            cells.append(Cell(coordinates, len(members), members))
    return AggregateTable(
        kind="cohort_count",
        title="prevalent cohort by sex, age band and municipality",
        dimensions=dims,
        cells=tuple(cells),
        registers=frozenset({"bef", "lpr"}),
    )


def audit_system(
    table: AggregateTable, suppressed: set[int]
) -> tuple[ReleaseSystem, dict[int, tuple[int, int]]]:
    structure = analyse(table)
    system = ReleaseSystem()
    for i, cell in enumerate(structure.cells):
        system.add_node(
            Node(identity=str(i), fingerprint="", current=True, value=cell.count, true_count=cell.count),
            merge=False,
        )
    for parent, children in structure.relations:
        system.add_relation(parent, children)
    published = {i: (cell.count, cell.count) for i, cell in enumerate(structure.cells)}
    return system, published


def linprog_baseline(
    system: ReleaseSystem, suppressed: set[int], published: dict[int, tuple[int, int]], limit: int | None
) -> tuple[int, float, dict[int, tuple[float, float]]]:
    """One scipy linprog per LP over the whole table (no decomposition, no warm start, no skips).

    Returns the LPs solved, their seconds, and the intervals found (to check ours against).
    """
    unknown = sorted(suppressed)
    columns = {node: position for position, node in enumerate(unknown)}
    constants = {i: float(v[0]) for i, v in published.items() if i not in suppressed}
    rows = system.rows(columns, constants)
    matrix = lil_matrix((len(rows), len(unknown)))
    rhs = np.zeros(len(rows))
    for r, (coefficients, low, _) in enumerate(rows):
        for column, value in coefficients.items():
            matrix[r, column] = value
        rhs[r] = low
    a_eq = matrix.tocsr()
    bounds = [(0, None)] * len(unknown)
    solved = 0
    found: dict[int, tuple[float, float]] = {}
    started = time.perf_counter()
    for target, node in enumerate(unknown):
        if limit is not None and solved + 2 > limit:
            break
        bounds_found = []
        for sign in (1.0, -1.0):
            objective = np.zeros(len(unknown))
            objective[target] = sign
            result = linprog(objective, A_eq=a_eq, b_eq=rhs, bounds=bounds, method="highs")
            bounds_found.append(sign * result.fun if result.status == 0 else math.inf)
            solved += 1
        found[node] = (bounds_found[0], bounds_found[1])
    return solved, time.perf_counter() - started, found


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--baseline-lps",
        type=int,
        default=None,
        help="cap on the LPs the linprog baseline solves (then extrapolated); default: all of them",
    )
    args = parser.parse_args()

    table = realistic_table(args.persons, args.seed)
    context = ReleaseContext("benchmark", "org-benchmark", b"benchmark-secret-32-bytes-long!!")
    policy = Policy.default()
    protect([table], policy, context, InMemoryStores())  # warm-up (imports, OpenDP, HiGHS)

    started, cpu_started = time.perf_counter(), time.process_time()
    release = protect([table], policy, context, InMemoryStores())
    pipeline_seconds = time.perf_counter() - started
    pipeline_cpu_seconds = time.process_time() - cpu_started

    structure = analyse(table)
    rows = release.tables[0].rows
    suppressed = {i for i, row in enumerate(rows) if row.suppressed}
    small = sum(1 for cell in structure.cells if cell.count < policy.threshold_for(table.registers))
    system, published = audit_system(table, suppressed)
    threshold = policy.threshold_for(table.registers)
    started = time.perf_counter()
    ours = audit(system, suppressed, published, threshold, policy.width_for(threshold))
    ours_seconds = time.perf_counter() - started
    baseline_lps, baseline_seconds, baseline_intervals = linprog_baseline(
        system, suppressed, published, args.baseline_lps
    )
    disagreements = [
        node
        for node, (low, high) in baseline_intervals.items()
        if (math.ceil(low - 1e-6), math.floor(high + 1e-6) if math.isfinite(high) else math.inf)
        != ours.intervals[node]
    ]
    baseline_per_lp = baseline_seconds / max(1, baseline_lps)
    baseline_full = baseline_per_lp * 2 * len(suppressed)

    report = release.report
    console = Console()
    summary = Table(title="Secondary suppression and attacker audit")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("cells (with margins)", str(len(rows)))
    summary.add_row("cells below threshold", str(small))
    summary.add_row("suppressed (all reasons)", str(len(suppressed)))
    summary.add_row("audit passed", str(report.audit.passed and not ours.failing))
    summary.add_row(
        "pipeline seconds wall / cpu (primary, guard, secondary, audit, report)",
        f"{pipeline_seconds:.3f} / {pipeline_cpu_seconds:.3f}",
    )
    summary.add_row("deviation LPs (choosing secondary cells)", str(report.audit.deviation_lps))
    summary.add_row("audit LPs in pipeline", str(report.audit.audit_lps))
    summary.add_row("audit alone, ours: LPs / seconds", f"{ours.lps} / {ours_seconds:.3f}")
    summary.add_row(
        "audit, one linprog per LP (measured, extrapolated)",
        f"{baseline_lps} in {baseline_seconds:.3f}s -> {baseline_full:.2f}s for {2 * len(suppressed)}",
    )
    ratio = baseline_full / ours_seconds if ours_seconds > 0 else math.inf
    summary.add_row("speed-up of our audit over the baseline", f"{ratio:.1f}x")
    summary.add_row(
        "intervals differing from the baseline's", f"{len(disagreements)} of {len(baseline_intervals)}"
    )
    console.print(summary)
    print(
        f"cells={len(rows)} suppressed={len(suppressed)} audit_lps={report.audit.audit_lps} "
        f"seconds={pipeline_seconds:.3f} cpu_seconds={pipeline_cpu_seconds:.3f} "
        f"audit_seconds={ours_seconds:.3f} "
        f"baseline_audit_seconds={baseline_full:.2f} ratio={ratio:.1f} disagreements={len(disagreements)}"
    )


if __name__ == "__main__":
    main()
