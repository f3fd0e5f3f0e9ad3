"""Billing's tables, on billing's own ``DeclarativeBase`` (``Base.metadata``).

Every table is prefixed ``billing_`` because billing shares a database with the service. Organisation
ids are plain strings (no foreign key to service tables): billing imports nothing of ours.

Column types are exact on SQLite and PostgreSQL alike:
- money is stored as whole øre in a BIGINT column named ``*_ore`` and read back as ``Decimal`` kroner;
- hours and VAT rates are stored as scaled integers (``FixedPoint``) and read back as ``Decimal``;
- timestamps are timezone-aware UTC (SQLite keeps no zone, so UTC is attached on read);
- dates (issue dates, validity, work dates) are ``date``.

Schema changes go through Alembic on the ``billing`` branch (``billing/migrations``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    event,
)
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from billing.errors import InvalidBillingInput

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class FixedPoint(TypeDecorator[Decimal]):
    """A Decimal with ``places`` decimals stored exactly as a scaled BIGINT (money: places=2, øre)."""

    impl = BigInteger
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places
        self.scale = 10**places
        self.quantum = Decimal(1).scaleb(-places)

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> int | None:
        if value is None:
            return None
        exact = Decimal(value)
        if exact != exact.quantize(self.quantum):
            raise ValueError(f"{value} has more than {self.places} decimals; round it first")
        return int(exact * self.scale)

    def process_result_value(self, value: int | None, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return (Decimal(value) / self.scale).quantize(self.quantum)


def Money() -> FixedPoint:
    return FixedPoint(2)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC timestamps on every database; naive datetimes are refused."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


def require_aware(moment: datetime) -> datetime:
    """Billing keeps time in UTC; a naive timestamp is ambiguous, so it is refused (422)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidBillingInput(f"timestamps must be timezone-aware, got {moment.isoformat()}")
    return moment.astimezone(UTC)


