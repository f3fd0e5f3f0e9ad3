"""Which engine answers: the ``Engine`` protocol every engine meets, and the factory that opens one
by name (the service's ``engine`` setting).

Every engine runs the same compiled queries (``queries.compiler``, rendered in its SQL dialect)
over the same Parquet extract and hands disclosure control the same ``AggregateTable``s: true
counts with each cell's person set, persons numbered the same way, under the same data version.
The engine classes are imported only when opened, so choosing DuckDB never loads PySpark.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from disclosure.table import AggregateTable
from queries import model as m
from queries.storage import BuildProgress

# name -> "module:class" of each engine (the one list: settings, docs and tests derive from it)
ENGINES: dict[str, str] = {
    "duckdb": "queries.engine:DuckDBEngine",
    "spark": "queries.spark_engine:SparkEngine",
}
ENGINE_NAMES = tuple(ENGINES)
DEFAULT_ENGINE = "duckdb"


@runtime_checkable
class Engine(Protocol):
    """What the service asks of an engine."""

    data_version: str  # the extract's version: the same for every engine over the same files
    dialect: str  # the sqlglot dialect its compiled queries are rendered in

    @property
    def catalog(self) -> Any:
        """The extract's register catalog (code lists, coverage)."""
        ...

    def prepare(self, progress: BuildProgress | None = None) -> None:
        """Open the storage now (building or caching what it needs) instead of on the first query."""
        ...

    def run(self, query: m.Query) -> list[AggregateTable]:
        """Unprotected tables: true counts and each cell's person set (for disclosure control only)."""
        ...

    def close(self) -> None: ...


def engine_class(name: str) -> type:
    if name not in ENGINES:
        raise ValueError(f"unknown engine {name!r}; the engines are {', '.join(ENGINE_NAMES)}")
    module, _, cls = ENGINES[name].partition(":")
    return getattr(importlib.import_module(module), cls)


def open_engine(name: str, data_dir: str | Path, *, spark_master: str | None = None) -> Engine:
    """The engine called ``name`` over the extract in ``data_dir`` (``spark_master``: the Spark
    cluster manager's URL, local Spark in this process when None)."""
    cls = engine_class(name)
    if name == "spark":
        from queries.spark_engine import spark_session

        return cls(data_dir, session=spark_session(spark_master))
    return cls(data_dir)
