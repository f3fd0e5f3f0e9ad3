"""A year of customer questions for ``benchmarks.service_year``: who asks what, in which order.

Questions come from the pilot families (feasibility counts with 1-3 breakdowns, attrition,
characteristics, incidence/prevalence series, treatment uptake, biobank availability) over realistic
codes, and follow what customers do with them: re-run a question, extend its period by a year, add or
refine a criterion, swap a breakdown, ask the same question from a colleague's key, ask a question
another organisation already asked. A few curious organisations run adversarial series (paddings:
the same question with the population nudged by a year of age; trackers: a cohort with and without a
rare condition; overlapping categories: characteristics whose items nest).

Everything is drawn from one seed, so a workload is reproducible; the questions are JSON payloads
that ``queries.validation.validate_query`` accepts (the benchmark's test checks a sample).
"""

from __future__ import annotations

import copy
import random
from dataclasses import dataclass, field, replace
from typing import Any

FIRST_INDEX_YEAR = 2008  # registers start in 2005: three years of look-back for "first" events
LAST_INDEX_YEAR = 2023  # the last full year the default registers cover before their end

# Family weights: feasibility counts dominate, as in the pilot's order book.
FAMILIES = {
    "cohort_count": 0.40,
    "attrition": 0.12,
    "characteristics": 0.15,
    "incidence_prevalence": 0.12,
    "treatment_uptake": 0.12,
    "biobank_availability": 0.09,
}

# What an organisation does next, once it has asked something (a first question is always new).
BEHAVIOURS = {
    "new": 0.38,
    "rerun": 0.08,
    "extend_period": 0.10,
    "refine": 0.14,
    "swap_breakdown": 0.10,
    "colleague": 0.08,
    "other_organisation": 0.07,
    "options": 0.05,  # the same question again, asking for rounding or noise
}
ADVERSARIAL_SERIES = ("padding", "tracker", "overlap")
CURIOUS_SHARE = 0.1  # organisations that now and then probe with an adversarial series
SERIES_CHANCE = 0.08  # per question of a curious organisation
ROUNDING_SHARE = 0.08
NOISE_SHARE = 0.02


@dataclass(frozen=True)
class Condition:
    name: str
    concept: dict[str, Any]
    drugs: tuple[tuple[str, tuple[str, ...]], ...]  # (drug group, ATC prefixes) for uptake and criteria


CONDITIONS = (
    Condition(
        "type 2 diabetes",
        {"type": "diagnosis", "codes": ["DE11"]},
        (("GLP-1", ("A10BJ",)), ("SGLT2", ("A10BK",)), ("DPP-4", ("A10BH",)), ("metformin", ("A10BA02",))),
    ),
    Condition("type 1 diabetes", {"type": "diagnosis", "codes": ["DE10"]}, (("insulin", ("A10A",)),)),
    Condition(
        "heart failure",
        {"type": "diagnosis", "codes": ["DI50"]},
        (
            ("beta blockers", ("C07",)),
            ("SGLT2", ("A10BK",)),
            ("MRA", ("C03DA",)),
            ("ACE inhibitors", ("C09A",)),
        ),
    ),
    Condition(
        "myocardial infarction",
        {"type": "diagnosis", "codes": ["DI21"]},
        (("platelet inhibitors", ("B01AC",)), ("statins", ("C10AA",)), ("beta blockers", ("C07",))),
    ),
    Condition(
        "atrial fibrillation",
        {"type": "diagnosis", "codes": ["DI48"]},
        (("DOAC", ("B01AF",)), ("vitamin K antagonists", ("B01AA",)), ("beta blockers", ("C07",))),
    ),
    Condition(
        "asthma",
        {"type": "diagnosis", "codes": ["DJ45"]},
        (("inhaled corticosteroids", ("R03BA",)), ("SABA", ("R03AC",)), ("ICS/LABA", ("R03AK",))),
    ),
    Condition(
        "COPD",
        {"type": "diagnosis", "codes": ["DJ44"]},
        (("LAMA", ("R03BB",)), ("ICS/LABA", ("R03AK",)), ("bronchodilators", ("R03",))),
    ),
    Condition(
        "stroke",
        {"type": "diagnosis", "codes": ["DI63"]},
        (("platelet inhibitors", ("B01AC",)), ("DOAC", ("B01AF",)), ("statins", ("C10AA",))),
    ),
    Condition("depression", {"type": "diagnosis", "codes": ["DF32", "DF33"]}, (("SSRI", ("N06AB",)),)),
    Condition("breast cancer", {"type": "cancer", "codes": ["C50"]}, (("endocrine therapy", ("L02",)),)),
    Condition(
        "colorectal cancer", {"type": "cancer", "codes": ["C18", "C19", "C20"]}, (("opioids", ("N02A",)),)
    ),
    Condition("lung cancer", {"type": "cancer", "codes": ["C34"]}, (("opioids", ("N02A",)),)),
    Condition("prostate cancer", {"type": "cancer", "codes": ["C61"]}, (("endocrine therapy", ("L02",)),)),
    Condition(
        "GLP-1 users",
        {"type": "prescription", "atc": ["A10BJ"]},
        (("SGLT2", ("A10BK",)), ("metformin", ("A10BA02",))),
    ),
    Condition(
        "SGLT2 users",
        {"type": "prescription", "atc": ["A10BK"]},
        (("GLP-1", ("A10BJ",)), ("loop diuretics", ("C03C",))),
    ),
    Condition(
        "DOAC users",
        {"type": "prescription", "atc": ["B01AF"]},
        (("beta blockers", ("C07",)), ("statins", ("C10AA",))),
    ),
)

