"""The machine-readable release report, with an auditor view and a customer view.

The customer view never distinguishes primary from secondary suppression, never shows audit
intervals, fingerprints or guard decisions, and contains no unprotected value.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

SuppressionReason = Literal["primary", "secondary", "differencing", "total_only"]


SUPPRESSION_ADVICE = (
    "To see suppressed cells: merge categories (wider age bands, several regions or years together), "
    "drop a breakdown, or widen the period; or ask with noise, which the privacy budget pays for."
)
TOTAL_ONLY_ADVICE = (
    "Only the total could be shown: a table with fewer cells (one breakdown instead of two) is "
    "more likely to be released whole."
)


class CellAudit(BaseModel):
    model_config = ConfigDict(frozen=True)

    table: int
    coordinates: list[str | int | None]
    fingerprint: str
    reason: SuppressionReason
    low: int
    high: int | None  # None: unbounded


class TableReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    title: str
    kind: str
    cells: int
    suppressed: int
    primary: int
    secondary: int
    differencing: int
    total_only: bool
    rounding_base: int | None
    derived_columns: list[str]
    fingerprints: list[str]  # per cell, in row order


class NoiseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    mechanism: str
    privacy_unit: str = "one person"
    scales: list[float]  # per table
    sensitivities: list[int]  # per table: noised cells one person can be in
    rho: float  # charged: the tables with at least one fresh draw
    epsilon: float | None
    draws_new: int
    draws_reused: int
    rho_upper_bound: float = 0.0  # every table charged, as the quote states ("up to")
    tables_charged: list[bool] = []  # per table: had a fresh draw, so was charged its rho


class GuardReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    comparisons: int
    hidden_within_release: int
    hidden_against_earlier: int


class AuditReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    passed: bool
    rounds: int
    audit_lps: int
    deviation_lps: int
    linked_earlier_tables: int
    cells: list[CellAudit]
    # Venn-atom audit over this release and every earlier exact count sharing persons with it.
    atoms: int = 0
    small_atoms: int = 0
    atom_lps: int = 0
    union_checks: int = 0  # unions of atoms the cutting-plane search had to judge with an LP
    earlier_counts: int = 0
    hidden_by_atom_audit: int = 0
    # Why the release was protected another way than asked (auditor only), e.g. keyed noise after
    # the audit across earlier releases passed its deadline.
    degraded: str | None = None


class ReleaseReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    policy_version: str
    data_version: str
    organisation_id: str
    threshold: int
    protection_width: int
    tables: list[TableReport]
    noise: NoiseReport | None
    rho_spent: float
    rho_organisation_after: float
    rho_global_after: float
    guard: GuardReport
    audit: AuditReport
    notes: list[str]

    def auditor_view(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    def customer_view(self) -> dict[str, Any]:
        return {
            "policy_version": self.policy_version,
            "data_version": self.data_version,
            "threshold": self.threshold,
            "tables": [
                {
                    "title": table.title,
                    "kind": table.kind,
                    "cells": table.cells,
                    "suppressed": table.suppressed,
                    "rounding_base": table.rounding_base,
                    "derived_columns": table.derived_columns,
                }
                for table in self.tables
            ],
            "noise": None
            if self.noise is None
            else {
                "mechanism": self.noise.mechanism,
                "privacy_unit": self.noise.privacy_unit,
                "scales": self.noise.scales,
                "rho": self.noise.rho,
                "epsilon": self.noise.epsilon,
            },
            "rho_spent": self.rho_spent,
            "notes": [
                f"Counts below {self.threshold} persons, and cells from which they could be recomputed, "
                "are shown as suppressed; suppressed cells are not distinguished by reason.",
                *self.notes,
            ],
            "advice": self.advice(),
        }

    def advice(self) -> list[str]:
        """What the customer can change to see more: from what the release shows (which cells are
        suppressed) and the policy, never from a hidden count."""
        advice: list[str] = []
        if any(table.suppressed for table in self.tables):
            advice.append(SUPPRESSION_ADVICE)
        if any(table.suppressed and table.total_only for table in self.tables):
            advice.append(TOTAL_ONLY_ADVICE)
        return advice
