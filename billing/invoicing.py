"""Invoices and credit notes: gapless numbers, monthly invoicing, immutability.

Numbering. Each series (``invoice``, ``credit_note``) is one row of ``billing_invoice_number_sequence``.
A document takes its number under that row's lock, in the transaction that writes the document:
PostgreSQL locks the row with ``SELECT ... FOR UPDATE``; SQLite has a single writer, and we take its
write lock first (a no-op UPDATE of the counter) so no other writer can interleave. If the transaction
rolls back, so does the counter: numbers have no gaps and no duplicates, also under concurrent
invoicing. The lock is held until the caller commits, so commit promptly.

Monthly invoices. ``issue_monthly_invoices(session, year, month)`` puts every not yet invoiced line
created before the end of the month (and not belonging to a bespoke order, which is invoiced as a whole)
on one invoice per organisation. The counter lock is taken before the lines are read, so two concurrent
runs cannot put one line on two invoices; a line committed after a run read the lines waits for the next
run. Running it again for the same month invoices only lines that arrived since: no line is billed twice.

Amounts. An invoice's net total is the sum of its (øre-rounded) lines; VAT is computed once on that net
total and rounded half up to øre (``billing.money``).

Immutability. An issued invoice, its lines and a credit note are never updated or deleted through the
ORM (``AlreadyInvoiced``, 409); corrections are credit notes, which reference the invoice and carry
their own number.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import event, inspect, select, update
from sqlalchemy.orm import Session

from billing.errors import AlreadyInvoiced, Conflict, InvalidBillingInput, NotFound
from billing.identifiers import cvr_problem, ean_problem
from billing.ledger import InvoiceLinePublic
from billing.models import (
    BillingAccount,
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceNumberSequence,
    format_invoice_number,
    utc_now,
)
from billing.money import STANDARD_VAT_RATE, is_whole_ore, vat_on
from billing.seller import Seller

INVOICE_SERIES = "invoice"
CREDIT_NOTE_SERIES = "credit_note"


# A document has one public identifier: its number as printed on it (F0000001, K0000001), which is
# also its URL, its CSV document_number and its UBL cbc:ID. The database's integer key stays inside.
# Read from a row, the identifier comes from its number; read back from JSON, from "id" itself.


class CreditNotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(
        validation_alias=AliasChoices("display_number", "id"),
        description="the credit note number as printed on it; also its URL: /v1/credit-notes/K0000001",
        examples=["K0000001"],
    )
    invoice_id: str = Field(
        validation_alias=AliasChoices("invoice_number", "invoice_id"),
        description="the number of the invoice it credits",
        examples=["F0000001"],
    )
    organisation_id: str
    issue_date: date
    reason: str
    currency: str
    vat_rate: Decimal
    net_total: Decimal
    vat_amount: Decimal
    gross_total: Decimal
    created_at: datetime


class InvoicePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(
        validation_alias=AliasChoices("display_number", "id"),
        description="the invoice number as printed on it; also its URL: /v1/invoices/F0000001",
        examples=["F0000001"],
    )
    organisation_id: str
    issue_date: date
    due_date: date
    period_year: int | None
    period_month: int | None
    order_id: str | None
    currency: str
    vat_rate: Decimal
    net_total: Decimal
    vat_amount: Decimal
    gross_total: Decimal
    created_at: datetime
    lines: list[InvoiceLinePublic]
    credit_notes: list[CreditNotePublic]


# --- immutability -------------------------------------------------------------------------------


@event.listens_for(Invoice, "before_update")
@event.listens_for(CreditNote, "before_update")
def _refuse_document_update(_mapper: Any, _connection: Any, target: Invoice | CreditNote) -> None:
    changed = _changed_columns(target)
    if changed:
        raise AlreadyInvoiced(
            f"{type(target).__name__} {target.display_number} is issued and cannot change "
            f"({', '.join(changed)}); issue a credit note instead"
        )


@event.listens_for(Invoice, "before_delete")
@event.listens_for(CreditNote, "before_delete")
def _refuse_document_delete(_mapper: Any, _connection: Any, target: Invoice | CreditNote) -> None:
    raise AlreadyInvoiced(f"{type(target).__name__} {target.display_number} is issued and cannot be deleted")


def _changed_columns(target: object) -> list[str]:
    state = inspect(target)
    return [attr.key for attr in state.mapper.column_attrs if state.attrs[attr.key].history.has_changes()]


@event.listens_for(InvoiceLine, "before_update")
def _refuse_invoiced_line_update(_mapper: Any, _connection: Any, target: InvoiceLine) -> None:
    changed = _changed_columns(target)
    if not changed:
        return
    if "invoice_id" in changed:
        # being put on an invoice is the one change allowed, and only to a line not yet invoiced
        previous = list(inspect(target).attrs.invoice_id.history.deleted)
        was_invoiced = bool(previous) and previous[0] is not None
    else:
        was_invoiced = target.invoice_id is not None
    if was_invoiced:
        raise AlreadyInvoiced(f"invoice line {target.id} is on an issued invoice and cannot change")


@event.listens_for(InvoiceLine, "before_delete")
def _refuse_invoiced_line_delete(_mapper: Any, _connection: Any, target: InvoiceLine) -> None:
    if target.invoice_id is not None:
        raise AlreadyInvoiced(f"invoice line {target.id} is on an issued invoice and cannot be deleted")


# --- numbering ----------------------------------------------------------------------------------


def lock_number_series(session: Session, series: str) -> int:
    """Lock a number series for the rest of the transaction and return its next number."""
    if session.get_bind().dialect.name == "sqlite":
        # SQLite: become the single writer before reading anything, so reads see every committed document
        session.execute(
            update(InvoiceNumberSequence)
            .where(InvoiceNumberSequence.series == series)
            .values(next_number=InvoiceNumberSequence.next_number)
            .execution_options(synchronize_session=False)
        )
    number = session.scalar(
        select(InvoiceNumberSequence.next_number)
        .where(InvoiceNumberSequence.series == series)
        .with_for_update()
    )
    if number is None:
        raise NotFound("number series", series)
    return number


def take_number(session: Session, series: str) -> int:
    """The next number of ``series``; the counter advances in the caller's transaction."""
    number = lock_number_series(session, series)
    session.execute(
        update(InvoiceNumberSequence)
        .where(InvoiceNumberSequence.series == series)
        .values(next_number=number + 1)
        .execution_options(synchronize_session=False)
    )
    return number


