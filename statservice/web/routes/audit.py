"""Auditor pages. First slice: the chain's verification and the latest records."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from statservice.api.deps import Principal, ServiceDep
from statservice.api.routes import audit
from statservice.web.pages import AUDITOR_ROLES, VisitorDep, page_roles, render

router = APIRouter(include_in_schema=False)
Auditor = Annotated[Principal, Depends(page_roles(*AUDITOR_ROLES))]


@router.get("/audit", response_class=HTMLResponse)
def audit_log(request: Request, visitor: VisitorDep, principal: Auditor, service: ServiceDep) -> Response:
    with service.db.session() as session:
        verification = audit.verify(principal, session, service)
        page = audit.list_records(
            principal,
            session,
            organisation_id=None,
            action=None,
            query_hash=None,
            since=None,
            until=None,
            limit=50,
            offset=0,
        )
    return render(request, visitor, "audit.html", {"verification": verification, "records": page.items})
