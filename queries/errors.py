"""Errors a customer can act on: every problem names the field and what would be valid."""

from __future__ import annotations

from typing import TypedDict


class Problem(TypedDict):
    field: str  # dotted path into the query JSON, e.g. "criteria.0.window.start"
    message: str
    valid: str  # what would be accepted there


class QueryValidationError(ValueError):
    """The query cannot be run as written; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        summary = "; ".join(f"{p['field'] or '(query)'}: {p['message']}" for p in self.problems)
        super().__init__(f"invalid query: {summary}")


def problem(field: str, message: str, valid: str) -> Problem:
    return {"field": field, "message": message, "valid": valid}