COMORBIDITIES = (
    ("hypertension", {"type": "diagnosis", "codes": ["DI10"]}),
    ("diabetes", {"type": "diagnosis", "codes": ["DE10", "DE11"]}),
    ("ischaemic heart disease", {"type": "diagnosis", "codes": ["DI20", "DI21", "DI25"]}),
    ("heart failure", {"type": "diagnosis", "codes": ["DI50"]}),
    ("atrial fibrillation", {"type": "diagnosis", "codes": ["DI48"]}),
    ("COPD", {"type": "diagnosis", "codes": ["DJ44"]}),
    ("asthma", {"type": "diagnosis", "codes": ["DJ45"]}),
    ("depression", {"type": "diagnosis", "codes": ["DF32", "DF33"]}),
    ("chronic kidney disease", {"type": "diagnosis", "codes": ["DN18"]}),
    ("any cancer", {"type": "cancer", "codes": ["C"]}),
)
ITEM_DRUGS = (
    ("statin", ["C10AA"]),
    ("beta blocker", ["C07"]),
    ("DOAC", ["B01AF"]),
    ("inhaled bronchodilators", ["R03"]),
    ("glucose-lowering drugs", ["A10"]),
    ("antidepressants", ["N06A"]),
)
DEMOGRAPHIC_ITEMS = (
    {"name": "women", "concept": {"type": "sex", "sex": "female"}},
    {"name": "aged 65 or more", "concept": {"type": "age", "min": 65}},
    {"name": "primary education only", "concept": {"type": "education", "levels": [10]}},
    {"name": "master or PhD", "concept": {"type": "education", "levels": [70, 80]}},
    {"name": "low income", "concept": {"type": "income", "max": 250000}},
    {
        "name": "died within a year",
        "concept": {"type": "vital_status", "status": "died"},
        "window": {"start": 0, "end": 365},
    },
)
# Rare conditions a tracker singles out (a handful of persons in a cohort).
RARE = (
    {"type": "diagnosis", "codes": ["DG30"]},
    {"type": "cancer", "codes": ["C43"]},
    {"type": "diagnosis", "codes": ["DN18"]},
)
BREAKDOWNS: tuple[dict[str, Any], ...] = (
    {"by": "sex"},
    {"by": "region"},
    {"by": "age_band", "width": 10},
    {"by": "age_band", "width": 20, "top": 80},
    {"by": "age_band", "width": 5, "top": 90},
    {"by": "index_year"},
    {"by": "education"},
)
SAMPLE_TYPES = ("dried_blood_spot", "serum", "plasma", "whole_blood", "dna", "tissue")
REGIONS = (1081, 1082, 1083, 1084, 1085)


