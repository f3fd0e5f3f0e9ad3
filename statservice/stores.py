"""Disclosure control's store protocols over SQLAlchemy, bound to the caller's session.

``SqlStores`` reads the ledgers and noise draws (small keyed lookups) and persists a release's state
changes in the release transaction. ``HistoryStores`` adds the release history, read from the
process's in-memory mirror of those rows (``statservice.history``): it is what ``protect()`` reads.
Person sets are stored only as serialized roaring bitmaps with their size, so the differencing guard
can prune by size.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator

from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from disclosure.stores import ReleasedCount, ReleasedTableRecord, StateChanges
from statservice.db.models import (
    NoiseDraw,
    PrivacyLedgerRow,
    PrivacySpend,
    ReleasedCountRow,
    ReleasedFingerprint,
    ReleasedPersonSet,
    ReleasedTable,
)
from statservice.history import ReleaseHistory, table_record_to_json

# Keys per IN (...) lookup of stored noise draws: well below SQLite's and PostgreSQL's parameter limits.
_KEYS_PER_LOOKUP = 500


class BudgetOverdrawn(Exception):
    """A ledger would exceed its limit: re-checked under the lock at commit time."""


class SqlStores:
    """PrivacyLedger and NoiseCache over one session, and the persistence of a release's changes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    # PrivacyLedger
    def rho_spent(self, data_version: str, scope: str) -> float:
        row = self.session.get(PrivacyLedgerRow, (data_version, scope))
        return float(row.rho_spent) if row else 0.0

    # NoiseCache
    def get(self, data_version: str, key: str) -> int | None:
        return self.session.execute(
            select(NoiseDraw.value).where(NoiseDraw.data_version == data_version, NoiseDraw.key == key)
        ).scalar_one_or_none()

    def get_many(self, data_version: str, keys: Collection[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        ordered = sorted(keys)
        for start in range(0, len(ordered), _KEYS_PER_LOOKUP):
            chunk = ordered[start : start + _KEYS_PER_LOOKUP]
            rows = self.session.execute(
                select(NoiseDraw.key, NoiseDraw.value).where(
                    NoiseDraw.data_version == data_version, NoiseDraw.key.in_(chunk)
                )
            )
            found.update({key: int(value) for key, value in rows})
        return found

    # Locking and persisting (inside the release transaction)
    def lock_ledgers(self, data_version: str, scopes: list[str]) -> dict[str, PrivacyLedgerRow]:
        """Create missing ledger rows, then lock them (SELECT ... FOR UPDATE) in a fixed order."""
        locked: dict[str, PrivacyLedgerRow] = {}
        dialect = self.session.get_bind().dialect.name
        insert = postgresql_insert if dialect == "postgresql" else sqlite_insert
        for scope in sorted(set(scopes)):
            # Concurrent first spends of a scope race to create its row: insert-or-ignore, then lock.
            self.session.execute(
                insert(PrivacyLedgerRow)
                .values(data_version=data_version, scope=scope, rho_spent=0.0)
                .on_conflict_do_nothing()
            )
            row = self.session.execute(
                select(PrivacyLedgerRow)
                .where(PrivacyLedgerRow.data_version == data_version, PrivacyLedgerRow.scope == scope)
                .with_for_update()
                .execution_options(populate_existing=True)
            ).scalar_one()
            locked[scope] = row
        return locked

    def persist(
        self, data_version: str, changes: StateChanges, release_id: str, limits: dict[str, float]
    ) -> float:
        """Write one release's state changes; re-check every ledger under its row lock. Returns rho spent
        on the organisation's ledger (the largest spend of any scope)."""
        limits = {**limits, **dict(getattr(changes, "rho_limits", []) or [])}
        ledgers = self.lock_ledgers(data_version, [scope for scope, _ in changes.rho_spends])
        totals: dict[str, float] = {}
        for scope, rho in changes.rho_spends:
            totals[scope] = totals.get(scope, 0.0) + float(rho)
        for scope, rho in totals.items():
            limit = limits.get(scope)
            if limit is not None and ledgers[scope].rho_spent + rho > limit + 1e-12:
                raise BudgetOverdrawn(scope)
        for scope, rho in totals.items():
            ledgers[scope].rho_spent = ledgers[scope].rho_spent + rho
            self.session.add(
                PrivacySpend(release_id=release_id, data_version=data_version, scope=scope, rho=rho)
            )
        for scope, persons in changes.person_sets:
            bitmap = BitMap(persons)
            bitmap.run_optimize()
            self.session.add(
                ReleasedPersonSet(
                    data_version=data_version,
                    scope=scope,
                    size=len(bitmap),
                    bitmap=bitmap.serialize(),
                    release_id=release_id,
                )
            )
        for key, value in changes.noise_draws:
            if self.get(data_version, key) is None:  # first draw wins (releases are serialised)
                self.session.add(
                    NoiseDraw(data_version=data_version, key=key, value=int(value), release_id=release_id)
                )
                self.session.flush()
        for scope, count in changes.released_counts:
            # Append-only (a tighter interval for a set released before is a row of its own), so a
            # process's in-memory history catches up by row id alone (``statservice.history``).
            bitmap = BitMap(count.persons)
            bitmap.run_optimize()
            self.session.add(
                ReleasedCountRow(
                    data_version=data_version,
                    scope=scope,
                    fingerprint=count.fingerprint,
                    size=len(bitmap),
                    low=count.low,
                    high=count.high,
                    bitmap=bitmap.serialize(),
                    release_id=release_id,
                )
            )
        for scope, record in getattr(changes, "released_tables", []) or []:
            table = ReleasedTable(
                data_version=data_version,
                scope=scope,
                record_json=table_record_to_json(record),
                release_id=release_id,
            )
            self.session.add(table)
            self.session.flush()
            for fingerprint in {cell.fingerprint for cell in record.cells}:
                self.session.add(
                    ReleasedFingerprint(
                        data_version=data_version, scope=scope, fingerprint=fingerprint, table_id=table.id
                    )
                )
        self.session.flush()
        return max(totals.values(), default=0.0)


class HistoryStores(SqlStores):
    """Every store protocol ``protect()`` reads: the release history from the process's mirror, ledgers
    and noise draws from ``session``."""

    def __init__(self, history: ReleaseHistory, session: Session) -> None:
        super().__init__(session)
        self.history = history

    def sets_with_size_between(self, data_version: str, scope: str, low: int, high: int) -> Iterator[BitMap]:
        return iter(self.history.sets_with_size_between(data_version, scope, low, high))

    def released_counts(self, data_version: str, scope: str) -> list[ReleasedCount]:
        return self.history.released_counts(data_version, scope)

    def released_count_total(self, data_version: str, scope: str) -> int:
        return self.history.released_count_total(data_version, scope)

    def released_tables(
        self, data_version: str, scope: str, fingerprints: set[str]
    ) -> list[ReleasedTableRecord]:
        return self.history.released_tables(data_version, scope, fingerprints)

    def drawn_already(self, data_version: str, keys: Iterable[str]) -> bool:
        """Whether any of ``keys`` has a stored draw now (a concurrent release drew it first)."""
        return bool(self.get_many(data_version, set(keys)))
