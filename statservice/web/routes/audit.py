"""Auditor pages: the audit log with filters (organisation, period, action, alerts), each record's
auditor report (a release: what was hidden and why; a refusal: why), chain verification with its
result, and the export. Each calls the /v1/audit function of the same name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from statservice.api.deps import Principal, ServiceDep
from statservice.api.routes import audit, organisations
from statservice.core.errors import NotFound
from statservice.db.models import AuditRecord
from statservice.web.audit_report import auditor_report
from statservice.web.pages import (
    AUDITOR_ROLES,
    CsrfChecked,
    PageError,
    VisitorDep,
    page_roles,
    render,
    templates,
)

router = APIRouter(include_in_schema=False)
Auditor = Annotated[Principal, Depends(page_roles(*AUDITOR_ROLES))]
PAGE_SIZE = 50
FilterText = Annotated[str, Query(max_length=40)]


def pager(query: Any, offset: int) -> str:
    """The log page's query string with another offset (the filters kept)."""
    return urlencode([*((k, v) for k, v in query.multi_items() if k != "offset"), ("offset", max(offset, 0))])


templates.env.filters["pager"] = pager


@dataclass
class LogFilter:
    """The log page's filter form as sent (every field a string; empty: not filtered)."""

    organisation_id: str = ""
    action: str = ""
    start: str = ""  # first day, inclusive
    end: str = ""  # last day, inclusive
    alerts: bool = False

    def errors(self) -> dict[str, str]:
        """field -> message, for a day that is not a date or a period that ends before it starts."""
        found = {}
        for name in ("start", "end"):
            value = getattr(self, name)
            if value and _day(value) is None:
                found[name] = f"{value!r} is not a date (valid: YYYY-MM-DD)"
        start, end = _day(self.start), _day(self.end)
        if start and end and end < start:
            found["end"] = "the period ends before it starts"
        return found

    def api_arguments(self) -> dict[str, Any]:
        """The filter as /v1/audit/records takes it: the period as ISO timestamps, its end exclusive."""
        start, end = _day(self.start), _day(self.end)
        return {
            "organisation_id": self.organisation_id or None,
            "action": self.action or None,
            "query_hash": None,
            "since": start.isoformat() if start else None,
            "until": (end + dt.timedelta(days=1)).isoformat() if end else None,
            "alerts": self.alerts,
        }


def _day(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        return None


def _actions(service: Any) -> list[str]:
    """The actions the log holds, for the filter's choices."""
    with service.db.session() as session:
        return list(session.scalars(select(AuditRecord.action).distinct().order_by(AuditRecord.action)))


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    visitor: VisitorDep,
    principal: Auditor,
    service: ServiceDep,
    organisation_id: FilterText = "",
    action: FilterText = "",
    start: FilterText = "",
    end: FilterText = "",
    alerts: Annotated[str, Query(max_length=5)] = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    chosen = LogFilter(organisation_id, action, start, end, alerts not in ("", "0", "false"))
    errors = chosen.errors()

    def read() -> dict[str, Any]:
        with service.db.session() as session:
            known = organisations.list_organisations(principal, session)
            page = None
            if not errors:
                page = audit.list_records(
                    principal, session, **chosen.api_arguments(), limit=PAGE_SIZE, offset=offset
                )
        return {
            "organisations": known,
            "organisation_names": {organisation.id: organisation.name for organisation in known},
            "page": page,
            "actions": _actions(service),
        }

    context = await run_in_threadpool(read)
    return render(
        request,
        visitor,
        "audit.html",
        {**context, "filter": chosen, "errors": errors, "offset": offset, "page_size": PAGE_SIZE},
        status=422 if errors else 200,
    )


@router.post("/audit/verify", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def verify(request: Request, visitor: VisitorDep, principal: Auditor, service: ServiceDep) -> Response:
    """Verify the chain and every signed checkpoint now (the whole log is read: on a button, not on
    every page view)."""

    def check():
        with service.db.session() as session:
            return audit.verify(principal, session, service)

    verification = await run_in_threadpool(check)
    template = "_verification.html" if request.headers.get("HX-Request") else "audit_verification.html"
    return render(request, visitor, template, {"verification": verification})


@router.get("/audit/records/{sequence}", response_class=HTMLResponse)
async def record_page(
    request: Request,
    visitor: VisitorDep,
    principal: Auditor,
    service: ServiceDep,
    sequence: Annotated[int, Path(ge=1, le=2**62)],
) -> Response:
    def read():
        with service.db.session() as session:
            return audit.get_record(sequence, principal, session)

    try:
        record = await run_in_threadpool(read)
    except NotFound as error:
        raise PageError(404, "Not found", error.detail) from error
    return render(
        request,
        visitor,
        "audit_record.html",
        {"record": record, "report": auditor_report(record.model_dump())},
    )


@router.get("/audit/export.jsonl")
def export(principal: Auditor, service: ServiceDep) -> Response:
    return audit.export(principal, service)
