"""Bespoke orders over HTTP, end to end on the real app, engine and database (SQLite and PostgreSQL):
request → estimate (a quote valid 28 days) → accept → start → runs through the release pipeline on the
order (acting for the customer, recorded as both) → hours → deliver → one invoice for the whole order.
Illegal transitions are 409 problems naming the current state and the allowed transitions."""

from __future__ import annotations

import datetime as dt
import io
from decimal import Decimal

from lxml import etree
from peppol.xsd import validate_xsd
from sqlalchemy import select

from billing.models import InvoiceLine
from billing.pricing import PriceList
from statservice.db.models import AuditRecord, QueryRun
from tests.service.helpers import assert_consistent, cohort, counts
from tests.service.test_billing_http import ACCOUNT, NS, act_for, assert_problem, issue_month, put

REQUEST = {
    "title": "Type 2 diabetes incidence by sex, 2015-2018",
    "request_text": "Incident type 2 diabetes by sex, and whether GLP-1 uptake differs; a short note.",
    "draft_query": cohort(),
}
ESTIMATE = {
    "hours": "10.00",
    "fixed_elements": [{"description": "Data management plan review", "net_amount": "1500.00"}],
    "note": "two rounds of revisions",
}


def illegal(response, current: str) -> dict:
    """A 409 problem naming the current state and what is allowed from it."""
    body = assert_problem(response, 409)
    assert f"is {current}" in body["detail"] and "Allowed from" in body["detail"]
    (error,) = body["errors"]
    assert error["field"] == "state" and current in error["message"]
    return body