class IssuedQuote(Base):
    """A price given to a customer before anything runs: for one query run, or for a bespoke order."""

    __tablename__ = "billing_quotes"
    __table_args__ = (
        CheckConstraint("kind IN ('query', 'order')", name="kind"),
        Index("ix_billing_quotes_organisation_created", "organisation_id", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    organisation_id: Mapped[str] = mapped_column(String(128))
    segment: Mapped[str] = mapped_column(String(64))
    price_list_version: Mapped[str] = mapped_column(String(32))
    # query quotes: the shape priced (null for order quotes)
    result_kind: Mapped[str | None] = mapped_column(String(64))
    registers: Mapped[int | None] = mapped_column(Integer)
    cells: Mapped[int | None] = mapped_column(Integer)
    differential_privacy: Mapped[bool | None] = mapped_column(Boolean)
    privacy_rho: Mapped[float | None] = mapped_column(Float)  # zCDP rho the run spends at most
    order_id: Mapped[str | None] = mapped_column(ForeignKey("billing_orders.id"))
    description: Mapped[str] = mapped_column(Text)
    net_amount: Mapped[Decimal] = mapped_column("net_amount_ore", Money())
    vat_amount: Mapped[Decimal] = mapped_column("vat_amount_ore", Money())
    gross_amount: Mapped[Decimal] = mapped_column("gross_amount_ore", Money())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    valid_until: Mapped[date] = mapped_column(Date)  # inclusive
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    used_by_release_id: Mapped[str | None] = mapped_column(String(64))

    @property
    def reduced_prices(self) -> tuple[Any, ...]:
        """The reduced prices this quote states (see ``billing.quotes.stated_reduced_prices``)."""
        from billing.quotes import stated_reduced_prices  # billing.quotes imports this module

        return stated_reduced_prices(self)


class InvoiceLine(Base):
    """One chargeable thing: a release, staff hours or a fixed element. Written once, never edited
    after it is on an invoice."""

    __tablename__ = "billing_invoice_lines"
    __table_args__ = (
        CheckConstraint("kind IN ('release', 'staff_hours', 'fixed_element')", name="kind"),
        Index("ix_billing_invoice_lines_uninvoiced", "organisation_id", "invoice_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    organisation_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(16), default="release")
    # a release is charged at most once
    release_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    # a quote is used at most once
    quote_id: Mapped[str | None] = mapped_column(ForeignKey("billing_quotes.id"), unique=True)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("billing_orders.id"))
    description: Mapped[str] = mapped_column(Text)
    quantity: Mapped[Decimal] = mapped_column("quantity_hundredths", FixedPoint(2), default=Decimal("1.00"))
    unit_price: Mapped[Decimal] = mapped_column("unit_price_ore", Money())
    net_amount: Mapped[Decimal] = mapped_column("net_amount_ore", Money())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("billing_invoices.id"))

    invoice: Mapped[Invoice | None] = relationship(back_populates="lines")

    @property
    def invoice_number(self) -> str | None:
        """The number of the invoice this line is on (its public identifier), if any."""
        return self.invoice.display_number if self.invoice is not None else None


class Invoice(Base):
    """An issued invoice: numbered gaplessly, immutable once issued (corrections are credit notes)."""

    __tablename__ = "billing_invoices"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    organisation_id: Mapped[str] = mapped_column(String(128), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    # monthly invoices: the month billed; order invoices: the order
    period_year: Mapped[int | None] = mapped_column(Integer)
    period_month: Mapped[int | None] = mapped_column(Integer)
    order_id: Mapped[str | None] = mapped_column(ForeignKey("billing_orders.id"))
    currency: Mapped[str] = mapped_column(String(3), default="DKK")
    vat_rate: Mapped[Decimal] = mapped_column("vat_rate_ten_thousandths", FixedPoint(4))
    net_total: Mapped[Decimal] = mapped_column("net_total_ore", Money())
    vat_amount: Mapped[Decimal] = mapped_column("vat_amount_ore", Money())
    gross_total: Mapped[Decimal] = mapped_column("gross_total_ore", Money())
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON)  # buyer details as at issue
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    lines: Mapped[list[InvoiceLine]] = relationship(back_populates="invoice", order_by=InvoiceLine.id)
    credit_notes: Mapped[list[CreditNote]] = relationship(back_populates="invoice", order_by="CreditNote.id")

    @property
    def display_number(self) -> str:
        return format_invoice_number(self.number)


class CreditNote(Base):
    """Credits (part of) an issued invoice; has its own gapless number series."""

    __tablename__ = "billing_credit_notes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[int] = mapped_column(Integer, unique=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("billing_invoices.id"), index=True)
    organisation_id: Mapped[str] = mapped_column(String(128), index=True)
    issue_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(Text)
    currency: Mapped[str] = mapped_column(String(3), default="DKK")
    vat_rate: Mapped[Decimal] = mapped_column("vat_rate_ten_thousandths", FixedPoint(4))
    net_total: Mapped[Decimal] = mapped_column("net_total_ore", Money())  # positive: the amount credited
    vat_amount: Mapped[Decimal] = mapped_column("vat_amount_ore", Money())
    gross_total: Mapped[Decimal] = mapped_column("gross_total_ore", Money())
    buyer: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)

    invoice: Mapped[Invoice] = relationship(back_populates="credit_notes")

    @property
    def display_number(self) -> str:
        return format_credit_note_number(self.number)

    @property
    def invoice_number(self) -> str:
        return self.invoice.display_number


class InvoiceNumberSequence(Base):
    """One row per number series (``invoice``, ``credit_note``): the next number to hand out.

    Numbers are taken under a row lock (PostgreSQL ``SELECT ... FOR UPDATE``; SQLite's single writer)
    in the transaction that writes the document, so a rollback returns the number: no gaps.
    """

    __tablename__ = "billing_invoice_number_sequence"

    series: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer)


NUMBER_SERIES = ("invoice", "credit_note")


@event.listens_for(InvoiceNumberSequence.__table__, "after_create")
def _seed_number_series(target: Table, connection: Connection, **_: Any) -> None:
    """metadata.create_all seeds the series like the migration does: each starts at 1."""
    connection.execute(target.insert(), [{"series": series, "next_number": 1} for series in NUMBER_SERIES])


# Issued documents are immutable in the database too, not only through the ORM (bulk or raw SQL
# updates bypass ORM events). Migration b0002 creates the same triggers; keep the two in step.
POSTGRESQL_REFUSE_FUNCTION = """
    CREATE OR REPLACE FUNCTION billing_refuse_change_of_issued() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = 'billing: ' || TG_OP
            || ' of an issued document in ' || TG_TABLE_NAME || ' is not allowed; issue a credit note';
    END
    $$
"""
# table -> condition on the old row (invoice lines are free until they are on an invoice)
IMMUTABLE_TABLES = {
    "billing_invoices": None,
    "billing_credit_notes": None,
    "billing_invoice_lines": "OLD.invoice_id IS NOT NULL",
}


