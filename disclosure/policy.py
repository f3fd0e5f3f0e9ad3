"""The disclosure policy: named constants (ehrql style) and the versioned ``Policy`` built from them.

Every release records ``Policy.version``; change the version whenever a constant or a default
changes, so an auditor can tell which rules protected which release.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

POLICY_VERSION = "2026-11-25.1"

# Threshold: the minimum number of distinct persons behind any released count. SDS practice is <5;
# configuration may raise it (per register), never lower it.
MINIMUM_THRESHOLD = 5
DEFAULT_THRESHOLD = 5

# Rounding of released counts: none, or conventional rounding to a multiple of 5 (SDS, OpenSAFELY).
ALLOWED_ROUNDING_BASES = (None, 5)

# zCDP budgets (rho) per data version, as recommended in the reference policy §4.8.
RHO_PER_TABLE = 0.125
RHO_PER_ORGANISATION = 2.0
RHO_GLOBAL = 10.0

# Losses above these are allowed but warned about, as OpenDP warns for large epsilon.
LARGE_EPSILON = 5.0
LARGE_RHO = 1.0

# How many times the pipeline extends the secondary suppression after a failed audit before it
# falls back to releasing the grand total only.
MAX_SUPPRESSION_ROUNDS = 6

Mechanism = Literal["discrete_gaussian", "discrete_laplace"]


class DifferentialPrivacy(BaseModel):
    """Noise on integer counts through OpenDP; losses are charged to the ledgers as zCDP rho.

    Discrete Gaussian is parameterised by ``rho`` per table; discrete Laplace by ``epsilon`` per table
    (pure epsilon-DP implies epsilon²/2-zCDP, which is what the ledgers are charged).
    """

    model_config = ConfigDict(frozen=True)

    mechanism: Mechanism = "discrete_gaussian"
    rho: float | None = RHO_PER_TABLE
    epsilon: float | None = None

    @model_validator(mode="after")
    def _loss_matches_mechanism(self) -> DifferentialPrivacy:
        if self.mechanism == "discrete_gaussian":
            if self.rho is None or not (0 < self.rho < math.inf):
                raise ValueError("discrete_gaussian needs a finite rho > 0")
            if self.rho > LARGE_RHO:
                warnings.warn(
                    f"rho={self.rho} per table is large; privacy guarantees weaken quickly above {LARGE_RHO}",
                    stacklevel=2,
                )
        else:
            if self.epsilon is None or not (0 < self.epsilon < math.inf):
                raise ValueError("discrete_laplace needs a finite epsilon > 0")
            if self.epsilon > LARGE_EPSILON:
                warnings.warn(
                    f"epsilon={self.epsilon} per table is large; privacy guarantees weaken quickly "
                    f"above {LARGE_EPSILON}",
                    stacklevel=2,
                )
        return self

    def rho_charged(self) -> float:
        """The zCDP loss a table costs, whatever the mechanism."""
        if self.mechanism == "discrete_gaussian":
            assert self.rho is not None
            return self.rho
        assert self.epsilon is not None
        return self.epsilon**2 / 2


class Budgets(BaseModel):
    model_config = ConfigDict(frozen=True)

    rho_per_organisation: float = RHO_PER_ORGANISATION
    rho_global: float = RHO_GLOBAL

    @model_validator(mode="after")
    def _positive(self) -> Budgets:
        if self.rho_per_organisation <= 0 or self.rho_global <= 0:
            raise ValueError("budgets must be positive")
        return self


class Policy(BaseModel):
    """Versioned disclosure-control configuration. Build with ``Policy.default()`` and ``model_copy``."""

    model_config = ConfigDict(frozen=True)

    version: str = POLICY_VERSION
    default_threshold: int = DEFAULT_THRESHOLD
    register_thresholds: Mapping[str, int] = Field(default_factory=dict)
    # Zeros share the "<k" marker (and its protection); only these table kinds may print structural zeros.
    protect_zeros: bool = True
    rounding_base: int | None = None
    differential_privacy: DifferentialPrivacy | None = None
    budgets: Budgets = Budgets()
    protection_width: int | None = None  # None: w = k
    max_suppression_rounds: int = MAX_SUPPRESSION_ROUNDS

    @model_validator(mode="after")
    def _never_below_floor(self) -> Policy:
        thresholds = [self.default_threshold, *self.register_thresholds.values()]
        if min(thresholds) < MINIMUM_THRESHOLD:
            raise ValueError(f"thresholds may be raised, never set below {MINIMUM_THRESHOLD}")
        if self.rounding_base not in ALLOWED_ROUNDING_BASES:
            raise ValueError(f"rounding_base must be one of {ALLOWED_ROUNDING_BASES}")
        if self.protection_width is not None and self.protection_width < 1:
            raise ValueError("protection_width must be at least 1")
        if self.max_suppression_rounds < 1:
            raise ValueError("max_suppression_rounds must be at least 1")
        return self

    @classmethod
    def default(cls) -> Policy:
        return cls()

    def threshold_for(self, registers: Iterable[str]) -> int:
        """The strictest threshold of every register a query touches (never below the floor)."""
        return max(
            [MINIMUM_THRESHOLD, self.default_threshold]
            + [self.register_thresholds.get(register, self.default_threshold) for register in registers]
        )

    def width_for(self, threshold: int) -> int:
        """Protection width w: k by default; configuration may widen it, never narrow it below k."""
        return max(threshold, self.protection_width or threshold)
