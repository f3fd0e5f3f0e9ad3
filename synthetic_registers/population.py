"""Who lives in the country when: births, deaths, migration and residence of one chunk.

The population is built around the reference date (1 January 2024), whose age, sex and region
margins are the calibration anchor: persons resident then, plus everyone born, arrived, died or
left during the period. Yearly counts of births, deaths and migrations are the national counts
scaled to the chunk's share and rounded so that chunk totals add up exactly across chunks. Exits
after the reference date are drawn among the living, weighted by their mortality.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers import demography_parameters as dp
from synthetic_registers.codes import municipalities
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, age_years, day

ORIGIN_STOCK, ORIGIN_BORN, ORIGIN_IMMIGRANT = 0, 1, 2


@dataclass(frozen=True)
class ChunkPlan:
    """A chunk's slice [lo, hi) of the reference population of ``persons`` and the window."""

    index: int
    persons: int
    lo: int
    hi: int
    start_year: int
    end_year: int

    @property
    def scale(self) -> float:
        return self.persons / dp.NATIONAL_POPULATION

    def allocate(self, national: float) -> int:
        """This chunk's integer share of a national count; shares of all chunks sum to the total."""
        total = national * self.scale
        return int(round(total * self.hi / self.persons) - round(total * self.lo / self.persons))

    @property
    def simulation_end_year(self) -> int:
        return max(self.end_year, dp.REFERENCE_YEAR)

    @property
    def exit_horizon_year(self) -> int:
        """Deaths are drawn a few years past the window so that illness before them (diagnosed
        inside the window) is as common near the window's end as earlier on."""
        return self.simulation_end_year + 5


@dataclass
class Persons:
    sex: np.ndarray
    birth: np.ndarray
    immigration: np.ndarray  # arrival in the period, else NEVER
    death: np.ndarray
    emigration: np.ndarray
    origin: np.ndarray
    region: np.ndarray
    municipality: np.ndarray

    def __len__(self) -> int:
        return len(self.sex)

    @property
    def exit(self) -> np.ndarray:
        return np.minimum(self.death, self.emigration)

    def entry(self, start_day: int) -> np.ndarray:
        arrived = np.where(self.immigration == NEVER, np.int32(-(2**31) + 1), self.immigration)
        return np.maximum(np.maximum(self.birth, arrived), start_day).astype(np.int32)

    def resident_at(self, at_day: int, start_day: int) -> np.ndarray:
        return (self.entry(start_day) <= at_day) & (self.exit > at_day)

    def take(self, keep: np.ndarray) -> Persons:
        return Persons(**{k: v[keep] for k, v in self.__dict__.items()})


def _uniform_days_in_year(rng: np.random.Generator, year: int, n: int) -> np.ndarray:
    first, last = day(year), day(year + 1)
    return rng.integers(first, last, size=n).astype(np.int32)


def _exp_days(rng: np.random.Generator, mean_years: float, n: int) -> np.ndarray:
    return (rng.exponential(mean_years, size=n) * DAYS_PER_YEAR).astype(np.int64)


def _age_from(rng: np.random.Generator, probabilities: np.ndarray, minimum: np.ndarray) -> np.ndarray:
    """Sample ages (fractional years) from a single-year distribution, each at least ``minimum``."""
    ages = np.arange(len(probabilities))
    cdf = np.cumsum(probabilities)
    cdf /= cdf[-1]
    lowest = np.clip(np.ceil(minimum).astype(int), 0, len(ages) - 1)
    floor_mass = np.where(lowest > 0, cdf[lowest - 1], 0.0)
    u = floor_mass + rng.random(len(minimum)) * (1.0 - floor_mass)
    whole = np.searchsorted(cdf, u, side="left").clip(0, len(ages) - 1)
    return whole + rng.random(len(minimum))


