"""Time-to-event curves: merging intervals, and cumulative incidence from released counts only."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from disclosure import curves
from disclosure.pipeline import protect
from disclosure.policy import CURVE_CONFIDENCE_Z, Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.curve_tables import curve_table, follow_ups

K = 5


def test_intervals_merge_until_each_holds_none_or_at_least_k():
    events = [6, 2, 2, 1, 0, 7]
    assert curves.merged_groups([30] * 6, [events], K, 30) == [[0], [1, 2, 3], [4], [5]]
    # a series with fewer than k in all constrains nothing (suppression deals with it)
    assert curves.merged_groups([30] * 3, [[1, 1, 1]], K, 30) == [[0], [1], [2]]
    # what is left at the end joins the last group
    assert curves.merged_groups([30] * 3, [[5, 5, 2]], K, 30) == [[0], [1, 2]]
    # an interval shorter than the minimum is merged whatever it holds
    assert curves.merged_groups([20, 20, 30], [[9, 9, 9]], K, 30) == [[0, 1], [2]]


def test_a_time_point_stays_an_interval_end_where_its_segment_can_be_merged_on_its_own():
    events = [5, 3, 5, 1]
    assert curves.merged_groups([30] * 4, [events], K, 30) == [[0], [1, 2, 3]]
    kept = [False, True, False, True]
    assert curves.merged_groups([30] * 4, [events], K, 30, kept) == [[0, 1], [2, 3]]


def test_coarsening_unites_the_sets_and_keeps_the_first_at_risk_set():
    follow_up = follow_ups(
        (6, 20, "event", "x"),
        (2, 45, "event", "x"),  # 2 events in 31-60: merged with 61-90
        (3, 80, "event", "x"),
        (5, 80, "competing", "x"),
        (40, 90, "censored", "x"),
    )
    table = curve_table(follow_up, [30, 60, 90])
    merged = curves.coarsen(table, K)
    assert merged.dimensions[0].categories == ("0-30", "31-90")
    cells = {c.coordinates: c for c in merged.cells}
    assert cells[("31-90", "at risk")].persons == table.cell("31-60", "at risk").persons
    assert cells[("31-90", "events")].count == 5
    assert cells[("31-90", "events")].persons == (
        table.cell("31-60", "events").persons | table.cell("61-90", "events").persons
    )
    # competing events and censored: none in 0-30 (a true zero, shown as 0), 5 and 40 after
    assert cells[("0-30", "competing events")].structural_zero
    assert not cells[("31-90", "competing events")].structural_zero
    assert merged.max_cells_per_person == 3
    assert any("merged" in note for note in merged.notes)
    for series in ("events", "competing events", "censored"):
        for label in merged.dimensions[0].categories:
            assert not 0 < cells[(label, series)].count < K


def _released(table):
    return [c.coordinates for c in table.cells], [c.count for c in table.cells]


def test_kaplan_meier_with_greenwood_interval_from_the_counts():
    follow_up = follow_ups(
        (10, 10, "event", "x"), (5, 20, "censored", "x"), (17, 50, "event", "x"), (68, 90, "censored", "x")
    )
    table = curve_table(follow_up, [30, 90], competing=False)
    rows = dict(zip(_released(table)[0], curves.cumulative_incidence(table, *_released(table)), strict=True))
    survival = (1 - 10 / 100) * (1 - 17 / 85)
    f = 1 - survival
    se = math.sqrt(survival**2 * (10 / (100 * 90) + 17 / (85 * 68)))
    spread = CURVE_CONFIDENCE_Z * se / (f * abs(math.log(f)))
    low = math.exp(-math.exp(math.log(-math.log(f)) + spread))
    high = math.exp(-math.exp(math.log(-math.log(f)) - spread))
    assert rows[("31-90", "events")] == {
        curves.CUMULATIVE_INCIDENCE: round(100 * f, 1),
        curves.CI_LOWER: round(100 * low, 1),
        curves.CI_UPPER: round(100 * high, 1),
    }
    assert rows[("31-90", "events")][curves.CUMULATIVE_INCIDENCE] == 28.0
    assert rows[("0-30", "events")][curves.CUMULATIVE_INCIDENCE] == 10.0
    assert rows[("0-30", "at risk")] == dict.fromkeys(curves.CURVE_COLUMNS)


def test_aalen_johansen_lets_competing_deaths_lower_the_incidence():
    follow_up = follow_ups((10, 10, "event", "x"), (20, 10, "competing", "x"), (7, 50, "event", "x"))
    follow_up |= follow_ups((63, 90, "censored", "x"), first=100)
    table = curve_table(follow_up, [30, 90])
    rows = dict(zip(_released(table)[0], curves.cumulative_incidence(table, *_released(table)), strict=True))
    # F = 10/100 + (70/100) * (7/70) = 0.17; 1 - Kaplan-Meier censoring the deaths would say 0.19
    assert rows[("31-90", "events")][curves.CUMULATIVE_INCIDENCE] == 17.0
    low, high = rows[("31-90", "events")][curves.CI_LOWER], rows[("31-90", "events")][curves.CI_UPPER]
    assert low < 17.0 < high
    km = curve_table(follow_up, [30, 90], competing=False)
    km_rows = dict(zip(_released(km)[0], curves.cumulative_incidence(km, *_released(km)), strict=True))
    assert km_rows[("31-90", "events")][curves.CUMULATIVE_INCIDENCE] == 19.0


def test_without_competing_events_aalen_johansen_is_one_minus_kaplan_meier():
    follow_up = follow_ups((12, 10, "event", "x"), (9, 40, "censored", "x"), (15, 70, "event", "x"))
    follow_up |= follow_ups((80, 90, "censored", "x"), first=200)
    both = []
    for competing in (True, False):
        table = curve_table(follow_up, [30, 60, 90], competing=competing)
        coordinates, released = _released(table)
        rows = dict(zip(coordinates, curves.cumulative_incidence(table, coordinates, released), strict=True))
        both.append([rows[(label, "events")] for label in table.dimensions[0].categories])
    assert both[0] == both[1]


def test_the_curve_stops_at_the_first_count_not_released():
    follow_up = follow_ups((10, 10, "event", "x"), (10, 50, "event", "x"), (10, 80, "event", "x"))
    follow_up |= follow_ups((50, 90, "censored", "x"), first=100)
    table = curve_table(follow_up, [30, 60, 90], competing=False)
    coordinates, released = _released(table)
    hidden = [None if c == ("31-60", "events") else v for c, v in zip(coordinates, released, strict=True)]
    rows = dict(zip(coordinates, curves.cumulative_incidence(table, coordinates, hidden), strict=True))
    assert rows[("0-30", "events")][curves.CUMULATIVE_INCIDENCE] == 12.5
    assert rows[("31-60", "events")][curves.CUMULATIVE_INCIDENCE] is None
    assert rows[("61-90", "events")][curves.CUMULATIVE_INCIDENCE] is None


@pytest.mark.parametrize("rounding", [None, 5])
def test_the_released_curve_is_computed_from_the_released_counts(rounding):
    follow_up = follow_ups(
        (13, 10, "event", "f"),
        (7, 10, "event", "m"),
        (9, 40, "competing", "f"),
        (3, 40, "competing", "m"),
        (3, 70, "competing", "m"),
        (11, 70, "event", "f"),
        (8, 70, "event", "m"),
        (60, 90, "censored", "f"),
        (55, 90, "censored", "m"),
    )
    table = curve_table(follow_up, [30, 60, 90], strata=("m", "f"), time_points=(30, 90))
    context = ReleaseContext("dv", "org", b"s" * 32, rounding_base=rounding)
    release = protect([table], Policy.default(), context, InMemoryStores())
    protected = release.tables[0]
    coordinates = [row.coordinates for row in protected.rows]
    released = [row.value for row in protected.rows]
    merged = curves.coarsen(table, K)
    again = curves.cumulative_incidence(merged, coordinates, released)
    for row, expected in zip(protected.rows, again, strict=True):
        assert {name: row.derived.get(name) for name in curves.CURVE_COLUMNS} == expected
    assert any(row.derived.get(curves.CUMULATIVE_INCIDENCE) for row in protected.rows)
    # the customer is told what merging did (the men's 3 deaths in 31-60 are too few on their own)
    assert merged.dimensions[0].categories == ("0-30", "31-90")
    assert curves.MERGED_NOTE.format(k=K, days=30) in release.report.customer_view()["notes"]


def test_a_breakdown_whose_every_category_is_small_leaves_the_total_curve_only():
    follow_up = follow_ups(
        (3, 10, "event", "m"),
        (3, 50, "event", "f"),
        (20, 90, "censored", "m"),
        (20, 90, "censored", "f"),
    )
    table = curve_table(follow_up, [30, 60, 90], competing=False, strata=("m", "f"))
    merged = curves.coarsen(table, K)
    assert [d.name for d in merged.dimensions] == ["interval", "measure"]
    assert merged.dimensions[0].categories == ("0-60", "61-90")
    assert {c.coordinates: c.count for c in merged.cells} == {
        ("0-60", "at risk"): 46,
        ("0-60", "events"): 6,
        ("0-60", "censored"): 0,
        ("61-90", "at risk"): 40,
        ("61-90", "events"): 0,
        ("61-90", "censored"): 40,
    }
    assert any("sex" in note and "only the total" in note for note in merged.notes)


def exact_cumulative_incidence(follow_up, day: int, competing: bool) -> float:
    """Aalen-Johansen (or 1 - Kaplan-Meier, deaths censored) person by person, at every distinct
    day: the plain reading the interval estimate must equal when censoring falls on interval ends."""
    incidence, survival = 0.0, 1.0
    for u in sorted({days for days, status, _ in follow_up.values() if status != "censored"}):
        if u > day:
            break
        at_risk = sum(1 for days, _, _ in follow_up.values() if days >= u)
        events = sum(1 for days, status, _ in follow_up.values() if days == u and status == "event")
        deaths = sum(1 for days, status, _ in follow_up.values() if days == u and status == "competing")
        ending = events + (deaths if competing else 0)
        incidence += survival * events / at_risk if competing else 0.0
        survival *= 1 - ending / at_risk
    return incidence if competing else 1 - survival


@settings(max_examples=60, deadline=None)
@given(
    exits=st.lists(
        st.tuples(st.integers(0, 90), st.sampled_from(["event", "competing", "censored"])),
        min_size=1,
        max_size=120,
    ),
    competing=st.booleans(),
)
def test_the_interval_estimate_is_the_exact_one_when_censoring_falls_on_interval_ends(exits, competing):
    ends = [30, 60, 90]
    # what the estimate censors (under Kaplan-Meier deaths too) ends at an interval's end
    censoring = ("censored",) if competing else ("censored", "competing")
    follow_up = {
        p: (next(e for e in ends if e >= days) if status in censoring else days, status, "x")
        for p, (days, status) in enumerate(exits)
    }
    table = curve_table(follow_up, ends, competing=competing)
    coordinates, released = _released(table)
    rows = dict(zip(coordinates, curves.cumulative_incidence(table, coordinates, released), strict=True))
    for label, end in zip(table.dimensions[0].categories, ends, strict=True):
        estimate = rows[(label, "events")][curves.CUMULATIVE_INCIDENCE]
        if estimate is not None:
            assert estimate == pytest.approx(
                100 * exact_cumulative_incidence(follow_up, end, competing), abs=0.051
            )


def test_a_breakdown_before_the_interval_dimension_is_handled_alike():
    follow_up = follow_ups(
        (3, 10, "event", "m"), (3, 50, "event", "f"), (20, 90, "censored", "m"), (20, 90, "censored", "f")
    )
    last = curve_table(follow_up, [30, 60, 90], competing=False, strata=("m", "f"))
    first = replace(
        last,
        dimensions=(last.dimensions[2], last.dimensions[0], last.dimensions[1]),
        cells=tuple(replace(c, coordinates=(c.coordinates[2], *c.coordinates[:2])) for c in last.cells),
    )
    merged_last, merged_first = curves.coarsen(last, K), curves.coarsen(first, K)
    assert merged_first.dimensions == merged_last.dimensions
    assert {c.coordinates: c.count for c in merged_first.cells} == {
        c.coordinates: c.count for c in merged_last.cells
    }
