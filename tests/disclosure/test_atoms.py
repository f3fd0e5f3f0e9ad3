"""The Venn-atom audit: atoms are exactly the membership classes, and no sequence of releases lets an
attacker prove a group of 1..k-1 persons non-empty within a narrow window."""

from __future__ import annotations

import numpy as np
import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyroaring import BitMap
from scipy.optimize import Bounds, LinearConstraint, milp

from disclosure.atoms import KnownCount, _refine_exactly, atom_passes, audit_atoms, venn_atoms
from disclosure.errors import ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell
from tests.disclosure.tables import crosstab

SECRET = b"atoms-test-secret-of-32-bytes-ok"
K = 5


def total_table(persons: BitMap, title: str) -> AggregateTable:
    return AggregateTable(
        title=title,
        kind="cohort_count",
        dimensions=(),
        cells=(Cell((), len(persons), persons),),
        registers=frozenset({"bef"}),
    )


def release_all(stores: InMemoryStores, tables: list[AggregateTable], org: str = "org-a"):
    release = protect(tables, Policy.default(), ReleaseContext("dv1", org, SECRET), stores)
    stores.apply("dv1", release.changes)
    return release


# -- atoms ---------------------------------------------------------------------------------------------

sets_strategy = st.lists(st.sets(st.integers(0, 40), max_size=30).map(BitMap), min_size=1, max_size=8)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(sets=sets_strategy)
def test_atoms_are_the_membership_classes(sets):
    atoms = venn_atoms(sets)
    universe = sorted(BitMap.union(*sets))
    classes: dict[tuple[bool, ...], int] = {}
    for person in universe:
        signature = tuple(person in s for s in sets)
        classes[signature] = classes.get(signature, 0) + 1
    assert sorted(atoms.sizes.tolist()) == sorted(classes.values())
    assert int(atoms.sizes.sum()) == len(universe)
    for s, members in zip(sets, atoms.members, strict=True):
        assert int(atoms.sizes[members].sum()) == len(s)


def test_exact_refinement_agrees_with_keyed_signatures():
    rng = np.random.default_rng(3)
    sets = [BitMap(rng.choice(500, size=200, replace=False).astype(np.uint32)) for _ in range(12)]
    universe = np.frombuffer(BitMap.union(*sets).to_array(), dtype=np.uint32)
    positions = [np.searchsorted(universe, np.frombuffer(s.to_array(), dtype=np.uint32)) for s in sets]
    _, exact_sizes = _refine_exactly(len(universe), positions)
    assert sorted(exact_sizes.tolist()) == sorted(venn_atoms(sets).sizes.tolist())


def test_atom_rule():
    assert atom_passes(0, 2, K, K)  # possibly empty
    assert not atom_passes(1, 1, K, K)  # pinned
    assert not atom_passes(1, 4, K, K)  # a few persons known to be there
    assert not atom_passes(3, 7, K, K)  # non-empty, window narrower than the width
    assert atom_passes(1, 6, K, K)


# -- the three inclusion-exclusion patterns, on sets ------------------------------------------------------


def test_union_of_two_released_counts_pins_their_intersection():
    a, b = BitMap(range(0, 24)), BitMap(range(23, 57))
    result = audit_atoms(
        [KnownCount(a, 24, 24), KnownCount(b, 34, 34), KnownCount(a | b, 57, 57, cell=7)], K, K
    )
    assert len(result.failing) == 1 and result.culprits == [{7}]
    # Rounded to 5 the same counts leave the intersection possibly empty: nothing to hide.
    rounded = audit_atoms(
        [KnownCount(a, 22, 26), KnownCount(b, 33, 37), KnownCount(a | b, 55, 59, cell=7)], K, K
    )
    assert rounded.passed


def test_double_exclusion_pins_the_persons_excluded_twice():
    c, x, y = BitMap(range(370)), BitMap(range(0, 24)), BitMap(range(23, 57))
    counts = [KnownCount(s, len(s), len(s)) for s in (c, c - x, c - y)]
    result = audit_atoms([*counts, KnownCount(c - x - y, 313, 313, cell=3)], K, K)
    assert len(result.failing) == 1 and result.culprits == [{3}]


def test_breakdowns_and_disjoint_cohorts_pass():
    cohort = BitMap(range(1000))
    parts = [BitMap(range(i, 1000, 7)) for i in range(7)]
    later = BitMap(range(1000, 1600))
    counts = [
        KnownCount(cohort, 1000, 1000),
        *(KnownCount(p, len(p), len(p), cell=i) for i, p in enumerate(parts)),
    ]
    counts.append(KnownCount(later, 600, 600, cell=99))
    result = audit_atoms(counts, K, K)
    assert result.passed and result.small_atoms == 0


# -- through protect(), across releases ------------------------------------------------------------------


def test_third_release_completing_an_inclusion_exclusion_is_refused():
    stores = InMemoryStores()
    a, b = BitMap(range(0, 24)), BitMap(range(23, 57))
    release_all(stores, [total_table(a, "C and A10BJ")])
    release_all(stores, [total_table(b, "C and C08")])
    try:
        release = release_all(stores, [total_table(a | b, "C and (A10BJ or C08)")])
    except ReleaseRefused:
        return
    assert release.tables[0].rows[0].suppressed
    assert release.report.audit.hidden_by_atom_audit == 1


