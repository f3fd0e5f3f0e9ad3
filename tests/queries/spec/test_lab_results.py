"""Spec: the laboratory result concept (``lab_forsker``) in criteria and as index event, on both
engines and both storages: value ranges, censored text values, units and the latest result. The
persons and their results are described in conftest.py."""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from tests.queries.engines import persons, run_both

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}
HBA1C = {"type": "lab_result", "codes": ["NPU27300"]}
EGFR = {"type": "lab_result", "codes": ["DNK35302"]}
CRP = {"type": "lab_result", "codes": ["NPU19748"]}


def cohort(spec_registers, criteria=(), index_concept=T2D) -> set[int]:
    query = {
        "index": {"concept": index_concept, "period": PERIOD},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    if any(c["concept"]["type"] == "lab_result" for c in criteria) or index_concept["type"] == "lab_result":
        assert "Laboratory Database" in table.registers
    return persons(spec_registers, table)


def include(concept, start=None, end=None) -> dict:
    return {"type": "include", "concept": concept, "window": {"start": start, "end": end}}


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        # "HbA1c >= 48 in the year before index": 1 (52, half a year before), 8 (49)
        (include({**HBA1C, "min": 48}, -365, -1), {1, 8}),
        (include({**HBA1C, "min": 48, "max": 49}, -365, -1), set()),  # max is exclusive
        # the latest HbA1c before index: 1's is 46
        (include({**HBA1C, "min": 48, "latest": True}, None, -1), {8}),
        # "latest eGFR before index < 60": 3's latest is ">90"; 4 has 58 and 62 on her latest day
        (include({**EGFR, "max": 60, "latest": True}, None, -1), {4}),
        (include({**EGFR, "max": 60}, None, -1), {3, 4}),
        (include({**EGFR, "min": 90}), {3}),  # ">90" is at least 90
        (include({**EGFR, "min": 91}), set()),  # but not known to be at least 91
        # "<5" is below 5 (and below any larger max), never above a min; "<1" below 1
        (include({**CRP, "max": 5}, 0, 0), {4, 8}),
        (include({**CRP, "max": 4}, 0, 0), {8}),
        (include({**CRP, "min": 1}, 0, 0), {5}),
        (include(CRP, 0, 0), {4, 5, 8}),
        # units: 4's "6,9" % is 6.9 (decimal comma), and only that result is in %
        (include({"type": "lab_result", "codes": ["NPU03835"], "min": 6.5, "unit": "%"}), {4}),
        (include({"type": "lab_result", "codes": ["NPU"], "min": 6.5, "max": 7, "unit": "%"}), {4}),
        (include({"type": "lab_result", "codes": ["NPU27300"], "min": 6.5, "unit": "%"}), set()),
    ],
)
def test_lab_results_in_criteria(spec_registers, criterion, expected):
    assert cohort(spec_registers, [criterion]) == expected


def test_a_lab_result_is_an_index_event(spec_registers):
    # first-ever HbA1c >= 48 in the period: 1 in 2015, 2 in 2019, 8 in 2019
    assert cohort(spec_registers, index_concept={**HBA1C, "min": 48}) == {1, 2, 8}
    assert cohort(spec_registers, index_concept={**HBA1C, "min": 50}) == {1, 2}


def test_latest_in_a_characteristics_item(spec_registers):
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "result": {
            "kind": "characteristics",
            "items": [
                {"name": "latest", "concept": {**EGFR, "max": 60, "latest": True}, "window": {"end": -1}},
                {"name": "any", "concept": {**EGFR, "max": 60}, "window": {"end": -1}},
            ],
        },
    }
    _, items = run_both(spec_registers, query, STORAGES)
    assert {c.coordinates: persons(spec_registers, items, *c.coordinates) for c in items.cells} == {
        ("latest",): {4},
        ("any",): {3, 4},
    }


def refused(query: dict) -> list[str]:
    catalog = Catalog.build({"start_year": 2005, "end_year": 2024, "data_version": "x"}, {})
    with pytest.raises(QueryValidationError) as error:
        validate_query(query, catalog)
    return [p["field"] for p in error.value.problems]


def test_lab_result_queries_that_cannot_mean_anything_are_refused():
    index = {"concept": T2D, "period": PERIOD}
    assert refused({"index": {"concept": {**HBA1C, "latest": True}, "period": PERIOD}}) == [
        "index.concept.latest"
    ]
    criterion = {**include({**HBA1C, "min": 48, "latest": True}, None, -1), "min_count": 2}
    assert refused({"index": index, "criteria": [criterion]}) == ["criteria.0.concept.latest"]
    assert refused({"index": index, "criteria": [include({**HBA1C, "min": 60, "max": 48})]}) == [
        "criteria.0.concept.min"
    ]
    assert refused({"index": index, "criteria": [include({"type": "lab_result", "codes": ["HBA1C"]})]}) == [
        "criteria.0.concept.codes.0"
    ]
    # a syntactically valid analysis the registers do not hold: the nearest known codes are named
    assert refused(
        {"index": index, "criteria": [include({"type": "lab_result", "codes": ["NPU99999"]})]}
    ) == ["criteria.0.concept.codes.0"]
