"""Nothing blocks the event loop: a real uvicorn server answers /v1/health at once while many SQLite
clients authenticate and read, and while a huge validation request is being worked on."""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from statservice import accounts
from statservice.api.app import create_app
from statservice.service import Service
from tests.service.conftest import make_settings, seed_actors
from tests.service.live import live_server

CLIENTS = 50


def _keys(service: Service, count: int) -> list[str]:
    """One organisation and customer key per client, so every first request is a key lookup."""
    keys = []
    with service.db.write() as session:
        for number in range(count):
            organisation = accounts.create_organisation(session, f"Client {number}", "public_research")
            _, secret = accounts.create_key(session, organisation.id, "customer", f"client {number}")
            keys.append(secret)
    return keys


@pytest.mark.slow
def test_fifty_sqlite_clients_get_no_errors_and_health_answers_at_once(sqlite_url, tmp_path):
    # every request looks its key up (as when the key cache expires under a long load)
    settings = make_settings(sqlite_url, tmp_path / "no-registers", auth_cache_seconds=0)
    service = Service(settings)
    keys = _keys(service, CLIENTS)
    app = create_app(settings, service)
    failures: list[str] = []
    latencies: list[float] = []
    lock = threading.Lock()
    try:
        with live_server(app) as base:
            start = threading.Barrier(CLIENTS)

            def client(number: int) -> None:
                headers = {"Authorization": f"Bearer {keys[number]}"}
                with httpx.Client(base_url=base, timeout=30) as http:
                    start.wait()
                    for request in range(8):
                        path = "/v1/health" if request % 4 == 3 else "/v1/history"
                        began = time.monotonic()
                        try:
                            response = http.get(path, headers=headers)
                            outcome = None if response.status_code == 200 else str(response.status_code)
                        except httpx.HTTPError as error:
                            outcome = type(error).__name__
                        with lock:
                            latencies.append(time.monotonic() - began)
                            if outcome:
                                failures.append(f"{path}: {outcome}")

            with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
                list(pool.map(client, range(CLIENTS)))
            began = time.monotonic()
            health = httpx.get(f"{base}/v1/health", timeout=5)
            health_seconds = time.monotonic() - began
    finally:
        service.close()
    p95 = statistics.quantiles(latencies, n=20)[-1]
    print(f"clients={CLIENTS} requests={len(latencies)} errors={len(failures)} p95_ms={p95 * 1000:.1f}")
    assert failures == []
    assert len(latencies) == CLIENTS * 8
    assert health.status_code == 200
    assert health_seconds < 1.0


def _unknown_codes_query(criteria: int = 100, codes: int = 200) -> dict:
    """Well-formed ICD-10 prefixes that no register code starts with (DU is not used in Denmark)."""
    includes = [
        {
            "type": "include",
            "concept": {"type": "diagnosis", "codes": [f"DU{c:02d}{n % 100:02d}" for n in range(codes)]},
        }
        for c in range(criteria)
    ]
    return {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2015-01-01", "end": "2018-12-31"},
        },
        "criteria": [{"type": "all", "criteria": includes[i : i + 50]} for i in range(0, criteria, 50)],
        "result": {"kind": "cohort_count"},
    }


def test_health_answers_within_a_second_beside_a_20000_code_validation(sqlite_url, service_registers):
    settings = make_settings(sqlite_url, service_registers)
    service = Service(settings)
    customer = seed_actors(service)["customer"]
    app = create_app(settings, service)
    query = _unknown_codes_query()
    assert sum(len(i["concept"]["codes"]) for g in query["criteria"] for i in g["criteria"]) == 20_000
    health_seconds: list[float] = []
    try:
        with live_server(app) as base, httpx.Client(base_url=base, timeout=60) as http:
            assert http.get("/v1/health").status_code == 200  # connection and app warmed up
            with ThreadPoolExecutor(max_workers=1) as pool:
                began = time.monotonic()
                big = pool.submit(http.post, "/v1/queries/validate", json=query, headers=customer.headers)
                while not big.done() or not health_seconds:
                    asked = time.monotonic()
                    with httpx.Client(base_url=base, timeout=60) as beside:
                        assert beside.get("/v1/health").status_code == 200
                    health_seconds.append(time.monotonic() - asked)
                response = big.result()
                big_seconds = time.monotonic() - began
    finally:
        service.close()
    print(
        f"validate_20000_codes_ms={big_seconds * 1000:.0f} health_requests={len(health_seconds)} "
        f"health_max_ms={max(health_seconds) * 1000:.1f}"
    )
    assert response.status_code == 422, response.text
    problems = response.json()["errors"]
    assert any("more code prefixes are not known" in p["message"] for p in problems)
    assert len(problems) <= 25
    assert max(health_seconds) < 1.0
    assert big_seconds < 10
