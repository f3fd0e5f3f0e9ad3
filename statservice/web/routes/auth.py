"""Sign in with an API key, sign out."""

from __future__ import annotations

import time

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from statservice.api.deps import ServiceDep, _lookup_key, run_db
from statservice.core.security import hash_api_key, key_matches
from statservice.web import session as web_session
from statservice.web.pages import NAVIGATION, CsrfChecked, VisitorDep, render, secure_cookies

router = APIRouter(include_in_schema=False)


def home_of(role: str) -> str:
    """The first page of the navigation this role may open."""
    return next((path for path, _label, roles in NAVIGATION if role in roles), "/sign-in")


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, visitor: VisitorDep) -> Response:
    if visitor.principal is not None:
        return RedirectResponse(home_of(visitor.principal.role), status_code=303)
    return render(request, visitor, "sign_in.html")


@router.post("/sign-in", response_class=HTMLResponse, dependencies=[CsrfChecked])
async def sign_in(
    request: Request, visitor: VisitorDep, service: ServiceDep, api_key: str = Form("", max_length=200)
) -> Response:
    key = api_key.strip()
    found = await run_db(service, _lookup_key, service, hash_api_key(key)) if key else None
    if found is None or not key_matches(key, found.key_hash):
        return render(
            request, visitor, "sign_in.html", {"error": "This API key is not valid or has been revoked."}, 401
        )
    signed = web_session.WebSession(
        key_id=found.id, nonce=web_session.new_nonce(), issued_at=int(time.time())
    )
    response = RedirectResponse(home_of(found.role), status_code=303)
    response.set_cookie(
        web_session.SESSION_COOKIE,
        web_session.encode_session(service, signed),
        max_age=web_session.SESSION_SECONDS,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )
    response.delete_cookie(web_session.CSRF_COOKIE, path="/")
    return response


@router.post("/sign-out", dependencies=[CsrfChecked])
async def sign_out() -> Response:
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(web_session.SESSION_COOKIE, path="/")
    return response
