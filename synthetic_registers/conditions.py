"""Onset of the modelled conditions: cumulative-hazard inversion per birth cohort.

Each condition's age curve is turned into a baseline hazard by age, rescaled over calendar
time by its trend, and accumulated along each birth cohort's life. A person's onset is where
their own cumulative hazard (baseline times their latent risk) crosses an exponential draw, so
the curve is reproduced among the living on the reference date while risk clusters through the
shared factors. Persons who die in the period carry extra hazard (mortality is raised after
diagnosis), and each death gets an underlying cause, with an onset before the death if the
person did not have that condition yet.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers import condition_parameters as cp
from synthetic_registers.condition_parameters import Condition
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, year_of
from synthetic_registers.demography_parameters import REFERENCE_YEAR

MAX_AGE = 111
FIRST_COHORT, LAST_COHORT = 1890, 2040
_ROW_OFFSET = 1.0e4  # larger than any cumulative hazard, to search all cohort rows at once
_MAX_HAZARD = 50.0


def _other_cancer_conditions() -> tuple[Condition, ...]:
    ages = (0, 20, 40, 60, 80, 105)
    total = sum(fatal * (v60 + v80) for _, _, _, v60, v80, fatal, _, _ in cp.OTHER_CANCERS)
    out = []
    for code, v20, v40, v60, v80, fatal, morphology, sex in cp.OTHER_CANCERS:
        curve = tuple(cp.OTHER_CANCER_INCIDENCE_SCALE * v for v in (0.0, v20, v40, v60, v80, v80))
        out.append(
            Condition(
                f"cancer_{code}",
                cp._sub("D" + code, main="9", main_weight=3.0),
                ages,
                curve,
                curve,
                kind="incidence",
                sex=sex,
                trend=cp.OTHER_CANCER_TREND,
                decedent_multiplier=1.0,
                followups_per_year=0.8,
                frailty=1.0 + 4 * fatal,
                fatal_share=fatal,
                cancer=cp.CancerSite(cp._sub(code, main="9", main_weight=3.0), ((morphology, 1.0),)),
                death_codes=(f"D{code}9",),
                death_weight=cp.OTHER_CANCER_DEATH_WEIGHT * fatal * (v60 + v80) / total,
                death_lag_years=1.5 if fatal > 0.6 else 3.0,
            )
        )
    return tuple(out)


def _rare_conditions() -> tuple[Condition, ...]:
    out = []
    for name, per_100k, onset, code in cp.RARE_CONDITIONS:
        p = per_100k / 1e5
        ages = (0, 1, 105) if onset < 1 else (0, max(onset - 8, 0.5), onset + 8, 105)
        curve = (0, p, p) if onset < 1 else (0, 0, p, p)
        out.append(
            Condition(
                name,
                ((code, 1.0),),
                ages,
                curve,
                curve,
                hospital_share=1.0,
                followups_per_year=0.8,
                decedent_multiplier=1.5,
                frailty=1.5,
            )
        )
    return tuple(out)


ALL_CONDITIONS: tuple[Condition, ...] = cp.CONDITIONS + _other_cancer_conditions() + _rare_conditions()
BY_NAME = {c.name: c for c in ALL_CONDITIONS}
CANCERS = tuple(c for c in ALL_CONDITIONS if c.cancer is not None)


def _heterogeneity_sample(condition: Condition) -> np.ndarray:
    sigma2 = sum(v * v for v in condition.loadings.values())
    z = np.random.default_rng(0).standard_normal(1000)
    return np.exp(np.sqrt(sigma2) * z - sigma2 / 2)


def _baseline_hazard(condition: Condition, sex: int) -> np.ndarray:
    """Hazard by single year of age such that the curve holds on the reference date."""
    ages = np.arange(MAX_AGE)
    values = np.interp(ages + 0.5, condition.ages, condition.men if sex == 1 else condition.women)
    if condition.kind == "incidence":
        return values / 1e5 * (1.0 - condition.fatal_share) * cp.CANCER_SURVIVOR_SHARE
    prevalence = np.clip(np.maximum.accumulate(values), 0, 0.95)
    # cumulative hazard giving this prevalence once latent risk varies between persons
    grid = np.geomspace(1e-7, _MAX_HAZARD, 600)
    m = _heterogeneity_sample(condition)
    survival = np.exp(-np.outer(grid, m)).mean(axis=1)
    target = np.interp(prevalence - 1.0, -survival, grid, left=0.0, right=_MAX_HAZARD)
    target[0] = 0.0
    # solve the triangular system: cumulative hazard of the cohort aged a on the reference date
    hazard = np.zeros(MAX_AGE)
    for a in range(1, MAX_AGE):
        years = REFERENCE_YEAR - a + np.arange(a)
        trend = np.exp(condition.trend * (years - REFERENCE_YEAR))
        known = float(np.dot(hazard[: a - 1], trend[: a - 1]))
        hazard[a - 1] = max((target[a] - known) / trend[a - 1], 0.0)
    return hazard


@dataclass(frozen=True)
class HazardTable:
    """Cumulative hazard by (sex, birth cohort) row and integer age column."""

    cumulative: np.ndarray  # shape (2 * cohorts, MAX_AGE + 1)

    @classmethod
    def build(cls, condition: Condition) -> HazardTable:
        cohorts = np.arange(FIRST_COHORT, LAST_COHORT + 1)
        rows = []
        for sex in (1, 2):
            hazard = _baseline_hazard(condition, sex)
            if condition.sex not in (0, sex):
                hazard = np.zeros_like(hazard)
            hazard[: int(np.ceil(condition.min_onset_age))] = 0.0
            years = cohorts[:, None] + np.arange(MAX_AGE)[None, :]
            trend = np.exp(condition.trend * (np.clip(years, 1990, 2035) - REFERENCE_YEAR))
            yearly = hazard[None, :] * trend
            rows.append(np.concatenate([np.zeros((len(cohorts), 1)), np.cumsum(yearly, axis=1)], axis=1))
        return cls(np.concatenate(rows))

    def onset_age(self, sex: np.ndarray, cohort: np.ndarray, threshold: np.ndarray) -> np.ndarray:
        """Age (years) where each person's cumulative hazard reaches ``threshold``; inf if never."""
        n_cohorts = LAST_COHORT - FIRST_COHORT + 1
        row = (sex.astype(np.int64) - 1) * n_cohorts + np.clip(cohort - FIRST_COHORT, 0, n_cohorts - 1)
        age = np.full(len(row), np.inf)
        hit = np.flatnonzero(threshold < self.cumulative[row, -1])  # most persons never get it
        row, threshold = row[hit], threshold[hit]
        width = self.cumulative.shape[1]
        flat = (self.cumulative + np.arange(self.cumulative.shape[0])[:, None] * _ROW_OFFSET).ravel()
        pos = np.searchsorted(flat, threshold + row * _ROW_OFFSET, side="left") - row * width
        pos = np.clip(pos, 1, width - 1)
        low = self.cumulative[row, pos - 1]
        high = self.cumulative[row, pos]
        fraction = np.where(high > low, (threshold - low) / np.maximum(high - low, 1e-300), 0.0)
        age[hit] = (pos - 1) + np.clip(fraction, 0.0, 1.0)
        return age


