"""Attacks 7 (percentage back-calculation) and rounding next to an exact total (reference §2.3)."""

from __future__ import annotations

import polars as pl
from pyroaring import BitMap

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell, Dimension
from tests.attacks.attacker import Attacker
from tests.disclosure.tables import crosstab, declared_derived_columns

SECRET = b"attack-suite-secret-of-32-bytes!"


def context(**options) -> ReleaseContext:
    return ReleaseContext("dv1", "org-a", SECRET, **options)


def characteristics_release(prior_diabetes: int, female: int, cohort_size: int = 212):
    cohort = BitMap(range(1, cohort_size + 1))
    total = AggregateTable("cohort_count", "cohort", (), (Cell((), cohort_size, cohort),), frozenset({"lpr"}))
    sets = {
        "prior diabetes": BitMap(range(1, prior_diabetes + 1)),
        "female": BitMap(range(1, female + 1)),
        "hypertension": BitMap(range(1, 101)),
    }
    table = AggregateTable(
        kind="characteristics",
        title="characteristics",
        dimensions=(Dimension("characteristic", tuple(sets), has_total=False),),
        cells=tuple(Cell((name,), len(members), members) for name, members in sets.items()),
        registers=frozenset({"lpr"}),
        max_cells_per_person=3,
        derived_columns=declared_derived_columns("characteristics"),
    )
    return protect([total, table], Policy.default(), context(), InMemoryStores())


def test_percentages_cannot_be_turned_back_into_small_counts_or_small_complements():
    """ "0.9% of 212 have prior diabetes" gives 2 persons; "98.1% female" gives 4 men."""
    release = characteristics_release(prior_diabetes=2, female=208)
    total = release.tables[0].rows[0].value
    assert total == 212
    rows = {row.coordinates[0]: row for row in release.tables[1].rows}
    for row in rows.values():
        percent = row.derived["percent"]
        if percent is None:
            assert row.suppressed or row.value is not None
            continue
        back_calculated = round(percent * total / 100)
        assert not 1 <= back_calculated <= 4
        assert not 1 <= total - back_calculated <= 4
    assert rows["prior diabetes"].suppressed and rows["prior diabetes"].derived["percent"] is None
    assert rows["female"].suppressed and rows["female"].derived["percent"] is None
    assert rows["hypertension"].value == 100
    assert rows["hypertension"].derived["percent"] == round(100 * 100 / 212, 1)


def test_rounded_breakdown_next_to_an_earlier_exact_total_does_not_pin_the_small_cell():
    """Cohort 23 exact; later women 21 → 20 (18..22) and men 2 "<5" would give men in [1, 4]."""
    frame = pl.DataFrame(
        {"pnr": list(range(1, 24)), "sex": ["F"] * 21 + ["M"] * 2},
        schema={"pnr": pl.UInt32, "sex": pl.String},
    )
    stores = InMemoryStores()
    attacker = Attacker()
    exact_total = crosstab(frame, [], title="cohort")
    first = protect([exact_total], Policy.default(), context(), stores)
    stores.apply("dv1", first.changes)
    attacker.learn(first.tables[0])
    by_sex = crosstab(frame, ["sex"], title="by sex")
    second = protect([by_sex], Policy.default(), context(rounding_base=5), stores)
    stores.apply("dv1", second.changes)
    attacker.learn(second.tables[0])
    assert second.tables[0].rounding_base == 5
    assert second.tables[0].row("M").suppressed
    assert attacker.breaches() == {}


def test_rounding_alone_never_publishes_a_small_count():
    frame = pl.DataFrame(
        {"pnr": list(range(1, 41)), "sex": ["F"] * 37 + ["M"] * 3},
        schema={"pnr": pl.UInt32, "sex": pl.String},
    )
    release = protect(
        [crosstab(frame, ["sex"])], Policy.default(), context(rounding_base=5), InMemoryStores()
    )
    values = {row.coordinates: row.value for row in release.tables[0].rows}
    assert values[("M",)] is None  # 3 would round to 5: rounding never replaces suppression
    assert all(v is None or v % 5 == 0 for v in values.values())


def test_rounded_and_exact_releases_of_one_cohort_combined_stay_safe():
    from tests.disclosure.tables import synthetic_persons

    persons = synthetic_persons(220, seed=31)
    stores = InMemoryStores()
    attacker = Attacker()
    for dims, rounding in ((["sex", "region"], 5), (["region"], None), (["sex", "region", "age_band"], None)):
        release = protect(
            [crosstab(persons, dims)], Policy.default(), context(rounding_base=rounding), stores
        )
        stores.apply("dv1", release.changes)
        attacker.learn(release.tables[0])
    assert attacker.hidden
    assert attacker.breaches() == {}
