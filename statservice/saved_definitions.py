"""Named concept sets and cohort definitions an organisation saves and refers to by id and version.

A definition has a name (one per organisation and kind) and numbered versions. Saving a changed
definition adds the next version; saving the same one again adds nothing; no version is ever changed
or deleted, so a release that names a version can always be read again as it ran. Another
organisation's definitions do not exist for the caller (404, not 403: their ids say nothing)."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from statservice.accounts import new_id
from statservice.core.errors import Conflict, NotFound
from statservice.db.models import SavedDefinition, SavedDefinitionVersion, utcnow

CONCEPT_SET = "concept_set"
COHORT = "cohort"
# kind -> (the id prefix, how a message names it)
KINDS = {CONCEPT_SET: ("cs", "concept set"), COHORT: ("coh", "cohort")}
MAX_LISTED = 500


def canonical_json(definition: dict[str, Any]) -> str:
    return json.dumps(definition, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def definition_hash(definition: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json(definition).encode()).hexdigest()


def list_definitions(session: Session, organisation_id: str, kind: str) -> list[SavedDefinition]:
    return list(
        session.scalars(
            select(SavedDefinition)
            .where(SavedDefinition.organisation_id == organisation_id, SavedDefinition.kind == kind)
            .order_by(SavedDefinition.name)
            .limit(MAX_LISTED)
        )
    )


def get_definition(session: Session, organisation_id: str, kind: str, definition_id: str) -> SavedDefinition:
    found = session.get(SavedDefinition, definition_id)
    if found is None or found.organisation_id != organisation_id or found.kind != kind:
        raise NotFound(f"{KINDS[kind][1]} {definition_id} not found")
    return found


def versions_of(session: Session, definition: SavedDefinition) -> list[SavedDefinitionVersion]:
    return list(
        session.scalars(
            select(SavedDefinitionVersion)
            .where(SavedDefinitionVersion.definition_id == definition.id)
            .order_by(SavedDefinitionVersion.version)
        )
    )


def latest_version(session: Session, definition: SavedDefinition) -> SavedDefinitionVersion:
    return versions_of(session, definition)[-1]


def get_version(
    session: Session, organisation_id: str, kind: str, definition_id: str, version: int
) -> SavedDefinitionVersion:
    definition = get_definition(session, organisation_id, kind, definition_id)
    found = session.get(SavedDefinitionVersion, (definition.id, version))
    if found is None:
        raise NotFound(f"{KINDS[kind][1]} {definition_id} has no version {version}")
    return found


def create_definition(
    session: Session, organisation_id: str, key_id: str, kind: str, name: str, definition: dict[str, Any]
) -> tuple[SavedDefinition, SavedDefinitionVersion]:
    """A new named definition with its version 1; a 409 when the organisation has one of that name."""
    taken = session.scalar(
        select(SavedDefinition.id).where(
            SavedDefinition.organisation_id == organisation_id,
            SavedDefinition.kind == kind,
            SavedDefinition.name == name,
        )
    )
    if taken is not None:
        raise Conflict(
            f"the organisation has a {KINDS[kind][1]} named {name!r} ({taken}): "
            f"save a new version of it with POST .../{taken}/versions"
        )
    saved = SavedDefinition(
        id=new_id(KINDS[kind][0]), organisation_id=organisation_id, kind=kind, name=name, created_at=utcnow()
    )
    session.add(saved)
    session.flush()
    return saved, _add_version(session, saved, 1, key_id, definition)


def save_version(
    session: Session,
    organisation_id: str,
    key_id: str,
    kind: str,
    definition_id: str,
    definition: dict[str, Any],
) -> tuple[SavedDefinitionVersion, bool]:
    """The definition saved as the next version, and True; or, when it is the latest version's
    definition already, that version and False (an unchanged save is not a new version)."""
    saved = get_definition(session, organisation_id, kind, definition_id)
    latest = latest_version(session, saved)
    if latest.definition_hash == definition_hash(definition):
        return latest, False
    number = session.scalar(
        select(func.max(SavedDefinitionVersion.version)).where(
            SavedDefinitionVersion.definition_id == saved.id
        )
    )
    try:
        return _add_version(session, saved, (number or 0) + 1, key_id, definition), True
    except IntegrityError as error:  # two saves at once: the other one took this number
        raise Conflict(
            f"{KINDS[kind][1]} {definition_id} was changed at the same time; save again"
        ) from error


def _add_version(
    session: Session, saved: SavedDefinition, number: int, key_id: str, definition: dict[str, Any]
) -> SavedDefinitionVersion:
    version = SavedDefinitionVersion(
        definition_id=saved.id,
        version=number,
        definition_json=canonical_json(definition),
        definition_hash=definition_hash(definition),
        saved_by_key_id=key_id,
        created_at=utcnow(),
    )
    session.add(version)
    session.flush()
    return version


def definition_of(version: SavedDefinitionVersion) -> dict[str, Any]:
    return json.loads(version.definition_json)


def resolve_concept_sets(
    session: Session, organisation_id: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The query JSON with every ``{"type": "concept_set", "id", "version"}`` replaced by that saved
    version's concept, and the references used (id, version, definition hash), in order of first use.
    An id or version the organisation does not have is a 404 naming where the query refers to it."""
    used: dict[tuple[str, int], dict[str, Any]] = {}

    def resolved(node: Any, path: str) -> Any:
        if isinstance(node, list):
            return [resolved(item, f"{path}.{k}") for k, item in enumerate(node)]
        if not isinstance(node, dict):
            return node
        if node.get("type") == "concept_set":  # only concepts carry this type (criteria: include, ...)
            set_id, number = str(node.get("id")), node.get("version")
            try:
                version = get_version(session, organisation_id, CONCEPT_SET, set_id, int(number))  # type: ignore[arg-type]
            except NotFound as missing:
                field = path.lstrip(".")
                error = {"field": field, "message": missing.detail, "valid": "a concept set id and version"}
                raise NotFound(f"{missing.detail} (referred to at {field})", errors=[error]) from None
            used.setdefault(
                (set_id, version.version),
                {
                    "type": CONCEPT_SET,
                    "id": set_id,
                    "version": version.version,
                    "definition_hash": version.definition_hash,
                },
            )
            return definition_of(version)
        return {name: resolved(value, f"{path}.{name}") for name, value in node.items()}

    return resolved(payload, ""), list(used.values())


