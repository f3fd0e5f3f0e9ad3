"""The release path over the real HTTP app, engine, disclosure control, billing and database."""

from __future__ import annotations

import csv
import io
import json
import threading
import time
from decimal import Decimal

import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from disclosure.policy import Policy
from statservice.db.models import AuditRecord
from tests.budgets import without_degraded_budget
from tests.service.helpers import assert_consistent, cohort, counts, distinct_cohort, with_noise


def run(api, actor, query, **kwargs):
    return api.post("/v1/queries/runs", actor, json=query, **kwargs)


def test_run_releases_a_protected_table_with_report_and_invoice_line(data_api):
    api = data_api
    quote = api.post("/v1/queries/quote", api.customer, json=cohort())
    assert quote.status_code == 200, quote.text
    assert counts(api.service)["releases"] == 0  # quoting runs nothing
    response = run(api, api.customer, cohort())
    assert response.status_code == 201, response.text
    release = response.json()
    assert response.headers["location"] == f"/v1/releases/{release['id']}"
    assert release["organisation_id"] == api.customer.organisation_id
    table = release["tables"][0]
    assert table["dimensions"] == ["sex"]
    for cell in table["cells"]:
        assert cell["status"] in ("released", "suppressed")
        assert (cell["value"] is None) == (cell["status"] == "suppressed")
        assert cell["value"] is None or cell["value"] >= 5
    # the customer report never distinguishes primary from secondary suppression
    report = json.dumps(release["report"])
    assert "primary" not in report and "secondary" not in report and "fingerprint" not in report
    assert Decimal(release["invoice_line"]["amount"]) == Decimal(quote.json()["price"]["amount"]) > 0
    assert release["query_hash"] == quote.json()["query_hash"]
    assert_consistent(api.service)


def test_release_audit_record_carries_the_auditor_report(data_api):
    api = data_api
    release = run(api, api.customer, cohort()).json()
    records = api.get("/v1/audit/records", api.auditor, params={"action": "release"}).json()["items"]
    assert len(records) == 1
    payload = records[0]["payload"]
    assert payload["release_id"] == release["id"]
    assert payload["report"]["audit"]["passed"] is True
    assert "fingerprints" in json.dumps(payload["report"])
    assert payload["invoice_line"]["net_amount"] == release["invoice_line"]["amount"]
    assert records[0]["query_hash"] == release["query_hash"]
    assert records[0]["organisation_id"] == api.customer.organisation_id
    assert api.get("/v1/audit/verify", api.auditor).json()["ok"] is True


