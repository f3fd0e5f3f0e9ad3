"""Request and response models: separate Create and Public models, never ORM objects on the wire."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from billing.pricing import ReducedPricePublic
from statservice.charging import QuoteWarningCode

Role = Literal["customer", "staff", "auditor", "admin"]


class FieldError(BaseModel):
    field: str = Field(description="dotted path of the offending field ('' for the request as a whole)")
    message: str
    valid: str = Field(description="what would be accepted there")


class Problem(BaseModel):
    """RFC 9457 problem details, used for every error."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://statservice.example/problems/invalid",
                    "title": "Invalid request",
                    "status": 422,
                    "detail": "the request does not match the schema",
                    "instance": "/v1/queries/quote",
                    "errors": [
                        {
                            "field": "index.period.start",
                            "message": "Input should be a valid date",
                            "valid": "a date YYYY-MM-DD",
                        }
                    ],
                }
            ]
        }
    )

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[FieldError] = Field(default_factory=list)


# --- organisations and keys ---------------------------------------------------------------


class OrganisationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, examples=["Aarhus University, Dept. of Epidemiology"])
    segment: str | None = Field(None, max_length=40, description="billing segment (price multiplier)")


class OrganisationPublic(BaseModel):
    id: str
    name: str
    segment: str
    created_at: dt.datetime


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    organisation_id: str = Field(min_length=1, max_length=40)
    role: Role = "customer"
    name: str = Field(min_length=1, max_length=200, examples=["analysis laptop"])


class ApiKeyPublic(BaseModel):
    id: str
    organisation_id: str
    role: Role
    name: str
    prefix: str = Field(description="the first characters of the key, to recognise it")
    created_at: dt.datetime
    revoked_at: dt.datetime | None = None


class ApiKeyCreated(ApiKeyPublic):
    key: str = Field(description="the secret key; shown once, only its SHA-256 is stored")


# --- queries -----------------------------------------------------------------------------


class QueryShapePublic(BaseModel):
    model_config = ConfigDict(extra="allow")


class ValidationPublic(BaseModel):
    valid: bool
    query_hash: str = Field(description="SHA-256 of the canonical query JSON")
    query: dict[str, Any] = Field(description="the query as it will be run, defaults filled in")
    shape: dict[str, Any] = Field(description="what pricing and quoting see: kind, registers, cells, DP")


class PricePublic(BaseModel):
    amount: Decimal = Field(description="net price, DKK excluding VAT")
    currency: str
    price_list_version: str
    segment: str
    breakdown: dict[str, Any] = Field(default_factory=dict)
    reduced_prices: list[ReducedPricePublic] = Field(
        default_factory=list,
        description="what the run costs instead when its release is fully suppressed or shows only the "
        "total (decided from the published pattern alone); empty: the full price applies to every outcome",
    )


class PrivacyCostPublic(BaseModel):
    rho: float = Field(
        description="zCDP rho this release spends at most (0 without noise): a table whose every noise "
        "draw was made for an earlier release (the same persons asked before) is not charged"
    )
    rho_is_upper_bound: bool = Field(
        default=True, description='always true: `rho` is what the run costs at most ("up to")'
    )
    note: str = Field(default="", description="the privacy cost in words")
    organisation_rho_remaining: float
    organisation_rho_limit: float
    data_version: str


class QuoteWarningPublic(BaseModel):
    code: QuoteWarningCode
    refuses: bool = Field(
        description="true: the run would be refused (and not charged), as far as a quote can tell: a "
        "question whose noise was drawn before for the same persons costs nothing; false: it might be"
    )
    field: str | None = Field(None, description="the query field to change, if one would help")
    message: str


class RefusalWarnings(BaseModel):
    """What would refuse the run, said before the customer commits. A rounding base the policy does
    not offer or a shape beyond its limits is a 422 naming the field instead of a quote."""

    would_refuse: bool = Field(False, description="true when a warning refuses the run")
    warnings: list[QuoteWarningPublic] = Field(default_factory=list)


class QuotePublic(RefusalWarnings):
    query_hash: str
    shape: dict[str, Any]
    price: PricePublic
    privacy: PrivacyCostPublic


