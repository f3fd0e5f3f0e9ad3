"""Data versions: one served, the next built beside it, switched atomically, old ones retired.

With history: releases on version A, a CSV delivery ingested as version B and activated while the
service runs, releases on B (with B's own budget and memory), and A's releases and audit intact
after A is retired."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingestion.ingest import ingest
from ingestion.mapping import load_mapping
from queries.engine import DuckDBEngine
from statservice.cli import app
from statservice.versions import VersionError, activate, list_versions, retire, versions_directory
from synthetic_registers.delivery import write_delivery
from synthetic_registers.generate import generate_registers
from tests.service.conftest import build_api, make_settings
from tests.service.helpers import cohort, with_noise


def _prepare(path: Path) -> None:
    engine = DuckDBEngine(path)
    try:
        engine.prepare()
    finally:
        engine.close()


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory) -> Path:
    """data/versions/A generated as Parquet; data/versions/B a CSV delivery ingested."""
    root = tmp_path_factory.mktemp("data")
    versions = root / "versions"
    generate_registers(versions / "A", persons=2000, seed=5, workers=1)
    generate_registers(root / "original-b", persons=2000, seed=6, workers=1)
    write_delivery(root / "original-b", root / "delivery-b", "csv")
    report = ingest(root / "delivery-b", load_mapping(), versions / "B")
    assert report.accepted, report.errors
    return root / "registers"


@pytest.mark.slow
def test_activate_is_a_link_switch_and_the_active_version_cannot_be_retired(two_versions, tmp_path):
    data_dir = tmp_path / "registers"
    (tmp_path / "versions").symlink_to(versions_directory(two_versions), target_is_directory=True)
    activate(data_dir, "A", _prepare)
    assert data_dir.is_symlink() and data_dir.resolve().name == "A"
    listed = {v.name: v for v in list_versions(data_dir)}
    assert listed["A"].active and not listed["B"].active
    assert listed["A"].layout_built  # built before the switch, not by the first query after it
    assert listed["B"].source == "delivery"
    with pytest.raises(VersionError, match="active"):
        retire(data_dir, "A")
    with pytest.raises(VersionError, match="not a version name"):
        activate(data_dir, "../A")
    with pytest.raises(VersionError, match="no version"):
        activate(data_dir, "C")
    assert data_dir.resolve().name == "A"


def test_a_data_directory_from_before_versions_is_adopted(tmp_path):
    data_dir = tmp_path / "registers"
    generate_registers(data_dir, persons=1000, seed=3, workers=1, start_year=2019, end_year=2020)
    generate_registers(
        tmp_path / "versions" / "next", persons=1000, seed=4, workers=1, start_year=2019, end_year=2020
    )
    activate(data_dir, "next")
    adopted = [v for v in list_versions(data_dir) if v.name.startswith("v-")]
    assert len(adopted) == 1 and not adopted[0].active  # kept beside, retirable
    retire(data_dir, adopted[0].name)
    assert not adopted[0].path.exists()


@pytest.mark.slow
def test_releases_budgets_and_audit_per_version(two_versions, database_url, tmp_path):
    data_dir = tmp_path / "registers"
    (tmp_path / "versions").symlink_to(versions_directory(two_versions), target_is_directory=True)
    activate(data_dir, "A", _prepare)
    api = build_api(make_settings(database_url, data_dir))
    try:
        query = with_noise(cohort())
        first = api.post("/v1/queries/runs", api.customer, json=query)
        assert first.status_code == 201, first.text
        version_a = first.json()["data_version"]
        budget_a = api.get("/v1/budgets", api.customer).json()
        assert budget_a["data_version"] == version_a and budget_a["rho_spent"] > 0

        activate(data_dir, "B", _prepare)  # while the service runs
        budget_b = api.get("/v1/budgets", api.customer).json()
        assert budget_b["data_version"] != version_a
        assert budget_b["rho_spent"] == 0  # a new version starts with its own budget
        second = api.post("/v1/queries/runs", api.customer, json=query)
        assert second.status_code == 201, second.text
        assert second.json()["data_version"] == budget_b["data_version"]
        assert api.get("/v1/budgets", api.customer).json()["rho_spent"] > 0

        verified = api.get("/v1/audit/verify", api.auditor).json()
        assert verified["ok"] is True and verified["problems"] == []
        earlier = api.get(f"/v1/releases/{first.json()['id']}", api.customer)
        assert earlier.status_code == 200 and earlier.json()["data_version"] == version_a
    finally:
        api.client.__exit__(None, None, None)


@pytest.mark.slow
def test_cli_lists_activates_and_refuses_to_retire_the_active_version(tmp_path, monkeypatch):
    data_dir = tmp_path / "registers"
    for name, seed in (("one", 1), ("two", 2)):
        generate_registers(
            tmp_path / "versions" / name, persons=1000, seed=seed, workers=1, start_year=2019, end_year=2020
        )
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(data_dir))
    from statservice.core.config import get_settings

    get_settings.cache_clear()
    runner = CliRunner()
    try:
        assert runner.invoke(app, ["versions", "activate", "one"]).exit_code == 0
        listed = runner.invoke(app, ["versions", "list"])
        assert listed.exit_code == 0 and "active" in listed.output and "two" in listed.output
        refused = runner.invoke(app, ["versions", "retire", "one"])
        assert refused.exit_code == 1 and "active" in refused.output
        assert runner.invoke(app, ["versions", "activate", "two"]).exit_code == 0
        assert runner.invoke(app, ["versions", "retire", "one"]).exit_code == 0
        assert not (tmp_path / "versions" / "one").exists()
        assert data_dir.resolve().name == "two"
    finally:
        get_settings.cache_clear()
