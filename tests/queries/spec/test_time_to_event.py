"""Spec: time to event (``time_to_event``) on both engines and both storages, before disclosure control.

Every person has type 2 diabetes (DE11) as index event; the outcome is a myocardial infarction (DI21).
Follow-up runs from the index date (day 0) to the first outcome after it, death, emigration, the
registers' last date (2016-12-31 here) or the end of follow-up. Each person pins down one rule:

Person 1   index 2016-01-01, DI21 on day 30                         → event in 0-30
Person 2   index 2016-01-01, DI21 on the index day                  → outcome at index
Person 3   index 2016-01-01, DI21 in 2015                           → outcome before index
Person 4   index 2016-01-01, died on day 100                        → competing (AJ), censored (KM)
Person 5   index 2016-01-01, emigrated on day 60                    → censored in 31-90
Person 6   index 2016-01-01, DI21 and death on day 100              → event (the outcome wins the tie)
Person 7   index 2016-11-01: the registers end 60 days later        → censored in 31-90
Person 8   index 2016-01-01, nothing happens                        → censored at the end (day 365)
Person 9   index 2016-01-01, DI21 on day 517, after the follow-up   → censored at the end
Person 10  man, index 2016-01-01, DI21 on day 365, its last day     → event in 91-365
"""

from __future__ import annotations

import datetime as dt

import pytest

from queries.errors import QueryValidationError
from queries.model import Query
from queries.shape import query_shape
from queries.validation import validate_query
from tests.queries.engines import persons, run_both
from tests.queries.registers_text import write_rows

STORAGES = ("parquet", "layout")
INDEX_DAY = dt.date(2016, 1, 1)


def day(offset: int, start: dt.date = INDEX_DAY) -> dt.date:
    return start + dt.timedelta(days=offset)


# pnr: (sex, index date, [DI21 days], died day, emigrated day)
PERSONS = {
    1: (2, INDEX_DAY, [30], None, None),
    2: (2, INDEX_DAY, [0], None, None),
    3: (2, INDEX_DAY, [-200], None, None),
    4: (2, INDEX_DAY, [], 100, None),
    5: (2, INDEX_DAY, [], None, 60),
    6: (2, INDEX_DAY, [100], 100, None),
    7: (2, dt.date(2016, 11, 1), [], None, None),
    8: (2, INDEX_DAY, [], None, None),
    9: (2, INDEX_DAY, [517], None, None),
    10: (1, INDEX_DAY, [365], None, None),
}


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    bef, adm, diagnoses = [], [], []
    for pnr, (sex, index_date, outcome_days, died, emigrated) in PERSONS.items():
        bef.append(
            {
                "pnr": pnr,
                "koen": sex,
                "foed_dag": dt.date(1950, 1, 1),
                "doed_dato": day(died, index_date) if died is not None else None,
                "udvandret_dato": day(emigrated, index_date) if emigrated is not None else None,
                "indvandret_dato": None,
                "reg": 1084,
                "kom": 101,
            }
        )
        contacts = [(index_date, "DE119"), *((day(d, index_date), "DI219") for d in outcome_days)]
        for date, code in contacts:
            recnum = len(adm) + 1
            adm.append({"pnr": pnr, "recnum": recnum, "d_inddto": date, "d_uddto": date, "c_pattype": 1})
            diagnoses.append({"recnum": recnum, "c_diag": code, "c_diagtype": "A"})
    return write_rows(
        tmp_path_factory.mktemp("time-to-event"),
        {"bef": bef, "lpr_adm": adm, "lpr_diag": diagnoses},
        years=(2005, 2016),  # the registers end on 2016-12-31
    )


def query(**result) -> dict:
    return {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2015-01-01", "end": "2016-12-31"},
        },
        "result": {
            "kind": "time_to_event",
            "outcome": {"type": "diagnosis", "codes": ["DI21"]},
            "time_points": [30, 90, 365],
            "interval_days": 365,
            **result,
        },
    }


def run(registers, payload):
    (table,) = run_both(registers, payload, STORAGES)
    assert query_shape(Query.model_validate(payload)).cells == len(table.cells)
    return table


def cells(registers, table, *extra) -> dict[tuple[str, str], set[int]]:
    return {
        (label, measure): persons(registers, table, label, measure, *extra)
        for label in table.dimensions[0].categories
        for measure in table.dimensions[1].categories
    }