@dataclass(frozen=True)
class Question:
    """One question's parameters; ``payload()`` renders it as the query JSON a customer sends."""

    family: str
    condition: int
    start_year: int
    end_year: int
    occurrence: str = "first"
    age_min: int | None = None
    age_max: int | None = None
    sex: str | None = None
    regions: tuple[int, ...] | None = None
    criteria: tuple[dict[str, Any], ...] = ()
    breakdowns: tuple[dict[str, Any], ...] = ()
    items: tuple[dict[str, Any], ...] = ()
    drugs: tuple[tuple[str, tuple[str, ...]], ...] = ()
    days: tuple[int, ...] = (30, 90, 180, 365)
    washout_days: int | None = None
    sample_types: tuple[str, ...] = ()
    sample_window_end: int | None = None
    rounding: int | None = None
    noise: bool = False
    title: str = ""

    def payload(self) -> dict[str, Any]:
        condition = CONDITIONS[self.condition]
        query: dict[str, Any] = {
            "version": 1,
            "title": self.title or f"{condition.name} {self.start_year}-{self.end_year}",
            "index": {
                "concept": copy.deepcopy(condition.concept),
                "period": {"start": f"{self.start_year}-01-01", "end": f"{self.end_year}-12-31"},
                "occurrence": self.occurrence,
            },
        }
        population: dict[str, Any] = {}
        if self.age_min is not None or self.age_max is not None:
            population["age"] = {"min": self.age_min, "max": self.age_max}
        if self.sex is not None:
            population["sex"] = self.sex
        if self.regions is not None:
            population["regions"] = list(self.regions)
        if population:
            query["population"] = population
        if self.criteria:
            query["criteria"] = copy.deepcopy(list(self.criteria))
        query["result"] = self._result()
        if self.rounding is not None or self.noise:
            query["disclosure"] = {"noise": "gaussian" if self.noise else "none", "rounding": self.rounding}
        return query

    def _result(self) -> dict[str, Any]:
        if self.family in ("cohort_count", "incidence_prevalence"):
            return {"kind": self.family, "breakdowns": copy.deepcopy(list(self.breakdowns))}
        if self.family == "attrition":
            return {"kind": "attrition"}
        if self.family == "characteristics":
            return {"kind": "characteristics", "items": copy.deepcopy(list(self.items))}
        if self.family == "treatment_uptake":
            result: dict[str, Any] = {
                "kind": "treatment_uptake",
                "drugs": [{"name": name, "atc": list(atc)} for name, atc in self.drugs],
                "days": list(self.days),
            }
            if self.washout_days is not None:
                result["washout_days"] = self.washout_days
            return result
        window = {"end": self.sample_window_end} if self.sample_window_end is not None else None
        result = {"kind": "biobank_availability", "sample_types": list(self.sample_types)}
        if window is not None:
            result["window"] = window
        return result


@dataclass(frozen=True)
class Ask:
    """One release request: which organisation, through which of its keys, asks what, and why."""

    organisation: int
    key: int
    behaviour: str
    question: Question

    def payload(self) -> dict[str, Any]:
        return self.question.payload()


@dataclass
class _History:
    questions: list[Question] = field(default_factory=list)
    last_key: int = 0


def _period(rng: random.Random) -> tuple[int, int]:
    length = rng.choice((1, 2, 3, 3, 4, 5, 6))
    start = rng.randint(FIRST_INDEX_YEAR, LAST_INDEX_YEAR - length + 1)
    return start, start + length - 1


def _drug_criterion(rng: random.Random, condition: Condition) -> dict[str, Any]:
    name, atc = rng.choice(condition.drugs)
    if rng.random() < 0.5:
        return {
            "type": "include",
            "name": f"{name} within a year",
            "concept": {"type": "prescription", "atc": list(atc)},
            "window": {"start": 0, "end": 365},
        }
    return {
        "type": "exclude",
        "name": f"no {name} in the year before (new users)",
        "concept": {"type": "prescription", "atc": list(atc)},
        "window": {"start": -365, "end": -1},
    }


