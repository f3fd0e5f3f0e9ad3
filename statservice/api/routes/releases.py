"""Released results: listing, one release with its customer-view disclosure report, downloads."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from statservice import exports
from statservice.api.deps import CurrentPrincipal, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import InvoiceLinePublic, Page, ReleasePublic, ReleaseSummary
from statservice.core.errors import NotFound
from statservice.db.models import ReleaseRecord

router = APIRouter(prefix="/releases", tags=["releases"], responses=problems())


def summary(row: ReleaseRecord) -> dict:
    return {
        "id": row.id,
        "run_id": row.run_id,
        "organisation_id": row.organisation_id,
        "query_hash": row.query_hash,
        "data_version": row.data_version,
        "policy_version": row.policy_version,
        "created_at": row.created_at,
        "invoice_line": InvoiceLinePublic(
            amount=row.price, currency=row.currency, reference=row.invoice_line_ref
        ),
        "rho_spent": row.rho_spent,
    }


def release_public(row: ReleaseRecord) -> ReleasePublic:
    return ReleasePublic(
        **summary(row), tables=json.loads(row.tables_json), report=json.loads(row.report_json)
    )


def get_visible(session, principal, release_id: str) -> ReleaseRecord:
    row = session.get(ReleaseRecord, release_id)
    if row is None or not principal.may_see(row.organisation_id):
        raise NotFound(f"release {release_id} not found")
    return row


ReleaseId = Annotated[str, Path(max_length=40, examples=["rel_0123456789abcdef0123"])]


@router.get("", response_model=Page[ReleaseSummary], summary="Releases of the caller's organisation")
def list_releases(
    principal: CurrentPrincipal,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[ReleaseSummary]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(ReleaseRecord.organisation_id == visible)
    total = session.execute(select(func.count()).select_from(ReleaseRecord).where(*conditions)).scalar_one()
    rows = session.execute(
        select(ReleaseRecord)
        .where(*conditions)
        .order_by(ReleaseRecord.created_at.desc(), ReleaseRecord.id)
        .limit(limit)
        .offset(offset)
    ).scalars()
    return Page[ReleaseSummary](
        items=[ReleaseSummary(**summary(r)) for r in rows], total=total, limit=limit, offset=offset
    )


@router.get("/{release_id}", response_model=ReleasePublic, summary="One release: tables and report")
def get_release(release_id: ReleaseId, principal: CurrentPrincipal, session: SessionDep) -> ReleasePublic:
    return release_public(get_visible(session, principal, release_id))


@router.get(
    "/{release_id}/result",
    summary="Download the released tables as JSON, CSV, Parquet or XLSX",
    response_class=Response,
    responses={
        200: {
            "description": "the tables in the requested format",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}}},
                "text/csv": {"schema": {"type": "string"}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                exports.FORMATS["xlsx"]: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
def download(
    release_id: ReleaseId,
    principal: CurrentPrincipal,
    session: SessionDep,
    format: Annotated[Literal["json", "csv", "parquet", "xlsx"], Query()] = "json",
) -> Response:
    row = get_visible(session, principal, release_id)
    tables = json.loads(row.tables_json)
    if format == "json":
        return Response(json.dumps(tables, ensure_ascii=False), media_type="application/json")
    body = exports.render(tables, format)
    return Response(
        body,
        media_type=exports.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{row.id}.{format}"'},
    )
