"""The engines on realistic synthetic registers: the examples validate against the catalog and
both engines (and both storages) agree on them."""

from __future__ import annotations

import pytest

from queries.engine import DuckDBEngine
from queries.errors import QueryValidationError
from queries.examples import load_examples
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from tests.queries.engines import run_both


@pytest.fixture(scope="module")
def engine(generated_registers):
    engine = DuckDBEngine(generated_registers)
    yield engine
    engine.close()


def test_the_engine_exposes_the_catalog_and_a_stable_data_version(engine, generated_registers):
    assert isinstance(engine.catalog, Catalog)
    assert engine.data_version == DuckDBEngine(generated_registers).data_version


@pytest.mark.parametrize("name", sorted(load_examples()))
def test_examples_validate_against_the_catalog_and_agree(name, engine, generated_registers):
    query = validate_query(load_examples()[name], engine.catalog)
    tables = run_both(generated_registers, query, ("parquet", "layout"))
    assert any(cell.count > 0 for table in tables for cell in table.cells)


def test_unknown_code_gets_the_nearest_catalog_codes(engine):
    payload = load_examples()["t2d_glp1_uptake"]
    payload = {**payload, "index": {**payload["index"], "concept": {"type": "diagnosis", "codes": ["DE1X"]}}}
    with pytest.raises(QueryValidationError) as caught:
        validate_query(payload, engine.catalog)
    (problem,) = caught.value.problems
    assert problem["field"] == "index.concept.codes.0"
    assert "DE1" in problem["valid"]


def test_period_outside_the_catalog_years(engine):
    payload = load_examples()["t2d_glp1_uptake"]
    payload = {
        **payload,
        "index": {**payload["index"], "period": {"start": "1990-01-01", "end": "2030-12-31"}},
    }
    with pytest.raises(QueryValidationError) as caught:
        validate_query(payload, engine.catalog)
    fields = {p["field"] for p in caught.value.problems}
    assert fields == {"index.period.start", "index.period.end"}
