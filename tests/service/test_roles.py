"""Roles as users expect: the expected status of every operation in the OpenAPI schema for each role
(customer, staff, auditor, admin) and for no key. Auditors read and verify; they never run, quote or
order (they never spend an organisation's money or privacy budget).

Requests use an id that does not exist for every path parameter, so a role that passes the gate gets
404 (or what the operation answers without data); a role the operation refuses gets 403 before
anything is looked up. A new endpoint without a row in ``EXPECTED`` fails the test."""

from __future__ import annotations

import re

import pytest

from tests.service.helpers import cohort

ROLES = ("customer", "staff", "auditor", "admin", "none")
MISSING = "00000000-0000-0000-0000-000000000000"
MISSING_BY_PARAMETER = {  # numbers, not ids
    "invoice_id": "F9999999",
    "credit_note_id": "K9999999",
    "sequence": "999999",
    "version": "999999",
}

BODIES = {
    "POST /v1/queries/validate": cohort(),
    "POST /v1/queries/quote": cohort(),
    "POST /v1/queries/runs": cohort(),
    "POST /v1/quotes": cohort(),
    "POST /v1/orders/{order_id}/runs": cohort(),
    "POST /v1/organisations": {"name": "Role matrix organisation"},
    "POST /v1/keys": {"organisation_id": "{customer_organisation}", "role": "customer", "name": "matrix"},
    "POST /v1/invoices/issue": {"year": 2026, "month": 1, "issue_date": "2026-02-02"},
    "POST /v1/invoices/{invoice_id}/credit-notes": {"reason": "matrix"},
    "PUT /v1/billing-account": {"legal_name": "Matrix ApS", "cvr": "12345674"},
    "POST /v1/orders": {"title": "Matrix", "request_text": "a bespoke analysis"},
    "POST /v1/orders/{order_id}/estimate": {"hours": "1.00"},
    "POST /v1/orders/{order_id}/decline": {"reason": "no"},
    "POST /v1/orders/{order_id}/hours": {"work_date": "2026-11-20", "hours": "1.00"},
    "POST /v1/orders/{order_id}/deliver": {},
    "POST /v1/orders/{order_id}/invoice": {},
    "POST /v1/drafts": {"name": "matrix", "query": {"title": "unfinished"}},
    "POST /v1/concept-sets": {"name": "matrix", "concept": {"type": "diagnosis", "codes": ["DE11"]}},
    "POST /v1/concept-sets/{set_id}/versions": {"concept": {"type": "diagnosis", "codes": ["DE11"]}},
    "POST /v1/cohorts": {"name": "matrix", "index": cohort()["index"]},
    "POST /v1/cohorts/{cohort_id}/versions": {"index": cohort()["index"]},
}

