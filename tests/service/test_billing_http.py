"""Billing over HTTP, end to end on the real app, the real engine and the real database (SQLite and
PostgreSQL): a stored quote pays exactly its price for one run, a refused query is not charged, the
month closes, staff issue the invoice, and the customer downloads it as CSV, PDF and Peppol UBL (read
back and checked); other organisations get 404 on every billing resource."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

from alembic import command
from lxml import etree
from peppol.rules import check_rules
from peppol.xsd import validate_xsd
from pypdf import PdfReader
from sqlalchemy import select

from billing.models import InvoiceLine, IssuedQuote
from billing.money import format_dkk, vat_on
from billing.pricing import PriceList
from disclosure.policy import RHO_PER_TABLE, Policy
from statservice.db.migrate import alembic_config
from statservice.db.models import QueryRun
from tests.budgets import without_degraded_budget
from tests.service.helpers import (
    assert_consistent,
    cohort,
    counts,
    distinct_cohort,
    set_today,
    with_noise,
)

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
ACCOUNT = {
    "legal_name": "Aarhus Universitet, Klinisk Epidemiologi",
    "cvr": "31119103",
    "street": "Olof Palmes Allé 43-45",
    "city": "Aarhus N",
    "postal_code": "8200",
    "email": "faktura@au.example",
}
PROBLEM = "application/problem+json"


def put(api, path, actor, **kwargs):
    return api.client.put(path, headers={**actor.headers, **kwargs.pop("headers", {})}, **kwargs)


def act_for(actor, organisation_id: str) -> dict[str, str]:
    return {**actor.headers, "X-Act-For-Organisation": organisation_id}


def next_month_start(day: dt.date) -> dt.date:
    return dt.date(day.year + day.month // 12, day.month % 12 + 1, 1)


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == status and body["detail"]
    return body


def issue_month(api, actor, day: dt.date, **extra):
    """Issue the month of ``day`` on the first day after it, which becomes billing's today."""
    set_today(api.service, next_month_start(day))
    return api.post(
        "/v1/invoices/issue",
        actor,
        json={"year": day.year, "month": day.month, "issue_date": next_month_start(day).isoformat(), **extra},
    )


