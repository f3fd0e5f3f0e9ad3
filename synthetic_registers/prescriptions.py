"""LMDB: pharmacy dispensings from treatment lines, weight-loss GLP-1 and background prescribing.

Every dispensing lies inside the person's residence and the window, and never before the drug's
Danish market date. Rows are kept as integer arrays (person index, day, ATC index, ...) until the
writer turns them into Arrow columns.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from synthetic_registers import drug_parameters as dpar
from synthetic_registers.codes import atc_substances
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, day
from synthetic_registers.drug_parameters import DrugLine

_YEARS = np.arange(1990, 2036)


@dataclass(frozen=True)
class AtcTable:
    codes: tuple[str, ...]
    market_day: np.ndarray
    ddd_per_pack: np.ndarray
    sex: np.ndarray
    min_age: np.ndarray
    max_age: np.ndarray
    use: tuple[str, ...]
    weight: np.ndarray

    def index(self, code: str) -> int:
        return self.codes.index(code)


@functools.cache
def atc_table() -> AtcTable:
    subs = atc_substances()
    y, m, d = zip(
        *[(int(s.market_from[:4]), int(s.market_from[5:7]), int(s.market_from[8:])) for s in subs],
        strict=True,
    )
    return AtcTable(
        codes=tuple(s.code for s in subs),
        market_day=np.array([day(a, b, c) for a, b, c in zip(y, m, d, strict=True)], dtype=np.int32),
        ddd_per_pack=np.array([s.ddd_per_pack for s in subs]),
        sex=np.array([s.sex for s in subs]),
        min_age=np.array([s.min_age for s in subs]),
        max_age=np.array([s.max_age for s in subs]),
        use=tuple(s.use for s in subs),
        weight=np.array([s.weight for s in subs]),
    )


# Indication codes: the diabetes-line and PCOS codes are as in osdc; the rest illustrative.
INDICATIONS: tuple[str, ...] = tuple(
    sorted(
        {
            *dpar.PCOS_INDICATIONS,
            "0000010",
            "0000029",
            "0000031",
            "0000036",
            "0000043",
            "0000147",
            "0000001",
            "0000002",
            "0000004",
            "0000007",
        }
    )
)
_GENERIC_INDICATIONS = np.array([INDICATIONS.index(c) for c in ("0000001", "0000002", "0000004", "0000007")])


@dataclass
class Dispensings:
    person: list[np.ndarray]
    eksd: list[np.ndarray]
    atc: list[np.ndarray]
    vnr: list[np.ndarray]
    indication: list[np.ndarray]

    @classmethod
    def empty(cls) -> Dispensings:
        return cls([], [], [], [], [])

    def add(self, person, eksd, atc, vnr, indication) -> None:
        self.person.append(person.astype(np.int32))
        self.eksd.append(eksd.astype(np.int32))
        self.atc.append(atc.astype(np.int16))
        self.vnr.append(vnr.astype(np.uint32))
        self.indication.append(indication.astype(np.int16))

    def rows(self) -> int:
        return sum(len(p) for p in self.person)


def _weights_by_year(options: tuple[tuple[str, dict[int, float]], ...]) -> np.ndarray:
    table = np.zeros((len(options), len(_YEARS)))
    for i, (_, points) in enumerate(options):
        years = sorted(points)
        table[i] = np.interp(_YEARS, years, [points[y] for y in years])
    return table


def _choose_drug(
    rng: np.random.Generator, line: DrugLine, at: np.ndarray, previous: np.ndarray
) -> np.ndarray:
    """Option index per person chosen at day ``at`` (-1 if no option is on the market)."""
    table = atc_table()
    option_atc = np.array([table.index(code) for code, _ in line.options])
    year_idx = np.clip(
        (at.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970) - _YEARS[0],
        0,
        len(_YEARS) - 1,
    )
    weights = _weights_by_year(line.options)[:, year_idx].T  # persons x options
    weights *= at[:, None] >= table.market_day[option_atc][None, :]
    cumulative = np.cumsum(weights, axis=1)
    total = cumulative[:, -1]
    u = rng.random(len(at)) * total
    choice = (cumulative < u[:, None]).sum(axis=1)
    choice = np.where(total > 0, np.minimum(choice, len(line.options) - 1), -1)
    keep_previous = (previous >= 0) & (rng.random(len(at)) < line.stickiness)
    keep_previous &= weights[np.arange(len(at)), np.maximum(previous, 0)] > 0
    return np.where(keep_previous, previous, choice)


def _episodes(rng: np.random.Generator, line: DrugLine, onset: np.ndarray, exit_: np.ndarray):
    """Treatment episodes (start, end) per treated person; several if the line recurs."""
    start = onset + rng.exponential(line.start_lag_years, len(onset)) * DAYS_PER_YEAR
    people, starts, ends = [], [], []
    idx = np.arange(len(onset))
    for _ in range(6 if line.episode_gap_years else 1):
        length = (
            rng.exponential(line.duration_years, len(idx)) * DAYS_PER_YEAR
            if line.duration_years
            else np.full(len(idx), np.inf)
        )
        end = np.minimum(start + length, exit_[idx])
        ok = start < exit_[idx]
        people.append(idx[ok])
        starts.append(start[ok])
        ends.append(end[ok])
        if not line.episode_gap_years:
            break
        start = end + rng.exponential(line.episode_gap_years, len(idx)) * DAYS_PER_YEAR
        keep = start < exit_[idx]
        idx, start = idx[keep], start[keep]
        if len(idx) == 0:
            break
    return np.concatenate(people), np.concatenate(starts), np.concatenate(ends)


def line_segments(rng: np.random.Generator, line: DrugLine, onset: np.ndarray, exit_: np.ndarray):
    """(person, ATC index, start, end) segments of one treatment line for persons with an onset."""
    table = atc_table()
    option_atc = np.array([table.index(code) for code, _ in line.options])
    treated = np.flatnonzero((onset != NEVER) & (rng.random(len(onset)) < line.probability))
    person, start, end = _episodes(
        rng, line, onset[treated].astype(np.float64), exit_[treated].astype(np.float64)
    )
    person = treated[person]
    out_p, out_a, out_s, out_e = [], [], [], []
    previous = np.full(len(person), -1)
    while len(person):
        seg_end = np.minimum(start + rng.exponential(line.period_years, len(person)) * DAYS_PER_YEAR, end)
        choice = _choose_drug(rng, line, start.astype(np.int64), previous)
        ok = choice >= 0
        out_p.append(person[ok])
        out_a.append(option_atc[choice[ok]])
        out_s.append(start[ok])
        out_e.append(seg_end[ok])
        more = seg_end < end
        person, start, end, previous = person[more], seg_end[more], end[more], choice[more]
    if not out_p:
        return (np.zeros(0, np.int64),) * 2 + (np.zeros(0),) * 2
    return np.concatenate(out_p), np.concatenate(out_a), np.concatenate(out_s), np.concatenate(out_e)


def refills(
    rng: np.random.Generator,
    people: ChunkPeople,
    person: np.ndarray,
    atc: np.ndarray,
    start: np.ndarray,
    end: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dispensing days of segments: one pack's worth of days apart, inside residence and window."""
    table = atc_table()
    lo = np.maximum(np.maximum(start, people.entry[person]), people.start_day)
    lo = np.maximum(lo, table.market_day[atc])
    hi = np.minimum(np.minimum(end, people.exit[person]), people.end_day)
    keep = hi > lo
    person, atc, lo, hi = person[keep], atc[keep], lo[keep], hi[keep]
    interval = table.ddd_per_pack[atc] * rng.uniform(0.85, 1.35, len(atc))
    # the first purchase in the window of someone already treated falls anywhere in a pack's span
    offset = np.where(start[keep] < lo, rng.random(len(atc)) * interval, 0.0)
    count = np.ceil((hi - lo - offset) / interval).clip(0).astype(np.int64)
    rows = np.repeat(np.arange(len(atc)), count)
    k = np.arange(len(rows)) - np.repeat(np.cumsum(count) - count, count)
    when = lo[rows] + offset[rows] + k * interval[rows] + rng.integers(-3, 4, len(rows))
    ok = (when >= lo[rows]) & (when < hi[rows])
    rows = rows[ok]
    return person[rows], np.floor(when[ok]).astype(np.int32), atc[rows]


