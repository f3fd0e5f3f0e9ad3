"""What disclosure control needs to remember between releases, as protocols.

Disclosure control is pure: it reads earlier state through these protocols and returns the
state changes a release implies (``StateChanges``) instead of writing them. The caller (the
service) persists those changes in the same database transaction as the release, its audit
record and its invoice line, re-checking budgets under a lock, so a release and its budget
spend, fingerprints and noise draws exist together or not at all.

``InMemoryStores`` implements every protocol for tests and for the library used on its own.
The service implements them over SQLAlchemy.

Scopes: ``"global"`` or ``"org:<organisation id>"``; every store is also keyed by the data version,
because ledgers, fingerprints and noise secrets never carry over to a new data version.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Protocol

from pyroaring import BitMap

from disclosure.errors import (
    BUDGET_EXCEEDED_MESSAGE,
    CONCURRENT_DIFFERENCE_MESSAGE,
    BudgetExceeded,
    ReleaseRefused,
)

GLOBAL_SCOPE = "global"


def organisation_scope(organisation_id: str) -> str:
    return f"org:{organisation_id}"


def degraded_scope(scope: str) -> str:
    """The ledger of the degraded noise (exact questions answered with noise) beside ``scope``'s."""
    return f"{scope}:degraded"


class ReleasedPersonSets(Protocol):
    """Person sets of every cell released so far (never released themselves)."""

    def sets_with_size_between(
        self, data_version: str, scope: str, low: int, high: int
    ) -> Iterable[BitMap]: ...


class PrivacyLedger(Protocol):
    """Privacy loss (zCDP rho) spent so far per scope."""

    def rho_spent(self, data_version: str, scope: str) -> float: ...


@dataclass(frozen=True)
class ReleasedCellRecord:
    """What a customer saw of one cell: its person-set fingerprint and the values it can be in.

    ``low == high`` for an exact value, ``low < high`` for a rounded one, both ``None`` when
    suppressed. Fingerprints are HMACs of the person set (never keys), so the same set of persons
    released again under another wording is recognised as the same unknown in the audit.
    """

    fingerprint: str
    low: int | None
    high: int | None


@dataclass(frozen=True)
class ReleasedTableRecord:
    """The published values and linear relations (parent = sum of children) of one released table."""

    cells: tuple[ReleasedCellRecord, ...]
    relations: tuple[tuple[str, tuple[str, ...]], ...]

    def fingerprints(self) -> set[str]:
        return {cell.fingerprint for cell in self.cells}


class ReleasedTables(Protocol):
    """Earlier released tables, so the attacker audit can combine them with a new release."""

    def released_tables(
        self, data_version: str, scope: str, fingerprints: set[str]
    ) -> Iterable[ReleasedTableRecord]:
        """Every stored table of the scope sharing at least one fingerprint with ``fingerprints``."""
        ...


@dataclass(frozen=True, eq=False)
class ReleasedCount:
    """An exact (not noised) released count: its person set and the sizes the customer can infer.

    ``low == high`` for an exact value, a rounding interval otherwise. The Venn-atom audit combines
    every such count on the data version, whatever the tables they appeared in.
    """

    fingerprint: str
    persons: BitMap
    low: int
    high: int


class ReleasedCounts(Protocol):
    """Every exact released count of a scope, for the Venn-atom audit."""

    def released_counts(self, data_version: str, scope: str) -> Iterable[ReleasedCount]: ...

    def released_count_total(self, data_version: str, scope: str) -> int:
        """How many distinct exact counts the scope holds (without copying them)."""
        ...


class NoiseCache(Protocol):
    """Noise drawn once per keyed cell and reused for every later identical cell."""

    def get(self, data_version: str, key: str) -> int | None: ...

    def get_many(self, data_version: str, keys: Collection[str]) -> dict[str, int]:
        """The stored draws of ``keys`` (absent keys left out), in one lookup."""
        ...


@dataclass
class StateChanges:
    """What one release adds to the stores; persisted atomically with the release by the caller."""

    person_sets: list[tuple[str, BitMap]] = field(default_factory=list)  # (scope, set)
    rho_spends: list[tuple[str, float]] = field(default_factory=list)  # (scope, rho)
    noise_draws: list[tuple[str, int]] = field(default_factory=list)  # (key, value)
    released_tables: list[tuple[str, ReleasedTableRecord]] = field(default_factory=list)  # (scope, record)
    released_counts: list[tuple[str, ReleasedCount]] = field(default_factory=list)  # (scope, count)
    # Budget of each scope charged in ``rho_spends``: the caller re-checks spent + rho <= limit under
    # its lock when it persists, so concurrent releases can never overdraw a ledger together.
    rho_limits: list[tuple[str, float]] = field(default_factory=list)  # (scope, limit)
    # Threshold k of the release: the caller re-runs the differencing guard for ``person_sets``
    # against what was stored meanwhile (concurrent releases never saw each other's sets).
    differencing_threshold: int | None = None

    def is_empty(self) -> bool:
        return not (
            self.person_sets
            or self.rho_spends
            or self.noise_draws
            or self.released_tables
            or self.released_counts
        )


