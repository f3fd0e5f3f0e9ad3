"""Attacks on released magnitudes (means, SDs, quartiles): each tries to recover one person's value
from what a customer sees, and must fail (reference §2.1 magnitude tables, §3 attacks 1, 2, 6, 7).

The attacker reads only released rows (value and derived numbers) and knows everything a customer
could: the other strata's released numbers, earlier releases, and that a mean times its count is a
sum."""

from __future__ import annotations

from pyroaring import BitMap

from disclosure.errors import ReleaseRefused
from disclosure.magnitude import MEAN, MEDIAN, Q1, Q3, SD
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ProtectedTable, ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.tables import table_one_tables

SECRET = b"attack-suite-secret-of-32-bytes!"
K = 5
TARGET = 1  # the person whose value the attacker is after
TARGET_AGE = 97.0


def context(org: str = "org-a") -> ReleaseContext:
    return ReleaseContext("dv1", org, SECRET)


def release_and_store(tables, stores: InMemoryStores, org: str = "org-a"):
    try:
        release = protect(tables, Policy.default(), context(org), stores)
    except ReleaseRefused:
        return None
    stores.apply("dv1", release.changes)
    return release


def cohort(first: int, n: int, start: float = 40.0) -> dict[int, float]:
    return {first + i: start + (i * 7) % 45 for i in range(n)}


def sums_by_subtraction(table: ProtectedTable) -> dict[tuple, tuple[float, int]]:
    """Every (sum, count) the attacker can derive on a line (margin = sum of its strata): released
    ones directly (mean x count), and the one unknown stratum of a line by subtraction."""
    known: dict[tuple, tuple[float, int]] = {}
    rows = {row.coordinates: row for row in table.rows}
    for coordinates, row in rows.items():
        if row.value is not None and row.derived.get(MEAN) is not None:
            known[coordinates] = (row.derived[MEAN] * row.value, row.value)
    for coordinates in rows:
        if coordinates[1] is not None:
            continue
        children = [c for c in rows if c[0] == coordinates[0] and c[1] is not None]
        missing = [c for c in children if c not in known]
        if coordinates in known and len(missing) == 1:
            total_sum, total_n = known[coordinates]
            rest_sum = sum(known[c][0] for c in children if c in known)
            rest_n = sum(known[c][1] for c in children if c in known)
            known[missing[0]] = (total_sum - rest_sum, total_n - rest_n)
    return known


def test_a_mean_and_a_count_never_give_away_a_small_strata_value():
    """One person aged 97 in a stratum of their own: overall mean x N - other strata's sums."""
    strata = {"a": {TARGET: TARGET_AGE}, "b": cohort(100, 30), "c": cohort(200, 12)}
    release = release_and_store(table_one_tables(strata), InMemoryStores())
    assert release is not None
    rows = {row.coordinates: row for row in release.tables[1].rows}
    # a mean stands for its persons' values even where their count is hidden: 97 alone is the target
    assert all(rows[("age", "a")].derived[name] is None for name in (MEAN, SD, Q1, MEDIAN, Q3))
    derived = sums_by_subtraction(release.tables[1])
    assert ("age", "a") not in derived
    for _, (total, n) in derived.items():
        assert n >= K or total != TARGET_AGE * n


def test_a_dominating_value_does_not_show_through_a_mean():
    """CRP 300 among eleven persons with 2: the mean (27.2) would tell the attacker, who knows the
    usual value, the outlier's value to within a few units."""
    crp = {TARGET: 300.0, **{i: 2.0 for i in range(2, 13)}}
    strata = {"a": crp, "b": cohort(100, 30, 1.0), "c": cohort(200, 40, 2.0)}
    release = release_and_store(table_one_tables(strata, variable="CRP"), InMemoryStores())
    assert release is not None
    derived = sums_by_subtraction(release.tables[1])
    assert ("CRP", "a") not in derived  # neither released nor derivable by subtraction


