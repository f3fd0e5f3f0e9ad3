"""Spec: composite concepts (``any_of``), as index event, in criteria and in characteristics, on both
engines and both storages. The persons and their events are described in conftest.py; each row
below names the events that decide it."""

from __future__ import annotations

import pytest

from queries import model as m
from queries.errors import QueryValidationError
from queries.validation import check_structure, validate_query
from tests.queries.engines import counts, persons, run_both

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}
A10 = {"type": "prescription", "atc": ["A10"]}
GLP1 = {"type": "prescription", "atc": ["A10BJ"]}
CANCER = {"type": "cancer", "codes": ["C"]}


def any_of(*concepts) -> dict:
    return {"type": "any_of", "concepts": list(concepts)}


def include(concept, **options) -> dict:
    return {"type": "include", "concept": concept, **options}


def cohort(spec_registers, index_concept, criteria=(), occurrence="first", period=PERIOD) -> set[int]:
    query = {
        "index": {"concept": index_concept, "period": period, "occurrence": occurrence},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    return persons(spec_registers, table)


# index concept, occurrence, cohort
INDEX_EVENTS = [
    # type 2 diabetes as a DE11 diagnosis or an A10 dispensing: person 5's first was a GLP-1 in
    # 2014, before the period, so he is no incident case (with DE11 alone he is: {1, 3, 4, 5, 8})
    (any_of(T2D, A10), "first", {1, 3, 4, 8}),
    # any event in the period: person 5's DE11 and metformin of 2015-03-01, person 2's DE11 of 2019
    (any_of(T2D, A10), "any", {1, 2, 3, 4, 5, 8}),
    # members of different registers widen the cohort: person 7's type 1 diabetes (LPR), person 4's
    # breast cancer (Cancer Registry)
    (any_of({"type": "diagnosis", "codes": ["DE10"]}, {"type": "cancer", "codes": ["C50"]}), "first", {4, 7}),
    # nested: the same, or death (person 3, resident on the day he died)
    (
        any_of(
            any_of({"type": "diagnosis", "codes": ["DE10"]}, {"type": "cancer", "codes": ["C50"]}),
            {"type": "vital_status", "status": "died"},
        ),
        "first",
        {3, 4, 7},
    ),
    # each member keeps its own options and exclusions: metformin but not GLP-1 in the period
    # (persons 3 and 5), or a DE11 A-diagnosis on an inpatient contact (persons 1, 4 and 5)
    (
        any_of(
            {"type": "prescription", "atc": ["A10"], "exclude_atc": ["A10BJ"]},
            {**T2D, "primary_only": True, "contact_type": "inpatient"},
        ),
        "any",
        {1, 3, 4, 5},
    ),
]


@pytest.mark.parametrize(("concept", "occurrence", "expected"), INDEX_EVENTS)
def test_composite_index_events(spec_registers, concept, occurrence, expected):
    assert cohort(spec_registers, concept, occurrence=occurrence) == expected


def test_the_index_date_is_the_earliest_event_of_any_member(spec_registers):
    # from 2014: person 5's index date is his GLP-1 of 2014-12-01, and his DE11 of 2015-03-01 lies
    # 90 days after it; persons 1 and 3 had their dispensing and diagnosis on one day, so no DE11
    # follows within a year; person 2's first DE11 (2014) is her index date, her next is of 2019
    later_diagnosis = include(T2D, window={"start": 1, "end": 365})
    period = {"start": "2014-01-01", "end": "2020-12-31"}
    assert cohort(spec_registers, any_of(T2D, A10), [later_diagnosis], period=period) == {5}
    # with the dispensing alone as index, the same criterion finds person 5 too; with DE11 alone, nobody
    assert cohort(spec_registers, A10, [later_diagnosis], period=period) == {5}
    assert cohort(spec_registers, T2D, [later_diagnosis], period=period) == set()


# criterion on the DE11 cohort {1, 3, 4, 5, 8}, cohort
CRITERIA = [
    # cancer or GLP-1 at any time: persons 1 (both), 4 (both) and 5 (GLP-1 of 2014)
    (include(any_of(CANCER, GLP1)), {1, 4, 5}),
    # min_count counts distinct days across members: person 1's cancer (2012) and GLP-1 (2016),
    # person 4's cancer (2020) and GLP-1 (2021); person 5 has one day
    (include(any_of(CANCER, GLP1), min_count=2), {1, 4}),
    # a dispensing and a diagnosis on one day are one day: person 1's GLP-1 and DE11 of 2016-03-01
    (include(any_of(T2D, GLP1), min_count=2), {4, 5}),
    # person 3: metformin twice on 2015-06-01 and once on 2015-09-01 (two days), death from DI21 on
    # 2016-01-01 (a third); metformin alone has two days
    (
        include(
            any_of({"type": "prescription", "atc": ["A10BA"]}, {"type": "cause_of_death", "codes": ["DI"]}),
            min_count=3,
        ),
        {3},
    ),
    (include({"type": "prescription", "atc": ["A10BA"]}, min_count=3), set()),
    # in a window: person 1's PCI the day after index, person 4's cancer on the index day
    (include(any_of(CANCER, {"type": "procedure", "codes": ["K"]}), window={"start": 0, "end": 1}), {1, 4}),
    (
        include(any_of(CANCER, {"type": "procedure", "codes": ["K"]}), window={"start": -365, "end": -1}),
        set(),
    ),
    # excluded: cancer (1, 4) or a heart failure registration (1, 3, 8)
    ({"type": "exclude", "concept": any_of(CANCER, {"type": "heart_failure_registration"})}, {5}),
    # inside not/any: the same composite as a leaf of the criteria tree
    ({"type": "not", "criterion": include(any_of(CANCER, GLP1))}, {3, 8}),
    (
        {
            "type": "any",
            "criteria": [include(any_of(CANCER, GLP1)), include({"type": "sex", "sex": "female"})],
        },
        {1, 4, 5, 8},
    ),
]


@pytest.mark.parametrize(("criterion", "expected"), CRITERIA)
def test_composite_concepts_in_criteria(spec_registers, criterion, expected):
    assert cohort(spec_registers, T2D, [criterion]) == expected


def test_composite_characteristics_count_events_of_any_member(spec_registers):
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "result": {
            "kind": "characteristics",
            "items": [
                {"name": "cancer or GLP-1", "concept": any_of(CANCER, GLP1)},
                {"name": "two days of either", "concept": any_of(CANCER, GLP1), "min_count": 2},
                {"name": "either before index", "concept": any_of(CANCER, GLP1), "window": {"end": -1}},
            ],
        },
    }
    total, items = run_both(spec_registers, query, STORAGES)
    assert persons(spec_registers, total) == {1, 3, 4, 5, 8}
    assert persons(spec_registers, items, "cancer or GLP-1") == {1, 4, 5}
    assert persons(spec_registers, items, "two days of either") == {1, 4}
    # person 1's cancer of 2012, person 5's GLP-1 of 2014; person 4's are on and after her index day
    assert persons(spec_registers, items, "either before index") == {1, 5}


