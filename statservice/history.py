"""Disclosure control's memory of earlier releases, kept in memory per data version and process.

The rows it mirrors (released person sets, released counts, released tables) are append-only, so a
process catches up by reading only rows with a larger id than it has seen: a release reads what it
needs from memory instead of deserialising the whole history again
(``statservice.stores.HistoryStores`` serves ``protect()`` from it).

Releases are protected outside the database write lock (``statservice.pipeline.commit_release``), on
a snapshot of this memory. At commit, under the lock, the memory catches up again and
``ReleaseHistory.changes_since`` tells whether anything committed meanwhile touches the persons the
release relied on; only then is the release protected again.
"""

from __future__ import annotations

import bisect
import json
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from disclosure.stores import (
    ReleasedCellRecord,
    ReleasedCount,
    ReleasedTableRecord,
    merge_counts,
)
from statservice.db.models import (
    ReleasedCountRow,
    ReleasedPersonSet,
    ReleasedTable,
)


def table_record_to_json(record: ReleasedTableRecord) -> str:
    cells = [[c.fingerprint, c.low, c.high] for c in record.cells]
    relations = [[parent, list(children)] for parent, children in record.relations]
    return json.dumps({"cells": cells, "relations": relations}, separators=(",", ":"))


def table_record_from_json(text: str) -> ReleasedTableRecord:
    data = json.loads(text)
    return ReleasedTableRecord(
        cells=tuple(ReleasedCellRecord(fingerprint=f, low=lo, high=hi) for f, lo, hi in data["cells"]),
        relations=tuple((parent, tuple(children)) for parent, children in data["relations"]),
    )


def _row_id(row: tuple[int, object]) -> int:
    return row[0]


@dataclass(frozen=True)
class HistoryMark:
    """The last row ids a snapshot had seen, per mirrored table."""

    person_set: int = 0
    count: int = 0
    table: int = 0


@dataclass
class _VersionHistory:
    """Everything remembered for one data version."""

    mark: HistoryMark = field(default_factory=HistoryMark)
    # per scope, sorted by size (the differencing guard asks for size windows)
    sizes: dict[str, list[int]] = field(default_factory=dict)
    sets: dict[str, list[BitMap]] = field(default_factory=dict)
    # every released set in commit order, with its row id (for what changed since a mark)
    new_sets: list[tuple[int, BitMap]] = field(default_factory=list)
    counts: dict[str, dict[str, ReleasedCount]] = field(default_factory=dict)  # scope -> fingerprint
    new_counts: list[tuple[int, BitMap]] = field(default_factory=list)
    tables: dict[str, list[ReleasedTableRecord]] = field(default_factory=dict)
    tables_by_fingerprint: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    new_tables: list[tuple[int, frozenset[str]]] = field(default_factory=list)


