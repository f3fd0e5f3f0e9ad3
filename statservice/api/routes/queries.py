"""Queries: validate and quote without running; run and release (201, or 202 + Location to poll)."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Path, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, model_validator
from sqlalchemy import and_, func, or_, select

from billing.pricing import ReducedPricePublic
from queries import model as m
from queries.errors import QueryValidationError
from queries.limits import check_json_limits
from queries.model import ConceptSetReference, Query
from queries.validation import located_concepts
from statservice import charging, pipeline, saved_definitions
from statservice.api import billing_runs
from statservice.api.deps import (
    BuyerPrincipal,
    CurrentPrincipal,
    Principal,
    ServiceDep,
    in_session,
    run_db,
)
from statservice.api.errors import ProblemResponse
from statservice.api.openapi import problems
from statservice.api.routes.budgets import budget_of
from statservice.api.routes.releases import release_public, visible_finish
from statservice.api.schemas import (
    PricePublic,
    PrivacyCostPublic,
    Problem,
    QuotePublic,
    QuoteWarningPublic,
    ReleasePublic,
    RunPublic,
    ValidationPublic,
)
from statservice.core.errors import NotFound, TooManyRequests
from statservice.db.models import QueryRun, ReleaseRecord

# How long a client polling an unfinished run should wait before asking again (Retry-After).
POLL_AFTER_SECONDS = 1
RETRY_AFTER_HEADER = {
    "description": "while the run is queued or running: seconds to wait before polling again",
    "schema": {"type": "integer"},
}

router = APIRouter(prefix="/queries", tags=["queries"], responses=problems(409, 503))

EXAMPLE_QUERY = {
    "title": "Incident type 2 diabetes 2015-2018 by sex",
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
        "occurrence": "first",
    },
    "population": {"age": {"min": 18, "max": None}},
    "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
}


class SavedCohortReference(BaseModel):
    """A cohort the organisation saved (``/v1/cohorts``), by id and version."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z]+_[0-9a-f]+$", description="e.g. coh_0123…")
    version: int = Field(ge=1, le=1_000_000, description="the saved version, from 1")


class QueryOnSavedCohort(BaseModel):
    """A query whose ``index``, ``population`` and ``criteria`` are a saved cohort's: the service
    replaces ``cohort`` by that version's definition (its own ``criteria``, if any, appended after the
    cohort's) before validation, quote, hash and run, and the release records the reference. Every
    other field is as in a written-out query."""

    # the fields of ``Query`` but index and population, repeated: a test holds them to the same types

    # before any field is validated: a query nested 500 deep must not reach pydantic's recursion
    @model_validator(mode="before")
    @classmethod
    def _within_json_limits(cls, data: Any) -> Any:
        return check_json_limits(data)

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1  # Query's QUERY_MODEL_VERSION (a test holds them equal)
    title: str | None = Field(None, max_length=200)
    cohort: SavedCohortReference
    criteria: Annotated[tuple[m.Criterion, ...], Field(max_length=50)] = Field(
        (), description="criteria applied after the saved cohort's own"
    )
    result: m.Result = m.CohortCountResult()
    disclosure: m.DisclosureOptions | None = None


# pydantic names the chosen member in error locations; a name with brackets is no field name, so
# errors name the same fields as with ``Query`` alone (``queries.validation.field_path``)
WRITTEN_OUT, ON_SAVED_COHORT = "query[written out]", "query[on a saved cohort]"


def query_form(body: Any) -> str:
    """Which form a query body has: one that names a saved ``cohort`` is resolved first (also when it
    wrongly has ``index`` too, so the error names ``index`` as the field not to send)."""
    return ON_SAVED_COHORT if isinstance(body, dict) and "cohort" in body else WRITTEN_OUT


