"""Refusals. Messages are fixed texts: they never depend on a count, a size or a value."""

from __future__ import annotations

BUDGET_EXCEEDED_MESSAGE = "The privacy budget for this data version does not allow this release."
CONCURRENT_DIFFERENCE_MESSAGE = "This request conflicts with a release made at the same time; please retry."
NOT_PROTECTABLE_MESSAGE = "This table cannot be released without disclosing small groups of persons."


class ReleaseRefused(Exception):
    """Nothing of the request may be released; ``message`` is safe to show to the customer."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BudgetExceeded(ReleaseRefused):
    """The release would exceed the organisation's or the global privacy budget of this data version."""


class InvalidTable(ValueError):
    """An ``AggregateTable`` breaks the input contract (an engine bug, not the customer's fault)."""
