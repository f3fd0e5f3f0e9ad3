"""Tables of the service. Migrated by Alembic (``statservice/migrations``, branch ``statservice``).

Person keys are never stored, except inside the serialized roaring bitmaps of
``released_person_sets`` that the differencing guard needs.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Numeric,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC timestamps on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is not None:
            if value.tzinfo is None:
                raise ValueError("naive datetime; use statservice.db.models.utcnow()")
            value = value.astimezone(dt.UTC)
            if dialect.name == "sqlite":
                value = value.replace(tzinfo=None)
        return value

    def process_result_value(self, value, dialect):
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return value


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Organisation(Base):
    __tablename__ = "ss_organisations"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    segment: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ApiKey(Base):
    __tablename__ = "ss_api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class QueryRun(Base):
    """One request to run a query: queued, running, released, refused or failed."""

    __tablename__ = "ss_query_runs"
    __table_args__ = (Index("ix_ss_query_runs_lease", "status", "lease_expires_at"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), index=True)
    key_id: Mapped[str] = mapped_column(ForeignKey("ss_api_keys.id"))
    acting_key_organisation_id: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    query_json: Mapped[str] = mapped_column(Text)
    query_hash: Mapped[str] = mapped_column(String(64), index=True)
    # the query without its wording (titles, criterion names): equal for near-identical queries
    semantic_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    title: Mapped[str | None] = mapped_column(String(200), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    release_id: Mapped[str | None] = mapped_column(String(40), nullable=True)
    problem_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    # The API process executing the run holds a lease it renews while the run is queued or running;
    # any process may fail the run once the lease has expired (statservice/leases.py).
    lease_owner: Mapped[str | None] = mapped_column(String(80), nullable=True)
    lease_expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # What the run is doing while running (``statservice.pipeline.RunStage``), written as it enters
    # each stage so that every API process can show it.
    stage: Mapped[str | None] = mapped_column(String(20), nullable=True)


class RateBucket(Base):
    """One organisation's request token bucket, shared by every API process on a PostgreSQL database
    (``refilled_at`` is the database clock in epoch seconds, so the processes need not agree on time)."""

    __tablename__ = "ss_rate_buckets"

    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    refilled_at: Mapped[float] = mapped_column(Float)
    allowed: Mapped[bool] = mapped_column(Boolean)


class ReleaseRecord(Base):
    """A protected result handed to a customer; exists only with its audit record and invoice line."""

    __tablename__ = "ss_releases"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("ss_query_runs.id"), unique=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), index=True)
    key_id: Mapped[str] = mapped_column(String(40))
    query_hash: Mapped[str] = mapped_column(String(64))
    data_version: Mapped[str] = mapped_column(String(80))
    policy_version: Mapped[str] = mapped_column(String(80))
    tables_json: Mapped[str] = mapped_column(Text)
    report_json: Mapped[str] = mapped_column(Text)
    price: Mapped[Decimal] = mapped_column(Numeric(14, 2))
    currency: Mapped[str] = mapped_column(String(3))
    invoice_line_ref: Mapped[str | None] = mapped_column(String(80), nullable=True)
    rho_spent: Mapped[float] = mapped_column(Float, default=0.0)
    audit_sequence: Mapped[int] = mapped_column(BigInteger, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # the saved concept sets the query referred to: [{"type", "id", "version", "definition_hash"}]
    saved_definitions_json: Mapped[str | None] = mapped_column(Text, nullable=True)


class AuditHead(Base):
    """One row: the end of the audit chain, locked to append (serialises releases)."""

    __tablename__ = "ss_audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_sequence: Mapped[int] = mapped_column(BigInteger)
    last_hash: Mapped[str] = mapped_column(String(64))


class AuditRecord(Base):
    """Append-only, hash-chained: ``hash`` = HMAC-SHA-256 under the audit key (``chain`` "hmac-sha256";
    records written before ss0006: plain SHA-256, ``chain`` "sha256") over the canonical JSON of every
    other field."""

    __tablename__ = "ss_audit_log"

    sequence: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    timestamp: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(200))
    organisation_id: Mapped[str | None] = mapped_column(String(40), index=True, nullable=True)
    action: Mapped[str] = mapped_column(String(40), index=True)
    query_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payload_json: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    # rows older than the column are the unkeyed chain: the server default repairs them to "sha256"
    chain: Mapped[str] = mapped_column(String(16), server_default="sha256")


class ReleasedPersonSet(Base):
    """A released cell's person set, as a serialized roaring bitmap, for the differencing guard only."""

    __tablename__ = "ss_released_person_sets"
    __table_args__ = (Index("ix_ss_person_sets_lookup", "data_version", "scope", "size"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(80))
    size: Mapped[int] = mapped_column(BigInteger)
    bitmap: Mapped[bytes] = mapped_column(LargeBinary)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"), index=True)


class PrivacyLedgerRow(Base):
    """rho spent per (data version, scope); the row is locked (FOR UPDATE) when a release spends."""

    __tablename__ = "ss_privacy_ledger"

    data_version: Mapped[str] = mapped_column(String(80), primary_key=True)
    scope: Mapped[str] = mapped_column(String(80), primary_key=True)
    rho_spent: Mapped[float] = mapped_column(Float, default=0.0)


class PrivacySpend(Base):
    __tablename__ = "ss_privacy_spends"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"), index=True)
    data_version: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(80))
    rho: Mapped[float] = mapped_column(Float)


