"""Review finding C2: inclusion–exclusion over three or more releases, through the real engine.

The differencing guard compares person sets pairwise and the attacker LP links earlier releases only
through identical person sets. Counts that each differ from every other released count by k or
more persons can still be combined: count(C∧A) + count(C∧B) − count(C∧(A∨B)) = |C∧A∧B|, and
C − (C∖c) − (C∖d) + (C∖c∖d) = |C∩c∩d|. Each attack below finds, on the seed-fixed synthetic
registers, concrete criteria whose combination isolates an atom of 1..4 persons while every
released count is ≥ k and every pair of released person sets differs by 0 or ≥ k persons (so the
pairwise guard has nothing to catch), asks the queries in sequence for one organisation through the
real engine and ``protect()`` with one shared ``InMemoryStores``, and asserts that what the
customer received does not confine the atom to 1..4.

The attacker (``VennAttacker``) knows the meaning of every query (which Venn atoms of the criteria
each released count adds up) but only the released values (rounding intervals when rounded); it
bounds the target atom by integer programming over the non-negative atom counts.

The benign tests at the end must keep being released in full (a guard against an over-eager fix).
"""

from __future__ import annotations

import copy
import functools
import itertools
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
from pyroaring import BitMap
from scipy.optimize import Bounds, LinearConstraint, milp

from disclosure.errors import ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ProtectedTable, ReleaseContext
from disclosure.stores import InMemoryStores
from tests.attacks.attacker import rounding_interval

SECRET = b"inclusion-exclusion-secret-32-by"
K = 5
ORG = "org-ie"

pytestmark = pytest.mark.slow

# Candidate index events (first occurrence 2015-2020, adults) and criteria, tried in this order.
COHORT_CODES = ("DE11", "DI21", "DI48", "DI50", "DI25", "DF32", "DN18", "DK80", "DI63", "DJ18")
ATC_PREFIXES = (
    "A10BA", "A10BJ", "A10BB", "A10BK", "A10BH", "A10AE", "A02BC", "B01AC", "B01AA", "B01AF",
    "B03AA", "C03CA", "C03AB", "C07AB", "C08CA", "C09AA", "C09CA", "C09DA", "C10AA", "G04CA",
    "H02AB", "H03AA", "M01AE", "M05BA", "N02AA", "N02BE", "N03AX", "N05BA", "N05CF", "N06AB",
    "N06AX", "R03AC", "R03BB", "S01EE", "J01FA", "J01MA",
)  # fmt: skip
DIAGNOSIS_PREFIXES = (
    "DI10", "DI48", "DI50", "DI25", "DI20", "DI21", "DI63", "DJ18", "DJ44", "DJ45", "DF32", "DF10",
    "DF43", "DN18", "DN39", "DK80", "DK59", "DK40", "DE66", "DE86", "DE87", "DD50", "DD64", "DM54",
    "DM17", "DM25", "DG47", "DS52", "DS72", "DR07", "DR10", "DA09", "DA41", "DA46",
)  # fmt: skip
BEFORE_INDEX = {"start": None, "end": -1}


# --- engine, queries, releases --------------------------------------------------------------------


@pytest.fixture(scope="module")
def engine(small_registers):
    from queries.engine import DuckDBEngine

    engine = DuckDBEngine(small_registers)
    yield engine
    engine.close()


def run(engine, payload: dict) -> list:
    from queries.validation import validate_query

    return engine.run(validate_query(payload, engine.catalog))


def cohort_payload(code: str, criteria: Sequence[dict] = (), result: dict | None = None, **extra) -> dict:
    payload = {
        "version": 1,
        "title": f"first {code} 2015-2020, adults",
        "index": {
            "concept": {"type": "diagnosis", "codes": [code]},
            "period": {"start": "2015-01-01", "end": "2020-12-31"},
        },
        "population": {"age": {"min": 18}},
        "criteria": list(criteria),
        "result": result or {"kind": "cohort_count", "breakdowns": []},
        "disclosure": {"noise": "none"},
    }
    payload.update(extra)
    return payload


def prescription(atc: Sequence[str], name: str | None = None, kind: str = "include") -> dict:
    criterion = {"type": kind, "concept": {"type": "prescription", "atc": list(atc)}}
    if name:
        criterion["name"] = name
    return criterion


