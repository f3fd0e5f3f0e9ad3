"""Bespoke orders: customers ask for work, staff estimate it, run it on the same engine, and invoice it.

States, and who moves an order on (the service checks roles; billing checks states):

    requested    → estimated (staff estimate), declined (staff), cancelled (customer)
    estimated    → estimated (staff re-estimate), accepted (customer, while the quote is valid),
                   expired (system, quote past valid_until), cancelled (customer)
    expired      → estimated (staff re-estimate), cancelled (customer)
    accepted     → in_progress (staff), cancelled (customer)
    in_progress  → delivered (staff)
    delivered    → invoiced (staff)
    invoiced, declined, cancelled: final

An estimate is hours × the segment's hourly rate plus fixed-price elements, stored as a quote valid for
28 days. While in_progress, staff log hours and the service attaches each release run for the order by
writing its invoice line with ``order_id`` (``billing.ledger.charge_release(..., order_id=...)``). The
order is invoiced once, as a whole: logged hours × the estimate's hourly rate, the fixed elements, and
the attached releases. Every transition writes an ``order_events`` row (who, when, from, to). An illegal
transition raises ``IllegalTransition`` (409) naming the transitions allowed from the current state.

The customer pays for no work it has not agreed to: logged hours never exceed the accepted estimate's
hours (``EstimateExceeded``, 409). Work beyond it needs a change order: staff estimate again while the
order is in_progress, and the revised estimate applies once the customer accepts it (``accept_order``
again; the order stays in_progress). Hours are logged for days that have come, and an order delivered
with neither hours nor releases needs a note saying why. ``docs/orders.md`` describes the lifecycle.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billing.errors import Conflict, IllegalTransition, InvalidBillingInput, NotFound, QuoteExpired
from billing.invoicing import (
    INVOICE_SERIES,
    checked_issue_date,
    issue_invoice_for_lines,
    lock_number_series,
    today_of,
)
from billing.models import (
    HourLog,
    Invoice,
    InvoiceLine,
    IssuedQuote,
    Order,
    OrderEvent,
    format_invoice_number,
    utc_now,
)
from billing.money import is_whole_ore, to_ore, vat_on
from billing.pricing import PriceList
from billing.quotes import validity_end

TRANSITIONS: dict[str, frozenset[str]] = {
    "requested": frozenset({"estimated", "declined", "cancelled"}),
    "estimated": frozenset({"estimated", "accepted", "expired", "cancelled"}),
    "expired": frozenset({"estimated", "cancelled"}),
    "accepted": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset({"delivered"}),
    "delivered": frozenset({"invoiced"}),
    "invoiced": frozenset(),
    "declined": frozenset(),
    "cancelled": frozenset(),
}
STATES = tuple(TRANSITIONS)
MAX_HOURS_PER_LOG = Decimal("24")


@dataclass(frozen=True)
class FixedElement:
    """A fixed-price part of an estimate, e.g. "data management plan review", net DKK."""

    description: str
    net_amount: Decimal


class OrderEventPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    actor: str
    occurred_at: datetime
    from_state: str | None
    to_state: str
    note: str | None


class HourLogPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    staff_id: str
    work_date: date
    hours: Decimal
    note: str | None


class FixedElementPublic(BaseModel):
    description: str
    net_amount: Decimal


class ChangeOrderPublic(BaseModel):
    """A revised estimate for an order in progress, waiting for the customer's acceptance."""

    quote_id: str
    hours: Decimal
    hourly_rate: Decimal
    fixed_elements: list[FixedElementPublic]
    net_amount: Decimal
    valid_until: date


class EstimateExceeded(Conflict):
    """Logging these hours would bill more than the customer accepted; a change order is needed."""


class OrderPublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    organisation_id: str
    segment: str
    title: str
    request_text: str
    draft_query: dict[str, Any] | None
    state: str
    allowed_transitions: list[str]
    created_at: datetime
    updated_at: datetime
    estimated_hours: Decimal | None
    hourly_rate: Decimal | None
    fixed_elements: list[FixedElementPublic]
    quote_id: str | None
    estimate_net_amount: Decimal | None
    estimate_valid_until: date | None
    change_order: ChangeOrderPublic | None  # a revised estimate waiting for the customer
    logged_hours: Decimal
    release_ids: list[str]
    invoice_id: str | None  # the invoice's number, once invoiced
    events: list[OrderEventPublic]
    hour_logs: list[HourLogPublic]


def allowed_transitions(state: str) -> list[str]:
    return sorted(TRANSITIONS[state])


