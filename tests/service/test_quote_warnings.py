"""A quote tells up front whether the run would be refused (privacy budget, rounding base, shape),
before the customer commits: machine-readable codes with human text, or a 422 naming the field."""

from __future__ import annotations

import pytest

from disclosure.pipeline import ASKED_BUDGET_USED
from disclosure.policy import DEGRADED_RHO_PER_TABLE, Policy
from tests.budgets import without_degraded_budget
from tests.service.helpers import cohort, distinct_cohort, with_noise

PROBLEM = "application/problem+json"


def _exhaust_budget(api) -> None:
    """Spend the organisation's whole privacy budget the ordinary way: noisy releases of other persons."""
    limit = api.get("/v1/budgets", api.customer).json()["rho_limit"]
    i = 0
    while api.get("/v1/budgets", api.customer).json()["rho_remaining"] > 0:
        response = api.post("/v1/queries/runs", api.customer, json=with_noise(distinct_cohort(i)))
        assert response.status_code == 201, response.text
        i += 1
        assert i <= limit / 0.1, "the budget never ran out"


def test_a_quote_says_nothing_refuses_a_run_the_budget_can_pay(data_api):
    quote = data_api.post("/v1/queries/quote", data_api.customer, json=with_noise(cohort()))
    assert quote.status_code == 200, quote.text
    assert quote.json()["would_refuse"] is False
    assert quote.json()["warnings"] == []


def _budget_warning(api, query: dict, refuses: bool) -> dict:
    """The quote's one warning, that the organisation's budget cannot pay for the noise asked for."""
    body = api.post("/v1/queries/quote", api.customer, json=query).json()
    assert body["would_refuse"] is refuses
    (warning,) = body["warnings"]
    assert warning["code"] == "privacy_budget_exhausted" and warning["refuses"] is refuses
    return warning


def test_at_zero_budget_a_noisy_quote_says_the_run_would_be_answered_with_the_degraded_noise(data_api):
    api = data_api
    _exhaust_budget(api)
    fresh = with_noise(distinct_cohort(18))
    assert "degraded noise" in _budget_warning(api, fresh, refuses=False)["message"]
    run = api.post("/v1/queries/runs", api.customer, json=fresh)
    assert run.status_code == 201, run.text
    assert ASKED_BUDGET_USED.customer_note in run.json()["report"]["notes"]
    budget = api.get("/v1/budgets", api.customer).json()
    assert budget["degraded_rho_spent"] == pytest.approx(DEGRADED_RHO_PER_TABLE)


def test_at_zero_budgets_a_noisy_quote_says_the_run_would_be_refused(data_api):
    api = data_api
    # no budget for the degraded noise either (configuration, not a stand-in)
    api.service.__dict__["policy"] = Policy.default().model_copy(
        update={"budgets": without_degraded_budget()}
    )
    released = api.post("/v1/queries/runs", api.customer, json=with_noise(cohort(title="asked before")))
    assert released.status_code == 201, released.text
    _exhaust_budget(api)
    fresh = with_noise(distinct_cohort(18))
    warning = _budget_warning(api, fresh, refuses=True)
    assert warning["field"] == "disclosure.noise"
    assert "budget" in warning["message"] and "noise" in warning["message"]
    # the stored quote says the same before anything is committed
    stored = api.post("/v1/quotes", api.customer, json=fresh)
    assert stored.status_code == 201, stored.text
    assert stored.json()["would_refuse"] is True
    assert [w["code"] for w in stored.json()["warnings"]] == ["privacy_budget_exhausted"]
    # ... and it is the truth: the run is refused (and not charged)
    run = api.post("/v1/queries/runs", api.customer, json=fresh)
    assert run.status_code == 409 and "budget" in run.json()["detail"]

    # a repeat of a question released before reuses its stored draws: it costs nothing and passes
    repeat = with_noise(cohort(title="asked again"))
    body = api.post("/v1/queries/quote", api.customer, json=repeat).json()
    assert body["would_refuse"] is False and body["warnings"] == []
    assert api.post("/v1/queries/runs", api.customer, json=repeat).status_code == 201

    # without noise the asked-noise budget is not needed, unless the audit runs out of time and the
    # degraded budget cannot pay: a warning that says so, which does not refuse
    body = api.post("/v1/queries/quote", api.customer, json=distinct_cohort(17)).json()
    assert body["would_refuse"] is False
    (warning,) = body["warnings"]
    assert warning["code"] == "noise_fallback_unaffordable" and warning["refuses"] is False

    # another organisation's budget is its own
    other = api.post("/v1/queries/quote", api.foreign, json=fresh).json()
    assert other["would_refuse"] is False and other["warnings"] == []


def test_a_rounding_base_the_policy_refuses_is_a_422_at_the_quote(data_api):
    query = {**cohort(), "disclosure": {"rounding": 3}}
    for path in ("/v1/queries/quote", "/v1/quotes"):
        response = data_api.post(path, data_api.customer, json=query)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        (error,) = response.json()["errors"]
        assert error["field"] == "disclosure.rounding" and "5" in error["valid"]


def test_a_shape_too_large_is_a_422_at_the_quote_naming_the_field_and_the_limit(data_api):
    breakdowns = [
        {"by": "age_band", "width": 5, "top": 120},
        {"by": "education"},
        {"by": "index_year"},
    ]
    too_large = {
        **cohort(),
        "index": {**cohort()["index"], "period": {"start": "2005-01-01", "end": "2024-12-31"}},
        "result": {"kind": "cohort_count", "breakdowns": breakdowns},
    }
    too_many = {**cohort(), "result": {"kind": "cohort_count", "breakdowns": [*breakdowns, {"by": "sex"}]}}
    for path in ("/v1/queries/quote", "/v1/quotes"):
        response = data_api.post(path, data_api.customer, json=too_large)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        (error,) = response.json()["errors"]
        assert error["field"] == "result"
        assert "5000 cells" in error["valid"] and "bespoke" in error["valid"]
        response = data_api.post(path, data_api.customer, json=too_many)
        assert response.status_code == 422, response.text
        (error,) = response.json()["errors"]
        assert error["field"] == "result.breakdowns"
    assert data_api.get("/v1/quotes", data_api.customer).json()["total"] == 0
