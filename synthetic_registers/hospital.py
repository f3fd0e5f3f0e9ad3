"""LPR: hospital contacts and their diagnoses, written to LPR2 (until 2018) or LPR3 (from 2019).

Contacts come from four sources: background use (a persistent, heavy-tailed propensity per
person times age and calendar factors), condition contacts (the diagnosing contact and
follow-ups of hospital-coded conditions), pregnancies and births, and secondary diagnoses that
repeat a person's coded chronic conditions. Everything is an integer array until the writer.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from synthetic_registers import hospital_parameters as hp
from synthetic_registers.codes import icd10_categories, icd10_list
from synthetic_registers.conditions import ALL_CONDITIONS
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import DAYS_PER_YEAR, NEVER, day, year_of

LPR3_FROM = day(2019)
KIND_ADMISSION, KIND_OUTPATIENT, KIND_EMERGENCY = 0, 1, 2
_COVID_FROM, _COVID_TO = day(2020, 3, 11), day(2020, 6, 1)
# conditions whose diagnosing contact is usually an admission
_ACUTE_ONSET = {"ischaemic_heart_disease", "stroke", "heart_failure", "lung_cancer", "colorectal_cancer"}
_REPEATED_AS_B = tuple(c.name for c in ALL_CONDITIONS[:14])
# action diagnoses of a delivery; each delivery contact also carries DZ370 (single live birth)
DELIVERY_CODES = ("DO800", "DO809", "DO820", "DO829", "DO480", "DO601", "DO700", "DO342", "DO420")


@dataclass(frozen=True)
class CodeBook:
    """Integer ids for every LPR diagnosis code, with what each code allows."""

    codes: tuple[str, ...]
    sex: np.ndarray
    min_age: np.ndarray
    max_age: np.ndarray
    background_codes: np.ndarray  # ids of category+digit codes drawn as background diagnoses
    background_lookup: np.ndarray  # inverse CDF tabulated on 2**20 points: sampling is one gather
    specialty: np.ndarray  # index into SPECIALTIES by the code's chapter
    index: dict[str, int]

    def ids(self, codes: list[str] | tuple[str, ...]) -> np.ndarray:
        return np.array([self.index[c] for c in codes], dtype=np.int32)


SPECIALTIES: tuple[tuple[str, str], ...] = tuple(
    sorted({*hp.SPECIALTY.values(), hp.EMERGENCY_SPECIALTY, hp.PAEDIATRICS})
)


_ADMISSION_AGES = np.array([age for age, _ in hp.ADMISSION_SHARE], dtype=np.float64)
_ADMISSION_SHARES = np.array([share for _, share in hp.ADMISSION_SHARE], dtype=np.float64)


@functools.cache
def code_book() -> CodeBook:
    codes = tuple(c.code for c in icd10_list().codes)
    index = {c: i for i, c in enumerate(codes)}
    categories = {c.code: c for c in icd10_categories()}
    cat_of = [categories[c[1:4]] for c in codes]
    spec = np.array([SPECIALTIES.index(hp.SPECIALTY[c[1]]) for c in codes], dtype=np.int8)
    background, p = [], []
    digit_p = np.array(hp.SUBCODE_DIGIT_WEIGHTS) / sum(hp.SUBCODE_DIGIT_WEIGHTS)
    for cat in icd10_categories():
        if cat.weight > 0:
            for d in range(10):
                background.append(index[f"D{cat.code}{d}"])
                p.append(cat.weight * digit_p[d])
    p_arr = np.array(p)
    return CodeBook(
        codes=codes,
        sex=np.array([c.sex for c in cat_of], dtype=np.int8),
        min_age=np.array([c.min_age for c in cat_of], dtype=np.int16),
        max_age=np.array([c.max_age for c in cat_of], dtype=np.int16),
        background_codes=np.array(background, dtype=np.int32),
        background_lookup=np.array(background, dtype=np.int32)[
            np.searchsorted(np.cumsum(p_arr / p_arr.sum()), (np.arange(2**20) + 0.5) / 2**20).clip(
                0, len(p) - 1
            )
        ],
        specialty=spec,
        index=index,
    )


@dataclass
class Contacts:
    person: np.ndarray
    start: np.ndarray  # day
    start_minute: np.ndarray  # minutes after midnight
    minutes: np.ndarray  # duration in minutes
    kind: np.ndarray
    virtual: np.ndarray
    acute: np.ndarray
    specialty: np.ndarray
    a_code: np.ndarray


@dataclass
class HospitalRecords:
    contacts: Contacts
    b_contact: np.ndarray  # contact row of each secondary diagnosis
    b_code: np.ndarray


class _Builder:
    def __init__(self) -> None:
        self.parts: list[dict[str, np.ndarray]] = []

    def add(self, person, start, kind, a_code, acute) -> None:
        self.parts.append(
            {
                "person": person.astype(np.int32),
                "start": start.astype(np.int32),
                "kind": kind.astype(np.int8),
                "a_code": a_code.astype(np.int32),
                "acute": acute.astype(bool),
            }
        )

    def concat(self) -> dict[str, np.ndarray]:
        return {k: np.concatenate([p[k] for p in self.parts]) for k in self.parts[0]}


def _valid(book: CodeBook, code: np.ndarray, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    ok = (book.sex[code] == 0) | (book.sex[code] == sex)
    return ok & (age >= book.min_age[code]) & (age <= book.max_age[code])


def _background_codes(rng, book: CodeBook, sex: np.ndarray, age: np.ndarray) -> np.ndarray:
    """Background diagnoses valid for each person's sex and age (two tries, then observation)."""
    code = book.background_lookup[rng.integers(0, len(book.background_lookup), len(sex))]
    bad = ~_valid(book, code, sex, age)
    retry = book.background_lookup[rng.integers(0, len(book.background_lookup), int(bad.sum()))]
    code[bad] = retry
    still = ~_valid(book, code, sex, age)
    code[still] = book.index["DZ039"]
    return code


