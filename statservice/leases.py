"""Run leases: several API processes over one database without failing each other's runs.

``create_run`` queues a run leased to the creating process (``Service.lease_owner``). While the run is
queued or running, that process's ``LeaseKeeper`` renews the lease every third of
``run_lease_seconds``. Every process reaps (fails, with nothing released or charged) only runs whose
lease has expired: their owner died or stopped renewing. Rows are taken ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so a reaper never waits for, nor touches, a run another process is working on; SQLite has
one writer (``BEGIN IMMEDIATE``) and ignores the clause.

A release is fenced: ``commit_release`` checks under the run's row lock that this process still
holds the lease of a running run (``require_lease``), so a process that lost its lease (paused past
its expiry and reaped) can never release the run afterwards, and a run is released at most once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
import uuid
from typing import TYPE_CHECKING

from sqlalchemy import func, or_, select, text, update

from statservice.core.errors import PROBLEM_BASE
from statservice.db.models import QueryRun, utcnow

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from statservice.db.session import Database

log = logging.getLogger("statservice.leases")

UNFINISHED = ("queued", "running")
RUN_SLOTS_LOCK = 0x5354_5331  # the advisory lock that admits runs across processes ("STS1")
SLOT_WAIT_SECONDS = 0.1  # how often a queued run asks again for a slot


class LeaseLost(RuntimeError):
    """This process no longer holds the run's lease (it expired and the run was reaped)."""


def new_owner() -> str:
    """An identity unique to this process's service (host and pid, for the operator reading a row)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def expiry(seconds: float, now: dt.datetime | None = None) -> dt.datetime:
    return (now or utcnow()) + dt.timedelta(seconds=seconds)


def _locked_run(session: Session, run_id: str, *, skip_locked: bool) -> QueryRun | None:
    return session.execute(
        select(QueryRun).where(QueryRun.id == run_id).with_for_update(skip_locked=skip_locked)
    ).scalar_one_or_none()


def running_now(session: Session, now: dt.datetime) -> int:
    """Runs running under a live lease, counted under a lock that serialises this check-and-start
    between processes (a PostgreSQL advisory lock for the transaction; SQLite's writer lock)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": RUN_SLOTS_LOCK})
    return session.execute(
        select(func.count())
        .select_from(QueryRun)
        .where(QueryRun.status == "running", QueryRun.lease_expires_at >= now)
    ).scalar_one()


def start(session: Session, run_id: str, owner: str, seconds: float, max_running: int) -> bool | None:
    """queued -> running if ``owner`` still holds the lease and fewer than ``max_running`` runs are
    running in all processes together; None when every slot is taken (try again shortly), False if
    the run was reaped (or is being)."""
    # waits for the row if a renewal holds it for a moment (a reaper locks only expired runs)
    run = _locked_run(session, run_id, skip_locked=False)
    if run is None or run.status != "queued" or run.lease_owner != owner:
        return False
    if running_now(session, utcnow()) >= max_running:
        return None
    run.status = "running"
    run.lease_expires_at = expiry(seconds)
    return True


def holds(session: Session, run_id: str, owner: str) -> bool:
    """Whether ``owner`` holds the lease of the unfinished run, locking its row for this transaction."""
    run = _locked_run(session, run_id, skip_locked=False)
    return run is not None and run.status in UNFINISHED and run.lease_owner == owner


def require_lease(session: Session, run_id: str, owner: str) -> None:
    """The fence of a release transaction: raise ``LeaseLost`` unless ``owner`` holds the run."""
    if not holds(session, run_id, owner):
        raise LeaseLost(f"run {run_id} is no longer leased to this process")


def renew(db: Database, owner: str, seconds: float) -> int:
    """Extend the leases of this owner's unfinished runs. Rows locked by a release transaction in
    progress are skipped (they are this process's, and a reaper skips them too), so one long release
    never delays the renewal of the runs queued behind it."""
    with db.write() as session:
        ids = (
            session.execute(
                select(QueryRun.id)
                .where(QueryRun.lease_owner == owner, QueryRun.status.in_(UNFINISHED))
                .with_for_update(skip_locked=True)
            )
            .scalars()
            .all()
        )
        if ids:
            session.execute(
                update(QueryRun).where(QueryRun.id.in_(ids)).values(lease_expires_at=expiry(seconds))
            )
        return len(ids)


def interrupted_problem(run_id: str) -> dict:
    return {
        "type": PROBLEM_BASE + "interrupted",
        "title": "Run interrupted",
        "status": 500,
        "detail": "the process running it stopped before the run finished; "
        "nothing was released or charged; submit it again",
        "instance": f"/v1/queries/runs/{run_id}",
        "errors": [],
    }


def reap_expired(
    db: Database, now: dt.datetime | None = None, batch: int = 100, sparing: str | None = None
) -> list[str]:
    """Fail unfinished runs whose lease expired before ``now``, except those of owner ``sparing``;
    returns their ids. Nothing was released for them: a release commits atomically with its run's
    status, under the lease fence."""
    now = now or utcnow()
    reaped: list[str] = []
    while True:
        with db.write() as session:
            expired = [
                QueryRun.status.in_(UNFINISHED),
                or_(QueryRun.lease_expires_at.is_(None), QueryRun.lease_expires_at < now),
            ]
            if sparing is not None:
                expired.append(or_(QueryRun.lease_owner.is_(None), QueryRun.lease_owner != sparing))
            rows = (
                session.execute(
                    select(QueryRun)
                    .where(*expired)
                    .order_by(QueryRun.created_at)
                    .limit(batch)
                    .with_for_update(skip_locked=True)
                )
                .scalars()
                .all()
            )
            for run in rows:
                log.warning("run %s: lease of %s expired; marking it failed", run.id, run.lease_owner)
                run.status = "failed"
                run.finished_at = utcnow()
                run.problem_json = json.dumps(interrupted_problem(run.id))
                reaped.append(run.id)
        if len(rows) < batch:
            return reaped


class LeaseKeeper:
    """A daemon thread in each API process: every third of the lease time it renews this process's
    leases and reaps expired ones (a run is failed at most a third of the lease time after expiry)."""

    def __init__(self, db: Database, owner: str, seconds: float) -> None:
        self.db = db
        self.owner = owner
        self.seconds = seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="statservice-leases", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                renew(self.db, self.owner, self.seconds)
                # A live process finishes its own runs itself (released, refused or failed), even when
                # a renewal failed because the database was busy; only other owners' runs are reaped.
                reap_expired(self.db, sparing=self.owner)
            except Exception as error:  # the database may be briefly away; try again next tick
                log.warning("lease renewal failed: %s", type(error).__name__)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
