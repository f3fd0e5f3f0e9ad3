"""Bespoke orders: a customer asks for work (free text, optionally a draft query); staff estimate hours
and fixed elements (a quote valid 28 days); the customer accepts; staff start, run queries on the order
through the release pipeline (``POST /v1/orders/{id}/runs``, the same path as ``POST /v1/queries/runs``),
log hours and deliver; staff invoice the order as a whole.

States and who moves them are billing's (``billing.orders``); an illegal transition is a 409 problem
naming the current state and the transitions allowed from it. Staff actions are recorded as both the
staff key and the customer organisation ("key:... (staff, org:...) for org:...")."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from sqlalchemy import func, select

from billing import orders
from billing.invoicing import InvoicePublic
from billing.models import Order
from billing.orders import FixedElement, HourLogPublic, OrderEventPublic, OrderPublic
from statservice import pipeline
from statservice.api import billing_audit
from statservice.api.billing_schemas import (
    HourLogCreate,
    OrderCreate,
    OrderDecline,
    OrderEstimateCreate,
    OrderInvoiceCreate,
    OrderNote,
)
from statservice.api.deps import (
    BuyerPrincipal,
    CurrentPrincipal,
    Principal,
    ServiceDep,
    SessionDep,
    StaffPrincipal,
)
from statservice.api.openapi import problems
from statservice.api.routes import queries
from statservice.api.routes.invoices import stored
from statservice.api.schemas import Page, ReleasePublic, RunPublic
from statservice.core.errors import Forbidden

router = APIRouter(prefix="/orders", tags=["orders"], responses=problems(409))

OrderId = Annotated[str, Path(max_length=64, examples=["0c7d2c1e-3a4b-4c5d-8e9f-a0b1c2d3e4f5"])]


def for_order(principal: Principal, order: Order) -> Principal:
    """The principal acting for the order's organisation: its ``actor`` names both."""
    return dataclasses.replace(principal, organisation_id=order.organisation_id)


def _done(
    session, principal: Principal, order: Order, payload: dict | None = None, action: str | None = None
) -> OrderPublic:
    """Audit the change just made (``order.<new state>`` unless named) and answer with the order."""
    billing_audit.record(
        session,
        for_order(principal, order),
        order.organisation_id,
        action or f"order.{order.state}",
        {"order_id": order.id, **(payload or {})},
    )
    return orders.order_public(session, order)


def _visible(session, principal: Principal, order_id: str) -> Order:
    return orders.get_order(session, order_id, principal.visible_organisation())


def _customer_side(session, principal: Principal, order_id: str) -> Order:
    """Customer actions (accept, cancel; ``BuyerPrincipal``): the order's organisation, or staff acting
    for it."""
    return orders.get_order(session, order_id, principal.organisation_id)


@router.post(
    "",
    status_code=201,
    response_model=OrderPublic,
    summary="Ask for bespoke work",
    description="Free text and, optionally, a draft query. Staff answer with an estimate. Staff place an "
    "order for a customer by acting for it (X-Act-For-Organisation).",
)
def request_order(
    body: Annotated[OrderCreate, Body()], principal: BuyerPrincipal, service: ServiceDep
) -> OrderPublic:
    if principal.role != "customer" and not principal.acting_for:
        raise Forbidden("staff place an order for a customer by acting for it (X-Act-For-Organisation)")
    segment = pipeline.segment_of(service, principal.organisation_id)
    with service.db.write() as session:
        order = orders.request_order(
            session,
            principal.organisation_id,
            segment,
            body.title,
            body.request_text,
            principal.actor,
            draft_query=body.draft_query,
            now=service.clock(),
        )
        return _done(session, principal, order, {"title": body.title})


