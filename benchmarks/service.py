"""Benchmark: the HTTP service under a bounded load of concurrent clients.

    .venv/bin/python -m benchmarks.service [--requests 3000] [--seconds 60] [--clients 16]
        [--run-share 0.15] [--database-url postgresql+psycopg://.../db --workers 4]

Uses the default registers in ``data/registers`` (generated with 100,000 persons if missing, as
``make run`` does), migrates the database (a fresh SQLite file unless ``--database-url`` names one;
``statservice migrate`` then), starts ``statservice serve`` on 127.0.0.1 with ``--workers`` API
processes, creates one customer key per client (in four organisations), then drives a mix of cheap
requests (catalog, code search, budget, quote) and ``--run-share`` query runs (cohort counts, some
with differential privacy) with httpx's async client, bounded by a request count and a wall-clock
limit. A 429 is not an error: the client waits its Retry-After (counted as ``limited``; a 429
without Retry-After is an error) and is left out of the latencies. A run answered 202 is polled as a
client should poll it: after the Retry-After of the 202 and of each poll (figures before 2026-12-06
polled every 0.2 s, ignoring it, which made polls about 90 % of the requests).

Baseline in the same run: ``GET /v1/health``, which passes the HTTP stack and the error handling but
no authentication, database or composition. After the load it checks that no organisation's and no
global privacy budget was overspent, and how long an authenticated cheap request takes once the load
has stopped (``after_ms``: the server answers at once). The last line is ``key=value`` for scripts;
its p50/p95 are over the cheap requests (the goal is p95 <= 300 ms at 50 clients).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CHEAP = ("catalog", "code_search", "budget", "quote")

console = Console()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cohort(i: int, noise: bool = False) -> dict:
    """Cohort counts that differ in period, population and breakdown (all valid, all priced)."""
    year = 2010 + i % 9
    breakdowns = [[{"by": "sex"}], [{"by": "region"}], [{"by": "sex"}, {"by": "age_band", "width": 10}], []][
        i % 4
    ]
    query = {
        "title": f"bench {i}",
        "index": {
            "concept": [
                {"type": "diagnosis", "codes": ["DE11"]},
                {"type": "prescription", "atc": ["A10BJ"]},
                {"type": "diagnosis", "codes": ["DI21"]},
            ][i % 3],
            "period": {"start": f"{year}-01-01", "end": f"{year + 3}-12-31"},
        },
        "population": {"age": {"min": 18 + i % 5, "max": None}},
        "result": {"kind": "cohort_count", "breakdowns": breakdowns},
    }
    if noise:
        query["disclosure"] = {"noise": "gaussian"}
    return query


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def prepare(db_url: str, clients: int) -> list[str]:
    from statservice import accounts
    from statservice.db.migrate import upgrade
    from statservice.db.session import Database

    upgrade(db_url)
    db = Database(db_url)
    keys = []
    tag = time.strftime("%Y%m%dT%H%M%S")  # a database given by URL may hold earlier runs' organisations
    with db.write() as session:
        organisations = [
            accounts.create_organisation(session, f"Bench organisation {n} {tag}", "public_research")
            for n in range(4)
        ]
        for c in range(clients):
            _, secret = accounts.create_key(session, organisations[c % 4].id, "customer", f"bench client {c}")
            keys.append(secret)
    db.dispose()
    return keys


async def client_loop(
    n: int,
    base: str,
    key: str,
    budget: dict,
    results: dict,
    errors: dict,
    deadline: float,
    runs_left: list[int],
    refused: list[int],
    limited: dict,
    run_share: float,
) -> None:
    rng = random.Random(n)
    headers = {"Authorization": f"Bearer {key}"}
    # the cheap mix keeps its old proportions over the share of requests that are not runs
    cut = [run_share + (1 - run_share) * (c - 0.04) / 0.96 for c in (0.30, 0.50, 0.70, 0.85)]
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as http:
        while budget["left"] > 0 and time.monotonic() < deadline:
            budget["left"] -= 1
            roll = rng.random()
            i = rng.randrange(10_000)
            if roll < run_share and runs_left[0] > 0:
                runs_left[0] -= 1
                kind, method, path, body = (
                    "run",
                    "POST",
                    "/v1/queries/runs",
                    cohort(i, noise=rng.random() < 0.4),
                )
            elif roll < cut[0]:
                kind, method, path, body = "quote", "POST", "/v1/queries/quote", cohort(i)
            elif roll < cut[1]:
                kind, method, path, body = (
                    "catalog",
                    "GET",
                    rng.choice(
                        ["/v1/catalog/registers", "/v1/catalog/data-owners", "/v1/catalog/registers/LMDB"]
                    ),
                    None,
                )
            elif roll < cut[2]:
                term = rng.choice(["E11", "diabetes", "I21", "A10B", "metformin", "C50"])
                code_list = "atc" if term in ("A10B", "metformin") else "icd10"
                kind, method, path, body = (
                    "code_search",
                    "GET",
                    f"/v1/catalog/code-lists/{code_list}?q={term}",
                    None,
                )
            elif roll < cut[3]:
                kind, method, path, body = "budget", "GET", "/v1/budgets", None
            else:
                kind, method, path, body = "baseline", "GET", "/v1/health", None
            started = time.perf_counter()
            try:
                response = await http.request(method, path, json=body)
                elapsed = (time.perf_counter() - started) * 1000
                status = response.status_code
                if status == 429 and response.headers.get("retry-after", "").isdigit():
                    limited[kind] += 1  # slowed down, not failed: wait as told and go on
                    await asyncio.sleep(min(5, int(response.headers["retry-after"])))
                    continue
                if status == 202:  # finished in the background: poll it when the server says
                    location = response.headers["location"]
                    state, give_up = "running", time.monotonic() + 300
                    wait = retry_after(response)
                    while time.monotonic() < give_up:
                        await asyncio.sleep(wait)
                        polled = await http.get(location)
                        if polled.status_code == 429:
                            await asyncio.sleep(min(5, int(polled.headers.get("retry-after", "1"))))
                            continue
                        state = polled.json()["status"]
                        wait = retry_after(polled)
                        if state not in ("queued", "running"):
                            break
                    status = {"released": 201, "refused": 409}.get(state, 500)
                    elapsed = (time.perf_counter() - started) * 1000
                if kind == "run" and status == 409:
                    refused[0] += 1  # disclosure control refused (budget or protection): a valid answer
                ok = status < 400 or (kind == "run" and status == 409)
            except httpx.HTTPError:
                elapsed, ok = (time.perf_counter() - started) * 1000, False
            results[kind].append(elapsed)
            if not ok:
                errors[kind] += 1


def retry_after(response: httpx.Response) -> float:
    """When to poll again: the Retry-After the server sent (seconds), as a client should; 1 s without
    one. Polling faster than told only adds load the server asked not to get."""
    value = response.headers.get("retry-after", "")
    return float(min(5, int(value))) if value.isdigit() else 1.0


async def drive(base: str, keys: list[str], total: int, seconds: float, max_runs: int, run_share: float):
    results: dict[str, list[float]] = defaultdict(list)
    errors: dict[str, int] = defaultdict(int)
    limited: dict[str, int] = defaultdict(int)
    budget = {"left": total}
    deadline = time.monotonic() + seconds
    runs_left = [max_runs]
    refused = [0]
    started = time.perf_counter()
    await asyncio.gather(
        *(
            client_loop(
                n, base, key, budget, results, errors, deadline, runs_left, refused, limited, run_share
            )
            for n, key in enumerate(keys)
        )
    )
    return results, errors, limited, refused[0], time.perf_counter() - started


def answer_after_load(base: str, key: str) -> float:
    """Milliseconds of an authenticated cheap request right after the load (the worst of three)."""
    worst = 0.0
    for _ in range(3):
        started = time.perf_counter()
        response = httpx.get(f"{base}/v1/budgets", headers={"Authorization": f"Bearer {key}"}, timeout=60)
        response.raise_for_status()
        worst = max(worst, (time.perf_counter() - started) * 1000)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--runs", type=int, default=10**9, help="at most this many query runs in the mix")
    parser.add_argument("--run-share", type=float, default=0.15, help="share of requests that are runs")
    parser.add_argument("--data-dir", type=Path, default=ROOT / "data" / "registers")
    parser.add_argument(
        "--database-url", help="migrated and used as it is (default: a fresh SQLite file); its runs stay"
    )
    parser.add_argument("--workers", type=int, default=1, help="API processes (more than one: PostgreSQL)")
    args = parser.parse_args()

    from statservice.cli.run import ensure_registers

    ensure_registers(args.data_dir)
    workdir = Path(tempfile.mkdtemp(prefix="statservice-bench-"))
    db_url = args.database_url or f"sqlite:///{workdir}/bench.sqlite3"
    keys = prepare(db_url, args.clients)
    port = free_port()
    env = {
        **os.environ,
        "STATSERVICE_DATABASE_URL": db_url,
        "STATSERVICE_DATA_DIR": str(args.data_dir),
        "PYTHONPATH": str(ROOT),
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "statservice", "serve", "--port", str(port), "--workers", str(args.workers)],
        env=env,
        cwd=ROOT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v1/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the service did not start")
            time.sleep(0.2)
        # warm up: open the engine (layout) and the catalog once, outside the measurement
        httpx.post(
            f"{base}/v1/queries/quote",
            json=cohort(0),
            headers={"Authorization": f"Bearer {keys[0]}"},
            timeout=300,
        )
        results, errors, limited, refused, wall = asyncio.run(
            drive(base, keys, args.requests, args.seconds, args.runs, args.run_share)
        )
        after_ms = answer_after_load(base, keys[-1])
        overspent = check_budgets(base, keys, db_url)
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()

    database = "PostgreSQL" if db_url.startswith("postgresql") else "SQLite"
    table = Table(
        title=f"statservice under {args.clients} concurrent clients, {args.workers} API process(es) on "
        f"{database} ({wall:.1f} s)"
    )
    for column in ("kind", "requests", "errors", "429", "p50 ms", "p95 ms", "max ms"):
        table.add_column(column, justify="right" if column != "kind" else "left")
    for kind in ("baseline", *CHEAP, "run"):
        values = results.get(kind, [])
        table.add_row(
            kind + (" (GET /v1/health)" if kind == "baseline" else ""),
            str(len(values)),
            str(errors.get(kind, 0)),
            str(limited.get(kind, 0)),
            f"{percentile(values, 50):.1f}",
            f"{percentile(values, 95):.1f}",
            f"{max(values) if values else float('nan'):.1f}",
        )
    console.print(table)
    cheap = [v for kind in CHEAP for v in results.get(kind, [])]
    requests = sum(len(v) for v in results.values()) + sum(limited.values())
    health_p95 = percentile(results.get("baseline", []), 95)
    console.print(
        f"cheap requests p95 {percentile(cheap, 95):.1f} ms (goal <= 300 ms); baseline p95 "
        f"{health_p95:.1f} ms; runs refused by disclosure control (budget or protection): {refused}; "
        f"429 with Retry-After: {sum(limited.values())}; budgets overspent: {overspent}; "
        f"a cheap request after the load: {after_ms:.1f} ms"
    )
    print(
        f"clients={args.clients} requests={requests} rps={requests / wall:.1f} "
        f"p50_ms={percentile(cheap, 50):.1f} p95_ms={percentile(cheap, 95):.1f} "
        f"errors={sum(errors.values())} health_p95_ms={health_p95:.1f} limited={sum(limited.values())} "
        f"runs={len(results.get('run', []))} run_p95_ms={percentile(results.get('run', []), 95):.1f} "
        f"budget_overspent={overspent} after_ms={after_ms:.1f}"
    )


def check_budgets(base: str, keys: list[str], db_url: str) -> int:
    """Organisations (through the API) and the global ledger (in the database) within their limits."""
    from sqlalchemy import select

    from statservice.db.models import PrivacyLedgerRow
    from statservice.db.session import Database

    overspent = 0
    for key in keys[:4]:
        budget = httpx.get(
            f"{base}/v1/budgets", headers={"Authorization": f"Bearer {key}"}, timeout=30
        ).json()
        overspent += budget["rho_spent"] > budget["rho_limit"] + 1e-9
    from disclosure.policy import Policy

    limit = Policy.default().budgets.rho_global
    db = Database(db_url)
    with db.session() as session:
        for row in session.execute(select(PrivacyLedgerRow)).scalars():
            if row.scope == "global":
                overspent += row.rho_spent > limit + 1e-9
    db.dispose()
    return overspent


if __name__ == "__main__":
    main()
