"""Refusals. Messages are fixed texts: they never depend on a count, a size or a value."""

from __future__ import annotations

BUDGET_EXCEEDED_MESSAGE = "The privacy budget for this data version does not allow this release."
CONCURRENT_DIFFERENCE_MESSAGE = "This request conflicts with a release made at the same time; please retry."
NOT_PROTECTABLE_MESSAGE = "This table cannot be released without disclosing small groups of persons."
# What a customer can change after a refusal: the same words whatever the counts were.
REFUSAL_ADVICE = (
    "Ask for fewer breakdowns or coarser categories (wider age bands, several regions or years "
    "together), a longer period, or the cohort total only; or ask with noise "
    '(`"disclosure": {"noise": "gaussian"}`), which the privacy budget pays for.'
)


class ReleaseRefused(Exception):
    """Nothing of the request may be released; ``message`` is safe to show to the customer.

    ``reason`` says which rule refused, for the auditor only (the audit log): it may name a step of
    the audit, never a count. ``advice`` says what the customer can change; like ``message`` it
    depends only on the question's shape and the policy.
    """

    def __init__(self, message: str, reason: str | None = None, advice: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason or message
        self.advice = advice or REFUSAL_ADVICE


class BudgetExceeded(ReleaseRefused):
    """The release would exceed the organisation's or the global privacy budget of this data version."""


class InvalidTable(ValueError):
    """An ``AggregateTable`` breaks the input contract (an engine bug, not the customer's fault)."""