# --- loading and transitions --------------------------------------------------------------------


def get_order(session: Session, order_id: str, organisation_id: str | None = None) -> Order:
    """The order (another organisation's order is reported as not found)."""
    order = session.get(Order, order_id)
    if order is None or (organisation_id is not None and order.organisation_id != organisation_id):
        raise NotFound("order", order_id)
    return order


def _lock_order(session: Session, order_id: str, organisation_id: str | None) -> Order:
    """Load the order for a state change, locked until the caller's transaction ends.

    PostgreSQL: SELECT ... FOR UPDATE. SQLite: a no-op UPDATE first takes the single write lock, so the
    state read next is the latest committed one and no concurrent transition can interleave.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(
            update(Order)
            .where(Order.id == order_id)
            .values(state=Order.state)
            .execution_options(synchronize_session=False)
        )
    order = session.scalars(
        select(Order).where(Order.id == order_id).with_for_update().execution_options(populate_existing=True)
    ).one_or_none()
    if order is None or (organisation_id is not None and order.organisation_id != organisation_id):
        raise NotFound("order", order_id)
    return order


def _transition(
    session: Session, order: Order, to_state: str, actor: str, now: datetime, note: str | None = None
) -> None:
    if to_state not in TRANSITIONS[order.state]:
        raise IllegalTransition(order.id, order.state, to_state, allowed_transitions(order.state))
    _add_event(session, order, actor, now, note, to_state)
    order.state = to_state
    order.updated_at = now
    session.flush()


def _add_event(
    session: Session, order: Order, actor: str, now: datetime, note: str | None, to_state: str
) -> None:
    session.add(
        OrderEvent(
            order_id=order.id,
            actor=actor,
            occurred_at=now,
            from_state=order.state,
            to_state=to_state,
            note=note,
        )
    )


def _record(session: Session, order: Order, actor: str, now: datetime, note: str) -> None:
    """An event that changes the order but not its state (a change order, its acceptance)."""
    _add_event(session, order, actor, now, note, order.state)
    order.updated_at = now
    session.flush()


def _actor(actor: str) -> str:
    if not actor or not actor.strip():
        raise InvalidBillingInput("every order event names who made it (actor)")
    return actor


# --- the workflow -------------------------------------------------------------------------------


def request_order(
    session: Session,
    organisation_id: str,
    segment: str,
    title: str,
    request_text: str,
    actor: str,
    *,
    draft_query: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> Order:
    """A customer asks for bespoke work (free text, optionally a draft query as JSON)."""
    now = now or utc_now()
    PriceList.load().segment(segment)  # an unknown segment is refused now, not at estimate time
    if not title.strip() or not request_text.strip():
        raise InvalidBillingInput("an order needs a title and a description of the work")
    if draft_query is not None and not isinstance(draft_query, dict):
        raise InvalidBillingInput("a draft query is a JSON object")
    order = Order(
        id=str(uuid.uuid4()),
        organisation_id=organisation_id,
        segment=segment,
        title=title,
        request_text=request_text,
        draft_query=draft_query,
        state="requested",
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    session.add(
        OrderEvent(
            order_id=order.id, actor=_actor(actor), occurred_at=now, from_state=None, to_state="requested"
        )
    )
    session.flush()
    return order


def estimate_order(
    session: Session,
    order_id: str,
    actor: str,
    hours: Decimal,
    fixed_elements: list[FixedElement] | tuple[FixedElement, ...] = (),
    *,
    note: str | None = None,
    price_list: PriceList | None = None,
    now: datetime | None = None,
) -> IssuedQuote:
    """Staff estimate hours and fixed elements; the result is a quote valid for 28 days.

    Allowed from requested, estimated (a revised estimate replaces the previous one) and expired. On an
    order in progress it is a change order: the revised estimate waits beside the accepted one until
    the customer accepts it (``accept_order``), and covers at least the hours already logged.
    """
    now = now or utc_now()
    price_list = price_list or PriceList.load()
    if not isinstance(hours, Decimal) or hours < 0 or hours != hours.quantize(Decimal("0.01")):
        raise InvalidBillingInput(
            f"estimated hours must be a non-negative Decimal with 2 decimals, got {hours!r}"
        )
    for element in fixed_elements:
        if not element.description.strip():
            raise InvalidBillingInput("a fixed element needs a description")
        if (
            not isinstance(element.net_amount, Decimal)
            or element.net_amount < 0
            or not is_whole_ore(element.net_amount)
        ):
            raise InvalidBillingInput(
                f"fixed element amounts are whole-øre Decimals, got {element.net_amount!r}"
            )
    if hours == 0 and not fixed_elements:
        raise InvalidBillingInput("an estimate needs hours or fixed elements")
    order = _lock_order(session, order_id, None)
    is_change_order = order.state == "in_progress"
    if not is_change_order and "estimated" not in TRANSITIONS[order.state]:
        raise IllegalTransition(order.id, order.state, "estimated", allowed_transitions(order.state))
    if is_change_order:
        logged = logged_hours(session, order.id)
        if hours < logged:
            raise InvalidBillingInput(
                f"order {order.id} already has {logged} h logged; a revised estimate cannot cover fewer",
                field="hours",
                valid=f"at least {logged}",
            )
    rate = price_list.hourly_rate(order.segment)
    net = to_ore(hours * rate) + sum((element.net_amount for element in fixed_elements), Decimal("0.00"))
    vat = vat_on(net)
    quote = IssuedQuote(
        id=str(uuid.uuid4()),
        kind="order",
        organisation_id=order.organisation_id,
        segment=order.segment,
        price_list_version=price_list.version,
        order_id=order.id,
        description=(
            f"{'Change order' if is_change_order else 'Bespoke order'}: {order.title} "
            f"({hours} h × {rate} + {len(fixed_elements)} fixed element(s))"
        ),
        net_amount=net,
        vat_amount=vat,
        gross_amount=net + vat,
        created_at=now,
        valid_until=validity_end(now, price_list),
    )
    session.add(quote)
    elements = [
        {"description": element.description, "net_amount": str(element.net_amount)}
        for element in fixed_elements
    ]
    if is_change_order:
        order.change_order = {
            "quote_id": quote.id,
            "hours": str(hours),
            "hourly_rate": str(rate),
            "fixed_elements": elements,
        }
        summary = f"change order {quote.id}: {hours} h, {net} DKK net, waiting for the customer's acceptance"
        _record(session, order, _actor(actor), now, f"{summary}; {note}" if note else summary)
        return quote
    order.estimated_hours = hours
    order.hourly_rate = rate
    order.fixed_elements = elements
    order.quote_id = quote.id
    _transition(session, order, "estimated", _actor(actor), now, note)
    return quote


def accept_order(
    session: Session,
    order_id: str,
    actor: str,
    *,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> Order:
    """The customer accepts the estimate, while its quote is valid (else QuoteExpired, 409).

    On an order in progress with a change order, the customer accepts the revised estimate: it becomes
    the order's estimate (hours, rate, fixed elements, quote) and the order stays in progress.
    """
    now = now or utc_now()
    order = _lock_order(session, order_id, organisation_id)
    if order.state == "in_progress" and order.change_order:
        return _accept_change_order(session, order, _actor(actor), now)
    if order.state == "estimated":
        quote = session.get(IssuedQuote, order.quote_id)
        if quote is None or now.date() > quote.valid_until:
            valid_until = quote.valid_until.isoformat() if quote else "?"
            raise QuoteExpired(
                f"the estimate for order {order.id} was valid until {valid_until}; ask for a new one"
            )
    _transition(session, order, "accepted", _actor(actor), now)
    if order.quote_id:
        session.execute(
            update(IssuedQuote)
            .where(IssuedQuote.id == order.quote_id)
            .values(used_at=now)
            .execution_options(synchronize_session=False)
        )
    return order


def _accept_change_order(session: Session, order: Order, actor: str, now: datetime) -> Order:
    change = order.change_order or {}
    quote = session.get(IssuedQuote, change["quote_id"])
    if quote is None or now.date() > quote.valid_until:
        valid_until = quote.valid_until.isoformat() if quote else "?"
        raise QuoteExpired(
            f"the change order for order {order.id} was valid until {valid_until}; ask for a new one"
        )
    order.estimated_hours = Decimal(change["hours"])
    order.hourly_rate = Decimal(change["hourly_rate"])
    order.fixed_elements = change["fixed_elements"]
    order.quote_id = quote.id
    order.change_order = None
    quote.used_at = now
    _record(session, order, actor, now, f"change order {quote.id} accepted: {quote.net_amount} DKK net")
    return order


def start_order(session: Session, order_id: str, actor: str, *, now: datetime | None = None) -> Order:
    order = _lock_order(session, order_id, None)
    _transition(session, order, "in_progress", _actor(actor), now or utc_now())
    return order


def deliver_order(
    session: Session, order_id: str, actor: str, *, note: str | None = None, now: datetime | None = None
) -> Order:
    """Staff deliver the work. Without logged hours or releases nothing shows the work was done, so
    the delivery then needs a note saying why (e.g. only the fixed elements were ordered)."""
    order = _lock_order(session, order_id, None)
    if (
        order.state == "in_progress"
        and logged_hours(session, order.id) == 0
        and not order_release_lines(session, order.id)
        and not (note and note.strip())
    ):
        raise InvalidBillingInput(
            f"order {order.id} has no hours logged and no releases; delivering it needs a note saying why",
            field="note",
            valid="a note explaining what was delivered without hours or releases",
        )
    _transition(session, order, "delivered", _actor(actor), now or utc_now(), note)
    return order


def decline_order(
    session: Session, order_id: str, actor: str, reason: str, *, now: datetime | None = None
) -> Order:
    """Staff decline a request (e.g. the work cannot be done within disclosure rules)."""
    if not reason.strip():
        raise InvalidBillingInput("declining an order needs a reason")
    order = _lock_order(session, order_id, None)
    _transition(session, order, "declined", _actor(actor), now or utc_now(), reason)
    return order


def cancel_order(
    session: Session,
    order_id: str,
    actor: str,
    *,
    reason: str | None = None,
    organisation_id: str | None = None,
    now: datetime | None = None,
) -> Order:
    """The customer withdraws the order (possible until work starts)."""
    order = _lock_order(session, order_id, organisation_id)
    _transition(session, order, "cancelled", _actor(actor), now or utc_now(), reason)
    return order


def expire_orders(session: Session, today: date, *, actor: str = "system") -> list[Order]:
    """Move estimated orders whose quote ended before ``today`` to expired."""
    statement = (
        select(Order.id)
        .join(IssuedQuote, IssuedQuote.id == Order.quote_id)
        .where(Order.state == "estimated", IssuedQuote.valid_until < today)
        .order_by(Order.created_at)
    )
    expired = []
    for order_id in list(session.scalars(statement)):
        order = _lock_order(session, order_id, None)
        if order.state == "estimated":  # re-checked under the lock
            _transition(
                session, order, "expired", actor, utc_now(), f"estimate not accepted by {today.isoformat()}"
            )
            expired.append(order)
    return expired


def log_hours(
    session: Session,
    order_id: str,
    staff_id: str,
    work_date: date,
    hours: Decimal,
    *,
    note: str | None = None,
    now: datetime | None = None,
) -> HourLog:
    """Record staff hours on an order in progress (0.01 to 24 hours per entry), for a day that has
    come (``now``: the caller's clock), within the hours of the accepted estimate."""
    if not isinstance(hours, Decimal) or not Decimal("0") < hours <= MAX_HOURS_PER_LOG:
        raise InvalidBillingInput(f"hours must be a Decimal in (0, 24], got {hours!r}")
    if hours != hours.quantize(Decimal("0.01")):
        raise InvalidBillingInput(f"hours are logged to the hundredth, got {hours}")
    today = today_of(now)
    if work_date > today:
        raise InvalidBillingInput(
            f"work date {work_date.isoformat()} is in the future (today is {today.isoformat()})",
            field="work_date",
            valid=f"a date up to {today.isoformat()}",
        )
    order = _lock_order(session, order_id, None)
    if order.state != "in_progress":
        raise IllegalTransition(
            order.id, order.state, "in_progress (to log hours)", allowed_transitions(order.state)
        )
    accepted = order.estimated_hours or Decimal("0.00")
    logged = logged_hours(session, order.id)
    if logged + hours > accepted:
        raise EstimateExceeded(
            f"order {order.id}: the customer accepted {accepted} h and {logged} h are logged, so "
            f"{hours} h more would bill work the customer has not agreed to. Request a revised "
            "estimate (a change order: estimate the order again) and log the hours once the customer "
            "has accepted it",
            field="hours",
            valid=f"at most {max(accepted - logged, Decimal('0.00'))} until a revised estimate is accepted",
        )
    entry = HourLog(
        order_id=order.id,
        staff_id=_actor(staff_id),
        work_date=work_date,
        hours=hours,
        note=note,
        created_at=now or utc_now(),
    )
    session.add(entry)
    session.flush()
    return entry


def logged_hours(session: Session, order_id: str) -> Decimal:
    # summed in Python: each value is an exact Decimal read through FixedPoint
    return sum(session.scalars(select(HourLog.hours).where(HourLog.order_id == order_id)), Decimal("0.00"))


def order_release_lines(session: Session, order_id: str) -> list[InvoiceLine]:
    statement = (
        select(InvoiceLine)
        .where(InvoiceLine.order_id == order_id, InvoiceLine.kind == "release")
        .order_by(InvoiceLine.created_at, InvoiceLine.id)
    )
    return list(session.scalars(statement))


def invoice_order(
    session: Session,
    order_id: str,
    actor: str,
    *,
    issue_date: date | None = None,
    now: datetime | None = None,
) -> Invoice:
    """One invoice for the whole delivered order: logged hours × rate, fixed elements, releases."""
    now = now or utc_now()
    lock_number_series(session, INVOICE_SERIES)  # serialises with every other invoicing
    order = _lock_order(session, order_id, None)
    if "invoiced" not in TRANSITIONS[order.state]:
        raise IllegalTransition(order.id, order.state, "invoiced", allowed_transitions(order.state))
    lines: list[InvoiceLine] = []
    hours = logged_hours(session, order.id)
    rate = order.hourly_rate or Decimal("0.00")
    if hours > 0:
        lines.append(
            InvoiceLine(
                organisation_id=order.organisation_id,
                kind="staff_hours",
                order_id=order.id,
                description=f"Staff work on order '{order.title}'",
                quantity=hours,
                unit_price=rate,
                net_amount=to_ore(hours * rate),
                created_at=now,
            )
        )
    for element in order.fixed_elements or []:
        amount = Decimal(element["net_amount"])
        lines.append(
            InvoiceLine(
                organisation_id=order.organisation_id,
                kind="fixed_element",
                order_id=order.id,
                description=element["description"],
                quantity=Decimal("1.00"),
                unit_price=amount,
                net_amount=amount,
                created_at=now,
            )
        )
    session.add_all(lines)
    session.flush()
    lines.extend(line for line in order_release_lines(session, order.id) if line.invoice_id is None)
    if not lines:
        raise InvalidBillingInput(
            f"order {order.id} has nothing to invoice (no hours, fixed elements or releases)"
        )
    invoice = issue_invoice_for_lines(
        session, order.organisation_id, lines, checked_issue_date(issue_date, now), order_id=order.id
    )
    _transition(session, order, "invoiced", _actor(actor), now, f"invoice {invoice.display_number}")
    return invoice


# --- reading ------------------------------------------------------------------------------------


def list_orders(session: Session, organisation_id: str) -> list[Order]:
    statement = (
        select(Order).where(Order.organisation_id == organisation_id).order_by(Order.created_at, Order.id)
    )
    return list(session.scalars(statement))


def order_public(session: Session, order: Order) -> OrderPublic:
    quote = session.get(IssuedQuote, order.quote_id) if order.quote_id else None
    invoice_number = session.scalar(select(Invoice.number).where(Invoice.order_id == order.id))
    return OrderPublic(
        id=order.id,
        organisation_id=order.organisation_id,
        segment=order.segment,
        title=order.title,
        request_text=order.request_text,
        draft_query=order.draft_query,
        state=order.state,
        allowed_transitions=allowed_transitions(order.state),
        created_at=order.created_at,
        updated_at=order.updated_at,
        estimated_hours=order.estimated_hours,
        hourly_rate=order.hourly_rate,
        fixed_elements=[
            FixedElementPublic(description=e["description"], net_amount=Decimal(e["net_amount"]))
            for e in order.fixed_elements or []
        ],
        quote_id=order.quote_id,
        estimate_net_amount=quote.net_amount if quote else None,
        estimate_valid_until=quote.valid_until if quote else None,
        change_order=_change_order_public(session, order),
        logged_hours=logged_hours(session, order.id),
        release_ids=[line.release_id for line in order_release_lines(session, order.id) if line.release_id],
        invoice_id=format_invoice_number(invoice_number) if invoice_number is not None else None,
        events=[OrderEventPublic.model_validate(event) for event in order.events],
        hour_logs=[HourLogPublic.model_validate(entry) for entry in order.hour_logs],
    )


def _change_order_public(session: Session, order: Order) -> ChangeOrderPublic | None:
    change = order.change_order
    if not change:
        return None
    quote = session.get(IssuedQuote, change["quote_id"])
    if quote is None:
        return None
    return ChangeOrderPublic(
        quote_id=quote.id,
        hours=Decimal(change["hours"]),
        hourly_rate=Decimal(change["hourly_rate"]),
        fixed_elements=[
            FixedElementPublic(description=e["description"], net_amount=Decimal(e["net_amount"]))
            for e in change["fixed_elements"]
        ],
        net_amount=quote.net_amount,
        valid_until=quote.valid_until,
    )