def _newborns(rng: np.random.Generator, plan: ChunkPlan, ref_day: int) -> dict[str, np.ndarray]:
    births = [
        _uniform_days_in_year(rng, y, plan.allocate(dp.national_count(dp.LIVE_BIRTHS, y)))
        for y in range(plan.start_year, plan.simulation_end_year + 1)
    ]
    birth = np.concatenate(births) if births else np.zeros(0, np.int32)
    n = len(birth)
    sex = np.where(rng.random(n) < dp.SHARE_BOYS_AT_BIRTH, 1, 2).astype(np.uint8)
    infant = rng.random(n) < dp.INFANT_MORTALITY
    death = np.where(infant, birth + np.minimum(_exp_days(rng, 0.15, n), 364), NEVER)
    leave_after = _exp_days(rng, 1.0 / dp.CHILD_EMIGRATION_PER_YEAR, n)
    emigration = np.where(leave_after < 18 * DAYS_PER_YEAR, birth + leave_after, NEVER)
    # exits after the reference date are decided later among everyone alive then
    death = np.where(death < ref_day, death, NEVER).astype(np.int32)
    emigration = np.where((emigration < ref_day) & (emigration < death), emigration, NEVER).astype(np.int32)
    return {
        "sex": sex,
        "birth": birth,
        "immigration": np.full(n, NEVER),
        "death": death,
        "emigration": emigration,
        "origin": np.full(n, ORIGIN_BORN, np.uint8),
    }


def _immigrants(rng: np.random.Generator, plan: ChunkPlan, ref_day: int) -> dict[str, np.ndarray]:
    arrivals = [
        _uniform_days_in_year(rng, y, plan.allocate(dp.national_count(dp.IMMIGRATIONS, y)))
        for y in range(plan.start_year, plan.simulation_end_year + 1)
    ]
    arrival = np.concatenate(arrivals) if arrivals else np.zeros(0, np.int32)
    n = len(arrival)
    age = _age_from(rng, dp.immigration_age_distribution(), np.zeros(n))
    birth = (arrival - np.round(age * DAYS_PER_YEAR)).astype(np.int32)
    birth = np.minimum(birth, arrival - 1)
    sex = np.where(rng.random(n) < dp.IMMIGRANT_SHARE_MEN, 1, 2).astype(np.uint8)
    leaves = rng.random(n) < dp.IMMIGRANT_LEAVE_PROBABILITY
    leave = arrival + 1 + _exp_days(rng, dp.IMMIGRANT_MEAN_STAY_YEARS, n)
    emigration = np.where(leaves & (leave < ref_day) & (arrival < ref_day), leave, NEVER).astype(np.int32)
    return {
        "sex": sex,
        "birth": birth,
        "immigration": arrival.astype(np.int32),
        "death": np.full(n, NEVER),
        "emigration": emigration,
        "origin": np.full(n, ORIGIN_IMMIGRANT, np.uint8),
    }


