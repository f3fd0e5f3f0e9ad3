"""UDDA (highest completed education) and IND (yearly income), with a socio-economic gradient.

Both derive from the person's latent socio-economic position, the same one that raises the risk
of type 2 diabetes, COPD and lung cancer in the less educated (registers.md rule 15).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, day, year_of

# levels from low to high socio-economic rank, with the age they are completed
LEVELS = np.array([10, 30, 20, 40, 50, 60, 70, 80])
COMPLETED_AT_AGE = {10: 16, 20: 19, 30: 21, 40: 23, 50: 24, 60: 24, 70: 26, 80: 30}
# final level shares for birth cohorts 1930 and 2000 (interpolated between), approximate
SHARES_1930 = np.array([0.50, 0.30, 0.02, 0.04, 0.10, 0.01, 0.025, 0.005])
SHARES_2000 = np.array([0.15, 0.22, 0.10, 0.06, 0.18, 0.10, 0.17, 0.02])
IMMIGRANT_MISSING = 0.35  # older immigrants often lack a Danish education record


@dataclass
class EducationRecords:
    person: np.ndarray
    year: np.ndarray
    hfaudd: np.ndarray
    level: np.ndarray


@dataclass
class IncomeRecords:
    person: np.ndarray
    year: np.ndarray
    personal: np.ndarray
    household_equivalised: np.ndarray


def final_levels(rng: np.random.Generator, people: ChunkPeople) -> np.ndarray:
    cohort = year_of(people.birth)
    weight = np.clip((cohort - 1930) / 70, 0, 1)[:, None]
    shares = (1 - weight) * SHARES_1930 + weight * SHARES_2000
    cumulative = np.cumsum(shares, axis=1)
    # rank by socio-economic position, with noise so that education does not fix it
    u = np.clip(0.5 * (1 + np.tanh(0.8 * (people.ses + 0.6 * rng.standard_normal(len(people))))), 0, 0.999999)
    pick = (cumulative < u[:, None]).sum(axis=1)
    return LEVELS[np.minimum(pick, len(LEVELS) - 1)]


def build_education(rng: np.random.Generator, people: ChunkPeople, final: np.ndarray) -> EducationRecords:
    start_year, end_year = people.plan.start_year, people.plan.end_year
    arrived_old = (people.immigration != NEVER) & ((people.immigration - people.birth) / DAYS_PER_YEAR > 25)
    recorded = ~(arrived_old & (rng.random(len(people)) < IMMIGRANT_MISSING))
    birth_year = year_of(people.birth)
    first_year = np.maximum(year_of(people.entry), start_year)
    last_year = np.minimum(year_of(people.exit - 1), end_year)
    persons, years, levels = [], [], []
    for step in (10, 20, 30, 40, 50, 60, 70, 80):  # the education levels, in the order they are reached
        # everybody passes level 10; tertiary paths pass general upper secondary (20) first
        passes = final == step
        if step == 10:
            passes = np.ones(len(people), bool)
        elif step == 20:
            passes = np.isin(final, [20, 40, 50, 60, 70, 80])
        passes &= recorded
        reached = birth_year + COMPLETED_AT_AGE[step] + (rng.random(len(people)) < 0.4)
        year = np.maximum(reached, first_year)
        ok = passes & (year <= last_year) & (birth_year + 15 <= last_year)
        # a level reached before the window is recorded in the window's first year
        persons.append(np.flatnonzero(ok))
        years.append(year[ok])
        levels.append(np.full(ok.sum(), step))
    person = np.concatenate(persons)
    year = np.concatenate(years)
    level = np.concatenate(levels)
    # keep, per person and year, only the highest level (the one in force)
    order = np.lexsort((level, year, person))
    person, year, level = person[order], year[order], level[order]
    last_of_year = np.ones(len(person), bool)
    last_of_year[:-1] = (person[1:] != person[:-1]) | (year[1:] != year[:-1])
    person, year, level = person[last_of_year], year[last_of_year], level[last_of_year]
    # levels rise along each path (10, then 20 or 30, then tertiary), so rows never go down
    hfaudd = level.astype(np.int32) * 100 + rng.integers(10, 100, len(level))
    return EducationRecords(
        person.astype(np.int32), year.astype(np.int32), hfaudd.astype(np.int32), level.astype(np.int32)
    )


def build_income(rng: np.random.Generator, people: ChunkPeople, final: np.ndarray) -> IncomeRecords:
    """Income of adults resident at some time in the year; DKK, grows about 2 % a year."""
    persons, years, personal, household = [], [], [], []
    level_effect = {10: -0.25, 20: -0.05, 30: 0.0, 40: 0.1, 50: 0.2, 60: 0.25, 70: 0.45, 80: 0.55}
    education = np.vectorize(level_effect.get)(final).astype(np.float64)
    person_effect = 0.35 * people.ses + 0.25 * rng.standard_normal(len(people))
    for year in people.years:
        lo = np.maximum(people.entry, day(year))
        hi = np.minimum(people.exit, day(year + 1))
        age = (day(year, 12, 31) - people.birth) / DAYS_PER_YEAR
        who = np.flatnonzero((hi > lo) & (age >= 18))
        a = age[who]
        career = np.interp(
            a, [18, 25, 35, 50, 62, 67, 80, 100], [-1.2, -0.4, 0.0, 0.15, 0.1, -0.35, -0.5, -0.55]
        )
        log_income = (
            np.log(300_000)
            + career
            + education[who]
            + person_effect[who]
            + np.where(people.sex[who] == 2, -0.18, 0.0)
            + 0.02 * (year - 2024)
            + 0.35 * rng.standard_normal(len(who))
        )
        income = np.exp(log_income)
        losses = rng.random(len(who)) < 0.005
        income[losses] = -rng.exponential(80_000, losses.sum())
        equivalised = np.exp(
            np.log(260_000)
            + 0.5 * (career + education[who] + person_effect[who])
            + 0.02 * (year - 2024)
            + 0.25 * rng.standard_normal(len(who))
        )
        persons.append(who)
        years.append(np.full(len(who), year))
        personal.append(np.round(income, 0))
        household.append(np.round(equivalised, 0))
    return IncomeRecords(
        np.concatenate(persons).astype(np.int32),
        np.concatenate(years).astype(np.int32),
        np.concatenate(personal),
        np.concatenate(household),
    )
