"""saved concept sets and cohort definitions per organisation, in immutable versions; the saved
definitions a release's query referred to

Revision ID: ss0013
Revises: ss0012
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0013"
down_revision = "ss0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ss_saved_definitions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organisation_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("name", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["ss_organisations.id"],
            name=op.f("fk_ss_saved_definitions_organisation_id_ss_organisations"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ss_saved_definitions")),
        sa.UniqueConstraint(
            "organisation_id", "kind", "name", name="uq_ss_saved_definitions_organisation_name"
        ),
    )
    with op.batch_alter_table("ss_saved_definitions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_ss_saved_definitions_organisation_id"), ["organisation_id"], unique=False
        )
    op.create_table(
        "ss_saved_definition_versions",
        sa.Column("definition_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("definition_json", sa.Text(), nullable=False),
        sa.Column("definition_hash", sa.String(length=64), nullable=False),
        sa.Column("saved_by_key_id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["definition_id"],
            ["ss_saved_definitions.id"],
            name=op.f("fk_ss_saved_definition_versions_definition_id_ss_saved_definitions"),
        ),
        sa.PrimaryKeyConstraint("definition_id", "version", name=op.f("pk_ss_saved_definition_versions")),
    )
    with op.batch_alter_table("ss_releases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("saved_definitions_json", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ss_releases", schema=None) as batch_op:
        batch_op.drop_column("saved_definitions_json")
    op.drop_table("ss_saved_definition_versions")
    with op.batch_alter_table("ss_saved_definitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_ss_saved_definitions_organisation_id"))
    op.drop_table("ss_saved_definitions")
