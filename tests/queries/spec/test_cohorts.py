"""Spec: index events, population constraints and criteria, on both engines and both storages.

Expected cohorts are worked out by hand from the persons described in conftest.py.
"""

from __future__ import annotations

import pytest

from tests.queries.conftest import SPEC_REGISTERS
from tests.queries.engines import counts, persons, run_both
from tests.queries.registers_text import write_registers

STORAGES = ("parquet", "layout")
T2D = {"type": "diagnosis", "codes": ["DE11"]}
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}


def cohort(spec_registers, **parts) -> set[int]:
    query = {"index": {"concept": T2D, "period": PERIOD}, "result": {"kind": "cohort_count"}, **parts}
    (table,) = run_both(spec_registers, query, STORAGES)
    return persons(spec_registers, table)


def test_first_ever_event_in_period_alive_and_resident(spec_registers):
    # 2: first T2D in 2014; 6: not yet immigrated; 7: T2D only in 2021; 5 emigrated on the index day
    assert cohort(spec_registers) == {1, 3, 4, 5, 8}


def test_retracted_lpr3_diagnosis_is_not_an_event(spec_registers):
    # person 4's retracted DE11 on 2019-03-10 would make her 39 at index
    assert cohort(spec_registers, population={"age": {"min": 40, "max": 70}}) == {1, 3, 4, 5}


def test_any_occurrence_takes_the_first_event_in_the_period(spec_registers):
    query = {"index": {"concept": T2D, "period": PERIOD, "occurrence": "any"}}
    assert cohort(spec_registers, **query) == {1, 2, 3, 4, 5, 8}


def test_without_residence_requirement_everyone_with_an_index_event_counts(spec_registers):
    assert cohort(spec_registers, population={"alive_and_resident_at_index": False}) == {1, 3, 4, 5, 6, 8}


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        ({**T2D, "primary_only": True}, {1, 3, 4, 5}),
        ({**T2D, "contact_type": "inpatient"}, {1, 4, 5}),
        ({**T2D, "contact_type": "emergency"}, {3, 8}),
        ({**T2D, "contact_type": "outpatient"}, set()),
        ({"type": "diagnosis", "codes": ["DE10", "DE11"]}, {1, 3, 4, 5, 7, 8}),
        ({"type": "diagnosis", "codes": ["DE118"]}, {4}),
    ],
)
def test_diagnosis_concept_options(spec_registers, concept, expected):
    assert cohort(spec_registers, index={"concept": concept, "period": PERIOD}) == expected


@pytest.mark.parametrize(
    ("population", "expected"),
    [
        ({"sex": "female"}, {4, 8}),
        ({"regions": [1084, 1085]}, {1, 5, 8}),
        ({"age": {"min": 56}}, {3, 5, 8}),
        ({"age": {"max": 55}}, {1, 4}),
    ],
)
def test_population_constraints(spec_registers, population, expected):
    assert cohort(spec_registers, population=population) == expected


GLP1 = {"type": "prescription", "atc": ["A10BJ"]}
CANCER = {"type": "cancer", "codes": ["C"]}


@pytest.mark.parametrize(
    ("criteria", "expected"),
    [
        # day 0 and day 365 are both inside 0..365 (person 4 on the boundary)
        ([{"type": "include", "concept": GLP1, "window": {"start": 0, "end": 365}}], {1, 4}),
        ([{"type": "include", "concept": GLP1, "window": {"start": 0, "end": 364}}], {1}),
        ([{"type": "include", "concept": GLP1, "window": {"start": -365, "end": -1}}], {5}),
        ([{"type": "include", "concept": GLP1}], {1, 4, 5}),
        ([{"type": "exclude", "concept": CANCER, "window": {"start": -1825, "end": -1}}], {3, 4, 5, 8}),
        ([{"type": "exclude", "concept": CANCER, "window": {"start": -1825, "end": 0}}], {3, 5, 8}),
        # two dispensings on one day are one occurrence: person 3 has two days, person 5 one
        (
            [{"type": "include", "concept": {"type": "prescription", "atc": ["A10BA"]}, "min_count": 2}],
            {3},
        ),
        (
            [{"type": "include", "concept": {"type": "prescription", "atc": ["A10BA02"], "min_packages": 2}}],
            {5},
        ),
        (
            [
                {
                    "type": "any",
                    "criteria": [
                        {"type": "include", "concept": GLP1, "window": {"start": 0, "end": 365}},
                        {"type": "include", "concept": {"type": "vital_status", "status": "died"}},
                    ],
                }
            ],
            {1, 3, 4},
        ),
        (
            [
                {
                    "type": "not",
                    "criterion": {
                        "type": "all",
                        "criteria": [
                            {"type": "include", "concept": {"type": "sex", "sex": "male"}},
                            {"type": "include", "concept": {"type": "age", "min": 60}},
                        ],
                    },
                }
            ],
            {1, 4, 5, 8},  # 5 is 59 at index
        ),
        ([{"type": "include", "concept": {"type": "vital_status", "status": "emigrated"}}], {5}),
        ([{"type": "include", "concept": {"type": "cause_of_death", "codes": ["DI21"]}}], {3}),
        ([{"type": "include", "concept": {"type": "cause_of_death", "codes": ["DE11"]}}], set()),
        (
            [
                {
                    "type": "include",
                    "concept": {"type": "cause_of_death", "codes": ["DE11"], "underlying_only": False},
                }
            ],
            {3},
        ),
        # education in force in the index year: 1 has level 70 from 2010; 4's record is from 2021
        ([{"type": "include", "concept": {"type": "education", "levels": [70]}}], {1}),
        ([{"type": "exclude", "concept": {"type": "education", "levels": [10, 70]}}], {4, 5, 8}),
        # income of the year before the index year, [min, max)
        ([{"type": "include", "concept": {"type": "income", "min": 200000, "max": 500000}}], {1, 3}),
        ([{"type": "include", "concept": {"type": "income", "measure": "personal", "min": 600000}}], {4}),
        ([{"type": "include", "concept": {"type": "region", "regions": [1081, 1083]}}], {3, 4}),
        (
            [
                {
                    "type": "include",
                    "concept": {"type": "biobank_sample", "sample_types": ["dna", "plasma"]},
                    "window": {"start": 0},
                }
            ],
            {1, 5},
        ),
        (
            [
                {"type": "include", "concept": GLP1, "window": {"start": 0, "end": 365}},
                {"type": "exclude", "concept": CANCER, "window": {"start": -1825, "end": -1}},
            ],
            {4},
        ),
    ],
)
def test_criteria(spec_registers, criteria, expected):
    assert cohort(spec_registers, criteria=criteria) == expected


