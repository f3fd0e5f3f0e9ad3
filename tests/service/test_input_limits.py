"""Bad input gets a 422 naming the field and poisons nothing (issue 14): queries nested too deep,
order drafts nested too deep, non-finite numbers, NUL characters anywhere (SQLite and PostgreSQL),
out-of-range dates and invoice periods; and migration ss0009 repairs what earlier versions stored."""

from __future__ import annotations

import json

import pytest
from alembic import command
from sqlalchemy import func, insert, select

from billing import orders as billing_orders
from billing.models import Order
from queries.limits import MAX_JSON_DEPTH
from statservice.db.migrate import alembic_config, upgrade
from statservice.db.models import Organisation, QueryRun
from tests.service.conftest import build_api, make_settings
from tests.service.helpers import cohort

PROBLEM = "application/problem+json"


def nested_not(depth: int) -> dict:
    criterion: dict = {"type": "include", "concept": {"type": "sex", "sex": "male"}}
    for _ in range(depth):
        criterion = {"type": "not", "criterion": criterion}
    return criterion


def fields_of(response) -> list[str]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return [error["field"] for error in response.json()["errors"]]


def count(service, model) -> int:
    with service.db.session() as session:
        return session.execute(select(func.count()).select_from(model)).scalar_one()


def test_an_order_draft_nested_500_deep_is_refused_and_orders_still_list(api):
    draft = cohort(criteria=[nested_not(500)])
    response = api.post(
        "/v1/orders", api.customer, json={"title": "Deep", "request_text": "please", "draft_query": draft}
    )
    (field,) = fields_of(response)
    assert field.startswith("draft_query.criteria.0.criterion.criterion")
    assert str(MAX_JSON_DEPTH) in response.json()["errors"][0]["valid"]
    assert count(api.service, Order) == 0
    for actor in (api.customer, api.staff, api.auditor, api.admin):
        assert api.get("/v1/orders", actor).status_code == 200


@pytest.mark.parametrize(
    "path", ["/v1/queries/validate", "/v1/queries/quote", "/v1/queries/runs", "/v1/quotes"]
)
def test_criteria_nested_200_deep_are_refused_and_leave_no_run(data_api, path):
    response = data_api.post(path, data_api.customer, json=cohort(criteria=[nested_not(200)]))
    (field,) = fields_of(response)
    assert field.startswith("criteria.0.criterion.criterion")
    assert count(data_api.service, QueryRun) == 0


@pytest.mark.parametrize("number", ["Infinity", "-Infinity", "NaN", "1e999"])
@pytest.mark.parametrize(
    ("concept", "field"),
    [
        ('{"type": "income", "max": NUMBER}', "criteria.0.concept.max"),
        (
            '{"type": "prescription", "atc": ["A10"], "min_packages": NUMBER}',
            "criteria.0.concept.min_packages",
        ),
    ],
)
def test_non_finite_numbers_in_a_query_are_refused(data_api, number, concept, field):
    query = (
        json.dumps(cohort()).removesuffix("}") + ', "criteria": [{"type": "include", "concept": CONCEPT}]}'
    )
    body = query.replace("CONCEPT", concept).replace("NUMBER", number)
    for path in ("/v1/queries/validate", "/v1/queries/runs"):
        response = data_api.client.post(
            path, content=body, headers={**data_api.customer.headers, "Content-Type": "application/json"}
        )
        assert fields_of(response) == [field]
        assert "finite" in response.json()["errors"][0]["valid"]
    assert count(data_api.service, QueryRun) == 0


def test_non_finite_numbers_are_refused_in_any_body(api):
    response = api.client.post(
        "/v1/invoices/issue",
        content='{"year": 1e999, "month": 1}',
        headers={**api.staff.headers, "Content-Type": "application/json"},
    )
    assert fields_of(response) == ["year"]


