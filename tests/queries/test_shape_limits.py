"""S4: the shape limits of the disclosure policy (reference policy §4 rule 14): at most three
breakdowns, age bands of at least five years, calendar periods of at least one month.

"Periods" are the index period and, when the result has a row per calendar year (incidence and
prevalence, an ``index_year`` breakdown), the index period's part of each year. Windows relative to
the index date are criteria, not periods, and keep any length.
"""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from disclosure import policy as rules
from queries import model as m
from queries.engine import DuckDBEngine
from queries.errors import QueryValidationError
from queries.validation import check_structure, earliest_end, months_after, validate_query

T2D = {"type": "diagnosis", "codes": ["DE11"]}


def query(start: str, end: str, result: dict | None = None, **parts) -> dict:
    payload = {"index": {"concept": T2D, "period": {"start": start, "end": end}}, **parts}
    if result is not None:
        payload["result"] = result
    return payload


def problems(payload: dict) -> dict[str, dict]:
    with pytest.raises(QueryValidationError) as caught:
        validate_query(payload)
    return {p["field"]: p for p in caught.value.problems}


def valid(payload: dict) -> m.Query:
    return validate_query(payload)


# --- the limits are named constants of the disclosure policy ----------------------------------------


def test_the_limits_are_those_of_rule_14():
    assert (rules.MAX_BREAKDOWNS, rules.MIN_AGE_BAND_WIDTH, rules.MIN_PERIOD_MONTHS) == (3, 5, 1)


# --- index period -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2020-01-01", "2020-01-30"),  # 30 days of a 31-day month
        ("2020-02-01", "2020-02-28"),  # a leap February needs its 29th
        ("2020-03-15", "2020-04-13"),
        ("2020-06-01", "2020-06-01"),  # one day
    ],
)
def test_an_index_period_shorter_than_a_month_is_refused(start, end):
    found = problems(query(start, end))
    assert set(found) == {"index.period.end"}
    expected = earliest_end(dt.date.fromisoformat(start)).isoformat()
    assert expected in found["index.period.end"]["valid"]
    assert "one month" in found["index.period.end"]["message"]


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("2020-01-01", "2020-01-31"),
        ("2020-02-01", "2020-02-29"),
        ("2021-02-01", "2021-02-28"),  # February of a common year is a whole month
        ("2020-01-31", "2020-02-28"),  # from the 31st: to the day before the clamped 29 February
        ("2020-03-15", "2020-04-14"),
        ("2019-12-15", "2020-01-14"),  # across a year end, no row per year
    ],
)
def test_an_index_period_of_a_month_is_accepted(start, end):
    assert valid(query(start, end)).index.period.end == dt.date.fromisoformat(end)


def test_an_inverted_period_is_reported_once_as_inverted():
    found = problems(query("2020-03-01", "2020-02-01"))
    assert set(found) == {"index.period.start"} and "start <= end" in found["index.period.start"]["valid"]


@given(st.dates(dt.date(2000, 1, 1), dt.date(2030, 12, 31)), st.integers(0, 40))
def test_one_month_is_one_calendar_month_whatever_the_start(start, days):
    end = start + dt.timedelta(days=days)
    accepted = not [p for p in period_only(start, end)]
    # a period is a month long exactly when the day after its end is a month after its start
    assert accepted == (end + dt.timedelta(days=1) >= months_after(start, 1))
    assert 28 <= (earliest_end(start) - start).days + 1 <= 31


def period_only(start: dt.date, end: dt.date) -> list[dict]:
    try:
        validate_query(query(start.isoformat(), end.isoformat()))
    except QueryValidationError as error:
        return error.problems
    return []


# --- each calendar year's part when the result has a row per year --------------------------------

INCIDENCE = {"kind": "incidence_prevalence"}
BY_INDEX_YEAR = {"kind": "cohort_count", "breakdowns": [{"by": "sex"}, {"by": "index_year"}]}


@pytest.mark.parametrize("result", [INCIDENCE, BY_INDEX_YEAR])
def test_a_short_last_year_is_refused_when_years_are_rows(result):
    found = problems(query("2015-01-01", "2019-01-01", result))
    assert set(found) == {"index.period.end"}
    assert "1 day of 2019" in found["index.period.end"]["message"]
    assert (
        "2019-01-31" in found["index.period.end"]["valid"]
        and "2018-12-31" in found["index.period.end"]["valid"]
    )


