"""The staff pages over HTTP (the real app, real database, real releases): the order board acting for
an organisation, an order taken from request to invoice through its forms, refusals shown at the
form, and monthly invoicing. Every step is the /v1 function's, so the API sees what the board did."""

from __future__ import annotations

import datetime as dt
import json
import re

from billing import orders as billing_orders
from statservice.web.routes import staff
from tests.service.helpers import cohort, set_today
from tests.service.test_web_pages import sign_in

TODAY = dt.date(2026, 11, 16)


def _state(html: str) -> str:
    return re.search(r'<dd id="order-state">(.*?)</dd>', html).group(1)


def _error(html: str, slot: str) -> str:
    return re.search(rf'<p id="error-{slot}"[^>]*>(.*?)</p>', html, re.S).group(1)


def _place_order(api, token: str, **fields) -> str:
    answer = api.client.post(
        "/staff/orders",
        data={
            "csrf_token": token,
            "organisation_id": api.customer.organisation_id,
            "title": "Diabetes by sex, 2015-2018",
            "request_text": "Incident type 2 diabetes by sex.",
            "draft_query": json.dumps(cohort()),
            **fields,
        },
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return answer.headers["location"].rsplit("/", 1)[1]


def _act(api, token: str, order_id: str, action: str, **fields):
    return api.client.post(
        f"/staff/orders/{order_id}/{action}", data={"csrf_token": token, **fields}, follow_redirects=False
    )


def test_the_actions_cover_every_state_a_person_moves_an_order_to():
    targets = set().union(*billing_orders.TRANSITIONS.values())
    reached = {action.to_state for action in staff.ORDER_ACTIONS if action.to_state}
    assert reached == targets - set(staff.STATES_REACHED_BY_TIME)
    assert staff.BOARD_STATES == billing_orders.STATES


def test_staff_take_an_order_from_request_to_invoice(data_api):
    api = data_api
    set_today(api.service, TODAY)
    token = sign_in(api, api.staff)
    order_id = _place_order(api, token)
    page = api.client.get(f"/staff/orders/{order_id}")
    assert _state(page.text) == "requested"
    assert "Send the estimate" in page.text and "Start work" not in page.text  # what the state allows

    steps = [
        ("estimate", {"hours": "2.5", "fixed_0_description": "Protocol review", "fixed_0_amount": "1500.00"}),
        ("accept", {}),
        ("start", {}),
        ("runs", {"query": json.dumps(cohort())}),
        ("hours", {"work_date": TODAY.isoformat(), "hours": "2", "note": "cohort and tables"}),
        ("deliver", {}),
        ("invoice", {}),
    ]
    states = []
    for action, fields in steps:
        answer = _act(api, token, order_id, action, **fields)
        assert answer.status_code == 303, (action, answer.status_code, answer.text[-2000:])
        assert answer.headers["location"] == f"/staff/orders/{order_id}?done={action}"
        states.append(_state(api.client.get(answer.headers["location"]).text))
    assert states == [
        "estimated",
        "accepted",
        "in progress",
        "in progress",
        "in progress",
        "delivered",
        "invoiced",
    ]

    seen = api.get(f"/v1/orders/{order_id}", api.customer).json()  # the customer sees the same order
    assert seen["state"] == "invoiced" and seen["logged_hours"] == "2.00" and len(seen["release_ids"]) == 1
    invoice = api.get(f"/v1/invoices/{seen['invoice_id']}", api.customer).json()
    assert invoice["order_id"] == order_id
    page = api.client.get(f"/staff/orders/{order_id}")
    assert f'<dd id="order-invoice">{seen["invoice_id"]}</dd>' in page.text
    assert f'href="/releases/{seen["release_ids"][0]}"' in page.text
    # recorded as the staff key acting for the customer
    events = api.get(f"/v1/orders/{order_id}/events", api.customer).json()
    assert all(
        f"for org:{api.customer.organisation_id}" in e["actor"] for e in events if e["to_state"] != "accepted"
    )
    records = api.get("/v1/audit/records", api.auditor, params={"action": "order.invoiced"}).json()["items"]
    assert [r["organisation_id"] for r in records] == [api.customer.organisation_id]


def test_the_board_acts_for_one_organisation(api):
    token = sign_in(api, api.staff)
    mine = _place_order(api, token, title="For customer A")
    theirs = _place_order(api, token, title="For customer B", organisation_id=api.foreign.organisation_id)
    board = api.client.get("/staff").text
    assert f"/staff/orders/{mine}" in board and f"/staff/orders/{theirs}" in board
    acting = api.client.get("/staff", params={"organisation_id": api.foreign.organisation_id}).text
    assert f"/staff/orders/{theirs}" in acting and f"/staff/orders/{mine}" not in acting
    assert "Acting for Customer B" in acting
    assert api.client.get("/staff", params={"organisation_id": "org_nobody"}).status_code == 404


def test_refusals_are_shown_at_the_form_and_change_nothing(api):
    token = sign_in(api, api.staff)
    order_id = _place_order(api, token)
    illegal = _act(api, token, order_id, "start")  # a requested order cannot start
    assert illegal.status_code == 409
    assert "the order is requested; it cannot become in_progress" in _error(illegal.text, "start-form")
    bad_hours = _act(api, token, order_id, "estimate", hours="lots")
    assert bad_hours.status_code == 422
    assert "valid decimal" in _error(bad_hours.text, "estimate-hours")
    assert 'value="lots"' in bad_hours.text  # what was sent stays in the form
    unsigned = api.client.post(f"/staff/orders/{order_id}/decline", data={"reason": "no"})
    assert unsigned.status_code == 403 and "security token" in unsigned.text
    assert _state(api.client.get(f"/staff/orders/{order_id}").text) == "requested"

    no_title = api.client.post(
        "/staff/orders", data={"csrf_token": token, "organisation_id": "", "title": "", "request_text": "x"}
    )
    assert no_title.status_code == 422
    assert "choose the organisation" in _error(no_title.text, "new-organisation_id")
    assert _error(no_title.text, "new-title")


def test_monthly_invoicing_issues_a_closed_month(data_api):
    api = data_api
    assert api.post("/v1/queries/runs", api.customer, json=cohort()).status_code == 201  # a line dated now
    now = dt.datetime.now(dt.UTC).date()
    month = {"year": str(now.year), "month": str(now.month)}
    token = sign_in(api, api.staff)
    early = api.client.post("/staff/invoices", data={"csrf_token": token, **month})
    assert early.status_code == 422 and "has not ended" in _error(early.text, "invoice-month")

    set_today(api.service, (now.replace(day=1) + dt.timedelta(days=32)).replace(day=2))  # the month closed
    board = api.client.get("/staff").text
    assert (
        f'name="month" type="number" min="1" max="12" value="{now.month}"' in board
    )  # last month by default
    issued = api.client.post("/staff/invoices", data={"csrf_token": token, **month})
    assert issued.status_code == 200
    rows = re.search(r'<table id="issued-invoices">.*?<tbody>(.*?)</tbody>', issued.text, re.S).group(1)
    invoices = api.get("/v1/invoices", api.customer).json()["items"]
    assert len(invoices) == 1 and invoices[0]["id"] in rows and "Customer A" in rows


def test_a_customer_cannot_use_the_board(api):
    token = sign_in(api, api.customer)
    answer = api.client.post(
        "/staff/orders",
        data={
            "csrf_token": token,
            "organisation_id": api.customer.organisation_id,
            "title": "t",
            "request_text": "x",
        },
    )
    assert answer.status_code == 403 and "Not for your role" in answer.text
    assert api.client.get("/staff/orders/anything").status_code == 403
