"""The composition root: settings, database, catalog, engine, policy, price list and the run admission.

One ``Service`` per process (the app keeps it in ``app.state.service``; the CLI builds its own).
The engine and catalog are opened lazily so the API answers catalog-free requests while the
register layout is being built.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from functools import cached_property
from typing import Any

from statservice.api.ratelimit import TokenBuckets
from statservice.core.config import Settings
from statservice.core.errors import ServiceUnavailable, TooManyRequests
from statservice.db.session import Database

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


class Service:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.rate_limiter = TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
        self.admission = Admission(settings.max_concurrent_runs, settings.max_queued_runs)
        self._engine_lock = threading.Lock()
        self._engine: Any = None

    @property
    def engine(self) -> Any:
        with self._engine_lock:
            if self._engine is None:
                from queries.engine import DuckDBEngine

                if not self.settings.data_dir.is_dir():
                    raise ServiceUnavailable("no register extract is loaded; try again later")
                self._engine = DuckDBEngine(self.settings.data_dir)
            return self._engine

    @property
    def data_version(self) -> str:
        return self.engine.data_version

    @cached_property
    def catalog(self) -> Any:
        from synthetic_registers.catalog import Catalog

        return Catalog.load(self.settings.data_dir)

    @cached_property
    def query_catalog(self) -> Any:
        """What ``queries.validation`` checks codes against (the engine's view of the catalog)."""
        return self.engine.catalog

    @cached_property
    def policy(self) -> Any:
        from disclosure.policy import Policy

        return Policy.default()

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
            values = entries.values() if isinstance(entries, dict) else entries
            pairs = sorted((str(getattr(v, "code", v)), str(getattr(v, "name", ""))) for v in values)
            system = getattr(code_list, "system", None)
            key = str(name or system or "codes").lower().replace(" ", "_").replace("-", "")
            lists[key] = (getattr(code_list, "description", None) or system, pairs)
            self._code_list_objects[key] = code_list
        return lists

    def normalise_code(self, list_name: str, text: str) -> str:
        """A search text in the list's own code form (``E11`` -> ``DE11`` for LPR ICD-10)."""
        self.code_lists()
        code_list = self._code_list_objects.get(list_name)
        normalise = getattr(code_list, "normalise", None)
        return normalise(text) if normalise else text.strip().upper()

    def code_lists(self) -> dict[str, tuple[str | None, list[tuple[str, str]]]]:
        """Code list name -> (description, [(code, name)]); codes and names only, never counts."""
        return self._code_lists

    def noise_secret_for(self, data_version: str) -> bytes:
        """A per-data-version secret derived from the master noise secret (never logged)."""
        import hashlib
        import hmac

        master = self.settings.noise_secret.get_secret_value().encode()
        return hmac.new(master, b"noise:" + data_version.encode(), hashlib.sha256).digest()

    def close(self) -> None:
        self.admission.shutdown(wait=False)
        if self._engine is not None:
            self._engine.close()
        self.db.dispose()
