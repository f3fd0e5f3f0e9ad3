"""billing: issued invoices, credit notes and invoiced lines are immutable in the database (triggers).

Revision ID: b0002_immutable
Revises: b0001_initial
Create Date: 2026-11-25

The ORM already refuses such changes; these triggers also stop bulk and raw SQL. The statements are
copied here (not imported from billing.models) so this revision never changes.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "b0002_immutable"
down_revision: str | None = "b0001_initial"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None

POSTGRESQL = (
    """
    CREATE FUNCTION billing_refuse_change_of_issued() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        RAISE EXCEPTION USING ERRCODE = 'restrict_violation', MESSAGE = 'billing: ' || TG_OP
            || ' of an issued document in ' || TG_TABLE_NAME || ' is not allowed; issue a credit note';
    END
    $$
    """,
    "CREATE TRIGGER billing_invoices_immutable BEFORE UPDATE OR DELETE ON billing_invoices "
    "FOR EACH ROW EXECUTE FUNCTION billing_refuse_change_of_issued()",
    "CREATE TRIGGER billing_credit_notes_immutable BEFORE UPDATE OR DELETE ON billing_credit_notes "
    "FOR EACH ROW EXECUTE FUNCTION billing_refuse_change_of_issued()",
    "CREATE TRIGGER billing_invoice_lines_immutable BEFORE UPDATE OR DELETE ON billing_invoice_lines "
    "FOR EACH ROW WHEN (OLD.invoice_id IS NOT NULL) EXECUTE FUNCTION billing_refuse_change_of_issued()",
)
POSTGRESQL_DROP = (
    "DROP TRIGGER billing_invoice_lines_immutable ON billing_invoice_lines",
    "DROP TRIGGER billing_credit_notes_immutable ON billing_credit_notes",
    "DROP TRIGGER billing_invoices_immutable ON billing_invoices",
    "DROP FUNCTION billing_refuse_change_of_issued()",
)
SQLITE_TABLES = (
    ("billing_invoices", ""),
    ("billing_credit_notes", ""),
    ("billing_invoice_lines", "WHEN OLD.invoice_id IS NOT NULL "),
)
SQLITE = tuple(
    f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} {condition}"
    f"BEGIN SELECT RAISE(ABORT, 'billing: {operation} of an issued document in {table} is not allowed; "
    "issue a credit note'); END"
    for table, condition in SQLITE_TABLES
    for operation in ("UPDATE", "DELETE")
)
SQLITE_DROP = tuple(
    f"DROP TRIGGER {table}_no_{operation.lower()}"
    for table, _ in SQLITE_TABLES
    for operation in ("UPDATE", "DELETE")
)


def _run(statements: tuple[str, ...]) -> None:
    for statement in statements:
        op.execute(sa.text(statement))


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(POSTGRESQL)
    elif dialect == "sqlite":
        _run(SQLITE)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        _run(POSTGRESQL_DROP)
    elif dialect == "sqlite":
        _run(SQLITE_DROP)
