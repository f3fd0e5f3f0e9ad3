"""Form controls derived from the query model: every field of a pydantic model becomes a control
named by its path in the query's JSON (``criteria.0.window.start``), and a posted form is read back
into that JSON by the same walk over the model.

So the builder offers exactly what ``queries.model`` defines (a new concept, result kind, breakdown
or option appears without a template change) and field errors, which the API names by the same
paths, land at the control of their field. Nothing here judges a value: an unreadable number is
passed on as written, and the query model says what is wrong with it."""

from __future__ import annotations

import datetime as dt
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel

from queries import model as m

MISSING: Any = object()  # a field the form leaves out: the model's default applies
DISCRIMINATORS = ("type", "kind", "by")  # the field that names a member of a union, in the model

# Names of coded values, from the model's own tables (a region code reads as its name).
CHOICE_NAMES: dict[str, dict[Any, str]] = {"regions": m.REGION_NAMES, "levels": m.EDUCATION_LEVEL_NAMES}


LABELS = {"atc": "ATC codes", "codes": "Codes"}  # where the field's name alone reads badly


def label_of(name: str) -> str:
    return LABELS.get(name, name.replace("_", " ").capitalize())


# --- what an annotation asks for -------------------------------------------------------------------


@dataclass(frozen=True)
class Shape:
    """A field's type as a form sees it."""

    kind: str  # literal, bool, int, float, str, date, model, union, tuple
    values: tuple[Any, ...] = ()  # literal: the allowed values
    model: type[BaseModel] | None = None  # model
    members: tuple[type[BaseModel], ...] = ()  # union
    discriminator: str = ""  # union
    inner: Shape | None = None  # tuple: the items' shape
    optional: bool = False  # None is allowed


def shape_of(annotation: Any) -> Shape:
    optional = False
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
            continue
        if origin in (Union, types.UnionType):
            args = tuple(a for a in get_args(annotation) if a is not type(None))
            optional = optional or len(args) < len(get_args(annotation))
            if len(args) == 1:
                annotation = args[0]
                continue
            members = tuple(shape_of(a).model for a in args)
            assert all(members), f"a union the builder cannot show: {annotation}"
            return Shape("union", members=members, discriminator=_discriminator(members), optional=optional)  # type: ignore[arg-type]
        break
    if origin is Literal:
        return Shape("literal", values=get_args(annotation), optional=optional)
    if origin is tuple:
        return Shape("tuple", inner=shape_of(get_args(annotation)[0]), optional=optional)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return Shape("model", model=annotation, optional=optional)
    simple = {bool: "bool", int: "int", float: "float", str: "str", dt.date: "date"}
    assert annotation in simple, f"a field type the builder cannot show: {annotation}"
    return Shape(simple[annotation], optional=optional)


def _discriminator(members: tuple[type[BaseModel], ...]) -> str:
    return next(d for d in DISCRIMINATORS if all(d in member.model_fields for member in members))


def member_value(member: type[BaseModel], discriminator: str) -> str:
    return member.model_fields[discriminator].default


def union_of(annotation: Any) -> tuple[type[BaseModel], ...]:
    return shape_of(annotation).members


def _only_defaults(member: type[BaseModel]) -> bool:
    return all(not f.is_required() for f in member.model_fields.values())


# --- controls --------------------------------------------------------------------------------------


@dataclass
class Control:
    path: str  # the field's path in the query JSON, and the form field's name
    label: str
    # select, checkbox, checkboxes, number, text, date, codes, numbers, group, union, choice_set, list
    widget: str
    value: Any = None
    choices: list[tuple[str, str]] = field(default_factory=list)  # (value, label)
    help: str = ""
    step: str = "1"  # number: "any" for a float
    children: list[Control] = field(default_factory=list)
    discriminator: str = ""  # union: the select's field; choice_set: the members' field
    chosen: list[str] = field(default_factory=list)  # checkboxes and choice_set: the checked values
    remove: bool = False  # an item of a list: has a remove button

    @property
    def slug(self) -> str:
        return self.path.replace(".", "-")

    def walk(self) -> typing.Iterator[Control]:
        yield self
        for child in self.children:
            yield from child.walk()


def _choices(name: str, values: tuple[Any, ...]) -> list[tuple[str, str]]:
    names = CHOICE_NAMES.get(name, {})
    return [(str(v), f"{v} {names[v]}" if v in names else label_of(str(v))) for v in values]


