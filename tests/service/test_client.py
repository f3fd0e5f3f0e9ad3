"""The Python client (statservice.client) against the real HTTP app served on a socket by uvicorn:
typed queries, quotes, runs polled as the service asks, frames equal to the downloads, one error type."""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import get_args

import httpx
import polars as pl
import pytest
from openpyxl import load_workbook

from queries.model import (
    CohortCountResult,
    DiagnosisConcept,
    IndexEvent,
    Period,
    Query,
    SexBreakdown,
)
from statservice import exports
from statservice.api.app import create_app
from statservice.client import (
    Client,
    ExportFormat,
    ProblemError,
    RunProgress,
    RunStillRunning,
    query_payload,
    retry_after,
)
from statservice.service import Service
from tests.service.conftest import Actor, make_settings, seed_actors
from tests.service.helpers import distinct_cohort
from tests.service.live import live_server

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Live:
    base_url: str
    service: Service
    actors: dict[str, Actor]

    def client(self, actor: str = "customer", **kwargs) -> Client:
        return Client(self.base_url, api_key=self.actors[actor].key, **kwargs)


@pytest.fixture
def live(database_url: str, service_registers: Path) -> Iterator[Live]:
    """The app over the small synthetic registers, served over HTTP on 127.0.0.1."""
    settings = make_settings(database_url, service_registers)
    service = Service(settings)
    actors = seed_actors(service)
    try:
        with live_server(create_app(settings, service)) as base_url:
            yield Live(base_url, service, actors)
    finally:
        service.close()


def diabetes_by_sex(codes: tuple[str, ...] = ("DE11",)) -> Query:
    return Query(
        title="Incident type 2 diabetes by sex",
        index=IndexEvent(
            concept=DiagnosisConcept(codes=codes),
            period=Period(start=dt.date(2015, 1, 1), end=dt.date(2018, 12, 31)),
        ),
        result=CohortCountResult(breakdowns=(SexBreakdown(),)),
    )


def test_a_typed_query_is_quoted_run_and_read_as_frames_equal_to_the_downloads(live, tmp_path):
    with live.client() as client:
        query = diabetes_by_sex()
        validation = client.validate(query)
        # the full dump the client sends (defaults and discriminators included) is the query a
        # customer writes by hand in JSON: the same canonical query, the same hash
        by_hand = {
            "title": "Incident type 2 diabetes by sex",
            "index": {
                "concept": {"type": "diagnosis", "codes": ["DE11"]},
                "period": {"start": "2015-01-01", "end": "2018-12-31"},
            },
            "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
        }
        assert validation.query_hash == client.validate(by_hand).query_hash

        quote = client.quote(query)
        assert isinstance(quote.price.amount, Decimal) and quote.price.amount > 0
        assert quote.query_hash == validation.query_hash and quote.would_refuse is False

        reports: list[RunProgress] = []
        release = client.run(query, progress=reports.append)
        assert reports[-1].status == "released" and reports[-1].run_id == release.run_id
        assert release.query_hash == quote.query_hash

        frame = release.frame()
        # one row per cell: male, female and the total; suppressed cells have no value
        assert frame.height == 3 and set(frame["sex"]) == {"male", "female", "total"}
        assert frame["value"].dtype == pl.Int64
        assert (frame["status"] == "suppressed").to_list() == frame["value"].is_null().to_list()
        assert frame.equals(client.frame_from_download(release))
        assert release.frame(table=1).columns == list(
            release.export().table_columns(release.export().tables[0])
        )
        with pytest.raises(ValueError, match="no table 2"):
            release.frame(table=2)
        assert release.to_pandas().equals(frame.to_pandas())

        csv = client.download(release, "csv")
        by_curl = httpx.get(
            f"{live.base_url}/v1/releases/{release.id}/result?format=csv",
            headers={"Authorization": f"Bearer {live.actors['customer'].key}"},
        )
        assert csv == by_curl.content
        assert pl.read_csv(io.BytesIO(csv))["sex"].to_list() == frame["sex"].to_list()
        saved = client.save(release, tmp_path / "diabetes.xlsx")
        assert load_workbook(saved).sheetnames == ["Table 1"]
        with pytest.raises(ValueError, match="csv, parquet, xlsx"):
            client.save(release, tmp_path / "diabetes.txt")

        budget = client.budget()
        assert budget.organisation_id == live.actors["customer"].organisation_id
        runs = [item for item in client.iter_history(kind="query_run")]
        assert [item.release_id for item in runs] == [release.id]
        assert [summary.id for summary in client.releases().items] == [release.id]
        assert "DE11" in [code.code for code in client.search_codes("icd10", "type 2 diabetes")]


def _busy_slots(service: Service) -> tuple[threading.Event, list]:
    """Every run slot taken (as by long runs), so the next run waits queued."""
    gate = threading.Event()
    admission = service.admission
    return gate, [admission.submit(gate.wait, 60)[0] for _ in range(admission.max_concurrent)]


