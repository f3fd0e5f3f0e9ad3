"""The organisation's pages beside the builder (SQLite and PostgreSQL): invoices and credit notes with
their files, the privacy budget with both ledgers. Each shows what the API answers the same key."""

from __future__ import annotations

import re

from disclosure.stores import degraded_scope, organisation_scope
from statservice.db.models import PrivacyLedgerRow
from tests.service.test_billing_documents_http import issued_invoice
from tests.service.test_web_pages import sign_in


def test_invoices_and_credit_notes_are_listed_with_the_apis_files(api):
    invoice = issued_invoice(api)
    note = api.post(
        f"/v1/invoices/{invoice['id']}/credit-notes", api.staff, json={"reason": "goodwill"}
    ).json()
    sign_in(api, api.customer)
    page = api.client.get("/invoices")
    assert page.status_code == 200
    row = re.search(rf"<th scope=\"row\">{invoice['id']}</th>(.*?)</tr>", page.text, re.S).group(1)
    gross = f"{float(invoice['gross_total']):,.2f}"
    assert gross in row and invoice["due_date"] in row
    assert note["id"] in page.text and "goodwill" in page.text
    for suffix in ("csv", "pdf", "xml"):
        for kind, number in (("invoices", invoice["id"]), ("credit-notes", note["id"])):
            assert f'href="/{kind}/{number}.{suffix}"' in page.text
            mine = api.client.get(f"/{kind}/{number}.{suffix}")
            theirs = api.get(f"/v1/{kind}/{number}.{suffix}", api.customer)
            assert mine.status_code == 200 and mine.headers["content-type"] == theirs.headers["content-type"]
            if suffix != "pdf":  # a PDF carries the time it was made
                assert mine.content == theirs.content
            else:
                assert mine.content.startswith(b"%PDF")

    api.client.cookies.clear()
    sign_in(api, api.foreign)  # another organisation sees neither
    other = api.client.get("/invoices").text
    assert invoice["id"] not in other and note["id"] not in other and "No invoices yet" in other
    assert api.client.get(f"/invoices/{invoice['id']}.csv").status_code == 404
    assert api.client.get(f"/credit-notes/{note['id']}.pdf").status_code == 404


def test_the_budget_page_shows_both_ledgers_as_the_api(data_api):
    service = data_api.service
    organisation = data_api.customer.organisation_id
    with service.db.write() as session:
        scope = organisation_scope(organisation)
        session.add(PrivacyLedgerRow(data_version=service.data_version, scope=scope, rho_spent=0.0125))
        session.add(
            PrivacyLedgerRow(data_version=service.data_version, scope=degraded_scope(scope), rho_spent=0.003)
        )
    budget = data_api.get("/v1/budgets", data_api.customer).json()
    assert budget["rho_spent"] == 0.0125 and budget["degraded_rho_spent"] == 0.003
    sign_in(data_api, data_api.customer)
    page = data_api.client.get("/budget").text
    sections = re.findall(r'<section class="ledger".*?</section>', page, re.S)
    assert len(sections) == 2
    for section, prefix in zip(sections, ("rho", "degraded_rho"), strict=True):
        shown = dict(re.findall(r"<dt>(\w+)</dt><dd>([^<]+)</dd>", section))
        assert float(shown["Limit"]) == budget[f"{prefix}_limit"]
        assert float(shown["Spent"]) == budget[f"{prefix}_spent"]
        assert float(shown["Remaining"]) == budget[f"{prefix}_remaining"]
    assert "degraded" not in page.lower()  # the auditor's word, not the customer's
    assert budget["data_version"] in page


def test_the_account_pages_are_not_for_auditors(api):
    sign_in(api, api.auditor)
    for path in ("/invoices", "/budget"):
        answer = api.client.get(path)
        assert answer.status_code == 403 and "Not for your role" in answer.text
