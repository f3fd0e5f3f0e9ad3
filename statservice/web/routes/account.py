"""The organisation's own pages beside the builder: saved drafts, invoices and credit notes (with
their CSV, PDF and UBL files), and the privacy budget (both ledgers). Each calls the /v1 endpoint's
own functions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from statservice.api.deps import Principal, ServiceDep
from statservice.api.routes import budgets, invoices
from statservice.api.routes import drafts as api_drafts
from statservice.core.errors import NotFound
from statservice.web import forms
from statservice.web.pages import BUYER_ROLES, CsrfChecked, PageError, VisitorDep, page_roles, render

router = APIRouter(include_in_schema=False)
Buyer = Annotated[Principal, Depends(page_roles(*BUYER_ROLES))]
DocumentNumber = Annotated[str, Path(max_length=20)]
DraftId = Annotated[str, Path(max_length=40)]
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


@router.get("/drafts", response_class=HTMLResponse)
def drafts_page(request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep) -> Response:
    return render(request, visitor, "drafts.html", {"drafts": api_drafts.list_drafts(principal, service)})


@router.post("/drafts/save", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def save_draft(
    request: Request, visitor: VisitorDep, principal: Buyer, service: ServiceDep
) -> Response:
    """The builder's form as it is, kept under a name (the same name replaces the older draft)."""
    posted = await request.form()
    name = posted.get("draft_name")
    try:
        body = api_drafts.DraftSave(
            name=name if isinstance(name, str) else "", query=forms.BuilderForm.from_form(posted).payload()
        )
    except ValidationError:
        return render(
            request, visitor, "_draft_saved.html", {"error": "Give the draft a name (up to 120 characters)."}
        )
    draft, created = await run_in_threadpool(api_drafts.save, principal, service, body)
    return render(request, visitor, "_draft_saved.html", {"draft": draft, "created": created})


@router.post("/drafts/{draft_id}/delete", dependencies=[CsrfChecked])
def delete_draft(principal: Buyer, service: ServiceDep, draft_id: DraftId) -> Response:
    try:
        api_drafts.delete_draft(draft_id, principal, service)
    except NotFound as error:
        raise PageError(404, "Not found", error.detail) from error
    return RedirectResponse("/drafts", status_code=303)