def _criterion(rng: random.Random, condition: Condition) -> dict[str, Any]:
    roll = rng.random()
    if roll < 0.4:
        return _drug_criterion(rng, condition)
    if roll < 0.6:
        return {
            "type": "exclude",
            "name": "no cancer in the five years before",
            "concept": {"type": "cancer", "codes": ["C"]},
            "window": {"start": -1825, "end": -1},
        }
    if roll < 0.8:
        name, concept = rng.choice(COMORBIDITIES)
        return {
            "type": rng.choice(("include", "exclude")),
            "name": f"{name} before index",
            "concept": copy.deepcopy(concept),
            "window": {"end": -1},
        }
    return {
        "type": "exclude",
        "name": "died within 30 days",
        "concept": {"type": "vital_status", "status": "died"},
        "window": {"start": 0, "end": 30},
    }


def _breakdowns(rng: random.Random, count: int) -> tuple[dict[str, Any], ...]:
    chosen: list[dict[str, Any]] = []
    for breakdown in rng.sample(BREAKDOWNS, len(BREAKDOWNS)):
        if len(chosen) == count:
            break
        if all(b["by"] != breakdown["by"] for b in chosen):
            chosen.append(dict(breakdown))
    return tuple(chosen)


def _items(rng: random.Random) -> tuple[dict[str, Any], ...]:
    items: list[dict[str, Any]] = []
    for name, concept in rng.sample(COMORBIDITIES, rng.randint(2, 6)):
        items.append(
            {"name": f"{name} before index", "concept": copy.deepcopy(concept), "window": {"end": 0}}
        )
    for name, atc in rng.sample(ITEM_DRUGS, rng.randint(0, 3)):
        items.append(
            {
                "name": f"{name} in the year before",
                "concept": {"type": "prescription", "atc": list(atc)},
                "window": {"start": -365, "end": -1},
            }
        )
    items.extend(copy.deepcopy(rng.sample(DEMOGRAPHIC_ITEMS, rng.randint(1, 4))))
    return tuple(items)


def new_question(rng: random.Random) -> Question:
    family = rng.choices(list(FAMILIES), weights=list(FAMILIES.values()))[0]
    condition = rng.randrange(len(CONDITIONS))
    start, end = _period(rng)
    base = Question(family=family, condition=condition, start_year=start, end_year=end)
    adult = rng.random() < 0.6
    age_min = rng.choice((18, 30, 40, 50, 65)) if adult else None
    age_max = rng.choice((None, None, 70, 80)) if adult else None
    if age_min is not None and age_max is not None and age_max <= age_min:
        age_max = None
    if family == "incidence_prevalence":
        # first events only, no criteria, no age constraint, at most one sex or region breakdown
        breakdowns = rng.choice(((), ({"by": "sex"},), ({"by": "region"},)))
        return replace(base, breakdowns=breakdowns, sex=rng.choice((None, None, None, "female", "male")))
    question = replace(base, age_min=age_min, age_max=age_max)
    if family != "cohort_count" and rng.random() < 0.3:
        question = replace(question, occurrence="any")
    conditions = CONDITIONS[condition]
    if family == "cohort_count":
        criteria = tuple(_criterion(rng, conditions) for _ in range(rng.choice((0, 0, 1, 2))))
        return replace(question, breakdowns=_breakdowns(rng, rng.choice((1, 2, 2, 3))), criteria=criteria)
    if family == "attrition":
        return replace(
            question, criteria=tuple(_criterion(rng, conditions) for _ in range(rng.randint(1, 4)))
        )
    if family == "characteristics":
        return replace(question, items=_items(rng))
    if family == "treatment_uptake":
        drugs = tuple(rng.sample(conditions.drugs, rng.randint(1, len(conditions.drugs))))
        days = rng.choice(((30, 90, 180, 365), (90, 365), (30, 180, 365, 730)))
        washout = rng.choice((None, 180, 365))
        return replace(question, drugs=drugs, days=days, washout_days=washout)
    samples = tuple(sorted(rng.sample(SAMPLE_TYPES, rng.randint(1, len(SAMPLE_TYPES)))))
    return replace(question, sample_types=samples, sample_window_end=rng.choice((None, 0, 365)))


