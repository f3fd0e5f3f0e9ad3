"""The cohort builder's form: its choices derived from the query model, the query it builds, and
where each field error of the query is shown.

Nothing here decides what a valid query is: the form builds the JSON a curl user would send, and the
query model and ``queries.validation`` judge it, exactly as for ``POST /v1/queries/validate``."""

from __future__ import annotations

import dataclasses
import json
import typing
from dataclasses import dataclass, field
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from queries import model as m
from queries.validation import concept_code_fields
from queries.vocabulary import CATALOG_SYSTEMS
from statservice.api.errors import validation_errors
from statservice.service import code_list_name
from statservice.web import model_form


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


def _mapping(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def index_concepts() -> dict[str, str]:
    """type -> label of every concept an index event may name (the model's event concepts)."""
    return {
        model_form.member_value(model, "type"): _label(model_form.member_value(model, "type"))
        for model in m.union_members(m.EventConcept)
    }


def occurrence_choices() -> tuple[str, ...]:
    return typing.get_args(m.IndexEvent.model_fields["occurrence"].annotation)


def result_kinds() -> list[str]:
    """Every result kind the builder offers, from the query model's union."""
    return [
        model_form.member_value(model, "kind")
        for model in model_form.union_of(m.Query.model_fields["result"].annotation)
    ]


# The query's parts below the index event, each shown by controls derived from the model.
MODEL_SECTIONS = ("population", "criteria", "result", "disclosure")


def _index_concept_model(concept_type: str) -> type[m.Model] | None:
    return next(
        (x for x in m.union_members(m.EventConcept) if model_form.member_value(x, "type") == concept_type),
        None,
    )


@dataclass
class BuilderForm:
    title: str = ""
    concept_type: str = "diagnosis"
    codes: tuple[str, ...] = ()
    start: str = ""
    end: str = ""
    occurrence: str = "first"
    lookback_days: str = ""  # index.lookback.days; empty: no look-back
    # the index concept's fields but its codes (``index.concept.<name>``), then the query's other
    # parts (MODEL_SECTIONS), as JSON read by ``model_form``
    concept_options: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_form(cls, form: Any) -> BuilderForm:
        posted = model_form.PostedForm(form)
        concept_type = str(form.get("concept_type", "diagnosis"))
        concept_model = _index_concept_model(concept_type)
        code_field = coded_concepts()[concept_type].code_field if concept_type in coded_concepts() else None
        options = (
            model_form.read_fields(concept_model, "index.concept", posted, skip=(code_field or "",))
            if concept_model
            else {}
        )
        sections = {}
        for name in MODEL_SECTIONS:
            value = model_form.read_field(m.Query, name, posted)
            if value is not model_form.MISSING:
                sections[name] = value
        return cls(
            title=str(form.get("title", "")).strip(),
            concept_type=concept_type,
            codes=tuple(dict.fromkeys(str(c) for c in form.getlist("codes") if str(c).strip())),
            start=str(form.get("start", "")),
            end=str(form.get("end", "")),
            occurrence=str(form.get("occurrence", "first")),
            lookback_days=str(form.get("lookback_days", "")).strip(),
            concept_options=options,
            sections=sections,
        )

    @classmethod
    def from_payload(cls, payload: Any) -> BuilderForm:
        """The form showing a query JSON (a saved draft: perhaps unfinished, perhaps not a query)."""
        payload = _mapping(payload)
        index = _mapping(payload.get("index"))
        concept, period = dict(_mapping(index.get("concept"))), _mapping(index.get("period"))
        concept_type = str(concept.pop("type", "diagnosis"))
        coded = coded_concepts().get(concept_type)
        codes = concept.pop(coded.code_field, []) if coded else []
        return cls(
            title=str(payload.get("title") or ""),
            concept_type=concept_type,
            codes=tuple(str(c) for c in codes) if isinstance(codes, list) else (),
            start=str(period.get("start") or ""),
            end=str(period.get("end") or ""),
            occurrence=str(index.get("occurrence") or "first"),
            lookback_days=str(_mapping(index.get("lookback")).get("days") or ""),
            concept_options=concept,
            sections={name: payload[name] for name in MODEL_SECTIONS if name in payload},
        )

    def payload(self) -> dict[str, Any]:
        """The query as JSON, as a curl user would write it."""
        concept: dict[str, Any] = {"type": self.concept_type, **self.concept_options}
        coded = coded_concepts().get(self.concept_type)
        if coded is not None:
            concept[coded.code_field] = list(self.codes)
        payload: dict[str, Any] = {
            "index": {
                "concept": concept,
                "period": {"start": self.start, "end": self.end},
                "occurrence": self.occurrence,
            },
            **self.sections,
        }
        if self.lookback_days:
            # a number as a number; anything else as typed, for validation to name index.lookback.days
            days: Any = int(self.lookback_days) if self.lookback_days.isdigit() else self.lookback_days
            payload["index"]["lookback"] = {"days": days}
        if self.title:
            payload["title"] = self.title
        return payload

    def controls(self) -> dict[str, list[model_form.Control]]:
        """The controls of the index concept's options and of each model section, showing this form."""
        concept_model = _index_concept_model(self.concept_type)
        coded = coded_concepts().get(self.concept_type)
        options = (
            model_form.fields_of(
                concept_model,
                "index.concept",
                self.concept_options,
                skip=(coded.code_field if coded else "",),
            )
            if concept_model
            else []
        )
        return {
            "concept": options,
            **{
                name: [model_form.field_control(m.Query, name, self.sections.get(name, model_form.MISSING))]
                for name in MODEL_SECTIONS
            },
        }

    def slot_names(self) -> list[str]:
        """Every error slot of this form: the hand-made fields' and each derived control's."""
        derived = [c.slug for group in self.controls().values() for top in group for c in top.walk()]
        return [*FIELD_SLOTS, *derived, GENERAL_SLOT]

    def edited(self, edit: str) -> BuilderForm:
        """This form after ``add:<path>`` or ``remove:<path>`` (a criterion, a characteristic, a drug,
        a member of a composite index concept)."""
        if edit.partition(":")[2].startswith("index.concept."):
            concept = {"type": self.concept_type, **json.loads(json.dumps(self.concept_options))}
            payload = {"index": {"concept": concept}}
            model_form.apply_edit(payload, edit)
            concept.pop("type")
            return dataclasses.replace(self, concept_options=concept)
        sections = json.loads(json.dumps(self.sections))
        model_form.apply_edit(sections, edit)
        return dataclasses.replace(self, sections=sections)


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
    "lookback_days": ("index.lookback",),
}
GENERAL_SLOT = "query"


