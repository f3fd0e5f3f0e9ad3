"""Spec: the Danish Adult Diabetes Registry (RKKP), a register declared in one module
(``queries/registers/adult_diabetes_registry.py``), as index event and in criteria, on both engines
and both storages.

Its yearly statuses, on the spec persons of conftest.py (index dates of type 2 diabetes in
2015-2020: person 1 2016-03-01, 3 2015-06-01, 4 2020-03-02, 5 2015-03-01, 8 2019-08-01):
person 1 on his index day (HbA1c 61, no foot examination) and a year later (52); person 3 before
his index date (49, no eye examination); person 8 after hers (HbA1c not measured, no urine
albumin); person 7 (type 1) in 2016 (75); person 2 in 2014 (58), before the period.
"""

from __future__ import annotations

import pytest

from queries.registry import REGISTERS, register_thresholds
from tests.queries.conftest import SPEC_REGISTERS
from tests.queries.engines import persons, run_both
from tests.queries.registers_text import write_registers

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}
STATUS = {"type": "diabetes_status"}
REGISTRY = "Danish Adult Diabetes Registry"
STATUSES = """
    | pnr | recnum | d_status   | diabetestype | hba1c | ind_oejne | ind_fod | ind_albuminuri |
    | 1   | 10     | 2016-03-01 | 2            | 61    | Ja        | Nej     | Ja             |
    | 1   |        | 2017-03-10 | 2            | 52    | Ja        | Ja      | Ja             |
    | 3   |        | 2015-01-10 | 2            | 49    | Nej       | Ja      | Ja             |
    | 8   |        | 2019-09-01 | 2            |       | Ja        | Ja      | Nej            |
    | 7   | 15     | 2016-02-01 | 1            | 75    | Ja        | Ja      | Ja             |
    | 2   | 11     | 2014-03-01 | 2            | 58    | Ja        | Ja      | Ja             |
"""


@pytest.fixture(scope="module")
def registers(tmp_path_factory):
    return write_registers(tmp_path_factory.mktemp("adult-diabetes"), {**SPEC_REGISTERS, "dvdd": STATUSES})


def run(registers, index_concept, criteria=()):
    query = {
        "index": {"concept": index_concept, "period": PERIOD},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(registers, query, STORAGES)
    return table


def include(concept, start=None, end=None) -> dict:
    return {"type": "include", "concept": concept, "window": {"start": start, "end": end}}


@pytest.mark.parametrize(
    ("concept", "expected"),
    [
        # a person's first status in the period; person 2's first was in 2014
        (STATUS, {1, 3, 7, 8}),
        ({**STATUS, "diabetes_types": [1]}, {7}),
        # an HbA1c of 53 or more first in the period (person 2's first was in 2014); not measured never counts
        ({**STATUS, "hba1c_min": 53}, {1, 7}),
    ],
)
def test_a_status_is_an_index_event_dated_on_the_visit(registers, concept, expected):
    table = run(registers, concept)
    assert persons(registers, table) == expected
    assert table.registers == frozenset({"CPR/BEF", REGISTRY})


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        (include(STATUS, None, 0), {1, 3}),
        (include(STATUS, 0, None), {1, 8}),
        (include({**STATUS, "hba1c_min": 53}), {1}),
        (include({**STATUS, "hba1c_min": 48}), {1, 3}),
        (include({**STATUS, "indicator_not_fulfilled": "foot_examination"}), {1}),
        (include({**STATUS, "indicator_not_fulfilled": "eye_examination"}), {3}),
        (include({**STATUS, "indicator_not_fulfilled": "urine_albumin"}), {8}),
        ({"type": "exclude", "concept": STATUS}, {4, 5}),
    ],
)
def test_statuses_in_criteria(registers, criterion, expected):
    table = run(registers, T2D, [criterion])
    assert persons(registers, table) == expected
    assert REGISTRY in table.registers


def test_the_registry_owner_s_stricter_threshold_reaches_the_policy():
    register = REGISTERS[REGISTRY]
    assert register.owner.startswith("RKKP") and register.tables == ("dvdd",)
    assert register_thresholds(5)[REGISTRY] == 10
