"""billing: a buyer's EAN (GLN) number, and an order's pending change order (revised estimate).

Revision ID: b0003_ean_change_orders
Revises: b0002_immutable
Create Date: 2026-12-06

Danish public buyers receive e-invoices at an EAN (GLN) location number rather than at their CVR
number. An order in progress may carry a revised estimate that waits for the customer's acceptance
(hours, rate and fixed elements as JSON, beside the quote that prices them). Neither table has the
immutability triggers of b0002, so plain ADD COLUMN works on SQLite too.
"""

import sqlalchemy as sa
from alembic import op

revision: str = "b0003_ean_change_orders"
down_revision: str | None = "b0002_immutable"
branch_labels: tuple[str, ...] | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("billing_accounts", sa.Column("ean", sa.String(length=13), nullable=True))
    op.add_column("billing_orders", sa.Column("change_order", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("billing_orders") as batch:
        batch.drop_column("change_order")
    with op.batch_alter_table("billing_accounts") as batch:
        batch.drop_column("ean")
