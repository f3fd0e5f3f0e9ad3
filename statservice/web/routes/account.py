"""The organisation's own pages beside the builder: invoices and credit notes (with their CSV, PDF
and UBL files), and the privacy budget (both ledgers). Each calls the /v1 endpoint's own functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import HTMLResponse, Response

from statservice.api.deps import Principal, ServiceDep
from statservice.api.routes import budgets, invoices
from statservice.core.errors import NotFound
from statservice.web.pages import BUYER_ROLES, PageError, VisitorDep, page_roles, render

router = APIRouter(include_in_schema=False)
Buyer = Annotated[Principal, Depends(page_roles(*BUYER_ROLES))]
DocumentNumber = Annotated[str, Path(max_length=20)]
DOCUMENTS = 200  # the newest invoices and credit notes shown


@router.get("/invoices", response_class=HTMLResponse)
def invoices_page(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    with service.db.session() as session:
        issued = invoices.list_invoices(principal, session, limit=DOCUMENTS, offset=0)
        credited = invoices.list_credit_notes(principal, session, limit=DOCUMENTS, offset=0)
    return render(
        request,
        visitor,
        "invoices.html",
        {"invoices": issued.items, "credit_notes": credited.items, "formats": list(invoices.FORMATS)},
    )


def _document_download(kind: str, suffix: str):
    visible = invoices.visible_invoice if kind == "invoice" else invoices.visible_credit_note

    def download(principal: Buyer, service: ServiceDep, number: DocumentNumber) -> Response:
        with service.db.session() as session:
            try:
                return invoices.download(visible(session, principal, number), suffix)
            except NotFound as error:
                raise PageError(404, "Not found", error.detail) from error

    download.__name__ = f"page_download_{kind}_{suffix}"
    return download


for _suffix in invoices.FORMATS:
    router.get(f"/invoices/{{number}}.{_suffix}")(_document_download("invoice", _suffix))
    router.get(f"/credit-notes/{{number}}.{_suffix}")(_document_download("credit_note", _suffix))


@router.get("/budget", response_class=HTMLResponse)
def budget_page(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    with service.db.session() as session:
        budget = budgets.budget_of(service, session, principal.organisation_id)
    return render(request, visitor, "budget.html", {"budget": budget})