def test_bespoke_order_from_request_to_invoice(data_api):
    api = data_api
    customer, staff = api.customer, api.staff
    today = dt.datetime.now(dt.UTC).date()
    assert put(api, "/v1/billing-account", customer, json=ACCOUNT).status_code == 200
    rate = PriceList.load().hourly_rate("public_research")  # Customer A's segment

    created = api.post("/v1/orders", customer, json=REQUEST)
    assert created.status_code == 201, created.text
    order = created.json()
    oid = order["id"]
    assert order["state"] == "requested" and order["draft_query"]["title"] == REQUEST["draft_query"]["title"]
    assert order["organisation_id"] == customer.organisation_id
    assert order["allowed_transitions"] == ["cancelled", "declined", "estimated"]

    # customers cannot estimate; accepting before an estimate is an illegal transition
    assert_problem(api.post(f"/v1/orders/{oid}/estimate", customer, json=ESTIMATE), 403)
    body = illegal(api.post(f"/v1/orders/{oid}/accept", customer), "requested")
    assert body["errors"][0]["valid"] == "cancelled, declined, estimated"
    # an order does not take runs before work starts
    assert_problem(api.post(f"/v1/orders/{oid}/runs", staff, json=cohort()), 409)

    estimated = api.post(f"/v1/orders/{oid}/estimate", staff, json=ESTIMATE)
    assert estimated.status_code == 200, estimated.text
    order = estimated.json()
    assert order["state"] == "estimated"
    assert Decimal(order["estimate_net_amount"]) == Decimal("10.00") * rate + Decimal("1500.00")
    assert isinstance(order["estimate_net_amount"], str)
    assert dt.date.fromisoformat(order["estimate_valid_until"]) == today + dt.timedelta(days=28)
    quote = api.get(f"/v1/quotes/{order['quote_id']}", customer).json()
    assert quote["kind"] == "order" and quote["order_id"] == oid
    illegal(api.post(f"/v1/orders/{oid}/start", staff), "estimated")

    accepted = api.post(f"/v1/orders/{oid}/accept", customer)
    assert accepted.status_code == 200 and accepted.json()["state"] == "accepted", accepted.text
    started = api.post(f"/v1/orders/{oid}/start", staff)
    assert started.status_code == 200 and started.json()["state"] == "in_progress", started.text

    # staff run a query on the order: the customer's release, charged to the order, recorded as both
    assert_problem(api.post(f"/v1/orders/{oid}/runs", customer, json=cohort()), 403)
    assert_problem(api.post("/v1/queries/runs", customer, json=cohort(), params={"order_id": oid}), 403)
    ran = api.post(f"/v1/orders/{oid}/runs", staff, json=cohort())
    assert ran.status_code == 201, ran.text
    release = ran.json()
    assert release["organisation_id"] == customer.organisation_id
    release_price = Decimal(release["invoice_line"]["amount"])
    # the same pipeline answers through /v1/queries/runs?order_id=...
    second = api.post("/v1/queries/runs", staff, json=cohort(title="second"), params={"order_id": oid})
    assert second.status_code == 201, second.text
    second_price = Decimal(second.json()["invoice_line"]["amount"])
    with api.service.db.session() as session:
        run = session.get(QueryRun, release["run_id"])
        assert (run.organisation_id, run.key_id, run.acting_key_organisation_id) == (
            customer.organisation_id,
            staff.key_id,
            staff.organisation_id,
        )
        lines = session.scalars(select(InvoiceLine).where(InvoiceLine.order_id == oid)).all()
        assert {line.release_id for line in lines} == {release["id"], second.json()["id"]}
        record = session.scalars(
            select(AuditRecord).where(
                AuditRecord.action == "release", AuditRecord.organisation_id == customer.organisation_id
            )
        ).first()
        assert staff.key_id in record.actor and f"for org:{customer.organisation_id}" in record.actor
    assert api.get(f"/v1/releases/{release['id']}", customer).status_code == 200
    assert_consistent(api.service)
    order = api.get(f"/v1/orders/{oid}", customer).json()
    assert set(order["release_ids"]) == {release["id"], second.json()["id"]}
    # the order's releases wait for the order's invoice, not the monthly one
    assert issue_month(api, staff, today).json()["invoices"] == []

    assert_problem(
        api.post(f"/v1/orders/{oid}/hours", staff, json={"work_date": today.isoformat(), "hours": "25"}), 422
    )
    logged = api.post(
        f"/v1/orders/{oid}/hours",
        staff,
        json={"work_date": today.isoformat(), "hours": "3.50", "note": "cohort"},
    )
    assert logged.status_code == 201, logged.text
    assert logged.json()["hours"] == "3.50" and staff.key_id in logged.json()["staff_id"]
    illegal(api.post(f"/v1/orders/{oid}/cancel", customer), "in_progress")
    illegal(api.post(f"/v1/orders/{oid}/invoice", staff), "in_progress")
    delivered = api.post(f"/v1/orders/{oid}/deliver", staff, json={"note": "tables and a short note sent"})
    assert delivered.status_code == 200 and delivered.json()["state"] == "delivered", delivered.text
    assert_problem(api.post(f"/v1/orders/{oid}/runs", staff, json=cohort(title="late")), 409)
    assert_problem(
        api.post(f"/v1/orders/{oid}/hours", staff, json={"work_date": today.isoformat(), "hours": "1.00"}),
        409,
    )
    before = counts(api.service)

    # one invoice for the whole order: hours × rate, the fixed element, the releases
    assert_problem(api.post(f"/v1/orders/{oid}/invoice", customer), 403)
    invoiced = api.post(f"/v1/orders/{oid}/invoice", staff)
    assert invoiced.status_code == 201, invoiced.text
    invoice = invoiced.json()
    expected = Decimal("3.50") * rate + Decimal("1500.00") + release_price + second_price
    assert Decimal(invoice["net_total"]) == expected
    assert invoice["order_id"] == oid and invoice["organisation_id"] == customer.organisation_id
    assert sorted(line["kind"] for line in invoice["lines"]) == [
        "fixed_element",
        "release",
        "release",
        "staff_hours",
    ]
    # invoicing releases nothing; it adds the hours and fixed element lines
    assert counts(api.service) == {**before, "invoice_lines": before["invoice_lines"] + 2}
    assert api.get(f"/v1/invoices/{invoice['id']}", customer).json() == invoice
    order = api.get(f"/v1/orders/{oid}", customer).json()
    assert order["state"] == "invoiced" and order["invoice_id"] == invoice["id"]
    assert order["allowed_transitions"] == []
    final = illegal(api.post(f"/v1/orders/{oid}/invoice", staff), "invoiced")
    assert final["errors"][0]["valid"] == "none (final state)"
    ubl = api.get(f"/v1/invoices/{invoice['id']}.xml", customer)
    assert ubl.status_code == 200 and validate_xsd(ubl.content)[0]
    tree = etree.parse(io.BytesIO(ubl.content))
    assert tree.xpath("//cac:OrderReference/cbc:ID/text()", namespaces=NS) == [oid]
    assert (
        Decimal(tree.xpath("//cac:LegalMonetaryTotal/cbc:TaxExclusiveAmount/text()", namespaces=NS)[0])
        == expected
    )

    # the events: who moved the order, with staff recorded as both
    events = api.get(f"/v1/orders/{oid}/events", customer).json()
    assert [e["to_state"] for e in events] == [
        "requested",
        "estimated",
        "accepted",
        "in_progress",
        "delivered",
        "invoiced",
    ]
    assert [e["from_state"] for e in events][:2] == [None, "requested"]
    for event in events:
        if event["to_state"] in ("estimated", "in_progress", "delivered", "invoiced"):
            assert staff.key_id in event["actor"] and f"for org:{customer.organisation_id}" in event["actor"]
        else:
            assert customer.key_id in event["actor"] and "for org:" not in event["actor"]

    # the audit chain has every step, staff steps recorded as both the staff key and the customer
    records = api.get(
        "/v1/audit/records", api.auditor, params={"organisation_id": customer.organisation_id, "limit": 500}
    ).json()["items"]
    steps = sorted((r for r in records if r["action"].startswith("order.")), key=lambda r: r["sequence"])
    assert [r["action"] for r in steps] == [
        "order.requested",
        "order.estimated",
        "order.accepted",
        "order.in_progress",
        "order.hours",
        "order.delivered",
        "order.invoiced",
    ]
    assert all(r["payload"]["order_id"] == oid for r in steps)
    assert steps[-1]["payload"]["invoice"] == invoice["id"]
    for step in steps:
        if step["action"] in ("order.requested", "order.accepted"):
            assert customer.key_id in step["actor"] and "for org:" not in step["actor"]
        else:
            assert staff.key_id in step["actor"] and f"for org:{customer.organisation_id}" in step["actor"]
    assert api.get("/v1/audit/verify", api.auditor).json()["ok"] is True

    # the customer sees its order everywhere; another organisation sees nothing of it
    assert [o["id"] for o in api.get("/v1/orders", customer).json()["items"]] == [oid]
    assert api.get("/v1/orders", customer, params={"state": "invoiced"}).json()["total"] == 1
    assert api.get("/v1/orders", customer, params={"state": "requested"}).json()["total"] == 0
    for path in (f"/v1/orders/{oid}", f"/v1/orders/{oid}/events"):
        assert_problem(api.get(path, api.foreign), 404)
    assert api.get("/v1/orders", api.foreign).json()["total"] == 0
    history = api.client.get(
        "/v1/history", headers=act_for(staff, customer.organisation_id), params={"kind": "order"}
    ).json()
    assert [(i["id"], i["status"]) for i in history["items"]] == [(oid, "invoiced")]