class RunPublic(BaseModel):
    id: str
    status: Literal["queued", "running", "released", "refused", "failed"]
    organisation_id: str
    query_hash: str
    title: str | None = None
    created_at: dt.datetime
    finished_at: dt.datetime | None = None
    release_id: str | None = None
    release_url: str | None = None
    problem: Problem | None = None
    queue_position: int | None = Field(
        None,
        description="while queued: its place among the runs of the whole service waiting for a run slot "
        "(1: next in line; slots go to waiting runs as they ask, so roughly in this order)",
    )
    stage: Literal["engine", "disclosure_control", "commit"] | None = Field(
        None,
        description="while running: `engine` (counting), `disclosure_control` (protecting the counts) or "
        "`commit` (writing the release, its audit record, budget spend and invoice line)",
    )


class InvoiceLinePublic(BaseModel):
    amount: Decimal = Field(description="net, DKK excluding VAT")
    currency: str
    reference: str | None = None


class ReleaseSummary(BaseModel):
    id: str
    run_id: str
    organisation_id: str
    query_hash: str
    data_version: str
    policy_version: str
    created_at: dt.datetime
    invoice_line: InvoiceLinePublic
    rho_spent: float
    saved_definitions: list[dict[str, Any]] = Field(
        default_factory=list,
        description="the saved concept sets the query referred to: type, id, version, definition_hash",
    )


class ReleasePublic(ReleaseSummary):
    tables: list[dict[str, Any]] = Field(description="protected tables: released values or 'suppressed'")
    report: dict[str, Any] = Field(description="disclosure report, customer view")


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


# --- budgets, history ----------------------------------------------------------------------


class BudgetPublic(BaseModel):
    """The organisation's ledgers on the current data version: noise it asked for (``rho_*``), and the
    degraded noise its exact questions got past the data version's exact capacity (``degraded_*``)."""

    organisation_id: str
    data_version: str
    rho_limit: float
    rho_spent: float
    rho_remaining: float
    degraded_rho_limit: float
    degraded_rho_spent: float
    degraded_rho_remaining: float


class HistoryItem(BaseModel):
    run_id: str
    status: str
    title: str | None
    query_hash: str
    created_at: dt.datetime
    finished_at: dt.datetime | None
    release_id: str | None
    price: Decimal | None
    currency: str | None


# --- audit ---------------------------------------------------------------------------------


class AuditRecordPublic(BaseModel):
    sequence: int
    timestamp: str
    actor: str
    organisation_id: str | None
    action: str
    query_hash: str | None
    payload: Any
    prev_hash: str
    hash: str
    chain: str = Field(description="hmac-sha256 (keyed with the audit key) or sha256 (before ss0006)")


class VerificationProblem(BaseModel):
    sequence: int
    problem: str
    checkpoint: str | None = Field(None, description="the checkpoint file this problem contradicts, if any")


class VerificationPublic(BaseModel):
    ok: bool
    records: int
    last_sequence: int
    last_hash: str
    problems: list[VerificationProblem]
    keyed_from: int = Field(description="first sequence chained with the audit key's HMAC (earlier: SHA-256)")
    checkpoints: int = Field(description="signed checkpoints outside the database checked against the log")
    last_checkpoint_sequence: int | None


# --- catalog --------------------------------------------------------------------------------


class VariablePublic(BaseModel):
    table: str
    name: str
    type: str
    description: str
    code_system: str | None
    nullable: bool


class RegisterPublic(BaseModel):
    name: str
    owner: str
    description: str
    tables: list[str]
    coverage_first_year: int | None
    coverage_last_year: int | None
    minimum_cell_count: int
    notes: list[str] = Field(default_factory=list)


class RegisterDetail(RegisterPublic):
    variables: list[VariablePublic]


class DataOwnerPublic(BaseModel):
    name: str
    registers: list[str]


class CodeListPublic(BaseModel):
    name: str
    description: str | None = None
    codes: int = Field(
        description="number of codes in the list (a property of the code list, not of persons)"
    )


class CodePublic(BaseModel):
    code: str
    name: str
    synonyms: list[str] = Field(
        default_factory=list, description="other names a search finds the code by (brands, abbreviations)"
    )


class HealthPublic(BaseModel):
    status: Literal["ok"]
    version: str
    data_version: str | None