def test_composite_incidence_takes_the_first_event_of_any_member(spec_registers):
    query = {
        "index": {"concept": any_of(T2D, A10), "period": PERIOD},
        "result": {"kind": "incidence_prevalence"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    found = counts(table)
    # 2015: person 3 (person 5's first event was in 2014); DE11 alone counts person 5 as well
    assert found[(2015, "incident")] == 1
    assert found[(2016, "incident")] == 1  # person 1
    (alone,) = run_both(spec_registers, {**query, "index": {"concept": T2D, "period": PERIOD}}, STORAGES)
    assert counts(alone)[(2015, "incident")] == 2


def test_composite_attrition_names_its_members(spec_registers):
    query = {
        "index": {"concept": T2D, "period": PERIOD},
        "criteria": [include(any_of(CANCER, GLP1))],
        "result": {"kind": "attrition"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    assert table.dimensions[0].categories[-1] == "include any_of (cancer C; prescription A10BJ)"


def test_the_registers_of_a_composite_are_its_members(spec_registers):
    query = {"index": {"concept": any_of(T2D, CANCER), "period": PERIOD}}
    (table,) = run_both(spec_registers, query)
    alone = {
        concept["type"]: run_both(spec_registers, {"index": {"concept": concept, "period": PERIOD}})[
            0
        ].registers
        for concept in (T2D, CANCER)
    }
    assert table.registers == alone["diagnosis"] | alone["cancer"]


# --- validation: every problem names its field -------------------------------------------------------


def refused_fields(query: dict) -> list[str]:
    with pytest.raises(QueryValidationError) as refused:
        validate_query(query)
    return [p["field"] for p in refused.value.problems]


def index_query(concept: dict) -> dict:
    return {"index": {"concept": concept, "period": PERIOD}}


def test_a_composite_needs_two_to_max_members():
    assert refused_fields(index_query(any_of(T2D))) == ["index.concept.concepts"]
    many = any_of(*[{"type": "diagnosis", "codes": [f"DE{k:02d}"]} for k in range(m.MAX_ANY_OF_MEMBERS + 1)])
    assert refused_fields(index_query(many)) == ["index.concept.concepts"]
    many["concepts"].pop()
    assert validate_query(index_query(many))


def test_nesting_deeper_than_the_limit_is_refused_at_the_level_too_deep():
    concept = any_of(T2D, A10)
    for _ in range(m.MAX_ANY_OF_DEPTH - 1):
        concept = any_of(concept, CANCER)
    assert validate_query(index_query(concept))  # at the limit
    too_deep = any_of(concept, CANCER)
    path = "criteria.0.concept" + ".concepts.0" * m.MAX_ANY_OF_DEPTH
    assert refused_fields({**index_query(T2D), "criteria": [include(too_deep)]}) == [path]


def test_a_member_is_an_event_concept():
    fields = refused_fields(index_query(any_of(T2D, {"type": "sex", "sex": "female"})))
    assert fields == ["index.concept.concepts.1"]
    # one problem per wrong member, and no second one about the number of members
    fields = refused_fields(index_query(any_of(T2D, {"type": "diagnosis"})))
    assert fields == ["index.concept.concepts.1.codes"]


def test_a_members_codes_and_exclusions_are_checked_at_the_member():
    concept = any_of(T2D, {"type": "prescription", "atc": ["A10", "A1"], "exclude_atc": ["N02"]})
    assert refused_fields(index_query(concept)) == [
        "index.concept.concepts.1.atc.1",
        "index.concept.concepts.1.exclude_atc.0",
    ]


def test_latest_has_no_meaning_inside_a_composite():
    lab = {"type": "lab_result", "codes": ["NPU27300"], "min": 48, "latest": True}
    criterion = include(any_of(T2D, lab), window={"start": -365, "end": 0})
    assert refused_fields({**index_query(T2D), "criteria": [criterion]}) == [
        "criteria.0.concept.concepts.1.latest"
    ]


def test_a_composites_window_is_checked_once_at_the_criterion():
    criterion = include(any_of(CANCER, GLP1), window={"start": 10, "end": -10})
    assert refused_fields({**index_query(T2D), "criteria": [criterion]}) == ["criteria.0.window.start"]


def test_an_unresolved_concept_set_reference_is_refused_naming_the_field_never_run():
    # the service replaces references by saved concepts; one that reaches validation or an engine
    # (a query built in code) is a problem at its field, not an error
    reference = {"type": "concept_set", "id": "cs_0123456789abcdef0123", "version": 1}
    for concept_path, query in (
        ("index.concept", index_query(reference)),
        ("index.concept.concepts.1", index_query(any_of(T2D, reference))),
        ("criteria.0.concept", {**index_query(T2D), "criteria": [include(reference)]}),
    ):
        assert refused_fields(query) == [concept_path]
        with pytest.raises(QueryValidationError):
            check_structure(m.Query.model_validate(query))
