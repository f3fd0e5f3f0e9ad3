from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import select

from statservice import accounts
from statservice.api.deps import AdminPrincipal, CurrentPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.api.schemas import OrganisationCreate, OrganisationPublic
from statservice.core.errors import NotFound
from statservice.db.models import Organisation

router = APIRouter(prefix="/organisations", tags=["organisations"], responses=problems(409))


def _public(row: Organisation) -> OrganisationPublic:
    return OrganisationPublic(id=row.id, name=row.name, segment=row.segment, created_at=row.created_at)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=OrganisationPublic, summary="Create")
def create_organisation(
    body: OrganisationCreate, principal: AdminPrincipal, service: ServiceDep
) -> OrganisationPublic:
    segment = body.segment or service.settings.customer_segment_default
    service.price_list.segment(segment)  # unknown segment -> 422 naming the known ones
    with service.db.write() as session:
        row = accounts.create_organisation(session, body.name, segment, actor=principal.actor)
        return _public(row)


@router.get("", response_model=list[OrganisationPublic], summary="Organisations visible to the caller")
def list_organisations(principal: CurrentPrincipal, session: SessionDep) -> list[OrganisationPublic]:
    query = select(Organisation).order_by(Organisation.name)
    visible = principal.visible_organisation()
    if visible is not None:
        query = query.where(Organisation.id == visible)
    return [_public(row) for row in session.execute(query).scalars()]


@router.get("/{organisation_id}", response_model=OrganisationPublic, summary="One organisation")
def get_organisation(
    organisation_id: Annotated[str, Path(max_length=40)], principal: CurrentPrincipal, session: SessionDep
) -> OrganisationPublic:
    row = session.get(Organisation, organisation_id)
    if row is None or not principal.may_see(row.id):
        raise NotFound(f"organisation {organisation_id} not found")
    return _public(row)