def control_of(shape: Shape, path: str, label: str, value: Any, info: Any = None) -> Control:
    """The control of a field at ``path`` showing ``value`` (MISSING: the field's default)."""
    name = path.rsplit(".", 1)[-1]
    default = info.default if info is not None and not info.is_required() else None
    if value is MISSING:
        value = default
    help_text = (info.description or "") if info is not None else ""
    if shape.kind == "literal":
        choices = _choices(name, shape.values)
        if shape.optional or default is None:
            choices = [("", "not set" if shape.optional else "choose"), *choices]
        return Control(path, label, "select", "" if value is None else str(value), choices, help_text)
    if shape.kind == "bool":
        return Control(path, label, "checkbox", bool(value), help=help_text)
    if shape.kind in ("int", "float"):
        shown = "" if value is None else str(value)
        return Control(
            path, label, "number", shown, help=help_text, step="1" if shape.kind == "int" else "any"
        )
    if shape.kind in ("str", "date"):
        return Control(path, label, "text" if shape.kind == "str" else "date", value or "", help=help_text)
    if shape.kind == "model":
        assert shape.model is not None
        return Control(path, label, "group", children=_fields(shape.model, path, value or {}), help=help_text)
    if shape.kind == "union":
        return _union_control(shape, path, label, value or {}, help_text)
    assert shape.inner is not None
    inner, items = shape.inner, list(value) if isinstance(value, list | tuple) else []
    if inner.kind == "literal":
        return Control(
            path,
            label,
            "checkboxes",
            choices=_choices(name, inner.values),
            chosen=[str(v) for v in items],
            help=help_text,
        )
    if inner.kind in ("str", "int"):
        widget = "codes" if inner.kind == "str" else "numbers"
        return Control(path, label, widget, ", ".join(str(v) for v in items), help=help_text)
    if inner.kind == "union" and all(_only_defaults(member) for member in inner.members):
        # each member at most once (a breakdown): a checkbox per member, with its options
        chosen = {str(item.get(inner.discriminator)): item for item in items if isinstance(item, dict)}
        children = []
        for member in inner.members:
            tag = member_value(member, inner.discriminator)
            children.append(
                Control(
                    f"{path}.{tag}",
                    label_of(tag),
                    "group",
                    children=_fields(member, f"{path}.{tag}", chosen.get(tag, {})),
                )
            )
        return Control(
            path,
            label,
            "choice_set",
            children=children,
            discriminator=inner.discriminator,
            chosen=list(chosen),
            help=help_text,
        )
    children = []
    for k, item in enumerate(items):
        child = control_of(inner, f"{path}.{k}", f"{_singular(label)} {_number_of(f'{path}.{k}')}", item)
        child.remove = True
        children.append(child)
    return Control(path, label, "list", children=children, help=help_text)


def _number_of(path: str) -> str:
    """criteria.0.criteria.1 -> "1.2": an item's place among the lists it is in."""
    return ".".join(str(int(part) + 1) for part in path.split(".") if part.isdigit())


def _singular(label: str) -> str:
    return {"Criteria": "Criterion"}.get(label, label.removesuffix("s"))


def _first_paragraph(doc: str | None) -> str:
    """A model's docstring as help: its first paragraph on one line, without reST markup."""
    return " ".join((doc or "").strip().split("\n\n")[0].split()).replace("``", "")


def _union_control(shape: Shape, path: str, label: str, value: dict[str, Any], help_text: str) -> Control:
    tags = [member_value(member, shape.discriminator) for member in shape.members]
    tag = value.get(shape.discriminator) if isinstance(value, dict) else None
    tag = tag if tag in tags else tags[0]
    member = shape.members[tags.index(tag)]
    return Control(
        path,
        label,
        "union",
        value=tag,
        choices=[(t, label_of(t)) for t in tags],
        help=help_text or _first_paragraph(member.__doc__),
        children=_fields(member, path, value),
        discriminator=shape.discriminator,
    )