_TABLES: dict[str, HazardTable] = {}


def hazard_table(condition: Condition) -> HazardTable:
    if condition.name not in _TABLES:
        _TABLES[condition.name] = HazardTable.build(condition)
    return _TABLES[condition.name]


def latent_factors(rng: np.random.Generator, n: int) -> np.ndarray:
    """Standard normal latent risk factors, one column per name in FACTORS."""
    return rng.standard_normal((n, len(cp.FACTORS))).astype(np.float32)


def risk_multiplier(condition: Condition, factors: np.ndarray) -> np.ndarray:
    loading = np.array([condition.loadings.get(f, 0.0) for f in cp.FACTORS], dtype=np.float32)
    sigma2 = float(np.dot(loading, loading))
    return np.exp(factors @ loading - sigma2 / 2)


def draw_onsets(
    rng: np.random.Generator,
    sex: np.ndarray,
    birth: np.ndarray,
    factors: np.ndarray,
    dies_in_period: np.ndarray,
    life_end: np.ndarray,
) -> dict[str, np.ndarray]:
    """Onset day of every condition for every person (NEVER if none before ``life_end``)."""
    cohort = year_of(birth)
    onsets = {}
    for condition in ALL_CONDITIONS:
        multiplier = risk_multiplier(condition, factors)
        multiplier = np.where(dies_in_period, multiplier * condition.decedent_multiplier, multiplier)
        threshold = rng.exponential(1.0, len(sex)) / multiplier
        age = hazard_table(condition).onset_age(sex, cohort, threshold)
        onset = np.where(np.isfinite(age), birth + np.minimum(age, 200) * DAYS_PER_YEAR, np.inf)
        onsets[condition.name] = np.where(onset < life_end, onset, NEVER).astype(np.int32)
    return onsets


