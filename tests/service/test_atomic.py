"""Atomic release: the protected result, its audit record, the budget spend, the released person sets,
the noise draws and the invoice line commit in one transaction. A failure at any step (injected by
making one of our own functions raise) or a SIGKILL mid-transaction leaves nothing released and
nothing charged."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from statservice import pipeline
from statservice.db.models import AuditRecord, QueryRun, utcnow
from statservice.stores import SqlStores
from tests.service.helpers import assert_consistent, cohort, counts, with_noise

EMPTY = {
    "releases": 0,
    "invoice_lines": 0,
    "person_sets": 0,
    "spends": 0,
    "noise": 0,
    "released_tables": 0,
    "fingerprints": 0,
    "release_audits": 0,
    "rho": 0,
}


class Injected(RuntimeError):
    pass


def fail_engine(monkeypatch, api):
    def boom(query):
        raise Injected("engine")

    monkeypatch.setattr(api.service.engine, "run", boom)


def fail_protect(monkeypatch, api):
    def boom(*args, **kwargs):
        raise Injected("protect")

    monkeypatch.setattr(pipeline, "protect", boom)


def fail_persist(monkeypatch, api):
    real = SqlStores.persist

    def boom(self, *args, **kwargs):
        real(self, *args, **kwargs)  # written (flushed) ... then the step fails
        raise Injected("persist")

    monkeypatch.setattr(SqlStores, "persist", boom)


def fail_invoice(monkeypatch, api):
    real = pipeline.charge_release

    def boom(*args, **kwargs):
        real(*args, **kwargs)
        raise Injected("invoice")

    monkeypatch.setattr(pipeline, "charge_release", boom)


def fail_audit(monkeypatch, api):
    real = pipeline.audit.append

    def boom(session, **kwargs):
        record = real(session, **kwargs)
        if kwargs["action"] == "release":
            raise Injected("audit")
        return record

    monkeypatch.setattr(pipeline.audit, "append", boom)


def fail_run_status(monkeypatch, api):
    """The very last write of the transaction (the run's status) fails."""
    real = pipeline.utcnow
    calls = {"n": 0}

    def boom():
        calls["n"] += 1
        # create_run, the release row, then run.finished_at inside the transaction
        if calls["n"] == 3:
            raise Injected("run status")
        return real()

    monkeypatch.setattr(pipeline, "utcnow", boom)


@pytest.mark.parametrize(
    "inject", [fail_engine, fail_protect, fail_persist, fail_invoice, fail_audit, fail_run_status]
)
def test_a_failure_at_any_step_releases_and_charges_nothing(data_api, monkeypatch, inject):
    api = data_api
    api.service.engine  # open the engine before patching it  # noqa: B018
    with monkeypatch.context() as patch:
        inject(patch, api)
        response = api.post("/v1/queries/runs", api.customer, json=with_noise(cohort()))
    assert response.status_code == 500, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "Injected" not in response.text
    assert counts(api.service) == EMPTY
    with api.service.db.session() as session:
        run = session.execute(select(QueryRun)).scalar_one()
        assert run.status == "failed" and run.release_id is None
        actions = session.execute(select(AuditRecord.action)).scalars().all()
    assert "release.failed" in actions and "release" not in actions
    assert api.get("/v1/budgets", api.customer).json()["rho_spent"] == 0
    assert_consistent(api.service)
    # and the service is not wedged: the same request now releases
    ok = api.post("/v1/queries/runs", api.customer, json=with_noise(cohort()))
    assert ok.status_code == 201, ok.text
    after = counts(api.service)
    assert after["releases"] == after["invoice_lines"] == after["release_audits"] == 1
    assert after["rho"] > 0
    assert_consistent(api.service)


KILLED_RELEASE = r"""
import json, sys, time
from pathlib import Path
from statservice import pipeline
from statservice.core.config import Settings
from statservice.service import Service

args = json.loads(sys.argv[1])
real = pipeline.charge_release

def charge_then_hang(*a, **k):
    line = real(*a, **k)
    Path(args["marker"]).write_text("inside the release transaction")
    time.sleep(300)
    return line

pipeline.charge_release = charge_then_hang
service = Service(Settings(database_url=args["url"], data_dir=args["data_dir"],
                           secret_key="x" * 32, noise_secret="y" * 32))
prepared = pipeline.prepare(service, args["query"], "public_research")
requester = pipeline.Requester(key_id=args["key_id"], role="customer", key_organisation_id=args["org"],
                               organisation_id=args["org"], actor="subprocess")
run_id = pipeline.create_run(service, requester, prepared)
pipeline.execute_run(service, run_id, requester, prepared)
"""


def test_sigkill_mid_release_leaves_nothing(data_api, tmp_path):
    api = data_api
    marker = tmp_path / "marker"
    args = {
        "url": api.service.settings.database_url,
        "data_dir": str(api.service.settings.data_dir),
        "marker": str(marker),
        "query": with_noise(cohort()),
        "key_id": api.customer.key_id,
        "org": api.customer.organisation_id,
    }
    root = Path(__file__).resolve().parents[2]
    process = subprocess.Popen(
        [sys.executable, "-c", KILLED_RELEASE, json.dumps(args)],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert process.poll() is None, process.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the subprocess never reached the invoice step"
            time.sleep(0.05)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL
    assert counts(api.service) == EMPTY
    with api.service.db.session() as session:
        run = session.execute(select(QueryRun)).scalar_one()
        assert run.status == "running"  # committed before the release transaction began
    # the dead process's lease has not expired yet: a restart leaves the run alone, and fails it
    # (nothing charged) once the lease has expired
    assert pipeline.mark_interrupted_runs(api.service) == 0
    lease = api.service.settings.run_lease_seconds
    assert pipeline.mark_interrupted_runs(api.service, utcnow() + dt.timedelta(seconds=lease + 1)) == 1
    with api.service.db.session() as session:
        assert session.execute(select(QueryRun.status)).scalar_one() == "failed"
    assert_consistent(api.service)
    ok = api.post("/v1/queries/runs", api.customer, json=with_noise(cohort()))
    assert ok.status_code == 201, ok.text
    assert counts(api.service)["releases"] == 1
    assert_consistent(api.service)