def test_breakdowns_with_all_margins(spec_registers):
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "population": {"age": {"min": 40, "max": 70}},
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}, {"by": "age_band", "width": 10}]},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    assert [d.name for d in table.dimensions] == ["sex", "age_band"]
    assert table.dimensions[1].categories == ("40-49", "50-59", "60-69", "70-79")
    found = counts(table)
    assert len(found) == 3 * 5  # (2 sexes + margin) x (4 bands + margin), empty cells included
    assert found[("male", "50-59")] == 2  # persons 1 (55) and 5 (59)
    assert found[("male", "60-69")] == 1  # person 3 (65)
    assert found[("female", "40-49")] == 1  # person 4 (40 on 2020-03-02)
    assert found[("female", None)] == 1
    assert found[(None, "50-59")] == 2
    assert found[(None, None)] == 4
    assert persons(spec_registers, table, "male", "50-59") == {1, 5}
    assert table.registers == frozenset({"CPR/BEF", "LPR2", "LPR3"})
    assert table.max_cells_per_person == 1


def test_index_year_region_and_education_breakdowns(spec_registers):
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "result": {
            "kind": "cohort_count",
            "breakdowns": [{"by": "index_year"}, {"by": "region"}, {"by": "education"}],
        },
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    found = counts(table)
    assert table.dimensions[0].categories == (2015, 2016, 2017, 2018, 2019, 2020)
    assert table.ordered_dimension == "index_year"
    assert found[(2015, None, None)] == 2
    assert found[(2016, "Hovedstaden", "master")] == 1
    assert found[(None, None, "unknown")] == 3  # 4 (record from 2021), 5, 8
    assert found[(None, None, "primary/lower secondary")] == 1
    assert "UDDA" in table.registers
    assert len(found) == 7 * 6 * 10


BORN_AFTER_THE_EVENT = {
    **SPEC_REGISTERS,
    "bef": SPEC_REGISTERS["bef"].rstrip()
    + """
        | 9   | 1    | 2016-06-01 |            |                 |                | 1081 | 851 |
    """,
    "lpr_adm": SPEC_REGISTERS["lpr_adm"].rstrip()
    + """
        | 9   | 16     | 2016-05-31 | 2016-05-31 | 1         | DE119   |
    """,
    "lpr_diag": SPEC_REGISTERS["lpr_diag"].rstrip()
    + """
        | 16     | DE119  | A          |
    """,
}


def test_an_event_before_birth_is_never_an_index_event(tmp_path):
    # Found by the engine-vs-reference property test: person 9's T2D is dated the day before his
    # birth (a register error); with the residence check off he had age -1 and no age band.
    data = write_registers(tmp_path, BORN_AFTER_THE_EVENT)
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "population": {"alive_and_resident_at_index": False},
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": 10}]},
    }
    (table,) = run_both(data, query, STORAGES)
    assert 9 not in persons(data, table, None)
    assert persons(data, table, None) == {1, 3, 4, 5, 6, 8}  # 6 counts here: not yet immigrated, but born
    assert table.dimensions[0].categories[0] == "0-9"