def _extend_period(question: Question) -> Question:
    if question.end_year < LAST_INDEX_YEAR:
        return replace(question, end_year=question.end_year + 1)
    return replace(question, start_year=max(FIRST_INDEX_YEAR, question.start_year - 1))


def _refine(rng: random.Random, question: Question) -> Question:
    condition = CONDITIONS[question.condition]
    if question.family == "incidence_prevalence":
        if question.regions is None and rng.random() < 0.5:
            return replace(question, regions=tuple(sorted(rng.sample(REGIONS, rng.randint(1, 3)))))
        return replace(question, sex=rng.choice(("female", "male")))
    if question.family == "characteristics" and rng.random() < 0.5:
        extra = _items(rng)[:1]
        names = {item["name"] for item in question.items}
        return replace(question, items=question.items + tuple(i for i in extra if i["name"] not in names))
    roll = rng.random()
    if roll < 0.35 or (question.family == "attrition" and roll < 0.7):
        return replace(question, criteria=(*question.criteria, _criterion(rng, condition))[:6])
    if roll < 0.7:
        age_min = (question.age_min or 18) + rng.choice((-5, 5, 10))
        age_min = max(0, min(age_min, 80))
        age_max = question.age_max if question.age_max is None or question.age_max > age_min else None
        return replace(question, age_min=age_min, age_max=age_max)
    if question.criteria:  # tighten the first criterion's window
        first = copy.deepcopy(question.criteria[0])
        if first.get("window"):
            first["min_count"] = 2
        return replace(question, criteria=(first, *question.criteria[1:]))
    return replace(question, criteria=(_criterion(rng, condition),))


def _swap_breakdown(rng: random.Random, question: Question) -> Question:
    if question.family == "incidence_prevalence":
        current = question.breakdowns[0]["by"] if question.breakdowns else None
        return replace(question, breakdowns=({"by": "region" if current == "sex" else "sex"},))
    if question.family != "cohort_count" or not question.breakdowns:
        return _refine(rng, question)
    used = {b["by"] for b in question.breakdowns}
    candidates = [b for b in BREAKDOWNS if b["by"] not in used]
    position = rng.randrange(len(question.breakdowns))
    swapped = list(question.breakdowns)
    swapped[position] = dict(rng.choice(candidates))
    return replace(question, breakdowns=tuple(swapped))


def _with_options(rng: random.Random, question: Question) -> Question:
    if rng.random() < 0.75:
        return replace(question, rounding=5, noise=False)
    return replace(question, noise=True, rounding=None)


def _series(rng: random.Random, kind: str) -> list[Question]:
    """An adversarial series: questions whose differences single out a few persons."""
    base = new_question(rng)
    condition = rng.randrange(len(CONDITIONS))
    start, end = _period(rng)
    if kind == "padding":
        # the same feasibility count, the age range nudged one year at a time
        age_min, age_max = rng.choice(((40, 70), (50, 80), (18, 65)))
        count = replace(
            base,
            family="cohort_count",
            condition=condition,
            start_year=start,
            end_year=end,
            occurrence="first",
            age_min=age_min,
            age_max=age_max,
            criteria=(),
            breakdowns=_breakdowns(rng, rng.choice((1, 2))),
            rounding=None,
            noise=False,
        )
        nudges = [(0, 0), (1, 0), (0, 1), (2, 0), (0, 2), (1, 1)][: rng.randint(3, 6)]
        return [replace(count, age_min=age_min + a, age_max=age_max + b, title="") for a, b in nudges]
    if kind == "tracker":
        # T, T with a rare condition, T without it: T minus the third is the second
        rare = copy.deepcopy(rng.choice(RARE))
        count = replace(
            base,
            family="cohort_count",
            condition=condition,
            start_year=start,
            end_year=end,
            occurrence="first",
            criteria=(),
            breakdowns=({"by": "sex"},) if rng.random() < 0.5 else ({"by": "region"},),
            rounding=None,
            noise=False,
        )
        with_rare = {
            "type": "include",
            "name": "rare condition before",
            "concept": rare,
            "window": {"end": -1},
        }
        without = {**copy.deepcopy(with_rare), "type": "exclude"}
        return [count, replace(count, criteria=(with_rare,)), replace(count, criteria=(without,))]
    # overlapping categories: characteristics whose items nest (aged 65+, 66+, 67+; regions and unions)
    nested = [
        {"name": f"aged {age} or more", "concept": {"type": "age", "min": age}} for age in (65, 66, 67, 68)
    ]
    regions = [
        {"name": "Hovedstaden", "concept": {"type": "region", "regions": [1084]}},
        {"name": "Hovedstaden or Sjælland", "concept": {"type": "region", "regions": [1084, 1085]}},
        {"name": "Sjælland", "concept": {"type": "region", "regions": [1085]}},
    ]
    characteristics = replace(
        base,
        family="characteristics",
        condition=condition,
        start_year=start,
        end_year=end,
        criteria=(),
        rounding=None,
        noise=False,
    )
    first = replace(characteristics, items=tuple(nested[:2] + regions[:2]))
    second = replace(characteristics, items=tuple(nested[1:] + regions[1:]))
    return [first, second, replace(characteristics, age_min=66, items=tuple(nested[2:]))]


