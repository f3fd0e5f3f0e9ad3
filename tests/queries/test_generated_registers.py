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


def _never_dispensed_and_unknown_atc() -> tuple[str, str]:
    """A GLP-1 code of the ATC index that no one is dispensed, and one that is no ATC code at all."""
    from synthetic_registers.codes import atc_list, atc_substances

    sold = {s.code for s in atc_substances()}
    codes = [c.code for c in atc_list().codes if c.code.startswith("A10BJ") and len(c.code) == 7]
    never = next(code for code in codes if code not in sold)
    unknown = next(f"A10BJ{n:02d}" for n in range(99, 0, -1) if f"A10BJ{n:02d}" not in codes)
    return never, unknown


def test_a_valid_atc_code_no_one_was_dispensed_counts_nobody_on_both_engines(engine, generated_registers):
    never, _ = _never_dispensed_and_unknown_atc()
    payload = load_examples()["t2d_glp1_uptake"]
    drugs = [{"name": "a GLP-1 analogue not sold in Denmark", "atc": [never]}]
    query = validate_query({**payload, "result": {**payload["result"], "drugs": drugs}}, engine.catalog)
    tables = run_both(generated_registers, query, ("parquet", "layout"))
    cells = {cell.coordinates: cell.count for table in tables for cell in table.cells}
    started = {days: cells[(drugs[0]["name"], f"{days} days")] for days in payload["result"]["days"]}
    assert started == dict.fromkeys(payload["result"]["days"], 0)
    assert cells[(drugs[0]["name"], "eligible new users")] > 0  # the cohort is there; no one started


def test_an_atc_code_outside_the_index_is_refused_naming_its_field(engine):
    never, unknown = _never_dispensed_and_unknown_atc()
    payload = load_examples()["t2d_glp1_uptake"]
    drugs = [{"name": "typo", "atc": [unknown]}, {"name": "valid", "atc": [never]}]
    with pytest.raises(QueryValidationError) as caught:
        validate_query({**payload, "result": {**payload["result"], "drugs": drugs}}, engine.catalog)
    (problem,) = caught.value.problems
    assert problem["field"] == "result.drugs.0.atc.0"
    assert "A10BJ0" in problem["valid"]
