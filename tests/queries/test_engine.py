"""The DuckDB engine as the service uses it: thread safety, the layout built once, the SQL it runs."""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ThreadPoolExecutor

import pytest

from queries import compiler
from queries.engine import DuckDBEngine
from queries.errors import QueryValidationError
from queries.model import Query
from queries.storage import build_layout, data_version_of, layout_path
from tests.queries.engines import summary

T2D = {"type": "diagnosis", "codes": ["DE11"]}
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
QUERIES = [
    Query.model_validate({"index": {"concept": T2D, "period": PERIOD}, "result": {"kind": kind, **extra}})
    for kind, extra in [
        ("cohort_count", {"breakdowns": [{"by": "sex"}, {"by": "region"}]}),
        ("attrition", {}),
        (
            "characteristics",
            {"items": [{"name": "GLP-1", "concept": {"type": "prescription", "atc": ["A10BJ"]}}]},
        ),
        ("treatment_uptake", {"drugs": [{"name": "metformin", "atc": ["A10BA"]}]}),
        ("biobank_availability", {"sample_types": ["serum", "dna"]}),
    ]
]


def test_concurrent_runs_on_one_engine_match_serial_runs(spec_registers):
    engine = DuckDBEngine(spec_registers)
    try:
        serial = [[summary(t) for t in engine.run(q)] for q in QUERIES]
        with ThreadPoolExecutor(max_workers=6) as pool:
            concurrent = list(pool.map(lambda q: [summary(t) for t in engine.run(q)], QUERIES * 6))
    finally:
        engine.close()
    assert concurrent == serial * 6


def _build(directory: str) -> str:
    from pathlib import Path

    return str(build_layout(Path(directory), data_version_of(Path(directory))))


def test_processes_racing_to_build_the_layout_build_it_once(tmp_path):
    from tests.queries.conftest import SPEC_REGISTERS
    from tests.queries.registers_text import write_registers

    data = write_registers(tmp_path / "extract", SPEC_REGISTERS)
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        paths = pool.map(_build, [str(data)] * 3)
    assert len(set(paths)) == 1
    layout_dir = data / ".statservice"
    assert [p.name for p in layout_dir.glob("*.duckdb*")] == [layout_path(data, data_version_of(data)).name]


def test_the_data_version_changes_with_the_extract(tmp_path):
    from tests.queries.conftest import SPEC_REGISTERS
    from tests.queries.registers_text import write_registers

    first = data_version_of(write_registers(tmp_path / "a", SPEC_REGISTERS))
    changed = dict(SPEC_REGISTERS, bef=SPEC_REGISTERS["bef"].replace("1084 | 101", "1085 | 101"))
    assert data_version_of(write_registers(tmp_path / "b", changed)) != first
    assert data_version_of(write_registers(tmp_path / "c", SPEC_REGISTERS)) == first


def test_code_prefixes_become_quoted_range_literals():
    query = Query.model_validate(
        {
            "index": {"concept": T2D, "period": PERIOD},
            "criteria": [{"type": "exclude", "concept": {"type": "cancer", "codes": ["C50", "C1"]}}],
        }
    )
    sql = compiler.compile_cohort_rows(query, ()).sql()
    assert "code >= 'DE11' AND code < 'DE12'" in sql
    assert "e.code >= 'C1' AND e.code < 'C2'" in sql and "e.code >= 'C50' AND e.code < 'C51'" in sql
    assert "CAST('2015-01-01' AS DATE)" in sql


def test_a_code_that_is_not_a_code_never_reaches_sql(spec_registers):
    hostile = Query.model_validate(
        {"index": {"concept": {"type": "diagnosis", "codes": ["DE11' OR 1=1 --"]}, "period": PERIOD}}
    )
    engine = DuckDBEngine(spec_registers, storage="parquet")
    try:
        with pytest.raises(QueryValidationError) as caught:
            engine.run(hostile)
    finally:
        engine.close()
    assert caught.value.problems[0]["field"] == "index.concept.codes.0"
    # and even if one did, it would be a string literal, not SQL
    sql = compiler.compile_cohort_rows(hostile, ()).sql()
    assert "'DE11'' OR 1=1 --'" in sql


def test_a_layout_built_in_code_range_chunks_equals_one_built_in_one_sort(generated_registers, tmp_path):
    """The national-scale build path (partition by sort-key ranges, sort each, append) gives the same
    tables in the same order as one sort; forced here on small registers by a tiny chunk size."""
    import shutil
    from pathlib import Path

    from tests.queries.layouts import assert_same_layouts

    chunked_dir = tmp_path / "chunked"
    shutil.copytree(generated_registers, chunked_dir, ignore=shutil.ignore_patterns(".statservice"))
    version = data_version_of(Path(generated_registers))
    whole = build_layout(Path(generated_registers), version)
    steps: list[tuple[str, int, int]] = []
    chunked = build_layout(
        chunked_dir, version, progress=lambda *step: steps.append(step), chunk_rows=200_000
    )
    assert any(description.startswith("sorting diagnosis_events, range 2") for description, _, _ in steps)
    assert steps[-1][1] == steps[-1][2]  # every step reported done
    assert_same_layouts(whole, chunked)
    assert not list((chunked_dir / ".statservice").glob("*staging*"))


def test_a_new_build_deletes_the_layouts_of_other_data_versions(tmp_path):
    from tests.queries.conftest import SPEC_REGISTERS
    from tests.queries.registers_text import write_registers

    data = write_registers(tmp_path / "extract", SPEC_REGISTERS)
    layout_dir = data / ".statservice"
    stale = layout_dir / "layout-0123456789abcdef-f5.duckdb"
    layout_dir.mkdir()
    stale.write_bytes(b"old")
    stale.with_suffix(".lock").touch()
    (layout_dir / "layout-0123456789abcdef-f4.duckdb").write_bytes(b"older format")
    current = build_layout(data, data_version_of(data))
    assert sorted(p.name for p in layout_dir.iterdir() if p.is_file()) == [
        current.name,
        current.with_suffix(".lock").name,
    ]
