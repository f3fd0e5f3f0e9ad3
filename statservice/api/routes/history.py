"""An organisation's query history: every run, released or not, with its price when charged."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import func, select

from statservice.api.deps import CurrentPrincipal, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import HistoryItem, Page
from statservice.db.models import QueryRun, ReleaseRecord

router = APIRouter(prefix="/history", tags=["history"], responses=problems())


@router.get("", response_model=Page[HistoryItem], summary="Query runs of the caller's organisation")
def history(
    principal: CurrentPrincipal,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=20, examples=["released"])] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[HistoryItem]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(QueryRun.organisation_id == visible)
    if status is not None:
        conditions.append(QueryRun.status == status)
    total = session.execute(select(func.count()).select_from(QueryRun).where(*conditions)).scalar_one()
    rows = session.execute(
        select(QueryRun, ReleaseRecord)
        .outerjoin(ReleaseRecord, ReleaseRecord.run_id == QueryRun.id)
        .where(*conditions)
        .order_by(QueryRun.created_at.desc(), QueryRun.id)
        .limit(limit)
        .offset(offset)
    ).all()
    items = [
        HistoryItem(
            run_id=run.id,
            status=run.status,
            title=run.title,
            query_hash=run.query_hash,
            created_at=run.created_at,
            finished_at=run.finished_at,
            release_id=release.id if release else None,
            price=release.price if release else None,
            currency=release.currency if release else None,
        )
        for run, release in rows
    ]
    return Page[HistoryItem](items=items, total=total, limit=limit, offset=offset)
