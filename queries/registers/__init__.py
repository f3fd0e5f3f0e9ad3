"""Registers declared whole, one module each: adding such a register adds a module here and
touches no list elsewhere in ``queries``.

A module of this package holds a register's entire query side in one ``REGISTER`` declaration:

- the schema tables it reads (the table contract itself stays in ``synthetic_registers.schema``,
  which may import nothing of ours; the registry checks the names against it);
- its logical relations: the SQL over those tables as a sqlglot expression, the sort order of the
  materialised layout, and the same relation read a second time in plain Python for the reference
  engine;
- its concepts: the pydantic model class, an example as a customer writes it, the row condition
  the compiler adds to the relation's rows, and the plain-Python test the reference engine applies
  to each row of its own reading.

From these ``queries.model`` takes its event concept union, ``queries.storage`` its relations,
sort orders and the registers each relation reads, ``queries.registry`` its concept entries, and the
compiler and the reference engine their dispatch (through the registry entry). Registers written
the older way, by hand in each of those modules, keep working beside them.

Modules are found by listing the package, so a declared register is never forgotten in a list; they
import nothing of ``queries`` but ``queries.base_model`` (the model collects them, so they must not
import it).
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Union, cast

from sqlglot import exp

from queries.base_model import Model

Row = dict[str, Any]
# a register table's rows as the reference engine reads them: ``pnr`` is already the person's number
TableReader = Callable[[str], list[Row]]


@dataclass(frozen=True)
class Relation:
    """A logical relation of ``queries.storage``: ``pnr`` and ``event_date`` plus what its concepts
    condition on."""

    name: str
    sql: exp.Query  # over the register's tables only; constant (no user input)
    layout_order: str  # sort columns of the materialised relation (storage.LAYOUT_ORDER)
    # the relation's rows computed from the tables in plain Python: the reference engine's reading,
    # written a second time so that a mistake in the SQL shows up as a difference
    reference_rows: Callable[[TableReader], list[Row]]

    @property
    def duckdb_sql(self) -> str:
        return self.sql.sql(dialect="duckdb")


@dataclass(frozen=True)
class DeclaredConcept:
    """An event concept read from one relation of its register, dated on the row's ``event_date``."""

    model: type[Model]
    relation: Relation
    example: Mapping[str, Any]  # one concept as a customer writes it (tests run it on both engines)
    # the rows of the relation that are events of the concept (the compiler's pass 1); the second
    # argument is the relation's alias in the query, or None
    row_condition: Callable[[Any, str | None], exp.Expression]
    # the same in plain Python, for one row of ``relation.reference_rows`` (the reference engine)
    reference_matches: Callable[[Any, Row], bool]

    @property
    def type(self) -> str:
        return self.model.model_fields["type"].default


@dataclass(frozen=True)
class DeclaredRegister:
    tables: tuple[str, ...]  # names of synthetic_registers.schema.Table it reads
    relations: tuple[Relation, ...]
    concepts: tuple[DeclaredConcept, ...]


# --- helpers for declarations ----------------------------------------------------------------------


def column(name: str, table: str | None) -> exp.Column:
    return exp.column(name, table)


def all_of(conditions: list[exp.Expression]) -> exp.Expression:
    """The conjunction of a concept's conditions; every row when it has none."""
    # sqlglot types a condition as ``Expr``, a base of ``Expression`` it is used as everywhere here
    return cast(exp.Expression, exp.and_(*conditions) if conditions else exp.true())


# --- the declared registers: found last, since each module imports the names above ------------------


def _declared_registers() -> tuple[DeclaredRegister, ...]:
    names = sorted(module.name for module in pkgutil.iter_modules(__path__))
    return tuple(importlib.import_module(f"{__name__}.{name}").REGISTER for name in names)


DECLARED_REGISTERS: tuple[DeclaredRegister, ...] = _declared_registers()
DECLARED_RELATIONS: Mapping[str, Relation] = {
    relation.name: relation for register in DECLARED_REGISTERS for relation in register.relations
}
DECLARED_CONCEPTS: Mapping[str, DeclaredConcept] = {
    concept.type: concept for register in DECLARED_REGISTERS for concept in register.concepts
}


def declared_concepts() -> Any:
    """The declared concepts' model classes as one ``Union``, to append to the model's event union."""
    return Union[tuple(concept.model for concept in DECLARED_CONCEPTS.values())]  # noqa: UP007
