"""Benchmark: protecting releases as the history of earlier releases grows (the Venn-atom audit's cost).

    .venv/bin/python -m benchmarks.release_history [--persons 200000] [--releases 40] [--seed 1]

A population with 20 conditions of 1-20 % prevalence; release i is the cohort "condition a, and not
condition b" (or "a or b") by sex × region × 10-year age band with every margin, protected through the
real pipeline against one shared in-memory store. Each release is protected twice in the same run:
with the store (earlier counts feed the Venn-atom audit) and, as the baseline, with a store that
does not offer earlier counts (the pipeline as it was before the atom audit). Both stores receive the
same changes. Reported: milliseconds per release for the first and last 20 releases, and the ratio.
"""

from __future__ import annotations

import argparse
import contextlib
import time

import numpy as np
import polars as pl
from rich.console import Console
from rich.progress import track
from rich.table import Table

from disclosure.errors import ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.tables import crosstab

SEXES = ("F", "M")
REGIONS = ("Hovedstaden", "Sjælland", "Syddanmark", "Midtjylland", "Nordjylland")
AGES = ("0-39", "40-49", "50-59", "60-69", "70-79", "80+")
CONDITIONS = 20
WINDOW = 20


class WithoutCounts:
    """The same store, minus earlier counts: the pipeline's behaviour before the atom audit."""

    def __init__(self, inner: InMemoryStores) -> None:
        self._inner = inner

    def __getattr__(self, name: str):
        if name == "released_counts":
            raise AttributeError(name)
        return getattr(self._inner, name)


def population(persons: int, seed: int) -> tuple[pl.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    frame = pl.DataFrame(
        {
            "pnr": np.arange(1, persons + 1, dtype=np.uint32),
            "sex": rng.choice(SEXES, size=persons),
            "region": rng.choice(REGIONS, size=persons, p=[0.32, 0.14, 0.21, 0.23, 0.10]),
            "age_band": rng.choice(AGES, size=persons, p=[0.45, 0.13, 0.14, 0.12, 0.10, 0.06]),
        }
    )
    prevalence = rng.uniform(0.01, 0.20, size=CONDITIONS)
    conditions = rng.random((persons, CONDITIONS)) < prevalence
    return frame, conditions


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--releases", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    frame, conditions = population(args.persons, args.seed)
    rng = np.random.default_rng(args.seed + 1)
    store = InMemoryStores()
    baseline_store = WithoutCounts(store)
    policy = Policy.default()
    context = ReleaseContext("dv-history", "org-bench", b"history-benchmark-secret-32bytes")
    ours: list[float] = []
    baseline: list[float] = []
    refused = hidden_by_atoms = atoms_max = earlier_max = unions = 0
    categories = {"sex": SEXES, "region": REGIONS, "age_band": AGES}
    for _ in track(range(args.releases), description="releases"):
        a, b = rng.choice(CONDITIONS, size=2, replace=False)
        mask = (
            conditions[:, a] & ~conditions[:, b]
            if rng.random() < 0.5
            else conditions[:, a] | conditions[:, b]
        )
        cohort = frame.filter(pl.Series(mask))
        table = crosstab(cohort, ["sex", "region", "age_band"], categories=categories)
        start = time.perf_counter()
        with contextlib.suppress(ReleaseRefused):
            protect([table], policy, context, baseline_store)
        baseline.append(time.perf_counter() - start)
        start = time.perf_counter()
        try:
            release = protect([table], policy, context, store)
        except ReleaseRefused:
            refused += 1
            ours.append(time.perf_counter() - start)
            continue
        ours.append(time.perf_counter() - start)
        store.apply(context.data_version, release.changes)
        hidden_by_atoms += release.report.audit.hidden_by_atom_audit
        atoms_max = max(atoms_max, release.report.audit.atoms)
        earlier_max = max(earlier_max, release.report.audit.earlier_counts)
        unions += release.report.audit.union_checks

    def ms(values: list[float]) -> float:
        return 1000 * float(np.median(values))

    first, last = ours[:WINDOW], ours[-WINDOW:]
    first_base, last_base = baseline[:WINDOW], baseline[-WINDOW:]
    summary = Table(title=f"{args.releases} releases of {len(SEXES) * len(REGIONS) * len(AGES)}-cell tables")
    summary.add_column("")
    summary.add_column("first 20, median ms", justify="right")
    summary.add_column("last 20, median ms", justify="right")
    summary.add_row("with the Venn-atom audit", f"{ms(first):.0f}", f"{ms(last):.0f}")
    summary.add_row("baseline (no earlier counts)", f"{ms(first_base):.0f}", f"{ms(last_base):.0f}")
    Console().print(summary)
    print(
        f"releases={args.releases} earlier_counts_max={earlier_max} atoms_max={atoms_max} refused={refused} "
        f"hidden_by_atom_audit={hidden_by_atoms} union_checks={unions} "
        f"first_ms={ms(first):.0f} last_ms={ms(last):.0f} "
        f"ratio_last_vs_baseline={ms(last) / ms(last_base):.2f}"
    )


if __name__ == "__main__":
    main()
