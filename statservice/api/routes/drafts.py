"""Query drafts of the caller's organisation: named query JSON, saved (created or replaced by name),
listed, read and deleted. The cohort builder's "Save draft" and the drafts page call these."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, BeforeValidator, Field

from queries.limits import check_json_limits
from statservice import drafts
from statservice.api.deps import BuyerPrincipal, Principal, ServiceDep
from statservice.api.openapi import problems
from statservice.db.models import QueryDraft

router = APIRouter(prefix="/drafts", tags=["drafts"], responses=problems())
DraftId = Annotated[str, Path(max_length=40, description="the draft's id, e.g. dft_0123456789abcdef0123")]
NAME = r"^[^\x00]*\S[^\x00]*$"  # some visible text; PostgreSQL text cannot hold NUL


class DraftSave(BaseModel):
    name: str = Field(min_length=1, max_length=120, pattern=NAME, description="unique in the organisation")
    # not validated as a query (a draft may be unfinished), but within the limits of any query JSON
    query: Annotated[dict[str, Any], BeforeValidator(check_json_limits)] = Field(
        description="the query JSON as far as it is written"
    )


class DraftPublic(BaseModel):
    id: str
    organisation_id: str
    name: str
    query: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime


def public(draft: QueryDraft) -> DraftPublic:
    return DraftPublic(
        id=draft.id,
        organisation_id=draft.organisation_id,
        name=draft.name,
        query=drafts.query_of(draft),
        created_at=draft.created_at,
        updated_at=draft.updated_at,
    )


@router.get("", response_model=list[DraftPublic], summary="Drafts of the caller's organisation, newest first")
def list_drafts(principal: BuyerPrincipal, service: ServiceDep) -> list[DraftPublic]:
    with service.db.session() as session:
        return [public(d) for d in drafts.list_drafts(session, principal.organisation_id)]


def save(principal: Principal, service: Any, body: DraftSave) -> tuple[DraftPublic, bool]:
    with service.db.write() as session:
        draft, created = drafts.save_draft(
            session, principal.organisation_id, principal.key_id, body.name.strip(), body.query
        )
        return public(draft), created


@router.post(
    "",
    status_code=201,
    response_model=DraftPublic,
    summary="Save a draft: 201 when new, 200 when it replaced the draft of that name",
)
def save_draft(
    body: Annotated[DraftSave, Body()], principal: BuyerPrincipal, service: ServiceDep
) -> Response:
    draft, created = save(principal, service, body)
    return JSONResponse(draft.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/{draft_id}", response_model=DraftPublic, summary="One draft")
def get_draft(draft_id: DraftId, principal: BuyerPrincipal, service: ServiceDep) -> DraftPublic:
    with service.db.session() as session:
        return public(drafts.get_draft(session, principal.organisation_id, draft_id))


@router.delete("/{draft_id}", status_code=204, response_class=Response, summary="Delete a draft")
def delete_draft(draft_id: DraftId, principal: BuyerPrincipal, service: ServiceDep) -> Response:
    with service.db.write() as session:
        drafts.delete_draft(session, principal.organisation_id, draft_id)
    return Response(status_code=204)
