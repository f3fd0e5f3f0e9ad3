"""Invoices and credit notes: list, get, download (CSV, PDF, Peppol BIS 3.0 UBL XML); staff issue the
monthly invoices of a closed month and credit notes. A customer sees only its own organisation's
documents: another organisation's id answers 404, never 403."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Body, Path, Query
from fastapi.responses import Response
from sqlalchemy import func, select

from billing import exports
from billing.errors import NotFound
from billing.invoicing import (
    CreditNotePublic,
    InvoicePublic,
    get_invoice_by_number,
    issue_credit_note,
    issue_monthly_invoices,
)
from billing.models import CreditNote, Invoice, format_credit_note_number
from statservice.api import billing_audit
from statservice.api.billing_schemas import CreditNoteCreate, InvoiceIssueCreate, InvoiceIssuePublic
from statservice.api.deps import CurrentPrincipal, Principal, ServiceDep, SessionDep, StaffPrincipal
from statservice.api.openapi import problems
from statservice.api.schemas import Page

router = APIRouter(prefix="/invoices", tags=["invoices"], responses=problems(409))
credit_notes_router = APIRouter(prefix="/credit-notes", tags=["invoices"], responses=problems())

# documents are named by their number, as printed on them
InvoiceId = Annotated[
    str, Path(max_length=20, description="the invoice number, e.g. F0000001", examples=["F0000001"])
]
CreditNoteId = Annotated[
    str, Path(max_length=20, description="the credit note number, e.g. K0000001", examples=["K0000001"])
]
Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10_000_000)]

# file suffix → (billing export format, media type)
FORMATS: dict[str, tuple[str, str]] = {
    "csv": ("csv", "text/csv; charset=utf-8"),
    "pdf": ("pdf", "application/pdf"),
    "xml": ("ubl", "application/xml"),
}
FORMAT_SUMMARIES = {
    "csv": "as CSV (one row per line, then a total row)",
    "pdf": "as PDF",
    "xml": "as Peppol BIS Billing 3.0 UBL 2.1 XML (needs the buyer's CVR, else 422)",
}


def download_responses(suffix: str) -> dict:
    media_type = FORMATS[suffix][1].split(";")[0]
    schema = {"type": "string", "format": "binary"} if suffix == "pdf" else {"type": "string"}
    return {200: {"description": "the document as a file", "content": {media_type: {"schema": schema}}}}


def _naming_hint(kind: str, number: str, example: str) -> str | None:
    """What to say to a caller who named a document by something other than its number (a bare
    integer looks like a database id, which is never public)."""
    if number.isdecimal():
        return f"a {kind} is named by its number as printed on it, e.g. {example} (the 'id' in its JSON)"
    return None


def visible_invoice(session, principal: Principal, number: str) -> Invoice:
    if not re.fullmatch(r"F[0-9]{7,9}", number):  # ASCII digits in the integer column's range
        raise NotFound("invoice", number, _naming_hint("invoice", number, "F0000001"))
    return get_invoice_by_number(session, number, principal.visible_organisation())


def visible_credit_note(session, principal: Principal, number: str) -> CreditNote:
    note = None
    if re.fullmatch(r"K[0-9]{7,9}", number) and format_credit_note_number(int(number[1:])) == number:
        note = session.scalar(select(CreditNote).where(CreditNote.number == int(number[1:])))
    if note is None or not principal.may_see(note.organisation_id):
        raise NotFound("credit note", number, _naming_hint("credit note", number, "K0000001"))
    return note


def stored(session, document: Invoice | CreditNote) -> Invoice | CreditNote:
    """The document as the database holds it (e.g. the VAT rate at its column's scale), so a response
    when issuing equals every later read."""
    session.refresh(document)
    return document


def download(document: Invoice | CreditNote, suffix: str) -> Response:
    export_format, media_type = FORMATS[suffix]
    return Response(
        exports.export(document, export_format),
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{document.display_number}.{suffix}"'},
    )


def _page(session, model, principal: Principal, limit: int, offset: int) -> tuple[list, int]:
    conditions = []
    visible = principal.visible_organisation()
    if visible is not None:
        conditions.append(model.organisation_id == visible)
    total = session.execute(select(func.count()).select_from(model).where(*conditions)).scalar_one()
    rows = session.scalars(
        select(model).where(*conditions).order_by(model.number.desc()).limit(limit).offset(offset)
    ).all()
    return rows, total


# --- invoices --------------------------------------------------------------------------------


@router.get("", response_model=Page[InvoicePublic], summary="Invoices of the caller's organisation")
def list_invoices(
    principal: CurrentPrincipal, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[InvoicePublic]:
    rows, total = _page(session, Invoice, principal, limit, offset)
    return Page[InvoicePublic](
        items=[InvoicePublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


@router.post(
    "/issue",
    status_code=201,
    response_model=InvoiceIssuePublic,
    summary="Staff: issue the monthly invoices of a closed month",
    description="One invoice per organisation for its lines not yet invoiced up to the end of the month "
    "(bespoke orders' lines are invoiced with their order). Gapless numbers F0000001...; running it again "
    "invoices only lines that arrived since. Staff acting for an organisation issue only its invoice. "
    "422 if the month has not ended on the issue date, or the issue date is in the future.",
)
def issue_invoices(
    body: Annotated[InvoiceIssueCreate, Body()], principal: StaffPrincipal, service: ServiceDep
) -> InvoiceIssuePublic:
    with service.db.write() as session:
        issued = issue_monthly_invoices(
            session,
            body.year,
            body.month,
            issue_date=body.issue_date,
            organisation_id=principal.visible_organisation(),
            now=service.clock(),
        )
        invoices = [InvoicePublic.model_validate(stored(session, invoice)) for invoice in issued]
        for invoice in invoices:
            billing_audit.record(
                session,
                principal,
                invoice.organisation_id,
                "invoice.issue",
                {
                    "invoice": invoice.id,
                    "period": f"{body.year}-{body.month:02d}",
                    "net_total": str(invoice.net_total),
                    "gross_total": str(invoice.gross_total),
                },
            )
    return InvoiceIssuePublic(year=body.year, month=body.month, invoices=invoices)


def _invoice_download(suffix: str):
    def download_invoice(invoice_id: InvoiceId, principal: CurrentPrincipal, session: SessionDep) -> Response:
        return download(visible_invoice(session, principal, invoice_id), suffix)

    download_invoice.__name__ = f"download_invoice_{suffix}"
    return download_invoice


for _suffix in FORMATS:  # before "/{invoice_id}", which would otherwise match "F0000001.pdf"
    router.get(
        f"/{{invoice_id}}.{_suffix}",
        summary=f"Download an invoice {FORMAT_SUMMARIES[_suffix]}",
        response_class=Response,
        responses=download_responses(_suffix),
    )(_invoice_download(_suffix))


@router.get("/{invoice_id}", response_model=InvoicePublic, summary="One invoice with its lines")
def get_one_invoice(invoice_id: InvoiceId, principal: CurrentPrincipal, session: SessionDep) -> InvoicePublic:
    return InvoicePublic.model_validate(visible_invoice(session, principal, invoice_id))


@router.post(
    "/{invoice_id}/credit-notes",
    status_code=201,
    response_model=CreditNotePublic,
    summary="Staff: credit (part of) an invoice",
    description="Issued invoices never change; a credit note with its own number (K0000001...) corrects "
    "one. It is dated today, never before its invoice. 409 if more than what is left to credit is asked "
    "for, or if the invoice is dated after today.",
)
def create_credit_note(
    invoice_id: InvoiceId,
    body: Annotated[CreditNoteCreate, Body()],
    principal: StaffPrincipal,
    service: ServiceDep,
) -> CreditNotePublic:
    with service.db.write() as session:
        invoice = visible_invoice(session, principal, invoice_id)
        note = issue_credit_note(
            session,
            invoice.id,
            body.reason,
            net_amount=body.net_amount,
            organisation_id=principal.visible_organisation(),
            now=service.clock(),
        )
        public = CreditNotePublic.model_validate(stored(session, note))
        billing_audit.record(
            session,
            principal,
            public.organisation_id,
            "credit_note.issue",
            {
                "credit_note": public.id,
                "invoice": invoice.display_number,
                "reason": public.reason,
                "net_total": str(public.net_total),
            },
        )
        return public


# --- credit notes ----------------------------------------------------------------------------


@credit_notes_router.get(
    "", response_model=Page[CreditNotePublic], summary="Credit notes of the caller's organisation"
)
def list_credit_notes(
    principal: CurrentPrincipal, session: SessionDep, limit: Limit = 50, offset: Offset = 0
) -> Page[CreditNotePublic]:
    rows, total = _page(session, CreditNote, principal, limit, offset)
    return Page[CreditNotePublic](
        items=[CreditNotePublic.model_validate(r) for r in rows], total=total, limit=limit, offset=offset
    )


def _credit_note_download(suffix: str):
    def download_credit_note(
        credit_note_id: CreditNoteId, principal: CurrentPrincipal, session: SessionDep
    ) -> Response:
        return download(visible_credit_note(session, principal, credit_note_id), suffix)

    download_credit_note.__name__ = f"download_credit_note_{suffix}"
    return download_credit_note


for _suffix in FORMATS:
    credit_notes_router.get(
        f"/{{credit_note_id}}.{_suffix}",
        summary=f"Download a credit note {FORMAT_SUMMARIES[_suffix]}",
        response_class=Response,
        responses=download_responses(_suffix),
    )(_credit_note_download(_suffix))


@credit_notes_router.get("/{credit_note_id}", response_model=CreditNotePublic, summary="One credit note")
def get_credit_note(
    credit_note_id: CreditNoteId, principal: CurrentPrincipal, session: SessionDep
) -> CreditNotePublic:
    return CreditNotePublic.model_validate(visible_credit_note(session, principal, credit_note_id))
