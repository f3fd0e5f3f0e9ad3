"""Finding S1: customer-visible completion times reveal a run's duration only at bucket granularity
(else they would undo the padding of the HTTP answer); the audit log keeps exact times."""

from __future__ import annotations

import datetime as dt

from statservice.api.routes.releases import visible_finish
from statservice.db.models import QueryRun
from tests.service.helpers import cohort

BUCKET_MS = 1500  # above the 1 s floor, so the bucket itself sets the granularity
QUANTUM = dt.timedelta(milliseconds=BUCKET_MS)


def at(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def on_bucket(start: dt.datetime, end: dt.datetime) -> bool:
    elapsed = end - start
    return elapsed > dt.timedelta(0) and elapsed % QUANTUM == dt.timedelta(0)


def test_visible_finish_rounds_the_duration_up_to_the_quantum():
    start = dt.datetime(2026, 1, 1, 12, 0, 0, 123_456, tzinfo=dt.UTC)
    ms = dt.timedelta(milliseconds=1)
    assert visible_finish(start, None, 250) is None
    assert visible_finish(start, start, 250) == start
    # the quantum is never below one second
    assert visible_finish(start, start + 7 * ms, 250) == start + 1000 * ms
    assert visible_finish(start, start + 1001 * ms, 0) == start + 2000 * ms
    assert visible_finish(start, start + 1500 * ms, 1500) == start + 1500 * ms
    assert visible_finish(start, start + 1501 * ms, 1500) == start + 3000 * ms


def test_customer_sees_finish_times_only_at_bucket_granularity(database_url, service_registers):
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(database_url, service_registers, release_time_bucket_ms=BUCKET_MS))
    try:
        response = api.post("/v1/queries/runs", api.customer, json=cohort(title="timed"))
        assert response.status_code == 201, response.text
        release = response.json()
        with api.service.db.session() as session:
            exact = session.get(QueryRun, release["run_id"])
            created, finished = exact.created_at, exact.finished_at
        assert not on_bucket(created, finished)  # the true duration is finer than the bucket

        run = api.get(f"/v1/queries/runs/{release['run_id']}", api.customer).json()
        assert at(run["created_at"]) == created
        visible = at(run["finished_at"])
        assert on_bucket(created, visible)
        assert finished <= visible < finished + QUANTUM  # rounded up, by less than one bucket

        # a release is created at the end of its run: its time is bucketed the same way
        assert on_bucket(created, at(release["created_at"]))
        one = api.get(f"/v1/releases/{release['id']}", api.customer).json()
        assert on_bucket(created, at(one["created_at"]))
        [listed] = api.get("/v1/releases", api.customer).json()["items"]
        assert on_bucket(created, at(listed["created_at"]))

        [item] = api.get("/v1/history", api.customer, params={"kind": "query_run"}).json()["items"]
        assert at(item["finished_at"]) == visible

        # auditors keep the exact time of the release, to the microsecond
        [record] = api.get("/v1/audit/records", api.auditor, params={"action": "release"}).json()["items"]
        stamp = at(record["timestamp"])
        assert created < stamp <= finished
        assert not on_bucket(created, stamp)
    finally:
        api.client.__exit__(None, None, None)
        api.service.close()


def test_the_invoice_line_and_the_used_quote_are_dated_when_the_question_was_asked(
    database_url, service_registers
):
    """Their timestamps are customer-visible too: dated at the end of the run they would time
    disclosure control to the microsecond."""
    from billing.models import InvoiceLine
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(database_url, service_registers, release_time_bucket_ms=BUCKET_MS))
    try:
        quote = api.post("/v1/quotes", api.customer, json=cohort(title="quoted")).json()
        ran = api.post(
            "/v1/queries/runs", api.customer, json=cohort(title="quoted"), params={"quote_id": quote["id"]}
        )
        assert ran.status_code == 201, ran.text
        with api.service.db.session() as session:
            run = session.get(QueryRun, ran.json()["run_id"])
            line = session.query(InvoiceLine).filter_by(release_id=ran.json()["id"]).one()
            assert run.finished_at > run.created_at
            assert line.created_at == run.created_at
        used = api.get(f"/v1/quotes/{quote['id']}", api.customer).json()
        assert at(used["used_at"]) == run.created_at
    finally:
        api.client.__exit__(None, None, None)
        api.service.close()
