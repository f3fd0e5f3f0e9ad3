"""Invoice lines: what a customer owes for each release, written in the release transaction.

The service calls ``charge_release`` (or ``record_invoice_line``) with its own ``Session`` inside the
transaction that commits the release, its audit record and its privacy budget spend. So a release that
disclosure control refuses, or whose transaction rolls back, leaves no invoice line: refused queries are
never charged. A release is charged at most once (unique ``release_id``) and a quote pays for at most one
run (unique ``quote_id``, plus a conditional update that makes the second concurrent user wait and fail).

A release is charged by its outcome (``billing.pricing.ReleaseOutcome``, from its published pattern):
the full price, or the reduced price its quote or price list states for a fully suppressed or
total-only release, named on the line ("…; fully suppressed: base fee only").
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field
from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session

from billing.errors import (
    Conflict,
    InvalidBillingInput,
    NotFound,
    QuoteAlreadyUsed,
    QuoteExpired,
    QuoteMismatch,
)
from billing.models import InvoiceLine, IssuedQuote, Order, require_aware, utc_now
from billing.money import is_whole_ore, to_ore
from billing.pricing import PricedShape, PriceList, ReducedPrice, ReleaseOutcome
from billing.quotes import check_quote_for_run, get_quote, is_valid_on, stated_reduced_prices

LINE_KINDS = ("release", "staff_hours", "fixed_element")


class InvoiceLinePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    organisation_id: str
    kind: str
    release_id: str | None
    quote_id: str | None
    order_id: str | None
    description: str
    quantity: Decimal
    unit_price: Decimal
    net_amount: Decimal
    created_at: datetime
    invoice_id: str | None = Field(
        validation_alias=AliasChoices("invoice_number", "invoice_id"),
        description="the number of the invoice the line is on, once invoiced",
        examples=["F0000001"],
    )


def _check_amount(net_amount: Decimal) -> None:
    if not isinstance(net_amount, Decimal):
        raise InvalidBillingInput(f"amounts are Decimal DKK, got {type(net_amount).__name__}")
    if not net_amount.is_finite() or net_amount < 0 or not is_whole_ore(net_amount):
        raise InvalidBillingInput(f"a line amount must be a non-negative whole-øre amount, got {net_amount}")


def _order_open_for_releases(session: Session, order_id: str, organisation_id: str) -> Order:
    order = session.get(Order, order_id)
    if order is None or order.organisation_id != organisation_id:
        raise NotFound("order", order_id)
    if order.state != "in_progress":
        raise Conflict(
            f"releases can be attached to order {order_id} only while in_progress (it is {order.state})"
        )
    return order


def _use_quote(session: Session, quote: IssuedQuote, release_id: str, now: datetime) -> None:
    # Conditional update: of two runs racing for one quote, the second sees rowcount 0 (PostgreSQL
    # re-checks the predicate after the first commits; SQLite serialises the writers).
    result: CursorResult[Any] = session.execute(  # type: ignore[assignment]  # an UPDATE gives a cursor result
        update(IssuedQuote)
        .where(IssuedQuote.id == quote.id, IssuedQuote.used_at.is_(None))
        .values(used_at=now, used_by_release_id=release_id)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise QuoteAlreadyUsed(f"quote {quote.id} has already paid for a run")
    session.refresh(quote)


def record_invoice_line(
    session: Session,
    organisation_id: str,
    release_id: str | None,
    description: str,
    net_amount: Decimal | None,
    quote_id: str | None = None,
    order_id: str | None = None,
    *,
    kind: str = "release",
    quantity: Decimal = Decimal("1.00"),
    unit_price: Decimal | None = None,
    now: datetime | None = None,
) -> InvoiceLine:
    """Write one invoice line in the caller's transaction (flushed, not committed).

    With ``quote_id`` the line charges exactly the quoted net price (``net_amount`` may be None; if
    given it must equal the quote) and marks the quote used; the quote must belong to the organisation
    and still be valid. With ``order_id`` the line belongs to that bespoke order (which must be
    in_progress) and is invoiced with the order, not monthly. ``quantity`` and ``unit_price`` (e.g.
    hours and hourly rate) must multiply to ``net_amount`` after rounding to øre.
    """
    now = require_aware(now or utc_now())
    if kind not in LINE_KINDS:
        raise InvalidBillingInput(f"line kind must be one of {', '.join(LINE_KINDS)}, got {kind!r}")
    if not description.strip():
        raise InvalidBillingInput("an invoice line needs a description")
    if not isinstance(quantity, Decimal) or quantity <= 0:
        raise InvalidBillingInput(f"quantity must be a positive Decimal, got {quantity!r}")
    quote = None
    if quote_id is not None:
        quote = get_quote(session, quote_id, organisation_id)
        if quote.kind != "query":
            raise QuoteMismatch(f"quote {quote.id} is a bespoke order's estimate, not the price of a run")
        if quote.used_at is not None:
            raise QuoteAlreadyUsed(f"quote {quote.id} has already paid for a run")
        if not is_valid_on(quote, now.date()):
            raise QuoteExpired(f"quote {quote.id} was valid until {quote.valid_until.isoformat()}")
        if net_amount is None:
            net_amount = quote.net_amount
        elif net_amount != quote.net_amount and net_amount not in {
            reduced.net_amount for reduced in stated_reduced_prices(quote)
        }:
            raise QuoteMismatch(
                f"quote {quote.id} is for {quote.net_amount} DKK (or a reduced price it states), "
                f"not {net_amount}"
            )
    if net_amount is None:
        raise InvalidBillingInput("net_amount is required without a quote")
    _check_amount(net_amount)
    if unit_price is None:
        if quantity != 1:
            raise InvalidBillingInput("a line with a quantity other than 1 needs its unit price")
        unit_price = net_amount
    _check_amount(unit_price)
    if to_ore(quantity * unit_price) != net_amount:
        raise InvalidBillingInput(f"{quantity} × {unit_price} does not round to {net_amount}")
    # every check is done: only now is the quote marked used
    if order_id is not None:
        _order_open_for_releases(session, order_id, organisation_id)
    if release_id is not None:
        existing = session.scalar(select(InvoiceLine.id).where(InvoiceLine.release_id == release_id))
        if existing is not None:
            raise Conflict(f"release {release_id} is already charged (invoice line {existing})")
    if quote is not None:
        _use_quote(session, quote, release_id or "", now)
    line = InvoiceLine(
        organisation_id=organisation_id,
        kind=kind,
        release_id=release_id,
        quote_id=quote_id,
        order_id=order_id,
        description=description,
        quantity=quantity,
        unit_price=unit_price,
        net_amount=net_amount,
        created_at=now,
    )
    session.add(line)
    session.flush()
    return line


def charge_release(
    session: Session,
    *,
    organisation_id: str,
    release_id: str,
    shape: PricedShape,
    segment: str,
    description: str,
    quote_id: str | None = None,
    order_id: str | None = None,
    price_list: PriceList | None = None,
    now: datetime | None = None,
    outcome: ReleaseOutcome = ReleaseOutcome.FULL,
) -> InvoiceLine:
    """Charge one release: at its quote's price if run with a quote, else at today's list price.

    ``outcome`` (what the release published) picks the full price or the reduced price the quote or
    price list states for it; the line's description names a reduced price. Call it inside the
    release transaction, after disclosure control has released the result.
    """
    now = now or utc_now()
    outcome = ReleaseOutcome(outcome)
    if quote_id is not None:
        quote = get_quote(session, quote_id, organisation_id)
        check_quote_for_run(quote, organisation_id, shape, segment, now.date())
        reduced = next((r for r in stated_reduced_prices(quote) if r.outcome == outcome), None)
        return record_invoice_line(
            session,
            organisation_id,
            release_id,
            _described(description, reduced),
            None if reduced is None else reduced.net_amount,
            quote_id,
            order_id,
            now=now,
        )
    priced = (price_list or PriceList.load()).quote(shape, segment)
    reduced = priced.reduced_for(outcome)
    return record_invoice_line(
        session,
        organisation_id,
        release_id,
        _described(description, reduced),
        priced.net_amount_for(outcome),
        None,
        order_id,
        now=now,
    )


def _described(description: str, reduced: ReducedPrice | None) -> str:
    return description if reduced is None else f"{description}; {reduced.label}"


def uninvoiced_lines(session: Session, organisation_id: str) -> list[InvoiceLine]:
    statement = (
        select(InvoiceLine)
        .where(InvoiceLine.organisation_id == organisation_id, InvoiceLine.invoice_id.is_(None))
        .order_by(InvoiceLine.created_at, InvoiceLine.id)
    )
    return list(session.scalars(statement))