# --- issuing ------------------------------------------------------------------------------------


def buyer_snapshot(session: Session, organisation_id: str) -> dict[str, Any]:
    """Buyer details as they are now, copied onto the document so it never changes afterwards."""
    account = session.get(BillingAccount, organisation_id)
    if account is None:
        return {"organisation_id": organisation_id, "legal_name": organisation_id, "country_code": "DK"}
    return {
        "organisation_id": organisation_id,
        "legal_name": account.legal_name,
        "cvr": account.cvr,
        "street": account.street,
        "city": account.city,
        "postal_code": account.postal_code,
        "country_code": account.country_code,
        "email": account.email,
        "ean": account.ean,
    }


def set_billing_account(
    session: Session,
    organisation_id: str,
    legal_name: str,
    *,
    cvr: str | None = None,
    street: str | None = None,
    city: str | None = None,
    postal_code: str | None = None,
    country_code: str = "DK",
    email: str | None = None,
    ean: str | None = None,
) -> BillingAccount:
    """Create or replace who an organisation's future invoices are addressed to. A CVR number must
    pass its modulus-11 check and an EAN (GLN) number its GS1 check digit."""
    if cvr is not None and (problem := cvr_problem(cvr)):
        raise InvalidBillingInput(problem, field="cvr", valid="8 digits passing the modulus-11 check")
    if ean is not None and (problem := ean_problem(ean)):
        raise InvalidBillingInput(problem, field="ean", valid="13 digits ending in their GS1 check digit")
    if len(country_code) != 2 or not country_code.isalpha() or not country_code.isupper():
        raise InvalidBillingInput(f"country code must be ISO 3166-1 alpha-2, got {country_code!r}")
    account = session.get(BillingAccount, organisation_id) or BillingAccount(organisation_id=organisation_id)
    account.legal_name = legal_name
    account.cvr = cvr
    account.street = street
    account.city = city
    account.postal_code = postal_code
    account.country_code = country_code
    account.email = email
    account.ean = ean
    session.add(account)
    session.flush()
    return account


