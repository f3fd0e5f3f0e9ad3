"""Budgets for tests of what happens when noise cannot be paid: a configuration, not a stand-in."""

from __future__ import annotations

from typing import Any

from disclosure.policy import DEGRADED_RHO_PER_TABLE, Budgets


def without_degraded_budget(**budgets: Any) -> Budgets:
    """Budgets whose degraded ledgers (organisation and global) cannot pay one table of the degraded
    noise, so a release that would fall back to it is refused instead; ``budgets`` sets the others."""
    return Budgets(
        rho_degraded_per_organisation=DEGRADED_RHO_PER_TABLE / 2,
        rho_degraded_global=DEGRADED_RHO_PER_TABLE / 2,
        **budgets,
    )
