"""What an organisation has bought: every quote, invoice line, order, invoice and credit note, in date order.

Entries are ``HistoryEntryPublic`` so the service can add its own (releases) and sort them together with
``sorted(entries, key=history_sort_key)``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import CreditNote, Invoice, InvoiceLine, IssuedQuote, Order, format_invoice_number


class HistoryEntryPublic(BaseModel):
    occurred_at: datetime
    kind: str  # quote | invoice_line | order | invoice | credit_note (the service adds release)
    id: str
    description: str
    net_amount: Decimal | None = None
    gross_amount: Decimal | None = None
    status: str | None = None  # e.g. an order's state, a quote's "used" / "valid until ..."
    references: dict[str, str] = {}
    # orders: what the amount is (ORDER_AMOUNT_BASES), as an order's cost is known in stages
    amount_basis: str | None = None


# An order's amount: what it was invoiced, else the estimate the customer accepted (what it will cost,
# since hours beyond it are refused), else the estimate offered; nothing for an order that ended
# without work, and no amount before staff have estimated it.
ORDER_AMOUNT_BASES = (
    "invoiced",
    "accepted estimate",
    "estimate, not accepted",
    "nothing billed",
    "not estimated yet",
)
ACCEPTED_STATES = frozenset({"accepted", "in_progress", "delivered", "invoiced"})
ENDED_WITHOUT_WORK = frozenset({"declined", "cancelled"})


def order_amount(
    order: Order, quote: IssuedQuote | None, invoice: Invoice | None
) -> tuple[Decimal | None, Decimal | None, str]:
    """(net, gross, basis) of what ``order`` cost or will cost."""
    if invoice is not None:
        return invoice.net_total, invoice.gross_total, "invoiced"
    if order.state in ENDED_WITHOUT_WORK:
        return Decimal("0.00"), Decimal("0.00"), "nothing billed"
    if quote is None:
        return None, None, "not estimated yet"
    if order.state in ACCEPTED_STATES:
        return quote.net_amount, quote.gross_amount, "accepted estimate"
    return quote.net_amount, quote.gross_amount, "estimate, not accepted"


def history_sort_key(entry: HistoryEntryPublic) -> tuple[datetime, str, str]:
    return (entry.occurred_at, entry.kind, entry.id)


def customer_history(
    session: Session, organisation_id: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[HistoryEntryPublic]:
    """Everything billing knows about ``organisation_id`` in [since, until), oldest first."""
    entries: list[HistoryEntryPublic] = []

    def within(column):
        conditions = []
        if since is not None:
            conditions.append(column >= since)
        if until is not None:
            conditions.append(column < until)
        return conditions

    for quote in session.scalars(
        select(IssuedQuote).where(
            IssuedQuote.organisation_id == organisation_id, *within(IssuedQuote.created_at)
        )
    ):
        status = "used" if quote.used_at else f"valid until {quote.valid_until.isoformat()}"
        references = {"price_list_version": quote.price_list_version, "segment": quote.segment}
        if quote.order_id:
            references["order_id"] = quote.order_id
        if quote.used_by_release_id:
            references["release_id"] = quote.used_by_release_id
        if quote.privacy_rho is not None:
            references["privacy_rho"] = repr(quote.privacy_rho)
        entries.append(
            HistoryEntryPublic(
                occurred_at=quote.created_at,
                kind="quote",
                id=quote.id,
                description=quote.description,
                net_amount=quote.net_amount,
                gross_amount=quote.gross_amount,
                status=status,
                references=references,
            )
        )
    invoice_numbers = {
        invoice_id: number
        for invoice_id, number in session.execute(
            select(Invoice.id, Invoice.number).where(Invoice.organisation_id == organisation_id)
        )
    }
    for line in session.scalars(
        select(InvoiceLine).where(
            InvoiceLine.organisation_id == organisation_id, *within(InvoiceLine.created_at)
        )
    ):
        references = {
            key: value
            for key, value in (
                ("release_id", line.release_id),
                ("quote_id", line.quote_id),
                ("order_id", line.order_id),
            )
            if value
        }
        if line.invoice_id is not None:
            references["invoice_id"] = format_invoice_number(invoice_numbers[line.invoice_id])
        entries.append(
            HistoryEntryPublic(
                occurred_at=line.created_at,
                kind="invoice_line",
                id=str(line.id),
                description=line.description,
                net_amount=line.net_amount,
                status="invoiced" if line.invoice_id is not None else "not yet invoiced",
                references=references,
            )
        )
    order_invoices = {
        invoice.order_id: invoice
        for invoice in session.scalars(
            select(Invoice).where(Invoice.organisation_id == organisation_id, Invoice.order_id.is_not(None))
        )
    }
    for order in session.scalars(
        select(Order).where(Order.organisation_id == organisation_id, *within(Order.created_at))
    ):
        invoice = order_invoices.get(order.id)
        order_quote = session.get(IssuedQuote, order.quote_id) if order.quote_id else None
        net, gross, basis = order_amount(order, order_quote, invoice)
        references = {"quote_id": order.quote_id} if order.quote_id else {}
        if invoice is not None:
            references["invoice_id"] = invoice.display_number
        entries.append(
            HistoryEntryPublic(
                occurred_at=order.created_at,
                kind="order",
                id=order.id,
                description=order.title,
                net_amount=net,
                gross_amount=gross,
                status=order.state,
                references=references,
                amount_basis=basis,
            )
        )
    for invoice in session.scalars(
        select(Invoice).where(Invoice.organisation_id == organisation_id, *within(Invoice.created_at))
    ):
        period = (
            f" for {invoice.period_year}-{invoice.period_month:02d}"
            if invoice.period_year and invoice.period_month
            else ""
        )
        references = {"issue_date": invoice.issue_date.isoformat(), "due_date": invoice.due_date.isoformat()}
        if invoice.order_id:
            references["order_id"] = invoice.order_id
        entries.append(
            HistoryEntryPublic(
                occurred_at=invoice.created_at,
                kind="invoice",
                id=invoice.display_number,
                description=f"Invoice {invoice.display_number}{period}",
                net_amount=invoice.net_total,
                gross_amount=invoice.gross_total,
                status="issued",
                references=references,
            )
        )
    for note in session.scalars(
        select(CreditNote).where(
            CreditNote.organisation_id == organisation_id, *within(CreditNote.created_at)
        )
    ):
        entries.append(
            HistoryEntryPublic(
                occurred_at=note.created_at,
                kind="credit_note",
                id=note.display_number,
                description=f"Credit note {note.display_number}: {note.reason}",
                net_amount=-note.net_total,
                gross_amount=-note.gross_total,
                status="issued",
                references={
                    "invoice_id": note.invoice.display_number,
                    "issue_date": note.issue_date.isoformat(),
                },
            )
        )
    return sorted(entries, key=history_sort_key)
