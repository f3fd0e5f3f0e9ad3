"""run stage: what a running run is doing (engine, disclosure control, commit)

Written by the process executing the run as it enters each stage, so that a customer polling through
any API process sees it. NULL for runs that have not started (and for runs from before this revision).

Revision ID: ss0010
Revises: ss0009
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0010"
down_revision = "ss0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.drop_column("stage")
