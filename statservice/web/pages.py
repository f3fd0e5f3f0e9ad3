"""What every page shares: the templates, who is visiting (``Visitor``), the CSRF check, and the
pages for errors (403, sign in first)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from statservice.api.deps import Principal, ServiceDep, run_db
from statservice.service import Service
from statservice.web import session as web_session

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")  # autoescapes HTML


def money(amount: Any) -> str:
    """1072.5 or "1072.50" -> "1,072.50" (as Decimal: money is never a float)."""
    return f"{Decimal(str(amount)):,.2f}"


templates.env.filters["money"] = money

# The pages each role may open, in the navigation's order: (path, label, roles). The one list the
# navigation and the role checks are made from.
STAFF_ROLES = ("staff", "admin")
AUDITOR_ROLES = ("auditor", "admin")
BUYER_ROLES = ("customer", "staff", "admin")
NAVIGATION: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("/", "Cohort builder", BUYER_ROLES),
    ("/drafts", "Drafts", BUYER_ROLES),
    ("/history", "History", BUYER_ROLES),
    ("/invoices", "Invoices", BUYER_ROLES),
    ("/budget", "Budget", BUYER_ROLES),
    ("/staff", "Orders", STAFF_ROLES),
    ("/audit", "Audit log", AUDITOR_ROLES),
)


class PageError(Exception):
    """Answered with an HTML page of this status (``install_error_pages``)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


class SignInRequired(Exception):
    pass


@dataclass
class Visitor:
    """Who asks for a page: the principal when signed in, and the CSRF nonce of this browser."""

    service: Service
    principal: Principal | None
    nonce: str
    new_nonce: bool  # set the anonymous CSRF cookie with the response

    @property
    def csrf_token(self) -> str:
        return web_session.csrf_token(self.service, self.nonce)

    def navigation(self) -> list[tuple[str, str]]:
        if self.principal is None:
            return []
        return [(path, label) for path, label, roles in NAVIGATION if self.principal.role in roles]


async def get_visitor(request: Request, service: ServiceDep) -> Visitor:
    signed = web_session.decode_session(service, request.cookies.get(web_session.SESSION_COOKIE))
    principal = None
    if signed is not None:
        principal = await run_db(service, web_session.principal_of_key, service, signed.key_id)
    if signed is not None and principal is not None:
        return Visitor(service, principal, signed.nonce, new_nonce=False)
    nonce = request.cookies.get(web_session.CSRF_COOKIE)
    if nonce:
        return Visitor(service, None, nonce, new_nonce=False)
    return Visitor(service, None, web_session.new_nonce(), new_nonce=True)


VisitorDep = Annotated[Visitor, Depends(get_visitor)]


def page_roles(*roles: str):
    """A dependency: the signed-in principal if its role may open the page; a 403 page if not."""

    async def check(visitor: VisitorDep) -> Principal:
        if visitor.principal is None:
            raise SignInRequired()
        if visitor.principal.role not in roles:
            raise PageError(
                403,
                "Not for your role",
                f"This page is for {' or '.join(roles)} keys; you are signed in as {visitor.principal.role}.",
            )
        return visitor.principal

    return check


async def check_csrf(request: Request, visitor: VisitorDep) -> None:
    """Every state-changing request carries the token of this browser's nonce: in the form or, for
    htmx requests, in a header."""
    token = request.headers.get(web_session.CSRF_HEADER)
    if token is None:
        form = await request.form()
        value = form.get(web_session.CSRF_FIELD)
        token = value if isinstance(value, str) else None
    if not web_session.csrf_valid(visitor.service, visitor.nonce, token):
        raise PageError(
            403,
            "Form expired or not from this site",
            "The form's security token is missing or wrong, so nothing was done. Reload the page and "
            "send the form again.",
        )


CsrfChecked = Depends(check_csrf)


def secure_cookies(request: Request) -> bool:
    return request.url.scheme == "https"


def render(
    request: Request,
    visitor: Visitor,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
) -> HTMLResponse:
    response = templates.TemplateResponse(
        request,
        template,
        {"visitor": visitor, "csrf_token": visitor.csrf_token, **(context or {})},
        status_code=status,
    )
    if visitor.new_nonce:
        set_csrf_cookie(request, response, visitor.nonce)
    return response


def set_csrf_cookie(request: Request, response: Response, nonce: str) -> None:
    response.set_cookie(
        web_session.CSRF_COOKIE,
        nonce,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )


def install_error_pages(app: Any) -> None:
    @app.exception_handler(PageError)
    async def _page_error(request: Request, exc: PageError) -> HTMLResponse:
        visitor = await get_visitor(request, request.app.state.service)
        return render(
            request, visitor, "error.html", {"title": exc.title, "message": exc.message}, status=exc.status
        )

    @app.exception_handler(SignInRequired)
    async def _sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.headers.get("HX-Request"):  # htmx follows a redirect itself; send the whole page there
            return Response(status_code=204, headers={"HX-Redirect": "/sign-in"})
        return RedirectResponse("/sign-in", status_code=303)
