"""Fair charging: which price a release pays, and how a quote states its privacy cost.

The price is chosen from what the release published (``release_outcome``: every cell suppressed, or
only the totals), which its customer sees anyway: never from a count. The privacy cost a quote states
is an upper bound: a table whose every noise draw was made for an earlier release costs no rho. A
quote also says up front what would refuse the run (``refusal_warnings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from billing.pricing import ReleaseOutcome
from billing.pricing import release_outcome as outcome_of_pattern
from disclosure.release import ProtectedTable


def release_outcome(tables: Sequence[ProtectedTable]) -> ReleaseOutcome:
    """Full, total only or fully suppressed, from which cells of the protected tables are suppressed."""
    return outcome_of_pattern(
        [(all(coordinate is None for coordinate in row.coordinates), row.suppressed) for row in table.rows]
        for table in tables
    )


def privacy_cost_note(rho: float) -> str:
    if rho <= 0:
        return "no differential-privacy noise: the run spends no privacy budget"
    return (
        f"up to rho {rho:g}: each table that draws fresh noise is charged; a table whose persons were "
        "all asked about before reuses the stored draws and costs nothing"
    )


# Refusals a quote can foresee from the query, the policy and the budgets alone (never from a count).
# Rounding bases and shape limits are not among them: a query breaking those is a 422 at the quote.
QuoteWarningCode = Literal[
    "privacy_budget_exhausted",
    "global_privacy_budget_exhausted",
    "noise_fallback_unaffordable",
    "exact_capacity_used",
]
BUDGET_EXHAUSTED: QuoteWarningCode = "privacy_budget_exhausted"
GLOBAL_BUDGET_EXHAUSTED: QuoteWarningCode = "global_privacy_budget_exhausted"
NOISE_FALLBACK_UNAFFORDABLE: QuoteWarningCode = "noise_fallback_unaffordable"
EXACT_CAPACITY_USED: QuoteWarningCode = "exact_capacity_used"
_CANNOT_PAY = " The degraded budget cannot pay for it: the run would be refused (not charged)."
# What protect() tolerates when it compares spent + cost with a budget.
_BUDGET_TOLERANCE = 1e-12


@dataclass(frozen=True)
class QuoteWarning:
    code: QuoteWarningCode
    refuses: bool  # True: the run would be refused (as far as a quote can tell); False: it might be
    field: str | None  # the query field to change, if one would help
    message: str


def refusal_warnings(
    rho: float,
    fallback_rho: float,
    organisation_remaining: float,
    global_remaining: float,
    asked_before: bool,
    past_exact_capacity: bool = False,
    degraded_remaining: float | None = None,
) -> list[QuoteWarning]:
    """What would refuse (or might refuse) a run quoted at privacy cost ``rho``.

    ``organisation_remaining`` and ``global_remaining`` are what the ledgers of asked noise have left.
    ``fallback_rho`` is what the degraded noise costs that a run gets instead of exact counts (the data
    version's exact capacity used, ``past_exact_capacity``, or its audit past its deadline) or instead
    of noise asked for that its ledgers cannot pay; ``degraded_remaining`` is what the smaller of the
    two degraded ledgers has left. ``asked_before``: the organisation has released this question (with
    noise) on this data version, so its stored draws make it free.
    """
    degraded_left = (
        min(organisation_remaining, global_remaining) if degraded_remaining is None else degraded_remaining
    )
    unaffordable = fallback_rho > degraded_left + _BUDGET_TOLERANCE
    instead = (
        _CANNOT_PAY
        if unaffordable
        else f" The run would be answered with the wider degraded noise instead (rho {fallback_rho:g} per "
        "table, from the degraded privacy budget)."
    )
    warnings: list[QuoteWarning] = []
    if rho > 0 and not asked_before:
        if rho > organisation_remaining + _BUDGET_TOLERANCE:
            warnings.append(
                QuoteWarning(
                    BUDGET_EXHAUSTED,
                    unaffordable,
                    "disclosure.noise",
                    "Your organisation's privacy budget for this data version cannot pay for this "
                    "query's noise, unless every table's persons were asked about with noise before."
                    + instead,
                )
            )
        elif rho > global_remaining + _BUDGET_TOLERANCE:
            warnings.append(
                QuoteWarning(
                    GLOBAL_BUDGET_EXHAUSTED,
                    unaffordable,
                    "disclosure.noise",
                    "The service's privacy budget for this data version cannot pay for this query's "
                    "noise, unless every table's persons were asked about with noise before." + instead,
                )
            )
    if rho == 0 and past_exact_capacity:
        warnings.append(
            QuoteWarning(
                EXACT_CAPACITY_USED,
                unaffordable,
                None,
                "This data version has released as many exact counts as its audit across releases may "
                "hold: this question would be answered with keyed differential-privacy noise (rho "
                f"{fallback_rho:g} per table, charged to the degraded privacy budget), not with exact "
                "counts." + (_CANNOT_PAY if unaffordable else ""),
            )
        )
    elif rho == 0 and unaffordable:
        warnings.append(
            QuoteWarning(
                NOISE_FALLBACK_UNAFFORDABLE,
                False,
                None,
                "The privacy budget for this data version cannot pay for noise: should the audit "
                "against earlier releases not finish in time, the release could not fall back to "
                "noise and the run would be refused (not charged).",
            )
        )
    return warnings
