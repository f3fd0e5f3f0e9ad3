"""S3: an extract without catalog.json is never served. `statservice serve` and `run` refuse to start
with a message that says what to do; an app built directly answers 503 (the vocabulary must never be
read from the rows instead)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from statservice.cli import app as cli
from statservice.core.config import get_settings


@pytest.fixture
def unfinished_extract(monkeypatch, tmp_path, sqlite_url):
    data_dir = tmp_path / "registers"
    (data_dir / "bef").mkdir(parents=True)
    (data_dir / "bef" / "part-00000.parquet").write_bytes(b"rows but no catalog")
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(data_dir))
    get_settings.cache_clear()
    yield data_dir
    get_settings.cache_clear()


def test_serve_refuses_an_extract_without_catalog(unfinished_extract):
    result = CliRunner().invoke(cli, ["serve"])
    assert result.exit_code == 1
    output = " ".join(result.output.split())  # rich may wrap the path
    assert "refusing to start" in output and "catalog.json" in output
    assert "make run" in output and str(unfinished_extract) in output.replace(" ", "")


def test_serve_refuses_a_missing_extract(monkeypatch, tmp_path, sqlite_url):
    monkeypatch.setenv("STATSERVICE_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("STATSERVICE_DATA_DIR", str(tmp_path / "nothing-here"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1 and "catalog.json" in result.output


def test_the_api_answers_503_on_an_extract_without_catalog(unfinished_extract, sqlite_url):
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(sqlite_url, unfinished_extract))
    try:
        query = {
            "index": {
                "concept": {"type": "diagnosis", "codes": ["DE11"]},
                "period": {"start": "2015-01-01", "end": "2018-12-31"},
            }
        }
        response = api.post("/v1/queries/validate", api.customer, json=query)
    finally:
        api.client.__exit__(None, None, None)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
