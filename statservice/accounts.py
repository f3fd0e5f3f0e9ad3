"""Organisations and API keys (used by the admin API and the ``keys`` CLI)."""

from __future__ import annotations

import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from statservice import audit
from statservice.core.errors import Conflict, Invalid, NotFound
from statservice.core.security import ROLES, display_prefix, generate_api_key, hash_api_key
from statservice.db.models import ApiKey, Organisation, utcnow


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:20]}"


def create_organisation(session: Session, name: str, segment: str, actor: str = "system") -> Organisation:
    if session.execute(select(Organisation).where(Organisation.name == name)).scalar_one_or_none():
        raise Conflict(f"an organisation named {name!r} exists")
    organisation = Organisation(id=new_id("org"), name=name, segment=segment, created_at=utcnow())
    session.add(organisation)
    session.flush()
    audit.append(
        session,
        actor=actor,
        organisation_id=organisation.id,
        action="organisation.create",
        query_hash=None,
        payload={"name": name, "segment": segment},
    )
    return organisation


def create_key(
    session: Session, organisation_id: str, role: str, name: str, actor: str = "system"
) -> tuple[ApiKey, str]:
    """Returns the stored row and the secret key (shown once; only its SHA-256 is stored)."""
    if role not in ROLES:
        raise Invalid(
            f"unknown role {role!r}",
            errors=[{"field": "role", "message": "unknown role", "valid": f"one of {', '.join(ROLES)}"}],
        )
    if session.get(Organisation, organisation_id) is None:
        raise NotFound(f"organisation {organisation_id} not found")
    secret = generate_api_key()
    row = ApiKey(
        id=new_id("key"),
        organisation_id=organisation_id,
        role=role,
        name=name,
        key_hash=hash_api_key(secret),
        prefix=display_prefix(secret),
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.append(
        session,
        actor=actor,
        organisation_id=organisation_id,
        action="key.create",
        query_hash=None,
        payload={"key_id": row.id, "role": role, "name": name},
    )
    return row, secret


def revoke_key(
    session: Session, key_id: str, organisation_id: str | None = None, actor: str = "system"
) -> ApiKey:
    row = session.get(ApiKey, key_id)
    if row is None or (organisation_id is not None and row.organisation_id != organisation_id):
        raise NotFound(f"key {key_id} not found")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.append(
            session,
            actor=actor,
            organisation_id=row.organisation_id,
            action="key.revoke",
            query_hash=None,
            payload={"key_id": row.id},
        )
    session.flush()
    return row


def list_keys(session: Session, organisation_id: str | None = None) -> list[ApiKey]:
    query = select(ApiKey).order_by(ApiKey.created_at, ApiKey.id)
    if organisation_id is not None:
        query = query.where(ApiKey.organisation_id == organisation_id)
    return list(session.execute(query).scalars())