def _interp_year(table: dict[int, float], years: np.ndarray) -> np.ndarray:
    keys = sorted(table)
    return np.interp(years, keys, [table[k] for k in keys])


def _background_contacts(rng, people: ChunkPeople, build: _Builder, chronic_count) -> None:
    book = code_book()
    propensity = rng.gamma(hp.PROPENSITY_SHAPE, 1 / hp.PROPENSITY_SHAPE, len(people))
    # admissions concentrate in fewer persons than contacts do (1.8 admissions per admitted patient)
    admission_propensity = rng.gamma(
        hp.ADMISSION_PROPENSITY_SHAPE, 1 / hp.ADMISSION_PROPENSITY_SHAPE, len(people)
    )
    for year in people.years:
        lo = np.maximum(people.entry, day(year))
        hi = np.minimum(people.exit, day(year + 1))
        resident = np.flatnonzero(hi > lo)
        age = (day(year, 7, 1) - people.birth[resident]) / DAYS_PER_YEAR
        rate = np.interp(age, hp.AGE_KNOTS, hp.AGE_RATE) * np.where(
            people.sex[resident] == 2, hp.WOMEN_FACTOR, 1.0
        )
        rate *= 1 + hp.CHRONIC_EXTRA * chronic_count(day(year, 7, 1))[resident]
        mean = hp.CONTACTS_PER_YEAR * float(_interp_year(hp.YEAR_FACTOR, np.array([year]))[0]) * rate
        share = (hi[resident] - lo[resident]) / 365.0
        count = rng.poisson(mean * propensity[resident] * share)
        person = np.repeat(resident, count)
        start = np.repeat(lo[resident], count) + (rng.random(len(person)) * np.repeat(share * 365.0, count))
        start = start.astype(np.int32)
        planned = rng.random(len(person)) >= hp.EMERGENCY_SHARE
        covid = (
            (start >= _COVID_FROM)
            & (start < _COVID_TO)
            & planned
            & (rng.random(len(person)) < hp.COVID_THINNING)
        )
        person, start, planned = person[~covid], start[~covid], planned[~covid]
        age = (start - people.birth[person]) / DAYS_PER_YEAR
        admit_p = np.interp(age, _ADMISSION_AGES, _ADMISSION_SHARES)
        admit_p = admit_p * np.where(people.sex[person] == 2, hp.WOMEN_ADMISSION_FACTOR, 1.0)
        admit_p = admit_p * admission_propensity[person]
        kind = np.where(
            ~planned,
            KIND_EMERGENCY,
            np.where(rng.random(len(person)) < admit_p, KIND_ADMISSION, KIND_OUTPATIENT),
        )
        code = _background_codes(rng, book, people.sex[person], age)
        if year in (2020, 2021, 2022):
            covid_code = rng.random(len(person)) < 0.01
            code[covid_code] = book.index["DU071"]
        build.add(person, start, kind, code, ~planned)