class ReleaseHistory:
    """The process's mirror of every data version's release history (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._versions: dict[str, _VersionHistory] = {}

    def _version(self, data_version: str) -> _VersionHistory:
        return self._versions.setdefault(data_version, _VersionHistory())

    def refresh(self, session: Session, data_version: str) -> HistoryMark:
        """Read the rows committed since this process last looked; returns the new mark."""
        with self._lock:
            history = self._version(data_version)
            mark = history.mark
            set_rows = session.execute(
                select(ReleasedPersonSet.id, ReleasedPersonSet.scope, ReleasedPersonSet.bitmap)
                .where(ReleasedPersonSet.data_version == data_version, ReleasedPersonSet.id > mark.person_set)
                .order_by(ReleasedPersonSet.id)
            ).all()
            last_set = mark.person_set
            for row_id, scope, blob in set_rows:
                persons = BitMap.deserialize(blob)
                sizes = history.sizes.setdefault(scope, [])
                position = bisect.bisect_right(sizes, len(persons))
                sizes.insert(position, len(persons))
                history.sets.setdefault(scope, []).insert(position, persons)
                history.new_sets.append((row_id, persons))
                last_set = row_id
            count_rows = session.execute(
                select(
                    ReleasedCountRow.id,
                    ReleasedCountRow.scope,
                    ReleasedCountRow.fingerprint,
                    ReleasedCountRow.bitmap,
                    ReleasedCountRow.low,
                    ReleasedCountRow.high,
                )
                .where(ReleasedCountRow.data_version == data_version, ReleasedCountRow.id > mark.count)
                .order_by(ReleasedCountRow.id)
            ).all()
            last_count = mark.count
            for row_id, scope, fingerprint, blob, low, high in count_rows:
                known = history.counts.setdefault(scope, {})
                old = known.get(fingerprint)
                persons = old.persons if old is not None else BitMap.deserialize(blob)
                known[fingerprint] = merge_counts(
                    old, ReleasedCount(fingerprint, persons, int(low), int(high))
                )
                history.new_counts.append((row_id, persons))
                last_count = row_id
            table_rows = session.execute(
                select(ReleasedTable.id, ReleasedTable.scope, ReleasedTable.record_json)
                .where(ReleasedTable.data_version == data_version, ReleasedTable.id > mark.table)
                .order_by(ReleasedTable.id)
            ).all()
            last_table = mark.table
            for row_id, scope, text in table_rows:
                record = table_record_from_json(text)
                records = history.tables.setdefault(scope, [])
                index = history.tables_by_fingerprint.setdefault(scope, {})
                for fingerprint in record.fingerprints():
                    index.setdefault(fingerprint, []).append(len(records))
                records.append(record)
                history.new_tables.append((row_id, frozenset(record.fingerprints())))
                last_table = row_id
            history.mark = HistoryMark(last_set, last_count, last_table)
            return history.mark

    def changes_since(
        self, data_version: str, mark: HistoryMark, persons: BitMap, fingerprints: Iterable[str]
    ) -> bool:
        """Whether a row committed after ``mark`` touches ``persons`` or shares a fingerprint: only
        such rows can change what a release protected on the snapshot at ``mark`` may publish.

        A set disjoint from every person a release relied on cannot join its closure of linked
        counts, and cannot differ from one of its sets (k or more persons) by fewer than k persons.
        """
        with self._lock:
            history = self._version(data_version)
            for rows, last in ((history.new_sets, mark.person_set), (history.new_counts, mark.count)):
                start = bisect.bisect_right(rows, last, key=_row_id)
                if any(stored.intersect(persons) for _, stored in rows[start:]):
                    return True
            wanted = set(fingerprints)
            start = bisect.bisect_right(history.new_tables, mark.table, key=_row_id)
            return any(not stored.isdisjoint(wanted) for _, stored in history.new_tables[start:])

    # --- reads for protect() (under the lock: the lists are only appended to) ---------------------

    def sets_with_size_between(self, data_version: str, scope: str, low: int, high: int) -> list[BitMap]:
        with self._lock:
            history = self._version(data_version)
            sizes = history.sizes.get(scope, [])
            sets = history.sets.get(scope, [])
            return sets[bisect.bisect_left(sizes, low) : bisect.bisect_right(sizes, high)]

    def released_counts(self, data_version: str, scope: str) -> list[ReleasedCount]:
        with self._lock:
            return list(self._version(data_version).counts.get(scope, {}).values())

    def released_count_total(self, data_version: str, scope: str) -> int:
        with self._lock:
            return len(self._version(data_version).counts.get(scope, {}))

    def released_tables(
        self, data_version: str, scope: str, fingerprints: set[str]
    ) -> list[ReleasedTableRecord]:
        with self._lock:
            history = self._version(data_version)
            index = history.tables_by_fingerprint.get(scope, {})
            positions = sorted({p for fingerprint in fingerprints for p in index.get(fingerprint, ())})
            records = history.tables.get(scope, [])
            return [records[p] for p in positions]