@router.get("", response_model=Page[OrderPublic], summary="Bespoke orders of the caller's organisation")
def list_orders(
    principal: CurrentPrincipal,
    session: SessionDep,
    state: Annotated[str | None, Query(max_length=16, examples=["estimated"])] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[OrderPublic]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(Order.organisation_id == visible)
    if state is not None:
        conditions.append(Order.state == state)
    total = session.execute(select(func.count()).select_from(Order).where(*conditions)).scalar_one()
    rows = session.scalars(
        select(Order)
        .where(*conditions)
        .order_by(Order.created_at.desc(), Order.id)
        .limit(limit)
        .offset(offset)
    ).all()
    return Page[OrderPublic](
        items=[orders.order_public(session, o) for o in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{order_id}", response_model=OrderPublic, summary="One order: state, estimate, hours, releases")
def get_order(order_id: OrderId, principal: CurrentPrincipal, session: SessionDep) -> OrderPublic:
    return orders.order_public(session, _visible(session, principal, order_id))


@router.get(
    "/{order_id}/events", response_model=list[OrderEventPublic], summary="Who moved the order, when, how"
)
def order_events(
    order_id: OrderId, principal: CurrentPrincipal, session: SessionDep
) -> list[OrderEventPublic]:
    order = _visible(session, principal, order_id)
    return [OrderEventPublic.model_validate(event) for event in order.events]


@router.post(
    "/{order_id}/estimate",
    response_model=OrderPublic,
    summary="Staff: estimate hours and fixed elements (a quote valid 28 days)",
    description="From requested, estimated (a revised estimate replaces the previous one) or expired. "
    "On an order in_progress it is a change order: a revised estimate (at least the hours already "
    "logged) that applies once the customer accepts it with `POST /v1/orders/{id}/accept`; the order "
    "stays in_progress.",
)
def estimate(
    order_id: OrderId,
    body: Annotated[OrderEstimateCreate, Body()],
    principal: StaffPrincipal,
    service: ServiceDep,
) -> OrderPublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        is_change_order = order.state == "in_progress"
        quote = orders.estimate_order(
            session,
            order.id,
            for_order(principal, order).actor,
            body.hours,
            [FixedElement(e.description, e.net_amount) for e in body.fixed_elements],
            note=body.note,
            price_list=service.price_list,
            now=service.clock(),
        )
        return _done(
            session,
            principal,
            order,
            {"quote_id": quote.id, "hours": str(body.hours), "net_amount": str(quote.net_amount)},
            "order.change_order" if is_change_order else None,
        )


@router.post(
    "/{order_id}/accept",
    response_model=OrderPublic,
    summary="Customer: accept the estimate (while its quote is valid)",
    description="Also accepts a change order (a revised estimate of an order in_progress), which then "
    "becomes the order's estimate.",
)
def accept(order_id: OrderId, principal: BuyerPrincipal, service: ServiceDep) -> OrderPublic:
    with service.db.write() as session:
        order = _customer_side(session, principal, order_id)
        is_change_order = order.state == "in_progress"
        orders.accept_order(
            session,
            order.id,
            principal.actor,
            organisation_id=order.organisation_id,
            now=service.clock(),
        )
        return _done(
            session,
            principal,
            order,
            {"quote_id": order.quote_id},
            "order.change_order_accepted" if is_change_order else None,
        )


@router.post("/{order_id}/cancel", response_model=OrderPublic, summary="Customer: withdraw the order")
def cancel(
    order_id: OrderId,
    principal: BuyerPrincipal,
    service: ServiceDep,
    body: Annotated[OrderNote | None, Body()] = None,
) -> OrderPublic:
    with service.db.write() as session:
        order = _customer_side(session, principal, order_id)
        orders.cancel_order(
            session,
            order.id,
            principal.actor,
            reason=body.note if body else None,
            organisation_id=order.organisation_id,
            now=service.clock(),
        )
        return _done(session, principal, order)


@router.post("/{order_id}/decline", response_model=OrderPublic, summary="Staff: decline a request")
def decline(
    order_id: OrderId, body: Annotated[OrderDecline, Body()], principal: StaffPrincipal, service: ServiceDep
) -> OrderPublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        orders.decline_order(
            session, order.id, for_order(principal, order).actor, body.reason, now=service.clock()
        )
        return _done(session, principal, order, {"reason": body.reason})


@router.post(
    "/{order_id}/start", response_model=OrderPublic, summary="Staff: start work on an accepted order"
)
def start(order_id: OrderId, principal: StaffPrincipal, service: ServiceDep) -> OrderPublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        orders.start_order(session, order.id, for_order(principal, order).actor, now=service.clock())
        return _done(session, principal, order)


@router.post(
    "/{order_id}/runs",
    status_code=201,
    response_model=None,
    summary="Staff: run a query for the order (the release pipeline of POST /v1/queries/runs)",
    description="The same path as `POST /v1/queries/runs?order_id=...`: validation, disclosure control, "
    "one release transaction with audit record and invoice line. The run is the customer "
    "organisation's (scoped, budgeted, audited for it) and records the staff key; its release is "
    "attached to the order and invoiced with it. 201 with the release, 202 to poll, 409 if refused or the "
    "order is not in_progress.",
    responses={
        201: {"model": ReleasePublic, "description": "released (Location: /v1/releases/{id})"},
        202: {"model": RunPublic, "description": "accepted; poll Location (/v1/queries/runs/{id})"},
    },
)
def run_for_order(
    order_id: OrderId, query: queries.QueryBody, principal: StaffPrincipal, service: ServiceDep
):
    return queries.run_query(query, principal, service, quote_id=None, order_id=order_id)


@router.post(
    "/{order_id}/hours",
    status_code=201,
    response_model=HourLogPublic,
    summary="Staff: log hours on an order in progress",
    description="For a day up to today, and within the accepted estimate's hours: hours beyond it are "
    "a 409 until the customer accepts a revised estimate (a change order, `POST .../estimate`).",
)
def log_hours(
    order_id: OrderId, body: Annotated[HourLogCreate, Body()], principal: StaffPrincipal, service: ServiceDep
) -> HourLogPublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        entry = orders.log_hours(
            session,
            order.id,
            for_order(principal, order).actor,
            body.work_date,
            body.hours,
            note=body.note,
            now=service.clock(),
        )
        billing_audit.record(
            session,
            for_order(principal, order),
            order.organisation_id,
            "order.hours",
            {"order_id": order.id, "work_date": body.work_date.isoformat(), "hours": str(body.hours)},
        )
        return HourLogPublic.model_validate(entry)


@router.post(
    "/{order_id}/deliver",
    response_model=OrderPublic,
    summary="Staff: deliver the order",
    description="An order with no hours logged and no releases needs a note saying why (422 otherwise).",
)
def deliver(
    order_id: OrderId,
    principal: StaffPrincipal,
    service: ServiceDep,
    body: Annotated[OrderNote | None, Body()] = None,
) -> OrderPublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        orders.deliver_order(
            session,
            order.id,
            for_order(principal, order).actor,
            note=body.note if body else None,
            now=service.clock(),
        )
        return _done(session, principal, order)


@router.post(
    "/{order_id}/invoice",
    status_code=201,
    response_model=InvoicePublic,
    summary="Staff: invoice the delivered order as a whole",
    description="One invoice: logged hours × the estimate's hourly rate, the fixed elements, and the "
    "releases run for the order.",
)
def invoice(
    order_id: OrderId,
    principal: StaffPrincipal,
    service: ServiceDep,
    body: Annotated[OrderInvoiceCreate | None, Body()] = None,
) -> InvoicePublic:
    with service.db.write() as session:
        order = _visible(session, principal, order_id)
        issued = orders.invoice_order(
            session,
            order.id,
            for_order(principal, order).actor,
            issue_date=body.issue_date if body else None,
            now=service.clock(),
        )
        public = InvoicePublic.model_validate(stored(session, issued))
        _done(
            session,
            principal,
            order,
            {"invoice": public.id, "net_total": str(public.net_total)},
        )
        return public