QueryBody = Annotated[
    Annotated[Query, Tag(WRITTEN_OUT)] | Annotated[QueryOnSavedCohort, Tag(ON_SAVED_COHORT)],
    Discriminator(query_form),
    Body(
        openapi_examples={
            "t2d_by_sex": {"summary": "Type 2 diabetes cohort by sex", "value": EXAMPLE_QUERY},
            "glp1_uptake": {
                "summary": "GLP-1 uptake after a type 2 diabetes diagnosis",
                "value": {
                    "index": {
                        "concept": {"type": "diagnosis", "codes": ["DE11"]},
                        "period": {"start": "2016-01-01", "end": "2018-12-31"},
                    },
                    "result": {
                        "kind": "treatment_uptake",
                        "drugs": [{"name": "GLP-1 RA", "atc": ["A10BJ"]}],
                        "days": [90, 365],
                    },
                },
            },
            "saved_cohort": {
                "summary": "A saved cohort (id and version) counted by sex",
                "value": {
                    "cohort": {"id": "coh_0123456789abcdef0123", "version": 1},
                    "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
                },
            },
        }
    ),
]


def requester_of(principal: Principal) -> pipeline.Requester:
    return pipeline.Requester(
        key_id=principal.key_id,
        role=principal.role,
        key_organisation_id=principal.key_organisation_id,
        organisation_id=principal.organisation_id,
        actor=principal.actor,
    )


def pad_to_bucket(started: float, bucket_ms: int) -> None:
    """Answer a finished run only at the next multiple of the time bucket, so how long disclosure
    control worked (an audit that ran longer, a refusal that came early) is not observable."""
    if bucket_ms <= 0:
        return
    elapsed = time.monotonic() - started
    bucket = bucket_ms / 1000
    time.sleep(math.ceil(elapsed / bucket) * bucket - elapsed)


def _payload(query: Query | QueryOnSavedCohort) -> dict[str, Any]:
    return query.model_dump(mode="json", exclude_unset=True)


def prepare_for(
    service: Any, principal: Principal, query: Query | QueryOnSavedCohort, segment: str, session: Any = None
) -> pipeline.Prepared:
    """The query prepared as ``pipeline.prepare`` does, after replacing a reference to one of the
    organisation's saved cohorts, then each reference to a saved concept set, by the saved definition
    (a 404 naming the field when it has no such cohort, set or version): the resolved query is what
    is validated, priced, hashed and run."""
    payload = _payload(query)
    on_cohort = isinstance(query, QueryOnSavedCohort)
    if isinstance(query, Query) and not any(
        isinstance(concept, ConceptSetReference) for _, concept, _, _ in located_concepts(query)
    ):
        return pipeline.prepare(service, payload, segment)
    if session is None:
        with service.db.session() as own:
            payload, used, from_cohort = _resolved(own, principal.organisation_id, payload)
    else:
        payload, used, from_cohort = _resolved(session, principal.organisation_id, payload)
    if not on_cohort:
        return pipeline.prepare(service, payload, segment, used)
    try:
        return pipeline.prepare(service, payload, segment, used)
    except QueryValidationError as invalid:
        raise QueryValidationError(
            [{**p, "field": field_on_cohort(p["field"], from_cohort)} for p in invalid.problems]
        ) from None


