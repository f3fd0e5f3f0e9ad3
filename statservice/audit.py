"""The audit log: append-only, HMAC-chained under a key the database does not hold, checkpointed outside it.

Each record holds its sequence number, timestamp, actor, organisation, action, canonical query
hash, a JSON payload (for releases: the auditor view of the disclosure report), the previous
record's hash and its own hash = HMAC-SHA-256 under the audit key (``STATSERVICE_AUDIT_KEY``) over the
canonical JSON of all of that. Whoever can write the database but does not know the key cannot
rehash an edited record. Appending locks the chain head (``SELECT ... FOR UPDATE`` on PostgreSQL; on
SQLite the write transaction already holds the database lock), so sequence numbers are contiguous
and the chain is linear.

Schemes: each record names its own in ``chain``. Records written before migration ss0006 are
``sha256`` (plain SHA-256, no key); every record from the first keyed one on is ``hmac-sha256``. A
plain record after a keyed one is refused by the database and reported by ``verify`` (a downgrade).

Checkpoints: a signed file (sequence, head hash, where keying starts, time; HMAC under a key derived
from the audit key) in ``STATSERVICE_AUDIT_CHECKPOINT_DIR``, outside the database. ``verify`` checks
every checkpoint against the log, so deleting records at the end, truncating, rewriting the whole
chain (even as "legacy" SHA-256) or restoring an older copy of the database is detected up to the
latest checkpoint. The server writes one at startup, every ``audit_checkpoint_seconds`` while the
head moves, and at shutdown (in a thread of its own); ``statservice audit checkpoint`` writes one on
demand. A timer rather than every N records: it bounds how long any record stays unanchored whatever
the traffic, costs nothing while idle, and keeps file I/O out of the release transaction (a checkpoint
must only ever name committed records, or a rolled-back transaction would look like a rollback attack).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from statservice.core.files import replace_private
from statservice.db.models import AuditHead, AuditRecord
from statservice.db.session import AUDIT_SECRET_INFO

log = logging.getLogger("statservice.audit")

GENESIS_HASH = "0" * 64
CHAIN_SHA256 = "sha256"  # before ss0006: anyone could recompute it
CHAIN_HMAC = "hmac-sha256"
CHECKPOINT_FORMAT = "statservice-audit-checkpoint/1"
CHECKPOINT_GLOB = "checkpoint-*.json"


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_hex(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, repr=False)
class AuditKeys:
    """Two keys derived from the audit secret, so a record's HMAC can never pass as a checkpoint's."""

    chain: bytes
    checkpoint: bytes

    @classmethod
    def from_secret(cls, secret: SecretStr | str) -> AuditKeys:
        raw = (secret.get_secret_value() if isinstance(secret, SecretStr) else secret).encode("utf-8")
        return cls(
            chain=hmac.new(raw, b"statservice audit chain v1", hashlib.sha256).digest(),
            checkpoint=hmac.new(raw, b"statservice audit checkpoint v1", hashlib.sha256).digest(),
        )

    def __repr__(self) -> str:
        return "AuditKeys(***)"


def keys_of(session: Session) -> AuditKeys:
    secret = session.info.get(AUDIT_SECRET_INFO)
    if secret is None:
        raise RuntimeError(
            "this session carries no audit key: open it through statservice.db.session.Database"
        )
    return AuditKeys.from_secret(secret)


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
    key: bytes | None = None,
) -> str:
    """HMAC-SHA-256 under ``key`` (the chain key) of the record's canonical JSON; without a key the
    plain SHA-256 of records written before the audit key existed."""
    text = canonical_json(
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
    if key is None:
        return sha256_hex(text)
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()


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
    keys = keys_of(session)
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
        key=keys.chain,
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
        chain=CHAIN_HMAC,
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
        "chain": record.chain,
    }


def iter_records(session: Session, batch: int = 1000, after: int = 0) -> Iterator[AuditRecord]:
    last = after
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


# --- checkpoints ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement "the log had ``sequence`` records ending in ``head_hash``, keyed from
    ``keyed_from`` on", kept outside the database."""

    sequence: int
    head_hash: str
    keyed_from: int
    written_at: str
    name: str = ""

    def body(self) -> dict[str, Any]:
        return {
            "format": CHECKPOINT_FORMAT,
            "sequence": self.sequence,
            "head_hash": self.head_hash,
            "keyed_from": self.keyed_from,
            "written_at": self.written_at,
        }

    def signature(self, keys: AuditKeys) -> str:
        return hmac.new(
            keys.checkpoint, canonical_json(self.body()).encode("utf-8"), hashlib.sha256
        ).hexdigest()

    def describe(self) -> str:
        return (
            f"checkpoint {self.name or self.sequence} (sequence {self.sequence}, written {self.written_at})"
        )