def test_nested_groups_with_and_without_one_person_are_never_both_released():
    """Mean age of 30 persons, then of the same 30 and the target: 31 m2 - 30 m1 is the target's age."""
    stores = InMemoryStores()
    others = cohort(100, 30)
    first = release_and_store(table_one_tables({"all": others}), stores)
    assert first is not None
    m1 = {row.coordinates: row for row in first.tables[1].rows}[("age", None)].derived[MEAN]
    assert m1 is not None
    for org in ("org-a", "org-b"):
        second = release_and_store(table_one_tables({"all": {**others, TARGET: TARGET_AGE}}), stores, org)
        if second is None:
            continue  # refused: nothing to subtract
        row = {r.coordinates: r for r in second.tables[1].rows}[("age", None)]
        # the attacker knows the count is 31 (30 + the target) even when it is hidden
        assert row.derived[MEAN] is None


def test_quantiles_of_overlapping_groups_do_not_locate_a_person():
    """The median of A and of A plus the target: whether it moved says on which side the target lies,
    and with ties a moved quantile can equal the target's value."""
    stores = InMemoryStores()
    group = {100 + i: float(50 + i) for i in range(20)}
    first = release_and_store(table_one_tables({"all": group}), stores)
    assert first is not None
    before = {r.coordinates: r for r in first.tables[1].rows}[("age", None)].derived
    assert before[MEDIAN] is not None
    second = release_and_store(table_one_tables({"all": {**group, TARGET: TARGET_AGE}}), stores)
    if second is not None:
        after = {r.coordinates: r for r in second.tables[1].rows}[("age", None)]
        assert all(after.derived[name] is None for name in (Q1, MEDIAN, Q3, MEAN))


def test_no_released_number_is_a_minimum_or_maximum():
    """An oldest person of 104 in a group of 12: quartiles need k persons on either side, so no
    released quantile is the oldest's (or the youngest's) age, and min and max are never columns."""
    group = {TARGET: 104.0, **{i: float(60 + i) for i in range(2, 13)}}
    release = release_and_store(table_one_tables({"a": group, "b": cohort(100, 30)}), InMemoryStores())
    assert release is not None
    table = release.tables[1]
    assert not {"min", "max", "minimum", "maximum"} & set(table.derived_columns)
    for row in table.rows:
        for name in (Q1, MEDIAN, Q3, MEAN, SD):
            assert row.derived[name] not in (104.0, 62.0)
    a = {r.coordinates: r for r in table.rows}[("age", "a")].derived
    assert a[Q3] is None or a[Q3] < 104.0


def test_quantiles_of_a_group_of_2k_with_ties_are_hidden_rather_than_a_persons_value():
    """Ten persons, six of them aged exactly 70: the median 70 has fewer than k persons above it."""
    group = {i: v for i, v in enumerate([55.0, 61.0, 64.0, 70.0, 70.0, 70.0, 70.0, 70.0, 70.0, 81.0], 1)}
    release = release_and_store(table_one_tables({"a": group, "b": cohort(100, 30)}), InMemoryStores())
    assert release is not None
    row = {r.coordinates: r for r in release.tables[1].rows}[("age", "a")]
    assert row.derived[MEDIAN] is None


def test_differencing_guard_covers_the_persons_with_a_value():
    """Same cohort, but the target's lab value added: the continuous row's persons differ by one."""
    stores = InMemoryStores()
    base = cohort(100, 30)
    first = release_and_store(table_one_tables({"all": base}, variable="HbA1c"), stores)
    assert first is not None
    second = release_and_store(
        table_one_tables({"all": {**base, TARGET: 120.0}}, variable="HbA1c"), stores, "org-b"
    )
    if second is not None:
        row = {r.coordinates: r for r in second.tables[1].rows}[("HbA1c", None)]
        assert row.value is None and row.derived[MEAN] is None
    assert BitMap(base) | BitMap([TARGET]) != BitMap(base)
