"""Issue 15, items 7-11 over HTTP (SQLite and PostgreSQL), with billing's clock fixed on the service:
one public identifier per document, checked CVR and EAN numbers, issue dates that are neither in the
future nor before the invoice they correct, hours only within what the customer accepted, and what
every order costs in the history."""

from __future__ import annotations

import csv
import datetime as dt
import io
from decimal import Decimal

from lxml import etree

from billing.ledger import record_invoice_line
from tests.service.helpers import set_today
from tests.service.test_billing_http import ACCOUNT, NS, act_for, assert_problem, put

DECEMBER_6 = dt.date(2026, 12, 6)


def charge(api, organisation_id: str, when: dt.datetime, amount: str = "1000.00", release_id: str = "rel-1"):
    """An invoice line as a release leaves it (the release pipeline needs registers; billing does not)."""
    with api.service.db.write() as session:
        record_invoice_line(session, organisation_id, release_id, "cohort count", Decimal(amount), now=when)


def the_field(response, status: int) -> dict:
    """The one error of a problem, which names the field at fault and what would be valid."""
    body = assert_problem(response, status)
    (error,) = body["errors"]
    assert error["message"] and error["valid"]
    return error


def issued_invoice(api) -> dict:
    """An invoice for November 2026, issued on 6 December."""
    assert put(api, "/v1/billing-account", api.customer, json=ACCOUNT).status_code == 200
    charge(api, api.customer.organisation_id, dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    set_today(api.service, DECEMBER_6)
    issued = api.post("/v1/invoices/issue", api.staff, json={"year": 2026, "month": 11})
    assert issued.status_code == 201, issued.text
    (invoice,) = issued.json()["invoices"]
    return invoice


# --- item 7: one identifier per document ---------------------------------------------------------


def test_a_document_is_named_by_its_number_in_json_urls_and_files(api):
    invoice = issued_invoice(api)
    customer, staff = api.customer, api.staff
    assert invoice["id"] == "F0000001" and "number" not in invoice and "display_number" not in invoice
    assert [line["invoice_id"] for line in invoice["lines"]] == ["F0000001"]
    assert api.get(f"/v1/invoices/{invoice['id']}", customer).json() == invoice
    rows = list(csv.DictReader(io.StringIO(api.get(f"/v1/invoices/{invoice['id']}.csv", customer).text)))
    assert {row["document_number"] for row in rows} == {invoice["id"]}
    ubl = etree.fromstring(api.get(f"/v1/invoices/{invoice['id']}.xml", customer).content)
    assert ubl.xpath("/inv:Invoice/cbc:ID/text()", namespaces=NS) == [invoice["id"]]

    note = api.post(f"/v1/invoices/{invoice['id']}/credit-notes", staff, json={"reason": "goodwill"}).json()
    assert (note["id"], note["invoice_id"]) == ("K0000001", invoice["id"])
    assert api.get(f"/v1/credit-notes/{note['id']}", customer).json() == note
    assert api.get(f"/v1/invoices/{invoice['id']}", customer).json()["credit_notes"] == [note]
    history = api.get("/v1/history", customer, params={"kind": "credit_note"}).json()["items"]
    assert [(item["id"], item["references"]["invoice_id"]) for item in history] == [
        (note["id"], invoice["id"])
    ]

    # the database's row id is no name: a 404 that says which identifier to use
    for path, example in (("/v1/invoices/1", "F0000001"), ("/v1/credit-notes/1", "K0000001")):
        for suffix in ("", ".pdf"):
            detail = assert_problem(api.get(path + suffix, customer), 404)["detail"]
            assert f"e.g. {example}" in detail and "number" in detail


# --- item 8: CVR and EAN check digits ------------------------------------------------------------


def test_billing_account_refuses_numbers_that_fail_their_check_digit(api):
    for field, value in (("cvr", "12345678"), ("ean", "5798000416605")):
        response = put(api, "/v1/billing-account", api.customer, json={**ACCOUNT, field: value})
        error = the_field(response, 422)
        assert error["field"] == field and value in error["message"]
    assert api.get("/v1/billing-account", api.customer).status_code == 404  # nothing was stored
    # a public buyer's EAN becomes the UBL's electronic address (Peppol scheme 0088)
    assert (
        put(api, "/v1/billing-account", api.customer, json={**ACCOUNT, "ean": "5798000416604"}).json()["ean"]
        == "5798000416604"
    )
    charge(api, api.customer.organisation_id, dt.datetime(2026, 11, 20, 10, tzinfo=dt.UTC))
    set_today(api.service, DECEMBER_6)
    (invoice,) = api.post("/v1/invoices/issue", api.staff, json={"year": 2026, "month": 11}).json()[
        "invoices"
    ]
    ubl = etree.fromstring(api.get(f"/v1/invoices/{invoice['id']}.xml", api.customer).content)
    buyer = ubl.xpath("//cac:AccountingCustomerParty//cbc:EndpointID", namespaces=NS)
    assert [(node.text, node.get("schemeID")) for node in buyer] == [("5798000416604", "0088")]


# --- item 9: issue dates -------------------------------------------------------------------------


def test_december_is_not_invoiced_on_6_december_by_dating_the_invoice_in_january(api):
    charge(api, api.customer.organisation_id, dt.datetime(2026, 12, 2, 10, tzinfo=dt.UTC))
    set_today(api.service, DECEMBER_6)
    future = api.post(
        "/v1/invoices/issue", api.staff, json={"year": 2026, "month": 12, "issue_date": "2027-01-04"}
    )
    error = the_field(future, 422)
    assert error["field"] == "issue_date" and error["valid"] == "a date up to 2026-12-06"
    early = the_field(api.post("/v1/invoices/issue", api.staff, json={"year": 2026, "month": 12}), 422)
    assert early["field"] == "month" and "2027-01-01" in early["message"]
    assert api.get("/v1/invoices", api.customer).json()["total"] == 0
    set_today(api.service, dt.date(2027, 1, 4))
    (invoice,) = api.post("/v1/invoices/issue", api.staff, json={"year": 2026, "month": 12}).json()[
        "invoices"
    ]
    assert invoice["issue_date"] == "2027-01-04"
    note = api.post(
        f"/v1/invoices/{invoice['id']}/credit-notes", api.staff, json={"reason": "goodwill"}
    ).json()
    assert note["issue_date"] == "2027-01-04"


def test_a_credit_note_is_not_dated_before_its_invoice(api):
    invoice = issued_invoice(api)
    set_today(api.service, DECEMBER_6 - dt.timedelta(days=1))  # e.g. an invoice dated ahead before the fix
    refused = api.post(f"/v1/invoices/{invoice['id']}/credit-notes", api.staff, json={"reason": "wrong"})
    error = the_field(refused, 409)
    assert error["field"] == "issue_date" and error["valid"] == "a date from 2026-12-06"
    assert api.get("/v1/credit-notes", api.customer).json()["total"] == 0


# --- items 10 and 11: orders ---------------------------------------------------------------------


def started_order(api, hours: str = "4.00") -> tuple[str, dict]:
    """An order of the customer (public research rate) with an accepted estimate, in progress."""
    set_today(api.service, DECEMBER_6)
    oid = api.post("/v1/orders", api.customer, json={"title": "t", "request_text": "r"}).json()["id"]
    estimated = api.post(f"/v1/orders/{oid}/estimate", api.staff, json={"hours": hours}).json()
    assert api.post(f"/v1/orders/{oid}/accept", api.customer).status_code == 200
    assert api.post(f"/v1/orders/{oid}/start", api.staff).status_code == 200
    return oid, estimated


def hours(api, oid: str, amount: str, day: dt.date = DECEMBER_6):
    return api.post(
        f"/v1/orders/{oid}/hours", api.staff, json={"work_date": day.isoformat(), "hours": amount}
    )


def test_hours_beyond_the_accepted_estimate_need_a_change_order_the_customer_accepts(api):
    oid, estimated = started_order(api)
    assert Decimal(estimated["estimate_net_amount"]) == Decimal("5060.00")
    assert hours(api, oid, "4.00").status_code == 201
    beyond = the_field(hours(api, oid, "3.75"), 409)
    assert beyond["field"] == "hours" and "revised estimate" in beyond["message"]
    # the change order: a revised estimate on the order in progress, accepted by the customer
    changed = api.post(f"/v1/orders/{oid}/estimate", api.staff, json={"hours": "7.75", "note": "more strata"})
    assert changed.status_code == 200, changed.text
    change = changed.json()
    assert change["state"] == "in_progress" and change["estimated_hours"] == "4.00"
    assert change["change_order"]["hours"] == "7.75" and change["change_order"]["net_amount"] == "9803.75"
    assert hours(api, oid, "3.75").status_code == 409  # not yet accepted
    assert_problem(api.post(f"/v1/orders/{oid}/accept", api.foreign), 404)
    accepted = api.post(f"/v1/orders/{oid}/accept", api.customer).json()
    assert (accepted["state"], accepted["estimated_hours"], accepted["change_order"]) == (
        "in_progress",
        "7.75",
        None,
    )
    assert accepted["quote_id"] == change["change_order"]["quote_id"]
    assert hours(api, oid, "3.75").status_code == 201
    assert api.post(f"/v1/orders/{oid}/deliver", api.staff).status_code == 200
    invoice = api.post(f"/v1/orders/{oid}/invoice", api.staff).json()
    assert invoice["net_total"] == "9803.75"
    records = api.get(
        "/v1/audit/records",
        api.auditor,
        params={"organisation_id": api.customer.organisation_id, "limit": 500},
    ).json()["items"]
    actions = [record["action"] for record in records]
    assert {"order.change_order", "order.change_order_accepted"} <= set(actions)


def test_work_dates_to_come_and_silent_deliveries_are_refused(api):
    oid, _ = started_order(api)
    future = the_field(hours(api, oid, "1.00", DECEMBER_6 + dt.timedelta(days=1)), 422)
    assert future["field"] == "work_date" and future["valid"] == "a date up to 2026-12-06"
    silent = the_field(api.post(f"/v1/orders/{oid}/deliver", api.staff), 422)
    assert silent["field"] == "note"
    delivered = api.post(
        f"/v1/orders/{oid}/deliver", api.staff, json={"note": "answered by an earlier release"}
    )
    assert delivered.status_code == 200 and delivered.json()["state"] == "delivered"


def test_history_shows_what_each_order_costs_and_on_what_basis(api):
    requested = api.post("/v1/orders", api.customer, json={"title": "later", "request_text": "r"}).json()[
        "id"
    ]
    oid, estimated = started_order(api)

    def orders() -> dict[str, tuple]:
        items = api.get("/v1/history", api.customer, params={"kind": "order"}).json()["items"]
        return {item["id"]: (item["net_amount"], item["amount_basis"]) for item in items}

    assert orders() == {
        requested: (None, "not estimated yet"),
        oid: (estimated["estimate_net_amount"], "accepted estimate"),
    }
    assert hours(api, oid, "2.50").status_code == 201
    assert api.post(f"/v1/orders/{oid}/deliver", api.staff).status_code == 200
    invoice = api.post(f"/v1/orders/{oid}/invoice", api.staff).json()
    assert orders()[oid] == (invoice["net_total"], "invoiced") == ("3162.50", "invoiced")
    staff_view = api.client.get(
        "/v1/history", headers=act_for(api.staff, api.customer.organisation_id), params={"kind": "order"}
    ).json()["items"]
    assert {item["references"].get("invoice_id") for item in staff_view} == {None, invoice["id"]}
