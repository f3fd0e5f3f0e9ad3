"""ASGI middleware: request body size limit (413 as problem+json before the app reads the body), the
input guard (NUL characters and non-finite numbers are refused with a 422 naming the field), and the
security headers of every response."""

from __future__ import annotations

import json
import math
from typing import Any
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statservice.core.errors import Invalid, PayloadTooLarge, StatserviceError, problem


async def send_problem(scope: Scope, send: Send, error: StatserviceError, close: bool = False) -> None:
    """Answer ``error`` as problem+json before the app has seen the request."""
    document = problem(
        error.status, error.title, error.detail, scope.get("path", ""), error.type, error.errors
    )
    body = json.dumps(document).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _reject(self, scope: Scope, send: Send) -> None:
        error = PayloadTooLarge(f"the request body exceeds {self.max_bytes} bytes")
        await send_problem(scope, send, error, close=True)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > self.max_bytes:
                    await self._reject(scope, send)
                    return
        received = 0
        started = False
        rejected = False

        async def limited_receive() -> Message:
            # A body without Content-Length (chunked) is counted as it arrives; past the limit the
            # client gets the 413 at once and the app sees a disconnect (so it stops reading).
            nonlocal received, rejected
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not started:
                        await self._reject(scope, send)
                    return {"type": "http.disconnect"}
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if rejected:
                return  # the 413 is the answer; the app's own reply to the disconnect is dropped
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, limited_receive, tracking_send)


NUL = "\x00"
NO_NUL = "text without NUL characters (U+0000)"
# Bodies up to this size are checked on the event loop (well under a millisecond); larger ones in
# the threadpool, so a body of the maximum size never holds up other requests.
INLINE_CHECK_BYTES = 16 * 1024


def _problem(field: str, message: str, valid: str) -> dict[str, str]:
    return {"field": field, "message": message, "valid": valid}


def url_problems(scope: Scope) -> list[dict[str, str]]:
    """NUL characters in the path (ids) or in query parameters (names or values)."""
    problems = []
    if NUL in scope.get("path", ""):
        problems.append(_problem("path", "the path contains a NUL character", NO_NUL))
    query_string = scope.get("query_string", b"").decode("latin-1")
    for name, value in parse_qsl(query_string, keep_blank_values=True):
        if NUL in name or NUL in value:
            field = "query:" + name.replace(NUL, "\\u0000")
            problems.append(_problem(field, "the parameter contains a NUL character", NO_NUL))
    return problems


def form_problems(body: bytes) -> list[dict[str, str]]:
    """NUL characters in the fields (names or values) of an HTML form's urlencoded body (the pages)."""
    problems = []
    for name, value in parse_qsl(body.decode("utf-8", errors="replace"), keep_blank_values=True):
        if NUL in name or NUL in value:
            field = name.replace(NUL, "\\u0000")
            problems.append(_problem(field, "the field contains a NUL character", NO_NUL))
    return problems[:10]


def body_problems(body: bytes) -> list[dict[str, str]]:
    """NUL characters in strings (values or keys) and numbers that are not finite (NaN, Infinity, or
    too large for a float like 1e999) anywhere in a JSON body, at most ten. A body that is not JSON
    is left to the endpoint, which answers it with its own 400 or 422."""
    try:
        document = json.loads(body)  # NaN and Infinity become float("nan") and float("inf")
    except (ValueError, RecursionError):
        return []
    problems: list[dict[str, str]] = []
    stack: list[tuple[Any, str]] = [(document, "")]
    while stack and len(problems) < 10:  # iterative: deep nesting cannot exhaust the stack here
        node, path = stack.pop()
        if isinstance(node, str) and NUL in node:
            problems.append(_problem(path or "(body)", "the text contains a NUL character", NO_NUL))
        elif isinstance(node, float) and not math.isfinite(node):
            problems.append(_problem(path or "(body)", f"{node} is not a finite number", "a finite number"))
        elif isinstance(node, dict):
            for key, child in node.items():
                child_path = f"{path}.{key}" if path else str(key)
                if NUL in key:
                    field = child_path.replace(NUL, "\\u0000")
                    problems.append(_problem(field, "the field name contains a NUL character", NO_NUL))
                stack.append((child, child_path))
        elif isinstance(node, list):
            stack.extend((child, f"{path}.{i}" if path else str(i)) for i, child in enumerate(node))
    return sorted(problems, key=lambda p: p["field"])


