"""Concept sets of the caller's organisation: a named event concept (codes, exclusions, options, or an
``any_of``) saved in immutable versions and referred to by id and version. Saving a changed concept
adds a version; another organisation's sets are not found (404)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from fastapi import APIRouter, Body, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field, model_validator

from queries import model as m
from queries.errors import QueryValidationError
from queries.limits import check_json_limits
from queries.validation import concept_set_problems
from statservice import saved_definitions as saved
from statservice.api.deps import BuyerPrincipal, ServiceDep
from statservice.api.openapi import problems
from statservice.db.models import SavedDefinition, SavedDefinitionVersion

router = APIRouter(prefix="/concept-sets", tags=["concept sets"], responses=problems())
ConceptSetId = Annotated[str, Path(max_length=40, description="the set's id, e.g. cs_0123456789abcdef0123")]
VersionNumber = Annotated[int, Path(ge=1, le=1_000_000, description="a version of the set, from 1")]
NAME = r"^[^\x00]*\S[^\x00]*$"  # some visible text; PostgreSQL text cannot hold NUL


class ConceptSetCreate(BaseModel):
    # before any field is validated: a definition nested 500 deep must not reach pydantic's recursion
    @model_validator(mode="before")
    @classmethod
    def _within_json_limits(cls, data: Any) -> Any:
        return check_json_limits(data)

    name: str = Field(min_length=1, max_length=120, pattern=NAME, description="unique in the organisation")
    concept: m.EventConcept = Field(description="an event concept, as in a query")


class ConceptSetVersionCreate(BaseModel):
    # before any field is validated: a definition nested 500 deep must not reach pydantic's recursion
    @model_validator(mode="before")
    @classmethod
    def _within_json_limits(cls, data: Any) -> Any:
        return check_json_limits(data)

    concept: m.EventConcept = Field(description="the set's new definition")


class ConceptSetVersionPublic(BaseModel):
    id: str
    name: str
    version: int
    concept: dict
    definition_hash: str = Field(description="SHA-256 of the concept's canonical JSON")
    created_at: dt.datetime


class ConceptSetPublic(ConceptSetVersionPublic):
    """The set with its latest version's definition, and every version number."""

    organisation_id: str
    versions: list[int]


def version_public(definition: SavedDefinition, version: SavedDefinitionVersion) -> ConceptSetVersionPublic:
    return ConceptSetVersionPublic(
        id=definition.id,
        name=definition.name,
        version=version.version,
        concept=saved.definition_of(version),
        definition_hash=version.definition_hash,
        created_at=version.created_at,
    )


def set_public(session, definition: SavedDefinition) -> ConceptSetPublic:
    versions = saved.versions_of(session, definition)
    latest = version_public(definition, versions[-1])
    return ConceptSetPublic(
        **latest.model_dump(),
        organisation_id=definition.organisation_id,
        versions=[v.version for v in versions],
    )


def checked(concept: m.Model) -> dict:
    """The concept's JSON as saved, after the checks a query would make of it."""
    found = concept_set_problems(concept)
    if found:
        raise QueryValidationError(found)
    # every field written out: the same concept saved with or without its defaults is one version
    return concept.model_dump(mode="json")


@router.post(
    "", status_code=201, response_model=ConceptSetPublic, summary="Save a new concept set (version 1)"
)
def create_concept_set(
    body: Annotated[ConceptSetCreate, Body()], principal: BuyerPrincipal, service: ServiceDep
) -> ConceptSetPublic:
    concept = checked(body.concept)
    with service.db.write() as session:
        definition, _ = saved.create_definition(
            session,
            principal.organisation_id,
            principal.key_id,
            saved.CONCEPT_SET,
            body.name.strip(),
            concept,
        )
        return set_public(session, definition)


@router.get("", response_model=list[ConceptSetPublic], summary="Concept sets of the caller's organisation")
def list_concept_sets(principal: BuyerPrincipal, service: ServiceDep) -> list[ConceptSetPublic]:
    with service.db.session() as session:
        return [
            set_public(session, d)
            for d in saved.list_definitions(session, principal.organisation_id, saved.CONCEPT_SET)
        ]


@router.get("/{set_id}", response_model=ConceptSetPublic, summary="A concept set at its latest version")
def get_concept_set(set_id: ConceptSetId, principal: BuyerPrincipal, service: ServiceDep) -> ConceptSetPublic:
    with service.db.session() as session:
        return set_public(
            session, saved.get_definition(session, principal.organisation_id, saved.CONCEPT_SET, set_id)
        )


@router.post(
    "/{set_id}/versions",
    status_code=201,
    response_model=ConceptSetVersionPublic,
    summary="Save a changed concept as the next version: 201; unchanged: 200 with the latest version",
)
def save_concept_set_version(
    set_id: ConceptSetId,
    body: Annotated[ConceptSetVersionCreate, Body()],
    principal: BuyerPrincipal,
    service: ServiceDep,
) -> Response:
    concept = checked(body.concept)
    with service.db.write() as session:
        version, created = saved.save_version(
            session, principal.organisation_id, principal.key_id, saved.CONCEPT_SET, set_id, concept
        )
        definition = saved.get_definition(session, principal.organisation_id, saved.CONCEPT_SET, set_id)
        public = version_public(definition, version)
    return JSONResponse(public.model_dump(mode="json"), status_code=201 if created else 200)


@router.get(
    "/{set_id}/versions/{version}", response_model=ConceptSetVersionPublic, summary="One version of a set"
)
def get_concept_set_version(
    set_id: ConceptSetId, version: VersionNumber, principal: BuyerPrincipal, service: ServiceDep
) -> ConceptSetVersionPublic:
    with service.db.session() as session:
        found = saved.get_version(session, principal.organisation_id, saved.CONCEPT_SET, set_id, version)
        definition = saved.get_definition(session, principal.organisation_id, saved.CONCEPT_SET, set_id)
        return version_public(definition, found)
