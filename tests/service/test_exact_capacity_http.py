"""A data version with history: once its exact capacity is used, the quote says a new question will get
keyed noise, the run is released with that noise (audit record and invoice line as always), and a
question answered exactly before, by anyone and in any wording, is still answered exactly for free."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from disclosure.pipeline import CAPACITY_REACHED
from disclosure.policy import DEGRADED_RHO_PER_TABLE, Policy
from statservice.db.models import AuditRecord
from tests.service.helpers import assert_consistent, distinct_cohort

CAPACITY = 8  # exact counts: a handful of breakdowns by sex (configuration, not a stand-in)


def quote_warnings(api, actor, query) -> list[str]:
    response = api.post("/v1/queries/quote", actor, json=query)
    assert response.status_code == 200, response.text
    return [warning["code"] for warning in response.json()["warnings"]]


def degraded_reasons(api) -> list[str | None]:
    with api.service.db.session() as session:
        records = session.execute(
            select(AuditRecord).where(AuditRecord.action == "release").order_by(AuditRecord.sequence)
        ).scalars()
        return [json.loads(record.payload_json)["report"]["audit"]["degraded"] for record in records]


@pytest.mark.slow
def test_past_the_capacity_new_questions_get_noise_and_old_questions_stay_exact(data_api):
    api = data_api
    api.service.__dict__["policy"] = Policy.default().model_copy(update={"exact_history_counts": CAPACITY})
    modes = []
    for i in range(7):
        question = distinct_cohort(i)
        warned = "exact_capacity_used" in quote_warnings(api, api.customer, question)
        response = api.post("/v1/queries/runs", api.customer, json=question)
        assert response.status_code == 201, response.text
        report = response.json()["report"]
        noisy = report["noise"] is not None
        assert warned == noisy  # the quote said so up front
        if noisy:
            assert report["rho_spent"] == pytest.approx(DEGRADED_RHO_PER_TABLE)
            assert CAPACITY_REACHED.customer_note in report["notes"]
            shown = [cell for cell in response.json()["tables"][0]["cells"] if cell["status"] != "suppressed"]
            assert shown  # a cohort of thousands by sex is shown, with noise
        modes.append(noisy)
    assert modes[0] is False and modes[-1] is True
    assert modes == sorted(modes)  # exact until the capacity is used, noise from then on

    # the first question again, from another organisation and in other words: exact, free, no warning
    again = {**distinct_cohort(0), "title": "a colleague's wording"}
    assert quote_warnings(api, api.foreign, again) == []
    response = api.post("/v1/queries/runs", api.foreign, json=again)
    assert response.status_code == 201, response.text
    assert response.json()["report"]["noise"] is None and response.json()["report"]["rho_spent"] == 0

    # the degraded noise is paid from the organisation's degraded ledger, not from its asked-noise one
    budget = api.get("/v1/budgets", api.customer).json()
    assert budget["rho_spent"] == 0
    assert budget["degraded_rho_spent"] == pytest.approx(modes.count(True) * DEGRADED_RHO_PER_TABLE)

    reasons = degraded_reasons(api)
    assert reasons.count(CAPACITY_REACHED.audit_reason) == modes.count(True)
    assert reasons[-1] is None
    assert_consistent(api.service)
