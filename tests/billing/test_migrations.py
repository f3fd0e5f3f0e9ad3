"""Billing's Alembic branch produces exactly the schema of billing.models, on both databases."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select

from billing import migrations
from billing.models import Base, InvoiceNumberSequence


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
