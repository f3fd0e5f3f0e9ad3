"""Auditor role: releases with their disclosure reports, chain verification, export."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Path, Query
from fastapi.responses import StreamingResponse
from sqlalchemy import func, select

from statservice import audit
from statservice.api.deps import AuditorPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import AuditRecordPublic, Page, VerificationPublic
from statservice.core.errors import NotFound
from statservice.db.models import AuditRecord

router = APIRouter(prefix="/audit", tags=["audit"], responses=problems())

# Records that ask a person to review something (``statservice.pipeline`` raises them); the log's
# ``alerts`` filter finds them by this prefix of their action.
ALERT_ACTION_PREFIX = "alert."


@router.get(
    "/records",
    response_model=Page[AuditRecordPublic],
    summary="List and filter audit records (releases carry the auditor view of their disclosure report)",
)
def list_records(
    principal: AuditorPrincipal,
    session: SessionDep,
    organisation_id: Annotated[str | None, Query(max_length=40)] = None,
    action: Annotated[str | None, Query(max_length=40, examples=["release"])] = None,
    query_hash: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=40, description="ISO timestamp, inclusive")] = None,
    until: Annotated[str | None, Query(max_length=40, description="ISO timestamp, exclusive")] = None,
    alerts: Annotated[bool, Query(description="only alerts for review (actions alert.*)")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Page[AuditRecordPublic]:
    conditions = []
    if organisation_id is not None:
        conditions.append(AuditRecord.organisation_id == organisation_id)
    if action is not None:
        conditions.append(AuditRecord.action == action)
    if query_hash is not None:
        conditions.append(AuditRecord.query_hash == query_hash)
    if since is not None:
        conditions.append(AuditRecord.timestamp >= since)
    if until is not None:
        conditions.append(AuditRecord.timestamp < until)
    if alerts:
        conditions.append(AuditRecord.action.startswith(ALERT_ACTION_PREFIX, autoescape=True))
    total = session.execute(select(func.count()).select_from(AuditRecord).where(*conditions)).scalar_one()
    rows = session.execute(
        select(AuditRecord).where(*conditions).order_by(AuditRecord.sequence).limit(limit).offset(offset)
    ).scalars()
    items = [AuditRecordPublic(**audit.record_dict(row)) for row in rows]
    return Page[AuditRecordPublic](items=items, total=total, limit=limit, offset=offset)


@router.get(
    "/records/{sequence}",
    response_model=AuditRecordPublic,
    summary="One audit record (a release's carries the auditor view of its disclosure report)",
)
def get_record(
    sequence: Annotated[int, Path(ge=1, le=2**62)], principal: AuditorPrincipal, session: SessionDep
) -> AuditRecordPublic:
    row = session.execute(select(AuditRecord).where(AuditRecord.sequence == sequence)).scalar_one_or_none()
    if row is None:
        raise NotFound(f"no audit record {sequence}")
    return AuditRecordPublic(**audit.record_dict(row))


@router.get(
    "/verify",
    response_model=VerificationPublic,
    summary="Verify the HMAC chain and every signed checkpoint of it kept outside the database",
)
def verify(principal: AuditorPrincipal, session: SessionDep, service: ServiceDep) -> VerificationPublic:
    result = audit.verify(session, service.settings.audit_checkpoint_dir)
    return VerificationPublic(
        ok=result.ok,
        records=result.records,
        last_sequence=result.last_sequence,
        last_hash=result.last_hash,
        problems=result.problems,
        keyed_from=result.keyed_from,
        checkpoints=result.checkpoints,
        last_checkpoint_sequence=result.last_checkpoint_sequence,
    )


@router.get(
    "/export",
    summary="Export the whole log as JSON lines (each line's hash chains to the next; verifiable offline "
    "with the audit key)",
    response_class=StreamingResponse,
    responses={200: {"content": {"application/x-ndjson": {"schema": {"type": "string"}}}}},
)
def export(principal: AuditorPrincipal, service: ServiceDep) -> StreamingResponse:
    def lines():
        with service.db.session() as session:
            for record in audit.iter_records(session):
                yield json.dumps(audit.record_dict(record), ensure_ascii=False) + "\n"

    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": 'attachment; filename="statservice-audit.jsonl"'},
    )
