"""Billing's Alembic branch produces exactly the schema of billing.models, on both databases."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from billing import migrations
from billing.invoicing import issue_credit_note, issue_monthly_invoices
from billing.ledger import record_invoice_line
from billing.models import Base, Invoice, InvoiceNumberSequence


def test_branch_is_labelled_billing_and_starts_from_nothing():
    scripts = ScriptDirectory.from_config(migrations.alembic_config())
    (base,) = scripts.get_bases()
    first = scripts.get_revision(base)
    assert first.down_revision is None
    assert "billing" in first.branch_labels
    assert scripts.get_revision("billing@head") is not None


def test_upgrade_matches_models_and_downgrade_removes_everything(empty_engine):
    with empty_engine.begin() as connection:
        migrations.upgrade(connection)
    with empty_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
        seeded = connection.execute(select(InvoiceNumberSequence.series, InvoiceNumberSequence.next_number))
        assert sorted(seeded) == [("credit_note", 1), ("invoice", 1)]
    with empty_engine.begin() as connection:
        migrations.downgrade(connection)
    remaining = {name for name in inspect(empty_engine).get_table_names() if name.startswith("billing_")}
    assert remaining == set()


def test_create_all_seeds_the_same_number_series(billing_engine):
    with billing_engine.connect() as connection:
        seeded = connection.execute(select(InvoiceNumberSequence.series, InvoiceNumberSequence.next_number))
        assert sorted(seeded) == [("credit_note", 1), ("invoice", 1)]


def _issue_one_invoice(connection) -> int:
    with Session(bind=connection) as session:
        record_invoice_line(
            session, "org-a", "rel-1", "x", Decimal("10.00"), now=datetime(2026, 3, 2, tzinfo=UTC)
        )
        (invoice,) = issue_monthly_invoices(session, 2026, 3, issue_date=date(2026, 4, 1))
        issue_credit_note(
            session, invoice.id, "test", net_amount=Decimal("1.00"), issue_date=date(2026, 4, 1)
        )
        record_invoice_line(
            session, "org-a", "rel-2", "y", Decimal("5.00"), now=datetime(2026, 4, 2, tzinfo=UTC)
        )
        session.flush()
        return invoice.id


RAW_CHANGES = [
    "UPDATE billing_invoices SET net_total_ore = 1",
    "DELETE FROM billing_invoices",
    "UPDATE billing_credit_notes SET reason = 'edited'",
    "DELETE FROM billing_credit_notes",
    "UPDATE billing_invoice_lines SET net_amount_ore = 1 WHERE release_id = 'rel-1'",
    "DELETE FROM billing_invoice_lines WHERE release_id = 'rel-1'",
]


def assert_issued_documents_refuse_raw_sql(engine) -> None:
    with engine.begin() as connection:
        _issue_one_invoice(connection)
    for statement in RAW_CHANGES:
        with pytest.raises(DBAPIError, match="issued document"), engine.begin() as connection:
            connection.exec_driver_sql(statement)
    with engine.begin() as connection:
        # a line not yet on an invoice may still change or go
        connection.exec_driver_sql(
            "UPDATE billing_invoice_lines SET description = 'z' WHERE release_id = 'rel-2'"
        )
        connection.exec_driver_sql("DELETE FROM billing_invoice_lines WHERE release_id = 'rel-2'")
        assert connection.execute(select(Invoice.net_total)).scalar_one() == Decimal("10.00")


def test_create_all_makes_issued_documents_immutable_to_raw_sql(billing_engine):
    assert_issued_documents_refuse_raw_sql(billing_engine)


def test_migrations_make_issued_documents_immutable_to_raw_sql(empty_engine):
    with empty_engine.begin() as connection:
        migrations.upgrade(connection)
    assert_issued_documents_refuse_raw_sql(empty_engine)


def test_create_all_twice_is_harmless(billing_engine):
    Base.metadata.create_all(billing_engine)
    assert_issued_documents_refuse_raw_sql(billing_engine)
