"""released counts: exact released counts with their person sets, for the Venn-atom audit

Inclusion–exclusion over three or more releases (count(C∧A) + count(C∧B) − count(C∧(A∨B))) is
invisible to the pairwise differencing guard and to the cell audit, which links releases only
through identical person sets. The atom audit combines every exact released count, so it must
remember each one's person set and the interval the customer knows of it.

Revision ID: ss0004
Revises: ss0003
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0004"
down_revision = "ss0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ss_released_counts",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("data_version", sa.String(length=80), nullable=False),
        sa.Column("scope", sa.String(length=80), nullable=False),
        sa.Column("fingerprint", sa.String(length=128), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("low", sa.BigInteger(), nullable=False),
        sa.Column("high", sa.BigInteger(), nullable=False),
        sa.Column("bitmap", sa.LargeBinary(), nullable=False),
        sa.Column("release_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["release_id"], ["ss_releases.id"], name=op.f("fk_ss_released_counts_release_id_ss_releases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ss_released_counts")),
        sa.UniqueConstraint("data_version", "scope", "fingerprint", name="uq_ss_released_counts_key"),
    )
    with op.batch_alter_table("ss_released_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_ss_released_counts_release_id"), ["release_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("ss_released_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ss_released_counts_release_id"))
    op.drop_table("ss_released_counts")
