"""Stored quotes: a binding price for a query, valid 28 days, that pays for exactly one run
(``POST /v1/queries/runs?quote_id=...`` charges exactly the quoted price). ``POST /v1/queries/quote``
prices a query without committing to anything; ``POST /v1/quotes`` prices it the same way (the same
``pipeline.prepare``) and stores the quote. Bespoke orders' estimates are quotes too (kind ``order``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query
from sqlalchemy import func, select

from billing.models import IssuedQuote
from billing.quotes import IssuedQuotePublic, get_quote, issue_quote
from statservice import pipeline
from statservice.api.deps import BuyerPrincipal, CurrentPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.routes.queries import QueryBody, prepare_for, refusal_warnings_public
from statservice.api.schemas import Page, RefusalWarnings

router = APIRouter(prefix="/quotes", tags=["quotes"], responses=problems(503))

QuoteId = Annotated[str, Path(max_length=64, examples=["5b0f3c9e-8f7e-4a55-9d7e-1c2b3a4d5e6f"])]


class StoredQuotePublic(IssuedQuotePublic, RefusalWarnings):
    """A stored quote as issued, with what would refuse its run today (not stored: budgets change)."""


@router.post(
    "",
    status_code=201,
    response_model=StoredQuotePublic,
    summary="Issue a stored quote for a query (valid 28 days, pays for one run)",
    description="Validates and prices the query like `POST /v1/queries/quote`, then stores the price with "
    "its privacy cost. Run with `POST /v1/queries/runs?quote_id=<id>` to be charged exactly this price. "
    "`would_refuse` and `warnings` say, as of now, whether the run would be refused (privacy budget).",
)
def create_quote(query: QueryBody, principal: BuyerPrincipal, service: ServiceDep) -> StoredQuotePublic:
    segment = pipeline.segment_of(service, principal.organisation_id)
    prepared = prepare_for(service, principal, query, segment)
    title = getattr(prepared.query, "title", None)
    with service.db.session() as session:
        warnings = pipeline.refusal_warnings(service, session, principal.organisation_id, prepared)
    with service.db.write() as session:
        quote = issue_quote(
            session,
            principal.organisation_id,
            prepared.priced,
            segment,
            prepared.rho if prepared.rho > 0 else None,
            description=f"{prepared.priced.result_kind} analysis" + (f": {title}" if title else ""),
            price_list=service.price_list,
        )
        return StoredQuotePublic(
            **IssuedQuotePublic.model_validate(quote).model_dump(), **refusal_warnings_public(warnings)
        )


@router.get("", response_model=Page[IssuedQuotePublic], summary="Quotes of the caller's organisation")
def list_quotes(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[IssuedQuotePublic]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(IssuedQuote.organisation_id == visible)
    total = session.execute(select(func.count()).select_from(IssuedQuote).where(*conditions)).scalar_one()
    rows = session.scalars(
        select(IssuedQuote)
        .where(*conditions)
        .order_by(IssuedQuote.created_at.desc(), IssuedQuote.id)
        .limit(limit)
        .offset(offset)
    )
    return Page[IssuedQuotePublic](
        items=[IssuedQuotePublic.model_validate(q) for q in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{quote_id}", response_model=IssuedQuotePublic, summary="One quote")
def get_one_quote(quote_id: QuoteId, principal: CurrentPrincipal, session: SessionDep) -> IssuedQuotePublic:
    return IssuedQuotePublic.model_validate(get_quote(session, quote_id, principal.visible_organisation()))
