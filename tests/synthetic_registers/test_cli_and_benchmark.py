"""The generate command and the benchmark entry point, end to end on a small population."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from statservice.cli import app
from synthetic_registers.catalog import Catalog

ROOT = Path(__file__).resolve().parents[2]


def test_generate_command_writes_tables_catalog_and_report(tmp_path):
    result = CliRunner().invoke(
        app,
        [
            "generate",
            "--persons",
            "10000",
            "--seed",
            "5",
            "--out",
            str(tmp_path),
            "--report",
            "--workers",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert Catalog.load(tmp_path).metadata["persons"] == 10_000
    assert (tmp_path / "lmdb" / "part-00000.parquet").exists()
    assert "population.total" in result.output and "not computable" in result.output
    assert "distinct 7-character ATC codes dispensed per year" in result.output


def test_generate_command_rejects_impossible_years(tmp_path):
    result = CliRunner().invoke(
        app, ["generate", "--persons", "10000", "--seed", "5", "--out", str(tmp_path), "--start-year", "2030"]
    )
    assert result.exit_code != 0


def test_benchmark_ends_with_one_key_value_line():
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.generate", "--persons", "10000"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    last = done.stdout.strip().splitlines()[-1]
    assert re.fullmatch(r"persons=10000 rows=\d+ seconds=[0-9.]+ peak_rss_mib=\d+", last), last