def diagnosis_before(code: str, kind: str = "exclude", name: str | None = None) -> dict:
    criterion = {"type": kind, "concept": {"type": "diagnosis", "codes": [code]}, "window": BEFORE_INDEX}
    if name:
        criterion["name"] = name
    return criterion


def sex_is(sex: str) -> dict:
    return {"type": "include", "concept": {"type": "sex", "sex": sex}}


@dataclass
class Asked:
    payload: dict
    truth: list  # the engine's AggregateTables (ground truth, person sets)
    released: list[ProtectedTable] | None  # None when refused


@dataclass
class Customer:
    """One organisation asking a sequence of queries; state carried as the service carries it."""

    engine: Any
    organisation: str = ORG
    stores: InMemoryStores = field(default_factory=InMemoryStores)
    asked: list[Asked] = field(default_factory=list)

    def ask(self, payload: dict) -> Asked:
        tables = run(self.engine, payload)
        rounding = (payload.get("disclosure") or {}).get("rounding")
        context = ReleaseContext(self.engine.data_version, self.organisation, SECRET, rounding_base=rounding)
        try:
            release = protect(tables, Policy.default(), context, self.stores)
        except ReleaseRefused:
            asked = Asked(payload, tables, None)
        else:
            self.stores.apply(self.engine.data_version, release.changes)
            asked = Asked(payload, tables, release.tables)
        self.asked.append(asked)
        return asked


def last_table(asked: Asked):
    """The result table of a query (cohort_count queries with criteria may also carry others)."""
    return asked.truth[-1], (asked.released[-1] if asked.released is not None else None)


# --- the attacker ----------------------------------------------------------------------------------

Atom = Mapping[str, bool]
Member = Callable[[Atom], bool]


@dataclass
class VennAttacker:
    """Knows which Venn atoms of the predicates each released count sums; sees released values only."""

    predicates: tuple[str, ...]
    observations: list[tuple[str, Member, int, int]] = field(default_factory=list)

    def atoms(self) -> list[dict[str, bool]]:
        return [
            dict(zip(self.predicates, bits, strict=True))
            for bits in itertools.product((False, True), repeat=len(self.predicates))
        ]

    def observe(self, label: str, member: Member, value: int | None, base: int | None) -> None:
        if value is None:
            return
        low, high = rounding_interval(value, base)
        self.observations.append((label, member, low, high))

    def bounds(self, target: Member) -> tuple[float, float]:
        atoms = self.atoms()
        n = len(atoms)
        rows = np.array([[1.0 if member(a) else 0.0 for a in atoms] for _, member, _, _ in self.observations])
        constraints = []
        if len(rows):
            lows = np.array([low for *_, low, _ in self.observations], dtype=float)
            highs = np.array([high for *_, high in self.observations], dtype=float)
            constraints = [LinearConstraint(rows, lows, highs)]
        objective = np.array([1.0 if target(a) else 0.0 for a in atoms])
        result = []
        for sign in (1.0, -1.0):
            solved = milp(
                sign * objective,
                constraints=constraints,
                bounds=Bounds(np.zeros(n), np.full(n, np.inf)),
                integrality=np.ones(n),
            )
            if solved.status == 2:
                raise AssertionError(f"the attacker's model contradicts the releases: {self.observations}")
            if solved.x is None:  # unbounded
                result.append(math.inf if sign < 0 else 0.0)
            else:
                result.append(round(sign * solved.fun))
        return result[0], result[1]

    def released(self) -> list[tuple[str, int, int]]:
        return [(label, low, high) for label, _, low, high in self.observations]


def pins_small(bounds: tuple[float, float]) -> bool:
    low, high = bounds
    return low >= 1 and high <= K - 1


def assert_attack_fails(attacker: VennAttacker, target: Member, truth: int, what: str, queries) -> None:
    bounds = attacker.bounds(target)
    assert bounds[0] <= truth <= bounds[1], (what, bounds, truth)  # the attacker's model is sound
    assert not pins_small(bounds), (
        f"{what}: the customer learns it lies in {bounds} (true value {truth}) from released "
        f"{attacker.released()}; queries: {queries}"
    )


