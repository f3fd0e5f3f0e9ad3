"""The laboratory database (Laboratoriedatabasen, research extract ``lab_forsker``): blood tests.

Six analyses with their NPU/DNK codes, units and reference intervals. Values follow the person's
conditions: HbA1c at or above 48 mmol/mol in diagnosed diabetes, rising in the two years before a
type 2 diagnosis and high in a few adults never diagnosed; low eGFR (and high creatinine) in chronic
kidney disease; lower LDL in treated diabetes and heart disease; lower haemoglobin in kidney disease
and cancer; high CRP on acute hospital contacts.

Who is tested and when: sampling occasions per person and year (more with age and with diabetes,
kidney or heart disease), each testing some of the analyses, plus the CRP, haemoglobin and kidney
panel taken at most acute hospital contacts. Quirks of the real extract reproduced here: the value is
text (``"<5"`` for a CRP under the laboratory's detection limit, ``">90"`` for a normal eGFR, a
decimal comma from some laboratories), regions join the database in different years, and a sample is
now and then reported twice.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from synthetic_registers.codes import Code, CodeList
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, day, year_of

# The year each region's laboratories start delivering (approximate; national from 2015).
REGION_FROM: dict[int, int] = {1081: 2009, 1084: 2010, 1085: 2011, 1083: 2013, 1082: 2015}
# Laboratories reporting CRP below 5 mg/L as "<5" (the others report down to "<1")
CRP_BELOW_5_REGIONS = (1081, 1083, 1085)
DECIMAL_COMMA_REGION = 1082


@dataclass(frozen=True)
class Analysis:
    code: str
    name: str
    unit: str
    reference_men: tuple[float | None, float | None]
    reference_women: tuple[float | None, float | None]
    scale: int  # values are reported in steps of 1/scale
    low: float  # smallest reportable value
    high: float  # largest reportable value


HBA1C, CREATININE, EGFR, LDL, HAEMOGLOBIN, CRP, TSH = range(7)
ANALYSES: tuple[Analysis, ...] = (
    Analysis("NPU27300", "HbA1c (IFCC)", "mmol/mol", (None, 48), (None, 48), 1, 15, 200),
    Analysis("NPU18016", "Creatinine", "umol/L", (60, 105), (45, 90), 1, 20, 1500),
    Analysis("DNK35302", "eGFR (CKD-EPI)", "mL/min/1.73m2", (60, None), (60, None), 1, 2, 90),
    Analysis("NPU01568", "LDL cholesterol", "mmol/L", (None, 3.0), (None, 3.0), 10, 0.2, 12),
    Analysis("NPU02319", "Haemoglobin", "mmol/L", (8.3, 10.5), (7.3, 9.5), 10, 2.5, 13),
    Analysis("NPU19748", "C-reactive protein (CRP)", "mg/L", (None, 8), (None, 8), 1, 1, 400),
    Analysis("NPU03577", "Thyrotropin (TSH)", "mIU/L", (0.3, 4.0), (0.3, 4.0), 100, 0.01, 100),
)
LAB_ANALYSES = "NPU analyses"  # NPU codes and their Danish DNK extension


@functools.cache
def analysis_list() -> CodeList:
    """The analyses the laboratory table holds, named with their unit (the catalog's code list)."""
    return CodeList(LAB_ANALYSES, [Code(a.code, f"{a.name}, {a.unit}", LAB_ANALYSES) for a in ANALYSES])


UNITS = tuple(dict.fromkeys(analysis.unit for analysis in ANALYSES))  # each once (a Parquet dictionary)
# reported as text instead of a number: eGFR above 90, TSH under 0.01, CRP under the detection limit
ABOVE_90, TSH_BELOW, CRP_BELOW_5, CRP_BELOW_1 = ">90", "<0.01", "<5", "<1"


def _number(value: float, scale: int, comma: bool) -> str:
    text = str(int(value)) if scale == 1 else f"{value:.{len(str(scale)) - 1}f}"
    return text.replace(".", ",") if comma else text


@functools.cache
def value_texts() -> tuple[tuple[str, ...], tuple[np.ndarray, ...], dict[str, int]]:
    """Every text a value can be, once (values are written as ids into it, and a Parquet dictionary
    with a text twice is written differently from one run to the next): the numbers of each analysis
    in its steps, with a decimal point and a decimal comma, then the censored texts. Returns the
    texts, per analysis and separator the id of each step from the analysis's lowest, and the
    censored texts' ids."""
    texts: dict[str, int] = {}
    steps_ids: list[np.ndarray] = []
    for analysis in ANALYSES:
        steps = np.arange(round(analysis.low * analysis.scale), round(analysis.high * analysis.scale) + 1)
        for comma in (False, True):
            numbers = [_number(step / analysis.scale, analysis.scale, comma) for step in steps]
            steps_ids.append(
                np.array([texts.setdefault(text, len(texts)) for text in numbers], dtype=np.int64)
            )
    censored = {
        text: texts.setdefault(text, len(texts)) for text in (ABOVE_90, TSH_BELOW, CRP_BELOW_5, CRP_BELOW_1)
    }
    return tuple(texts), tuple(steps_ids), censored


@dataclass
class LabResults:
    person: np.ndarray
    sampled: np.ndarray  # day
    minute: np.ndarray  # minutes after midnight
    analysis: np.ndarray  # index into ANALYSES
    value: np.ndarray  # id into value_texts()[0]


def _onset_before(people: ChunkPeople, names: tuple[str, ...], person: np.ndarray, when: np.ndarray):
    has = np.zeros(len(person), dtype=bool)
    for name in names:
        onset = people.onsets[name][person]
        has |= (onset != NEVER) & (onset <= when)
    return has


CANCERS = ("breast_cancer", "prostate_cancer", "lung_cancer", "colorectal_cancer")


def _occasions(rng, people: ChunkPeople) -> tuple[np.ndarray, np.ndarray]:
    """Sampling occasions outside hospital: (person, day), for residents of covered regions."""
    first_year = np.array([REGION_FROM.get(int(r), 9999) for r in range(max(REGION_FROM) + 1)])
    persons, days = [], []
    for year in people.years:
        lo = np.maximum(people.entry, day(year))
        hi = np.minimum(people.exit, day(year + 1))
        covered = (hi > lo) & (first_year[people.region] <= year)
        who = np.flatnonzero(covered)
        mid = day(year, 7, 1)
        age = (mid - people.birth[who]) / DAYS_PER_YEAR
        rate = np.interp(age, (0, 18, 40, 60, 80), (0.04, 0.3, 0.45, 0.75, 1.0))
        rate += 1.6 * _onset_before(people, ("type2_diabetes", "type1_diabetes"), who, np.full(len(who), mid))
        rate += 1.2 * _onset_before(people, ("chronic_kidney_disease",), who, np.full(len(who), mid))
        rate += 0.4 * _onset_before(
            people, ("ischaemic_heart_disease", "heart_failure"), who, np.full(len(who), mid)
        )
        share = (hi[who] - lo[who]) / 365.0
        count = rng.poisson(rate * share)
        person = np.repeat(who, count)
        start = np.repeat(lo[who], count) + (rng.random(len(person)) * np.repeat(hi[who] - lo[who], count))
        persons.append(person)
        days.append(start.astype(np.int64))
    return np.concatenate(persons), np.concatenate(days)


def build_lab_results(
    rng: np.random.Generator,
    people: ChunkPeople,
    acute_person: np.ndarray,
    acute_day: np.ndarray,
    acute_minute: np.ndarray,
) -> LabResults:
    """Results of sampling occasions and of acute hospital contacts (their person, day and minute)."""
    _, step_ids, censored = value_texts()
    occasion_person, occasion_day = _occasions(rng, people)
    occasion_minute = rng.integers(7 * 60 + 30, 15 * 60, len(occasion_person))
    first_year = np.array([REGION_FROM.get(int(r), 9999) for r in range(max(REGION_FROM) + 1)])
    covered = first_year[people.region[acute_person]] <= year_of(acute_day)
    acute_person, acute_day, acute_minute = acute_person[covered], acute_day[covered], acute_minute[covered]
    person = np.concatenate([occasion_person, acute_person])
    when = np.concatenate([occasion_day, acute_day]).astype(np.int64)
    minute = np.concatenate(
        [occasion_minute, np.minimum(acute_minute + rng.integers(10, 90, len(acute_person)), 1439)]
    )
    acute = np.concatenate([np.zeros(len(occasion_person), bool), np.ones(len(acute_person), bool)])
    diabetes = _onset_before(people, ("type2_diabetes", "type1_diabetes"), person, when)
    kidney = _onset_before(people, ("chronic_kidney_disease",), person, when)
    heart = _onset_before(people, ("ischaemic_heart_disease", "heart_failure"), person, when)
    cancer = _onset_before(people, CANCERS, person, when)
    women = people.sex[person] == 2
    age = (when - people.birth[person]) / DAYS_PER_YEAR
    chance = {
        HBA1C: np.where(acute, 0.05, np.where(diabetes, 0.9, 0.15)),
        CREATININE: np.where(acute, 0.75, np.where(diabetes | kidney, 0.95, 0.5)),
        LDL: np.where(acute, 0.0, np.where(diabetes | heart, 0.6, 0.2)),
        HAEMOGLOBIN: np.where(acute, 0.8, np.where(kidney | cancer, 0.8, 0.4)),
        CRP: np.where(acute, 0.8, 0.25),
        TSH: np.where(acute, 0.02, np.where(women, 0.18, 0.1)),
    }
    rows, analyses, values = [], [], []
    n = len(person)
    # the person's own level of each analysis (repeated measurements of a person resemble each other)
    level = rng.normal(0, 1, (len(people), 4))
    for analysis, p in chance.items():
        tested = np.flatnonzero(rng.random(n) < p)
        a = age[tested]
        w = women[tested]
        noise = rng.normal(0, 1, len(tested))
        own = level[person[tested]]
        if analysis == HBA1C:
            t2_onset = people.onsets["type2_diabetes"][person[tested]]
            years_to_onset = np.where(t2_onset == NEVER, 99, (t2_onset - when[tested]) / DAYS_PER_YEAR)
            undiagnosed = (own[:, 0] > 2.2) & (a > 40)  # about 1 % of adults, never diagnosed
            value = 35 + 0.08 * np.maximum(a - 30, 0) + 3 * own[:, 0] + 2 * noise
            rising = (years_to_onset > 0) & (years_to_onset < 2)
            value = np.where(rising, 46 - 4 * years_to_onset + 4 * noise, value)
            value = np.where(undiagnosed, 50 + 5 * noise, value)
            type1 = _onset_before(people, ("type1_diabetes",), person[tested], when[tested])
            value = np.where(diabetes[tested], 51 + 7 * own[:, 0] + 5 * noise + 7 * type1, value)
            kinds = [(HBA1C, tested, value)]
        elif analysis == CREATININE:
            egfr = 108 - 0.9 * np.maximum(a - 25, 0) + 8 * own[:, 1] + 5 * noise
            egfr = np.where(kidney[tested], 45 + 14 * own[:, 1] + 5 * noise, egfr)
            egfr = np.where(acute[tested], egfr - 8, egfr).clip(3, 140)
            creatinine = 80 * (egfr / 90) ** -1.1 * np.where(w, 0.8, 1.0)
            kinds = [(CREATININE, tested, creatinine), (EGFR, tested, egfr)]
        elif analysis == LDL:
            treated = diabetes[tested] | heart[tested]
            value = np.where(treated, 2.0 + 0.5 * own[:, 2], 2.6 + 0.015 * a + 0.7 * own[:, 2]) + 0.25 * noise
            kinds = [(LDL, tested, value)]
        elif analysis == HAEMOGLOBIN:
            value = np.where(w, 8.3, 9.1) + 0.45 * own[:, 3] + 0.3 * noise
            value -= 0.9 * (kidney[tested] | cancer[tested]) + 0.4 * acute[tested]
            kinds = [(HAEMOGLOBIN, tested, value)]
        elif analysis == CRP:
            median = np.where(acute[tested], 25.0, 2.0)
            kinds = [(CRP, tested, median * np.exp(1.1 * noise))]
        else:
            kinds = [(TSH, tested, 1.6 * np.exp(0.5 * noise + 0.2 * own[:, 3]))]
        for kind, where, value in kinds:
            spec = ANALYSES[kind]
            steps = np.round(np.clip(value, spec.low, spec.high) * spec.scale).astype(np.int64)
            steps -= round(spec.low * spec.scale)
            region = people.region[person[where]]
            comma = region == DECIMAL_COMMA_REGION
            ids = np.where(comma, step_ids[2 * kind + 1][steps], step_ids[2 * kind][steps])
            if kind == EGFR:
                ids = np.where(value > 90, censored[ABOVE_90], ids)
            elif kind == TSH:
                ids = np.where(value < 0.01, censored[TSH_BELOW], ids)
            elif kind == CRP:
                limit_5 = np.isin(region, CRP_BELOW_5_REGIONS)
                ids = np.where(limit_5 & (value < 5), censored[CRP_BELOW_5], ids)
                ids = np.where(~limit_5 & (value < 1), censored[CRP_BELOW_1], ids)
            rows.append(where)
            analyses.append(np.full(len(where), kind, dtype=np.int8))
            values.append(ids)
    row = np.concatenate(rows)
    analysis_of = np.concatenate(analyses)
    value_of = np.concatenate(values).astype(np.int32)
    twice = rng.random(len(row)) < 0.005  # a sample now and then reported twice
    row = np.concatenate([row, row[twice]])
    analysis_of = np.concatenate([analysis_of, analysis_of[twice]])
    value_of = np.concatenate([value_of, value_of[twice]])
    order = np.lexsort((analysis_of, row))  # by sample, as delivered
    row, analysis_of, value_of = row[order], analysis_of[order], value_of[order]
    return LabResults(person[row], when[row], minute[row].astype(np.int64), analysis_of, value_of)
