"""audit log: append-only in the database too (triggers refuse UPDATE and DELETE)

The hash chain detects any change; these triggers stop the application (or a slip at the SQL prompt)
from making one. Someone with rights to drop triggers can still edit: that is what `audit verify` is for.

Revision ID: ss0003
Revises: ss0002
"""

from alembic import op

revision = "ss0003"
down_revision = "ss0002"
branch_labels = None
depends_on = None

MESSAGE = "ss_audit_log is append-only"


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION ss_audit_log_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ss_audit_log_no_{event.lower()} BEFORE {event} ON ss_audit_log "
                "FOR EACH ROW EXECUTE FUNCTION ss_audit_log_append_only()"
            )
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER ss_audit_log_no_{event.lower()} BEFORE {event} ON ss_audit_log "
                f"BEGIN SELECT RAISE(ABORT, '{MESSAGE}'); END"
            )


def downgrade() -> None:
    for event in ("update", "delete"):
        op.execute(
            f"DROP TRIGGER IF EXISTS ss_audit_log_no_{event}"
            + (" ON ss_audit_log" if op.get_bind().dialect.name == "postgresql" else "")
        )
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS ss_audit_log_append_only()")
