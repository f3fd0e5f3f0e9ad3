"""One exception base carrying its HTTP status; every error leaves the service as RFC 9457 problem+json."""

from __future__ import annotations

from typing import Any

PROBLEM_BASE = "https://statservice.example/problems/"


class StatserviceError(Exception):
    status = 500
    title = "Internal server error"
    slug = "internal"

    def __init__(
        self,
        detail: str | None = None,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.errors = errors or []
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return PROBLEM_BASE + self.slug


class BadRequest(StatserviceError):
    status, title, slug = 400, "Bad request", "bad-request"


class Unauthorized(StatserviceError):
    status, title, slug = 401, "Unauthorized", "unauthorized"

    def __init__(self, detail: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="statservice"'})
        super().__init__(detail, **kwargs)


class Forbidden(StatserviceError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(StatserviceError):
    status, title, slug = 404, "Not found", "not-found"


class MethodNotAllowed(StatserviceError):
    status, title, slug = 405, "Method not allowed", "method-not-allowed"


class NotAcceptable(StatserviceError):
    status, title, slug = 406, "Not acceptable", "not-acceptable"


class Conflict(StatserviceError):
    status, title, slug = 409, "Conflict", "conflict"


class ReleaseRefusedError(Conflict):
    title, slug = "Release refused", "release-refused"


class BudgetExhausted(Conflict):
    title, slug = "Privacy budget exhausted", "budget-exhausted"


class PayloadTooLarge(StatserviceError):
    status, title, slug = 413, "Request body too large", "payload-too-large"


class UnsupportedMediaType(StatserviceError):
    status, title, slug = 415, "Unsupported media type", "unsupported-media-type"


class Invalid(StatserviceError):
    status, title, slug = 422, "Invalid request", "invalid"


class TooManyRequests(StatserviceError):
    status, title, slug = 429, "Too many requests", "rate-limited"

    def __init__(self, retry_after: int, detail: str | None = None) -> None:
        super().__init__(
            detail or f"rate limit exceeded; retry after {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )
        self.retry_after = retry_after


class ServiceUnavailable(StatserviceError):
    status, title, slug = 503, "Service unavailable", "unavailable"


STATUS_ERRORS: dict[int, type[StatserviceError]] = {
    cls.status: cls
    for cls in (
        BadRequest,
        Unauthorized,
        Forbidden,
        NotFound,
        MethodNotAllowed,
        NotAcceptable,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        Invalid,
        TooManyRequests,
        ServiceUnavailable,
    )
}


def problem(
    status: int,
    title: str,
    detail: str,
    instance: str,
    type_: str | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    return {
        "type": type_ or "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        "errors": errors or [],
    }
