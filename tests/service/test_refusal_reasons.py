"""Reasons: the auditor's record says which rule refused or degraded a release; the customer gets a
fixed message and advice that depend only on the question's shape and the policy."""

from __future__ import annotations

import json

from sqlalchemy import select

from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, REFUSAL_ADVICE
from disclosure.policy import Policy
from statservice.db.models import AuditRecord
from tests.budgets import without_degraded_budget
from tests.service.helpers import cohort, with_noise


def test_a_refusal_tells_the_auditor_why_and_the_customer_what_to_change(data_api):
    api = data_api
    # an organisation budget smaller than one noisy table (configuration, not a stand-in)
    api.service.__dict__["policy"] = Policy.default().model_copy(
        update={"budgets": without_degraded_budget(rho_per_organisation=0.01)}
    )
    response = api.post("/v1/queries/runs", api.customer, json=with_noise(cohort()))
    assert response.status_code == 409, response.text
    problem = response.json()
    assert problem["detail"] == BUDGET_EXCEEDED_MESSAGE
    assert problem["advice"] == REFUSAL_ADVICE
    assert "reason" not in problem
    with api.service.db.session() as session:
        record = session.execute(
            select(AuditRecord).where(AuditRecord.action == "release.refused")
        ).scalar_one()
    payload = json.loads(record.payload_json)
    assert payload["reason"] and payload["detail"] == BUDGET_EXCEEDED_MESSAGE


def test_a_release_with_suppressed_cells_says_what_the_customer_can_change(data_api):
    api = data_api
    query = cohort(
        title="rare by sex, region and age",
        result={
            "kind": "cohort_count",
            "breakdowns": [{"by": "sex"}, {"by": "region"}, {"by": "age_band", "width": 10}],
        },
    )
    response = api.post("/v1/queries/runs", api.customer, json=query)
    assert response.status_code == 201, response.text
    body = response.json()
    hidden = sum(cell["status"] == "suppressed" for cell in body["tables"][0]["cells"])
    assert hidden > 0  # a three-way breakdown of a small cohort hides cells
    assert any("merge categories" in advice for advice in body["report"]["advice"])
