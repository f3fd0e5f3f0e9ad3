"""Spec: a look-back (observation period) before the index date, and incident events defined as the
first in the look-back window, on both engines and both storages.

Person 1  man, T2D 2010-03-01 and 2016-03-01: six years apart, so incident again after a 2- or 5-year
          look-back, but not first-ever.
Person 2  woman, T2D 2015-01-10 and 2016-06-01: 508 days apart (not incident after two years).
Person 3  man, immigrated 2015-06-01, T2D 2016-02-01: first-ever, but not resident two years before.
Person 5  man, T2D 2016-05-01 only.
Person 6  woman, T2D 2013-01-01, 2014-12-01 and 2016-12-15: 745 days since the last (incident after
          two years, not after five).
Person 7  man, T2D 2014-03-01 and 2016-02-29: exactly 730 days apart (the look-back's first day is
          in it: not incident after 730 days, incident after 729).
Person 8  woman, immigrated 2014-04-02, T2D 2016-04-01: resident on exactly the 730 days before it.
Person 9  woman, immigrated 2014-04-03, T2D 2016-04-01: one day short.
"""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.validation import validate_query
from tests.queries.engines import counts, persons, run_both
from tests.queries.registers_text import write_registers

STORAGES = ("parquet", "layout")
T2D = {"type": "diagnosis", "codes": ["DE11"]}
YEAR_2016 = {"start": "2016-01-01", "end": "2016-12-31"}

DIAGNOSES = {
    1: ["2010-03-01", "2016-03-01"],
    2: ["2015-01-10", "2016-06-01"],
    3: ["2016-02-01"],
    5: ["2016-05-01"],
    6: ["2013-01-01", "2014-12-01", "2016-12-15"],
    7: ["2014-03-01", "2016-02-29"],
    8: ["2016-04-01"],
    9: ["2016-04-01"],
}


def _lpr() -> tuple[str, str]:
    adm = ["| pnr | recnum | d_inddto | d_uddto | c_pattype |"]
    diag = ["| recnum | c_diag | c_diagtype |"]
    recnum = 0
    for pnr, dates in DIAGNOSES.items():
        for date in dates:
            recnum += 1
            adm.append(f"| {pnr} | {recnum} | {date} | {date} | 1 |")
            diag.append(f"| {recnum} | DE119 | A |")
    return "\n".join(adm), "\n".join(diag)


LOOKBACK_REGISTERS = {
    "bef": """
        | pnr | koen | foed_dag   | doed_dato | indvandret_dato | udvandret_dato | reg  | kom |
        | 1   | 1    | 1950-01-01 |           |                 |                | 1084 | 101 |
        | 2   | 2    | 1960-01-01 |           |                 |                | 1084 | 101 |
        | 3   | 1    | 1970-01-01 |           | 2015-06-01      |                | 1082 | 751 |
        | 4   | 2    | 1980-01-01 |           |                 |                | 1082 | 751 |
        | 5   | 1    | 1955-01-01 |           |                 |                | 1083 | 461 |
        | 6   | 2    | 1945-01-01 |           |                 |                | 1083 | 461 |
        | 7   | 1    | 1965-01-01 |           |                 |                | 1081 | 851 |
        | 8   | 2    | 1975-01-01 |           | 2014-04-02      |                | 1085 | 259 |
        | 9   | 2    | 1975-01-01 |           | 2014-04-03      |                | 1085 | 259 |
    """,
    "lpr_adm": _lpr()[0],
    "lpr_diag": _lpr()[1],
}


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    return write_registers(tmp_path_factory.mktemp("lookback"), LOOKBACK_REGISTERS)


def cohort(registers, index: dict) -> set[int]:
    query = {"index": {"concept": T2D, "period": YEAR_2016, **index}, "result": {"kind": "cohort_count"}}
    (table,) = run_both(registers, query, STORAGES)
    return persons(registers, table, *([None] * len(table.dimensions)))


def attrition(registers, index: dict) -> dict:
    query = {"index": {"concept": T2D, "period": YEAR_2016, **index}, "result": {"kind": "attrition"}}
    (table,) = run_both(registers, query, STORAGES)
    return counts(table)


def test_first_ever_counts_since_the_registers_start(registers):
    assert cohort(registers, {}) == {3, 5, 8, 9}


def test_a_lookback_requires_residence_on_every_day_of_it(registers):
    # 3 arrived 245 days before his index date; 8 exactly 730 days before hers, 9 one day later
    assert cohort(registers, {"lookback": {"days": 730}}) == {5, 8}
    steps = attrition(registers, {"lookback": {"days": 730}})
    assert list(steps.values())[:2] == [4, 2]  # index persons, then eligible (observed)