def test_quote_run_refusal_month_invoice_and_downloads(data_api):
    api = data_api
    customer, staff = api.customer, api.staff
    today = dt.datetime.now(dt.UTC).date()
    account = put(api, "/v1/billing-account", customer, json=ACCOUNT)
    assert account.status_code == 200, account.text
    assert api.get("/v1/billing-account", customer).json()["cvr"] == ACCOUNT["cvr"]

    # a stored quote: the price of /v1/queries/quote, valid 28 days, money as strings
    estimate = api.post("/v1/queries/quote", customer, json=cohort()).json()
    created = api.post("/v1/quotes", customer, json=cohort())
    assert created.status_code == 201, created.text
    quote = created.json()
    assert isinstance(quote["net_amount"], str) and Decimal(quote["net_amount"]) == Decimal(
        estimate["price"]["amount"]
    )
    assert Decimal(quote["gross_amount"]) == Decimal(quote["net_amount"]) + vat_on(
        Decimal(quote["net_amount"])
    )
    assert dt.date.fromisoformat(quote["valid_until"]) == today + dt.timedelta(days=28)
    assert quote["organisation_id"] == customer.organisation_id and quote["used_at"] is None
    assert api.get(f"/v1/quotes/{quote['id']}", customer).json()["id"] == quote["id"]
    assert [q["id"] for q in api.get("/v1/quotes", customer).json()["items"]] == [quote["id"]]
    price = Decimal(quote["net_amount"])

    # the run with the quote is charged exactly the quoted price, and uses the quote up
    ran = api.post("/v1/queries/runs", customer, json=cohort(), params={"quote_id": quote["id"]})
    assert ran.status_code == 201, ran.text
    release = ran.json()
    assert Decimal(release["invoice_line"]["amount"]) == price
    used = api.get(f"/v1/quotes/{quote['id']}", customer).json()
    assert used["used_by_release_id"] == release["id"] and used["used_at"] is not None
    with api.service.db.session() as session:
        line = session.scalars(select(InvoiceLine).where(InvoiceLine.release_id == release["id"])).one()
        assert (line.quote_id, line.net_amount) == (quote["id"], price)
    before = counts(api.service)
    reused = api.post("/v1/queries/runs", customer, json=cohort(), params={"quote_id": quote["id"]})
    assert "already paid" in assert_problem(reused, 409)["detail"]
    # a quote of another shape cannot pay for this run; another organisation's quote is not found
    other_shape = api.post(
        "/v1/quotes", customer, json=cohort(title="by age", result={"kind": "cohort_count"})
    )
    assert other_shape.status_code == 201, other_shape.text
    mismatch = api.post(
        "/v1/queries/runs", customer, json=cohort(title="x"), params={"quote_id": other_shape.json()["id"]}
    )
    assert_problem(mismatch, 409)
    foreign_run = api.post("/v1/queries/runs", api.foreign, json=cohort(), params={"quote_id": quote["id"]})
    assert_problem(foreign_run, 404)
    assert counts(api.service) == before

    # a refused query is not charged, and its quote stays unused: protection refuses it, as this
    # organisation's privacy budget is less than one noisy table costs
    refused_query = with_noise(distinct_cohort(3))  # other persons: fresh noise, charged
    refused_quote = api.post("/v1/quotes", customer, json=refused_query).json()
    api.service.policy = Policy(budgets=without_degraded_budget(rho_per_organisation=RHO_PER_TABLE / 2))
    refused = api.post(
        "/v1/queries/runs", customer, json=refused_query, params={"quote_id": refused_quote["id"]}
    )
    assert "refused" in assert_problem(refused, 409)["type"]
    assert counts(api.service) == before
    assert api.get(f"/v1/quotes/{refused_quote['id']}", customer).json()["used_at"] is None

    # a run without a quote is charged the list price
    plain = api.post("/v1/queries/runs", customer, json=cohort(title="plain"))
    assert plain.status_code == 201, plain.text
    list_price = Decimal(plain.json()["invoice_line"]["amount"])
    assert list_price == Decimal(estimate["price"]["amount"])
    assert_consistent(api.service)

    # the month is not over yet: nothing can be invoiced; customers cannot issue invoices
    too_early = api.post("/v1/invoices/issue", staff, json={"year": today.year, "month": today.month})
    assert_problem(too_early, 422)
    assert_problem(issue_month(api, customer, today), 403)
    assert api.get("/v1/invoices", customer).json()["total"] == 0

    # the month closes: staff issue one invoice per organisation with lines
    issued = issue_month(api, staff, today)
    assert issued.status_code == 201, issued.text
    invoices = issued.json()["invoices"]
    assert [i["organisation_id"] for i in invoices] == [customer.organisation_id]
    invoice = invoices[0]
    assert re.fullmatch(r"F\d{7}", invoice["id"])
    assert Decimal(invoice["net_total"]) == price + list_price
    assert Decimal(invoice["gross_total"]) == price + list_price + vat_on(price + list_price)
    assert {line["release_id"] for line in invoice["lines"]} == {release["id"], plain.json()["id"]}
    assert invoice["issue_date"] == next_month_start(today).isoformat()
    # issuing again invoices nothing twice
    assert issue_month(api, staff, today).json()["invoices"] == []

    listed = api.get("/v1/invoices", customer).json()
    assert listed["total"] == 1 and listed["items"][0]["id"] == invoice["id"]
    assert api.get(f"/v1/invoices/{invoice['id']}", customer).json() == invoice
    assert api.get("/v1/invoices", api.foreign).json()["total"] == 0

    # CSV: one row per line and a total row
    got = api.get(f"/v1/invoices/{invoice['id']}.csv", customer)
    assert got.status_code == 200 and got.headers["content-type"].startswith("text/csv")
    assert f'filename="{invoice["id"]}.csv"' in got.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(got.text)))
    lines = [r for r in rows if r["row_type"] == "line"]
    (total,) = [r for r in rows if r["row_type"] == "total"]
    assert {r["release_id"] for r in lines} == {release["id"], plain.json()["id"]}
    assert sorted(Decimal(r["net_amount"]) for r in lines) == sorted([price, list_price])
    assert {r["document_number"] for r in rows} == {invoice["id"]}
    assert Decimal(total["net_amount"]) == Decimal(invoice["net_total"])
    assert Decimal(total["gross_amount"]) == Decimal(invoice["gross_total"])

    # PDF: read the text back
    got = api.get(f"/v1/invoices/{invoice['id']}.pdf", customer)
    assert got.status_code == 200 and got.headers["content-type"] == "application/pdf"
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(got.content)).pages)
    assert invoice["id"] in text
    assert format_dkk(Decimal(invoice["gross_total"])) in text
    assert ACCOUNT["cvr"] in text

    # UBL: Peppol BIS 3.0, schema-valid, totals as issued
    got = api.get(f"/v1/invoices/{invoice['id']}.xml", customer)
    assert got.status_code == 200 and got.headers["content-type"].startswith("application/xml")
    valid, errors = validate_xsd(got.content)
    assert valid, errors
    assert [str(f) for f in check_rules(got.content) if f.severity == "fatal"] == []
    tree = etree.fromstring(got.content)
    assert tree.xpath("/inv:Invoice/cbc:ID/text()", namespaces=NS) == [invoice["id"]]
    total_path = "/inv:Invoice/cac:LegalMonetaryTotal/cbc:{}/text()"
    assert Decimal(tree.xpath(total_path.format("TaxExclusiveAmount"), namespaces=NS)[0]) == Decimal(
        invoice["net_total"]
    )
    assert Decimal(tree.xpath(total_path.format("PayableAmount"), namespaces=NS)[0]) == Decimal(
        invoice["gross_total"]
    )
    assert tree.xpath("//cac:AccountingCustomerParty//cbc:EndpointID/text()", namespaces=NS) == [
        ACCOUNT["cvr"]
    ]
    assert len(tree.xpath("//cac:InvoiceLine", namespaces=NS)) == 2

    # a credit note (staff) with its own number, downloadable; more than is left is a conflict
    assert_problem(
        api.post(f"/v1/invoices/{invoice['id']}/credit-notes", customer, json={"reason": "x"}),
        403,
    )
    note = api.post(
        f"/v1/invoices/{invoice['id']}/credit-notes",
        staff,
        json={"reason": "re-run at our expense", "net_amount": "1.00"},
    )
    assert note.status_code == 201, note.text
    note = note.json()
    assert re.fullmatch(r"K\d{7}", note["id"]) and note["net_total"] == "1.00"
    too_much = api.post(
        f"/v1/invoices/{invoice['id']}/credit-notes",
        staff,
        json={"reason": "too much", "net_amount": str(Decimal(invoice["net_total"]) + 1)},
    )
    assert_problem(too_much, 409)
    assert api.get("/v1/credit-notes", customer).json()["items"][0]["id"] == note["id"]
    assert api.get(f"/v1/invoices/{invoice['id']}", customer).json()["credit_notes"][0]["id"] == note["id"]
    got = api.get(f"/v1/credit-notes/{note['id']}.xml", customer)
    assert got.status_code == 200 and validate_xsd(got.content)[0]
    assert etree.fromstring(got.content).xpath("/cn:CreditNote/cbc:ID/text()", namespaces=NS) == [note["id"]]

    # staff billing actions are in the audit chain, by key and organisation
    records = api.get(
        "/v1/audit/records", api.auditor, params={"organisation_id": customer.organisation_id, "limit": 500}
    ).json()["items"]
    by_action = {r["action"]: r for r in records}
    assert by_action["invoice.issue"]["payload"]["invoice"] == invoice["id"]
    assert by_action["invoice.issue"]["payload"]["gross_total"] == invoice["gross_total"]
    assert by_action["credit_note.issue"]["payload"]["credit_note"] == note["id"]
    assert staff.key_id in by_action["credit_note.issue"]["actor"]
    assert customer.key_id in by_action["billing_account.update"]["actor"]
    assert api.get("/v1/audit/verify", api.auditor).json()["ok"] is True

    # the history shows what was asked, quoted, received and invoiced, newest first
    history = api.get("/v1/history", customer, params={"limit": 500}).json()
    kinds = [item["kind"] for item in history["items"]]
    assert {"query_run", "quote", "invoice", "credit_note"} <= set(kinds)
    assert history["total"] == len(history["items"])
    moments = [dt.datetime.fromisoformat(item["occurred_at"]) for item in history["items"]]
    assert moments == sorted(moments, reverse=True)
    runs = {item["release_id"]: item for item in history["items"] if item["kind"] == "query_run"}
    assert runs[release["id"]]["references"]["quote_id"] == quote["id"]
    assert runs[release["id"]]["references"]["invoice_id"] == invoice["id"]
    assert "invoice_line" not in kinds  # a run's line is shown on the run
    refused_runs = [i for i in history["items"] if i["kind"] == "query_run" and i["status"] != "released"]
    assert refused_runs and all(i["price"] is None for i in refused_runs)
    # every entry says what it cost: a refused run nothing, and says so
    assert {(i["net_amount"], i["amount_basis"]) for i in refused_runs} == {("0.00", "not charged")}
    assert runs[release["id"]]["amount_basis"] == "charged"
    assert runs[release["id"]]["net_amount"] == runs[release["id"]]["price"]
    assert api.get("/v1/history", customer, params={"kind": "invoice"}).json()["total"] == 1
    assert api.get("/v1/history", api.foreign).json()["total"] == 0
    # staff see the customer's history by acting for it
    acting = api.client.get(
        "/v1/history", headers=act_for(staff, customer.organisation_id), params={"limit": 500}
    )
    assert acting.json()["total"] == history["total"]


