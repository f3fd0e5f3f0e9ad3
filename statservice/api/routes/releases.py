"""Released results: listing, one release with its customer-view disclosure report, downloads."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from statservice import exports
from statservice.api.deps import CurrentPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import InvoiceLinePublic, Page, ReleasePublic, ReleaseSummary
from statservice.core.errors import NotFound
from statservice.db.models import QueryRun, ReleaseRecord

router = APIRouter(prefix="/releases", tags=["releases"], responses=problems())

_SECOND_US = 1_000_000


def visible_finish(
    started_at: dt.datetime, finished_at: dt.datetime | None, bucket_ms: int
) -> dt.datetime | None:
    """The customer-visible time of a run's completion (a run's ``finished_at``, a release's
    ``created_at``): the true time rounded UP so that ``visible - started_at`` is a whole multiple of
    max(1 s, ``release_time_bucket_ms``). ``started_at`` is the run's ``created_at``, which the customer
    knows anyway (it is when they asked). So a customer sees how long disclosure control worked only at
    the granularity the padded HTTP answer (``pad_to_bucket``) already reveals, never finer; the audit
    log keeps exact times."""
    if finished_at is None:
        return None
    quantum = max(_SECOND_US, bucket_ms * 1000)
    elapsed = (finished_at - started_at) // dt.timedelta(microseconds=1)
    buckets = max(0, -(-elapsed // quantum))  # ceiling division
    return started_at + dt.timedelta(microseconds=buckets * quantum)


def summary(row: ReleaseRecord, run: QueryRun, bucket_ms: int) -> dict:
    return {
        "id": row.id,
        "run_id": row.run_id,
        "organisation_id": row.organisation_id,
        "query_hash": row.query_hash,
        "data_version": row.data_version,
        "policy_version": row.policy_version,
        # set at the end of the run: as revealing of its duration as the run's finished_at
        "created_at": visible_finish(run.created_at, row.created_at, bucket_ms),
        "invoice_line": InvoiceLinePublic(
            amount=row.price, currency=row.currency, reference=row.invoice_line_ref
        ),
        "rho_spent": row.rho_spent,
        "saved_definitions": json.loads(row.saved_definitions_json) if row.saved_definitions_json else [],
    }


def release_public(row: ReleaseRecord, run: QueryRun, bucket_ms: int) -> ReleasePublic:
    return ReleasePublic(
        **summary(row, run, bucket_ms), tables=json.loads(row.tables_json), report=json.loads(row.report_json)
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
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[ReleaseSummary]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(ReleaseRecord.organisation_id == visible)
    total = session.execute(select(func.count()).select_from(ReleaseRecord).where(*conditions)).scalar_one()
    rows = session.execute(
        select(ReleaseRecord, QueryRun)
        .join(QueryRun, QueryRun.id == ReleaseRecord.run_id)
        .where(*conditions)
        .order_by(ReleaseRecord.created_at.desc(), ReleaseRecord.id)
        .limit(limit)
        .offset(offset)
    ).all()
    bucket_ms = service.settings.release_time_bucket_ms
    return Page[ReleaseSummary](
        items=[ReleaseSummary(**summary(r, run, bucket_ms)) for r, run in rows],
        total=total,
        limit=limit,
        offset=offset,
    )


@router.get("/{release_id}", response_model=ReleasePublic, summary="One release: tables and report")
def get_release(
    release_id: ReleaseId, principal: CurrentPrincipal, session: SessionDep, service: ServiceDep
) -> ReleasePublic:
    row = get_visible(session, principal, release_id)
    run = session.get_one(QueryRun, row.run_id)
    return release_public(row, run, service.settings.release_time_bucket_ms)


@router.get(
    "/{release_id}/result",
    summary="Download the released tables as JSON, CSV, Parquet or XLSX",
    response_class=Response,
    responses={
        200: {
            "description": "the tables in the requested format",
            "content": {
                "application/json": {"schema": exports.JSON_SCHEMA},
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
    format: Annotated[exports.ExportFormat, Query()] = "json",
) -> Response:
    row = get_visible(session, principal, release_id)
    release = {
        "release_id": row.id,
        "query_hash": row.query_hash,
        "data_version": row.data_version,
        "policy_version": row.policy_version,
    }
    export = exports.ReleaseExport.build(release, json.loads(row.tables_json))
    return Response(
        exports.render(export, format),
        media_type=exports.FORMATS[format],
        headers={"Content-Disposition": f'attachment; filename="{row.id}.{format}"'},
    )
