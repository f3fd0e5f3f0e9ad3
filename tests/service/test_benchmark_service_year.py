"""``benchmarks.service_year``: its workload is valid and a tiny year runs end to end on the real
service path (SQLite, and PostgreSQL when configured), leaving every release with its audit record
and invoice line."""

from __future__ import annotations

import collections
import os
import re
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from benchmarks.workload import CONDITIONS, FAMILIES, workload
from queries.engine import DuckDBEngine
from queries.examples import queries_in_markdown
from queries.validation import validate_query
from statservice import public_statistics
from statservice.db.models import PublicStatistic, QueryRun
from statservice.service import Service
from tests.service.conftest import make_settings
from tests.service.helpers import assert_consistent, counts

ROOT = Path(__file__).resolve().parents[2]
LAST_LINE_KEYS = (
    "releases",
    "organisations",
    "p50_ms",
    "p95_ms",
    "max_ms",
    "refused_share",
    "hidden_large_share",
    "baseline_hidden_large_share",
)
SHARES = ("refused_share", "hidden_large_share", "baseline_hidden_large_share")


def test_workload_is_valid_and_covers_every_family_and_behaviour(service_registers):
    catalog = DuckDBEngine(service_registers).catalog
    asks = workload(organisations=12, releases=600, seed=3)
    assert len(asks) == 600
    for ask in asks:
        validate_query(ask.payload(), catalog)  # raises QueryValidationError naming the field
    assert {a.question.family for a in asks} == set(FAMILIES)
    behaviours = collections.Counter(a.behaviour for a in asks)
    for behaviour in (
        "new",
        "rerun",
        "extend_period",
        "refine",
        "swap_breakdown",
        "colleague",
        "other_organisation",
        "padding",
        "tracker",
        "overlap",
    ):
        assert behaviours[behaviour] > 0, behaviour
    assert {a.question.condition for a in asks} == set(range(len(CONDITIONS)))
    assert {a.key for a in asks} == {0, 1}  # colleagues ask too
    # the same seed gives the same year
    assert [a.payload() for a in workload(12, 600, 3)] == [a.payload() for a in asks]


def test_a_tiny_year_ends_with_the_summary_line_and_consistent_releases(
    service_registers, database_url, tmp_path
):
    releases = 20
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.service_year",
            "--data-dir",
            str(service_registers),
            "--database-url",
            database_url,
            "--organisations",
            "2",
            "--releases",
            str(releases),
            "--seed",
            "5",
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    last = result.stdout.strip().splitlines()[-1]
    pairs = dict(item.split("=", 1) for item in last.split())
    assert tuple(pairs) == LAST_LINE_KEYS, last
    values = {key: float(value) for key, value in pairs.items()}
    assert values["releases"] == releases
    assert values["organisations"] == 2
    for key in SHARES:
        assert 0.0 <= values[key] <= 1.0, last
    assert 0 <= values["p50_ms"] <= values["p95_ms"] <= values["max_ms"], last
    assert "by decile" in result.stdout
    assert "by protection mode" in result.stdout
    # after the year, every documented query is asked on the year-old database and released
    documented = queries_in_markdown((ROOT / "docs" / "query-language.md").read_text())
    summary = re.search(r"documented examples: (\d+), released (\d+), fully hidden (\d+)", result.stdout)
    assert summary is not None, result.stdout[-3000:]
    assert int(summary[1]) == int(summary[2]) == len(documented)

    from benchmarks.service_year import AUDIT_KEY

    service = Service(make_settings(database_url, service_registers, audit_key=AUDIT_KEY))
    try:
        stored = counts(service)
        with service.db.session() as session:
            statuses = collections.Counter(session.execute(select(QueryRun.status)).scalars())
            # the year starts with the free public statistics, as statservice run does: releases
            # with their audit records and no invoice line
            public = session.execute(select(func.count()).select_from(PublicStatistic)).scalar_one()
        assert public == len(public_statistics.statistics_for(service))
        assert "public statistics: " in result.stdout
        assert stored["releases"] > public  # the benchmark released something
        assert stored["invoice_lines"] + public == stored["releases"] == stored["release_audits"]
        assert_consistent(service)
        assert sum(statuses.values()) == public + releases + len(documented)
        assert set(statuses) <= {"released", "refused"}, statuses
    finally:
        service.close()
