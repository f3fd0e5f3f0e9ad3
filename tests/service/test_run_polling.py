"""Polling a run: a 202 says when to ask again (Retry-After); a queued run shows its place in the
queue, a running one its stage (engine, disclosure control, commit), stored with the run so that
every request (and every API process) sees it."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import create_engine, text

from tests.service.conftest import build_api, make_settings, postgres_database
from tests.service.helpers import cohort, distinct_cohort


def _wait_for(api, location: str, predicate, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        response = api.get(location, api.customer)
        assert response.status_code == 200, response.text
        body = response.json()
        if predicate(body):
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.05)


def _finished(body: dict) -> bool:
    return body["status"] not in ("queued", "running")


def _busy_slots(api) -> tuple[threading.Event, list]:
    """Every run slot of the process taken (as by long runs), so new runs wait queued."""
    gate = threading.Event()
    admission = api.service.admission
    return gate, [admission.submit(gate.wait, 60)[0] for _ in range(admission.max_concurrent)]


def test_a_202_carries_retry_after_and_queued_runs_show_their_place(data_api):
    api = data_api
    gate, holders = _busy_slots(api)
    try:
        first = api.post("/v1/queries/runs", api.customer, json=cohort())
        second = api.post("/v1/queries/runs", api.customer, json=distinct_cohort(3))
        for response in (first, second):
            assert response.status_code == 202, response.text
            assert int(response.headers["retry-after"]) >= 1
            assert response.json()["stage"] is None
        assert first.json()["queue_position"] == 1 and second.json()["queue_position"] == 2
        # polling says the same, and when to ask again
        polled = api.get(second.headers["location"], api.customer)
        assert polled.json()["status"] == "queued" and polled.json()["queue_position"] == 2
        assert int(polled.headers["retry-after"]) >= 1
    finally:
        gate.set()
    for holder in holders:
        holder.result(timeout=60)
    for response in (first, second):
        done = _wait_for(api, response.headers["location"], _finished)
        assert done["status"] == "released"
        assert done["queue_position"] is None and done["stage"] is None
        assert "retry-after" not in api.get(response.headers["location"], api.customer).headers


@pytest.fixture
def pg_data_api(request, service_registers):
    api = build_api(make_settings(postgres_database(request), service_registers))
    yield api
    api.client.__exit__(None, None, None)


@pytest.mark.postgres
def test_a_running_run_shows_its_stage_to_every_request(pg_data_api):
    """Hold the release history (read by disclosure control) and the audit chain head (locked by
    the commit) as other transactions do, and watch the run wait in each stage."""
    api = pg_data_api
    engine = create_engine(api.service.settings.database_url)
    history = engine.connect()
    chain = engine.connect()
    gate, holders = _busy_slots(api)
    try:
        response = api.post("/v1/queries/runs", api.customer, json=cohort())
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        history.execute(text("LOCK TABLE ss_released_person_sets IN ACCESS EXCLUSIVE MODE"))
        chain.execute(text("SELECT last_sequence FROM ss_audit_head WHERE id = 1 FOR UPDATE"))
        gate.set()
        for holder in holders:
            holder.result(timeout=60)
        seen = _wait_for(api, location, lambda b: b["stage"] == "disclosure_control")
        assert seen["status"] == "running" and seen["queue_position"] is None
        polled = api.get(location, api.customer)
        assert polled.json()["stage"] == "disclosure_control"  # still, on another request
        assert int(polled.headers["retry-after"]) >= 1
        history.rollback()
        seen = _wait_for(api, location, lambda b: b["stage"] != "disclosure_control")
        assert seen["status"] == "running" and seen["stage"] == "commit"
        chain.rollback()
        done = _wait_for(api, location, _finished)
        assert done["status"] == "released" and done["stage"] is None
    finally:
        gate.set()
        history.rollback()
        chain.rollback()
        history.close()
        chain.close()
        engine.dispose()