class InMemoryStores:
    """All three stores in memory, thread-safe; ``apply`` is the in-memory transaction."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._sets: dict[tuple[str, str], tuple[list[int], list[BitMap]]] = {}
        self._rho: dict[tuple[str, str], float] = {}
        self._noise: dict[tuple[str, str], int] = {}
        self._tables: dict[tuple[str, str], list[ReleasedTableRecord]] = {}
        self._counts: dict[tuple[str, str], dict[str, ReleasedCount]] = {}

    def sets_with_size_between(self, data_version: str, scope: str, low: int, high: int) -> list[BitMap]:
        with self._lock:
            sizes, sets = self._sets.get((data_version, scope), ([], []))
            return sets[bisect.bisect_left(sizes, low) : bisect.bisect_right(sizes, high)]

    def rho_spent(self, data_version: str, scope: str) -> float:
        with self._lock:
            return self._rho.get((data_version, scope), 0.0)

    def get(self, data_version: str, key: str) -> int | None:
        with self._lock:
            return self._noise.get((data_version, key))

    def get_many(self, data_version: str, keys: Collection[str]) -> dict[str, int]:
        with self._lock:
            found = ((key, self._noise.get((data_version, key))) for key in keys)
            return {key: value for key, value in found if value is not None}

    def released_tables(
        self, data_version: str, scope: str, fingerprints: set[str]
    ) -> list[ReleasedTableRecord]:
        with self._lock:
            return [
                record
                for record in self._tables.get((data_version, scope), [])
                if not record.fingerprints().isdisjoint(fingerprints)
            ]

    def released_counts(self, data_version: str, scope: str) -> list[ReleasedCount]:
        with self._lock:
            return list(self._counts.get((data_version, scope), {}).values())

    def released_count_total(self, data_version: str, scope: str) -> int:
        with self._lock:
            return len(self._counts.get((data_version, scope), {}))

    def _recheck_differencing(self, data_version: str, changes: StateChanges) -> None:
        reach = changes.differencing_threshold - 1 if changes.differencing_threshold else 0
        for scope, persons in changes.person_sets:
            size = len(persons)
            for stored in self.sets_with_size_between(data_version, scope, size - reach, size + reach):
                if 1 <= persons.symmetric_difference_cardinality(stored) <= reach:
                    raise ReleaseRefused(CONCURRENT_DIFFERENCE_MESSAGE)

    def apply(self, data_version: str, changes: StateChanges) -> None:
        """Persist one release atomically; refuses (changing nothing) if a ledger would be overdrawn
        or a released set now differs by 1..k-1 persons from one stored by a concurrent release."""
        with self._lock:
            limits = dict(changes.rho_limits)
            for scope, rho in changes.rho_spends:
                spent = self._rho.get((data_version, scope), 0.0)
                if scope in limits and spent + rho > limits[scope] + 1e-12:
                    raise BudgetExceeded(BUDGET_EXCEEDED_MESSAGE)
            if changes.differencing_threshold is not None:
                self._recheck_differencing(data_version, changes)
            for key, value in changes.noise_draws:
                # A concurrent release drew for the same cell first: this release answered with
                # another draw, and two answers for one person set would be averaged. Retry instead.
                if self._noise.get((data_version, key), value) != value:
                    raise ReleaseRefused(CONCURRENT_DIFFERENCE_MESSAGE)
            for scope, persons in changes.person_sets:
                # Kept sorted by size: the guard asks for sets within a size window.
                sizes, sets = self._sets.setdefault((data_version, scope), ([], []))
                position = bisect.bisect_right(sizes, len(persons))
                sizes.insert(position, len(persons))
                sets.insert(position, BitMap(persons))
            for scope, rho in changes.rho_spends:
                self._rho[(data_version, scope)] = self._rho.get((data_version, scope), 0.0) + rho
            for key, value in changes.noise_draws:
                self._noise.setdefault((data_version, key), value)
            for scope, record in changes.released_tables:
                self._tables.setdefault((data_version, scope), []).append(record)
            for scope, count in changes.released_counts:
                known = self._counts.setdefault((data_version, scope), {})
                known[count.fingerprint] = merge_counts(known.get(count.fingerprint), count)


def merge_counts(old: ReleasedCount | None, new: ReleasedCount) -> ReleasedCount:
    """One set released twice: the customer knows the intersection of both intervals."""
    if old is None:
        return new
    return ReleasedCount(new.fingerprint, new.persons, max(old.low, new.low), min(old.high, new.high))
