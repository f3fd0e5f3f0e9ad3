"""The benchmark's hand-written SQL and the engine answer its questions identically."""

from __future__ import annotations

import pytest

from benchmarks.queries import (
    HANDWRITTEN,
    STANDARD_QUERIES,
    engine_characteristics,
    engine_total,
    handwritten_characteristics,
    handwritten_total,
)
from queries.engine import DuckDBEngine
from queries.model import Query
from queries.storage import raw_parquet_connection


@pytest.mark.parametrize("name", sorted(STANDARD_QUERIES))
def test_handwritten_sql_and_engine_agree(name, generated_registers):
    engine = DuckDBEngine(generated_registers)
    raw = raw_parquet_connection(generated_registers, numbered=False)
    layout = engine._cursor()
    try:
        tables = engine.run(Query.model_validate(STANDARD_QUERIES[name]))
        ours = engine_total(tables)
        raw_sql, layout_sql = HANDWRITTEN[name]
        for rows in (layout.execute(layout_sql).fetchall(), raw.execute(raw_sql).fetchall()):
            assert handwritten_total(name, rows) == ours
            assert handwritten_characteristics(name, rows) == engine_characteristics(tables)
    finally:
        layout.close()
        raw.close()
        engine.close()
    assert ours > 0