class InputGuard:
    """One place for what no field of any request may hold: NUL characters (PostgreSQL text cannot
    store them; they gave 500s in a dozen places) in path, query parameters, JSON or form bodies, and
    non-finite JSON numbers. Refused with a 422 problem naming each field, before any endpoint runs.
    Runs inside ``BodySizeLimit``, so the body it reads is already bounded."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = url_problems(scope)
        if problems:
            await self._reject(scope, send, problems)
            return
        if scope.get("method") not in ("POST", "PUT", "PATCH"):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                # the client went away, or the size limit answered 413: the app never sees a
                # truncated body (which might even parse)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body:
            check = form_problems if _is_form(scope) else body_problems
            if len(body) <= INLINE_CHECK_BYTES:
                problems = check(body)
            else:
                problems = await run_in_threadpool(check, body)
            if problems:
                await self._reject(scope, send, problems)
                return
        await self.app(scope, _replay(body, receive), send)

    @staticmethod
    async def _reject(scope: Scope, send: Send, problems: list[dict[str, str]]) -> None:
        fields = ", ".join(p["field"] for p in problems[:5])
        await send_problem(scope, send, Invalid(f"the request is not valid: {fields}", errors=problems))


def _is_form(scope: Scope) -> bool:
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/x-www-form-urlencoded"
    return False


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that hands the app the body already read, then whatever the client sends next."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


# Every response, errors included: no MIME sniffing (a JSON body is never run as HTML or script), no
# caching (answers carry organisation data and keys; a shared cache or the browser's disk must not
# keep them), no Referer leaking /v1 paths with identifiers, and no framing (clickjacking of /docs).
CSP = "Content-Security-Policy"
SECURITY_HEADERS: dict[str, str] = {
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    CSP: "frame-ancestors 'none'",
}
# What may be cached, by path prefix (answers below 400 only): the documentation's own script and
# style files are the installed package's, the same for everyone; the public statistics carry no
# organisation's data and revalidate by their entity tag (statservice.api.routes.public).
CACHEABLE_PREFIX = "/docs-assets/"
CACHEABLE_CONTROL = "public, max-age=86400"
PUBLIC_STATISTICS_PREFIX = "/v1/public/"
PUBLIC_STATISTICS_CONTROL = "public, max-age=300, must-revalidate"
PUBLIC_PAGES_PREFIX = "/public/"  # the same statistics as pages (statservice.web.routes.public)
CACHE_CONTROL_BY_PREFIX = {
    CACHEABLE_PREFIX: CACHEABLE_CONTROL,
    PUBLIC_STATISTICS_PREFIX: PUBLIC_STATISTICS_CONTROL,
    PUBLIC_PAGES_PREFIX: PUBLIC_STATISTICS_CONTROL,
}


def cache_control_of(path: str) -> str | None:
    """The Cache-Control of a path under one of ``CACHE_CONTROL_BY_PREFIX`` (a prefix ``/x/`` also
    covers ``/x`` itself); None: not cacheable."""
    return next(
        (
            control
            for prefix, control in CACHE_CONTROL_BY_PREFIX.items()
            if path.startswith(prefix) or path == prefix.rstrip("/")
        ),
        None,
    )


class SecurityHeaders:
    """Sets ``SECURITY_HEADERS`` on every HTTP response that passes through it (outermost of ours, so
    the body size limit's 413 gets them too; problem responses for 500s carry them themselves)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        cacheable = cache_control_of(path)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in SECURITY_HEADERS.items():
                    if name == CSP and name in headers:  # a page's own policy (docs.DOCS_CSP) is kept,
                        if value not in headers[name]:  # never without the framing rule
                            headers[name] = f"{headers[name]}; {value}"
                        continue
                    headers[name] = value
                if cacheable and message["status"] < 400:
                    headers["Cache-Control"] = cacheable
            await send(message)

        await self.app(scope, receive, with_headers)