def test_ubl_needs_the_buyer_cvr_and_staff_act_for_customers(data_api):
    api = data_api
    today = dt.datetime.now(dt.UTC).date()
    assert api.post("/v1/queries/runs", api.customer, json=cohort()).status_code == 201
    # staff acting for the customer issue only its invoice (the foreign organisation has a line too)
    assert api.post("/v1/queries/runs", api.foreign, json=cohort()).status_code == 201
    set_today(api.service, next_month_start(today))
    issued = api.client.post(
        "/v1/invoices/issue",
        headers=act_for(api.staff, api.customer.organisation_id),
        json={"year": today.year, "month": today.month, "issue_date": next_month_start(today).isoformat()},
    )
    assert issued.status_code == 201, issued.text
    (invoice,) = issued.json()["invoices"]
    assert invoice["organisation_id"] == api.customer.organisation_id
    # no billing account: CSV and PDF work, UBL explains what is missing
    assert api.get(f"/v1/invoices/{invoice['id']}.csv", api.customer).status_code == 200
    assert "CVR" in assert_problem(api.get(f"/v1/invoices/{invoice['id']}.xml", api.customer), 422)["detail"]
    # staff set the billing details for the customer by acting for it; the issued invoice keeps its buyer
    put_for = api.client.put(
        "/v1/billing-account", headers=act_for(api.staff, api.customer.organisation_id), json=ACCOUNT
    )
    assert put_for.status_code == 200 and put_for.json()["organisation_id"] == api.customer.organisation_id
    assert api.get("/v1/billing-account", api.customer).json()["legal_name"] == ACCOUNT["legal_name"]
    assert_problem(api.get("/v1/billing-account", api.foreign), 404)
    assert_problem(put(api, "/v1/billing-account", api.customer, json={**ACCOUNT, "cvr": "123"}), 422)
    # the foreign organisation's line is still waiting for its invoice
    rest = issue_month(api, api.staff, today).json()["invoices"]
    assert [i["organisation_id"] for i in rest] == [api.foreign.organisation_id]