def _vnr(rng: np.random.Generator, atc: np.ndarray) -> np.ndarray:
    return (100000 + 10 * atc.astype(np.int64) + (rng.random(len(atc)) < 0.3)).astype(np.uint32)


def _indications(rng: np.random.Generator, n: int, code: str | None) -> np.ndarray:
    missing = rng.random(n) < 0.15
    if code is not None:
        values = np.full(n, INDICATIONS.index(code))
    else:
        values = _GENERIC_INDICATIONS[rng.integers(0, len(_GENERIC_INDICATIONS), n)]
    return np.where(missing, -1, values)


def _semaglutide_products(
    rng: np.random.Generator, atc: np.ndarray, when: np.ndarray, vnr: np.ndarray
) -> np.ndarray:
    table = atc_table()
    sema = atc == table.index("A10BJ06")
    oral = sema & (when >= day(2020, 4, 1)) & (rng.random(len(atc)) < dpar.RYBELSUS_SHARE)
    vnr = np.where(sema, dpar.PRODUCT_VNR["Ozempic"][1], vnr)
    vnr = np.where(oral, dpar.PRODUCT_VNR["Rybelsus"][1], vnr)
    return np.where(atc == table.index("A10BJ02"), dpar.PRODUCT_VNR["Victoza"][1], vnr)


