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
_NO_NOISE = '(`"disclosure": {"noise": "none"}`)'
_CANNOT_PAY = " The budget cannot pay for it: the run would be refused (not charged)."
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
) -> list[QuoteWarning]:
    """What would refuse (or might refuse) a run quoted at privacy cost ``rho``.

    ``fallback_rho`` is what the noise costs that an exact release gets instead of exact counts (when
    the data version's exact capacity is used, ``past_exact_capacity``, or its audit across earlier
    releases runs out of time). ``asked_before``: the organisation has released this question (with
    noise) on this data version, so its stored draws make it free.
    """
    warnings: list[QuoteWarning] = []
    if rho > 0 and not asked_before:
        if rho > organisation_remaining + _BUDGET_TOLERANCE:
            warnings.append(
                QuoteWarning(
                    BUDGET_EXHAUSTED,
                    True,
                    "disclosure.noise",
                    "Your organisation's privacy budget for this data version cannot pay for this "
                    "query's noise: the run would be refused, and not charged, unless every table's "
                    f"persons were asked about with noise before. Ask without noise {_NO_NOISE}.",
                )
            )
        elif rho > global_remaining + _BUDGET_TOLERANCE:
            warnings.append(
                QuoteWarning(
                    GLOBAL_BUDGET_EXHAUSTED,
                    True,
                    "disclosure.noise",
                    "The service's privacy budget for this data version cannot pay for this query's "
                    "noise: the run would be refused, and not charged, unless every table's persons "
                    f"were asked about with noise before. Ask without noise {_NO_NOISE}.",
                )
            )
    unaffordable = fallback_rho > min(organisation_remaining, global_remaining) + _BUDGET_TOLERANCE
    if rho == 0 and past_exact_capacity:
        warnings.append(
            QuoteWarning(
                EXACT_CAPACITY_USED,
                unaffordable,
                None,
                "This data version has released as many exact counts as its audit across releases may "
                "hold: this question would be answered with keyed differential-privacy noise (rho "
                f"{fallback_rho:g} per table, charged to the privacy budget), not with exact counts."
                + (_CANNOT_PAY if unaffordable else ""),
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
