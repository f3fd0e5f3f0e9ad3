"""Who an organisation's invoices are addressed to (legal name, CVR, address). Copied onto each invoice
when it is issued; the UBL (Peppol) export needs the CVR. Staff set it for a customer by acting for it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from billing.errors import NotFound
from billing.invoicing import set_billing_account
from billing.models import BillingAccount
from statservice.api import billing_audit
from statservice.api.billing_schemas import BillingAccountPublic, BillingAccountUpdate
from statservice.api.deps import CurrentPrincipal, ServiceDep, SessionDep
from statservice.api.openapi import problems
from statservice.core.errors import Forbidden

router = APIRouter(prefix="/billing-account", tags=["invoices"], responses=problems())


@router.get("", response_model=BillingAccountPublic, summary="The caller's organisation's billing details")
def get_billing_account(principal: CurrentPrincipal, session: SessionDep) -> BillingAccountPublic:
    account = session.get(BillingAccount, principal.organisation_id)
    if account is None:
        raise NotFound("billing account of organisation", principal.organisation_id)
    return BillingAccountPublic.model_validate(account)


@router.put(
    "", response_model=BillingAccountPublic, summary="Set the caller's organisation's billing details"
)
def put_billing_account(
    body: Annotated[BillingAccountUpdate, Body()], principal: CurrentPrincipal, service: ServiceDep
) -> BillingAccountPublic:
    if principal.role == "auditor":
        raise Forbidden("auditors read; they do not change billing details")
    with service.db.write() as session:
        account = set_billing_account(session, principal.organisation_id, **body.model_dump())
        billing_audit.record(
            session, principal, principal.organisation_id, "billing_account.update", body.model_dump()
        )
        return BillingAccountPublic.model_validate(account)