def test_nul_characters_are_refused_everywhere(api):
    """Bodies, query parameters and path ids; on PostgreSQL these were 500s in a dozen places."""
    organisations = count(api.service, Organisation)
    cases = [
        (api.post("/v1/organisations", api.admin, json={"name": "A\x00B"}), ["name"]),
        (
            api.post("/v1/orders", api.customer, json={"title": "T\x00", "request_text": "please"}),
            ["title"],
        ),
        (api.post("/v1/queries/validate", api.customer, json=cohort(title="x\x00")), ["title"]),
        (
            api.client.put(
                "/v1/billing-account", headers=api.customer.headers, json={"legal_name": "ok", "city": "\x00"}
            ),
            ["city"],
        ),
        (api.post("/v1/organisations", api.admin, json={"name": "ok", "x\x00": 1}), ["x\\u0000"]),
        (api.get("/v1/orders", api.customer, params={"state": "new\x00"}), ["query:state"]),
        (api.get("/v1/history", api.customer, params={"status": "\x00"}), ["query:status"]),
        (
            api.get("/v1/catalog/code-lists/icd10", api.customer, params={"search": "E1\x00"}),
            ["query:search"],
        ),
        (api.get("/v1/budgets", api.staff, params={"organisation_id": "org\x00"}), ["query:organisation_id"]),
        (api.get("/v1/orders/abc%00def", api.customer), ["path"]),
        (api.get("/v1/releases/abc%00", api.customer), ["path"]),
        (api.get("/v1/queries/runs/%00", api.customer), ["path"]),
        (api.client.delete("/v1/keys/k%00", headers=api.admin.headers), ["path"]),
        (api.get("/v1/invoices/F%00", api.customer), ["path"]),
    ]
    for response, expected in cases:
        assert fields_of(response) == expected, response.request.url
        assert all("NUL" in error["valid"] for error in response.json()["errors"])
    assert count(api.service, Organisation) == organisations
    assert count(api.service, Order) == 0
    assert api.get("/v1/orders", api.customer).status_code == 200


def test_invoice_periods_and_billing_dates_are_range_checked(api):
    response = api.post("/v1/invoices/issue", api.staff, json={"year": 9999, "month": 12})
    assert fields_of(response) == ["year"]
    assert response.json()["errors"][0]["valid"] == "a number <= 2100"
    response = api.post(
        "/v1/invoices/issue", api.staff, json={"year": 2026, "month": 1, "issue_date": "9999-12-31"}
    )
    assert fields_of(response) == ["issue_date"]
    assert "2100-12-31" in response.json()["errors"][0]["valid"]
    assert api.post("/v1/invoices/issue", api.staff, json={"year": 2026, "month": 1}).status_code == 201


def test_migration_ss0009_repairs_deep_drafts_and_stuck_runs(database_url, tmp_path):
    """Rows an earlier version stored: an order draft nested 500 deep, a run left queued by a query
    nested 200 deep. After the migration the orders list again and the run is failed."""
    settings = make_settings(database_url, tmp_path / "no-registers")
    # started at head (its startup reads runs, which have grown columns since), then taken back
    api = build_api(settings)
    command.downgrade(alembic_config(database_url), "ss0008")
    try:
        customer = api.customer
        with api.service.db.write() as session:
            deep = billing_orders.request_order(
                session,
                customer.organisation_id,
                "public_research",
                "Deep",
                "stored by an earlier version",
                "key:test",
                draft_query=cohort(criteria=[nested_not(500)]),
            )
            fine = billing_orders.request_order(
                session,
                customer.organisation_id,
                "public_research",
                "Fine",
                "a normal draft",
                "key:test",
                draft_query=cohort(),
            )
            deep_id, fine_id = deep.id, fine.id
            for run_id, depth, status in (("run-deep", 200, "queued"), ("run-ok", 1, "released")):
                # only the columns runs had at ss0008 (the model has grown since)
                session.execute(
                    insert(QueryRun.__table__).values(
                        id=run_id,
                        organisation_id=customer.organisation_id,
                        key_id=customer.key_id,
                        acting_key_organisation_id=customer.organisation_id,
                        status=status,
                        query_json=json.dumps(cohort(criteria=[nested_not(depth)])),
                        query_hash="0" * 64,
                    )
                )
        assert api.get("/v1/orders", api.staff).status_code == 500  # the bug this migration repairs

        upgrade(database_url)

        listed = api.get("/v1/orders", api.staff)
        assert listed.status_code == 200
        drafts = {order["id"]: order["draft_query"] for order in listed.json()["items"]}
        assert "removed" in drafts[deep_id] and "ss0009" in drafts[deep_id]["removed"]
        assert drafts[fine_id] == cohort()
        for actor in (api.customer, api.auditor, api.admin):
            assert api.get("/v1/orders", actor).status_code == 200
        with api.service.db.session() as session:
            stuck = session.get(QueryRun, "run-deep")
            assert stuck.status == "failed" and stuck.finished_at is not None
            assert json.loads(stuck.problem_json)["status"] == 422
            assert session.get(QueryRun, "run-ok").status == "released"
    finally:
        api.client.__exit__(None, None, None)


def test_a_run_that_cannot_be_submitted_is_failed_not_left_queued(data_api, monkeypatch):
    """Fault injection: the run slots refuse the work with an unexpected error (as pickling a query
    nested 200 deep for a worker process once did). The run must not stay queued forever."""

    def broken(*args, **kwargs):
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr(data_api.service, "submit_run", broken)
    response = data_api.post("/v1/queries/runs", data_api.customer, json=cohort())
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    with data_api.service.db.session() as session:
        (run,) = session.execute(select(QueryRun)).scalars().all()
        assert run.status == "failed" and run.finished_at is not None
        assert run.release_id is None