# operation -> expected status for customer, staff, auditor, admin, no key. The app here has no
# register extract, so operations that need one answer 503 to the roles they admit.
EXPECTED: dict[str, tuple[int, int, int, int, int]] = {
    "GET /v1/health": (200, 200, 200, 200, 200),
    # no key needed; no register extract here, so no statistics to serve
    "GET /v1/public/statistics": (503, 503, 503, 503, 503),
    "GET /v1/public/statistics/{slug}": (503, 503, 503, 503, 503),
    "GET /v1/catalog/registers": (200, 200, 200, 200, 401),
    "GET /v1/catalog/registers/{name}": (404, 404, 404, 404, 401),
    "GET /v1/catalog/variables": (200, 200, 200, 200, 401),
    "GET /v1/catalog/data-owners": (200, 200, 200, 200, 401),
    "GET /v1/catalog/code-lists": (200, 200, 200, 200, 401),
    "GET /v1/catalog/code-lists/{name}": (404, 404, 404, 404, 401),
    "POST /v1/queries/validate": (503, 503, 503, 503, 401),
    "POST /v1/queries/quote": (503, 503, 403, 503, 401),
    "POST /v1/queries/runs": (503, 503, 403, 503, 401),
    "GET /v1/queries/runs/{run_id}": (404, 404, 404, 404, 401),
    "GET /v1/queries/schema": (200, 200, 200, 200, 401),
    "GET /v1/releases": (200, 200, 200, 200, 401),
    "GET /v1/drafts": (200, 200, 403, 200, 401),
    "POST /v1/drafts": (201, 201, 403, 200, 401),  # admin replaces the draft staff of its organisation saved
    "GET /v1/drafts/{draft_id}": (404, 404, 403, 404, 401),
    "DELETE /v1/drafts/{draft_id}": (404, 404, 403, 404, 401),
    "GET /v1/releases/{release_id}": (404, 404, 404, 404, 401),
    "GET /v1/releases/{release_id}/result": (404, 404, 404, 404, 401),
    "GET /v1/budgets": (503, 503, 503, 503, 401),
    "GET /v1/history": (200, 200, 200, 200, 401),
    "GET /v1/audit/records": (403, 403, 200, 200, 401),
    "GET /v1/audit/records/{sequence}": (403, 403, 404, 404, 401),
    "GET /v1/audit/verify": (403, 403, 200, 200, 401),
    "GET /v1/audit/export": (403, 403, 200, 200, 401),
    "POST /v1/organisations": (403, 403, 403, 201, 401),
    "GET /v1/organisations": (200, 200, 200, 200, 401),
    "GET /v1/organisations/{organisation_id}": (404, 404, 404, 404, 401),
    "POST /v1/keys": (403, 403, 403, 201, 401),
    "GET /v1/keys": (403, 403, 403, 200, 401),
    "DELETE /v1/keys/{key_id}": (403, 403, 403, 404, 401),
    "POST /v1/quotes": (503, 503, 403, 503, 401),
    "GET /v1/quotes": (200, 200, 200, 200, 401),
    "GET /v1/quotes/{quote_id}": (404, 404, 404, 404, 401),
    "GET /v1/invoices": (200, 200, 200, 200, 401),
    "POST /v1/invoices/issue": (403, 201, 403, 201, 401),
    "GET /v1/invoices/{invoice_id}.csv": (404, 404, 404, 404, 401),
    "GET /v1/invoices/{invoice_id}.pdf": (404, 404, 404, 404, 401),
    "GET /v1/invoices/{invoice_id}.xml": (404, 404, 404, 404, 401),
    "GET /v1/invoices/{invoice_id}": (404, 404, 404, 404, 401),
    "POST /v1/invoices/{invoice_id}/credit-notes": (403, 404, 403, 404, 401),
    "GET /v1/credit-notes": (200, 200, 200, 200, 401),
    "GET /v1/credit-notes/{credit_note_id}.csv": (404, 404, 404, 404, 401),
    "GET /v1/credit-notes/{credit_note_id}.pdf": (404, 404, 404, 404, 401),
    "GET /v1/credit-notes/{credit_note_id}.xml": (404, 404, 404, 404, 401),
    "GET /v1/credit-notes/{credit_note_id}": (404, 404, 404, 404, 401),
    "GET /v1/billing-account": (404, 404, 404, 404, 401),  # none stored yet
    "PUT /v1/billing-account": (200, 200, 403, 200, 401),
    "POST /v1/orders": (201, 403, 403, 403, 401),
    "GET /v1/orders": (200, 200, 200, 200, 401),
    "GET /v1/orders/{order_id}": (404, 404, 404, 404, 401),
    "GET /v1/orders/{order_id}/events": (404, 404, 404, 404, 401),
    "POST /v1/orders/{order_id}/estimate": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/accept": (404, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/cancel": (404, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/decline": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/start": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/runs": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/hours": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/deliver": (403, 404, 403, 404, 401),
    "POST /v1/orders/{order_id}/invoice": (403, 404, 403, 404, 401),
    # saved concept sets and cohorts: an organisation's own, never an auditor's; staff and admin share
    # the operator's organisation, so the admin's save of the same name is a 409
    "POST /v1/concept-sets": (201, 201, 403, 409, 401),
    "GET /v1/concept-sets": (200, 200, 403, 200, 401),
    "GET /v1/concept-sets/{set_id}": (404, 404, 403, 404, 401),
    "POST /v1/concept-sets/{set_id}/versions": (404, 404, 403, 404, 401),
    "GET /v1/concept-sets/{set_id}/versions/{version}": (404, 404, 403, 404, 401),
    "POST /v1/cohorts": (201, 201, 403, 409, 401),
    "GET /v1/cohorts": (200, 200, 403, 200, 401),
    "GET /v1/cohorts/{cohort_id}": (404, 404, 403, 404, 401),
    "POST /v1/cohorts/{cohort_id}/versions": (404, 404, 403, 404, 401),
    "GET /v1/cohorts/{cohort_id}/versions/{version}": (404, 404, 403, 404, 401),
}


def operations(app) -> list[str]:
    return [
        f"{method.upper()} {path}"
        for path, methods in app.openapi()["paths"].items()
        for method in methods
        if method in ("get", "post", "put", "patch", "delete")
    ]


def test_every_operation_in_the_schema_has_a_row(api):
    listed = set(operations(api.client.app))
    assert set(EXPECTED) == listed, {
        "missing rows": sorted(listed - set(EXPECTED)),
        "rows without an operation": sorted(set(EXPECTED) - listed),
    }


def test_role_matrix(api):
    observed: dict[str, tuple[int, ...]] = {}
    for operation in operations(api.client.app):
        method, template = operation.split(" ", 1)
        url = re.sub(r"\{([a-z_]+)\}", lambda m: MISSING_BY_PARAMETER.get(m[1], MISSING), template)
        body = BODIES.get(operation)
        if body is not None and "organisation_id" in body:
            body = {**body, "organisation_id": api.customer.organisation_id}
        statuses = []
        for role in ROLES:
            headers = {} if role == "none" else api.actors[role].headers
            response = api.client.request(method, url, headers=headers, json=body)
            statuses.append(response.status_code)
            if response.status_code >= 400:
                assert response.headers["content-type"] == "application/problem+json", operation
        observed[operation] = tuple(statuses)
    wrong = {
        operation: {"expected": EXPECTED.get(operation), "observed": statuses}
        for operation, statuses in observed.items()
        if EXPECTED.get(operation) != statuses
    }
    assert wrong == {}


@pytest.mark.parametrize("path", ["/v1/queries/runs", "/v1/queries/quote", "/v1/quotes"])
def test_auditors_never_spend_money_or_privacy_budget(data_api, path):
    from tests.service.helpers import counts

    before = counts(data_api.service)
    response = data_api.post(path, data_api.auditor, json=cohort())
    assert response.status_code == 403
    assert response.json()["detail"] == "this needs one of the roles: customer, staff, admin"
    assert counts(data_api.service) == before
