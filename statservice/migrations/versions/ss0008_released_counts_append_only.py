"""released counts append-only: a tighter interval for a set released before is a new row

Each process keeps the release history in memory and catches up by row id
(``statservice.history``); an update in place would be invisible to it. Readers take the
intersection of a set's intervals, which is what the customer knows.

Revision ID: ss0008
Revises: ss0007
"""

from alembic import op

revision = "ss0008"
down_revision = "ss0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ss_released_counts", schema=None) as batch_op:
        batch_op.drop_constraint("uq_ss_released_counts_key", type_="unique")
        batch_op.create_index(
            "ix_ss_released_counts_lookup", ["data_version", "scope", "fingerprint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ss_released_counts", schema=None) as batch_op:
        batch_op.drop_index("ix_ss_released_counts_lookup")
        batch_op.create_unique_constraint(
            "uq_ss_released_counts_key", ["data_version", "scope", "fingerprint"]
        )