def test_breakdown_of_the_completing_release_is_suppressed_not_leaked():
    stores = InMemoryStores()
    cohort = BitMap(range(370))
    x, y = BitMap(range(0, 24)), BitMap(range(23, 57))
    for persons, title in ((cohort, "C"), (cohort - x, "C without x"), (cohort - y, "C without y")):
        release_all(stores, [total_table(persons, title)])
    remaining = cohort - x - y
    frame = pl.DataFrame(
        {"pnr": list(remaining), "sex": ["F" if p % 2 else "M" for p in remaining]},
        schema={"pnr": pl.UInt32, "sex": pl.String},
    )
    table = crosstab(frame, ["sex"], categories={"sex": ("F", "M")})
    try:
        release = release_all(stores, [table])
    except ReleaseRefused:
        return
    published = [row for row in release.tables[0].rows if not row.suppressed]
    # Whatever is published must not let the attacker add up to the total of C without x and y.
    assert not any(row.coordinates == (None,) for row in published)
    assert len(published) < 2


# -- property: whatever is released, no atom is pinned to 1..k-1 -----------------------------------------


def _attacker_atom_intervals(counts: list[tuple[BitMap, int, int]]) -> list[tuple[int, float, float]]:
    """An independent attacker (scipy MILP over atoms by brute-force membership) for small universes."""
    universe = sorted(BitMap.union(*(s for s, _, _ in counts)))
    classes: dict[tuple[bool, ...], int] = {}
    for person in universe:
        signature = tuple(person in s for s, _, _ in counts)
        classes[signature] = classes.get(signature, 0) + 1
    signatures = list(classes)
    matrix = np.array([[1.0 if sig[r] else 0.0 for sig in signatures] for r in range(len(counts))])
    lows = np.array([low for _, low, _ in counts], dtype=float)
    highs = np.array([high for _, _, high in counts], dtype=float)
    constraint = LinearConstraint(matrix, lows, highs)
    integrality = np.ones(len(signatures))
    result = []
    for j, sig in enumerate(signatures):
        bounds = []
        for sign in (1.0, -1.0):
            cost = np.zeros(len(signatures))
            cost[j] = sign
            solution = milp(cost, constraints=constraint, integrality=integrality, bounds=Bounds(0, np.inf))
            bounds.append(sign * solution.fun if solution.status == 0 else (np.inf if sign < 0 else 0.0))
        result.append((classes[sig], bounds[0], bounds[1]))
    return result


@settings(max_examples=25, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    releases=st.lists(
        st.tuples(st.integers(0, 60), st.integers(5, 60)).map(lambda t: BitMap(range(t[0], t[0] + t[1]))),
        min_size=2,
        max_size=6,
    ),
    extra=st.lists(st.sets(st.integers(0, 120), min_size=5, max_size=60).map(BitMap), max_size=3),
)
def test_no_sequence_of_total_releases_pins_an_atom(releases, extra):
    stores = InMemoryStores()
    released: list[tuple[BitMap, int, int]] = []
    for i, persons in enumerate([*releases, *extra]):
        try:
            release = release_all(stores, [total_table(persons, f"release {i}")])
        except ReleaseRefused:
            continue
        row = release.tables[0].rows[0]
        if not row.suppressed:
            assert row.value == len(persons) and row.value >= K
            released.append((persons, row.value, row.value))
    if len(released) < 2:
        return
    for size, low, high in _attacker_atom_intervals(released):
        assert atom_passes(low, high, K, K) or size >= K, (size, low, high)


def test_atom_audit_runs_once_per_release_and_reports_its_work():
    stores = InMemoryStores()
    frame = pl.DataFrame(
        {
            "pnr": list(range(400)),
            "sex": ["F" if p % 2 else "M" for p in range(400)],
            "region": [("North", "Central", "South")[p % 3] for p in range(400)],
        },
        schema={"pnr": pl.UInt32, "sex": pl.String, "region": pl.String},
    )
    release = release_all(stores, [crosstab(frame, ["sex", "region"])])
    assert release.report.audit.atoms == 6  # the six sex × region cells partition the cohort
    assert release.report.audit.hidden_by_atom_audit == 0
    again = release_all(stores, [crosstab(frame, ["sex", "region"])])
    assert [r.value for r in again.tables[0].rows] == [r.value for r in release.tables[0].rows]
    assert again.report.audit.earlier_counts == len(stores.released_counts("dv1", "global"))


# -- review finding: counts linked to the release only through other counts --------------------------------


def _released(stores: InMemoryStores, persons: BitMap, title: str) -> int | None:
    try:
        release = release_all(stores, [total_table(persons, title)])
    except ReleaseRefused:
        return None
    return release.tables[0].rows[0].value


def test_counts_disjoint_from_the_release_still_enter_through_the_counts_they_overlap():
    # (A∪Z − Z) + (B∪Z2 − Z2) − (A∪B) = |A∩B| = 1, though Z and Z2 share nobody with A∪B.
    people = iter(range(10_000))

    def take(n: int) -> BitMap:
        return BitMap([next(people) for _ in range(n)])

    p, q, x, z, z2 = take(10), take(10), take(1), take(30), take(30)
    a, b = p | x, q | x
    stores = InMemoryStores()
    for persons, title in ((z, "Z"), (z2, "Z2"), (a | z, "A or Z"), (b | z2, "B or Z2")):
        assert _released(stores, persons, title) == len(persons)
    assert _released(stores, a | b, "A or B") is None