def _fields(
    model: type[BaseModel], path: str, value: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[Control]:
    controls = []
    for name, info in model.model_fields.items():
        if name in DISCRIMINATORS or name == "version" or name in skip:
            continue
        given = value.get(name, MISSING) if isinstance(value, dict) else MISSING
        controls.append(control_of(shape_of(info.annotation), f"{path}.{name}", label_of(name), given, info))
    return controls


def fields_of(
    model: type[BaseModel], path: str, value: dict[str, Any], skip: tuple[str, ...] = ()
) -> list[Control]:
    """The controls of ``model``'s fields (but ``skip``) under ``path``."""
    return _fields(model, path, value, skip)


def field_control(model: type[BaseModel], name: str, value: Any) -> Control:
    """The control of one top-level field of ``model`` (its path is ``name``)."""
    info = model.model_fields[name]
    return control_of(shape_of(info.annotation), name, label_of(name), value, info)


# --- reading a posted form back into JSON ---------------------------------------------------------

BOOLS_FIELD = "_checkboxes"  # the checkboxes a form showed: an absent one is unchecked, not unknown


class PostedForm:
    """A posted form: ``get`` and ``getlist`` as Starlette's ``FormData``, and its field names."""

    def __init__(self, form: Any) -> None:
        self.form = form
        self.names = set(form.keys())
        self.shown_checkboxes = set(form.getlist(BOOLS_FIELD))

    def get(self, name: str) -> str:
        value = self.form.get(name)
        return value.strip() if isinstance(value, str) else ""

    def getlist(self, name: str) -> list[str]:
        return [v.strip() for v in self.form.getlist(name) if isinstance(v, str) and v.strip()]

    def item_indexes(self, path: str) -> list[int]:
        pattern = re.compile(rf"^{re.escape(path)}\.(\d+)(\.|$)")
        return sorted({int(found.group(1)) for name in self.names if (found := pattern.match(name))})


def _number(text: str, kind: str) -> Any:
    try:
        return int(text) if kind == "int" else float(text)
    except ValueError:
        return text  # as written: the model names the field and what it wants


def _literal(text: str, values: tuple[Any, ...]) -> Any:
    return next((v for v in values if str(v) == text), text)


def read(shape: Shape, path: str, form: PostedForm) -> Any:
    """The JSON value of the field at ``path`` as the form gives it; MISSING when left empty."""
    if shape.kind == "literal":
        text = form.get(path)
        return _literal(text, shape.values) if text else MISSING
    if shape.kind == "bool":
        return path in form.names if path in form.shown_checkboxes else MISSING
    if shape.kind in ("int", "float"):
        text = form.get(path)
        return _number(text, shape.kind) if text else MISSING
    if shape.kind in ("str", "date"):
        return form.get(path) or MISSING
    if shape.kind == "model":
        assert shape.model is not None
        return read_fields(shape.model, path, form) or MISSING
    if shape.kind == "union":
        tag = form.get(f"{path}.{shape.discriminator}")
        member = next((m_ for m_ in shape.members if member_value(m_, shape.discriminator) == tag), None)
        if member is None:
            return {shape.discriminator: tag} if tag else MISSING
        return {shape.discriminator: tag, **read_fields(member, path, form)}
    assert shape.inner is not None
    inner = shape.inner
    if inner.kind == "literal":
        return [_literal(v, inner.values) for v in form.getlist(path)] or MISSING
    if inner.kind in ("str", "int"):
        parts = [p for p in re.split(r"[,\s]+", form.get(path)) if p]
        return [p if inner.kind == "str" else _number(p, "int") for p in parts] or MISSING
    if inner.kind == "union" and all(_only_defaults(member) for member in inner.members):
        items = []
        for tag in dict.fromkeys(form.getlist(path)):
            member = next((m_ for m_ in inner.members if member_value(m_, inner.discriminator) == tag), None)
            options = read_fields(member, f"{path}.{tag}", form) if member else {}
            items.append({inner.discriminator: tag, **options})
        return items or MISSING
    items = [read(inner, f"{path}.{k}", form) for k in form.item_indexes(path)]
    return [item if item is not MISSING else {} for item in items] or MISSING


def read_fields(
    model: type[BaseModel], path: str, form: PostedForm, skip: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The fields of ``model`` under ``path`` the form sets to other than their default."""
    out = {}
    for name, info in model.model_fields.items():
        if name in DISCRIMINATORS or name == "version" or name in skip:
            continue
        value = read(shape_of(info.annotation), f"{path}.{name}" if path else name, form)
        if value is MISSING or (not info.is_required() and value == info.default):
            continue
        out[name] = value
    return out


def read_field(model: type[BaseModel], name: str, form: PostedForm) -> Any:
    return read(shape_of(model.model_fields[name].annotation), name, form)


# --- adding and removing list items ---------------------------------------------------------------


def _node(payload: Any, parts: list[str]) -> Any:
    for part in parts:
        payload = payload[int(part)] if isinstance(payload, list) else payload.setdefault(part, {})
    return payload


def new_item(shape: Shape) -> Any:
    """A list's new item: the first member of a union (an ``include`` criterion), or an empty model."""
    if shape.kind == "union":
        return {shape.discriminator: member_value(shape.members[0], shape.discriminator)}
    return {}


def apply_edit(payload: dict[str, Any], edit: str) -> None:
    """``add:<list path>`` appends an item, ``remove:<item path>`` takes one out (unknown paths are
    ignored: the form is shown again as it was)."""
    action, _, path = edit.partition(":")
    parts = path.split(".") if path else []
    if not parts:
        return
    try:
        if action == "add":
            parent = _node(payload, parts[:-1])
            items = parent.get(parts[-1]) if isinstance(parent, dict) else None
            if not isinstance(items, list):
                items = []
                parent[parts[-1]] = items
            items.append(new_item(_list_shape(payload, parts)))
        elif action == "remove" and parts[-1].isdigit():
            items = _node(payload, parts[:-1])
            if isinstance(items, list) and int(parts[-1]) < len(items):
                del items[int(parts[-1])]
    except (KeyError, IndexError, ValueError, TypeError, AttributeError, StopIteration, AssertionError):
        return


def _list_shape(payload: Any, parts: list[str]) -> Shape:
    """The items' shape of the list at ``parts``: the model walked by field names, a union's member
    chosen by the payload's tag there."""
    shape, node = Shape("model", model=m.Query), payload
    for part in parts:
        if shape.kind == "union":
            tag = node.get(shape.discriminator) if isinstance(node, dict) else None
            member = next(x for x in shape.members if member_value(x, shape.discriminator) == tag)
            shape = Shape("model", model=member)
        if shape.kind == "tuple" and part.isdigit():
            assert shape.inner is not None
            shape, node = shape.inner, node[int(part)]
            continue
        assert shape.model is not None
        shape, node = shape_of(shape.model.model_fields[part].annotation), node.get(part, {})
    assert shape.kind == "tuple" and shape.inner is not None
    return shape.inner