def test_foreign_organisation_gets_404_on_every_billing_resource(data_api):
    api = data_api
    today = dt.datetime.now(dt.UTC).date()
    put(api, "/v1/billing-account", api.customer, json=ACCOUNT)
    quote = api.post("/v1/quotes", api.customer, json=cohort()).json()
    assert (
        api.post(
            "/v1/queries/runs", api.customer, json=cohort(), params={"quote_id": quote["id"]}
        ).status_code
        == 201
    )
    (invoice,) = issue_month(api, api.staff, today).json()["invoices"]
    note = api.post(
        f"/v1/invoices/{invoice['id']}/credit-notes", api.staff, json={"reason": "goodwill"}
    ).json()
    order = api.post("/v1/orders", api.customer, json={"title": "t", "request_text": "r"}).json()
    ids = {
        "invoice_id": invoice["id"],
        "credit_note_id": note["id"],
        "quote_id": quote["id"],
        "order_id": order["id"],
    }
    billing_prefixes = ("/v1/invoices", "/v1/credit-notes", "/v1/quotes", "/v1/orders")
    probed = []
    for template, operations in api.client.app.openapi()["paths"].items():
        params = re.findall(r"{(\w+)}", template)
        if not template.startswith(billing_prefixes) or not params:
            continue
        for method in sorted(operations):
            path = template
            for param in params:
                path = path.replace("{" + param + "}", ids[param])
            response = api.client.request(method.upper(), path, headers=api.foreign.headers, json={})
            # customer and any-role endpoints answer 404; staff-only ones refuse the role first
            assert response.status_code in (404, 403), (method, path, response.status_code)
            assert response.headers["content-type"] == PROBLEM
            assert api.customer.organisation_id not in response.text
            if method == "get":
                assert response.status_code == 404, (method, path)
                assert api.client.get(path, headers=api.customer.headers).status_code == 200, path
            probed.append((method, template))
    assert len({p for m, p in probed if m == "get"}) == 11 and len(probed) > 20
    # a staff key acting for the foreign organisation sees none of it either
    for path in (
        f"/v1/invoices/{invoice['id']}",
        f"/v1/orders/{order['id']}",
        f"/v1/quotes/{quote['id']}",
    ):
        response = api.client.get(path, headers=act_for(api.staff, api.foreign.organisation_id))
        assert response.status_code == 404, path
    for path in ("/v1/invoices", "/v1/credit-notes", "/v1/quotes", "/v1/orders"):
        assert api.get(path, api.foreign).json()["total"] == 0, path
        assert api.get(path, api.customer).json()["total"] == 1, path
    with api.service.db.session() as session:
        assert session.scalars(select(IssuedQuote.organisation_id)).all() == [api.customer.organisation_id]


