"""Fair charging: which price a release pays, and how a quote states its privacy cost.

The price is chosen from what the release published (``release_outcome``: every cell suppressed, or
only the totals), which its customer sees anyway: never from a count. The privacy cost a quote states
is an upper bound: a table whose every noise draw was made for an earlier release costs no rho.
"""

from __future__ import annotations

from collections.abc import Sequence

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