# --- ground truth and scenario search --------------------------------------------------------------


def guard_cannot_see(sets: Iterable[BitMap]) -> bool:
    """Every set has ≥ k persons and every pair differs by 0 or ≥ k: the pairwise guard passes all."""
    sets = list(sets)
    if any(len(s) < K for s in sets):
        return False
    return all(
        not 1 <= a.symmetric_difference_cardinality(b) <= K - 1 for a, b in itertools.combinations(sets, 2)
    )


@dataclass(frozen=True)
class CohortFacts:
    code: str
    index_event: BitMap  # before the population constraints (first step of an attrition table)
    everyone: BitMap
    sex: dict[str, BitMap]
    drugs: dict[str, BitMap]  # any dispensing of the prefix, any time
    diagnoses_before: dict[str, BitMap]  # a diagnosis with the prefix before the index date


@functools.cache
def _facts(engine, code: str) -> CohortFacts:
    by_sex = run(engine, cohort_payload(code, result={"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}))
    table = by_sex[-1]
    everyone = table.cell(None).persons
    sex = {s: table.cell(s).persons for s in ("male", "female")}
    items = [{"name": f"rx {a}", "concept": {"type": "prescription", "atc": [a]}} for a in ATC_PREFIXES]
    items += [
        {"name": f"dx {d}", "concept": {"type": "diagnosis", "codes": [d]}, "window": BEFORE_INDEX}
        for d in DIAGNOSIS_PREFIXES
    ]
    characteristics = run(engine, cohort_payload(code, result={"kind": "characteristics", "items": items}))[
        -1
    ]
    sets = {cell.coordinates[0]: cell.persons for cell in characteristics.cells}
    attrition = run(engine, cohort_payload(code, result={"kind": "attrition"}))[-1]
    assert attrition.cell("population at index").persons == everyone
    return CohortFacts(
        code,
        attrition.cell("index event").persons,
        everyone,
        sex,
        {a: sets[f"rx {a}"] & everyone for a in ATC_PREFIXES},
        {d: sets[f"dx {d}"] & everyone for d in DIAGNOSIS_PREFIXES},
    )


def cohorts(engine) -> Iterable[CohortFacts]:
    for code in COHORT_CODES:
        yield _facts(engine, code)


def find(
    engine, predicate: Callable[[CohortFacts, str, str], bool], which: str
) -> tuple[CohortFacts, str, str]:
    for facts in cohorts(engine):
        pool = facts.drugs if which == "drugs" else facts.diagnoses_before
        for a, b in itertools.combinations(pool, 2):
            if predicate(facts, a, b):
                return facts, a, b
    pytest.fail(f"no scenario on the synthetic registers ({which}); widen the candidate lists")


def find_pair(engine, which: str = "drugs") -> tuple[CohortFacts, str, str]:
    """Two criteria A, B within cohort C with 1 ≤ |A∧B| ≤ 4 and A, B, A∨B invisible to the guard."""

    def ok(facts: CohortFacts, a: str, b: str) -> bool:
        pool = facts.drugs if which == "drugs" else facts.diagnoses_before
        sa, sb = pool[a], pool[b]
        return 1 <= sa.intersection_cardinality(sb) <= K - 1 and guard_cannot_see([sa, sb, sa | sb])

    return find(engine, ok, which)


def find_exclusions(engine) -> tuple[CohortFacts, str, str]:
    """Two exclusions c, d within C with 1 ≤ |C∩c∩d| ≤ 4 and C, C∖c, C∖d, C∖c∖d invisible to the guard."""

    def ok(facts: CohortFacts, c: str, d: str) -> bool:
        sc, sd, everyone = facts.diagnoses_before[c], facts.diagnoses_before[d], facts.everyone
        return 1 <= sc.intersection_cardinality(sd) <= K - 1 and guard_cannot_see(
            [facts.index_event, everyone, everyone - sc, everyone - sd, everyone - sc - sd]
        )

    return find(engine, ok, "diagnoses")


def find_breakdown_pair(engine) -> tuple[CohortFacts, str, str, str]:
    """A, B within C whose atom A∧B is 1..4 in one sex; every sex cell and total invisible to the guard.
    Prefers pairs whose total atom is ≥ k, so only the breakdown cells give the atom away."""

    def cells(facts: CohortFacts, s: BitMap) -> list[BitMap]:
        return [s] + [s & facts.sex[x] for x in ("male", "female")]

    for prefer_large_total in (True, False):
        for facts in cohorts(engine):
            for a, b in itertools.combinations(facts.drugs, 2):
                sa, sb = facts.drugs[a], facts.drugs[b]
                both = sa & sb
                if prefer_large_total and len(both) < K:
                    continue
                small = [
                    x for x in ("male", "female") if 1 <= both.intersection_cardinality(facts.sex[x]) <= K - 1
                ]
                if small and guard_cannot_see(cells(facts, sa) + cells(facts, sb) + cells(facts, sa | sb)):
                    return facts, a, b, small[0]
    pytest.fail("no breakdown scenario on the synthetic registers; widen the candidate lists")


def find_tracker(engine) -> tuple[CohortFacts, dict, BitMap]:
    """A rare criterion R with 1 ≤ |C∧R| ≤ 4, padded with each sex: R∨male, R∨female, C."""
    for facts in cohorts(engine):
        candidates = [(prescription([a]), s) for a, s in facts.drugs.items()]
        candidates += [(diagnosis_before(d, kind="include"), s) for d, s in facts.diagnoses_before.items()]
        for criterion, rare in candidates:
            if 1 <= len(rare) <= K - 1 and guard_cannot_see(
                [rare | facts.sex["male"], rare | facts.sex["female"], facts.everyone]
            ):
                return facts, criterion, rare
    pytest.fail("no tracker scenario on the synthetic registers; widen the candidate lists")


def observe_all(
    attacker: VennAttacker, asked: Asked, member_of: Callable[[tuple], Member], label: str
) -> None:
    """Every released row of the query's result table, with the atoms it sums."""
    _, released = last_table(asked)
    if released is None:
        return
    for row in released.rows:
        attacker.observe(
            f"{label}{list(row.coordinates)}", member_of(row.coordinates), row.value, released.rounding_base
        )


def observe_queries(
    attacker: VennAttacker, asked: Sequence[Asked], members: Sequence[Member], by_sex: bool = False
) -> None:
    """``observe_all`` for each query in turn, the i-th covering ``members[i]`` (split by sex rows)."""
    for i, (answer, member) in enumerate(zip(asked, members, strict=True)):
        if by_sex:
            observe_all(
                attacker, answer, lambda coordinates, m=member: sex_filter(coordinates, m), f"Q{i + 1}"
            )
        else:
            observe_all(attacker, answer, lambda _c, m=member: m, f"Q{i + 1}")


def sex_filter(coordinates: tuple, member: Member) -> Member:
    sex = coordinates[0]
    if sex is None:
        return member
    return lambda a: member(a) and a["male"] == (sex == "male")


# --- the attacks ------------------------------------------------------------------------------------


def attack_union_intersection(engine, rounding: int | None = None) -> None:
    """(a) count(C∧A) + count(C∧B) − count(C∧(A∨B)) = |C∧A∧B|."""
    facts, a, b = find_pair(engine)
    extra = {"disclosure": {"noise": "none", "rounding": rounding}} if rounding else {}
    queries = [
        cohort_payload(facts.code, [prescription([a], f"any {a}")], **extra),
        cohort_payload(facts.code, [prescription([b], f"any {b}")], **extra),
        cohort_payload(facts.code, [prescription([a, b], f"any {a} or {b}")], **extra),
    ]
    customer = Customer(engine)
    asked = [customer.ask(q) for q in queries]
    sets = [last_table(x)[0].cell().persons for x in asked]
    assert sets[2] == sets[0] | sets[1]
    truth = sets[0].intersection_cardinality(sets[1])
    assert 1 <= truth <= K - 1 and len(sets[0]) + len(sets[1]) - len(sets[2]) == truth
    assert guard_cannot_see(sets)  # only a higher-order combination isolates the atom
    attacker = VennAttacker(("A", "B"))
    members = [lambda x: x["A"], lambda x: x["B"], lambda x: x["A"] or x["B"]]
    observe_queries(attacker, asked, members)
    assert_attack_fails(
        attacker, lambda x: x["A"] and x["B"], truth, f"|{facts.code} ∧ {a} ∧ {b}|", describe(queries)
    )


def attack_double_exclusion(engine) -> None:
    """(b) C − (C∖c) − (C∖d) + (C∖c∖d) = |C∩c∩d|, each exclusion set asked in its own query."""
    facts, c, d = find_exclusions(engine)
    queries = [
        cohort_payload(facts.code),
        cohort_payload(facts.code, [diagnosis_before(c, name=f"no {c} before")]),
        cohort_payload(facts.code, [diagnosis_before(d, name=f"no {d} before")]),
        cohort_payload(
            facts.code,
            [diagnosis_before(c, name=f"no {c} before"), diagnosis_before(d, name=f"no {d} before")],
        ),
    ]
    customer = Customer(engine)
    asked = [customer.ask(q) for q in queries]
    sets = [last_table(x)[0].cell().persons for x in asked]
    truth = len(sets[0]) - len(sets[1]) - len(sets[2]) + len(sets[3])
    assert truth == len(sets[0] - sets[1] - sets[2]) and 1 <= truth <= K - 1
    assert guard_cannot_see(sets)
    attacker = VennAttacker(("c", "d"))
    members = [
        lambda x: True,
        lambda x: not x["c"],
        lambda x: not x["d"],
        lambda x: not x["c"] and not x["d"],
    ]
    observe_queries(attacker, asked, members)
    assert_attack_fails(
        attacker, lambda x: x["c"] and x["d"], truth, f"|{facts.code} ∩ {c} ∩ {d}|", describe(queries)
    )


def attack_swapped_attrition(engine) -> None:
    """(c) attrition [¬c, ¬d] then [¬d, ¬c]: population − ¬c − ¬d + ¬c¬d = |P∩c∩d|."""
    facts, c, d = find_exclusions(engine)
    no_c, no_d = diagnosis_before(c, name=f"no {c} before"), diagnosis_before(d, name=f"no {d} before")
    queries = [
        cohort_payload(facts.code, [no_c, no_d], result={"kind": "attrition"}),
        cohort_payload(facts.code, [no_d, no_c], result={"kind": "attrition"}),
    ]
    customer = Customer(engine)
    asked = [customer.ask(q) for q in queries]
    steps = [{cell.coordinates[0]: cell.persons for cell in last_table(x)[0].cells} for x in asked]
    population = steps[0]["population at index"]
    truth = len(population - steps[0][f"no {c} before"] - steps[1][f"no {d} before"])
    assert 1 <= truth <= K - 1
    assert (
        len(population)
        - len(steps[0][f"no {c} before"])
        - len(steps[1][f"no {d} before"])
        + len(steps[0][f"no {d} before"])
        == truth
    )
    assert guard_cannot_see([s for table in steps for s in table.values()])
    attacker = VennAttacker(("population", "c", "d"))
    meaning: dict[str, Member] = {
        "index event": lambda x: True,
        "population at index": lambda x: x["population"],
        f"no {c} before": lambda x: x["population"] and not x["c"],
        f"no {d} before": lambda x: x["population"] and not x["d"],
    }
    for i, answer in enumerate(asked):
        order = [f"no {c} before", f"no {d} before"] if i == 0 else [f"no {d} before", f"no {c} before"]

        def member_of(coordinates, order=order):
            step = coordinates[0]
            if step in order[1:]:  # the last step has both exclusions applied
                return lambda x: x["population"] and not x["c"] and not x["d"]
            return meaning[step]

        observe_all(attacker, answer, member_of, f"attrition{i + 1}")
    assert_attack_fails(
        attacker,
        lambda x: x["population"] and x["c"] and x["d"],
        truth,
        f"|{facts.code} population ∩ {c} ∩ {d}|",
        describe(queries),
    )


def attack_breakdown_cells(engine) -> None:
    """(d) as (a), with the three counts as cells of tables by sex."""
    facts, a, b, small_sex = find_breakdown_pair(engine)
    by_sex = {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}
    queries = [
        cohort_payload(facts.code, [prescription([a], f"any {a}")], result=by_sex),
        cohort_payload(facts.code, [prescription([b], f"any {b}")], result=by_sex),
        cohort_payload(facts.code, [prescription([a, b], f"any {a} or {b}")], result=by_sex),
    ]
    customer = Customer(engine)
    asked = [customer.ask(q) for q in queries]
    tables = [last_table(x)[0] for x in asked]
    truth = tables[0].cell(small_sex).persons.intersection_cardinality(tables[1].cell(small_sex).persons)
    assert 1 <= truth <= K - 1
    assert guard_cannot_see([cell.persons for t in tables for cell in t.cells])
    attacker = VennAttacker(("A", "B", "male"))
    members = [lambda x: x["A"], lambda x: x["B"], lambda x: x["A"] or x["B"]]
    observe_queries(attacker, asked, members, by_sex=True)
    is_male = small_sex == "male"
    assert_attack_fails(
        attacker,
        lambda x: x["A"] and x["B"] and x["male"] == is_male,
        truth,
        f"|{facts.code} ∧ {a} ∧ {b} ∧ {small_sex}|",
        describe(queries),
    )


def attack_tracker(engine) -> None:
    """(e) count(C∧(R∨male)) + count(C∧(R∨female)) − count(C) = |C∧R|, R rare, padded by each sex."""
    facts, rare_criterion, rare = find_tracker(engine)
    queries = [
        cohort_payload(
            facts.code, [{"type": "any", "name": "R or male", "criteria": [rare_criterion, sex_is("male")]}]
        ),
        cohort_payload(
            facts.code,
            [{"type": "any", "name": "R or female", "criteria": [rare_criterion, sex_is("female")]}],
        ),
        cohort_payload(facts.code),
    ]
    customer = Customer(engine)
    asked = [customer.ask(q) for q in queries]
    sets = [last_table(x)[0].cell().persons for x in asked]
    truth = len(sets[0]) + len(sets[1]) - len(sets[2])
    assert truth == len(sets[0] & sets[1]) == len(rare) and 1 <= truth <= K - 1
    assert guard_cannot_see(sets)
    attacker = VennAttacker(("R", "male"))
    members = [lambda x: x["R"] or x["male"], lambda x: x["R"] or not x["male"], lambda x: True]
    observe_queries(attacker, asked, members)
    assert_attack_fails(
        attacker, lambda x: x["R"], truth, f"|{facts.code} ∧ R|, R = {rare_criterion}", describe(queries)
    )


def describe(queries: Sequence[dict]) -> str:
    return " | ".join(
        json.dumps(
            {"index": q["index"]["concept"]["codes"], "criteria": q["criteria"], "result": q["result"]}
        )
        for q in queries
    )


ATTACKS = {
    "a-union-intersection": attack_union_intersection,
    "b-double-exclusion": attack_double_exclusion,
    "c-swapped-attrition": attack_swapped_attrition,
    "d-breakdown-cells": attack_breakdown_cells,
    "e-tracker-padded-by-sex": attack_tracker,
}


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_inclusion_exclusion_over_several_releases_does_not_isolate_a_small_atom(engine, attack):
    ATTACKS[attack](engine)


def test_union_intersection_with_rounding_to_5_leaves_the_atom_unconfined(engine):
    """(a) with every count rounded to base 5: the atom's interval is far wider than 1..4."""
    attack_union_intersection(engine, rounding=5)


# --- benign sequences: must still be released in full ----------------------------------------------


def released_in_full(asked: Asked) -> None:
    assert asked.released is not None, "refused"
    for truth, released in zip(asked.truth, asked.released, strict=True):
        values = {cell.coordinates: cell.count for cell in truth.cells}
        for row in released.rows:
            assert not row.suppressed, (released.title, row.coordinates, values[row.coordinates])
            assert row.value == values[row.coordinates]


def big_cohort(engine) -> CohortFacts:
    return max(cohorts(engine), key=lambda f: len(f.everyone))


def test_the_same_query_twice_is_released_twice_in_full(engine):
    facts = big_cohort(engine)
    payload = cohort_payload(
        facts.code, result={"kind": "cohort_count", "breakdowns": [{"by": "sex"}, {"by": "region"}]}
    )
    customer = Customer(engine)
    first = customer.ask(payload)
    second = customer.ask(copy.deepcopy(payload))
    assert guard_cannot_see([cell.persons for cell in first.truth[-1].cells])
    released_in_full(first)
    released_in_full(second)
    assert [r.value for r in first.released[-1].rows] == [r.value for r in second.released[-1].rows]


def test_one_cohort_by_sex_then_region_then_sex_by_region_is_released_in_full(engine):
    facts = big_cohort(engine)
    customer = Customer(engine)
    asked = [
        customer.ask(cohort_payload(facts.code, result={"kind": "cohort_count", "breakdowns": breakdowns}))
        for breakdowns in ([{"by": "sex"}], [{"by": "region"}], [{"by": "sex"}, {"by": "region"}])
    ]
    assert guard_cannot_see([cell.persons for cell in asked[-1].truth[-1].cells])
    for x in asked:
        released_in_full(x)


def test_two_disjoint_cohorts_with_breakdowns_are_released_in_full(engine):
    facts = big_cohort(engine)
    customer = Customer(engine)
    asked = []
    for year in (2015, 2016):
        payload = cohort_payload(
            facts.code, result={"kind": "cohort_count", "breakdowns": [{"by": "sex"}, {"by": "region"}]}
        )
        payload["index"]["period"] = {"start": f"{year}-01-01", "end": f"{year}-12-31"}
        asked.append(customer.ask(payload))
    cells = [cell.persons for x in asked for cell in x.truth[-1].cells]
    assert not asked[0].truth[-1].cell(None, None).persons & asked[1].truth[-1].cell(None, None).persons
    assert guard_cannot_see(cells)
    for x in asked:
        released_in_full(x)


def find_sub_cohort(engine) -> tuple[CohortFacts, str]:
    """C and C∧A, both by sex, with every Venn atom (A/¬A × sex) at least k."""
    for facts in cohorts(engine):
        for a, sa in facts.drugs.items():
            atoms = [part & sex for part in (sa, facts.everyone - sa) for sex in facts.sex.values()]
            cells = [facts.everyone, *facts.sex.values(), sa, *(sa & sex for sex in facts.sex.values())]
            if all(len(atom) >= K for atom in atoms) and guard_cannot_see(cells):
                return facts, a
    pytest.fail("no sub-cohort scenario")


def test_a_cohort_and_a_sub_cohort_with_large_differences_are_released_in_full(engine):
    facts, a = find_sub_cohort(engine)
    by_sex = {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}
    customer = Customer(engine)
    asked = [
        customer.ask(cohort_payload(facts.code, result=by_sex)),
        customer.ask(cohort_payload(facts.code, [prescription([a], f"any {a}")], result=by_sex)),
    ]
    for x in asked:
        released_in_full(x)
    attacker = VennAttacker(("A", "male"))
    observe_queries(attacker, asked, [lambda x: True, lambda x: x["A"]], by_sex=True)
    for atom in attacker.atoms():
        low, high = attacker.bounds(lambda x, atom=atom: x == atom)
        assert not pins_small((low, high)) and (low >= K or low == 0 < high), (atom, low, high)


def test_a_sub_cohort_whose_atoms_are_only_a_range_including_0_is_released_in_full(engine):
    """C∧A, C∧B and C∧(A∨B) are not all released: C∧A and C∧B only bound |A∧B| to a range from 0."""
    facts, a, b = find_pair(engine)
    customer = Customer(engine)
    asked = [
        customer.ask(cohort_payload(facts.code)),
        customer.ask(cohort_payload(facts.code, [prescription([a], f"any {a}")])),
        customer.ask(cohort_payload(facts.code, [prescription([b], f"any {b}")])),
    ]
    for x in asked:
        released_in_full(x)
    attacker = VennAttacker(("A", "B"))
    observe_queries(attacker, asked, [lambda x: True, lambda x: x["A"], lambda x: x["B"]])
    for atom in attacker.atoms():
        low, high = attacker.bounds(lambda x, atom=atom: x == atom)
        assert not pins_small((low, high)) and (low >= K or low == 0 < high), (atom, low, high)
