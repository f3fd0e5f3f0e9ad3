"""Billing's exceptions. Each carries the HTTP status the service maps it to (problem+json)."""

from __future__ import annotations


class BillingError(Exception):
    """Base class. ``http_status``: 404 not found, 409 conflict with current state, 422 invalid input.

    ``field`` names the input at fault (as the request names it, e.g. ``issue_date``, ``cvr``) and
    ``valid`` says what would be accepted, when one input is to blame.
    """

    http_status = 400

    def __init__(self, message: str, *, field: str | None = None, valid: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.valid = valid


class NotFound(BillingError):
    http_status = 404

    def __init__(self, kind: str, identifier: object, hint: str | None = None) -> None:
        super().__init__(f"{kind} {identifier!s} not found" + (f"; {hint}" if hint else ""))
        self.kind = kind
        self.identifier = identifier


class InvalidBillingInput(BillingError):
    """A price list, segment, shape, amount or date that makes no sense."""

    http_status = 422


class TableTooLarge(InvalidBillingInput):
    """A result with more cells than the price list's largest band: no automatic price, bespoke work."""

    def __init__(self, result_kind: str, cells: int, max_cells: int) -> None:
        super().__init__(
            f"a table of {cells} cells ({result_kind}) is larger than the largest priced band "
            f"({max_cells} cells); order bespoke work instead"
        )
        self.result_kind = result_kind
        self.cells = cells
        self.max_cells = max_cells


class UnknownSegment(InvalidBillingInput):
    def __init__(self, segment: str, known: list[str]) -> None:
        super().__init__(f"unknown customer segment {segment!r}; known segments: {', '.join(known)}")
        self.segment = segment
        self.known = known


class Conflict(BillingError):
    """The request is valid but conflicts with the current state."""

    http_status = 409


class QuoteExpired(Conflict):
    pass


class QuoteAlreadyUsed(Conflict):
    pass


class QuoteMismatch(Conflict):
    """The quote was for another organisation, query shape or segment than the run it is used for."""


class AlreadyInvoiced(Conflict):
    """An issued invoice (and its lines) is immutable; correct it with a credit note."""


class IllegalTransition(Conflict):
    """An order cannot move from its current state to the requested one."""

    def __init__(self, order_id: str, current: str, requested: str, allowed: list[str]) -> None:
        allowed_text = ", ".join(allowed) if allowed else "none (final state)"
        super().__init__(
            f"order {order_id} is {current}; it cannot become {requested}. "
            f"Allowed from {current}: {allowed_text}"
        )
        self.order_id = order_id
        self.current = current
        self.requested = requested
        self.allowed = allowed