def _condition_dispensings(rng: np.random.Generator, people: ChunkPeople, out: Dispensings) -> None:
    for name, lines in dpar.REGIMES.items():
        onset = people.onsets[name]
        for line in lines:
            person, atc, start, end = line_segments(rng, line, onset, people.exit)
            person, when, atc = refills(rng, people, person, atc, start, end)
            vnr = _semaglutide_products(rng, atc, when, _vnr(rng, atc))
            out.add(person, when, atc, vnr, _indications(rng, len(person), line.indication))


def _pick_starters(rng, people: ChunkPeople, at: int, count: int, weights: np.ndarray) -> np.ndarray:
    resident = (people.entry <= at) & (people.exit > at)
    w = np.where(resident, weights, 0.0)
    k = min(count, int(np.count_nonzero(w)))
    if k <= 0:
        return np.zeros(0, dtype=np.int64)
    with np.errstate(divide="ignore"):
        keys = np.log(rng.random(len(w))) / w
    return np.argpartition(-keys, k - 1)[:k]


def _product_course(rng, people, out, starters, first_day, last_day, product, mean_years) -> None:
    atc_code, vnr = dpar.PRODUCT_VNR[product]
    atc = np.full(len(starters), atc_table().index(atc_code))
    start = rng.integers(first_day, last_day, len(starters)).astype(np.float64)
    end = start + np.maximum(rng.exponential(mean_years, len(starters)) * DAYS_PER_YEAR, 20)
    person, when, atc = refills(rng, people, starters, atc, start, end)
    out.add(person, when, atc, np.full(len(person), vnr), _indications(rng, len(person), None))


def _glp1_outside_diabetes(rng: np.random.Generator, people: ChunkPeople, out: Dispensings) -> None:
    """Weight-loss GLP-1 (Saxenda, Wegovy) and off-label Ozempic, in people without diabetes."""
    plan = people.plan
    diabetic = np.minimum(people.onsets["type2_diabetes"], people.onsets["type1_diabetes"])
    for year in people.years:
        mid = day(year, 7, 1)
        age = (mid - people.birth) / DAYS_PER_YEAR
        base = np.where((age >= 18) & (diabetic > mid), 1.0, 0.0)
        base *= np.where(people.sex == 2, 2.6, 1.0) * np.exp(-0.5 * ((age - 52) / 14) ** 2)
        base *= np.exp(0.3 * people.ses)
        sax = plan.allocate(dpar.SAXENDA_STARTS_PER_YEAR.get(year, 0))
        _product_course(
            rng,
            people,
            out,
            _pick_starters(rng, people, mid, sax, base),
            day(year),
            day(year + 1),
            "Saxenda",
            dpar.WEIGHT_LOSS_MEAN_YEARS,
        )
        off = plan.allocate(dpar.OFF_LABEL_OZEMPIC_STARTS.get(year, 0))
        _product_course(
            rng,
            people,
            out,
            _pick_starters(rng, people, mid, off, base),
            day(year),
            day(year + 1),
            "Ozempic",
            0.7,
        )
        for month in range(1, 13):
            if (year, month) < (2022, 12):
                continue
            national = dpar.WEGOVY_STARTS_PER_MONTH.get((year, month), dpar.WEGOVY_STARTS_PER_MONTH_LATER)
            first = day(year, month)
            last = day(year + (month == 12), month % 12 + 1)
            starters = _pick_starters(rng, people, first, plan.allocate(national), base)
            _product_course(rng, people, out, starters, first, last, "Wegovy", dpar.WEIGHT_LOSS_MEAN_YEARS)


