"""Who is signed in to the pages, and the CSRF token of every form.

A person signs in once with an API key; the browser then holds a session cookie (HttpOnly, so no
script reads it; SameSite=Strict, so no other site's page sends it) that names the key by its id,
never the key itself, signed with a key derived from ``STATSERVICE_SECRET_KEY`` (which the settings
refuse when weak outside development). Each request looks the key up again, so a revoked key signs
its sessions out at once.

CSRF: every form and every htmx request carries a token that is an HMAC of a random nonce the
browser holds in a cookie (the session's own nonce once signed in): a page of another site can
neither read the token nor set the cookie, so a forged form is refused with a 403 page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import select

from statservice.api.deps import Principal
from statservice.db.models import ApiKey
from statservice.service import Service

SESSION_COOKIE = "statservice_session"
CSRF_COOKIE = "statservice_csrf"  # before signing in: the sign-in form's nonce
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 8 * 3600  # a working day; then sign in again


def _signing_key(service: Service) -> bytes:
    """A key of its own for cookies, derived from the secret key (domain-separated: a cookie's MAC
    can never be a person-set fingerprint, and the other way round)."""
    secret = service.settings.secret_key.get_secret_value().encode()
    return hmac.new(secret, b"statservice web session cookies v1", hashlib.sha256).digest()


def _mac(service: Service, message: bytes) -> str:
    digest = hmac.new(_signing_key(service), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def new_nonce() -> str:
    return secrets.token_urlsafe(24)


def csrf_token(service: Service, nonce: str) -> str:
    return _mac(service, b"csrf|" + nonce.encode())


def csrf_valid(service: Service, nonce: str | None, token: str | None) -> bool:
    if not nonce or not token:
        return False
    return hmac.compare_digest(csrf_token(service, nonce), token)


@dataclass(frozen=True)
class WebSession:
    key_id: str
    nonce: str  # the CSRF nonce of this session
    issued_at: int


def encode_session(service: Service, session: WebSession) -> str:
    payload = json.dumps({"k": session.key_id, "n": session.nonce, "t": session.issued_at}).encode()
    body = base64.urlsafe_b64encode(payload).decode().rstrip("=")
    return f"{body}.{_mac(service, b'session|' + body.encode())}"


def decode_session(service: Service, cookie: str | None, now: float | None = None) -> WebSession | None:
    """The session a cookie holds, or None if it is missing, forged, malformed or expired."""
    if not cookie or cookie.count(".") != 1:
        return None
    body, mac = cookie.split(".")
    if not hmac.compare_digest(_mac(service, b"session|" + body.encode()), mac):
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        session = WebSession(key_id=str(payload["k"]), nonce=str(payload["n"]), issued_at=int(payload["t"]))
    except (ValueError, KeyError, TypeError):
        return None
    if (now if now is not None else time.time()) - session.issued_at > SESSION_SECONDS:
        return None
    return session


def principal_of_key(service: Service, key_id: str) -> Principal | None:
    """The principal of a key that is still valid (None once revoked). Pages act for the key's own
    organisation."""
    with service.db.session() as db:
        row = db.execute(
            select(ApiKey).where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
        ).scalar_one_or_none()
        if row is None:
            return None
        return Principal(
            key_id=row.id,
            role=row.role,
            key_organisation_id=row.organisation_id,
            organisation_id=row.organisation_id,
        )