def checkpoint_file_name(sequence: int) -> str:
    return f"checkpoint-{sequence:012d}.json"


@dataclass
class CheckpointFiles:
    valid: list[Checkpoint]
    invalid: list[tuple[str, str]]  # (file name, why)


def read_checkpoints(directory: Path, keys: AuditKeys) -> CheckpointFiles:
    """Every checkpoint file in ``directory``: those whose signature verifies, and the others."""
    valid: list[Checkpoint] = []
    invalid: list[tuple[str, str]] = []
    if not directory.is_dir():
        return CheckpointFiles(valid, invalid)
    for path in sorted(directory.glob(CHECKPOINT_GLOB)):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            checkpoint = Checkpoint(
                sequence=int(data["sequence"]),
                head_hash=str(data["head_hash"]),
                keyed_from=int(data["keyed_from"]),
                written_at=str(data["written_at"]),
                name=path.name,
            )
            signature = str(data["signature"])
            if data.get("format") != CHECKPOINT_FORMAT:
                raise ValueError(f"unknown format {data.get('format')!r}")
        except (OSError, ValueError, KeyError, TypeError) as error:
            invalid.append((path.name, f"unreadable ({type(error).__name__})"))
            continue
        if not hmac.compare_digest(signature, checkpoint.signature(keys)):
            invalid.append(
                (path.name, "its signature does not verify (forged, or signed with another audit key)")
            )
            continue
        valid.append(checkpoint)
    valid.sort(key=lambda c: c.sequence)
    return CheckpointFiles(valid, invalid)


class CheckpointRefused(RuntimeError):
    """The chain does not verify, so the service will not sign its head."""


def write_checkpoint(session: Session, directory: Path) -> Checkpoint:
    """Sign the committed chain head into ``directory`` after verifying the records since the latest
    checkpoint (and that checkpoint itself), so a tampered chain is never signed."""
    keys = keys_of(session)
    files = read_checkpoints(directory, keys)
    result = _verify(session, keys, files, start_from_latest=True)
    if not result.ok:
        first = result.problems[0]
        raise CheckpointRefused(
            f"the audit chain does not verify (sequence {first['sequence']}: {first['problem']}); "
            "no checkpoint written"
        )
    existing = next((c for c in reversed(files.valid) if c.sequence == result.last_sequence), None)
    if existing is not None and existing.head_hash == result.last_hash:
        return existing  # the head has not moved since
    checkpoint = Checkpoint(
        sequence=result.last_sequence,
        head_hash=result.last_hash,
        keyed_from=result.keyed_from,
        written_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        name=checkpoint_file_name(result.last_sequence),
    )
    signed = {**checkpoint.body(), "signature": checkpoint.signature(keys)}
    replace_private(directory / checkpoint.name, json.dumps(signed, indent=2) + "\n")
    return checkpoint


# --- verification --------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    records: int
    last_sequence: int
    last_hash: str
    problems: list[dict[str, Any]] = field(default_factory=list)
    keyed_from: int = 1
    checkpoints: int = 0
    last_checkpoint_sequence: int | None = None


