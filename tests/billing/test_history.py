"""An organisation's purchase history, in date order, against SQLite and PostgreSQL."""

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from billing.history import HistoryEntryPublic, customer_history, history_sort_key
from billing.invoicing import issue_credit_note, issue_monthly_invoices
from billing.ledger import charge_release
from billing.orders import (
    accept_order,
    cancel_order,
    deliver_order,
    estimate_order,
    invoice_order,
    log_hours,
    request_order,
    start_order,
)
from billing.pricing import PricedShape
from billing.quotes import issue_quote

SHAPE = PricedShape("attrition", registers=2, cells=15, differential_privacy=False)
T0 = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)


def test_history_lists_everything_of_one_organisation_in_date_order(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=T0)
    issue_quote(billing_session, "org-b", SHAPE, "start_up", None, now=T0)  # someone else's
    charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="start_up",
        description="attrition table",
        quote_id=quote.id,
        now=T0 + timedelta(hours=1),
    )
    order = request_order(
        billing_session,
        "org-a",
        "start_up",
        "Custom cohort",
        "Please build...",
        actor="ann",
        now=T0 - timedelta(days=1),
    )
    (invoice,) = issue_monthly_invoices(
        billing_session, 2026, 3, issue_date=date(2026, 4, 1), organisation_id="org-a"
    )
    issue_credit_note(
        billing_session, invoice.id, "goodwill", net_amount=Decimal("10.00"), issue_date=date(2026, 4, 2)
    )
    billing_session.commit()

    history = customer_history(billing_session, "org-a")
    assert [entry.kind for entry in history] == ["order", "quote", "invoice_line", "invoice", "credit_note"]
    assert history == sorted(history, key=history_sort_key)
    by_kind = {entry.kind: entry for entry in history}
    assert by_kind["order"].id == order.id and by_kind["order"].status == "requested"
    assert by_kind["quote"].status == "used" and by_kind["quote"].references["release_id"] == "rel-1"
    assert by_kind["invoice_line"].net_amount == quote.net_amount
    assert by_kind["invoice_line"].references == {
        "release_id": "rel-1",
        "quote_id": quote.id,
        "invoice_id": "F0000001",
    }
    assert by_kind["invoice"].gross_amount == invoice.gross_total
    assert by_kind["credit_note"].net_amount == Decimal("-10.00")
    assert by_kind["credit_note"].references["invoice_id"] == "F0000001"
    assert all(entry.occurred_at.tzinfo is not None for entry in history)
    assert customer_history(billing_session, "org-nobody") == []
    # JSON-ready for the API
    assert history[1].model_dump(mode="json")["net_amount"] == str(quote.net_amount)


def test_history_window_and_merging_with_service_entries(billing_session):
    for day in range(5):
        issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=T0 + timedelta(days=day))
    window = customer_history(
        billing_session, "org-a", since=T0 + timedelta(days=1), until=T0 + timedelta(days=3)
    )
    assert [entry.occurred_at for entry in window] == [T0 + timedelta(days=1), T0 + timedelta(days=2)]
    release = HistoryEntryPublic(
        occurred_at=T0 + timedelta(days=1, hours=1), kind="release", id="rel-x", description="r"
    )
    merged = sorted([*window, release], key=history_sort_key)
    assert [entry.kind for entry in merged] == ["quote", "release", "quote"]


def test_an_order_shows_what_it_will_cost_then_what_it_cost(billing_session):
    def entry(order_id):
        (found,) = [e for e in customer_history(billing_session, "org-a") if e.id == order_id]
        return found.net_amount, found.gross_amount, found.amount_basis

    order = request_order(billing_session, "org-a", "public_research", "Cohort", "text", actor="ann", now=T0)
    assert entry(order.id) == (None, None, "not estimated yet")
    quote = estimate_order(billing_session, order.id, "staff", Decimal("4.00"), now=T0)
    assert entry(order.id) == (Decimal("5060.00"), Decimal("6325.00"), "estimate, not accepted")
    accept_order(billing_session, order.id, "ann", now=T0)
    start_order(billing_session, order.id, "staff", now=T0)
    assert entry(order.id) == (quote.net_amount, quote.gross_amount, "accepted estimate")
    log_hours(billing_session, order.id, "staff", T0.date(), Decimal("2.50"), now=T0)
    deliver_order(billing_session, order.id, "staff", now=T0)
    invoice = invoice_order(billing_session, order.id, "staff", now=T0)
    assert entry(order.id) == (Decimal("3162.50"), invoice.gross_total, "invoiced")
    (found,) = [e for e in customer_history(billing_session, "org-a") if e.id == order.id]
    assert found.references["invoice_id"] == invoice.display_number

    cancelled = request_order(
        billing_session, "org-a", "public_research", "Other", "text", actor="ann", now=T0
    )
    estimate_order(billing_session, cancelled.id, "staff", Decimal("1.00"), now=T0)
    cancel_order(billing_session, cancelled.id, "ann", now=T0)
    assert entry(cancelled.id) == (Decimal("0.00"), Decimal("0.00"), "nothing billed")
