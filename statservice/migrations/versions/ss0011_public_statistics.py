"""public statistics: free statistics of a data version, each a release of the public organisation

Revision ID: ss0011
Revises: ss0010
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0011"
down_revision = "ss0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ss_public_statistics",
        sa.Column("data_version", sa.String(length=80), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.Column("etag", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"], ["ss_releases.id"], name=op.f("fk_ss_public_statistics_release_id_ss_releases")
        ),
        sa.PrimaryKeyConstraint("data_version", "slug", name=op.f("pk_ss_public_statistics")),
    )
    with op.batch_alter_table("ss_public_statistics", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ss_public_statistics_release_id"), ["release_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ss_public_statistics", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ss_public_statistics_release_id"))
    op.drop_table("ss_public_statistics")