def _resolved(
    session: Any, organisation_id: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    # concept sets first, so a 404 names the query's own field (a saved cohort holds no references:
    # ``queries.validation.cohort_definition_problems``); the release lists the cohort first
    payload, concept_sets = saved_definitions.resolve_concept_sets(session, organisation_id, payload)
    payload, cohort, from_cohort = saved_definitions.resolve_cohort(session, organisation_id, payload)
    return payload, cohort + concept_sets, from_cohort


def field_on_cohort(field: str, from_cohort: int) -> str:
    """A field of the resolved query as the query on a saved cohort names it: the cohort's index,
    population and criteria are ``cohort`` (e.g. a code the catalog no longer has); the query's own
    criteria keep their positions (``criteria.0`` is its first, after the cohort's)."""
    parts = field.split(".")
    if parts[0] in ("index", "population"):
        return "cohort"
    if parts[0] == "criteria" and len(parts) > 1 and parts[1].isdigit():
        position = int(parts[1])
        if position < from_cohort:
            return "cohort"
        return ".".join(["criteria", str(position - from_cohort), *parts[2:]])
    return field


@router.post("/validate", response_model=ValidationPublic, summary="Validate a query without running it")
async def validate_query(
    query: QueryBody, principal: CurrentPrincipal, service: ServiceDep
) -> ValidationPublic:
    def work() -> pipeline.Prepared:
        segment = pipeline.segment_of(service, principal.organisation_id)
        return prepare_for(service, principal, query, segment)

    prepared = await run_db(service, work)
    return ValidationPublic(
        valid=True,
        query_hash=prepared.query_hash,
        query=prepared.canonical,
        shape=pipeline.shape_public(prepared.shape),
    )


@router.post(
    "/quote", response_model=QuotePublic, summary="Price and privacy cost of a query, without running it"
)
async def quote_query(query: QueryBody, principal: BuyerPrincipal, service: ServiceDep) -> QuotePublic:
    def work(session: Any):
        segment = pipeline.segment_of(service, principal.organisation_id, session)
        prepared = prepare_for(service, principal, query, segment, session)
        warnings = pipeline.refusal_warnings(service, session, principal.organisation_id, prepared)
        return prepared, budget_of(service, session, principal.organisation_id), warnings

    prepared, budget, warnings = await in_session(service, work)
    quote = prepared.quote
    return QuotePublic(
        **refusal_warnings_public(warnings),
        query_hash=prepared.query_hash,
        shape=pipeline.shape_public(prepared.shape),
        price=PricePublic(
            amount=quote.net_amount,
            currency=quote.currency,
            price_list_version=quote.price_list_version,
            segment=quote.segment,
            breakdown={
                "components": [{"label": c.label, "amount": str(c.amount)} for c in quote.components],
                "list_price": str(quote.list_price),
                "multiplier": str(quote.multiplier),
                "vat_indicative": str(quote.vat_amount),
            },
            reduced_prices=[ReducedPricePublic.model_validate(reduced) for reduced in quote.reduced_prices],
        ),
        privacy=PrivacyCostPublic(
            rho=prepared.rho,
            note=charging.privacy_cost_note(prepared.rho),
            organisation_rho_remaining=budget.rho_remaining,
            organisation_rho_limit=budget.rho_limit,
            data_version=budget.data_version,
        ),
    )


def refusal_warnings_public(warnings: list[charging.QuoteWarning]) -> dict[str, Any]:
    """``would_refuse`` and ``warnings`` of a quote (``RefusalWarnings``)."""
    public = [QuoteWarningPublic(**dataclasses.asdict(warning)) for warning in warnings]
    return {"would_refuse": any(w.refuses for w in public), "warnings": public}


def queue_position(session: Any, run: QueryRun) -> int | None:
    """A queued run's place among the queued runs of every organisation and process (1: first)."""
    if run.status != "queued":
        return None
    ahead = session.execute(
        select(func.count())
        .select_from(QueryRun)
        .where(
            QueryRun.status == "queued",
            or_(
                QueryRun.created_at < run.created_at,
                and_(QueryRun.created_at == run.created_at, QueryRun.id < run.id),
            ),
        )
    ).scalar_one()
    return ahead + 1


def poll_headers(run: QueryRun) -> dict[str, str]:
    return {"Retry-After": str(POLL_AFTER_SECONDS)} if run.status in ("queued", "running") else {}


def run_public(run: QueryRun, bucket_ms: int, position: int | None = None) -> RunPublic:
    """A run as its customer sees it: ``finished_at`` only at bucket granularity (``visible_finish``);
    the stage only while it runs (a finished run keeps its last stage for the operator)."""
    return RunPublic(
        id=run.id,
        status=run.status,
        organisation_id=run.organisation_id,
        query_hash=run.query_hash,
        title=run.title,
        created_at=run.created_at,
        finished_at=visible_finish(run.created_at, run.finished_at, bucket_ms),
        release_id=run.release_id,
        release_url=f"/v1/releases/{run.release_id}" if run.release_id else None,
        problem=Problem(**json.loads(run.problem_json)) if run.problem_json else None,
        queue_position=position,
        stage=run.stage if run.status == "running" else None,
    )


@router.post(
    "/runs",
    status_code=201,
    response_model=None,
    summary="Run a query and release the protected result",
    description="Answers 201 with the release when it finishes within the synchronous wait; otherwise "
    "(or when every run slot is busy) 202 with a Location to poll. A refused release is a 409 problem "
    "whose message never depends on a count; refused runs are not charged.",
    responses={
        201: {"model": ReleasePublic, "description": "released (Location: /v1/releases/{id})"},
        202: {
            "model": RunPublic,
            "description": "accepted; poll Location (/v1/queries/runs/{id}) after Retry-After seconds",
            "headers": {"Retry-After": RETRY_AFTER_HEADER},
        },
    },
)
def run_query(
    query: QueryBody,
    principal: BuyerPrincipal,
    service: ServiceDep,
    quote_id: billing_runs.QuoteIdParam = None,
    order_id: billing_runs.OrderIdParam = None,
):
    started = time.monotonic()
    principal = billing_runs.run_principal(service, principal, order_id)
    segment = pipeline.segment_of(service, principal.organisation_id)
    prepared = prepare_for(service, principal, query, segment)
    prepared = billing_runs.attach(service, principal, prepared, quote_id=quote_id, order_id=order_id)
    requester = requester_of(principal)
    run_id = pipeline.create_run(service, requester, prepared)
    try:
        future, free = service.submit_run(run_id, requester, prepared)
    except TooManyRequests:
        with service.db.write() as session:
            run = session.get_one(QueryRun, run_id)
            run.status = "failed"
            run.problem_json = json.dumps(
                {
                    "type": "https://statservice.example/problems/rate-limited",
                    "title": "Too many requests",
                    "status": 429,
                    "detail": "not admitted: too many runs waiting",
                    "instance": f"/v1/queries/runs/{run_id}",
                    "errors": [],
                }
            )
        raise
    except Exception:  # e.g. the worker pool could not take it: the run must not stay queued forever
        pipeline.fail_run(service, run_id, requester, prepared)
        raise
    status = None
    if free:
        try:
            status = future.result(timeout=service.settings.sync_wait_seconds)
        except FutureTimeout:
            status = None
    with service.db.session() as session:
        run = session.get_one(QueryRun, run_id)
        if status == "released" and run.release_id:
            release = session.get_one(ReleaseRecord, run.release_id)
            body = release_public(release, run, service.settings.release_time_bucket_ms).model_dump(
                mode="json"
            )
            response = JSONResponse(body, status_code=201, headers={"Location": f"/v1/releases/{release.id}"})
            pad_to_bucket(started, service.settings.release_time_bucket_ms)
            return response
        if status in ("refused", "failed") and run.problem_json:
            problem = json.loads(run.problem_json)
            problem["instance"] = "/v1/queries/runs"
            response = ProblemResponse(problem, status_code=problem["status"])
            pad_to_bucket(started, service.settings.release_time_bucket_ms)
            return response
        pending = run_public(run, service.settings.release_time_bucket_ms, queue_position(session, run))
        headers = {"Location": f"/v1/queries/runs/{run_id}", **poll_headers(run)}
    return JSONResponse(pending.model_dump(mode="json"), status_code=202, headers=headers)


@router.get(
    "/runs/{run_id}",
    response_model=RunPublic,
    summary="Status of a run (poll after 202)",
    description="A queued run shows its `queue_position`, a running one its `stage`; while unfinished "
    "the answer carries Retry-After.",
    responses={200: {"headers": {"Retry-After": RETRY_AFTER_HEADER}}},
)
async def get_run(
    run_id: Annotated[str, Path(max_length=40)],
    principal: CurrentPrincipal,
    service: ServiceDep,
    response: Response,
) -> RunPublic:
    # async with one thread hop for the database work: every waiting client polls this (issue 14)
    def read(session: Any) -> RunPublic:
        run = session.get(QueryRun, run_id)
        if run is None or not principal.may_see(run.organisation_id):
            raise NotFound(f"run {run_id} not found")
        response.headers.update(poll_headers(run))
        return run_public(run, service.settings.release_time_bucket_ms, queue_position(session, run))

    return await in_session(service, read)


@router.get("/schema", summary="The JSON Schema of a query", response_model=dict[str, Any])
def query_schema(principal: CurrentPrincipal) -> dict[str, Any]:
    return Query.model_json_schema()
