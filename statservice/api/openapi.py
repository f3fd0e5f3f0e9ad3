"""OpenAPI helpers: the problem+json error responses every route documents."""

from __future__ import annotations

from typing import Any

PROBLEM_MEDIA_TYPE = "application/problem+json"

FIELD_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["field", "message", "valid"],
    "properties": {
        "field": {"type": "string", "description": "dotted path of the offending field"},
        "message": {"type": "string"},
        "valid": {"type": "string", "description": "what would be accepted there"},
    },
}

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details",
    "type": "object",
    "required": ["type", "title", "status", "detail", "instance", "errors"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": FIELD_ERROR_SCHEMA},
    },
}

DESCRIPTIONS = {
    400: "Malformed request (e.g. a body that cannot be parsed)",
    401: "Missing, invalid or revoked API key",
    403: "The key's role may not do this",
    404: "No such resource (or not visible to this organisation)",
    405: "Method not allowed",
    406: "Unsupported result format",
    409: "Conflict, e.g. the release was refused by disclosure control or the budget is exhausted",
    413: "Request body too large",
    422: "Invalid request: each error names the field and what is valid",
    429: "Rate limited: see Retry-After",
    500: "Unexpected error (no internals are revealed)",
    503: "Temporarily unavailable (e.g. no register extract loaded)",
}

COMMON = (400, 401, 403, 404, 405, 413, 422, 429, 500)


def problems(*codes: int) -> dict[int | str, dict[str, Any]]:
    headers = {"Retry-After": {"schema": {"type": "integer"}, "description": "seconds"}}
    out: dict[int | str, dict[str, Any]] = {}
    for code in sorted(set(COMMON) | set(codes)):
        out[code] = {
            "description": DESCRIPTIONS[code],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        if code == 429:
            out[code]["headers"] = headers
    return out