def _stock_residents(
    rng: np.random.Generator, plan: ChunkPlan, ref_day: int, start_day: int, already: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Persons living here since before the period and still here on the reference date.

    Their number per age band and sex is what the reference margins need beyond the newborns
    and immigrants already resident then.
    """
    resident = (already["birth"] < ref_day) & (already["death"] > ref_day) & (already["emigration"] > ref_day)
    resident &= np.where(already["immigration"] == NEVER, True, already["immigration"] <= ref_day)
    age_at_ref = age_years(already["birth"][resident], ref_day)
    band = np.minimum(age_at_ref // 5, 17).astype(int)
    min_age = (ref_day - start_day) / DAYS_PER_YEAR  # born before the period starts
    sexes, births = [], []
    for sex, margins in ((1, dp.MEN_2024), (2, dp.WOMEN_2024)):
        present = np.bincount(band[already["sex"][resident] == sex], minlength=18)
        for b, lower in enumerate(dp.BAND_LOWER):
            needed = plan.allocate(margins[b]) - present[b]
            if needed <= 0:
                continue
            if lower < 85:
                low = max(float(lower), min_age)
                if low >= lower + 5:
                    continue
                age = rng.uniform(low, lower + 5, size=needed)
            else:
                tail = dp.single_year_population(sex)[85:]
                age = 85 + _age_from(rng, tail / tail.sum(), np.maximum(min_age - 85, 0) * np.ones(needed))
            sexes.append(np.full(needed, sex, np.uint8))
            births.append((ref_day - np.round(age * DAYS_PER_YEAR)).astype(np.int32))
    birth = np.concatenate(births)
    n = len(birth)
    return {
        "sex": np.concatenate(sexes),
        "birth": np.minimum(birth, start_day - 1).astype(np.int32),
        "immigration": np.full(n, NEVER),
        "death": np.full(n, NEVER),
        "emigration": np.full(n, NEVER),
        "origin": np.full(n, ORIGIN_STOCK, np.uint8),
    }


def _stock_leavers(
    rng: np.random.Generator, plan: ChunkPlan, start_day: int, already: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Persons here since before the period who die or emigrate before the reference date.

    Each year gets the deaths and emigrations the national counts ask for, minus those that
    newborns and immigrants already account for.
    """
    death_year = np.where(already["death"] != NEVER, already["death"], day(1900)).astype("datetime64[D]")
    emig_year = np.where(already["emigration"] != NEVER, already["emigration"], day(1900)).astype(
        "datetime64[D]"
    )
    death_year = death_year.astype("datetime64[Y]").astype(int) + 1970
    emig_year = emig_year.astype("datetime64[Y]").astype(int) + 1970
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("sex", "birth", "death", "emigration")}
    for year in range(plan.start_year, dp.REFERENCE_YEAR):
        min_age = (day(year + 1) - start_day) / DAYS_PER_YEAR
        for kind, series, realised in (
            ("death", dp.DEATHS, death_year),
            ("emigration", dp.EMIGRATIONS, emig_year),
        ):
            n = plan.allocate(dp.national_count(series, year)) - int(np.sum(realised == year))
            if n <= 0:
                continue
            sex = np.where(rng.random(n) < 0.5, 1, 2).astype(np.uint8)
            if kind == "death":
                age = np.empty(n)
                for s in (1, 2):
                    pick = sex == s
                    age[pick] = _age_from(rng, dp.age_at_death_distribution(s), np.full(pick.sum(), min_age))
            else:
                age = _age_from(rng, dp.emigration_age_distribution(), np.full(n, min_age))
            when = _uniform_days_in_year(rng, year, n)
            birth = np.minimum(when - np.round(age * DAYS_PER_YEAR), start_day - 1).astype(np.int32)
            out["sex"].append(sex)
            out["birth"].append(birth)
            out["death"].append(when if kind == "death" else np.full(n, NEVER))
            out["emigration"].append(when if kind == "emigration" else np.full(n, NEVER))
    if not out["sex"]:
        return {
            k: np.zeros(0, np.int32) for k in ("sex", "birth", "immigration", "death", "emigration", "origin")
        }
    n = sum(len(s) for s in out["sex"])
    return {
        "sex": np.concatenate(out["sex"]),
        "birth": np.concatenate(out["birth"]),
        "immigration": np.full(n, NEVER),
        "death": np.concatenate(out["death"]).astype(np.int32),
        "emigration": np.concatenate(out["emigration"]).astype(np.int32),
        "origin": np.full(n, ORIGIN_STOCK, np.uint8),
    }


def _residence(
    rng: np.random.Generator, plan: ChunkPlan, resident_at_reference: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Region and municipality. Residents on the reference date get exactly the chunk's share of
    each region's population (so regional margins hold at any scale); others are drawn by share."""
    table = municipalities()
    regions = np.array(sorted(dp.REGION_2024), dtype=np.uint16)
    shares = np.array([dp.REGION_2024[r] for r in regions], dtype=float)
    n = len(resident_at_reference)
    reg = regions[rng.choice(len(regions), size=n, p=shares / shares.sum())]
    exact = np.repeat(regions, [plan.allocate(dp.REGION_2024[r]) for r in regions])
    residents = np.flatnonzero(resident_at_reference)
    exact = rng.permutation(exact)[: len(residents)]
    reg[residents[: len(exact)]] = exact
    kom = np.zeros(n, dtype=np.uint16)
    for region in regions:
        here = np.flatnonzero(reg == region)
        options = [m for m in table if m.reg == region]
        weights = np.array([m.population_thousands for m in options])
        kom[here] = np.array([m.kom for m in options], dtype=np.uint16)[
            rng.choice(len(options), size=len(here), p=weights / weights.sum())
        ]
    return reg, kom


def build_population(rng: np.random.Generator, plan: ChunkPlan) -> Persons:
    """Everyone of this chunk resident at some time between the period start and the horizon."""
    ref_day, start_day = day(dp.REFERENCE_YEAR), day(plan.start_year)
    parts = [_newborns(rng, plan, ref_day), _immigrants(rng, plan, ref_day)]
    so_far = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
    parts.append(_stock_residents(rng, plan, ref_day, start_day, so_far))
    parts.append(_stock_leavers(rng, plan, start_day, so_far))
    columns = {k: np.concatenate([p[k] for p in parts]).astype(parts[0][k].dtype) for k in parts[0]}
    arrived = np.where(columns["immigration"] == NEVER, -(2**31) + 1, columns["immigration"])
    at_reference = (columns["birth"] <= ref_day) & (arrived <= ref_day)
    at_reference &= (columns["death"] > ref_day) & (columns["emigration"] > ref_day)
    reg, kom = _residence(rng, plan, at_reference)
    return Persons(region=reg, municipality=kom, **columns)


def _weighted_pick(rng: np.random.Generator, weights: np.ndarray, k: int) -> np.ndarray:
    """k distinct indices drawn with probability proportional to weight (Efraimidis-Spirakis keys)."""
    k = min(k, int(np.count_nonzero(weights > 0)))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(len(weights))) / weights
    return np.argpartition(-keys, k - 1)[:k]