def test_autogenerate_proposes_nothing_for_either_branch(database_url):
    """Alembic's env compares the database with the service's and billing's metadata: on a migrated
    database autogenerate proposes nothing (with only the service's, it would drop billing's tables)."""
    command.check(alembic_config(database_url))  # raises AutogenerateDiffsDetected otherwise


def test_two_runs_racing_for_one_quote_charge_it_once(data_api, monkeypatch):
    """Both runs pass the early quote check; inside the release transaction billing lets one use the
    quote and the other's transaction rolls back: one release, one 409, the quote charged once."""
    api = data_api
    quote = api.post("/v1/quotes", api.customer, json=cohort()).json()
    barrier = threading.Barrier(2, timeout=60)
    engine_run = api.service.engine.run

    def run_together(query):  # the real engine, once both runs have got past the early check
        barrier.wait()
        return engine_run(query)

    monkeypatch.setattr(api.service.engine, "run", run_together)
    before = counts(api.service)
    with ThreadPoolExecutor(2) as pool:
        responses = list(
            pool.map(
                lambda title: api.post(
                    "/v1/queries/runs",
                    api.customer,
                    json=cohort(title=title),
                    params={"quote_id": quote["id"]},
                ),
                ("first", "second"),
            )
        )
    assert sorted(r.status_code for r in responses) == [201, 409], [r.text for r in responses]
    (lost,) = [r for r in responses if r.status_code == 409]
    assert lost.headers["content-type"] == PROBLEM and "already paid" in lost.json()["detail"]
    after = counts(api.service)
    assert (
        after["releases"] == before["releases"] + 1 and after["invoice_lines"] == before["invoice_lines"] + 1
    )
    with api.service.db.session() as session:
        (line,) = session.scalars(select(InvoiceLine).where(InvoiceLine.quote_id == quote["id"])).all()
        assert line.net_amount == Decimal(quote["net_amount"])
        statuses = sorted(session.scalars(select(QueryRun.status)).all())
    assert statuses == ["failed", "released"]
    assert_consistent(api.service)