def issue_invoice_for_lines(
    session: Session,
    organisation_id: str,
    lines: list[InvoiceLine],
    issue_date: date,
    *,
    period: tuple[int, int] | None = None,
    order_id: str | None = None,
) -> Invoice:
    """Put ``lines`` (not yet invoiced, all of one organisation) on a new numbered invoice.

    Call with the invoice series locked if the lines were selected in this transaction (as
    ``issue_monthly_invoices`` does), so no concurrent run invoices the same lines.
    """
    if not lines:
        raise InvalidBillingInput("an invoice needs at least one line")
    for line in lines:
        if line.organisation_id != organisation_id:
            raise InvalidBillingInput(
                f"line {line.id} belongs to {line.organisation_id}, not {organisation_id}"
            )
        if line.invoice_id is not None:
            raise AlreadyInvoiced(f"line {line.id} is already on invoice {line.invoice_id}")
    net_total = sum((line.net_amount for line in lines), Decimal("0.00"))
    vat_amount = vat_on(net_total, STANDARD_VAT_RATE)
    number = take_number(session, INVOICE_SERIES)
    invoice = Invoice(
        number=number,
        organisation_id=organisation_id,
        issue_date=issue_date,
        due_date=issue_date + timedelta(days=Seller.load().payment_terms_days),
        period_year=period[0] if period else None,
        period_month=period[1] if period else None,
        order_id=order_id,
        currency="DKK",
        vat_rate=STANDARD_VAT_RATE,
        net_total=net_total,
        vat_amount=vat_amount,
        gross_total=net_total + vat_amount,
        buyer=buyer_snapshot(session, organisation_id),
        created_at=utc_now(),
    )
    session.add(invoice)
    session.flush()
    for line in lines:
        line.invoice_id = invoice.id
    session.flush()
    session.refresh(invoice, ["lines"])
    return invoice


def today_of(now: datetime | None = None) -> date:
    """Today (UTC) by the caller's clock, billing's own clock if none is given."""
    return (now or utc_now()).astimezone(UTC).date()


def checked_issue_date(issue_date: date | None, now: datetime | None = None) -> date:
    """The issue date asked for (default today); a document is never dated in the future, where it
    would claim an event (a closed month, a delivery) that has not happened yet."""
    today = today_of(now)
    if issue_date is None:
        return today
    if issue_date > today:
        raise InvalidBillingInput(
            f"issue date {issue_date.isoformat()} is in the future (today is {today.isoformat()})",
            field="issue_date",
            valid=f"a date up to {today.isoformat()}",
        )
    return issue_date


def month_bounds(year: int, month: int) -> tuple[datetime, datetime]:
    """[first instant, first instant of the next month) in UTC."""
    if not 1 <= month <= 12 or not 2000 <= year <= 9999:
        raise InvalidBillingInput(f"no such month: {year}-{month}")
    start = datetime(year, month, 1, tzinfo=UTC)
    end = start + timedelta(days=calendar.monthrange(year, month)[1])
    return start, end


