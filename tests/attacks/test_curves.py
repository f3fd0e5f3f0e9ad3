"""Attacks on time-to-event curves: no step of 1..k-1 persons is learnable.

The attacker sees released curves only (counts and the derived cumulative incidence) and learns a
step wherever values she holds pin it down: a released count of events, competing events or
censored persons; the persons leaving the risk set between two intervals less the exits she knows;
a margin less the other strata; and, across releases, the difference of cumulative counts up to
two days (adjacent time points) or of two cohorts that differ by a few persons. A step of 1..k-1 is
a disclosure. The curves are built from follow-ups written out here (``tests.disclosure.curve_tables``)
and protected by the real pipeline, with each release's state stored before the next.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from disclosure import curves
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ProtectedTable, ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.curve_tables import FollowUp, curve_table, follow_ups

K = 5
SECRET = b"attack-suite-secret-of-32-bytes!"
EXITS = (curves.EVENTS, curves.COMPETING, curves.CENSORED)


def release(table, stores: InMemoryStores, org: str = "org-a") -> ProtectedTable:
    released = protect([table], Policy.default(), ReleaseContext("dv1", org, SECRET), stores)
    stores.apply("dv1", released.changes)
    return released.tables[0]


def values(table: ProtectedTable) -> dict[tuple, int | None]:
    """What the attacker knows exactly: the released values of an exact release (a release with
    keyed noise, which the pipeline falls back to when an audit across releases runs out of time,
    pins nothing down; its noise has attacks of its own)."""
    if table.noise_mechanism is not None:
        return {}
    return {row.coordinates: row.value for row in table.rows}


def strata(table: ProtectedTable) -> list[tuple]:
    return sorted({row.coordinates[2:] for row in table.rows}, key=str)


def intervals(table: ProtectedTable) -> list[tuple[int, int]]:
    return [curves.interval_bounds(str(label)) for label in table.categories[0]]


def learnable_steps(table: ProtectedTable) -> list[int]:
    """Every count of exits from the risk set the attacker can pin down in one release."""
    found = values(table)
    labels = table.categories[0]
    measures = [m for m in table.categories[1] if m != curves.AT_RISK]
    steps: list[int] = []
    for stratum in strata(table):
        for j, label in enumerate(labels):
            exits = {m: found.get((label, m, *stratum)) for m in measures}
            steps += [v for v in exits.values() if v is not None]
            at_risk = found.get((label, curves.AT_RISK, *stratum))
            following = found.get((labels[j + 1], curves.AT_RISK, *stratum)) if j + 1 < len(labels) else None
            if at_risk is not None and following is not None:
                leaving = at_risk - following
                steps.append(leaving)
                unknown = [m for m, v in exits.items() if v is None]
                if len(unknown) == 1:  # the one exit count not shown, by subtraction
                    steps.append(leaving - sum(v for v in exits.values() if v is not None))
    # a margin less the other strata
    if table.dimensions[2:]:
        categories = table.categories[2]
        for label in labels:
            for measure in table.categories[1]:
                margin = found.get((label, measure, None))
                parts = [found.get((label, measure, c)) for c in categories]
                if margin is not None and sum(p is None for p in parts) == 1:
                    steps.append(margin - sum(p for p in parts if p is not None))
    return steps


def cumulative_events(table: ProtectedTable, stratum: tuple = ()) -> dict[int, int]:
    """Events up to each interval end the attacker can add up from the released counts."""
    found = values(table)
    known: dict[int, int] = {}
    total = 0
    for label, (_, end) in zip(table.categories[0], intervals(table), strict=True):
        value = found.get((label, curves.EVENTS, *stratum))
        if value is None:
            break
        total += value
        known[end] = total
    return known


def assert_no_small_step(steps) -> None:
    small = [s for s in steps if 0 < s < K]
    assert not small, f"steps of 1..k-1 persons learnable: {small}"


def cohort(first: int = 1) -> FollowUp:
    """400 women whose curve is safe to show, and 12 men with 3 events, 2 deaths and 7 censored."""
    women = follow_ups(
        (20, 15, "event", "female"),
        (9, 50, "event", "female"),
        (14, 120, "event", "female"),
        (11, 130, "competing", "female"),
        (8, 200, "censored", "female"),
        (30, 300, "event", "female"),
        (308, 365, "censored", "female"),
        first=first,
    )
    men = follow_ups(
        (1, 10, "event", "male"),
        (1, 100, "event", "male"),
        (1, 200, "event", "male"),
        (2, 250, "competing", "male"),
        (7, 365, "censored", "male"),
        first=first + 1000,
    )
    return women | men


@pytest.mark.parametrize("competing", [True, False])
def test_the_curve_of_a_small_stratum_shows_no_step_of_1_to_k_minus_1(competing):
    table = curve_table(cohort(), [30, 60, 90, 180, 270, 365], competing=competing, strata=("male", "female"))
    protected = release(table, InMemoryStores())
    assert_no_small_step(learnable_steps(protected))
    # the men's rows are left out, and so is the total over sex (it would give them by subtraction)
    assert {row.coordinates[2] for row in protected.rows} == {"female"}
    assert protected.categories[2] == ("female",)
    # the women's curve is still there
    women = [
        row.derived.get(curves.CUMULATIVE_INCIDENCE)
        for row in protected.rows
        if row.coordinates[1:] == (curves.EVENTS, "female")
    ]
    assert any(value for value in women)


def test_adjacent_time_points_do_not_difference_to_a_small_step():
    """Events up to day 60 and up to day 90, asked for in two questions: 2 events lie between."""
    follow_up = follow_ups(
        (10, 20, "event", "x"),
        (2, 75, "event", "x"),
        (20, 200, "event", "x"),
        (8, 150, "competing", "x"),
        (200, 365, "censored", "x"),
    )
    stores = InMemoryStores()
    first = release(curve_table(follow_up, [60, 365], time_points=(60, 365)), stores)
    second = release(curve_table(follow_up, [90, 365], time_points=(90, 365)), stores)
    third = release(curve_table(follow_up, [60, 90, 365], time_points=(60, 90, 365)), stores)
    known: dict[int, set[int]] = defaultdict(set)
    for table in (first, second, third):
        assert_no_small_step(learnable_steps(table))
        for end, total in cumulative_events(table).items():
            known[end].add(total)
    days = sorted(known)
    differences = [abs(a - b) for x in days for y in days for a in known[x] for b in known[y]]
    assert_no_small_step(differences)
    assert 32 in known[365]  # the whole curve is still shown


def test_two_overlapping_cohorts_do_not_difference_to_a_small_step():
    """The same cohort asked for twice, the second time without three persons who had the event
    early (an exclusion criterion that happens to catch them)."""
    everyone = cohort()
    without = {p: f for p, f in everyone.items() if p not in (1, 2, 3)}  # three of the day-15 events
    stores = InMemoryStores()
    ends = [30, 90, 180, 365]
    first = release(curve_table(everyone, ends, strata=("male", "female")), stores)
    second = release(curve_table(without, ends, strata=("male", "female")), stores, "org-b")
    for table in (first, second):
        assert_no_small_step(learnable_steps(table))
    for stratum in [(None,), ("female",)]:
        a, b = cumulative_events(first, stratum), cumulative_events(second, stratum)
        assert_no_small_step([a[end] - b[end] for end in a.keys() & b.keys()])
        at_risk_a, at_risk_b = values(first), values(second)
        for label in set(first.categories[0]) & set(second.categories[0]):
            x = at_risk_a.get((label, curves.AT_RISK, *stratum))
            y = at_risk_b.get((label, curves.AT_RISK, *stratum))
            if x is not None and y is not None:
                assert_no_small_step([x - y])


def test_an_earlier_overall_curve_less_the_womens_curve_does_not_give_the_men():
    """The total left out of the breakdown was asked for on its own first."""
    stores = InMemoryStores()
    ends = [30, 60, 90, 180, 270, 365]
    everyone = {p: (days, status, "all") for p, (days, status, _) in cohort().items()}
    overall = release(curve_table(everyone, ends), stores)
    by_sex = release(curve_table(cohort(), ends, strata=("male", "female")), stores, "org-b")
    for table in (overall, by_sex):
        assert_no_small_step(learnable_steps(table))
    a, b = values(overall), values(by_sex)
    for label in set(overall.categories[0]) & set(by_sex.categories[0]):
        for measure in overall.categories[1]:
            x, y = a.get((label, measure)), b.get((label, measure, "female"))
            if x is not None and y is not None:
                assert_no_small_step([x - y])
    for stratum_a, stratum_b in [((), ("female",))]:
        x, y = cumulative_events(overall, stratum_a), cumulative_events(by_sex, stratum_b)
        assert_no_small_step([x[end] - y[end] for end in x.keys() & y.keys()])


@pytest.fixture(scope="module")
def engine(small_registers):
    from queries.engine import DuckDBEngine

    engine = DuckDBEngine(small_registers)
    yield engine
    engine.close()


@pytest.mark.slow
def test_region_curves_and_shifted_time_points_through_the_real_engine(engine):
    """Myocardial infarction after any circulatory diagnosis by region (small regions included),
    asked again with the first time point moved by 30 days: no step of 1..k-1 in either release or
    between them."""
    from queries.validation import validate_query

    def ask(time_points: list[int], org: str, stores: InMemoryStores) -> ProtectedTable:
        payload = {
            "index": {
                "concept": {"type": "diagnosis", "codes": ["DI"]},
                "period": {"start": "2010-01-01", "end": "2019-12-31"},
            },
            "result": {
                "kind": "time_to_event",
                "outcome": {"type": "diagnosis", "codes": ["DI21"]},
                "time_points": time_points,
                "breakdowns": [{"by": "region"}],
            },
        }
        tables = engine.run(validate_query(payload, engine.catalog))
        released = protect(tables, Policy.default(), ReleaseContext(engine.data_version, org, SECRET), stores)
        stores.apply(engine.data_version, released.changes)
        return released.tables[0]

    stores = InMemoryStores()
    first = ask([60, 365, 730], "org-a", stores)
    second = ask([90, 365, 730], "org-b", stores)
    for table in (first, second):
        assert_no_small_step(learnable_steps(table))
    shown = 0
    for stratum in {row.coordinates[2:] for row in first.rows} & {row.coordinates[2:] for row in second.rows}:
        a, b = cumulative_events(first, stratum), cumulative_events(second, stratum)
        assert_no_small_step([abs(x - y) for x in a.values() for y in b.values()])
        shown += len(a) + len(b)
    assert shown, "no curve was released at all: the test would prove nothing"