def verify(session: Session, checkpoint_dir: Path | None = None) -> Verification:
    """Check the whole chain (each record's hash under its scheme, the links, the head row) and, given
    ``checkpoint_dir``, every checkpoint in it. Each problem names the first bad sequence (and the
    checkpoint it contradicts)."""
    keys = keys_of(session)
    files = read_checkpoints(checkpoint_dir, keys) if checkpoint_dir is not None else None
    return _verify(session, keys, files, start_from_latest=False)


def _verify(
    session: Session, keys: AuditKeys, files: CheckpointFiles | None, *, start_from_latest: bool
) -> Verification:
    problems: list[dict[str, Any]] = []
    checkpoints = files.valid if files else []
    # verify reports a forged or unreadable checkpoint file; the writer goes on anchoring the chain
    # with the valid ones (a stray file must not stop checkpoints)
    for name, why in files.invalid if files and not start_from_latest else []:
        problems.append({"sequence": 0, "checkpoint": name, "problem": f"checkpoint {name}: {why}"})
    by_sequence: dict[int, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_sequence.setdefault(checkpoint.sequence, []).append(checkpoint)
    # Where keying starts: the earliest any checkpoint states (a rewrite cannot move it), else the
    # first keyed record in the log.
    stated_keyed_from = min((c.keyed_from for c in checkpoints), default=None)

    expected_sequence = 1
    prev_hash = GENESIS_HASH
    count = 0
    first_keyed: int | None = None
    start_after = 0
    if start_from_latest and checkpoints:
        anchor = checkpoints[-1]
        record = session.get(AuditRecord, anchor.sequence) if anchor.sequence else None
        actual = record.hash if record is not None else (GENESIS_HASH if anchor.sequence == 0 else None)
        if actual != anchor.head_hash:
            problems.append(_contradiction(anchor, actual))
        else:
            start_after = anchor.sequence
            expected_sequence = anchor.sequence + 1
            prev_hash = anchor.head_hash
            count = anchor.sequence
            first_keyed = session.execute(
                select(func.min(AuditRecord.sequence)).where(
                    AuditRecord.chain == CHAIN_HMAC, AuditRecord.sequence <= anchor.sequence
                )
            ).scalar_one()
    for record in iter_records(session, after=start_after):
        count += 1
        sequence = record.sequence
        if sequence != expected_sequence:
            problems.append(
                {
                    "sequence": sequence,
                    "problem": f"expected sequence {expected_sequence}: records are missing or reordered",
                }
            )
        if record.prev_hash != prev_hash:
            problems.append(
                {"sequence": sequence, "problem": "previous hash does not match the preceding record"}
            )
        keyed = record.chain == CHAIN_HMAC
        if keyed and first_keyed is None:
            first_keyed = sequence
        if not keyed:
            if record.chain != CHAIN_SHA256:
                problems.append({"sequence": sequence, "problem": f"unknown chain scheme {record.chain!r}"})
            elif first_keyed is not None:
                problems.append(
                    {
                        "sequence": sequence,
                        "problem": "unkeyed (plain SHA-256) record after keyed ones: "
                        "rewritten without the audit key",
                    }
                )
            elif stated_keyed_from is not None and sequence >= stated_keyed_from:
                problems.append(
                    {
                        "sequence": sequence,
                        "problem": (
                            f"unkeyed (plain SHA-256) record, but checkpoints state the chain is keyed from "
                            f"sequence {stated_keyed_from}: rewritten without the audit key"
                        ),
                    }
                )
        try:
            payload = json.loads(record.payload_json)
        except ValueError:
            payload = record.payload_json
        recomputed = record_hash(
            sequence=sequence,
            timestamp=record.timestamp,
            actor=record.actor,
            organisation_id=record.organisation_id,
            action=record.action,
            query_hash=record.query_hash,
            payload=payload,
            prev_hash=record.prev_hash,
            key=keys.chain if keyed else None,
        )
        if not hmac.compare_digest(recomputed, record.hash):
            problems.append(
                {
                    "sequence": sequence,
                    "problem": "content does not match its "
                    + ("HMAC (edited, or rehashed without the audit key)" if keyed else "hash (edited)"),
                }
            )
        for checkpoint in by_sequence.get(sequence, []):
            if checkpoint.head_hash != record.hash:
                problems.append(_contradiction(checkpoint, record.hash))
        prev_hash = record.hash
        expected_sequence = sequence + 1
    last_sequence = expected_sequence - 1
    for checkpoint in checkpoints:
        if checkpoint.sequence > last_sequence:
            problems.append(
                {
                    "sequence": checkpoint.sequence,
                    "checkpoint": checkpoint.name,
                    "problem": (
                        f"{checkpoint.describe()} is ahead of the log, which ends at sequence "
                        f"{last_sequence}: records were deleted or truncated, or an older copy of the "
                        "database was restored"
                    ),
                }
            )
        elif checkpoint.sequence == 0 and checkpoint.head_hash != GENESIS_HASH:
            problems.append(_contradiction(checkpoint, GENESIS_HASH))
    if files is not None and not checkpoints and count and not start_from_latest:
        problems.append(
            {
                "sequence": last_sequence,
                "problem": (
                    "no valid checkpoint in the audit checkpoint directory: a rehashed, truncated or "
                    "rolled-back log cannot be ruled out (start the service or run "
                    "`statservice audit checkpoint`)"
                ),
            }
        )
    head = session.get(AuditHead, 1)
    head_sequence = head.last_sequence if head else 0
    head_hash = head.last_hash if head else GENESIS_HASH
    if head_sequence != last_sequence or head_hash != prev_hash:
        problems.append(
            {
                "sequence": head_sequence,
                "problem": "the chain head does not match the last record (records deleted at the end)",
            }
        )
    keyed_from = first_keyed if first_keyed is not None else last_sequence + 1
    if stated_keyed_from is not None:
        keyed_from = min(keyed_from, stated_keyed_from)
    problems.sort(key=lambda p: p["sequence"])
    return Verification(
        ok=not problems,
        records=count,
        last_sequence=last_sequence,
        last_hash=prev_hash,
        problems=problems,
        keyed_from=keyed_from,
        checkpoints=len(checkpoints),
        last_checkpoint_sequence=checkpoints[-1].sequence if checkpoints else None,
    )


def _contradiction(checkpoint: Checkpoint, actual: str | None) -> dict[str, Any]:
    where = "is missing" if actual is None else "differs"
    return {
        "sequence": checkpoint.sequence,
        "checkpoint": checkpoint.name,
        "problem": (
            f"record {checkpoint.sequence} {where} from {checkpoint.describe()}: the log up to there was "
            "rewritten or replaced"
        ),
    }


# --- the server's checkpoint timer ---------------------------------------------------------------


class Checkpointer:
    """Writes a checkpoint at once, then every ``interval`` seconds while the head moves, and on stop.

    All in its own thread: the first checkpoint after upgrading from unkeyed versions verifies the
    whole log (about 0.2 ms a record), which must not hold up the server's startup.
    """

    def __init__(self, database: Any, directory: Path, interval: float) -> None:
        self.database = database
        self.directory = directory
        self.interval = interval
        self.first_done = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def checkpoint_now(self) -> Checkpoint | None:
        with self._lock:
            try:
                with self.database.session() as session:
                    return write_checkpoint(session, self.directory)
            except CheckpointRefused as error:
                log.error("%s", error)
            except Exception as error:  # never take the service down; the next tick retries
                log.error("audit checkpoint failed: %s", type(error).__name__)
            return None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="statservice-audit-checkpoints", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self.checkpoint_now()
        finally:
            self.first_done.set()
        if self.interval > 0:
            while not self._stop.wait(self.interval):
                self.checkpoint_now()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            if self._thread.is_alive():  # still verifying a long log: its checkpoint will do
                log.warning("audit checkpoint still running at shutdown; no final checkpoint")
                return
        self.checkpoint_now()