def test_a_used_quote_fails_the_run_before_protection_could_refuse_it(data_api):
    """Finding S5: a run whose quote was used after the early check (by a concurrent run) fails on the
    quote, never with protection's refusal, so it cannot learn for free whether protection would refuse."""
    from statservice import pipeline
    from statservice.api.billing_runs import attach
    from statservice.api.deps import Principal
    from statservice.api.routes.queries import requester_of

    api = data_api
    # this organisation's privacy budget pays for one noisy table: protection refuses any later one
    api.service.policy = Policy(budgets=without_degraded_budget(rho_per_organisation=RHO_PER_TABLE))
    noisy = with_noise(cohort())
    quote = api.post("/v1/quotes", api.customer, json=noisy).json()
    refused_query = with_noise(distinct_cohort(3))  # other persons: fresh noise, charged
    # the refused query passes the early quote check (same priced shape), then the quote is used up
    segment = pipeline.segment_of(api.service, api.customer.organisation_id)
    prepared = pipeline.prepare(api.service, refused_query, segment)
    customer = api.customer
    principal = Principal(customer.key_id, customer.role, customer.organisation_id, customer.organisation_id)
    prepared = attach(api.service, principal, prepared, quote_id=quote["id"])
    used = api.post("/v1/queries/runs", api.customer, json=noisy, params={"quote_id": quote["id"]})
    assert used.status_code == 201, used.text
    # without billing trouble protection refuses this query now (409 release-refused)
    assert (
        "refused"
        in assert_problem(api.post("/v1/queries/runs", api.customer, json=refused_query), 409)["type"]
    )
    before = counts(api.service)
    requester = requester_of(principal)
    run_id = pipeline.create_run(api.service, requester, prepared)
    assert pipeline.execute_run(api.service, run_id, requester, prepared) == "failed"
    with api.service.db.session() as session:
        run = session.get(QueryRun, run_id)
        problem = json.loads(run.problem_json)
    assert problem["status"] == 409 and "already paid" in problem["detail"]
    assert "refused" not in problem["type"]
    after = counts(api.service)
    assert (after["releases"], after["invoice_lines"]) == (before["releases"], before["invoice_lines"])
    assert_consistent(api.service)


# In the small registers (20,000 persons, seed 7): incident type 2 diabetes in January 2016 is 1 man and
# no woman (every cell, the total too, below the threshold). The extract generated with today's library
# versions differs from the one these months were first chosen on (cause not pinned down yet):
# a test that needs a shape of counts names them here, so a changed extract fails with a clear reason.
FULLY_SUPPRESSED = cohort(
    title="diabetes, January 2016",
    index={**cohort()["index"], "period": {"start": "2016-01-01", "end": "2016-01-31"}},
)
# A month whose incident cohort reaches k while each sex stays below it, so only the total can be
# shown (in the shared 20,000-person extract: 6 persons, 4 men and 2 women in July 2015).
TOTAL_ONLY = cohort(
    title="diabetes, July 2015",
    index={**cohort()["index"], "period": {"start": "2015-07-01", "end": "2015-07-31"}},
)
# price lists from 2026-2: cohort_count base fee 900.00, × 0.55 for the customer's segment (public_research)
BASE_FEE_ONLY = Decimal("495.00")


