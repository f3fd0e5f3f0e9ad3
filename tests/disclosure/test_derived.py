"""Derived numbers come from released counts only and are hidden with their numerator or complement."""

from __future__ import annotations

from pyroaring import BitMap

from disclosure import derived
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell, Dimension
from tests.disclosure.tables import declared_derived_columns, subsets_table

SECRET = b"derived-test-secret-of-32-bytes!"


def context(**options) -> ReleaseContext:
    return ReleaseContext("dv1", "org-a", SECRET, **options)


def test_share_rules():
    assert derived.share(50, 200, 5) == 25.0
    assert derived.share(None, 200, 5) is None  # numerator suppressed
    assert derived.share(50, None, 5) is None  # denominator suppressed
    assert derived.share(197, 200, 5) is None  # complement of 3 persons
    assert derived.share(200, 200, 5) == 100.0  # complement 0 discloses no one beyond the counts
    assert derived.share(195, 200, 5) == 97.5
    assert derived.share(3, 0, 5) is None


def test_rate_uses_released_count_and_public_person_time():
    assert derived.rate_per_1000(12, 2400.0) == 5.0
    assert derived.rate_per_1000(None, 2400.0) is None
    assert derived.rate_per_1000(12, 0.0) is None


def test_rates_use_person_time_rounded_so_it_cannot_be_recovered_from_count_and_rate():
    """Two strata whose person-time differs by the time of one person who left (0.7 years) give
    the same rate: count / rate no longer tells their person-time apart."""
    assert derived.rate_per_1000(12, 2400.0) == derived.rate_per_1000(12, 2400.7) == 5.0
    assert derived.rate_per_1000(12, 2349.0) == 5.22  # 12 per 2300 person-years
    assert derived.rate_per_1000(3, 40.0) is None  # rounds to no person-time: no rate


def test_uptake_shares_use_the_released_cohort_total_and_the_rounded_counts():
    cohort = BitMap(range(1, 501))
    total = AggregateTable("cohort_count", "cohort", (), (Cell((), 500, cohort),), frozenset({"lmdb"}))
    uptake = subsets_table(
        {"30 days": BitMap(range(1, 62)), "365 days": BitMap(range(1, 133))},
        cohort,
        kind="treatment_uptake",
        dimension="within",
        ordered=True,
    )
    uptake = AggregateTable(
        kind="treatment_uptake",
        title="uptake",
        dimensions=uptake.dimensions,
        cells=uptake.cells[:-1],
        registers=frozenset({"lmdb"}),
        max_cells_per_person=2,
        ordered_dimension="within",
        derived_columns=declared_derived_columns("treatment_uptake"),
    )
    release = protect([total, uptake], Policy.default(), context(rounding_base=5), InMemoryStores())
    rows = {row.coordinates[0]: row for row in release.tables[1].rows}
    assert rows["30 days"].value == 60  # 61 rounded
    assert rows["30 days"].derived["cumulative_share_percent"] == 12.0  # 60 / 500, not 61 / 500
    assert rows["365 days"].derived["cumulative_share_percent"] == round(100 * 130 / 500, 1)


def _washout_uptake(eligible: BitMap, started: BitMap) -> AggregateTable:
    cells = (
        Cell(("GLP-1", "eligible new users"), len(eligible), eligible),
        Cell(("GLP-1", "365 days"), len(started), started),
    )
    return AggregateTable(
        kind="treatment_uptake",
        title="uptake",
        dimensions=(
            Dimension("drug", ("GLP-1",), has_total=False),
            Dimension("within", ("eligible new users", "365 days"), has_total=False),
        ),
        cells=cells,
        registers=frozenset({"lmdb"}),
        max_cells_per_person=2,
        ordered_dimension="within",
        denominator_category="eligible new users",
        derived_columns=declared_derived_columns("treatment_uptake"),
    )


def test_uptake_shares_with_a_washout_divide_by_the_released_eligible_new_users():
    """The customer's case: 131 of 350 new users (37.4 %), not 131 of the cohort of 1,077 (12.2 %)."""
    cohort = BitMap(range(1, 1078))
    eligible = BitMap(range(1, 351))
    total = AggregateTable("cohort_count", "cohort", (), (Cell((), 1077, cohort),), frozenset({"lmdb"}))
    uptake = _washout_uptake(eligible, BitMap(range(1, 132)))
    release = protect([total, uptake], Policy.default(), context(), InMemoryStores())
    rows = {row.coordinates[1]: row for row in release.tables[1].rows}
    assert rows["eligible new users"].value == 350  # released as a count of its own
    assert rows["eligible new users"].derived["cumulative_share_percent"] is None
    assert rows["365 days"].derived["cumulative_share_percent"] == 37.4


def test_uptake_shares_are_hidden_with_a_suppressed_eligible_count_not_taken_from_the_cohort():
    cohort = BitMap(range(1, 1078))
    total = AggregateTable("cohort_count", "cohort", (), (Cell((), 1077, cohort),), frozenset({"lmdb"}))
    uptake = _washout_uptake(BitMap(range(1, 4)), BitMap())  # 3 new users: below the threshold
    release = protect([total, uptake], Policy.default(), context(), InMemoryStores())
    rows = {row.coordinates[1]: row for row in release.tables[1].rows}
    assert rows["eligible new users"].suppressed
    assert rows["365 days"].derived["cumulative_share_percent"] is None


def test_incidence_rates_are_hidden_with_their_counts():
    cells = []
    for year, count in ((2019, 40), (2020, 3)):
        persons = BitMap(range(year * 1000, year * 1000 + count))
        cells.append(Cell((year, "incident"), count, persons, {"person_years_at_risk": 10_000.0}))
    table = AggregateTable(
        kind="incidence_prevalence",
        title="incidence",
        dimensions=(
            Dimension("year", (2019, 2020), has_total=False),
            Dimension("measure", ("incident",), has_total=False),
        ),
        cells=tuple(cells),
        registers=frozenset({"lpr"}),
        max_cells_per_person=1,
        ordered_dimension="year",
        derived_columns=declared_derived_columns("incidence_prevalence"),
    )
    release = protect([table], Policy.default(), context(), InMemoryStores())
    rows = {row.coordinates[0]: row for row in release.tables[0].rows}
    assert rows[2019].derived["rate_per_1000_person_years"] == 4.0
    assert rows[2020].suppressed and rows[2020].derived["rate_per_1000_person_years"] is None
    frame = release.tables[0].to_polars()
    assert frame.columns == [
        "year",
        "measure",
        "value",
        "suppressed",
        "rate_per_1000_person_years",
        "rate_per_1000_person_years_lower",
        "rate_per_1000_person_years_upper",
        "person_years",
    ]
    assert frame["suppressed"].to_list() == [False, True]