def _pcos_metformin(rng: np.random.Generator, people: ChunkPeople, out: Dispensings) -> None:
    table = atc_table()
    metformin = table.index("A10BA02")
    for year in people.years:
        mid = day(year, 7, 1)
        age = (mid - people.birth) / DAYS_PER_YEAR
        weights = ((people.sex == 2) & (age >= 18) & (age < 40)).astype(float)
        starters = _pick_starters(
            rng, people, mid, people.plan.allocate(dpar.PCOS_METFORMIN_STARTS_PER_YEAR), weights
        )
        start = rng.integers(day(year), day(year + 1), len(starters)).astype(np.float64)
        end = start + rng.exponential(1.0, len(starters)) * DAYS_PER_YEAR
        person, when, atc = refills(rng, people, starters, np.full(len(starters), metformin), start, end)
        code = np.array([INDICATIONS.index(c) for c in dpar.PCOS_INDICATIONS])[
            rng.integers(0, 3, len(person))
        ]
        out.add(person, when, atc, _vnr(rng, atc), np.where(rng.random(len(person)) < 0.8, code, -1))


def _valid_for(atc: np.ndarray, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    table = atc_table()
    ok = (table.sex[atc] == 0) | (table.sex[atc] == sex)
    return ok & (age >= table.min_age[atc]) & (age <= table.max_age[atc])


def _acute_age_factor(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    factor = np.interp(
        age, [0, 4, 8, 17, 25, 45, 65, 80, 100], [1.6, 1.2, 0.7, 0.8, 0.85, 1.0, 1.4, 1.9, 2.2]
    )
    return factor * np.where((sex == 2) & (age >= 15), 1.35, 1.0)


def _background(rng: np.random.Generator, people: ChunkPeople, out: Dispensings) -> None:
    table = atc_table()
    n = len(people)
    acute = np.flatnonzero(np.array([u == "acute" for u in table.use]))
    chronic = np.flatnonzero(np.array([u == "chronic" for u in table.use]))
    propensity = rng.gamma(dpar.ACUTE_PROPENSITY_SHAPE, 1 / dpar.ACUTE_PROPENSITY_SHAPE, n)
    # short courses: Poisson counts per person-year
    for year in people.years:
        lo = np.maximum(people.entry, day(year))
        hi = np.minimum(people.exit, day(year + 1))
        resident = np.flatnonzero(hi > lo)
        share = (hi[resident] - lo[resident]) / 365.0
        age = (day(year, 7, 1) - people.birth[resident]) / DAYS_PER_YEAR
        mean = (
            dpar.ACUTE_COURSES_PER_YEAR * propensity[resident] * _acute_age_factor(age, people.sex[resident])
        )
        count = rng.poisson(mean * share)
        person = np.repeat(resident, count)
        span = np.repeat(hi[resident] - lo[resident], count)
        when = np.repeat(lo[resident], count) + (rng.random(len(person)) * span).astype(np.int32)
        atc = acute[
            rng.choice(len(acute), size=len(person), p=table.weight[acute] / table.weight[acute].sum())
        ]
        ok = _valid_for(atc, people.sex[person], (when - people.birth[person]) / DAYS_PER_YEAR)
        ok &= when >= table.market_day[atc]
        person, when, atc = person[ok], when[ok], atc[ok]
        out.add(person, when, atc, _vnr(rng, atc), _indications(rng, len(person), None))
    # long-term background drugs
    resident_years = (people.exit - people.entry).clip(0) / DAYS_PER_YEAR
    age_mid = (people.entry + people.exit) / 2 / 1.0 - people.birth
    older = np.interp(age_mid / DAYS_PER_YEAR, [0, 20, 50, 70, 90], [0.3, 0.6, 1.2, 2.2, 2.8])
    count = rng.poisson(
        dpar.CHRONIC_BACKGROUND_PER_PERSON * resident_years / 10 * older * np.sqrt(propensity)
    )
    person = np.repeat(np.arange(n), count)
    start = people.entry[person] + rng.random(len(person)) * (people.exit[person] - people.entry[person])
    start = np.where(rng.random(len(person)) < 0.35, people.entry[person] - 30.0, start)  # already in use
    end = start + rng.exponential(dpar.CHRONIC_BACKGROUND_MEAN_YEARS, len(person)) * DAYS_PER_YEAR
    atc = chronic[
        rng.choice(len(chronic), size=len(person), p=table.weight[chronic] / table.weight[chronic].sum())
    ]
    ok = _valid_for(
        atc,
        people.sex[person],
        (np.maximum(start, people.entry[person]) - people.birth[person]) / DAYS_PER_YEAR,
    )
    person, when, atc = refills(rng, people, person[ok], atc[ok], start[ok], end[ok])
    out.add(person, when, atc, _vnr(rng, atc), _indications(rng, len(person), None))


def build_dispensings(rng: np.random.Generator, people: ChunkPeople) -> Dispensings:
    out = Dispensings.empty()
    _condition_dispensings(rng, people, out)
    _glp1_outside_diabetes(rng, people, out)
    _pcos_metformin(rng, people, out)
    _background(rng, people, out)
    return out