def issue_monthly_invoices(
    session: Session,
    year: int,
    month: int,
    *,
    issue_date: date | None = None,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> list[Invoice]:
    """One invoice per organisation for its not yet invoiced lines up to the end of the month.

    Organisations without such lines get no invoice. Lines of bespoke orders are left for the order's
    own invoice. Writes in the caller's transaction; the caller commits. A month is invoiced only once
    it has ended, on an issue date that is not in the future (``now``: the caller's clock).
    """
    _, end = month_bounds(year, month)
    asked_date = issue_date
    issue_date = checked_issue_date(issue_date, now)
    if issue_date < end.date():
        raise InvalidBillingInput(
            f"{year}-{month:02d} has not ended on {issue_date.isoformat()}; "
            f"it can be invoiced from {end.date().isoformat()}",
            field="month" if asked_date is None else "issue_date",
            valid=f"a month that has ended, issued on a date from {end.date().isoformat()} to today",
        )
    lock_number_series(session, INVOICE_SERIES)
    statement = (
        select(InvoiceLine)
        .where(
            InvoiceLine.invoice_id.is_(None),
            InvoiceLine.order_id.is_(None),
            InvoiceLine.created_at < end,
        )
        .order_by(InvoiceLine.organisation_id, InvoiceLine.created_at, InvoiceLine.id)
    )
    if organisation_id is not None:
        statement = statement.where(InvoiceLine.organisation_id == organisation_id)
    by_organisation: dict[str, list[InvoiceLine]] = defaultdict(list)
    for line in session.scalars(statement):
        by_organisation[line.organisation_id].append(line)
    return [
        issue_invoice_for_lines(session, organisation, lines, issue_date, period=(year, month))
        for organisation, lines in sorted(by_organisation.items())
    ]


def credited_so_far(invoice: Invoice) -> tuple[Decimal, Decimal]:
    net = sum((note.net_total for note in invoice.credit_notes), Decimal("0.00"))
    vat = sum((note.vat_amount for note in invoice.credit_notes), Decimal("0.00"))
    return net, vat


def issue_credit_note(
    session: Session,
    invoice_id: int,
    reason: str,
    *,
    net_amount: Decimal | None = None,
    issue_date: date | None = None,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> CreditNote:
    """Credit ``net_amount`` (default: all not yet credited) of an issued invoice, with its own number.

    VAT on a credit note is computed on its net amount like an invoice's; the credit note that credits
    the last remaining øre takes the remaining VAT, so a fully credited invoice nets to exactly zero.
    It is dated today by default (``now``: the caller's clock), never in the future and never before
    the invoice it credits.
    """
    if not reason.strip():
        raise InvalidBillingInput("a credit note needs a reason")
    issue_date = checked_issue_date(issue_date, now)
    number = lock_number_series(
        session, CREDIT_NOTE_SERIES
    )  # also serialises concurrent credits of one invoice
    invoice = get_invoice(session, invoice_id, organisation_id)
    session.refresh(invoice, ["credit_notes"])
    credited_net, credited_vat = credited_so_far(invoice)
    remaining = invoice.net_total - credited_net
    amount = remaining if net_amount is None else net_amount
    if not isinstance(amount, Decimal) or not is_whole_ore(amount) or amount <= 0:
        raise InvalidBillingInput(f"a credit note credits a positive whole-øre amount, got {amount}")
    if amount > remaining:
        raise Conflict(
            f"invoice {invoice.display_number} has {remaining} DKK left to credit; cannot credit {amount}"
        )
    if issue_date < invoice.issue_date:
        raise Conflict(
            f"invoice {invoice.display_number} is dated {invoice.issue_date.isoformat()}; a credit note "
            f"for it cannot be dated {issue_date.isoformat()}, before it",
            field="issue_date",
            valid=f"a date from {invoice.issue_date.isoformat()}",
        )
    vat_amount = (
        invoice.vat_amount - credited_vat if amount == remaining else vat_on(amount, invoice.vat_rate)
    )
    take_number(session, CREDIT_NOTE_SERIES)
    note = CreditNote(
        number=number,
        invoice_id=invoice.id,
        organisation_id=invoice.organisation_id,
        issue_date=issue_date,
        reason=reason,
        currency=invoice.currency,
        vat_rate=invoice.vat_rate,
        net_total=amount,
        vat_amount=vat_amount,
        gross_total=amount + vat_amount,
        buyer=invoice.buyer,
        created_at=utc_now(),
    )
    session.add(note)
    session.flush()
    return note


# --- reading ------------------------------------------------------------------------------------


def get_invoice(session: Session, invoice_id: int, organisation_id: str | None = None) -> Invoice:
    invoice = session.get(Invoice, invoice_id)
    if invoice is None or (organisation_id is not None and invoice.organisation_id != organisation_id):
        raise NotFound("invoice", invoice_id)
    return invoice


def get_invoice_by_number(
    session: Session, display_number: str, organisation_id: str | None = None
) -> Invoice:
    invoice = session.scalar(select(Invoice).where(Invoice.number == _parse_number(display_number)))
    if invoice is None or (organisation_id is not None and invoice.organisation_id != organisation_id):
        raise NotFound("invoice", display_number)
    return invoice


def _parse_number(display_number: str) -> int:
    digits = display_number.removeprefix("F")
    if not digits.isdigit() or format_invoice_number(int(digits)) != display_number:
        raise NotFound("invoice", display_number)
    return int(digits)


def list_invoices(session: Session, organisation_id: str) -> list[Invoice]:
    statement = select(Invoice).where(Invoice.organisation_id == organisation_id).order_by(Invoice.number)
    return list(session.scalars(statement))


def invoices_for_month(session: Session, organisation_id: str, year: int, month: int) -> list[Invoice]:
    statement = (
        select(Invoice)
        .where(
            Invoice.organisation_id == organisation_id,
            Invoice.period_year == year,
            Invoice.period_month == month,
        )
        .order_by(Invoice.number)
    )
    return list(session.scalars(statement))


def list_credit_notes(session: Session, organisation_id: str) -> list[CreditNote]:
    statement = (
        select(CreditNote).where(CreditNote.organisation_id == organisation_id).order_by(CreditNote.number)
    )
    return list(session.scalars(statement))