def test_aalen_johansen_follows_each_member_to_the_first_of_outcome_death_emigration_and_end(registers):
    table = run(registers, query())
    assert table.dimensions[0].categories == ("0-30", "31-90", "91-365")
    assert table.dimensions[1].categories == ("at risk", "events", "competing events", "censored")
    assert cells(registers, table) == {
        ("0-30", "at risk"): {1, 4, 5, 6, 7, 8, 9, 10},  # 2 and 3 had the outcome by index: left out
        ("0-30", "events"): {1},  # day 30 is the interval's last day
        ("0-30", "competing events"): set(),
        ("0-30", "censored"): set(),
        ("31-90", "at risk"): {4, 5, 6, 7, 8, 9, 10},
        ("31-90", "events"): set(),
        ("31-90", "competing events"): set(),
        ("31-90", "censored"): {5, 7},  # emigration, and the registers' last date
        ("91-365", "at risk"): {4, 6, 8, 9, 10},
        ("91-365", "events"): {6, 10},  # the outcome on the day of death counts; day 365 is in
        ("91-365", "competing events"): {4},
        ("91-365", "censored"): {8, 9},  # followed to the end; 9's outcome comes after it
    }
    assert table.kind == "time_to_event"
    assert table.ordered_dimension == "interval"
    assert table.time_points == (30, 90, 365)
    assert table.max_cells_per_person == 4
    assert table.registers == frozenset({"CPR/BEF", "LPR2", "LPR3"})
    assert table.derived_columns == (
        "cumulative_incidence_percent",
        "ci_lower_percent",
        "ci_upper_percent",
    )


def test_kaplan_meier_censors_death(registers):
    table = run(registers, query(method="kaplan_meier"))
    assert table.dimensions[1].categories == ("at risk", "events", "censored")
    found = cells(registers, table)
    assert found[("91-365", "censored")] == {4, 8, 9}
    assert found[("91-365", "events")] == {6, 10}


def test_an_outcome_on_or_before_index_counts_on_day_zero_when_asked(registers):
    table = run(registers, query(outcome_before_index="day_zero"))
    found = cells(registers, table)
    assert found[("0-30", "at risk")] == {1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
    assert found[("0-30", "events")] == {1, 2, 3}


def test_max_follow_up_censors_everyone_still_followed_then(registers):
    table = run(registers, query(time_points=[30, 90], max_follow_up_days=120, interval_days=30))
    assert table.dimensions[0].categories == ("0-30", "31-60", "61-90", "91-120")
    found = cells(registers, table)
    assert found[("31-60", "censored")] == {5, 7}  # day 60: emigration, and the registers' end
    assert found[("91-120", "events")] == {6}
    assert found[("91-120", "competing events")] == {4}
    assert found[("91-120", "censored")] == {8, 9, 10}  # 10's outcome on day 365 is past day 120


def test_a_breakdown_gives_each_stratum_and_the_margin(registers):
    table = run(registers, query(breakdowns=[{"by": "sex"}]))
    assert table.dimensions[2].categories == ("male", "female")
    assert cells(registers, table, "male")[("91-365", "events")] == {10}
    assert cells(registers, table, "female")[("91-365", "events")] == {6}
    assert cells(registers, table, None)[("91-365", "events")] == {6, 10}


def test_the_outcome_can_be_death_itself(registers):
    table = run(registers, query(outcome={"type": "vital_status", "status": "died"}))
    found = cells(registers, table)
    assert found[("91-365", "events")] == {4, 6}
    assert found[("91-365", "competing events")] == set()  # death is the outcome, not competing


@pytest.mark.parametrize(
    ("result", "field"),
    [
        ({"time_points": [30, 45]}, "result.time_points"),  # closer than the 30-day minimum
        ({"time_points": [90, 30]}, "result.time_points"),
        ({"time_points": [10]}, "result.time_points.0"),
        ({"interval_days": 7}, "result.interval_days"),
        ({"max_follow_up_days": 300}, "result.max_follow_up_days"),  # before the last time point
        ({"max_follow_up_days": 380}, "result.max_follow_up_days"),  # a 15-day last interval
        ({"interval_days": 30, "time_points": [30, 7300]}, "result.interval_days"),  # too many intervals
        ({"outcome": {"type": "lab_result", "codes": ["NPU27300"], "latest": True}}, "result.outcome.latest"),
        ({"breakdowns": [{"by": "education"}]}, "result.breakdowns.0"),
    ],
)
def test_invalid_curves_are_422s_naming_the_field(result, field):
    with pytest.raises(QueryValidationError) as raised:
        validate_query(query(**result), None)
    assert any(p["field"].startswith(field) for p in raised.value.problems), raised.value.problems
