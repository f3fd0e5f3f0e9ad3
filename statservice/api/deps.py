"""Dependencies as ``Annotated`` aliases: ServiceDep, SessionDep, CurrentPrincipal and role-bound variants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from statservice.core.errors import Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from statservice.core.security import hash_api_key, key_matches
from statservice.db.models import ApiKey, Organisation
from statservice.service import CachedKey, Service

bearer_scheme = HTTPBearer(auto_error=False, description="`Authorization: Bearer <API key>`")
T = TypeVar("T")
api_key_scheme = APIKeyHeader(name="X-API-Key", auto_error=False, description="the API key")


async def get_service(request: Request) -> Service:
    return request.app.state.service


ServiceDep = Annotated[Service, Depends(get_service)]


async def run_db(service: Service, fn, *args):
    """Run database work (or anything CPU-heavy) for an async endpoint in the threadpool, on every
    database. Even a sub-millisecond SQLite read may wait for a pooled connection, and a connection
    is returned by the thread that holds it: waiting for one on the event loop stops the loop that
    would let that thread finish (issue 14: 50 SQLite clients froze the service for minutes)."""
    return await run_in_threadpool(fn, *args)


def get_session(service: ServiceDep) -> Iterator[Session]:
    """A session for the endpoint. A sync dependency on purpose: FastAPI opens it in the threadpool
    and closes it in a thread outside the threadpool's limit, so returning the connection (a
    ROLLBACK on PostgreSQL) never runs on the event loop and never waits for a busy threadpool."""
    session = service.db.session()
    try:
        yield session
    finally:
        session.close()


SessionDep = Annotated[Session, Depends(get_session)]


async def in_session(service: Service, fn: Callable[..., T], *args: Any) -> T:
    """``fn(session, *args)`` in the threadpool with a session opened and closed in that same call:
    one thread hop for the whole database work of an async endpoint, where ``SessionDep`` takes
    three (open, the work, close). For the cheap requests every client sends (run polls, budgets,
    quotes), so the hops saved add up under load (issue 14)."""

    def work() -> T:
        with service.db.session() as session:
            return fn(session, *args)

    return await run_in_threadpool(work)


@dataclass(frozen=True)
class Principal:
    """Who is asking. ``organisation_id`` is the organisation acted for (the key's own unless staff
    uses ``X-Act-For-Organisation``); both are recorded on runs and audit records."""

    key_id: str
    role: str
    key_organisation_id: str
    organisation_id: str

    @property
    def acting_for(self) -> bool:
        return self.organisation_id != self.key_organisation_id

    @property
    def actor(self) -> str:
        base = f"key:{self.key_id} ({self.role}, org:{self.key_organisation_id})"
        return f"{base} for org:{self.organisation_id}" if self.acting_for else base

    def visible_organisation(self) -> str | None:
        """The one organisation whose data this principal may see, or None for all (auditor, admin,
        staff not acting for anyone)."""
        if self.role == "customer" or self.acting_for:
            return self.organisation_id
        return None

    def may_see(self, organisation_id: str) -> bool:
        visible = self.visible_organisation()
        return visible is None or visible == organisation_id


async def get_principal(
    service: ServiceDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    api_key: Annotated[str | None, Depends(api_key_scheme)],
    act_for: Annotated[
        str | None,
        Header(
            alias="X-Act-For-Organisation",
            description="staff only: act for this customer organisation (recorded as both)",
            max_length=40,
        ),
    ] = None,
) -> Principal:
    key = bearer.credentials if bearer is not None else api_key
    if not key:
        raise Unauthorized("an API key is required: 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    digest = hash_api_key(key)
    if service.db.dialect == "sqlite":
        # one process: keys cached in it, token buckets in it
        found = service.key_cache.get(digest)
        if found is None:
            found = await run_db(service, _lookup_key, service, digest)
            if found is not None:
                service.key_cache.put(digest, found)
        wait = service.rate_limiter.take(found.organisation_id) if found is not None else 0.0
    else:
        # shared by every API process: the key and its organisation's bucket in one statement
        found, wait = await run_db(service, _lookup_key_and_take, service, digest)
    if found is None or not key_matches(key, found.key_hash):
        raise Unauthorized("the API key is not valid or has been revoked")
    if wait > 0:
        raise TooManyRequests(service.rate_limiter.retry_after_seconds(wait))
    organisation_id = found.organisation_id
    if act_for:
        if found.role not in ("staff", "admin"):
            raise Forbidden("only staff may act for another organisation")
        if not await run_db(service, _organisation_exists, service, act_for):
            raise NotFound(f"organisation {act_for} not found")
        organisation_id = act_for
    return Principal(
        key_id=found.id,
        role=found.role,
        key_organisation_id=found.organisation_id,
        organisation_id=organisation_id,
    )


def _lookup_key(service: Service, digest: str) -> CachedKey | None:
    with service.db.session() as session:
        row = session.execute(
            select(ApiKey).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
        ).scalar_one_or_none()
        if row is None:
            return None
        return CachedKey(id=row.id, role=row.role, organisation_id=row.organisation_id, key_hash=row.key_hash)


# The key's validity and its organisation's token bucket, in ONE autocommitted statement (one round
# trip, the bucket row locked only while it runs): the bucket refills at :rate tokens a second up to
# :burst by the database clock, and a request takes one token if there is one.
_KEY_AND_BUCKET = text(
    """