def frailty(onsets: dict[str, np.ndarray], at_day: int) -> np.ndarray:
    """Mortality multiplier from conditions present on a day."""
    n = len(next(iter(onsets.values())))
    out = np.ones(n)
    for condition in ALL_CONDITIONS:
        if condition.frailty != 1.0:
            out *= np.where(onsets[condition.name] <= at_day, condition.frailty, 1.0)
    return out


def assign_causes_of_death(
    rng: np.random.Generator,
    onsets: dict[str, np.ndarray],
    birth: np.ndarray,
    death: np.ndarray,
    sex: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Underlying cause (condition index into ALL_CONDITIONS, or -1 for another cause) per decedent.

    A condition the person has is five times as likely to be the cause. If the cause is a
    condition not yet present, its onset is set before the death (the fatal cases). Returns the
    indices of decedents and their cause.
    """
    dead = np.flatnonzero(death != NEVER)
    candidates = [c for c in ALL_CONDITIONS if c.death_weight > 0]
    weights = np.empty((len(dead), len(candidates) + 1))
    age = (death[dead] - birth[dead]) / DAYS_PER_YEAR
    elderly = np.clip((age - 40) / 40, 0.05, 1.0)
    for j, condition in enumerate(candidates):
        has = onsets[condition.name][dead] < death[dead]
        allowed = (condition.sex == 0) | (sex[dead] == condition.sex)
        allowed &= age >= condition.min_onset_age
        weights[:, j] = condition.death_weight * elderly * np.where(has, 5.0, 1.0) * allowed
    remaining = max(1.0 - sum(c.death_weight for c in candidates), 0.05)
    weights[:, -1] = remaining
    cumulative = np.cumsum(weights, axis=1)
    u = rng.random(len(dead)) * cumulative[:, -1]
    choice = (cumulative < u[:, None]).sum(axis=1)
    cause = np.full(len(dead), -1, dtype=np.int64)
    for j, condition in enumerate(candidates):
        who = dead[choice == j]
        cause[choice == j] = ALL_CONDITIONS.index(condition)
        lacking = who[onsets[condition.name][who] >= death[who]]
        lag = rng.exponential(condition.death_lag_years, len(lacking)) * DAYS_PER_YEAR
        onset = np.maximum(death[lacking] - np.maximum(lag, 7), birth[lacking] + 1)
        onsets[condition.name][lacking] = onset.astype(np.int32)
    return dead, cause


def add_terminal_cancers(
    rng: np.random.Generator,
    onsets: dict[str, np.ndarray],
    birth: np.ndarray,
    death: np.ndarray,
    sex: np.ndarray,
) -> None:
    """Raise cancer incidence in the years before any death (cancer patients die sooner)."""
    dead = np.flatnonzero(death != NEVER)
    age = np.clip(((death[dead] - birth[dead]) / DAYS_PER_YEAR).astype(int), 0, MAX_AGE - 1)
    extra = cp.TERMINAL_CANCER_MULTIPLIER - 1.0
    for condition in CANCERS:
        ages = np.arange(MAX_AGE) + 0.5
        hazard = np.stack(
            [np.interp(ages, condition.ages, curve) / 1e5 for curve in (condition.men, condition.women)]
        )
        if condition.sex:
            hazard[2 - condition.sex] = 0.0
        p = 1.0 - np.exp(-extra * hazard[sex[dead] - 1, age] * cp.TERMINAL_CANCER_YEARS)
        who = dead[rng.random(len(dead)) < p]
        onset = death[who] - rng.random(len(who)) * cp.TERMINAL_CANCER_YEARS * DAYS_PER_YEAR
        onset = np.maximum(onset, birth[who] + 1).astype(np.int32)
        current = onsets[condition.name]
        current[who] = np.minimum(current[who], onset)