def test_quote_states_reduced_prices_and_suppressed_releases_pay_them(data_api):
    api = data_api
    customer, staff = api.customer, api.staff
    today = dt.datetime.now(dt.UTC).date()

    # the quote states the full price and, up front, the reduced ones and when they apply
    estimate = api.post("/v1/queries/quote", customer, json=FULLY_SUPPRESSED)
    assert estimate.status_code == 200, estimate.text
    price = estimate.json()["price"]
    full = Decimal(price["amount"])
    reduced = {r["outcome"]: r for r in price["reduced_prices"]}
    assert set(reduced) == {"fully_suppressed", "total_only"}
    assert reduced["fully_suppressed"]["label"] == "fully suppressed: base fee only"
    assert "every cell" in reduced["fully_suppressed"]["applies_when"]
    assert Decimal(reduced["fully_suppressed"]["net_amount"]) == BASE_FEE_ONLY < full
    assert BASE_FEE_ONLY < Decimal(reduced["total_only"]["net_amount"]) < full
    assert price["price_list_version"] == PriceList.in_force_on(today).version
    # a stored quote states the same prices
    stored = api.post("/v1/quotes", customer, json=FULLY_SUPPRESSED)
    assert stored.status_code == 201, stored.text
    stored = api.get(f"/v1/quotes/{stored.json()['id']}", customer).json()
    assert Decimal(stored["net_amount"]) == full
    assert {r["outcome"]: Decimal(r["net_amount"]) for r in stored["reduced_prices"]} == {
        outcome: Decimal(r["net_amount"]) for outcome, r in reduced.items()
    }

    # every cell suppressed: run with the quote, charged the quote's reduced price
    with_quote = api.post(
        "/v1/queries/runs", customer, json=FULLY_SUPPRESSED, params={"quote_id": stored["id"]}
    )
    assert with_quote.status_code == 201, with_quote.text
    release = with_quote.json()
    assert all(cell["status"] == "suppressed" for cell in release["tables"][0]["cells"])
    assert Decimal(release["invoice_line"]["amount"]) == BASE_FEE_ONLY
    assert api.get(f"/v1/quotes/{stored['id']}", customer).json()["used_by_release_id"] == release["id"]
    # without a quote: the list's reduced price
    plain = api.post("/v1/queries/runs", customer, json={**FULLY_SUPPRESSED, "title": "again"}).json()
    assert Decimal(plain["invoice_line"]["amount"]) == BASE_FEE_ONLY
    # only the total shown: the total-only price
    total_only = api.post("/v1/queries/runs", customer, json=TOTAL_ONLY)
    assert total_only.status_code == 201, total_only.text
    total_only = total_only.json()
    shown = [cell for cell in total_only["tables"][0]["cells"] if cell["status"] == "released"]
    assert [cell["coordinates"] for cell in shown] == [[None]]
    assert Decimal(total_only["invoice_line"]["amount"]) == Decimal(reduced["total_only"]["net_amount"])
    # a result that shows its strata pays the full price
    full_release = api.post("/v1/queries/runs", customer, json=cohort()).json()
    assert Decimal(full_release["invoice_line"]["amount"]) == Decimal(
        api.post("/v1/queries/quote", customer, json=cohort()).json()["price"]["amount"]
    )
    assert_consistent(api.service)

    # the auditor's record and the invoice name the reduced price
    records = api.get("/v1/audit/records", api.auditor, params={"action": "release"}).json()["items"]
    lines_audited = {r["payload"]["release_id"]: r["payload"]["invoice_line"] for r in records}
    assert lines_audited[release["id"]]["net_amount"] == str(BASE_FEE_ONLY)
    assert lines_audited[release["id"]]["description"].endswith("; fully suppressed: base fee only")
    issued = issue_month(api, staff, today)
    assert issued.status_code == 201, issued.text
    (invoice,) = issued.json()["invoices"]
    lines = {line["release_id"]: line for line in invoice["lines"]}
    for fully in (release["id"], plain["id"]):
        assert Decimal(lines[fully]["net_amount"]) == BASE_FEE_ONLY
        assert lines[fully]["description"].endswith("; fully suppressed: base fee only")
    assert lines[total_only["id"]]["description"].endswith("; total only: no table size fee")
    assert ";" not in lines[full_release["id"]]["description"]
    rows = list(csv.DictReader(io.StringIO(api.get(f"/v1/invoices/{invoice['id']}.csv", customer).text)))
    assert any(r["description"].endswith("fully suppressed: base fee only") for r in rows)
