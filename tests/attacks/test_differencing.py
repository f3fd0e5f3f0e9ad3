"""Attacks 1, 2 and 8: differencing, trackers, nested steps and cumulative windows (person-set guard)."""

from __future__ import annotations

import pytest
from pyroaring import BitMap

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell
from tests.disclosure.tables import subsets_table

SECRET = b"attack-suite-secret-of-32-bytes!"


def context(org: str = "org-a") -> ReleaseContext:
    return ReleaseContext("dv1", org, SECRET)


def cohort_total(persons: BitMap, title: str = "cohort") -> AggregateTable:
    return AggregateTable(
        kind="cohort_count",
        title=title,
        dimensions=(),
        cells=(Cell((), len(persons), persons),),
        registers=frozenset({"lpr"}),
    )


def release_and_store(table: AggregateTable, stores: InMemoryStores, org: str = "org-a"):
    release = protect([table], Policy.default(), context(org), stores)
    stores.apply("dv1", release.changes)
    return release


@pytest.mark.parametrize("removed", [1, 2, 4])
@pytest.mark.parametrize("second_org", ["org-a", "org-b"])
def test_count_a_minus_count_a_without_x_is_never_both_released(removed, second_org):
    """1,238 - 1,236 = 2 with an exclusion that removes exactly the rare men."""
    stores = InMemoryStores()
    everyone = BitMap(range(10_000, 11_238))
    first = release_and_store(cohort_total(everyone, "men aged 18-29"), stores)
    assert first.tables[0].rows[0].value == 1238
    without_rare = BitMap(everyone)
    for key in list(everyone)[:removed]:
        without_rare.discard(key)
    second = release_and_store(cohort_total(without_rare, "men 18-29 without C50"), stores, second_org)
    assert second.tables[0].rows[0].value is None
    assert second.tables[0].rows[0].suppressed


def test_a_difference_of_k_or_more_is_released():
    stores = InMemoryStores()
    everyone = BitMap(range(1, 1001))
    release_and_store(cohort_total(everyone), stores)
    second = release_and_store(cohort_total(BitMap(range(6, 1001)), "995"), stores)
    assert second.tables[0].rows[0].value == 995


def test_tracker_padding_a_rare_set_with_a_large_known_set_is_caught():
    """count(R ∪ P) = 3,404 and count(P) = 3,402 give |R| = 2 (Denning et al.)."""
    stores = InMemoryStores()
    padding = BitMap(range(50_000, 53_402))
    rare = BitMap([7, 8])
    release_and_store(cohort_total(padding, "padding P"), stores)
    tracked = release_and_store(cohort_total(padding | rare, "R or P"), stores, "org-z")
    assert tracked.tables[0].rows[0].value is None


def test_the_refusal_message_and_report_do_not_depend_on_the_size_of_the_difference():
    customer_views = []
    for removed in (1, 3):
        stores = InMemoryStores()
        everyone = BitMap(range(1, 501))
        release_and_store(cohort_total(everyone), stores)
        second = release_and_store(cohort_total(BitMap(range(1 + removed, 501))), stores)
        view = second.report.customer_view()
        customer_views.append((view["tables"], view["notes"]))
    assert customer_views[0] == customer_views[1]


def test_nested_attrition_steps_differing_by_few_persons_are_masked():
    """SDS masks the difference between nested groups: 1,000 → 998 → 950 would reveal 2 persons."""
    step1 = BitMap(range(1, 1001))
    step2 = BitMap(range(3, 1001))
    step3 = BitMap(range(51, 1001))
    table = subsets_table(
        {"index event": step1, "aged 18+": step2, "no prior insulin": step3},
        step1,
        kind="attrition",
        dimension="step",
        ordered=True,
    )
    table = AggregateTable(
        kind="attrition",
        title="attrition",
        dimensions=table.dimensions,
        cells=table.cells[:-1],  # attrition tables carry no margin
        registers=table.registers,
        max_cells_per_person=3,
        ordered_dimension="step",
        derived_columns=table.derived_columns,
    )
    release = protect([table], Policy.default(), context(), InMemoryStores())
    values = {row.coordinates[0]: row.value for row in release.tables[0].rows}
    assert (values["index event"] is None) != (values["aged 18+"] is None)
    assert values["no prior insulin"] == 950
    for row in release.tables[0].rows:
        if row.suppressed:
            assert all(v is None for v in row.derived.values())


def test_cumulative_uptake_windows_and_year_to_year_series_go_through_the_guard():
    """Cumulative 2015-2018 = 41 and 2015-2019 = 43 give 2 incident cases in 2019."""
    stores = InMemoryStores()
    until_2018 = BitMap(range(100, 141))
    until_2019 = until_2018 | BitMap([900, 901])
    release_and_store(cohort_total(until_2018, "cumulative to 2018"), stores)
    later = release_and_store(cohort_total(until_2019, "cumulative to 2019"), stores)
    assert later.tables[0].rows[0].value is None
    windows = subsets_table(
        {"30 days": until_2018, "90 days": until_2019, "365 days": until_2019 | BitMap(range(2000, 2030))},
        until_2019 | BitMap(range(2000, 2100)),
        kind="treatment_uptake",
        dimension="within",
        ordered=True,
    )
    release = protect([windows], Policy.default(), context("org-new"), InMemoryStores())
    values = {row.coordinates[0]: row.value for row in release.tables[0].rows}
    assert values["30 days"] is None or values["90 days"] is None


def test_year_to_year_prevalence_differing_by_few_persons_is_masked():
    from disclosure.table import Dimension

    prevalent_2019 = BitMap(range(1, 101))
    prevalent_2020 = prevalent_2019 | BitMap([500, 501])  # two new cases, nobody left
    prevalent_2021 = prevalent_2020 | BitMap(range(600, 620))
    cells = tuple(
        Cell((year, "prevalent"), len(persons), persons, {"person_years": 5000.0})
        for year, persons in ((2019, prevalent_2019), (2020, prevalent_2020), (2021, prevalent_2021))
    )
    table = AggregateTable(
        kind="incidence_prevalence",
        title="prevalence",
        dimensions=(
            Dimension("year", (2019, 2020, 2021), has_total=False),
            Dimension("measure", ("prevalent",), has_total=False),
        ),
        cells=cells,
        registers=frozenset({"lpr"}),
        max_cells_per_person=3,
        ordered_dimension="year",
    )
    release = protect([table], Policy.default(), context(), InMemoryStores())
    values = {row.coordinates[0]: row.value for row in release.tables[0].rows}
    assert (values[2019] is None) != (values[2020] is None)
    assert values[2021] == 122
    assert release.report.guard.hidden_within_release == 1