WITH key AS (
    SELECT id, role, organisation_id, key_hash FROM ss_api_keys
    WHERE key_hash = :digest AND revoked_at IS NULL
), clock AS (
    SELECT extract(epoch FROM clock_timestamp())::float8 AS now
), taken AS (
    INSERT INTO ss_rate_buckets AS b (organisation_id, tokens, refilled_at, allowed)
    SELECT key.organisation_id, CAST(:burst AS float8) - 1, clock.now, true FROM key, clock
    ON CONFLICT (organisation_id) DO UPDATE SET
        tokens = least(:burst, b.tokens + greatest(0, excluded.refilled_at - b.refilled_at) * :rate)
            - CASE WHEN least(:burst, b.tokens + greatest(0, excluded.refilled_at - b.refilled_at) * :rate)
                        >= 1 THEN 1 ELSE 0 END,
        allowed = least(:burst, b.tokens + greatest(0, excluded.refilled_at - b.refilled_at) * :rate) >= 1,
        refilled_at = excluded.refilled_at
    RETURNING b.organisation_id, b.tokens, b.allowed
)
SELECT key.id, key.role, key.organisation_id, key.key_hash, taken.tokens, taken.allowed
FROM key JOIN taken ON taken.organisation_id = key.organisation_id
"""
)


def _lookup_key_and_take(service: Service, digest: str) -> tuple[CachedKey | None, float]:
    """The valid key with this digest (or None), and the seconds until its organisation may send
    another request (0: this one is allowed)."""
    limiter = service.rate_limiter
    parameters = {"digest": digest, "rate": float(limiter.rate), "burst": float(limiter.burst)}
    for attempt in (1, 2):
        try:
            with service.auth_engine.connect() as connection:
                row = connection.execute(_KEY_AND_BUCKET, parameters).one_or_none()
            break
        except DBAPIError as error:
            # The auth pool does not ping each connection before use (a round trip on every
            # request); a connection the server closed (restart, idle timeout) fails here instead,
            # the pool drops it and its siblings, and the statement runs once more on a new one.
            if attempt == 2 or not error.connection_invalidated:
                raise
    if row is None:
        return None, 0.0
    found = CachedKey(id=row.id, role=row.role, organisation_id=row.organisation_id, key_hash=row.key_hash)
    return found, 0.0 if row.allowed else (1 - row.tokens) / limiter.rate


def _organisation_exists(service: Service, organisation_id: str) -> bool:
    with service.db.session() as session:
        return session.get(Organisation, organisation_id) is not None


CurrentPrincipal = Annotated[Principal, Depends(get_principal)]


def require_roles(*roles: str):
    async def check(principal: CurrentPrincipal) -> Principal:
        if principal.role not in roles:
            raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")
        return principal

    return check


# Roles that may spend an organisation's money or privacy budget: run, quote, order. Auditors review
# and verify; they never buy on an organisation's behalf.
BUYER_ROLES = ("customer", "staff", "admin")

AuditorPrincipal = Annotated[Principal, Depends(require_roles("auditor", "admin"))]
BuyerPrincipal = Annotated[Principal, Depends(require_roles(*BUYER_ROLES))]
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
StaffPrincipal = Annotated[Principal, Depends(require_roles("staff", "admin"))]


# --- query parameters -------------------------------------------------------------------------


def _query_names(dependant: Any) -> set[str]:
    """Query parameter names (as sent: aliases) of a dependant and of its dependencies."""
    names = {field.alias for field in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def declared_query_parameters(route: Any) -> tuple[str, ...]:
    """The query parameter names ``route`` declares, its dependencies' included, sorted. Not cached:
    the walk visits a handful of dependants, and routes are unhashable."""
    return tuple(sorted(_query_names(route.dependant)))


async def reject_unknown_query_parameters(request: Request) -> None:
    """A 422 naming every query parameter the route does not declare, and listing the ones it does.

    FastAPI ignores an undeclared parameter, so a misspelt or guessed one (``?q=`` where the route
    reads ``search``) silently answered as if no filter had been asked: the caller got every row and
    no hint. Applied to every route under /v1 (``app.create_app``)."""
    route = request.scope.get("route")
    if getattr(route, "dependant", None) is None:
        return
    known = declared_query_parameters(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if not unknown:
        return
    valid = f"one of: {', '.join(known)}" if known else "none: this endpoint takes no query parameters"
    raise Invalid(
        f"unknown query parameter{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}; {valid}",
        errors=[
            {"field": f"query:{name}", "message": "unknown query parameter", "valid": valid}
            for name in unknown
        ],
    )
