"""Query drafts: a named query JSON an organisation keeps (saved from the cohort builder or by the
API), valid or not yet, within the limits of any query JSON (``queries.limits``). Saving under a name
the organisation already uses replaces that draft; another organisation never sees it."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from statservice.accounts import new_id
from statservice.core.errors import NotFound
from statservice.db.models import QueryDraft, utcnow

MAX_DRAFTS_LISTED = 500


def list_drafts(session: Session, organisation_id: str) -> list[QueryDraft]:
    return list(
        session.scalars(
            select(QueryDraft)
            .where(QueryDraft.organisation_id == organisation_id)
            .order_by(QueryDraft.updated_at.desc(), QueryDraft.name)
            .limit(MAX_DRAFTS_LISTED)
        )
    )


def save_draft(
    session: Session, organisation_id: str, key_id: str, name: str, query: dict[str, Any]
) -> tuple[QueryDraft, bool]:
    """The draft saved under ``name`` and whether it is new (else it replaced the one of that name)."""
    draft = session.scalar(
        select(QueryDraft).where(QueryDraft.organisation_id == organisation_id, QueryDraft.name == name)
    )
    created = draft is None
    now = utcnow()
    if draft is None:
        draft = QueryDraft(id=new_id("dft"), organisation_id=organisation_id, name=name, created_at=now)
        session.add(draft)
    draft.query_json = json.dumps(query, sort_keys=True, ensure_ascii=False)
    draft.saved_by_key_id = key_id
    draft.updated_at = now
    session.flush()
    return draft, created


def get_draft(session: Session, organisation_id: str, draft_id: str) -> QueryDraft:
    draft = session.get(QueryDraft, draft_id)
    if draft is None or draft.organisation_id != organisation_id:
        raise NotFound(f"draft {draft_id} not found")
    return draft


def delete_draft(session: Session, organisation_id: str, draft_id: str) -> None:
    session.delete(get_draft(session, organisation_id, draft_id))


def query_of(draft: QueryDraft) -> dict[str, Any]:
    return json.loads(draft.query_json)
