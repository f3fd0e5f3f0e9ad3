"""A customer never sees another organisation's queries, results, invoices or budget: every endpoint
probed with a key of another organisation answers 404 (not 403, which would reveal existence) for
resources of the first, and lists show nothing of it."""

from __future__ import annotations

import re

from tests.service.helpers import cohort, set_today

# How to fill each path parameter with a resource of organisation A. A new route with a parameter
# not listed here fails the test until it is added (so new routers are probed too).
PARAMETERS = {
    "release_id": lambda ids: ids["release_id"],
    "run_id": lambda ids: ids["run_id"],
    "organisation_id": lambda ids: ids["organisation_id"],
    "quote_id": lambda ids: ids["quote_id"],
    "invoice_id": lambda ids: ids["invoice_id"],
    "credit_note_id": lambda ids: ids["credit_note_id"],
    "order_id": lambda ids: ids["order_id"],
    "draft_id": lambda ids: ids["draft_id"],
    "set_id": lambda ids: ids["set_id"],
    "cohort_id": lambda ids: ids["cohort_id"],
    "version": lambda ids: "1",  # of the saved set or cohort: its first version exists
}
# Parameters that name public things (register names, code lists, public statistics) or admin-only
# resources.
NOT_ORGANISATION_SCOPED = {"name", "key_id", "slug", "sequence"}  # sequence: the auditors' whole log


def billing_ids(api) -> dict[str, str]:
    """A stored quote, an invoice (with a billing account, so its UBL downloads), a credit note and a
    bespoke order of organisation A."""
    import datetime as dt

    account = {"legal_name": "Customer A", "cvr": "31119103"}
    api.client.put("/v1/billing-account", headers=api.customer.headers, json=account)
    quote = api.post("/v1/quotes", api.customer, json=cohort(title="quoted")).json()
    api.post("/v1/queries/runs", api.customer, json=cohort(title="quoted"), params={"quote_id": quote["id"]})
    today = dt.datetime.now(dt.UTC).date()
    after = dt.date(today.year + today.month // 12, today.month % 12 + 1, 1)
    set_today(api.service, after)  # the month has closed
    issued = api.post(
        "/v1/invoices/issue",
        api.staff,
        json={"year": today.year, "month": today.month, "issue_date": after.isoformat()},
    )
    invoice = issued.json()["invoices"][0]["id"]
    note = api.post(f"/v1/invoices/{invoice}/credit-notes", api.staff, json={"reason": "goodwill"}).json()
    order = api.post("/v1/orders", api.customer, json={"title": "t", "request_text": "r"}).json()
    return {
        "quote_id": quote["id"],
        "invoice_id": invoice,
        "credit_note_id": note["id"],
        "order_id": order["id"],
    }


def test_every_endpoint_hides_other_organisations(data_api):
    api = data_api
    release = api.post("/v1/queries/runs", api.customer, json=cohort()).json()
    ids = {
        "release_id": release["id"],
        "run_id": release["run_id"],
        "organisation_id": api.customer.organisation_id,
        "draft_id": api.post("/v1/drafts", api.customer, json={"name": "A's", "query": cohort()}).json()[
            "id"
        ],
        "set_id": api.post(
            "/v1/concept-sets", api.customer, json={"name": "A's", "concept": cohort()["index"]["concept"]}
        ).json()["id"],
        "cohort_id": api.post(
            "/v1/cohorts", api.customer, json={"name": "A's", "index": cohort()["index"]}
        ).json()["id"],
        **billing_ids(api),
    }
    probed = []
    for route_path, operations in api.client.app.openapi()["paths"].items():
        if "get" not in operations:
            continue
        params = re.findall(r"{(\w+)}", route_path)
        if not params or set(params) <= NOT_ORGANISATION_SCOPED:
            continue
        missing = set(params) - set(PARAMETERS)
        assert not missing, f"{route_path}: say how to probe {missing}"
        path = route_path
        for param in params:
            path = path.replace("{" + param + "}", PARAMETERS[param](ids))
        own = api.get(path, api.customer)
        assert own.status_code == 200, (path, own.status_code)
        foreign = api.get(path, api.foreign)
        assert foreign.status_code == 404, (path, foreign.status_code)
        assert foreign.headers["content-type"] == "application/problem+json"
        # indistinguishable from a resource that does not exist at all
        absent_path = route_path
        for param in params:
            value = PARAMETERS[param](ids)  # a version number stays: its set is the absent part
            absent_value = value if value.isdigit() else "x" * len(value)
            absent_path = absent_path.replace("{" + param + "}", absent_value)
        absent = api.get(absent_path, api.foreign)
        assert absent.status_code == 404
        normalised = foreign.text
        for value in ids.values():
            normalised = normalised.replace(value, "x" * len(value))
        assert normalised == absent.text
        probed.append(route_path)
    assert {
        "/v1/releases/{release_id}",
        "/v1/releases/{release_id}/result",
        "/v1/queries/runs/{run_id}",
    } <= set(probed)
    # query parameters naming the organisation
    for path in ("/v1/budgets",):
        assert (
            api.get(path, api.foreign, params={"organisation_id": ids["organisation_id"]}).status_code == 404
        )
    # collections: nothing of organisation A
    for path in ("/v1/releases", "/v1/history"):
        body = api.get(path, api.foreign).json()
        assert body["total"] == 0 and body["items"] == []
    assert api.get("/v1/drafts", api.foreign).json() == []
    assert [o["id"] for o in api.get("/v1/organisations", api.foreign).json()] == [
        api.foreign.organisation_id
    ]
    assert api.get("/v1/budgets", api.foreign).json()["organisation_id"] == api.foreign.organisation_id
