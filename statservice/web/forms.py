"""The cohort builder's form: its choices derived from the query model, the query it builds, and
where each field error of the query is shown.

Nothing here decides what a valid query is: the form builds the JSON a curl user would send, and the
query model and ``queries.validation`` judge it, exactly as for ``POST /v1/queries/validate``."""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from queries import model as m
from queries.validation import concept_code_fields
from queries.vocabulary import CATALOG_SYSTEMS
from statservice.api.errors import validation_errors
from statservice.service import code_list_name


def _literal_default(model: type[m.Model], name: str) -> str:
    return str(model.model_fields[name].default)


def _label(value: str) -> str:
    return value.replace("_", " ").capitalize()


@dataclass(frozen=True)
class CodedConcept:
    """An index concept chosen by codes from one of the catalog's code lists."""

    type: str  # the concept's ``type`` in the query
    label: str
    code_field: str  # where the codes go: ``codes`` or ``atc``
    code_list: str  # the code list searched for them (/v1/catalog/code-lists/{code_list})


def coded_concepts() -> dict[str, CodedConcept]:
    """Every index concept that carries codes, from the query model's own union (so a new coded
    concept appears in the builder) and ``queries.validation.concept_code_fields`` (which field
    holds its codes, in which code system)."""
    catalog_list_of = {system: name for name, system in CATALOG_SYSTEMS.items()}
    found = {}
    for model in typing.get_args(typing.get_args(m.EventConcept)[0]):
        field = next((f for f in ("codes", "atc") if f in model.model_fields), None)
        if field is None:
            continue
        located = concept_code_fields(model.model_construct(**{field: ()}))
        if located is None:
            continue
        concept_type = _literal_default(model, "type")
        found[concept_type] = CodedConcept(
            concept_type, _label(concept_type), field, code_list_name(catalog_list_of[located[1]])
        )
    return found


def breakdown_choices() -> dict[str, str]:
    """``by`` value -> label of every breakdown of a cohort count, from the query model."""
    return {
        _literal_default(model, "by"): _label(_literal_default(model, "by"))
        for model in typing.get_args(typing.get_args(m.Breakdown)[0])
    }


def occurrence_choices() -> tuple[str, ...]:
    return typing.get_args(m.IndexEvent.model_fields["occurrence"].annotation)


@dataclass
class BuilderForm:
    title: str = ""
    concept_type: str = "diagnosis"
    codes: tuple[str, ...] = ()
    start: str = ""
    end: str = ""
    occurrence: str = "first"
    breakdowns: tuple[str, ...] = ()

    @classmethod
    def from_form(cls, form: Any) -> BuilderForm:
        return cls(
            title=str(form.get("title", "")).strip(),
            concept_type=str(form.get("concept_type", "diagnosis")),
            codes=tuple(dict.fromkeys(str(c) for c in form.getlist("codes") if str(c).strip())),
            start=str(form.get("start", "")),
            end=str(form.get("end", "")),
            occurrence=str(form.get("occurrence", "first")),
            breakdowns=tuple(dict.fromkeys(str(b) for b in form.getlist("breakdowns"))),
        )

    def payload(self) -> dict[str, Any]:
        """The query as JSON, as a curl user would write it."""
        concept = coded_concepts().get(self.concept_type)
        code_field = concept.code_field if concept else "codes"
        payload: dict[str, Any] = {
            "index": {
                "concept": {"type": self.concept_type, code_field: list(self.codes)},
                "period": {"start": self.start, "end": self.end},
                "occurrence": self.occurrence,
            },
            "result": {"kind": "cohort_count", "breakdowns": [{"by": by} for by in self.breakdowns]},
        }
        if self.title:
            payload["title"] = self.title
        return payload


def parse_query(payload: dict[str, Any]) -> m.Query:
    """The query model of ``payload``; a ``RequestValidationError`` with the body's field names, the
    one the API raises for the same JSON (so ``validation_errors`` names the same fields)."""
    try:
        return m.Query.model_validate(payload)
    except ValidationError as error:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in error.errors(include_url=False)]
        raise RequestValidationError(errors, body=payload) from error


def field_errors(error: RequestValidationError) -> list[dict[str, Any]]:
    return validation_errors(error)


# Where a field error is shown: the form control whose field path is the longest prefix of the error's
# field. An error no control owns is shown above the form.
FIELD_SLOTS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "concept_type": ("index.concept.type",),
    "codes": ("index.concept",),
    "start": ("index.period.start",),
    "end": ("index.period.end",),
    "period": ("index.period",),
    "occurrence": ("index.occurrence",),
    "breakdowns": ("result",),
}
GENERAL_SLOT = "query"


def slot_of(field: str) -> str:
    parts = field.split(".") if field else []
    best, best_length = GENERAL_SLOT, 0
    for slot, prefixes in FIELD_SLOTS.items():
        for prefix in prefixes:
            prefix_parts = prefix.split(".")
            if parts[: len(prefix_parts)] == prefix_parts and len(prefix_parts) > best_length:
                best, best_length = slot, len(prefix_parts)
    return best


def errors_by_slot(errors: list[dict[str, Any]]) -> dict[str, list[str]]:
    """slot -> the messages shown there (every slot present, empty ones clear an old message)."""
    shown: dict[str, list[str]] = {slot: [] for slot in (*FIELD_SLOTS, GENERAL_SLOT)}
    for error in errors:
        message = error.get("message", "")
        valid = error.get("valid")
        text = f"{message} (valid: {valid})" if valid else message
        slot = slot_of(error.get("field", ""))
        if slot == GENERAL_SLOT and error.get("field"):
            text = f"{error['field']}: {text}"
        shown[slot].append(text)
    return shown