def test_declined_cancelled_and_acting_for_the_customer(data_api):
    api = data_api
    customer, staff = api.customer, api.staff
    # staff decline a request; nothing can follow
    declined_id = api.post("/v1/orders", customer, json=REQUEST).json()["id"]
    assert_problem(api.post(f"/v1/orders/{declined_id}/decline", staff, json={}), 422)
    declined = api.post(
        f"/v1/orders/{declined_id}/decline", staff, json={"reason": "cells would be too small"}
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined", declined.text
    illegal(api.post(f"/v1/orders/{declined_id}/estimate", staff, json=ESTIMATE), "declined")
    # staff place an order for the customer by acting for it, and the customer cancels it
    assert_problem(api.post("/v1/orders", staff, json=REQUEST), 403)  # for whom?
    placed = api.client.post(
        "/v1/orders",
        headers=act_for(staff, customer.organisation_id),
        json={"title": "Asked by phone", "request_text": "Statin uptake after MI"},
    )
    assert placed.status_code == 201, placed.text
    placed = placed.json()
    assert placed["organisation_id"] == customer.organisation_id and placed["draft_query"] is None
    assert f"for org:{customer.organisation_id}" in placed["events"][0]["actor"]
    # staff not acting for the customer cannot accept or cancel on its behalf; auditors cannot at all
    assert_problem(api.post(f"/v1/orders/{placed['id']}/cancel", staff), 404)
    assert_problem(api.post(f"/v1/orders/{placed['id']}/cancel", api.auditor), 403)
    assert_problem(api.post(f"/v1/orders/{placed['id']}/cancel", api.foreign), 404)
    cancelled = api.post(
        f"/v1/orders/{placed['id']}/cancel", api.customer2, json={"note": "found it elsewhere"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled", cancelled.text
    assert cancelled.json()["events"][-1]["note"] == "found it elsewhere"
    # invalid bodies name the field
    invalid = api.post("/v1/orders", customer, json={"title": "", "request_text": "x", "extra": 1})
    fields = {e["field"] for e in assert_problem(invalid, 422)["errors"]}
    assert {"title", "extra"} <= fields
    bad_estimate = api.post(f"/v1/orders/{declined_id}/estimate", staff, json={"hours": "1.234"})
    assert "hours" in {e["field"] for e in assert_problem(bad_estimate, 422)["errors"]}
    # staff see every order; the customer only its own
    assert api.get("/v1/orders", staff).json()["total"] == 2
    assert api.get("/v1/orders", api.foreign).json()["total"] == 0