def _condition_contacts(rng, people: ChunkPeople, build: _Builder) -> dict[str, np.ndarray]:
    """Diagnosing contact and follow-ups of hospital-coded conditions; returns who is coded."""
    book = code_book()
    coded = {}
    for condition in ALL_CONDITIONS:
        onset = people.onsets[condition.name]
        is_coded = (onset != NEVER) & (rng.random(len(people)) < condition.hospital_share)
        coded[condition.name] = is_coded
        who = np.flatnonzero(is_coded)
        if len(who) == 0:
            continue
        codes = book.ids([c for c, _ in condition.lpr_codes])
        weights = np.array([w for _, w in condition.lpr_codes])
        # when the diagnosis first reaches a hospital: at onset, or later for GP-managed conditions
        delay = rng.exponential(0.05 if condition.hospital_share > 0.9 else 2.5, len(who)) * DAYS_PER_YEAR
        first = onset[who] + delay.astype(np.int64)
        lo = np.maximum(np.maximum(first, people.entry[who]), people.start_day)
        hi = np.minimum(people.exit[who], people.end_day)
        at_first = (first >= people.entry[who]) & (first >= people.start_day) & (first < hi)
        years = np.clip(hi - lo, 0, None) / DAYS_PER_YEAR
        follow = rng.poisson(condition.followups_per_year * years)
        person = np.concatenate([who[at_first], np.repeat(who, follow)])
        start = np.concatenate(
            [first[at_first], np.repeat(lo, follow) + rng.random(follow.sum()) * np.repeat(hi - lo, follow)]
        )
        initial = np.zeros(len(person), dtype=bool)
        initial[: at_first.sum()] = True
        admit = initial & (rng.random(len(person)) < (0.6 if condition.name in _ACUTE_ONSET else 0.1))
        kind = np.where(admit, KIND_ADMISSION, KIND_OUTPATIENT)
        code = codes[rng.choice(len(codes), size=len(person), p=weights / weights.sum())]
        build.add(person, start, kind, code, admit)
    return coded


def _pregnancies(rng, people: ChunkPeople, build: _Builder) -> None:
    book = code_book()
    child = np.flatnonzero(people.mother >= 0)
    mother = people.mother[child]
    birth = people.birth[child]
    delivery = book.ids(DELIVERY_CODES)
    delivery_p = np.array([0.45, 0.2, 0.1, 0.08, 0.05, 0.04, 0.04, 0.02, 0.02])
    build.add(
        mother,
        birth - (rng.random(len(child)) < 0.3),
        np.full(len(child), KIND_ADMISSION),
        delivery[rng.choice(len(delivery), size=len(child), p=delivery_p)],
        np.ones(len(child), bool),
    )
    care = book.ids(["DZ359", "DZ369", "DZ339", "DO269", "DO219"])
    for _ in range(2):
        before = birth - rng.integers(30, 240, len(child))
        ok = before >= people.entry[mother]
        build.add(
            mother[ok],
            before[ok],
            np.full(ok.sum(), KIND_OUTPATIENT),
            care[rng.integers(0, len(care), ok.sum())],
            np.zeros(ok.sum(), bool),
        )
    newborn = book.ids(["DZ380", "DZ381", "DZ383"])
    build.add(
        child,
        birth,
        np.full(len(child), KIND_ADMISSION),
        newborn[rng.choice(3, size=len(child), p=[0.9, 0.05, 0.05])],
        np.ones(len(child), bool),
    )


