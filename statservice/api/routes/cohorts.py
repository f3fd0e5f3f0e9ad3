"""Cohort definitions of the caller's organisation: a named index event, population and criteria saved
in immutable versions and referred to by id and version. Saving a changed definition adds a version;
another organisation's cohorts are not found (404)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, model_validator

from queries import model as m
from queries.errors import QueryValidationError
from queries.limits import check_json_limits
from queries.validation import cohort_definition_problems
from statservice import saved_definitions as saved
from statservice.api.deps import BuyerPrincipal, ServiceDep
from statservice.api.openapi import problems
from statservice.db.models import SavedDefinition, SavedDefinitionVersion

router = APIRouter(prefix="/cohorts", tags=["cohorts"], responses=problems())
CohortId = Annotated[str, Path(max_length=40, description="the cohort's id, e.g. coh_0123456789abcdef0123")]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000, description="a version of the cohort, from 1")]
NAME = r"^[^\x00]*\S[^\x00]*$"  # some visible text; PostgreSQL text cannot hold NUL


class CohortDefinition(BaseModel):
    """The cohort part of a query: index event, population constraints and criteria."""

    # before any field is validated: a definition nested 500 deep must not reach pydantic's recursion
    @model_validator(mode="before")
    @classmethod
    def _within_json_limits(cls, data: Any) -> Any:
        return check_json_limits(data)

    model_config = ConfigDict(extra="forbid")

    index: m.IndexEvent
    population: m.Population = m.Population()
    criteria: Annotated[tuple[m.Criterion, ...], Field(max_length=50)] = ()


class CohortCreate(CohortDefinition):
    name: str = Field(min_length=1, max_length=120, pattern=NAME, description="unique in the organisation")


class CohortVersionCreate(CohortDefinition):
    """The cohort's new definition."""


class CohortVersionPublic(BaseModel):
    id: str
    name: str
    version: int
    cohort: dict = Field(description="index, population and criteria, as in a query")
    definition_hash: str = Field(description="SHA-256 of the definition's canonical JSON")
    created_at: dt.datetime


class CohortPublic(CohortVersionPublic):
    """The cohort with its latest version's definition, and every version number."""

    organisation_id: str
    versions: list[int]


def version_public(definition: SavedDefinition, version: SavedDefinitionVersion) -> CohortVersionPublic:
    return CohortVersionPublic(
        id=definition.id,
        name=definition.name,
        version=version.version,
        cohort=saved.definition_of(version),
        definition_hash=version.definition_hash,
        created_at=version.created_at,
    )


def cohort_public(session, definition: SavedDefinition) -> CohortPublic:
    versions = saved.versions_of(session, definition)
    latest = version_public(definition, versions[-1])
    return CohortPublic(
        **latest.model_dump(),
        organisation_id=definition.organisation_id,
        versions=[v.version for v in versions],
    )


def checked(body: CohortDefinition) -> dict:
    """The definition's JSON as saved, after the checks a query would make of it."""
    found = cohort_definition_problems(body.index, body.population, body.criteria)
    if found:
        raise QueryValidationError(found)
    # every field written out: the same definition saved with or without its defaults is one version
    return CohortDefinition.model_validate(
        body.model_dump(include={"index", "population", "criteria"})
    ).model_dump(mode="json")


@router.post(
    "", status_code=201, response_model=CohortPublic, summary="Save a new cohort definition (version 1)"
)
def create_cohort(
    body: Annotated[CohortCreate, Body()], principal: BuyerPrincipal, service: ServiceDep
) -> CohortPublic:
    cohort = checked(body)
    with service.db.write() as session:
        definition, _ = saved.create_definition(
            session, principal.organisation_id, principal.key_id, saved.COHORT, body.name.strip(), cohort
        )
        return cohort_public(session, definition)


@router.get("", response_model=list[CohortPublic], summary="Cohort definitions of the caller's organisation")
def list_cohorts(principal: BuyerPrincipal, service: ServiceDep) -> list[CohortPublic]:
    with service.db.session() as session:
        return [
            cohort_public(session, d)
            for d in saved.list_definitions(session, principal.organisation_id, saved.COHORT)
        ]


@router.get("/{cohort_id}", response_model=CohortPublic, summary="A cohort at its latest version")
def get_cohort(cohort_id: CohortId, principal: BuyerPrincipal, service: ServiceDep) -> CohortPublic:
    with service.db.session() as session:
        return cohort_public(
            session, saved.get_definition(session, principal.organisation_id, saved.COHORT, cohort_id)
        )


@router.post(
    "/{cohort_id}/versions",
    status_code=201,
    response_model=CohortVersionPublic,
    summary="Save a changed definition as the next version: 201; unchanged: 200 with the latest version",
)
def save_cohort_version(
    cohort_id: CohortId,
    body: Annotated[CohortVersionCreate, Body()],
    principal: BuyerPrincipal,
    service: ServiceDep,
) -> Response:
    cohort = checked(body)
    with service.db.write() as session:
        version, created = saved.save_version(
            session, principal.organisation_id, principal.key_id, saved.COHORT, cohort_id, cohort
        )
        definition = saved.get_definition(session, principal.organisation_id, saved.COHORT, cohort_id)
        public = version_public(definition, version)
    return JSONResponse(public.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/{cohort_id}/versions/{version}", response_model=CohortVersionPublic, summary="One version of a cohort"
)
def get_cohort_version(
    cohort_id: CohortId, version: VersionNumber, principal: BuyerPrincipal, service: ServiceDep
) -> CohortVersionPublic:
    with service.db.session() as session:
        found = saved.get_version(session, principal.organisation_id, saved.COHORT, cohort_id, version)
        definition = saved.get_definition(session, principal.organisation_id, saved.COHORT, cohort_id)
        return version_public(definition, found)
