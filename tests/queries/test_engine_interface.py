"""The engine interface: every engine meets the ``Engine`` protocol, is opened by name, renders the
compiler's queries in its own dialect and serves the same data version."""

from __future__ import annotations

import shutil

import pytest

from queries import compiler
from queries.engine import DuckDBEngine
from queries.engines import DEFAULT_ENGINE, ENGINE_NAMES, Engine, engine_class, open_engine
from queries.model import Query
from queries.storage import data_version_of
from tests.queries.engines import assert_same_tables, spark_available

QUERY = Query.model_validate(
    {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2015-01-01", "end": "2020-12-31"},
        },
        "criteria": [
            {
                "type": "include",
                "concept": {"type": "prescription", "atc": ["A10"]},
                "window": {"start": -365, "end": 365},
            }
        ],
        "result": {
            "kind": "treatment_uptake",
            "drugs": [{"name": "GLP-1", "atc": ["A10BJ"]}],
            "days": [365],
            "washout_days": 180,
        },
    }
)


def test_the_engines_are_the_registry_and_duckdb_is_the_default():
    assert ENGINE_NAMES == ("duckdb", "spark")
    assert DEFAULT_ENGINE == "duckdb"
    assert engine_class("duckdb") is DuckDBEngine
    with pytest.raises(ValueError, match="duckdb, spark"):
        engine_class("sqlite")


def test_duckdb_is_opened_by_name_and_meets_the_protocol(spec_registers):
    engine = open_engine("duckdb", spec_registers)
    try:
        assert isinstance(engine, DuckDBEngine)
        assert isinstance(engine, Engine)
        assert engine.dialect == "duckdb"
    finally:
        engine.close()


def test_a_compiled_query_renders_in_each_dialect_without_duckdb_only_syntax():
    compiled = compiler.compile_treatment_uptake(QUERY, QUERY.result)
    duckdb_sql = compiled.sql("duckdb")
    spark_sql = compiled.sql("spark")
    assert "AS MATERIALIZED" in duckdb_sql  # DuckDB computes the shared CTEs once
    assert "MATERIALIZED" not in spark_sql  # a syntax error in Spark
    # day offsets are numbers in both dialects (a difference of dates is an interval in Spark)
    assert "DATE_DIFF('DAY'" in duckdb_sql and "DATEDIFF(DAY" in spark_sql
    # rendering one dialect leaves the statement intact for the next
    fresh = compiler.compile_treatment_uptake(QUERY, QUERY.result)
    assert fresh.sql("spark") == spark_sql
    assert fresh.sql("duckdb") == duckdb_sql


@pytest.mark.skipif(not spark_available(), reason="PySpark or a Java runtime is missing (CI requires both)")
def test_spark_is_opened_by_name_and_answers_as_duckdb_under_the_same_data_version(spec_registers):
    spark = open_engine("spark", spec_registers)
    duckdb = DuckDBEngine(spec_registers, storage="parquet")
    try:
        assert isinstance(spark, Engine)
        assert type(spark) is engine_class("spark")
        assert spark.dialect == "spark"
        assert spark.data_version == duckdb.data_version
        assert_same_tables(spark.run(QUERY), duckdb.run(QUERY))
    finally:
        spark.close()
        duckdb.close()


def test_the_data_version_does_not_depend_on_where_the_extract_lies(spec_registers, tmp_path):
    """A cluster mounts the extract under another path than the service host: the same files are
    the same data version (names relative to the extract, sizes and Parquet footers only)."""
    moved = tmp_path / "mounted" / "elsewhere"
    shutil.copytree(spec_registers, moved, ignore=shutil.ignore_patterns(".statservice"))
    assert data_version_of(moved) == data_version_of(spec_registers)
    (moved / "bef.parquet").write_bytes((moved / "bef.parquet").read_bytes()[:-8] + b"PAR1PAR1")
    assert data_version_of(moved) != data_version_of(spec_registers)