def _finish_contacts(rng, people: ChunkPeople, raw: dict[str, np.ndarray]) -> Contacts:
    book = code_book()
    inside = raw["start"] >= np.maximum(people.entry[raw["person"]], people.start_day)
    inside &= raw["start"] < np.minimum(people.exit[raw["person"]], people.end_day)
    raw = {k: v[inside] for k, v in raw.items()}
    n = len(raw["person"])
    kind = raw["kind"]
    minutes = np.where(
        kind == KIND_ADMISSION,
        720 + rng.geometric(0.28, n) * 1440 - rng.integers(0, 700, n),
        np.where(kind == KIND_EMERGENCY, rng.integers(45, 600, n), rng.integers(15, 150, n)),
    )
    start_minute = np.where(raw["acute"], rng.integers(0, 1440, n), rng.integers(8 * 60, 15 * 60, n))
    # nobody is discharged after death or emigration
    last = (people.exit[raw["person"]].astype(np.int64) - raw["start"]) * 1440 - start_minute - 1
    minutes = np.minimum(minutes, np.maximum(last, 1))
    years = year_of(raw["start"])
    virtual = (raw["start"] >= LPR3_FROM) & (kind == KIND_OUTPATIENT)
    virtual &= rng.random(n) < _interp_year(hp.VIRTUAL_SHARE, years)
    specialty = book.specialty[raw["a_code"]]
    age = (raw["start"] - people.birth[raw["person"]]) / DAYS_PER_YEAR
    children = (age < 15) & ~np.isin(specialty, [SPECIALTIES.index(hp.SPECIALTY[c]) for c in "SOT"])
    specialty = np.where(children, SPECIALTIES.index(hp.PAEDIATRICS), specialty)
    specialty = np.where(kind == KIND_EMERGENCY, SPECIALTIES.index(hp.EMERGENCY_SPECIALTY), specialty)
    # contacts stay in generation order, as unsorted as a real extract
    return Contacts(
        person=raw["person"],
        start=raw["start"],
        start_minute=start_minute.astype(np.int16),
        minutes=minutes.astype(np.int32),
        kind=kind,
        virtual=virtual,
        acute=raw["acute"],
        specialty=specialty.astype(np.int8),
        a_code=raw["a_code"],
    )


def _secondary_diagnoses(rng, people: ChunkPeople, contacts: Contacts, coded: dict[str, np.ndarray]):
    book = code_book()
    n = len(contacts.person)
    lpr3 = contacts.start >= LPR3_FROM
    count = np.where(
        lpr3,
        rng.poisson(_interp_year(hp.B_DIAGNOSES_LPR3_MEAN, year_of(contacts.start))),
        rng.choice(4, size=n, p=hp.B_DIAGNOSES_LPR2),
    )
    row = np.repeat(np.arange(n), count)
    age = (contacts.start[row] - people.birth[contacts.person[row]]) / DAYS_PER_YEAR
    code = _background_codes(rng, book, people.sex[contacts.person[row]], age)
    rows, codes = [row], [code]
    deliveries = np.flatnonzero(np.isin(contacts.a_code, book.ids(DELIVERY_CODES)))
    rows.append(deliveries)
    codes.append(np.full(len(deliveries), book.index["DZ370"], dtype=np.int32))
    # only contacts of persons with a coded chronic condition can repeat it
    any_coded = np.zeros(len(people), bool)
    for name in _REPEATED_AS_B:
        any_coded |= coded[name]
    candidates = np.flatnonzero(any_coded[contacts.person])
    who = contacts.person[candidates]
    when = contacts.start[candidates]
    for name in _REPEATED_AS_B:
        condition = next(c for c in ALL_CONDITIONS if c.name == name)
        after = coded[name][who] & (when >= people.onsets[name][who])
        pick = candidates[after & (rng.random(len(candidates)) < hp.CHRONIC_AS_B_DIAGNOSIS)]
        ids = book.ids([c for c, _ in condition.lpr_codes])
        rows.append(pick)
        codes.append(ids[rng.integers(0, len(ids), len(pick))])
    b_row = np.concatenate(rows)
    b_code = np.concatenate(codes)
    clash = b_code == contacts.a_code[b_row]  # a code is never both action and secondary diagnosis
    return b_row[~clash], b_code[~clash]


def build_hospital_records(rng: np.random.Generator, people: ChunkPeople) -> HospitalRecords:
    build = _Builder()
    chronic = [people.onsets[name] for name in _REPEATED_AS_B]

    def chronic_count(at: int) -> np.ndarray:
        count = np.zeros(len(people), np.int8)
        for onset in chronic:
            count += onset <= at
        return count

    _background_contacts(rng, people, build, chronic_count)
    coded = _condition_contacts(rng, people, build)
    _pregnancies(rng, people, build)
    contacts = _finish_contacts(rng, people, build.concat())
    b_row, b_code = _secondary_diagnoses(rng, people, contacts, coded)
    return HospitalRecords(contacts, b_row, b_code)