def test_a_queued_run_is_polled_after_retry_after_and_reported(live):
    gate, holders = _busy_slots(live.service)
    heard: list[tuple[float, RunProgress]] = []

    def progress(update: RunProgress) -> None:
        heard.append((time.monotonic(), update))
        if update.status == "queued":
            gate.set()  # free the slots: the run starts once the client polls again

    try:
        with live.client() as client:
            release = client.run(distinct_cohort(2), progress=progress)
    finally:
        gate.set()
        for holder in holders:
            holder.result(timeout=60)
    statuses = [update.status for _, update in heard]
    assert statuses[0] == "queued" and heard[0][1].queue_position == 1
    assert statuses[-1] == "released" and heard[-1][1].run_id == release.run_id
    assert heard[0][1].describe().endswith("queued, number 1 in line")
    # the service said Retry-After: 1; the client did not ask again before that
    assert heard[1][0] - heard[0][0] >= 0.95


def test_a_client_that_stops_waiting_can_wait_again(live):
    gate, holders = _busy_slots(live.service)
    try:
        with live.client() as client:
            with pytest.raises(RunStillRunning) as stopped:
                client.run(distinct_cohort(4), timeout=0.5)
            assert stopped.value.status == "queued" and stopped.value.run_id.startswith("run_")
            gate.set()
            release = client.wait(stopped.value.run_id, timeout=120)
            assert release.run_id == stopped.value.run_id
    finally:
        gate.set()
        for holder in holders:
            holder.result(timeout=60)


def test_every_error_is_one_exception_with_the_problem_fields(live):
    with live.client() as client:
        bad_date = query_payload(diabetes_by_sex()) | {
            "index": {"concept": {"type": "diagnosis", "codes": ["DE11"]}, "period": {"start": "2015-13-01"}}
        }
        with pytest.raises(ProblemError) as invalid:
            client.quote(bad_date)
        assert invalid.value.status == 422 and invalid.value.type.endswith("/invalid")
        fields = [error.field for error in invalid.value.errors]
        assert "index.period.start" in fields and "index.period.end" in fields
        assert "index.period.start" in str(invalid.value)

        with pytest.raises(ProblemError) as unknown:
            client.run(diabetes_by_sex(codes=("DQ99X9",)))  # well-formed, but not in the catalog
        assert unknown.value.status == 422
        assert [error.field for error in unknown.value.errors] == ["index.concept.codes.0"]

        with pytest.raises(ProblemError) as missing:
            client.release("rel_does_not_exist")
        assert missing.value.status == 404 and missing.value.instance == "/v1/releases/rel_does_not_exist"
        with pytest.raises(ValueError, match="one of"):
            client.download("rel_does_not_exist", "pdf")  # type: ignore[arg-type]

    with Client(live.base_url, api_key="not-a-key") as stranger, pytest.raises(ProblemError) as denied:
        stranger.budget()
    assert denied.value.status == 401 and denied.value.title == "Unauthorized"


def test_pandas_is_optional_and_its_absence_is_said_plainly(live, monkeypatch):
    with live.client() as client:
        release = client.run(diabetes_by_sex())
    monkeypatch.setitem(sys.modules, "pandas", None)  # as if not installed
    with pytest.raises(ImportError, match=re.escape("pip install 'statservice[pandas]'")):
        release.to_pandas()
    assert release.frame().height == 3  # Polars needs nothing more


def test_the_client_offers_exactly_the_service_export_formats():
    assert set(get_args(ExportFormat)) == set(exports.FORMATS)


def test_retry_after_in_seconds_or_as_an_http_date():
    def answer(value: str) -> httpx.Response:
        return httpx.Response(202, headers={"Retry-After": value})

    assert retry_after(answer("3")) == 3.0
    in_a_minute = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    assert 55 <= retry_after(answer(in_a_minute.strftime("%a, %d %b %Y %H:%M:%S GMT"))) <= 60
    assert retry_after(answer("soon")) is None
    assert retry_after(httpx.Response(200)) is None


def python_blocks(markdown: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", markdown, flags=re.DOTALL)


def test_the_worked_example_in_docs_client_md_runs(live, monkeypatch, tmp_path):
    """docs/client.md, block by block in one namespace, as a notebook would run it."""
    blocks = python_blocks((ROOT / "docs" / "client.md").read_text())
    assert len(blocks) >= 5
    monkeypatch.setenv("STATSERVICE_URL", live.base_url)
    monkeypatch.setenv("STATSERVICE_API_KEY", live.actors["customer"].key)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "docs_client_example"}
    for block in blocks:
        exec(compile(block, "docs/client.md", "exec"), namespace)
    namespace["client"].close()
    # what the example says it leaves behind
    assert isinstance(namespace["release"].frame(), pl.DataFrame)
    assert {path.name for path in tmp_path.iterdir()} >= {"diabetes-by-sex.csv", "diabetes-by-sex.parquet"}
