"""runs with leases, organisation rate buckets: several API processes over one database

A run is executed by the API process that holds its lease (``lease_owner``) and renews it
(``lease_expires_at``) while the run is queued or running; another process fails the run only once
that lease has expired, instead of every starting process failing every unfinished run. Token buckets
per organisation live in ``ss_rate_buckets`` so all processes on a PostgreSQL database share them.

Repairs rows older versions stored: their unfinished runs have no lease, so they are given one that
has already expired (the first process to start reaps them, as the old startup did).

Revision ID: ss0007
Revises: ss0006
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

revision = "ss0007"
down_revision = "ss0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_ss_query_runs_lease", ["status", "lease_expires_at"], unique=False)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    if op.get_bind().dialect.name == "sqlite":
        epoch = epoch.replace(tzinfo=None)  # how UTCDateTime stores timestamps on SQLite
    runs = sa.table(
        "ss_query_runs",
        sa.column("status", sa.String),
        sa.column("lease_owner", sa.String),
        sa.column("lease_expires_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        runs.update()
        .where(runs.c.status.in_(("queued", "running")), runs.c.lease_expires_at.is_(None))
        .values(lease_owner="before-leases", lease_expires_at=epoch)
    )
    op.create_table(
        "ss_rate_buckets",
        sa.Column("organisation_id", sa.String(length=40), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.Float(), nullable=False),
        sa.Column("allowed", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["organisation_id"],
            ["ss_organisations.id"],
            name=op.f("fk_ss_rate_buckets_organisation_id_ss_organisations"),
        ),
        sa.PrimaryKeyConstraint("organisation_id", name=op.f("pk_ss_rate_buckets")),
    )


def downgrade() -> None:
    op.drop_table("ss_rate_buckets")
    with op.batch_alter_table("ss_query_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_ss_query_runs_lease")
        batch_op.drop_column("lease_expires_at")
        batch_op.drop_column("lease_owner")
