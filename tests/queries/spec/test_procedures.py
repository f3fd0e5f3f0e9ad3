"""Spec: the procedure concept (LPR2 and LPR3 procedure tables), as index event and in criteria, on
both engines and both storages. The persons and their procedures are described in conftest.py."""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from tests.queries.engines import persons, run_both

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}
PCI = {"type": "procedure", "codes": ["KFNG"]}


def cohort(spec_registers, index_concept, criteria=(), **index) -> set[int]:
    query = {
        "index": {"concept": index_concept, "period": PERIOD, **index},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    assert table.registers == frozenset({"CPR/BEF", "LPR2", "LPR3"})
    return persons(spec_registers, table)


def include(concept, start=None, end=None) -> dict:
    return {"type": "include", "concept": concept, "window": {"start": start, "end": end}}


def test_a_procedure_is_an_index_event_dated_on_the_procedure_day(spec_registers):
    # person 1's PCI is dated 2016-03-02, the day after his admission (and its T2D diagnosis);
    # the PCI on a contact missing from lpr_adm belongs to nobody
    assert cohort(spec_registers, PCI) == {1}
    assert cohort(spec_registers, PCI, [include(T2D, -1, -1)]) == {1}
    assert cohort(spec_registers, PCI, [include(T2D, 0, 0)]) == set()


def test_operations_of_both_eras_are_one_concept(spec_registers):
    assert cohort(spec_registers, {"type": "procedure", "codes": ["K"]}) == {1, 4}


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        # person 4's LPR3 hip replacement is timed the morning after her contact started (index day)
        (include({"type": "procedure", "codes": ["KNFB20"]}, 0, 1), {4}),
        (include({"type": "procedure", "codes": ["KNFB"]}, 0, 0), set()),
        (include({"type": "procedure", "codes": ["BJFD"]}, -30, 30), {8}),
        # examinations: person 1's angiography on his index day; person 2 is not in the cohort
        (include({"type": "procedure", "codes": ["U"]}), {1}),
        ({"type": "exclude", "concept": {"type": "procedure", "codes": ["K", "B"]}}, {3, 5}),
    ],
)
def test_procedures_in_criteria(spec_registers, criterion, expected):
    assert cohort(spec_registers, T2D, [criterion]) == expected


def test_procedure_codes_are_checked_for_syntax_and_against_the_catalog():
    catalog = Catalog.build({"start_year": 2005, "end_year": 2024, "data_version": "x"}, {})
    query = {"index": {"concept": {"type": "procedure", "codes": ["DI21"]}, "period": PERIOD}}
    with pytest.raises(QueryValidationError) as refused:
        validate_query(query, catalog)
    assert [p["field"] for p in refused.value.problems] == ["index.concept.codes.0"]
    query["index"]["concept"]["codes"] = ["KFNX"]
    with pytest.raises(QueryValidationError) as unknown:
        validate_query(query, catalog)
    (found,) = unknown.value.problems
    assert found["field"] == "index.concept.codes.0"
    assert "KFNG" in found["valid"]
    assert validate_query({**query, "index": {"concept": PCI, "period": PERIOD}}, catalog)
