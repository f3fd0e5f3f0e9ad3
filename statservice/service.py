"""The composition root: settings, database, catalog, engine, policy, price list and the run admission.

One ``Service`` per process (the app keeps it in ``app.state.service``; the CLI builds its own).
The engine and catalog are opened lazily so the API answers catalog-free requests while the
register layout is being built.
"""

from __future__ import annotations

import datetime
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from functools import cached_property
from multiprocessing import get_context
from pathlib import Path
from typing import Any

from billing.models import utc_now
from statservice import leases
from statservice.api.ratelimit import TokenBuckets
from statservice.core.config import Settings
from statservice.core.errors import ServiceUnavailable, TooManyRequests
from statservice.db.session import Database
from statservice.history import ReleaseHistory

log = logging.getLogger("statservice")


class Admission:
    """Heavy work (query runs) one or two at a time: a bounded executor with a bounded queue."""

    def __init__(self, max_concurrent: int, max_queued: int) -> None:
        self.max_concurrent = max_concurrent
        self.max_queued = max_queued
        self._executor = ThreadPoolExecutor(max_workers=max_concurrent, thread_name_prefix="statservice-run")
        self._lock = threading.Lock()
        self._outstanding = 0

    def submit(self, fn, *args: Any) -> tuple[Future, bool]:
        """Returns the future and whether a slot was free (the caller may then wait for the result)."""
        with self._lock:
            if self._outstanding >= self.max_concurrent + self.max_queued:
                raise TooManyRequests(5, "too many query runs are waiting; retry later")
            free = self._outstanding < self.max_concurrent
            self._outstanding += 1

        def run() -> Any:
            try:
                return fn(*args)
            finally:
                with self._lock:
                    self._outstanding -= 1

        return self._executor.submit(run), free

    @property
    def outstanding(self) -> int:
        with self._lock:
            return self._outstanding

    def shutdown(self, wait: bool = True) -> None:
        self._executor.shutdown(wait=wait, cancel_futures=not wait)


@dataclass(frozen=True)
class CachedKey:
    id: str
    role: str
    organisation_id: str
    key_hash: str


class KeyCache:
    """Valid keys by hash for ``ttl`` seconds, so most requests authenticate without a query. Revoking
    through this process evicts at once; a revocation by another process applies within ``ttl``."""

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._lock = threading.Lock()
        self._entries: dict[str, tuple[float, CachedKey]] = {}

    def get(self, digest: str) -> CachedKey | None:
        if self.ttl <= 0:
            return None
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None or entry[0] < time.monotonic():
                self._entries.pop(digest, None)
                return None
            return entry[1]

    def put(self, digest: str, key: CachedKey) -> None:
        if self.ttl > 0:
            with self._lock:
                if len(self._entries) > 10_000:
                    self._entries.clear()
                self._entries[digest] = (time.monotonic() + self.ttl, key)

    def evict_key_id(self, key_id: str) -> None:
        with self._lock:
            for digest in [d for d, (_, k) in self._entries.items() if k.id == key_id]:
                del self._entries[digest]


def code_list_name(catalog_name: str) -> str:
    """The name a catalog code list has under /v1/catalog/code-lists: "ICD-10" -> "icd10"."""
    return catalog_name.lower().replace(" ", "_").replace("-", "")