def test_results_download_in_every_format(data_api):
    api = data_api
    release = run(api, api.customer, cohort()).json()
    base = f"/v1/releases/{release['id']}/result"
    as_json = api.get(base, api.customer).json()
    assert [cell["value"] for cell in as_json["cells"]] == [c["value"] for c in release["tables"][0]["cells"]]
    text = api.get(base, api.customer, params={"format": "csv"})
    assert text.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(text.text)))
    assert len(rows) == len(release["tables"][0]["cells"])
    assert {row["sex"] for row in rows} == {"male", "female", "total"}
    parquet = api.get(base, api.customer, params={"format": "parquet"})
    frame = pq.read_table(io.BytesIO(parquet.content))
    assert frame.num_rows == len(rows) and "value" in frame.column_names
    xlsx = api.get(base, api.customer, params={"format": "xlsx"})
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert sheet.max_row == len(rows) + 2
    bad = api.get(base, api.customer, params={"format": "pdf"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"


def test_another_organisation_sees_nothing(data_api):
    api = data_api
    release = run(api, api.customer, cohort()).json()
    foreign = api.foreign
    for path in (
        f"/v1/releases/{release['id']}",
        f"/v1/releases/{release['id']}/result",
        f"/v1/queries/runs/{release['run_id']}",
        f"/v1/organisations/{api.customer.organisation_id}",
    ):
        response = api.get(path, foreign)
        assert response.status_code == 404, path
        assert response.headers["content-type"] == "application/problem+json"
        assert api.get(path, api.customer).status_code == 200, path
    assert (
        api.get("/v1/budgets", foreign, params={"organisation_id": api.customer.organisation_id}).status_code
        == 404
    )
    assert api.get("/v1/releases", foreign).json()["total"] == 0
    assert api.get("/v1/history", foreign).json()["total"] == 0
    # the same organisation's other key sees it; staff and auditors see all
    assert api.get("/v1/releases", api.customer2).json()["total"] == 1
    assert api.get(f"/v1/releases/{release['id']}", api.staff).status_code == 200


def test_history_lists_runs_with_prices(data_api):
    api = data_api
    release = run(api, api.customer, cohort()).json()
    history = api.get("/v1/history", api.customer).json()
    assert history["total"] == 1
    item = history["items"][0]
    assert item["release_id"] == release["id"] and item["status"] == "released"
    assert item["price"] == release["invoice_line"]["amount"]


def test_noise_spends_budget_and_exhaustion_refuses_without_charge(data_api):
    api = data_api
    # no budget for the degraded noise that asked noise falls back to (configuration, not a stand-in)
    api.service.__dict__["policy"] = Policy.default().model_copy(
        update={"budgets": without_degraded_budget()}
    )
    before = api.get("/v1/budgets", api.customer).json()
    quote = api.post("/v1/queries/quote", api.customer, json=with_noise(cohort())).json()
    rho = quote["privacy"]["rho"]
    assert rho > 0 and quote["privacy"]["organisation_rho_remaining"] == before["rho_remaining"]
    statuses = []
    for i in range(int(before["rho_limit"] / rho) + 2):
        query = with_noise(distinct_cohort(i))  # other persons each time: fresh noise, charged
        statuses.append(run(api, api.customer, query).status_code)
    assert statuses[-1] == 409
    refused = run(api, api.customer, with_noise(cohort(title="again")))
    assert refused.status_code == 409 and refused.headers["content-type"] == "application/problem+json"
    assert "budget" in refused.json()["detail"]
    after = api.get("/v1/budgets", api.customer).json()
    assert after["rho_spent"] <= after["rho_limit"] + 1e-9
    assert after["rho_spent"] == statuses.count(201) * rho
    c = counts(api.service)
    assert c["releases"] == c["invoice_lines"] == statuses.count(201)
    # another organisation's budget is untouched
    assert api.get("/v1/budgets", api.foreign).json()["rho_spent"] == 0
    assert_consistent(api.service)


def test_a_repeated_noisy_query_spends_rho_once(data_api):
    """Asked again in another wording, the same noisy query publishes the stored draws again: no new
    privacy loss, so the ledger, the release report and the audit record all show rho spent once."""
    api = data_api
    quoted = api.post("/v1/queries/quote", api.customer, json=with_noise(cohort())).json()["privacy"]
    rho = quoted["rho"]
    assert rho > 0 and quoted["rho_is_upper_bound"] is True and "up to" in quoted["note"]
    first = run(api, api.customer, with_noise(cohort()))
    second = run(api, api.customer, with_noise(cohort(title="the same question, asked again")))
    assert first.status_code == second.status_code == 201, second.text
    first, second = first.json(), second.json()
    assert [c["value"] for c in second["tables"][0]["cells"]] == [
        c["value"] for c in first["tables"][0]["cells"]
    ]
    assert first["rho_spent"] == pytest.approx(rho) and second["rho_spent"] == 0
    assert first["report"]["rho_spent"] == pytest.approx(rho)
    assert second["report"]["rho_spent"] == 0 and second["report"]["noise"]["rho"] == 0
    assert api.get("/v1/budgets", api.customer).json()["rho_spent"] == pytest.approx(rho)
    records = api.get("/v1/audit/records", api.auditor, params={"action": "release"}).json()["items"]
    by_release = {record["payload"]["release_id"]: record["payload"] for record in records}
    assert by_release[first["id"]]["rho_spent"] == pytest.approx(rho)
    assert by_release[second["id"]]["rho_spent"] == 0
    noise = by_release[second["id"]]["report"]["noise"]
    assert noise["draws_new"] == 0 and noise["tables_charged"] == [False]
    assert noise["rho_upper_bound"] == pytest.approx(rho)
    # the repeat was still a release: invoiced like any other
    assert Decimal(second["invoice_line"]["amount"]) == Decimal(first["invoice_line"]["amount"]) > 0
    assert_consistent(api.service)


def test_staff_acting_for_a_customer_is_recorded_as_both(data_api):
    api = data_api
    headers = {"X-Act-For-Organisation": api.customer.organisation_id}
    response = run(api, api.staff, cohort(), headers=headers)
    assert response.status_code == 201
    release = response.json()
    assert release["organisation_id"] == api.customer.organisation_id
    assert api.get(f"/v1/releases/{release['id']}", api.customer).status_code == 200
    with api.service.db.session() as session:
        record = session.execute(select(AuditRecord).where(AuditRecord.action == "release")).scalar_one()
    assert record.organisation_id == api.customer.organisation_id
    assert api.staff.key_id in record.actor and api.staff.organisation_id in record.actor
    payload = json.loads(record.payload_json)
    assert payload["key_organisation_id"] == api.staff.organisation_id and payload["role"] == "staff"


def test_busy_slots_answer_202_and_the_run_finishes_in_background(data_api):
    api = data_api
    gate = threading.Event()
    admission = api.service.admission
    holders = [admission.submit(gate.wait, 30)[0] for _ in range(admission.max_concurrent)]
    try:
        response = run(api, api.customer, cohort())
        assert response.status_code == 202, response.text
        location = response.headers["location"]
        assert location == f"/v1/queries/runs/{response.json()['id']}"
        assert response.json()["status"] == "queued"
    finally:
        gate.set()
    for holder in holders:
        holder.result(timeout=30)
    deadline = time.monotonic() + 60
    while True:
        status = api.get(location, api.customer).json()
        if status["status"] != "queued" and status["status"] != "running":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status["status"] == "released"
    assert api.get(status["release_url"], api.customer).status_code == 200
    assert api.get(location, api.foreign).status_code == 404


def test_invalid_query_names_the_field(data_api):
    api = data_api
    query = cohort(
        index={
            "concept": {"type": "diagnosis", "codes": ["XX99"]},
            "period": {"start": "2015-01-01", "end": "2018-12-31"},
        }
    )
    response = run(api, api.customer, query)
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert errors and errors[0]["field"].startswith("index.concept.codes")
    assert errors[0]["valid"]
    assert counts(api.service)["releases"] == 0


def test_runs_execute_in_worker_processes_and_survive_a_dead_worker(database_url, service_registers):
    """The production executor: runs (engine, protect, release transaction) in spawned workers."""
    import os
    import signal

    from tests.service.conftest import build_api, make_settings

    # a new pool spawns its workers (imports, engine) after the kill: on a loaded machine that takes
    # longer than the default synchronous wait, and the answer would be a 202 to poll
    settings = make_settings(database_url, service_registers, run_executor="process", sync_wait_seconds=60)
    api = build_api(settings)
    try:
        first = run(api, api.customer, with_noise(cohort()))
        assert first.status_code == 201, first.text
        assert api.get("/v1/budgets", api.customer).json()["rho_spent"] > 0
        pids = list(api.service._pool._processes)
        assert pids and os.getpid() not in pids
        os.kill(pids[0], signal.SIGKILL)
        time.sleep(0.5)
        second = run(api, api.customer, cohort(title="after a worker died"))
        assert second.status_code == 201, second.text
        assert_consistent(api.service)
    finally:
        api.client.__exit__(None, None, None)
        api.service.close()


def test_finished_runs_are_answered_at_a_time_bucket(database_url, service_registers):
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(database_url, service_registers, release_time_bucket_ms=400))
    try:
        for query in (cohort(title="padded"), with_noise(cohort(title="padded noisy"))):
            started = time.monotonic()
            response = run(api, api.customer, query)
            assert response.status_code in (201, 409)
            assert time.monotonic() - started >= 0.4
    finally:
        api.client.__exit__(None, None, None)


def test_pad_to_bucket_ends_on_a_multiple_of_the_bucket():
    from statservice.api.routes.queries import pad_to_bucket

    for work in (0.01, 0.13, 0.26):
        started = time.monotonic()
        time.sleep(work)
        pad_to_bucket(started, 120)
        elapsed = time.monotonic() - started
        assert elapsed >= 0.12 and (elapsed % 0.12 < 0.03 or 0.12 - elapsed % 0.12 < 0.03), (work, elapsed)


def test_spreadsheet_exports_do_not_run_formulas_from_titles(data_api):
    api = data_api
    release = run(api, api.customer, cohort(title='=HYPERLINK("http://x")')).json()
    base = f"/v1/releases/{release['id']}/result"
    rows = list(csv.DictReader(io.StringIO(api.get(base, api.customer, params={"format": "csv"}).text)))
    assert all(row["title"].startswith("'=") for row in rows)
    sheet = load_workbook(
        io.BytesIO(api.get(base, api.customer, params={"format": "xlsx"}).content)
    ).worksheets[0]
    assert sheet["A1"].value.startswith("'=") and sheet["A1"].data_type == "s"


def test_repeated_near_identical_queries_raise_an_alert_for_review(database_url, service_registers):
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(database_url, service_registers, repeat_alert_threshold=3))
    try:
        for i in range(4):
            response = run(api, api.customer, cohort(title=f"the same question, worded {i}"))
            assert response.status_code == 201  # an alert never blocks
        run(api, api.foreign, cohort(title="another organisation"))
        alerts = api.get("/v1/audit/records", api.auditor, params={"action": "alert.repeated_query"}).json()
        assert alerts["total"] == 2  # the third and the fourth release
        assert [a["payload"]["releases_of_this_query"] for a in alerts["items"]] == [3, 4]
        assert {a["organisation_id"] for a in alerts["items"]} == {api.customer.organisation_id}
        assert api.get("/v1/audit/verify", api.auditor).json()["ok"]
    finally:
        api.client.__exit__(None, None, None)
