"""Concurrent releases never overspend a budget: the spend is re-checked under the ledger row lock
(SELECT ... FOR UPDATE on PostgreSQL, BEGIN IMMEDIATE on SQLite) inside the release transaction."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from disclosure.policy import Policy
from tests.budgets import without_degraded_budget
from tests.service.conftest import build_api, make_settings
from tests.service.helpers import assert_consistent, counts, distinct_cohort, with_noise


def test_concurrent_noisy_runs_stop_exactly_at_the_budget(database_url, service_registers):
    api = build_api(
        make_settings(
            database_url, service_registers, max_concurrent_runs=4, max_queued_runs=16, sync_wait_seconds=60
        )
    )
    try:
        api.service.policy = Policy(
            budgets=without_degraded_budget(rho_per_organisation=0.5)
        )  # four tables of rho 0.125
        queries = [with_noise(distinct_cohort(i)) for i in range(8)]  # fresh noise each: all charged
        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(lambda q: api.post("/v1/queries/runs", api.customer, json=q), queries))
        statuses = sorted(r.status_code for r in responses)
        # queued runs may answer 202 and finish in the background: wait for them
        api.service.admission.shutdown(wait=True)
        c = counts(api.service)
        assert c["releases"] == 4, statuses
        assert c["invoice_lines"] == 4
        budget = api.get("/v1/budgets", api.customer).json()
        assert abs(budget["rho_spent"] - 0.5) < 1e-9 and budget["rho_remaining"] == 0
        assert statuses.count(409) + statuses.count(202) >= 4
        assert_consistent(api.service)
    finally:
        api.client.__exit__(None, None, None)
