"""The disclosure policy, in one place: every constant that changes what gets released, and the
versioned ``Policy`` built from them.

Every release records ``Policy.version``. Change ``POLICY_VERSION`` whenever a release rule below or
a ``Policy()`` default changes, so an auditor can tell which rules protected which release;
``POLICY_FINGERPRINT`` is the SHA-256 of those values (``policy_fingerprint()``), and a test fails
until both are updated together. ``docs/disclosure-rules.md`` is generated from this module
(``python -m disclosure.rules``).

A constant belongs here when changing it can change a release for some input: a rule's number, or
a limit on the audits' work or time (past a limit an audit fails closed, so a limit changes which
releases are refused or how much is hidden). Numerical tolerances, hash seeds and lookup-table
tuning stay beside the code they tune: they change no decision.
"""

from __future__ import annotations

import hashlib
import json
import math
import warnings
from collections.abc import Iterable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# One line each, so a bump is a one-line change (the fingerprint is checked by a test).
POLICY_VERSION = "2026-12-07.4"
POLICY_FINGERPRINT = "828ecb777611191b827ed62368be756cad21c24dc532583689e99516fe9a0180"

# --- threshold ------------------------------------------------------------------------------------
# Threshold: the minimum number of distinct persons behind any released count. SDS practice is <5;
# configuration may raise it (per register), never lower it.
MINIMUM_THRESHOLD = 5
DEFAULT_THRESHOLD = 5

# --- rounding -------------------------------------------------------------------------------------
# Rounding of released counts: none, or conventional rounding to a multiple of 5 (SDS, OpenSAFELY).
# The query model offers exactly these bases (``queries.model.DisclosureOptions.rounding``).
ALLOWED_ROUNDING_BASES = (None, 5)

# --- noise and budgets ----------------------------------------------------------------------------
# zCDP budgets (rho) per data version, as recommended in the reference policy §4.8.
RHO_PER_TABLE = 0.125
RHO_PER_ORGANISATION = 2.0
RHO_GLOBAL = 10.0
# Ledgers of their own for the degraded noise the service gives exact questions it cannot audit
# (``DEGRADED_RHO_PER_TABLE``): a customer who buys noise cannot use up what answers other customers'
# exact questions, and the other way round. A data version's whole loss is at most the sum of both
# global budgets (zCDP composes by adding rho).
RHO_DEGRADED_PER_ORGANISATION = 2.0
RHO_DEGRADED_GLOBAL = 10.0

# Not release rules: losses above these are allowed but warned about, as OpenDP warns for large
# epsilon (a note in the report, nothing else changes).
LARGE_EPSILON = 5.0
LARGE_RHO = 1.0

# --- secondary suppression and the attacker audit -------------------------------------------------
# How many times the pipeline extends the secondary suppression after a failed audit before it
# falls back to releasing the grand total only.
MAX_SUPPRESSION_ROUNDS = 6
# Seconds per integer bound of the attacker audit (needed only at fractional LP optima). Past it the
# best whole-number point found is the bound (a narrower interval: more is hidden, never less), and
# without any point the release is refused.
MILP_SECONDS = 20.0

# --- Venn-atom audit (``disclosure.atoms``) -------------------------------------------------------
# Rounds of hiding one current count per failing Venn atom before falling back to the totals.
ATOM_REPAIR_ROUNDS = 4
# Seconds the Venn-atom audits of one release may take in all, a hard deadline (the audit runs in a
# child process that is killed past it, ``disclosure.deadline``): then the release is protected with
# keyed noise instead if the budgets allow, else refused. A release never passes unaudited.
ATOM_AUDIT_SECONDS = 1.5
# Exact counts (distinct person sets released exactly, to anyone) a data version's audit across
# releases may hold. Every exact count joins the system each later exact release is audited against,
# and that audit's cost grows with the system: past this capacity a new question is answered with
# keyed noise (``DEGRADED_RHO_PER_TABLE``), so no audit works on more than about this many earlier
# counts. The decision depends on the number of counts released and on the question's number of
# cells, both known to everyone who received them, never on a count's size. The same question asked
# again (any organisation) keeps its exact answer: it adds no new question to the system, only, where
# more of it is hidden than the first time, the remainder of its hidden cells (the benchmark's year
# ended with 201 counts held at a capacity of 200).
EXACT_HISTORY_COUNTS = 200
# zCDP rho per table of the keyed noise a release gets instead of exact counts (capacity reached,
# or the audit past its deadline), charged to the organisation's and the global degraded ledgers.
# Small, so the budget lasts a year of questions (RHO_DEGRADED_GLOBAL / this = 5,000 fresh tables
# per data version): the discrete Gaussian's scale is sqrt(1 / (2 rho)), about 16 persons per cell.
DEGRADED_RHO_PER_TABLE = 0.002
# Unions a component's search may judge before it fails closed (its atoms count as failing).
MAX_UNION_CHECKS = 200
# Seconds per master MILP of the union search: out of time, the component counts as failing.
MASTER_SECONDS = 5.0
# Nodes the exact cover search may visit before the master MILP (limited by ``MASTER_SECONDS``)
# decides instead (each node costs microseconds; the benchmark's hardest proof that no union is
# left needs about a thousand).
COVER_SEARCH_NODES = 10_000
# Choices of interchangeable atoms tried for a class solution before the per-atom MILP decides.
REPRESENTATIVE_TRIES = 200
# Randomly weighted feasible points found before the union search, and rounds of push-down LPs
# before the single-atom LPs. They change no verdict by themselves, but every point they find is
# one union the search need not propose, so they decide whether a search ends within
# ``MAX_UNION_CHECKS``.
RANDOM_POINTS = 16
PUSH_DOWN_ROUNDS = 4

