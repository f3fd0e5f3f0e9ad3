"""Spec: the clinical quality database concept (Danish Heart Failure Registry, RKKP), as index event
and in criteria, on both engines and both storages. The registrations are described in conftest.py."""

from __future__ import annotations

import pytest

from queries.registry import REGISTERS, register_thresholds
from tests.queries.engines import persons, run_both

STORAGES = ("parquet", "layout")
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
T2D = {"type": "diagnosis", "codes": ["DE11"]}
HEART_FAILURE = {"type": "heart_failure_registration"}
REGISTRY = "Danish Heart Failure Registry"


def run(spec_registers, index_concept, criteria=()):
    query = {
        "index": {"concept": index_concept, "period": PERIOD},
        "criteria": list(criteria),
        "result": {"kind": "cohort_count"},
    }
    (table,) = run_both(spec_registers, query, STORAGES)
    return table


def include(concept, start=None, end=None) -> dict:
    return {"type": "include", "concept": concept, "window": {"start": start, "end": end}}


def test_a_registration_is_an_index_event_dated_on_the_registration(spec_registers):
    # person 3 was registered before the period, person 2 after it
    table = run(spec_registers, HEART_FAILURE)
    assert persons(spec_registers, table) == {1, 8}
    assert table.registers == frozenset({"CPR/BEF", REGISTRY})
    severe = run(spec_registers, {**HEART_FAILURE, "nyha_classes": [4]})
    assert persons(spec_registers, severe) == {8}


@pytest.mark.parametrize(
    ("criterion", "expected"),
    [
        # person 1's registration is on his index day, person 3's and 8's before theirs
        (include(HEART_FAILURE, None, 0), {1, 3, 8}),
        (include(HEART_FAILURE, None, -1), {3, 8}),
        (include({**HEART_FAILURE, "nyha_classes": [3, 4]}), {1, 8}),
        (include({**HEART_FAILURE, "indicator_not_fulfilled": "beta_blocker"}), {1}),
        (include({**HEART_FAILURE, "indicator_not_fulfilled": "exercise_training"}), {8}),
        (include({**HEART_FAILURE, "indicator_not_fulfilled": "echocardiography"}), set()),
        ({"type": "exclude", "concept": HEART_FAILURE}, {4, 5}),
    ],
)
def test_registrations_in_criteria(spec_registers, criterion, expected):
    table = run(spec_registers, T2D, [criterion])
    assert persons(spec_registers, table) == expected
    assert REGISTRY in table.registers


def test_the_registry_owner_s_stricter_threshold_reaches_the_policy():
    register = REGISTERS[REGISTRY]
    assert register.owner.startswith("RKKP")
    assert register.tables == ("dhd",)
    assert register_thresholds(5)[REGISTRY] == 10
