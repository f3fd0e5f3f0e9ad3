"""An organisation's remaining privacy budget (zCDP rho) on the current data version."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from disclosure.stores import degraded_scope, organisation_scope
from statservice.api.deps import CurrentPrincipal, ServiceDep, in_session
from statservice.api.openapi import problems
from statservice.api.schemas import BudgetPublic
from statservice.core.errors import NotFound
from statservice.db.models import Organisation
from statservice.stores import SqlStores

router = APIRouter(prefix="/budgets", tags=["budgets"], responses=problems(503))


def budget_of(service, session, organisation_id: str) -> BudgetPublic:
    data_version = service.data_version
    budgets = service.policy.budgets
    stores = SqlStores(session)
    limit = float(budgets.rho_per_organisation)
    spent = stores.rho_spent(data_version, organisation_scope(organisation_id))
    degraded_limit = float(budgets.rho_degraded_per_organisation)
    degraded_spent = stores.rho_spent(data_version, degraded_scope(organisation_scope(organisation_id)))
    return BudgetPublic(
        organisation_id=organisation_id,
        data_version=data_version,
        rho_limit=limit,
        rho_spent=spent,
        rho_remaining=max(0.0, limit - spent),
        degraded_rho_limit=degraded_limit,
        degraded_rho_spent=degraded_spent,
        degraded_rho_remaining=max(0.0, degraded_limit - degraded_spent),
    )


@router.get("", response_model=BudgetPublic, summary="Remaining privacy budget of an organisation")
async def get_budget(
    principal: CurrentPrincipal,
    service: ServiceDep,
    organisation_id: Annotated[
        str | None, Query(max_length=40, description="default: the caller's organisation")
    ] = None,
) -> BudgetPublic:
    organisation_id = organisation_id or principal.organisation_id

    def read(session) -> BudgetPublic:
        if not principal.may_see(organisation_id) or session.get(Organisation, organisation_id) is None:
            raise NotFound(f"organisation {organisation_id} not found")
        return budget_of(service, session, organisation_id)

    return await in_session(service, read)
