"""query drafts: named query JSON an organisation saves from the cohort builder

Revision ID: ss0012
Revises: ss0011
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0012"
down_revision = "ss0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ss_query_drafts",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("query_json", sa.Text(), nullable=False),
        sa.Column("saved_by_key_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["ss_organisations.id"],
            name=op.f("fk_ss_query_drafts_organisation_id_ss_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ss_query_drafts")),
        sa.UniqueConstraint("organisation_id", "name", name="uq_ss_query_drafts_organisation_name"),
    )
    with op.batch_alter_table("ss_query_drafts", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ss_query_drafts_organisation_id"), ["organisation_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("ss_query_drafts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ss_query_drafts_organisation_id"))
    op.drop_table("ss_query_drafts")