@pytest.mark.parametrize("result", [INCIDENCE, BY_INDEX_YEAR])
def test_a_short_first_year_is_refused_when_years_are_rows(result):
    found = problems(query("2014-12-20", "2018-12-31", result))
    assert set(found) == {"index.period.start"}
    assert "12 days of 2014" in found["index.period.start"]["message"]
    assert (
        "2014-12-01" in found["index.period.start"]["valid"]
        and "2015-01-01" in found["index.period.start"]["valid"]
    )


def test_both_short_ends_are_reported_together():
    found = problems(query("2014-12-20", "2016-01-10", INCIDENCE))
    assert set(found) == {"index.period.start", "index.period.end"}


@pytest.mark.parametrize("result", [INCIDENCE, BY_INDEX_YEAR])
def test_year_parts_of_a_month_are_accepted(result):
    valid(query("2014-12-01", "2019-01-31", result))


@pytest.mark.parametrize(
    "result",
    [
        {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
        {"kind": "attrition"},
        {"kind": "treatment_uptake", "drugs": [{"name": "GLP-1", "atc": ["A10BJ"]}]},
    ],
)
def test_without_rows_per_year_only_the_whole_period_counts(result):
    valid(query("2014-12-20", "2019-01-01", result))


# --- windows relative to the index date are criteria, not periods -------------------------------


def test_short_relative_windows_are_allowed():
    valid(
        query(
            "2015-01-01",
            "2020-12-31",
            {
                "kind": "characteristics",
                "items": [
                    {
                        "name": "same day",
                        "concept": {"type": "prescription", "atc": ["A10BA"]},
                        "window": {"start": 0, "end": 0},
                    }
                ],
            },
            criteria=[
                {
                    "type": "include",
                    "concept": {"type": "prescription", "atc": ["A10BJ"]},
                    "window": {"start": 0, "end": 6},
                }
            ],
        )
    )


# --- breakdowns and age bands -------------------------------------------------------------------


def test_four_breakdowns_are_refused():
    breakdowns = [{"by": "sex"}, {"by": "region"}, {"by": "index_year"}, {"by": "education"}]
    found = problems(query("2015-01-01", "2020-12-31", {"kind": "cohort_count", "breakdowns": breakdowns}))
    assert "at most 3" in found["result.breakdowns"]["valid"]


def test_age_bands_narrower_than_five_years_are_refused():
    found = problems(
        query(
            "2015-01-01",
            "2020-12-31",
            {"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": 4}]},
        )
    )
    assert "5" in found["result.breakdowns.0.width"]["valid"]


@pytest.mark.parametrize(("width", "top"), [(5, 92), (10, 83), (20, 61)])
def test_a_top_that_cuts_the_last_band_below_five_years_is_refused(width, top):
    result = {
        "kind": "cohort_count",
        "breakdowns": [{"by": "sex"}, {"by": "age_band", "width": width, "top": top}],
    }
    found = problems(query("2015-01-01", "2020-12-31", result))
    assert set(found) == {"result.breakdowns.1.top"}
    assert str(top - top % width) in found["result.breakdowns.1.top"]["valid"]


@pytest.mark.parametrize(("width", "top"), [(5, 90), (10, 80), (20, 90), (10, 95), (50, 120)])
def test_a_top_leaving_five_years_or_more_is_accepted(width, top):
    valid(
        query(
            "2015-01-01",
            "2020-12-31",
            {"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": width, "top": top}]},
        )
    )


# --- a Query built in code cannot bypass the limits -----------------------------------------------


def test_the_engine_refuses_a_short_period_built_in_code(spec_registers):
    built = m.Query(
        index=m.IndexEvent(
            concept=m.DiagnosisConcept(codes=("DE11",)),
            period=m.Period(start=dt.date(2016, 3, 1), end=dt.date(2016, 3, 7)),
        )
    )
    with pytest.raises(QueryValidationError) as caught:
        check_structure(built)
    assert [p["field"] for p in caught.value.problems] == ["index.period.end"]
    engine = DuckDBEngine(spec_registers, storage="parquet")
    try:
        with pytest.raises(QueryValidationError):
            engine.run(built)
    finally:
        engine.close()
