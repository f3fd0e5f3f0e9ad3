"""The layout build's parts that make it fast at national scale: the chunk a row goes to, and the
time per relation that ``benchmarks.layout`` reports."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlglot import exp

from queries.storage import (
    _RANGE_CODES,
    LAYOUT_ORDER,
    _codes_enum,
    _range_number,
    _range_order,
    build_layout,
    data_version_of,
)
from tests.queries.layouts import assert_same_layouts

ROOT = Path(__file__).resolve().parents[2]


def _linear_chunk(key: str | None, boundaries: list[str]) -> int:
    """The definition: chunk k holds boundaries[k-1] <= key < boundaries[k]; NULL goes last."""
    if key is None:
        return len(boundaries)
    return sum(1 for boundary in boundaries if boundary <= key)


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 30])
def test_the_binary_search_puts_every_key_in_the_chunk_the_ranges_define(count):
    boundaries = [f"C{k:02d}" for k in range(1, 2 * count, 2)]  # C01, C03, ...
    keys = [None, "A", "C00", *boundaries, *(b + "X" for b in boundaries), "Z"]
    chunk = _range_number(exp.column("key"), [exp.Literal.string(b) for b in boundaries], 0, len(boundaries))
    connection = duckdb.connect()
    connection.execute("CREATE TABLE t (key VARCHAR)")
    connection.executemany("INSERT INTO t VALUES (?)", [(key,) for key in keys])
    rows = connection.execute(f"SELECT key, {chunk.sql('duckdb')} FROM t").fetchall()
    assert rows == [(key, _linear_chunk(key, boundaries)) for key in keys]
    # a search, not a scan: a row meets at most log2(chunks) comparisons, rounded up
    assert _comparisons_on_longest_path(chunk) == math.ceil(math.log2(count + 1))


def _comparisons_on_longest_path(node: exp.Expression) -> int:
    if not isinstance(node, exp.Case):
        return 0
    branches = [branch.args["true"] for branch in node.args["ifs"]] + [node.args["default"]]
    return len(node.args["ifs"]) + max(_comparisons_on_longest_path(b) for b in branches)


# codes as a delivery may spell them: case, quotes, digits, non-ASCII letters, NULL
_CODES = st.one_of(st.none(), st.text(alphabet="AaBbZz09'-æØ ", min_size=0, max_size=4))


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(st.tuples(_CODES, st.integers(0, 3), st.integers(0, 3)), min_size=1, max_size=40))
def test_a_range_sorted_on_its_codes_enum_is_in_the_order_of_order_by(rows):
    """The range sort's ENUM of codes orders exactly as ``ORDER BY code, event_date, pnr`` (byte
    order, NULL codes last), whatever the codes look like."""
    connection = duckdb.connect()
    connection.execute("CREATE TABLE r (code VARCHAR, event_date INTEGER, pnr INTEGER)")
    connection.executemany("INSERT INTO r VALUES (?, ?, ?)", rows)
    source = exp.to_table("r")
    connection.execute(_codes_enum(source, "code").sql("duckdb"))
    order = ["code", "event_date", "pnr"]
    by_enum = connection.execute(_range_order(source, order, order, True).sql("duckdb")).fetchall()
    by_text = connection.execute("SELECT * FROM r ORDER BY code NULLS LAST, event_date, pnr").fetchall()
    assert by_enum == by_text
    connection.execute(f"DROP TYPE {_RANGE_CODES}")


def test_a_build_reports_the_seconds_of_every_relation(spec_registers, tmp_path):
    import shutil

    data = tmp_path / "extract"
    shutil.copytree(spec_registers, data, ignore=shutil.ignore_patterns(".statservice"))
    timings: dict[str, float] = {}
    build_layout(data, data_version_of(data), timings=timings)
    assert set(LAYOUT_ORDER) | {"population_years"} <= set(timings)
    assert all(seconds >= 0 for seconds in timings.values())


@pytest.mark.slow
def test_the_layout_benchmark_ends_with_one_key_value_line(spec_registers, tmp_path):
    import shutil

    data = tmp_path / "extract"
    shutil.copytree(spec_registers, data, ignore=shutil.ignore_patterns(".statservice"))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.layout", "--persons", "8", "--data", str(data)],
        cwd=ROOT, capture_output=True, text=True, timeout=300, check=True,
    )  # fmt: skip
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"persons=8 seconds=[0-9.]+ peak_rss_mib=\d+ cpu_seconds=\d+", last), last
    assert "diagnosis_events" in done.stdout


@pytest.fixture(scope="module")
def extract_in_parts(tmp_path_factory):
    """6,000 persons generated in six parts of 1,000 (contact numbers by part, as at national
    scale)."""
    from synthetic_registers.generate import generate_registers

    directory = tmp_path_factory.mktemp("extract-in-parts")
    generate_registers(directory, persons=6_000, seed=5, workers=1, chunk_persons=1_000)
    return directory


def test_joined_relations_are_partitioned_part_by_part_only_where_the_parts_align(extract_in_parts, tmp_path):
    """Diagnoses join contacts on contact numbers: the partitioning pass joins group by group of
    parts when every join's key ranges per part are disjoint and contain the other side's, and the
    layout is the one a single sort gives. With two parts of one side swapped the check fails, the
    pass joins everything at once, and the layout is still the same."""
    import shutil

    from queries.storage import RELATION_SQL, aligned_part_groups

    groups = aligned_part_groups(extract_in_parts, RELATION_SQL["diagnosis_events"], 5_000)
    assert groups is not None and len(groups) > 1
    assert {len(files) for group in groups for files in group.values()} <= {
        len(groups[0]["lpr_adm"]),
        6 % len(groups[0]["lpr_adm"]),
    }
    assert (
        aligned_part_groups(extract_in_parts, RELATION_SQL["prescription_events"], 5_000) is None
    )  # no join
    assert aligned_part_groups(extract_in_parts, RELATION_SQL["diagnosis_events"], 10**9) is None  # one group

    version = data_version_of(extract_in_parts)
    whole = build_layout(extract_in_parts, version)
    grouped_dir = tmp_path / "grouped"
    shutil.copytree(extract_in_parts, grouped_dir, ignore=shutil.ignore_patterns(".statservice"))
    steps: list[str] = []
    grouped = build_layout(grouped_dir, version, progress=lambda d, *_: steps.append(d), chunk_rows=10_000)
    assert any(step.startswith("sorting diagnosis_events, range 2") for step in steps)
    assert_same_layouts(whole, grouped)

    swapped_dir = tmp_path / "swapped"
    shutil.copytree(extract_in_parts, swapped_dir, ignore=shutil.ignore_patterns(".statservice"))
    first, second = (
        swapped_dir / "lpr_diag" / "part-00000.parquet",
        swapped_dir / "lpr_diag" / "part-00001.parquet",
    )
    first.rename(swapped_dir / "lpr_diag" / "swap.parquet")
    second.rename(first)
    (swapped_dir / "lpr_diag" / "swap.parquet").rename(second)
    assert aligned_part_groups(swapped_dir, RELATION_SQL["diagnosis_events"], 5_000) is None
    swapped = build_layout(swapped_dir, data_version_of(swapped_dir), chunk_rows=10_000)
    assert_same_layouts(whole, swapped)