def slot_of(field: str, slots: typing.Iterable[str] = ()) -> str:
    """The slot an error of ``field`` is shown in: the hand-made field or derived control (its slug,
    the field path with dashes) whose path is the longest prefix of ``field``."""
    parts = field.split(".") if field else []
    candidates = [(slot, prefix.split(".")) for slot, prefixes in FIELD_SLOTS.items() for prefix in prefixes]
    candidates += [
        (slot, slot.split("-")) for slot in slots if slot not in FIELD_SLOTS and slot != GENERAL_SLOT
    ]
    best, best_length = GENERAL_SLOT, 0
    for slot, prefix_parts in candidates:
        if parts[: len(prefix_parts)] == prefix_parts and len(prefix_parts) > best_length:
            best, best_length = slot, len(prefix_parts)
    return best


def errors_by_slot(errors: list[dict[str, Any]], slots: typing.Iterable[str] = ()) -> dict[str, list[str]]:
    """slot -> the messages shown there (every slot present, empty ones clear an old message)."""
    shown: dict[str, list[str]] = {slot: [] for slot in (*FIELD_SLOTS, *slots, GENERAL_SLOT)}
    for error in errors:
        message = error.get("message", "")
        valid = error.get("valid")
        text = f"{message} (valid: {valid})" if valid else message
        slot = slot_of(error.get("field", ""), shown)
        if slot == GENERAL_SLOT and error.get("field"):
            text = f"{error['field']}: {text}"
        shown[slot].append(text)
    return shown
