from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status

from statservice import accounts
from statservice.api.deps import AdminPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyPublic
from statservice.db.models import ApiKey

router = APIRouter(prefix="/keys", tags=["keys"], responses=problems())


def _public(row: ApiKey) -> dict:
    return {
        "id": row.id,
        "organisation_id": row.organisation_id,
        "role": row.role,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": row.created_at,
        "revoked_at": row.revoked_at,
    }


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key (the secret is shown once)",
)
def create_key(body: ApiKeyCreate, principal: AdminPrincipal, service: ServiceDep) -> ApiKeyCreated:
    with service.db.write() as session:
        row, secret = accounts.create_key(
            session, body.organisation_id, body.role, body.name, principal.actor
        )
        return ApiKeyCreated(**_public(row), key=secret)


@router.get("", response_model=list[ApiKeyPublic], summary="List keys (never the secrets)")
def list_keys(principal: AdminPrincipal, session: SessionDep) -> list[ApiKeyPublic]:
    return [ApiKeyPublic(**_public(row)) for row in accounts.list_keys(session)]


@router.delete("/{key_id}", response_model=ApiKeyPublic, summary="Revoke a key")
def revoke_key(
    key_id: Annotated[str, Path(max_length=40)], principal: AdminPrincipal, service: ServiceDep
) -> ApiKeyPublic:
    with service.db.write() as session:
        row = accounts.revoke_key(session, key_id, actor=principal.actor)
        public = ApiKeyPublic(**_public(row))
    service.key_cache.evict_key_id(key_id)
    return public
