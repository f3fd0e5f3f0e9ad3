"""Run a query on every engine (DuckDB on each storage, Spark) and compare everything they return
with the reference engine's reading.

Spark runs wherever PySpark and a Java runtime are installed (``make install`` installs the
``spark`` extra; CI installs the distribution's Java and sets ``STATSERVICE_REQUIRE_SPARK=1``, so a
missing runtime fails instead of skipping Spark). One Spark session serves the whole test session.
"""

from __future__ import annotations

import functools
import importlib.util
import math
import os
import shutil
from pathlib import Path
from typing import Any, Literal

import pyarrow.parquet as pq
import pytest

from disclosure.table import AggregateTable
from queries.engine import DuckDBEngine
from queries.model import Query
from queries.reference_engine import ReferenceEngine
from queries.storage import data_version_of, parquet_source


def summary(table: AggregateTable) -> dict[str, Any]:
    """Everything an engine decides, in a comparable form (bitmaps as sorted lists)."""
    return {
        "kind": table.kind,
        "dimensions": table.dimensions,
        "registers": table.registers,
        "max_cells_per_person": table.max_cells_per_person,
        "ordered_dimension": table.ordered_dimension,
        "denominator_category": table.denominator_category,
        "cells": {c.coordinates: (c.count, list(c.persons)) for c in table.cells},
        "continuous_categories": table.continuous_categories,
        # the values of continuous characteristics, in the order of the cell's persons
        "values": {c.coordinates: c.values for c in table.cells},
        "measures": {c.coordinates: dict(c.measures) for c in table.cells},
    }


def assert_same_tables(ours: list[AggregateTable], reference: list[AggregateTable]) -> None:
    assert len(ours) == len(reference)
    for mine, theirs in zip(ours, reference, strict=True):
        a, b = summary(mine), summary(theirs)
        measures_a, measures_b = a.pop("measures"), b.pop("measures")
        assert a == b
        for key, values in measures_a.items():
            assert values.keys() == measures_b[key].keys(), key
            for name, value in values.items():
                assert math.isclose(value, measures_b[key][name], rel_tol=1e-9, abs_tol=1e-9), (key, name)
        for cell in mine.cells:
            assert cell.count == len(cell.persons)


@functools.lru_cache(maxsize=4)
def reference_engine(data_dir: Path, data_version: str) -> ReferenceEngine:
    """One reference engine per extract (it reads every table into memory)."""
    return ReferenceEngine(data_dir)


def spark_available() -> bool:
    """Whether the Spark engine can run here; with ``STATSERVICE_REQUIRE_SPARK=1`` (CI) it must."""
    available = importlib.util.find_spec("pyspark") is not None and shutil.which("java") is not None
    if not available and os.environ.get("STATSERVICE_REQUIRE_SPARK") == "1":
        pytest.fail("STATSERVICE_REQUIRE_SPARK=1 but PySpark or the Java runtime is missing")
    return available


@functools.lru_cache(maxsize=8)
def spark_engine(data_dir: Path, data_version: str, cache: bool) -> Any:
    """One Spark engine per extract (its views and cached relations serve every query on it), all in
    the test session's one Spark session."""
    from queries.spark_engine import SMALL_DATA_CONFIG, SparkEngine

    return SparkEngine(data_dir, cache=cache, conf=SMALL_DATA_CONFIG)


def run_both(
    data_dir: Path,
    query: Query | dict,
    storages: tuple[str, ...] = ("parquet",),
    spark: Literal["cached", "uncached", "off"] = "cached",
) -> list[AggregateTable]:
    """The DuckDB engine's tables, after checking that the reference engine and every other engine
    (DuckDB on each of ``storages``, and Spark unless ``spark="off"`` or unavailable) return the
    same. Spark's cached relations pay off on an extract asked many questions (the spec
    registers); an extract asked one question (a property example) is better read ``"uncached"``."""
    if isinstance(query, dict):
        query = Query.model_validate(query)
    data_dir = Path(data_dir)
    version = data_version_of(data_dir)
    reference = reference_engine(data_dir, version).run(query)
    result = None
    for storage in storages:
        engine = DuckDBEngine(data_dir, storage=storage)
        try:
            result = engine.run(query)
        finally:
            engine.close()
        assert_same_tables(result, reference)
    if spark != "off" and spark_available():
        assert_same_tables(spark_engine(data_dir, version, spark == "cached").run(query), reference)
    assert result is not None
    return result


def counts(table: AggregateTable) -> dict[tuple, int]:
    return {cell.coordinates: cell.count for cell in table.cells}


def persons(data_dir: Path, table: AggregateTable, *coordinates) -> set[int]:
    """A cell's persons as the pseudonyms of the extract's tables (the engines number persons by
    their pseudonym's position in the population register), so spec tests read like their tables."""
    numbers = table.cell(*coordinates).persons
    return {pseudonyms(Path(data_dir), data_version_of(Path(data_dir)))[n] for n in numbers}


@functools.lru_cache(maxsize=4)
def pseudonyms(data_dir: Path, data_version: str) -> list[int]:
    return sorted(pq.read_table(parquet_source(data_dir, "bef"), columns=["pnr"]).column("pnr").to_pylist())