class NoiseDraw(Base):
    __tablename__ = "ss_noise_cache"
    __table_args__ = (UniqueConstraint("data_version", "key", name="uq_ss_noise_cache_key"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(80))
    key: Mapped[str] = mapped_column(String(128))
    value: Mapped[int] = mapped_column(BigInteger)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"))


class ReleasedCountRow(Base):
    """An exact (not noised) released count: its person set and the interval the customer knows, for the
    Venn-atom audit. Append-only: a later, tighter release of the same set adds a row, and the customer
    knows the intersection of a set's intervals (so processes catch up on the history by row id)."""

    __tablename__ = "ss_released_counts"
    __table_args__ = (Index("ix_ss_released_counts_lookup", "data_version", "scope", "fingerprint"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(80))
    fingerprint: Mapped[str] = mapped_column(String(128))
    size: Mapped[int] = mapped_column(BigInteger)
    low: Mapped[int] = mapped_column(BigInteger)
    high: Mapped[int] = mapped_column(BigInteger)
    bitmap: Mapped[bytes] = mapped_column(LargeBinary)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"), index=True)


class ReleasedTable(Base):
    """What a customer saw of one released table (fingerprints, intervals, relations), for the LP audit."""

    __tablename__ = "ss_released_tables"
    __table_args__ = (Index("ix_ss_released_tables_lookup", "data_version", "scope"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(80))
    record_json: Mapped[str] = mapped_column(Text)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"), index=True)


class ReleasedFingerprint(Base):
    """Fingerprint -> released table, to find the earlier tables linked to a new one."""

    __tablename__ = "ss_released_fingerprints"
    __table_args__ = (Index("ix_ss_released_fingerprints_lookup", "data_version", "scope", "fingerprint"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    data_version: Mapped[str] = mapped_column(String(80))
    scope: Mapped[str] = mapped_column(String(80))
    fingerprint: Mapped[str] = mapped_column(String(128))
    table_id: Mapped[int] = mapped_column(ForeignKey("ss_released_tables.id"))


class PublicStatistic(Base):
    """A free public statistic of one data version (``statservice.public_statistics``): a release of
    the public-statistics organisation, protected and remembered like every release, served without
    a key. ``etag`` is the SHA-256 of what is served, so a client revalidates with If-None-Match."""

    __tablename__ = "ss_public_statistics"

    data_version: Mapped[str] = mapped_column(String(80), primary_key=True)
    slug: Mapped[str] = mapped_column(String(80), primary_key=True)
    release_id: Mapped[str] = mapped_column(ForeignKey("ss_releases.id"), index=True)
    etag: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class QueryDraft(Base):
    """A named query JSON an organisation keeps to come back to (``statservice.drafts``): what the
    cohort builder held when it was saved, valid or not yet. One name per organisation."""

    __tablename__ = "ss_query_drafts"
    __table_args__ = (
        UniqueConstraint("organisation_id", "name", name="uq_ss_query_drafts_organisation_name"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    query_json: Mapped[str] = mapped_column(Text)
    saved_by_key_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SavedDefinition(Base):
    """A named concept set or cohort definition of one organisation (``statservice.saved_definitions``).
    Its content lives in its versions: saving a changed definition adds a version, and no version is
    ever changed, so a release that names one can always be read again as it ran."""

    __tablename__ = "ss_saved_definitions"
    __table_args__ = (
        UniqueConstraint("organisation_id", "kind", "name", name="uq_ss_saved_definitions_organisation_name"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(ForeignKey("ss_organisations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # concept_set | cohort
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SavedDefinitionVersion(Base):
    """One immutable version of a saved definition: its JSON and that JSON's hash."""

    __tablename__ = "ss_saved_definition_versions"

    definition_id: Mapped[str] = mapped_column(ForeignKey("ss_saved_definitions.id"), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    definition_json: Mapped[str] = mapped_column(Text)
    definition_hash: Mapped[str] = mapped_column(String(64))
    saved_by_key_id: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime(), default=utcnow)