# --- derived numbers (``disclosure.derived``) -----------------------------------------------------
# Decimals of percentages (shares, attrition, cumulative uptake).
DECIMALS = 1
# Decimals of rates per 1,000 person-years.
RATE_DECIMALS = 2
# Person-time is a sum over persons: with a released count and a precise rate it can be recovered
# to a fraction of a year, and incident versus prevalent person-time (or one year against the next)
# would then show how many cases left. Rates use person-years rounded to this base.
PERSON_YEARS_ROUNDING = 100
# Person-years are released beside each released count (rounded to ``PERSON_YEARS_ROUNDING``; none
# beside a hidden count), and each rate with its exact Poisson confidence interval at this level,
# computed from the released count and person-years only.
RATE_CONFIDENCE_LEVEL = 0.95

# --- magnitudes: means, SDs and quantiles of values (``disclosure.magnitude``) ----------------------
# A mean or SD rests on at least k persons with a value; a few persons must not determine it. (n, k)
# dominance: hidden when the DOMINANCE_N largest absolute values make up more than DOMINANCE_PERCENT
# of their sum. p% rule: hidden when the sum minus the two largest is less than P_PERCENT of the
# largest (the second-largest could then estimate the largest within p%). Reference policy §4 rule 4.
DOMINANCE_N = 2
DOMINANCE_PERCENT = 85
P_PERCENT = 10
# Decimals of released means and standard deviations.
MAGNITUDE_DECIMALS = 1
# Quantiles (quartiles, median) are values of single persons: only for groups of at least this many
# times k persons, coarsened to a multiple of QUANTILE_ROUNDING (whole units), and only where at
# least k persons lie strictly below and k strictly above the released value. Never min or max.
QUANTILE_MIN_THRESHOLDS = 2
QUANTILE_ROUNDING = 1
# With noise on, a mean gets keyed Gaussian noise of this fraction of its standard error (sd / sqrt n):
# one person moves a mean by about sd / n, far less than that once n exceeds a few dozen.
MEAN_NOISE_STANDARD_ERRORS = 0.5
# Decimals of standardised mean differences (computed from released numbers only).
SMD_DECIMALS = 2

# Time-to-event curves (``disclosure.curves``): no interval of a released curve is shorter than this
# many days, and adjacent intervals are merged until each holds at least k events (and k competing
# events and k censored persons) in every stratum that has k of them in all, so no step of the curve
# rests on 1..k-1 persons. The 95 % intervals of cumulative incidence use this normal quantile.
MIN_CURVE_INTERVAL_DAYS = 30
CURVE_CONFIDENCE_Z = 1.959964

# --- shape limits (reference policy §4 rule 14; enforced by ``queries`` validation) ---------------
MAX_BREAKDOWNS = 3
MIN_AGE_BAND_WIDTH = 5  # years, also for the last closed band below ``top``
MIN_PERIOD_MONTHS = 1  # calendar periods: the index period and each calendar year's part of it

# Upper-case names of this module that are not release rules (left out of the fingerprint).
NOT_RELEASE_RULES = frozenset({"POLICY_VERSION", "POLICY_FINGERPRINT", "LARGE_EPSILON", "LARGE_RHO"})

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
    rho_degraded_per_organisation: float = RHO_DEGRADED_PER_ORGANISATION
    rho_degraded_global: float = RHO_DEGRADED_GLOBAL

    @model_validator(mode="after")
    def _positive(self) -> Budgets:
        budgets = (
            self.rho_per_organisation,
            self.rho_global,
            self.rho_degraded_per_organisation,
            self.rho_degraded_global,
        )
        if min(budgets) <= 0:
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
    exact_history_counts: int = EXACT_HISTORY_COUNTS
    degraded_rho_per_table: float = DEGRADED_RHO_PER_TABLE

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
        if self.exact_history_counts < 0:
            raise ValueError("exact_history_counts must not be negative")
        if not (0 < self.degraded_rho_per_table <= LARGE_RHO):
            raise ValueError(f"degraded_rho_per_table must be in (0, {LARGE_RHO}]")
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

    def degraded_privacy(self) -> DifferentialPrivacy:
        """The keyed noise a release gets instead of exact counts that cannot be audited."""
        return DifferentialPrivacy(rho=self.degraded_rho_per_table)

    def width_for(self, threshold: int) -> int:
        """Protection width w: k by default; configuration may widen it, never narrow it below k."""
        return max(threshold, self.protection_width or threshold)


def release_rules() -> dict[str, Any]:
    """Every release rule of this module by name, and the defaults of ``Policy()`` and
    ``DifferentialPrivacy()`` (what a query asking for noise gets): what ``POLICY_VERSION`` versions."""
    constants = {
        name: value
        for name, value in globals().items()
        if name.isupper() and name not in NOT_RELEASE_RULES and isinstance(value, int | float | str | tuple)
    }
    return {
        "constants": constants,
        "policy": Policy().model_dump(mode="json", exclude={"version"}),
        "differential_privacy": DifferentialPrivacy().model_dump(mode="json"),
    }


def policy_fingerprint() -> str:
    """SHA-256 of ``release_rules()`` as canonical JSON (sorted keys, tuples as lists)."""
    canonical = json.dumps(release_rules(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()