class Service:
    def __init__(
        self,
        settings: Settings,
        lease_owner: str | None = None,
        clock: Callable[[], datetime.datetime] = utc_now,
    ) -> None:
        self.settings = settings
        # Billing's clock: what "today" is for issue dates, work dates and estimates (which months
        # have ended, what is in the future). Billing's own by default; tests inject a fixed one.
        self.clock = clock
        self.db = Database(settings.database_url, audit_key=settings.audit_key)
        self._checkpointer: Any = None
        # who holds the leases of the runs this process creates (a run worker acts for its parent)
        self.lease_owner = lease_owner or leases.new_owner()
        self.lease_keeper = leases.LeaseKeeper(self.db, self.lease_owner, settings.run_lease_seconds)
        # Per organisation. On PostgreSQL (possibly several API processes) the buckets are rows that
        # the key check updates in the same statement (statservice/api/deps.py), so these in-process
        # buckets only hold the rate and burst; SQLite is served by one process and keeps them here.
        self.rate_limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        # per client address, for the public statistics that need no key
        self.public_rate_limiter = TokenBuckets(
            settings.public_rate_limit_per_second, settings.public_rate_limit_burst
        )
        # On PostgreSQL every request checks its key in the database (revocation applies at once in
        # every process); SQLite's single process caches keys for auth_cache_seconds.
        self.key_cache = KeyCache(settings.auth_cache_seconds if self.db.dialect == "sqlite" else 0)
        self.admission = Admission(settings.max_concurrent_runs, settings.max_queued_runs)
        # What disclosure control remembers of earlier releases, mirrored in memory per process.
        self.history = ReleaseHistory()
        self._pool_lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        self._engine_lock = threading.Lock()
        self._engine: Any = None
        self._engine_dir: Path | None = None
        self._catalog: tuple[Path, Any] | None = None

    @cached_property
    def auth_engine(self) -> Any:
        """PostgreSQL connections for the per-request key check and bucket update: autocommitted and
        without waiting for the WAL flush (a bucket update lost in a database crash costs nothing),
        so the write every request makes stays about as cheap as the key select it replaces. No
        pre-ping (a second round trip per request): the check retries once on a closed connection."""
        from sqlalchemy import create_engine

        return create_engine(
            self.settings.database_url,
            isolation_level="AUTOCOMMIT",
            connect_args={"options": "-c synchronous_commit=off"},
            pool_pre_ping=False,
            pool_size=10,
            max_overflow=10,
        )

    @property
    def engine(self) -> Any:
        # The data directory may be a link to the active data version (``statservice versions``):
        # the engine is opened on the link's target and opened again when the link has moved, so a
        # switch takes effect at the next request, while a run already holding the old engine
        # finishes on it (it is not closed here; it closes when the last run lets go of it).
        active = self.settings.data_dir.resolve()
        with self._engine_lock:
            if self._engine is None or self._engine_dir != active:
                from queries.engines import open_engine
                from synthetic_registers.catalog import CATALOG_FILE

                # an extract without its catalog is unfinished (the engine would refuse it anyway)
                if not (active / CATALOG_FILE).is_file():
                    raise ServiceUnavailable("no register extract is loaded; try again later")
                self._engine = open_engine(
                    self.settings.engine, active, spark_master=self.settings.spark_master
                )
                self._engine_dir = active
            return self._engine

    @property
    def data_version(self) -> str:
        return self.engine.data_version

    @property
    def loaded_data_version(self) -> str | None:
        """The data version if the engine is open, else None, without waiting: for the event loop
        (health), which must never block on the engine lock while another thread opens the extract."""
        engine = self._engine
        return engine.data_version if engine is not None else None

    @property
    def catalog(self) -> Any:
        """The active data version's catalog (loaded once per version)."""
        from synthetic_registers.catalog import Catalog

        active = self.settings.data_dir.resolve()
        cached = self._catalog
        if cached is None or cached[0] != active:
            cached = self._catalog = (active, Catalog.load(active))
        return cached[1]

    @property
    def query_catalog(self) -> Any:
        """What ``queries.validation`` checks codes against (the active engine's view of the catalog)."""
        return self.engine.catalog

    @cached_property
    def policy(self) -> Any:
        from statservice.rules import service_policy

        # a register whose owner requires a larger minimum cell count than the default gets it here
        return service_policy()

    @cached_property
    def price_list(self) -> Any:
        from billing.pricing import PriceList

        return PriceList.load()

    @cached_property
    def _code_lists(self) -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
        lists: dict[str, tuple[str | None, list[tuple[str, str]]]] = {}
        self._code_list_objects: dict[str, Any] = {}
        source: Any = None
        try:
            source = getattr(self.catalog, "code_lists", None)
        except (FileNotFoundError, OSError, ValueError, KeyError):
            source = None
        if not source:
            # The code lists the generator samples from and the catalog publishes (package data).
            from synthetic_registers import codes

            source = {"icd10": codes.icd10_list(), "atc": codes.atc_list()}
        if isinstance(source, dict):
            items = list(source.items())
        else:
            items = [(getattr(c, "name", None), c) for c in source]
        for name, code_list in items:
            entries = getattr(code_list, "codes", code_list)
            values = entries.values() if isinstance(entries, dict) else (entries or ())
            pairs = sorted((str(getattr(v, "code", v)), str(getattr(v, "name", ""))) for v in values)
            system = getattr(code_list, "system", None)
            key = code_list_name(str(name or system or "codes"))
            lists[key] = (getattr(code_list, "description", None) or system, pairs)
            self._code_list_objects[key] = code_list
        return lists

    def code_list(self, list_name: str) -> Any:
        """The searchable code list (``synthetic_registers.codes.CodeList``) behind a list name."""
        self.code_lists()
        return self._code_list_objects.get(list_name)

    def code_lists(self) -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
        """Code list name -> (description, [(code, name)]); codes and names only, never counts."""
        return self._code_lists

    def noise_secret_for(self, data_version: str) -> bytes:
        """A per-data-version secret derived from the master noise secret (never logged)."""
        import hashlib
        import hmac

        master = self.settings.noise_secret.get_secret_value().encode()
        return hmac.new(master, b"noise:" + data_version.encode(), hashlib.sha256).digest()

    # --- query runs ---------------------------------------------------------------------------

    def submit_run(self, run_id: str, requester: Any, prepared: Any) -> tuple[Future, bool]:
        """Admit a run. With ``run_executor=process`` the engine, disclosure control and the release
        transaction run in a worker process, so heavy runs never hold this process's GIL while it
        answers cheap requests; the admission slots (threads here) wait for the worker's answer."""
        if self.settings.run_executor == "process":
            return self.admission.submit(self._run_in_worker, run_id, requester, prepared)
        from statservice.pipeline import execute_run

        return self.admission.submit(execute_run, self, run_id, requester, prepared)

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._pool_lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    max_workers=self.settings.max_concurrent_runs,
                    mp_context=get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self.settings, self.lease_owner),
                )
            return self._pool

    def warm_up(self) -> None:
        """Load the catalog, policy and price list, this process's mirror of the release history,
        and start the run workers (opening the engine in them), before the first request arrives
        instead of inside it (after a year of releases the history takes seconds to read)."""
        if not self.settings.data_dir.is_dir():
            return
        try:
            self.query_catalog  # noqa: B018
            self.policy  # noqa: B018
            self.price_list  # noqa: B018
            self.code_lists()
            with self.db.session() as session:
                self.history.refresh(session, self.data_version)
        except Exception as error:  # the first request will report it properly
            log.warning("warm-up failed: %s", type(error).__name__)
        if self.settings.run_executor == "process":
            pool = self._process_pool()
            for _ in range(self.settings.max_concurrent_runs):
                pool.submit(_worker_warm)

    def _reset_pool(self, pool: ProcessPoolExecutor) -> None:
        with self._pool_lock:
            if self._pool is pool:
                self._pool = None
        pool.shutdown(wait=False, cancel_futures=True)

    def _run_in_worker(self, run_id: str, requester: Any, prepared: Any) -> str:
        for _attempt in range(2):
            pool = self._process_pool()
            try:
                future = pool.submit(_worker_execute, run_id, requester, prepared)
            except BrokenProcessPool:  # a worker died while idle: renew the pool and submit again
                self._reset_pool(pool)
                continue
            try:
                return future.result()
            except BrokenProcessPool:
                # The worker died mid-run (its transaction rolled back): the run failed; renew the pool.
                self._reset_pool(pool)
                break
        from statservice.pipeline import fail_run

        fail_run(self, run_id, requester, prepared)
        return "failed"

    # --- audit checkpoints --------------------------------------------------------------------

    def start_audit_checkpoints(self) -> None:
        """Checkpoint the audit chain head now and on the timer (the server process only: run workers
        and CLI commands build a Service too, and must not each start a timer)."""
        from statservice.audit import Checkpointer

        if self._checkpointer is None:
            self._checkpointer = Checkpointer(
                self.db, self.settings.audit_checkpoint_dir, self.settings.audit_checkpoint_seconds
            )
            self._checkpointer.start()

    def wait_for_first_audit_checkpoint(self, timeout: float) -> bool:
        return self._checkpointer is not None and self._checkpointer.first_done.wait(timeout)

    def stop_audit_checkpoints(self) -> None:
        if self._checkpointer is not None:
            self._checkpointer.stop()  # a last checkpoint of what this process appended
            self._checkpointer = None

    def start_leases(self) -> None:
        """Renew this process's run leases and reap expired ones in the background (serving only)."""
        self.lease_keeper.start()

    def close(self) -> None:
        self.stop_audit_checkpoints()
        self.lease_keeper.stop()
        self.admission.shutdown(wait=False)
        with self._pool_lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)  # a run in progress finishes (or rolls back)
        if self._engine is not None:
            self._engine.close()
        if "auth_engine" in self.__dict__:
            self.auth_engine.dispose()
        self.db.dispose()


# --- run worker processes -----------------------------------------------------------------------

_WORKER: Service | None = None


# Run workers yield the CPU to the API processes: on a small machine a run (DuckDB, disclosure
# control) otherwise takes the cores that cheap requests need, and their latency follows the runs'.
RUN_WORKER_NICENESS = 10


def _init_worker(settings: Settings, lease_owner: str) -> None:
    global _WORKER
    os.nice(RUN_WORKER_NICENESS)  # inherited by the audit's child processes too
    logging.basicConfig(level=logging.WARNING)
    _WORKER = Service(settings, lease_owner=lease_owner)


def _worker_warm() -> str:
    assert _WORKER is not None
    _WORKER.engine.prepare()
    return _WORKER.data_version


def _worker_execute(run_id: str, requester: Any, prepared: Any) -> str:
    from statservice.pipeline import execute_run

    assert _WORKER is not None
    return execute_run(_WORKER, run_id, requester, prepared)