def resolve_cohort(
    session: Session, organisation_id: str, payload: dict[str, Any]
) -> tuple[dict[str, Any], list[dict[str, Any]], int]:
    """The query JSON with its ``"cohort": {"id", "version"}`` replaced by that saved version's index,
    population and criteria (the query's own ``criteria`` appended after the cohort's), the reference
    used (id, version, definition hash), and how many criteria came from the cohort. A query without
    ``cohort`` is returned as it is. An id or version the organisation does not have is a 404 naming
    ``cohort`` or ``cohort.version``."""
    reference = payload.get("cohort")
    if not isinstance(reference, dict):
        return payload, [], 0
    cohort_id, number = str(reference.get("id")), int(reference.get("version"))  # type: ignore[arg-type]
    try:
        get_definition(session, organisation_id, COHORT, cohort_id)
    except NotFound as missing:
        error = {"field": "cohort", "message": missing.detail, "valid": "a cohort id of the organisation"}
        raise NotFound(f"{missing.detail} (referred to at cohort)", errors=[error]) from None
    try:
        version = get_version(session, organisation_id, COHORT, cohort_id, number)
    except NotFound as missing:
        error = {"field": "cohort.version", "message": missing.detail, "valid": "a saved version"}
        raise NotFound(f"{missing.detail} (referred to at cohort.version)", errors=[error]) from None
    definition = definition_of(version)
    written = {name: value for name, value in payload.items() if name != "cohort"}
    resolved = {
        **written,
        "index": definition["index"],
        "population": definition["population"],
        "criteria": [*definition["criteria"], *written.get("criteria", [])],
    }
    used = {"type": COHORT, "id": cohort_id, "version": number, "definition_hash": version.definition_hash}
    return resolved, [used], len(definition["criteria"])
