"""repair rows that earlier versions stored with queries beyond the query JSON limits

Before the limits (``queries.limits``), an order's ``draft_query`` could be nested hundreds of levels
deep: stored, it made ``GET /v1/orders`` fail with a 500 for its organisation and every staff,
auditor and admin key, with no way to remove it. Such drafts are replaced by a marker saying they were
removed; runs whose query exceeds the limits and that were left queued or running (they failed with a
500 before they could finish) are marked failed. Additive: no schema change; downgrade keeps the
repaired rows (the removed drafts cannot be restored, and were unusable).

Revision ID: ss0009
Revises: ss0008
"""

import datetime as dt
import json

import sqlalchemy as sa
from alembic import op

from queries.limits import MAX_JSON_DEPTH, MAX_JSON_VALUES, json_limit_problems

revision = "ss0009"
down_revision = "ss0008"
branch_labels = None
depends_on = "b0001_initial"  # billing_orders is billing's table

REMOVED_DRAFT = {
    "removed": (
        f"the draft query exceeded the limits of query JSON (at most {MAX_JSON_DEPTH} levels of nesting "
        f"and {MAX_JSON_VALUES:,} values) and was removed by migration ss0009"
    )
}

orders = sa.table("billing_orders", sa.column("id", sa.String), sa.column("draft_query", sa.JSON))
runs = sa.table(
    "ss_query_runs",
    sa.column("id", sa.String),
    sa.column("status", sa.String),
    sa.column("query_json", sa.Text),
    sa.column("finished_at", sa.DateTime(timezone=True)),
    sa.column("problem_json", sa.Text),
)


def _exceeds(value: object) -> bool:
    return bool(json_limit_problems(value))


def _run_problem(run_id: str) -> str:
    return json.dumps(
        {
            "type": "https://statservice.example/problems/invalid",
            "title": "Invalid request",
            "status": 422,
            "detail": "the query exceeds the limits of query JSON; nothing was released or charged",
            "instance": f"/v1/queries/runs/{run_id}",
            "errors": [],
        }
    )


def upgrade() -> None:
    connection = op.get_bind()
    drafts = connection.execute(
        sa.select(orders.c.id, orders.c.draft_query).where(orders.c.draft_query.is_not(None))
    )
    for order_id, draft in drafts.all():
        if _exceeds(draft):
            connection.execute(
                orders.update().where(orders.c.id == order_id).values(draft_query=REMOVED_DRAFT)
            )
    stuck = connection.execute(
        sa.select(runs.c.id, runs.c.query_json).where(runs.c.status.in_(("queued", "running")))
    )
    now = dt.datetime.now(dt.UTC)
    if connection.dialect.name == "sqlite":  # stored naive in UTC there (statservice.db.models.UTCDateTime)
        now = now.replace(tzinfo=None)
    for run_id, query_json in stuck.all():
        try:
            query = json.loads(query_json)
        except (ValueError, RecursionError):
            query = None
        if query is None or _exceeds(query):
            connection.execute(
                runs.update()
                .where(runs.c.id == run_id)
                .values(status="failed", finished_at=now, problem_json=_run_problem(run_id))
            )


def downgrade() -> None:
    pass  # the repaired rows stay repaired: nothing to undo
