"""Billing hooks on the release path (``POST /v1/queries/runs``): run with a stored quote, or run for a
bespoke order in progress. Both are checked here before anything runs, so a customer gets the 404/409
at once, and again by billing inside the release transaction (a quote used by a concurrent run fails
the later run; nothing is released or charged for it)."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from fastapi import Query

from billing.errors import Conflict, QuoteAlreadyUsed
from billing.models import utc_now
from billing.orders import get_order
from billing.quotes import check_quote_for_run, get_quote
from statservice.api.deps import Principal
from statservice.core.errors import Forbidden
from statservice.pipeline import Prepared
from statservice.service import Service

STAFF_ROLES = ("staff", "admin")

QuoteIdParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="run with this stored quote (`POST /v1/quotes`): the release is charged exactly the "
        "quoted price; 409 if the quote expired, was used, or was for another query shape",
        examples=["5b0f3c9e-8f7e-4a55-9d7e-1c2b3a4d5e6f"],
    ),
]
OrderIdParam = Annotated[
    str | None,
    Query(
        max_length=64,
        description="staff: run for this bespoke order (state in_progress), acting for the order's "
        "organisation; the release is attached to the order and invoiced with it",
        examples=["0c7d2c1e-3a4b-4c5d-8e9f-a0b1c2d3e4f5"],
    ),
]


def run_principal(service: Service, principal: Principal, order_id: str | None) -> Principal:
    """Who a run is for: with an order, staff act for the order's organisation (recorded as both)."""
    if order_id is None:
        return principal
    if principal.role not in STAFF_ROLES:
        raise Forbidden("only staff run queries on a bespoke order")
    with service.db.session() as session:
        order = get_order(session, order_id, principal.visible_organisation())
        if order.state != "in_progress":
            raise Conflict(
                f"queries run on order {order_id} only while it is in_progress (it is {order.state})"
            )
        organisation_id = order.organisation_id
    return dataclasses.replace(principal, organisation_id=organisation_id)


def attach(
    service: Service,
    principal: Principal,
    prepared: Prepared,
    *,
    quote_id: str | None = None,
    order_id: str | None = None,
) -> Prepared:
    """The prepared run with its quote and order, after checking the quote can pay for it."""
    if quote_id is not None:
        with service.db.session() as session:
            quote = get_quote(session, quote_id, principal.organisation_id)
            if quote.used_at is not None:
                raise QuoteAlreadyUsed(f"quote {quote.id} has already paid for a run")
            check_quote_for_run(
                quote, principal.organisation_id, prepared.priced, prepared.segment, utc_now().date()
            )
    if quote_id is None and order_id is None:
        return prepared
    return dataclasses.replace(prepared, quote_id=quote_id, order_id=order_id)