def test_first_in_lookback_is_an_event_with_none_in_the_days_before(registers):
    two_years = cohort(registers, {"occurrence": "first_in_lookback", "lookback": {"days": 730}})
    # 1 after six years, 6 after 745 days; not 2 (508 days), 7 (exactly 730: the window's first day)
    assert two_years == {1, 5, 6, 8}
    assert cohort(registers, {"occurrence": "first_in_lookback", "lookback": {"days": 729}}) == {
        1,
        5,
        6,
        7,
        8,
        9,
    }
    five_years = cohort(registers, {"occurrence": "first_in_lookback", "lookback": {"days": 1826}})
    assert five_years == {1, 5}  # 8 arrived less than five years before


def test_any_occurrence_with_a_lookback_keeps_prevalent_cases_who_were_observed(registers):
    assert cohort(registers, {"occurrence": "any", "lookback": {"days": 730}}) == {1, 2, 5, 6, 7, 8}


def test_first_in_lookback_needs_the_lookback():
    payload = {"index": {"concept": T2D, "period": YEAR_2016, "occurrence": "first_in_lookback"}}
    with pytest.raises(QueryValidationError) as raised:
        validate_query(payload, None)
    assert [p["field"] for p in raised.value.problems] == ["index.lookback"]


def test_a_lookback_reaching_before_the_registers_start_is_refused(registers):
    from queries.vocabulary import load_catalog

    catalog = load_catalog(registers)
    payload = {"index": {"concept": T2D, "period": {"start": "2006-01-01", "end": "2006-12-31"}}}
    validate_query({**payload, "index": {**payload["index"], "lookback": {"days": 365}}}, catalog)
    with pytest.raises(QueryValidationError) as raised:
        validate_query({**payload, "index": {**payload["index"], "lookback": {"days": 366}}}, catalog)
    (found,) = raised.value.problems
    assert found["field"] == "index.lookback.days"
    assert "2005-01-01" in found["message"]
    assert "at most 365 days" in found["valid"]


def test_a_lookback_is_bounded_by_the_model():
    payload = {"index": {"concept": T2D, "period": YEAR_2016, "lookback": {"days": 0}}}
    with pytest.raises(QueryValidationError) as raised:
        validate_query(payload, None)
    assert [p["field"] for p in raised.value.problems] == ["index.lookback.days"]


def incidence(registers, index: dict, breakdowns=()) -> object:
    query = {
        "index": {"concept": T2D, "period": {"start": "2015-01-01", "end": "2016-12-31"}, **index},
        "result": {"kind": "incidence_prevalence", "breakdowns": list(breakdowns)},
    }
    (table,) = run_both(registers, query, STORAGES)
    return table


def test_incidence_after_a_lookback_counts_observed_first_ever_events(registers):
    first_ever = incidence(registers, {})
    assert persons(registers, first_ever, 2016, "incident") == {3, 5, 8, 9}
    observed = incidence(registers, {"lookback": {"days": 730}})
    assert persons(registers, observed, 2016, "incident") == {5, 8}
    # 2 (2015-01-10) had ten years of residence behind her first event; 7's 2014 event was earlier
    assert persons(registers, observed, 2015, "incident") == {2}
    # prevalence does not depend on the look-back
    assert persons(registers, observed, 2016, "prevalent") == persons(
        registers, first_ever, 2016, "prevalent"
    )


def test_incidence_first_in_lookback_counts_a_person_again_after_a_gap(registers):
    table = incidence(
        registers, {"occurrence": "first_in_lookback", "lookback": {"days": 730}}, [{"by": "sex"}]
    )
    assert persons(registers, table, 2016, "incident", None) == {1, 5, 6, 8}
    assert persons(registers, table, 2015, "incident", None) == {2}
    assert table.max_cells_per_person == 4  # incident in every year, prevalent in every year


def test_time_at_risk_after_a_lookback_leaves_out_unobserved_days_and_days_after_an_event(registers):
    def at_risk_days(index: dict) -> float:
        cell = incidence(registers, index).cell(2016, "incident")
        assert cell.measures["population"] == 9  # the residents, whatever the look-back
        return cell.measures["person_years_at_risk"] * 365.25

    # first-ever, days of 2016 up to the first event: 3 to 1 Feb (32), 4 all year (366), 5 to 1 May
    # (122), 8 and 9 to 1 April (92 each)
    assert at_risk_days({}) == pytest.approx(32 + 366 + 122 + 92 + 92)
    # and with 730 days of residence behind: 3 is observed only from 31 May 2017, 8 from 1 April
    # (her event that day: 1 day), 9 from 2 April (after her event)
    assert at_risk_days({"lookback": {"days": 730}}) == pytest.approx(366 + 122 + 1)
    # first in the look-back: no event in the 730 days before the day. 1 to his event on 1 March
    # (61), 6 from 1 December (730 days after 2014-12-01) to her event on 15 December (15); 2 and 7
    # never (an event in the 730 days before every day of 2016, up to and after their events)
    washout = {"occurrence": "first_in_lookback", "lookback": {"days": 730}}
    assert at_risk_days(washout) == pytest.approx(61 + 366 + 122 + 15 + 1)