def draw_exits_after_reference(
    rng: np.random.Generator, persons: Persons, plan: ChunkPlan, frailty: np.ndarray
) -> np.ndarray:
    """Deaths and emigrations from the reference date on; returns a flag of who died in them.

    Each year's national count of deaths is drawn among those alive on 1 January weighted by
    age-sex mortality times ``frailty`` (their conditions); emigrations weighted towards recent
    immigrants and young adults.
    """
    start_day = day(plan.start_year)
    died_late = np.zeros(len(persons), dtype=bool)
    emig_age = dp.emigration_age_distribution()
    for year in range(dp.REFERENCE_YEAR, plan.exit_horizon_year + 1):
        first = day(year)
        alive = np.flatnonzero(persons.resident_at(first, start_day))
        age = age_years(persons.birth[alive], first)
        sex = persons.sex[alive]
        deaths = _weighted_pick(
            rng,
            dp.mortality_rate(age, sex) * frailty[alive],
            plan.allocate(dp.national_count(dp.DEATHS, year)),
        )
        who = alive[deaths]
        persons.death[who] = _uniform_days_in_year(rng, year, len(who))
        died_late[who] = True
        remaining = np.setdiff1d(np.arange(len(alive)), deaths)
        recent = (persons.origin[alive[remaining]] == ORIGIN_IMMIGRANT) & (
            first - persons.immigration[alive[remaining]] < 5 * DAYS_PER_YEAR
        )
        weights = emig_age[np.clip(age[remaining].astype(int), 0, 90)] * np.where(recent, 25.0, 1.0)
        leave = alive[
            remaining[_weighted_pick(rng, weights, plan.allocate(dp.national_count(dp.EMIGRATIONS, year)))]
        ]
        persons.emigration[leave] = _uniform_days_in_year(rng, year, len(leave))
    return died_late


def truncate_to_window(persons: Persons, plan: ChunkPlan) -> tuple[Persons, np.ndarray]:
    """Drop events after the window and persons never resident inside it; returns who is kept."""
    start_day, end_excl = day(plan.start_year), day(plan.end_year + 1)
    for name in ("death", "emigration", "immigration"):
        values = getattr(persons, name)
        values[values >= end_excl] = NEVER
    keep = (persons.entry(start_day) < end_excl) & (persons.exit > start_day) & (persons.birth < end_excl)
    keep &= persons.entry(start_day) < persons.exit
    return persons.take(keep), keep


def assign_mothers(rng: np.random.Generator, persons: Persons, start_day: int) -> np.ndarray:
    """Index of each person's mother among the chunk's women, for births in the period (else -1).

    Mothers are women resident at the birth aged 15-49, chosen by the age-specific fertility curve.
    """
    mother = np.full(len(persons), -1, dtype=np.int64)
    born = np.flatnonzero(persons.origin == ORIGIN_BORN)
    if len(born) == 0:
        return mother
    shape = dp.fertility_age_shape()
    women = np.flatnonzero(persons.sex == 2)
    entry = persons.entry(start_day)
    birth_years = persons.birth[born].astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    for year in np.unique(birth_years):
        children = born[birth_years == year]
        mid = day(int(year), 7, 1)
        candidates = women[(entry[women] <= mid) & (persons.exit[women] > mid)]
        ages = np.clip(age_years(persons.birth[candidates], mid).astype(int), 0, 55)
        weights = shape[ages]
        if weights.sum() == 0:
            continue
        chosen = candidates[rng.choice(len(candidates), size=len(children), p=weights / weights.sum())]
        ok = (entry[chosen] <= persons.birth[children]) & (persons.exit[chosen] > persons.birth[children])
        mother[children[ok]] = chosen[ok]
    return mother
