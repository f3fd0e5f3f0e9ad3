"""Spec: codes excluded inside a concept ("all cancer C except C44"), for every concept with codes,
as index event and in criteria, on both engines and both storages. The persons and their events are
described in conftest.py; each row below names the events that decide it."""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.registry import CONCEPTS
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from tests.queries.engines import persons, run_both

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}


def cohort(spec_registers, index_concept, criteria=(), occurrence="first") -> set[int]:
    query = {
        "index": {"concept": index_concept, "period": PERIOD, "occurrence": occurrence},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    return persons(spec_registers, table)


def include(concept) -> dict:
    return {"type": "include", "concept": concept}


# index concept, occurrence, cohort
INDEX_EVENTS = [
    # diabetes DE1: person 7's type 1 (DE109, 2016) counts until DE10 is excluded
    ({"type": "diagnosis", "codes": ["DE1"]}, "first", {1, 3, 4, 5, 7, 8}),
    ({"type": "diagnosis", "codes": ["DE1"], "exclude_codes": ["DE10"]}, "first", {1, 3, 4, 5, 8}),
    # person 4's retracted DE119 is not an event; her real DE118 is excluded with DE118
    ({"type": "diagnosis", "codes": ["DE11"], "exclude_codes": ["DE118"]}, "first", {1, 3, 5, 8}),
    # person 2's DE110 in 2014 was her first DE11; without it her first is the DE119 of 2019
    ({"type": "diagnosis", "codes": ["DE11"], "exclude_codes": ["DE110"]}, "first", {1, 2, 3, 4, 5, 8}),
    # diabetes drugs A10 but GLP-1 (A10BJ) in the period: metformin (persons 3 and 5); person 1
    # had only a GLP-1 and person 4's A10BK01 is of 2021
    ({"type": "prescription", "atc": ["A10"], "exclude_atc": ["A10BJ"]}, "any", {3, 5}),
    # person 5's first A10 was a GLP-1 in 2014, before the period; without GLP-1 his first is
    # metformin in 2015: an exclusion changes which event is first
    ({"type": "prescription", "atc": ["A10"]}, "first", {1, 3}),
    ({"type": "prescription", "atc": ["A10"], "exclude_atc": ["A10BJ"]}, "first", {3, 5}),
    # operations K but PCI (KFNG): person 4's hip replacement
    ({"type": "procedure", "codes": ["K"], "exclude_codes": ["KFNG"]}, "first", {4}),
    # all cancer C but prostate (C61): person 4's breast cancer
    ({"type": "cancer", "codes": ["C"], "exclude_codes": ["C61"]}, "any", {4}),
    # CRP and HbA1c (NPU) but HbA1c (NPU27300): person 4's CRP "<5", person 5's CRP 12
    ({"type": "lab_result", "codes": ["NPU"], "exclude_codes": ["NPU27300"]}, "any", {4, 5, 8}),
    # deaths from I diseases but DI2: person 3 died of DI219
    ({"type": "cause_of_death", "codes": ["DI"]}, "any", {3}),
    ({"type": "cause_of_death", "codes": ["DI"], "exclude_codes": ["DI2"]}, "any", set()),
    # his contributing cause DE119 is excluded with DE11 and leaves no cause in DE
    ({"type": "cause_of_death", "codes": ["DE"], "underlying_only": False}, "any", {3}),
    (
        {"type": "cause_of_death", "codes": ["DE"], "exclude_codes": ["DE11"], "underlying_only": False},
        "any",
        set(),
    ),
]


@pytest.mark.parametrize(("concept", "occurrence", "expected"), INDEX_EVENTS)
def test_excluded_codes_in_the_index_event(spec_registers, concept, occurrence, expected):
    assert cohort(spec_registers, concept, occurrence=occurrence) == expected


# criterion on the T2D cohort {1, 3, 4, 5, 8}, cohort
CRITERIA = [
    # persons 1 (prostate C61) and 4 (breast C509) have a cancer; all but prostate: person 4
    (include({"type": "cancer", "codes": ["C"]}), {1, 4}),
    (include({"type": "cancer", "codes": ["C"], "exclude_codes": ["C61"]}), {4}),
    # excluded: person 1's prostate cancer; person 4's breast cancer no longer counts
    (
        {"type": "exclude", "concept": {"type": "cancer", "codes": ["C"], "exclude_codes": ["C50"]}},
        {3, 4, 5, 8},
    ),
    # examinations U but CT of the head (UXCA): person 1's angiography UXAC85
    (include({"type": "procedure", "codes": ["U"], "exclude_codes": ["UXCA"]}), {1}),
    # diagnoses DI: person 1's hypertension DI109 (a B-diagnosis) and person 8's DI489
    (include({"type": "diagnosis", "codes": ["DI"], "exclude_codes": ["DI2"]}), {1, 8}),
    (include({"type": "diagnosis", "codes": ["DI"], "exclude_codes": ["DI10"]}), {8}),
    # GLP-1 excluded: persons 3, 4 and 5 had other diabetes drugs at any time
    (include({"type": "prescription", "atc": ["A10B"], "exclude_atc": ["A10BJ"]}), {3, 4, 5}),
    # NPU analyses but CRP (NPU19748): HbA1c of persons 1 and 8, person 4's HbA1c in % (NPU03835);
    # person 3's eGFRs are DNK codes
    (include({"type": "lab_result", "codes": ["NPU"], "exclude_codes": ["NPU19748"]}), {1, 4, 8}),
    (include({"type": "lab_result", "codes": ["NPU"], "exclude_codes": ["NPU19748", "NPU0"]}), {1, 8}),
]


@pytest.mark.parametrize(("criterion", "expected"), CRITERIA)
def test_excluded_codes_in_criteria(spec_registers, criterion, expected):
    assert cohort(spec_registers, T2D, [criterion]) == expected


def coded_concepts() -> list[tuple[str, str, str]]:
    """(type, code field, exclusion field) of every concept with codes, from the registry."""
    return [
        (kind.type, kind.code_field, kind.exclusion_field)
        for kind in CONCEPTS.values()
        if kind.code_field is not None
    ]


def test_every_concept_with_codes_takes_exclusions():
    assert {t for t, _, _ in coded_concepts()} == {
        "diagnosis",
        "procedure",
        "lab_result",
        "prescription",
        "cancer",
        "cause_of_death",
    }
    for kind in CONCEPTS.values():
        if kind.code_field is not None:
            assert kind.exclusion_field in kind.model.model_fields, kind.type


@pytest.mark.parametrize(("concept_type", "code_field", "exclusion_field"), coded_concepts())
def test_an_excluded_code_outside_the_concept_is_refused_naming_the_field(
    concept_type, code_field, exclusion_field
):
    # the registry's example concept widened by one character, so that its own code is under it
    example = dict(CONCEPTS[concept_type].example)
    narrower = example[code_field][0]
    own = narrower[:-1]
    for excluded in ("X", "Z99", own):  # not a prefix, outside the concept's prefixes, all of them
        concept = {**example, code_field: [own], exclusion_field: [narrower, excluded]}
        query = {"index": {"concept": concept, "period": PERIOD}}
        with pytest.raises(QueryValidationError) as refused:
            validate_query(query)
        assert [p["field"] for p in refused.value.problems] == [f"index.concept.{exclusion_field}.1"]
    query["index"]["concept"][exclusion_field] = [narrower]
    assert validate_query(query)


def test_an_unknown_excluded_code_is_refused_with_the_nearest_known():
    catalog = Catalog.build({"start_year": 2005, "end_year": 2024, "data_version": "x"}, {})
    concept = {"type": "cancer", "codes": ["C"], "exclude_codes": ["C4X"]}
    with pytest.raises(QueryValidationError) as refused:
        validate_query({"index": {"concept": concept, "period": PERIOD}}, catalog)
    (found,) = refused.value.problems
    assert found["field"] == "index.concept.exclude_codes.0"
