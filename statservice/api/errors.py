"""Exception handlers: every error, expected or not, is answered as application/problem+json."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from billing.errors import BillingError, IllegalTransition, TableTooLarge
from disclosure.errors import ReleaseRefused
from queries.errors import QueryValidationError
from queries.validation import field_path, joined_field
from statservice.api.middleware import SECURITY_HEADERS
from statservice.core.errors import (
    PROBLEM_BASE,
    STATUS_ERRORS,
    Conflict,
    Invalid,
    ReleaseRefusedError,
    StatserviceError,
    problem,
)

log = logging.getLogger("statservice.errors")
PROBLEM_MEDIA_TYPE = "application/problem+json"


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_MEDIA_TYPE

    def __init__(self, content: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> None:
        # Starlette answers an unexpected exception (500) outside every middleware, so the security
        # headers travel with each problem response too
        super().__init__(content, status_code=status_code, headers={**SECURITY_HEADERS, **(headers or {})})


def problem_response(
    request: Request,
    status: int,
    title: str,
    detail: str,
    type_: str,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> ProblemResponse:
    body = problem(status, title, detail, request.url.path, type_, errors)
    return ProblemResponse(body, status_code=status, headers=headers)


def from_error(request: Request, error: StatserviceError) -> ProblemResponse:
    return problem_response(
        request, error.status, error.title, error.detail, error.type, error.errors, error.headers
    )


def _valid_for(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    ctx = error.get("ctx") or {}
    if "valid" in ctx:  # our own validators say what is valid (queries.limits)
        return str(ctx["valid"])
    if kind == "missing":
        return "a value is required"
    if kind == "extra_forbidden":
        return "no such field; remove it"
    if kind in ("literal_error", "enum"):
        return f"one of {ctx.get('expected')}"
    if "union_tag" in kind:
        return f"a 'type'/'kind' discriminator, one of {ctx.get('expected_tags', ctx.get('expected'))}"
    if kind.startswith("date"):
        return "a date YYYY-MM-DD"
    for key, text in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<")):
        if key in ctx:
            kind_of_value = "a number" if isinstance(ctx[key], int | float) else "a value"
            return f"{kind_of_value} {text} {ctx[key]}"
    if "min_length" in ctx or "max_length" in ctx:
        return f"length between {ctx.get('min_length', 0)} and {ctx.get('max_length', 'unbounded')}"
    if kind.endswith("_type") or kind.endswith("_parsing"):
        return f"a value of type {kind.split('_')[0]}"
    return "see the OpenAPI schema of this field"


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    body = getattr(exc, "body", None)
    for error in exc.errors():
        loc = tuple(error.get("loc", ()))
        where = str(loc[0]) if loc else ""
        if where == "body":
            # the payload tells field names from pydantic's union tags (index.concept.codes)
            field = joined_field(field_path(loc[1:], body), error.get("ctx") or {})
        else:
            field = ".".join(str(part) for part in loc[1:])
            if where in ("query", "path", "header", "cookie") and field:
                field = f"{where}:{field}"
        out.append({"field": field, "message": str(error.get("msg", "invalid")), "valid": _valid_for(error)})
    return out


def error_of(exc: QueryValidationError | ReleaseRefused | BillingError) -> StatserviceError:
    """The service error a query, disclosure or billing exception is answered as: one mapping for the
    API's problem+json handlers and the web pages (``statservice.web``), which show the same message
    and field errors in words."""
    if isinstance(exc, QueryValidationError):
        errors = [
            {"field": p.get("field", ""), "message": p.get("message", ""), "valid": p.get("valid", "")}
            for p in exc.problems
        ]
        fields = ", ".join(e["field"] or "(query)" for e in errors[:5])
        return Invalid(f"the query cannot be run as written: {fields}", errors=errors)
    if isinstance(exc, ReleaseRefused):
        return ReleaseRefusedError(exc.message)
    cls = STATUS_ERRORS.get(exc.http_status, Conflict)
    field_errors: list[dict[str, str]] | None = None
    if isinstance(exc, IllegalTransition):  # the current state and where it may go, machine-readable
        field_errors = [
            {
                "field": "state",
                "message": f"the order is {exc.current}; it cannot become {exc.requested}",
                "valid": ", ".join(exc.allowed) if exc.allowed else "none (final state)",
            }
        ]
    elif isinstance(exc, TableTooLarge):  # the result asks for more cells than can be priced
        field_errors = [
            {
                "field": "result",
                "message": f"the result has {exc.cells} cells, margins included",
                "valid": f"at most {exc.max_cells} cells for {exc.result_kind}: fewer breakdowns, "
                "wider categories or fewer years; or order bespoke work",
            }
        ]
    elif exc.field is not None:
        field_errors = [{"field": exc.field, "message": exc.message, "valid": exc.valid or ""}]
    error = cls(exc.message, errors=field_errors)
    error.status = exc.http_status  # billing's own status, under the title of the nearest known one
    return error


def install(app: FastAPI) -> None:
    @app.exception_handler(StatserviceError)
    async def _statservice_error(request: Request, exc: StatserviceError):
        return from_error(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError):
        errors = validation_errors(exc)
        fields = ", ".join(e["field"] or "(body)" for e in errors[:5])
        return from_error(request, Invalid(f"the request is not valid: {fields}", errors=errors))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException):
        cls = STATUS_ERRORS.get(exc.status_code)
        title = cls.title if cls else "Error"
        slug = cls.slug if cls else "error"
        detail = exc.detail if isinstance(exc.detail, str) else title
        if exc.status_code == 404 and detail == "Not Found":
            detail = "no such resource"
        return problem_response(
            request,
            exc.status_code,
            title,
            detail,
            PROBLEM_BASE + slug,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(QueryValidationError)
    @app.exception_handler(ReleaseRefused)
    @app.exception_handler(BillingError)
    async def _package_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, QueryValidationError | ReleaseRefused | BillingError)  # the handlers above
        return from_error(request, error_of(exc))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception):
        log.error("unexpected error on %s %s: %s", request.method, request.url.path, type(exc).__name__)
        return problem_response(
            request,
            500,
            "Internal server error",
            "an unexpected error occurred; it has been logged",
            PROBLEM_BASE + "internal",
        )
