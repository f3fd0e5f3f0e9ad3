"""Billing actions in the hash-chained audit log, like the service's other actions (keys,
organisations, releases): who (the key, and the organisation acted for), what, and the amounts."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from statservice import audit
from statservice.api.deps import Principal


def record(
    session: Session, principal: Principal, organisation_id: str | None, action: str, payload: dict[str, Any]
) -> None:
    """Append in the caller's write transaction: committed or rolled back with the action itself."""
    audit.append(
        session,
        actor=principal.actor,
        organisation_id=organisation_id,
        action=action,
        query_hash=None,
        payload=payload,
    )
