"""runs: semantic hash (the query without titles and names) for the repeated-query alert

Revision ID: ss0002
Revises: ss0001
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0002"
down_revision = "ss0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("semantic_hash", sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f("ix_ss_query_runs_semantic_hash"), ["semantic_hash"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ss_query_runs_semantic_hash"))
        batch_op.drop_column("semantic_hash")
