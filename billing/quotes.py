"""Quotes: a price given before anything runs, stored so that running with it charges exactly that.

A query quote is valid for the price list's ``quote_validity_days`` (28) days after the day it was
issued, inclusive (issued 1 March → usable through 29 March), and is used by at most one run. Days are
UTC dates.

A stored quote keeps its full price; the reduced prices it states (fully suppressed, total only) are
those of the price list version it was issued under, for its shape and segment (``stated_reduced_prices``):
price lists are immutable package data, so they are read from there rather than stored twice.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.errors import InvalidBillingInput, NotFound, QuoteExpired, QuoteMismatch
from billing.models import IssuedQuote, require_aware, utc_now
from billing.pricing import PricedShape, PriceList, Quote, ReducedPrice, ReducedPricePublic


class IssuedQuotePublic(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    organisation_id: str
    segment: str
    price_list_version: str
    result_kind: str | None
    registers: int | None
    cells: int | None
    differential_privacy: bool | None
    privacy_rho: float | None = Field(
        description="zCDP rho the run spends at most (up to): tables whose noise draws are all stored "
        "from earlier releases are not charged; None without noise"
    )
    order_id: str | None
    description: str
    net_amount: Decimal
    vat_amount: Decimal
    gross_amount: Decimal
    currency: str = "DKK"
    reduced_prices: list[ReducedPricePublic] = Field(
        default_factory=list,
        description="what the run costs instead if its release is fully suppressed or total only; "
        "empty: the full price applies whatever the release shows",
    )
    created_at: datetime
    valid_until: date
    used_at: datetime | None
    used_by_release_id: str | None


def validity_end(issued_at: datetime, price_list: PriceList) -> date:
    return issued_at.date() + timedelta(days=price_list.quote_validity_days)


def issue_quote(
    session: Session,
    organisation_id: str,
    shape: PricedShape,
    segment: str,
    privacy_rho: float | None,
    *,
    description: str | None = None,
    price_list: PriceList | None = None,
    now: datetime | None = None,
) -> IssuedQuote:
    """Price ``shape`` for ``segment`` and store the quote (in the caller's transaction).

    ``privacy_rho`` is the zCDP privacy loss the run will spend (from disclosure control), shown with
    the price so the customer sees both costs before running; None when the query asks for no DP.
    """
    if privacy_rho is not None and not privacy_rho >= 0:
        raise InvalidBillingInput(f"privacy cost rho must be >= 0, got {privacy_rho}")
    price_list = price_list or PriceList.load()
    priced: Quote = price_list.quote(shape, segment)
    issued_at = require_aware(now or utc_now())
    quote = IssuedQuote(
        id=str(uuid.uuid4()),
        kind="query",
        organisation_id=organisation_id,
        segment=segment,
        price_list_version=price_list.version,
        result_kind=shape.result_kind,
        registers=shape.registers,
        cells=shape.cells,
        differential_privacy=shape.differential_privacy,
        privacy_rho=privacy_rho,
        description=description or f"{shape.result_kind} analysis",
        net_amount=priced.net_amount,
        vat_amount=priced.vat_amount,
        gross_amount=priced.gross_amount,
        created_at=issued_at,
        valid_until=validity_end(issued_at, price_list),
    )
    session.add(quote)
    session.flush()
    return quote


def get_quote(session: Session, quote_id: str, organisation_id: str | None = None) -> IssuedQuote:
    """The quote, if it exists and (when given) belongs to ``organisation_id``; else NotFound.

    Another organisation's quote is reported as not found, so ids cannot be probed.
    """
    quote = session.get(IssuedQuote, quote_id)
    if quote is None or (organisation_id is not None and quote.organisation_id != organisation_id):
        raise NotFound("quote", quote_id)
    return quote


def list_quotes(session: Session, organisation_id: str) -> list[IssuedQuote]:
    statement = (
        select(IssuedQuote)
        .where(IssuedQuote.organisation_id == organisation_id)
        .order_by(IssuedQuote.created_at, IssuedQuote.id)
    )
    return list(session.scalars(statement))


def is_valid_on(quote: IssuedQuote, day: date) -> bool:
    return day <= quote.valid_until


def quoted_shape(quote: IssuedQuote) -> PricedShape:
    return PricedShape(
        result_kind=quote.result_kind or "",
        registers=quote.registers or 0,
        cells=quote.cells or 0,
        differential_privacy=bool(quote.differential_privacy),
    )


def stated_reduced_prices(quote: IssuedQuote) -> tuple[ReducedPrice, ...]:
    """The reduced prices a stored query quote states: its price list version's, for its shape and
    segment. None for an order's estimate (hours), and none if that list does not reprice the quote's
    full price exactly (it was priced from another list): the quoted full price then applies."""
    if quote.kind != "query":
        return ()
    try:
        priced = PriceList.load(quote.price_list_version).quote(quoted_shape(quote), quote.segment)
    except (NotFound, InvalidBillingInput):
        return ()
    if priced.net_amount != quote.net_amount:
        return ()
    return priced.reduced_prices


def check_quote_for_run(
    quote: IssuedQuote, organisation_id: str, shape: PricedShape, segment: str, today: date
) -> None:
    """Raise unless ``quote`` may pay for running a query of ``shape`` for ``organisation_id`` today."""
    if quote.organisation_id != organisation_id:
        raise NotFound("quote", quote.id)
    if quote.kind != "query":
        raise QuoteMismatch(f"quote {quote.id} is for a bespoke order, not a query run")
    quoted = quoted_shape(quote)
    if quoted != shape:
        raise QuoteMismatch(f"quote {quote.id} was for {quoted}, this run is {shape}")
    if quote.segment != segment:
        raise QuoteMismatch(f"quote {quote.id} was for segment {quote.segment}, not {segment}")
    if not is_valid_on(quote, today):
        raise QuoteExpired(f"quote {quote.id} was valid until {quote.valid_until.isoformat()}")
