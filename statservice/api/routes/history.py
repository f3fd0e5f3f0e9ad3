"""An organisation's history: every query run, released or not, with its price when charged, merged
in date order (newest first) with billing's record of it: stored quotes, bespoke orders, invoices,
credit notes, and invoice lines that are not a run's (a run's own line is folded into the run)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from billing.history import HistoryEntryPublic, customer_history
from statservice.api.billing_schemas import TimelineItem
from statservice.api.deps import CurrentPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.routes.releases import visible_finish
from statservice.api.schemas import Page
from statservice.db.models import Organisation, QueryRun, ReleaseRecord

router = APIRouter(prefix="/history", tags=["history"], responses=problems())

Kind = Literal["query_run", "quote", "invoice_line", "order", "invoice", "credit_note"]


def _billing_entries(session, visible: str | None) -> list[tuple[str, HistoryEntryPublic]]:
    organisations = [visible] if visible is not None else list(session.scalars(select(Organisation.id)))
    return [(org, entry) for org in organisations for entry in customer_history(session, org)]


def _run_amount(run: QueryRun, release: ReleaseRecord | None) -> tuple[Decimal | None, str]:
    """What a run cost: its release's price; nothing if it was refused or failed (never charged)."""
    if release is not None:
        return release.price, "charged"
    if run.status in ("refused", "failed"):
        return Decimal("0.00"), "not charged"
    return None, "not finished"


def _billing_item(organisation_id: str, entry: HistoryEntryPublic) -> TimelineItem:
    return TimelineItem(
        kind=entry.kind,
        id=entry.id,
        organisation_id=organisation_id,
        occurred_at=entry.occurred_at,
        description=entry.description,
        status=entry.status,
        net_amount=entry.net_amount,
        gross_amount=entry.gross_amount,
        references=entry.references,
        amount_basis=entry.amount_basis,
        created_at=entry.occurred_at,
        currency="DKK" if entry.net_amount is not None else None,
    )


@router.get(
    "",
    response_model=Page[TimelineItem],
    summary="What the caller's organisation asked, was quoted, received and was invoiced",
    description="Query runs (with release and price) and billing records (kind quote, invoice_line, "
    "order, invoice, credit_note), newest first. Staff see a customer's history by acting for it "
    "(X-Act-For-Organisation).",
)
def history(
    principal: CurrentPrincipal,
    session: SessionDep,
    service: ServiceDep,
    status: Annotated[str | None, Query(max_length=20, examples=["released"])] = None,
    kind: Annotated[Kind | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[TimelineItem]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(QueryRun.organisation_id == visible)
    if status is not None:
        conditions.append(QueryRun.status == status)
    billing = _billing_entries(session, visible)
    # a run's invoice line is shown on the run: its quote, order and invoice become the run's references
    charged = {
        entry.references["release_id"]: {"invoice_line_id": entry.id, **entry.references}
        for _, entry in billing
        if entry.kind == "invoice_line" and "release_id" in entry.references
    }
    items: list[TimelineItem] = []
    total = 0
    if kind in (None, "query_run"):
        total += session.execute(select(func.count()).select_from(QueryRun).where(*conditions)).scalar_one()
        rows = session.execute(
            select(QueryRun, ReleaseRecord)
            .outerjoin(ReleaseRecord, ReleaseRecord.run_id == QueryRun.id)
            .where(*conditions)
            .order_by(QueryRun.created_at.desc(), QueryRun.id)
            .limit(offset + limit)  # enough of the newest to merge with billing's
        ).all()
        items += [
            TimelineItem(
                kind="query_run",
                id=run.id,
                organisation_id=run.organisation_id,
                occurred_at=run.created_at,
                description=run.title,
                status=run.status,
                net_amount=_run_amount(run, release)[0],
                amount_basis=_run_amount(run, release)[1],
                references=charged.get(release.id, {}) if release else {},
                run_id=run.id,
                title=run.title,
                query_hash=run.query_hash,
                created_at=run.created_at,
                # bucket granularity only, like the run status (see visible_finish)
                finished_at=visible_finish(
                    run.created_at, run.finished_at, service.settings.release_time_bucket_ms
                ),
                release_id=release.id if release else None,
                price=release.price if release else None,
                currency=release.currency if release else None,
            )
            for run, release in rows
        ]
    others = [
        _billing_item(org, entry)
        for org, entry in billing
        if kind in (None, entry.kind)
        and kind != "query_run"
        and (status is None or entry.status == status)
        and not (entry.kind == "invoice_line" and "release_id" in entry.references)
    ]
    total += len(others)
    items += others
    items.sort(key=lambda item: item.id)
    items.sort(key=lambda item: item.occurred_at, reverse=True)
    return Page[TimelineItem](items=items[offset : offset + limit], total=total, limit=limit, offset=offset)
