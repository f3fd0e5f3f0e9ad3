"""Spec: Table 1 (``table_one``) on both engines and both storages: binary items, age and the latest
laboratory value as continuous items, overall, by a breakdown and by an exposure. The persons are
described in conftest.py; the T2D cohort of 2015-2020 is persons 1, 3, 4, 5 and 8."""

from __future__ import annotations

from pathlib import Path

import pytest

from queries.errors import QueryValidationError
from queries.model import Query
from queries.shape import query_shape
from queries.storage import data_version_of
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from tests.queries.engines import persons, pseudonyms, run_both

STORAGES = ("parquet", "layout")
T2D = {"type": "diagnosis", "codes": ["DE11"]}
INDEX = {"concept": T2D, "period": {"start": "2015-01-01", "end": "2020-12-31"}}
GLP1 = {"type": "prescription", "atc": ["A10BJ"]}
ITEMS = [{"name": "GLP-1 before index", "concept": GLP1, "window": {"start": -3650, "end": 0}}]
CONTINUOUS = [
    {"name": "age", "measure": {"type": "age_at_index"}},
    # the latest HbA1c in the year before index (day 0 included)
    {"name": "HbA1c", "measure": {"type": "lab_value", "codes": ["NPU27300"], "unit": "mmol/mol"}},
    # the latest eGFR before index: 3's latest is ">90" (censored: no value, not his older 55);
    # 4 has 58 and 62 on her latest day (the highest counts)
    {"name": "eGFR", "measure": {"type": "lab_value", "codes": ["DNK35302"], "window": {"end": -1}}},
]
AGES = {1: 55.0, 3: 65.0, 4: 40.0, 5: 59.0, 8: 74.0}


def run(spec_registers, result: dict):
    query = {"index": INDEX, "result": {"kind": "table_one", **result}}
    tables = run_both(spec_registers, query, STORAGES)
    assert query_shape(Query.model_validate(query)).cells == sum(len(t.cells) for t in tables)
    return tables


def values(spec_registers, table, *coordinates) -> dict[int, float]:
    """A continuous cell's values by the persons' pseudonyms."""
    cell = table.cell(*coordinates)
    names = pseudonyms(Path(spec_registers), data_version_of(Path(spec_registers)))
    return {names[n]: value for n, value in zip(cell.persons, cell.values, strict=True)}


def test_overall_table_one_carries_each_persons_value(spec_registers):
    total, table = run(spec_registers, {"items": ITEMS, "continuous": CONTINUOUS})
    assert total.dimensions == () and total.cells[0].count == 5
    assert [d.name for d in table.dimensions] == ["characteristic"]
    assert table.continuous_categories == ("age", "HbA1c", "eGFR")
    assert persons(spec_registers, table, "GLP-1 before index") == {1, 5}
    assert table.cell("GLP-1 before index").values == ()
    assert values(spec_registers, table, "age") == AGES
    assert values(spec_registers, table, "HbA1c") == {1: 46.0, 8: 49.0}  # 1's latest, not his 52
    assert values(spec_registers, table, "eGFR") == {4: 62.0}
    assert table.registers >= {"Laboratory Database", "LMDB"}
    assert table.max_cells_per_person == 4


def test_table_one_by_exposure_splits_the_cohort_into_exposed_and_unexposed(spec_registers):
    exposure = {"name": "GLP-1", "concept": GLP1, "window": {"start": -3650, "end": 0}}
    sizes, table = run(spec_registers, {"continuous": CONTINUOUS[:1], "exposure": exposure})
    assert sizes.dimensions[0].name == "exposure"
    assert sizes.dimensions[0].categories == ("exposed", "unexposed")
    assert {c.coordinates: c.count for c in sizes.cells} == {("exposed",): 2, ("unexposed",): 3, (None,): 5}
    assert values(spec_registers, table, "age", "exposed") == {1: 55.0, 5: 59.0}
    assert values(spec_registers, table, "age", "unexposed") == {3: 65.0, 4: 40.0, 8: 74.0}
    assert values(spec_registers, table, "age", None) == AGES


def test_table_one_by_a_breakdown(spec_registers):
    sizes, table = run(
        spec_registers, {"items": ITEMS, "continuous": CONTINUOUS[:2], "breakdowns": [{"by": "sex"}]}
    )
    assert {c.coordinates: c.count for c in sizes.cells} == {("male",): 3, ("female",): 2, (None,): 5}
    assert values(spec_registers, table, "age", "female") == {4: 40.0, 8: 74.0}
    assert values(spec_registers, table, "HbA1c", "male") == {1: 46.0}
    assert persons(spec_registers, table, "GLP-1 before index", "female") == set()


def refused(query: dict) -> list[str]:
    catalog = Catalog.build({"start_year": 2005, "end_year": 2024, "data_version": "x"}, {})
    with pytest.raises(QueryValidationError) as error:
        validate_query(query, catalog)
    return [p["field"] for p in error.value.problems]


def test_table_one_queries_that_cannot_mean_anything_are_refused():
    lab = {"name": "x", "measure": {"type": "lab_value", "codes": ["HBA1C"]}}
    assert refused({"index": INDEX, "result": {"kind": "table_one", "continuous": [lab]}}) == [
        "result.continuous.0.measure.codes.0"
    ]
    fields = refused({"index": INDEX, "result": {"kind": "table_one"}})
    assert fields and all(f.startswith("result") for f in fields)
    both = {"kind": "table_one", "continuous": CONTINUOUS[:1], "breakdowns": [{"by": "sex"}]}
    both["exposure"] = {"concept": GLP1}
    assert all(f.startswith("result") for f in refused({"index": INDEX, "result": both}))
