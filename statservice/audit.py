"""The audit log: append-only and hash-chained.

Each record holds its sequence number, timestamp, actor, organisation, action, canonical query
hash, a JSON payload (for releases: the auditor view of the disclosure report), the previous
record's hash and its own hash = SHA-256 over the canonical JSON of all of that. Appending locks
the chain head (``SELECT ... FOR UPDATE`` on PostgreSQL; on SQLite the write transaction already
holds the database lock), so sequence numbers are contiguous and the chain is linear.
``verify`` detects any edited, deleted or reordered record.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from statservice.db.models import AuditHead, AuditRecord

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def record_hash(
    *,
    sequence: int,
    timestamp: str,
    actor: str,
    organisation_id: str | None,
    action: str,
    query_hash: str | None,
    payload: Any,
    prev_hash: str,
) -> str:
    return sha256_hex(
        canonical_json(
            {
                "sequence": sequence,
                "timestamp": timestamp,
                "actor": actor,
                "organisation_id": organisation_id,
                "action": action,
                "query_hash": query_hash,
                "payload": payload,
                "prev_hash": prev_hash,
            }
        )
    )


def lock_head(session: Session) -> AuditHead:
    head = session.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one_or_none()
    if head is None:  # a database created without the seed row
        head = AuditHead(id=1, last_sequence=0, last_hash=GENESIS_HASH)
        session.add(head)
        session.flush()
    return head


def append(
    session: Session,
    *,
    actor: str,
    organisation_id: str | None,
    action: str,
    query_hash: str | None,
    payload: dict[str, Any],
) -> AuditRecord:
    """Append one record inside the caller's transaction (committed or rolled back with it)."""
    head = lock_head(session)
    sequence = head.last_sequence + 1
    timestamp = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    payload = json.loads(canonical_json(payload))  # exactly what will be stored
    own = record_hash(
        sequence=sequence,
        timestamp=timestamp,
        actor=actor,
        organisation_id=organisation_id,
        action=action,
        query_hash=query_hash,
        payload=payload,
        prev_hash=head.last_hash,
    )
    record = AuditRecord(
        sequence=sequence,
        timestamp=timestamp,
        actor=actor,
        organisation_id=organisation_id,
        action=action,
        query_hash=query_hash,
        payload_json=canonical_json(payload),
        prev_hash=head.last_hash,
        hash=own,
    )
    session.add(record)
    head.last_sequence = sequence
    head.last_hash = own
    session.flush()
    return record


def record_dict(record: AuditRecord) -> dict[str, Any]:
    return {
        "sequence": record.sequence,
        "timestamp": record.timestamp,
        "actor": record.actor,
        "organisation_id": record.organisation_id,
        "action": record.action,
        "query_hash": record.query_hash,
        "payload": json.loads(record.payload_json),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


@dataclass
class Verification:
    ok: bool
    records: int
    last_sequence: int
    last_hash: str
    problems: list[dict[str, Any]] = field(default_factory=list)


def iter_records(session: Session, batch: int = 1000) -> Iterator[AuditRecord]:
    last = 0
    while True:
        rows = (
            session.execute(
                select(AuditRecord)
                .where(AuditRecord.sequence > last)
                .order_by(AuditRecord.sequence)
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            return
        yield from rows
        last = rows[-1].sequence


def verify(session: Session) -> Verification:
    problems: list[dict[str, Any]] = []
    expected_sequence = 1
    prev_hash = GENESIS_HASH
    count = 0
    for record in iter_records(session):
        count += 1
        if record.sequence != expected_sequence:
            problems.append(
                {
                    "sequence": record.sequence,
                    "problem": f"expected sequence {expected_sequence}: records are missing or reordered",
                }
            )
        if record.prev_hash != prev_hash:
            problems.append(
                {"sequence": record.sequence, "problem": "previous hash does not match the preceding record"}
            )
        try:
            payload = json.loads(record.payload_json)
        except ValueError:
            payload = record.payload_json
        recomputed = record_hash(
            sequence=record.sequence,
            timestamp=record.timestamp,
            actor=record.actor,
            organisation_id=record.organisation_id,
            action=record.action,
            query_hash=record.query_hash,
            payload=payload,
            prev_hash=record.prev_hash,
        )
        if recomputed != record.hash:
            problems.append(
                {"sequence": record.sequence, "problem": "content does not match its hash (edited)"}
            )
        prev_hash = record.hash
        expected_sequence = record.sequence + 1
    head = session.get(AuditHead, 1)
    head_sequence = head.last_sequence if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_sequence != expected_sequence - 1 or head_hash != prev_hash:
        problems.append(
            {
                "sequence": head_sequence,
                "problem": "the chain head does not match the last record (records deleted at the end)",
            }
        )
    return Verification(
        ok=not problems,
        records=count,
        last_sequence=expected_sequence - 1,
        last_hash=prev_hash,
        problems=problems,
    )
