"""Query JSON limits: depth, number of values and finite numbers, checked without recursion."""

from __future__ import annotations

import math

import pytest

from queries.errors import QueryValidationError
from queries.limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, json_limit_problems
from queries.validation import validate_query

BASE = {
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
    }
}


def nested_not(depth: int) -> dict:
    criterion: dict = {"type": "include", "concept": {"type": "sex", "sex": "male"}}
    for _ in range(depth):
        criterion = {"type": "not", "criterion": criterion}
    return criterion


def test_a_deep_value_is_named_by_its_path_even_far_beyond_the_recursion_limit():
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    (found,) = json_limit_problems({"a": deep})
    assert found["field"] == "a" + ".0" * (MAX_JSON_DEPTH - 1)
    assert str(MAX_JSON_DEPTH) in found["valid"]


def test_a_query_at_the_limit_passes_and_one_level_more_does_not():
    assert json_limit_problems([[]] * 3) == []
    value: list = []
    for _ in range(MAX_JSON_DEPTH - 1):
        value = [value]
    assert json_limit_problems(value) == []
    assert json_limit_problems([value]) != []


def test_too_many_values():
    (found,) = json_limit_problems({"codes": ["DE11"] * MAX_JSON_VALUES})
    assert "more than" in found["message"]


@pytest.mark.parametrize("number", [math.inf, -math.inf, math.nan])
def test_non_finite_numbers(number):
    (found,) = json_limit_problems({"population": {"x": [1.0, number]}})
    assert found["field"] == "population.x.1"
    assert found["valid"] == "a finite number"


@pytest.mark.parametrize("depth", [200, 500])
def test_validation_refuses_deep_criteria_naming_the_field(depth):
    with pytest.raises(QueryValidationError) as caught:
        validate_query({**BASE, "criteria": [nested_not(depth)]})
    (found,) = caught.value.problems
    assert found["field"].startswith("criteria.0.criterion.criterion")
    assert f"{MAX_JSON_DEPTH} levels" in found["valid"]


@pytest.mark.parametrize("number", [math.inf, math.nan, float("1e999")])
def test_validation_refuses_non_finite_income_and_packages(number):
    income = {"type": "include", "concept": {"type": "income", "max": number}}
    packages = {
        "type": "include",
        "concept": {"type": "prescription", "atc": ["A10"], "min_packages": number},
    }
    with pytest.raises(QueryValidationError) as caught:
        validate_query({**BASE, "criteria": [income, packages]})
    fields = {p["field"] for p in caught.value.problems}
    assert "criteria.0.concept.max" in fields or "criteria.1.concept.min_packages" in fields


def test_the_model_itself_refuses_non_finite_numbers_after_the_limits():
    # the limits report one non-finite number; the model (allow_inf_nan=False) refuses the rest too
    from pydantic import ValidationError

    from queries.model import IncomeConcept

    with pytest.raises(ValidationError):
        IncomeConcept(max=math.inf)


def test_query_dates_are_range_checked():
    with pytest.raises(QueryValidationError) as caught:
        validate_query(
            {**BASE, "index": {**BASE["index"], "period": {"start": "2015-01-01", "end": "9999-12-31"}}}
        )
    (found,) = caught.value.problems
    assert found["field"] == "index.period.end"
    assert "2100-12-31" in found["valid"]