def immutability_ddl(dialect_name: str, table: str) -> tuple[str, ...]:
    condition = IMMUTABLE_TABLES[table]
    if dialect_name == "postgresql":
        when = f"WHEN ({condition}) " if condition else ""
        return (
            POSTGRESQL_REFUSE_FUNCTION,
            f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} FOR EACH ROW "
            f"{when}EXECUTE FUNCTION billing_refuse_change_of_issued()",
        )
    if dialect_name == "sqlite":
        when = f"WHEN {condition} " if condition else ""
        return tuple(
            f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} {when}"
            f"BEGIN SELECT RAISE(ABORT, 'billing: {operation} of an issued document in {table} "
            "is not allowed; issue a credit note'); END"
            for operation in ("UPDATE", "DELETE")
        )
    return ()


def _create_immutability_triggers(target: Table, connection: Connection, **_: Any) -> None:
    """metadata.create_all installs the triggers with each table, like migration b0002 does."""
    for statement in immutability_ddl(connection.dialect.name, target.name):
        connection.exec_driver_sql(statement)


for _table in (Invoice.__table__, CreditNote.__table__, InvoiceLine.__table__):
    event.listen(_table, "after_create", _create_immutability_triggers)


class BillingAccount(Base):
    """Who an organisation's invoices are addressed to (Peppol BIS AccountingCustomerParty)."""

    __tablename__ = "billing_accounts"

    organisation_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    legal_name: Mapped[str] = mapped_column(String(256))
    cvr: Mapped[str | None] = mapped_column(String(16))  # Danish company number
    # EAN (GLN) location number: where a Danish public buyer receives e-invoices
    ean: Mapped[str | None] = mapped_column(String(13))
    street: Mapped[str | None] = mapped_column(String(256))
    city: Mapped[str | None] = mapped_column(String(128))
    postal_code: Mapped[str | None] = mapped_column(String(16))
    country_code: Mapped[str] = mapped_column(String(2), default="DK")
    email: Mapped[str | None] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now, onupdate=utc_now)


class Order(Base):
    """Bespoke work ordered by a customer and carried out by staff on the same engine."""

    __tablename__ = "billing_orders"
    __table_args__ = (Index("ix_billing_orders_organisation_created", "organisation_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    organisation_id: Mapped[str] = mapped_column(String(128))
    segment: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(String(256))
    request_text: Mapped[str] = mapped_column(Text)
    draft_query: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    # the estimate (state estimated and later)
    estimated_hours: Mapped[Decimal | None] = mapped_column("estimated_hundredth_hours", FixedPoint(2))
    hourly_rate: Mapped[Decimal | None] = mapped_column("hourly_rate_ore", Money())
    fixed_elements: Mapped[list[dict[str, str]] | None] = mapped_column(JSON)  # [{description, net_amount}]
    quote_id: Mapped[str | None] = mapped_column(String(36))  # the current estimate's quote
    # while in progress: a revised estimate waiting for the customer's acceptance (a change order),
    # {quote_id, hours, hourly_rate, fixed_elements}; the fields above stay the accepted estimate
    change_order: Mapped[dict[str, Any] | None] = mapped_column(JSON)

    events: Mapped[list[OrderEvent]] = relationship(order_by="OrderEvent.id")
    hour_logs: Mapped[list[HourLog]] = relationship(order_by="HourLog.id")


class OrderEvent(Base):
    """One state transition of an order: who, when, from, to."""

    __tablename__ = "billing_order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("billing_orders.id"), index=True)
    actor: Mapped[str] = mapped_column(String(128))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)
    from_state: Mapped[str | None] = mapped_column(String(16))  # null for the request itself
    to_state: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)


class HourLog(Base):
    """Staff hours worked on an order."""

    __tablename__ = "billing_hour_logs"
    __table_args__ = (CheckConstraint("hundredth_hours > 0", name="positive_hours"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    order_id: Mapped[str] = mapped_column(ForeignKey("billing_orders.id"), index=True)
    staff_id: Mapped[str] = mapped_column(String(128))
    work_date: Mapped[date] = mapped_column(Date)
    hours: Mapped[Decimal] = mapped_column("hundredth_hours", FixedPoint(2))
    note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utc_now)


def format_invoice_number(number: int) -> str:
    return f"F{number:07d}"


def format_credit_note_number(number: int) -> str:
    return f"K{number:07d}"
