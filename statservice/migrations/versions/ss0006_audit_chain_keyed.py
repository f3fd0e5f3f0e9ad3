"""audit log: each record names its chain scheme; the database refuses what it can of tampering

Records from here on are chained with an HMAC under the audit key (which the database never holds);
existing rows are the plain SHA-256 chain and get ``chain = 'sha256'`` (the server default repairs them
in place, so they still verify). The triggers stop what SQL alone can do without dropping them:

- an insert that does not extend the chain at its end (SQLite ``INSERT OR REPLACE`` deletes the old row
  without firing delete triggers, but a BEFORE INSERT trigger runs first and refuses it), or that
  writes an unkeyed record after keyed ones;
- ``TRUNCATE`` on PostgreSQL (statement-level; row triggers do not see it);
- moving the chain head other than one record forward, or deleting it.

Someone who can drop triggers can still do all of that: the HMAC and the checkpoints outside the
database are what make it detectable.

Revision ID: ss0006
Revises: ss0004
"""

import sqlalchemy as sa
from alembic import op

revision = "ss0006"
down_revision = "ss0004"
branch_labels = None
depends_on = None

LOG_MESSAGE = "ss_audit_log is append-only: a record must extend the chain at its end"
HEAD_MESSAGE = "ss_audit_head only moves forward one record at a time"
TRUNCATE_MESSAGE = "ss_audit_log is append-only: TRUNCATE is refused"
GENESIS = "0" * 64


def upgrade() -> None:
    op.add_column(
        "ss_audit_log",
        sa.Column("chain", sa.String(length=16), nullable=False, server_default="sha256"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION ss_audit_log_append_at_end() RETURNS trigger AS $$
            DECLARE
                last_sequence BIGINT;
                last_hash VARCHAR(64);
            BEGIN
                SELECT sequence, hash INTO last_sequence, last_hash
                    FROM ss_audit_log ORDER BY sequence DESC LIMIT 1;
                IF NEW.sequence <> COALESCE(last_sequence, 0) + 1
                   OR NEW.prev_hash <> COALESCE(last_hash, '{GENESIS}')
                   OR (NEW.chain <> 'hmac-sha256'
                       AND EXISTS (SELECT 1 FROM ss_audit_log WHERE chain = 'hmac-sha256')) THEN
                    RAISE EXCEPTION '{LOG_MESSAGE}';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER ss_audit_log_append_at_end BEFORE INSERT ON ss_audit_log "
            "FOR EACH ROW EXECUTE FUNCTION ss_audit_log_append_at_end()"
        )
        op.execute(
            f"""
            CREATE FUNCTION ss_audit_log_no_truncate() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '{TRUNCATE_MESSAGE}';
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER ss_audit_log_no_truncate BEFORE TRUNCATE ON ss_audit_log "
            "FOR EACH STATEMENT EXECUTE FUNCTION ss_audit_log_no_truncate()"
        )
        op.execute(
            f"""
            CREATE FUNCTION ss_audit_head_forward() RETURNS trigger AS $$
            BEGIN
                IF TG_OP = 'DELETE' OR NEW.last_sequence <> OLD.last_sequence + 1 THEN
                    RAISE EXCEPTION '{HEAD_MESSAGE}';
                END IF;
                RETURN NEW;
            END;
            $$ LANGUAGE plpgsql
            """
        )
        op.execute(
            "CREATE TRIGGER ss_audit_head_forward BEFORE UPDATE OR DELETE ON ss_audit_head "
            "FOR EACH ROW EXECUTE FUNCTION ss_audit_head_forward()"
        )
        op.execute(
            """
            CREATE TRIGGER ss_audit_head_no_truncate BEFORE TRUNCATE ON ss_audit_head
            FOR EACH STATEMENT EXECUTE FUNCTION ss_audit_log_no_truncate()
            """
        )
    else:
        op.execute(
            f"""
            CREATE TRIGGER ss_audit_log_append_at_end BEFORE INSERT ON ss_audit_log
            WHEN NEW.sequence <> COALESCE((SELECT MAX(sequence) FROM ss_audit_log), 0) + 1
              OR NEW.prev_hash <> COALESCE(
                   (SELECT hash FROM ss_audit_log ORDER BY sequence DESC LIMIT 1), '{GENESIS}')
              OR (NEW.chain <> 'hmac-sha256'
                  AND EXISTS (SELECT 1 FROM ss_audit_log WHERE chain = 'hmac-sha256'))
            BEGIN SELECT RAISE(ABORT, '{LOG_MESSAGE}'); END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER ss_audit_head_forward BEFORE UPDATE ON ss_audit_head
            WHEN NEW.last_sequence <> OLD.last_sequence + 1
            BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}'); END
            """
        )
        op.execute(
            f"""
            CREATE TRIGGER ss_audit_head_no_delete BEFORE DELETE ON ss_audit_head
            BEGIN SELECT RAISE(ABORT, '{HEAD_MESSAGE}'); END
            """
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS ss_audit_head_no_truncate ON ss_audit_head")
        op.execute("DROP TRIGGER IF EXISTS ss_audit_head_forward ON ss_audit_head")
        op.execute("DROP TRIGGER IF EXISTS ss_audit_log_no_truncate ON ss_audit_log")
        op.execute("DROP TRIGGER IF EXISTS ss_audit_log_append_at_end ON ss_audit_log")
        op.execute("DROP FUNCTION IF EXISTS ss_audit_head_forward()")
        op.execute("DROP FUNCTION IF EXISTS ss_audit_log_no_truncate()")
        op.execute("DROP FUNCTION IF EXISTS ss_audit_log_append_at_end()")
    else:
        for name in ("ss_audit_head_no_delete", "ss_audit_head_forward", "ss_audit_log_append_at_end"):
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    # keyed records cannot be verified by the older code: the downgrade keeps the rows, drops the scheme
    op.execute("ALTER TABLE ss_audit_log DROP COLUMN chain")
