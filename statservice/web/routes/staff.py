"""Staff pages. First slice: the orders of every organisation, as the order board will list them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from statservice.api.deps import Principal, ServiceDep
from statservice.api.routes import orders
from statservice.web.pages import STAFF_ROLES, VisitorDep, page_roles, render

router = APIRouter(include_in_schema=False)
Staff = Annotated[Principal, Depends(page_roles(*STAFF_ROLES))]


@router.get("/staff", response_class=HTMLResponse)
def order_board(request: Request, visitor: VisitorDep, principal: Staff, service: ServiceDep) -> Response:
    with service.db.session() as session:
        page = orders.list_orders(principal, session, state=None, limit=100, offset=0)
    return render(request, visitor, "staff.html", {"orders": page.items, "total": page.total})