def workload(organisations: int, releases: int, seed: int, keys_per_organisation: int = 2) -> list[Ask]:
    """``releases`` asks by ``organisations`` organisations with ``keys_per_organisation`` keys each."""
    if organisations < 1 or releases < 1 or keys_per_organisation < 1:
        raise ValueError("organisations, releases and keys per organisation must be at least 1")
    rng = random.Random(seed)
    # a few organisations ask most questions (Zipf-like activity), as in any order book
    activity = [1 / (rank + 1) ** 0.8 for rank in range(organisations)]
    curious = set(rng.sample(range(organisations), max(1, round(CURIOUS_SHARE * organisations))))
    histories = [_History() for _ in range(organisations)]
    asks: list[Ask] = []
    series = 0
    while len(asks) < releases:
        organisation = rng.choices(range(organisations), weights=activity)[0]
        history = histories[organisation]
        key = rng.randrange(keys_per_organisation)
        if organisation in curious and history.questions and rng.random() < SERIES_CHANCE:
            # in turn, so even a short year has each kind of probe
            kind = ADVERSARIAL_SERIES[series % len(ADVERSARIAL_SERIES)]
            series += 1
            for question in _series(rng, kind):
                asks.append(Ask(organisation, key, kind, question))
                history.questions.append(question)
            continue
        behaviour = rng.choices(list(BEHAVIOURS), weights=list(BEHAVIOURS.values()))[0]
        earlier_asks = [a for a in asks if a.organisation != organisation]
        if not history.questions and behaviour != "other_organisation":
            behaviour = "new"
        if behaviour == "other_organisation" and not earlier_asks:
            behaviour = "new"
        recent = history.questions[-10:]
        if behaviour == "new":
            question = new_question(rng)
            if rng.random() < ROUNDING_SHARE:
                question = replace(question, rounding=5)
            elif rng.random() < NOISE_SHARE:
                question = replace(question, noise=True)
        elif behaviour == "rerun":
            question = rng.choice(recent)
            key = history.last_key
        elif behaviour == "colleague":
            question = rng.choice(recent)
            if keys_per_organisation > 1:
                key = (
                    history.last_key + 1 + rng.randrange(keys_per_organisation - 1)
                ) % keys_per_organisation
        elif behaviour == "other_organisation":
            question = rng.choice(earlier_asks[-200:]).question
        elif behaviour == "extend_period":
            question = _extend_period(rng.choice(recent))
        elif behaviour == "refine":
            question = _refine(rng, rng.choice(recent))
        elif behaviour == "swap_breakdown":
            question = _swap_breakdown(rng, rng.choice(recent))
        else:
            question = _with_options(rng, rng.choice(recent))
        asks.append(Ask(organisation, key, behaviour, question))
        history.questions.append(question)
        history.last_key = key
    return asks[:releases]
