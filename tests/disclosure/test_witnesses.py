"""Earlier audits' whole-number tables (witnesses) speed up the next audit and never change what it
decides: a witness is used only after it is checked against every count of the new system."""

from __future__ import annotations

import numpy as np
from pyroaring import BitMap

from disclosure.atoms import KnownCount, audit_atoms
from disclosure.lp import IntervalModel
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from disclosure.table import AggregateTable, Cell
from disclosure.witnesses import MEMORY, WitnessMemory, WitnessSet

K = 5


def counts_of(sets: list[BitMap], current: set[int] = frozenset()) -> list[KnownCount]:
    return [KnownCount(s, len(s), len(s), cell=i if i in current else None) for i, s in enumerate(sets)]


def test_a_witness_from_before_the_completing_count_cannot_vouch_for_it():
    # A and B overlap in one person. Released alone, a table with A∩B empty is possible; the union
    # released next pins A∩B at 1 person, and the earlier table contradicts it.
    a, b = BitMap(range(0, 24)), BitMap(range(23, 57))
    first = audit_atoms(counts_of([a, b], {0, 1}), K, K)
    assert first.passed and first.witness is not None
    assert any(point.min() == 0 for point in first.witness.points)  # some table empties A∩B
    cold = audit_atoms(counts_of([a, b, a | b], {2}), K, K)
    warm = audit_atoms(counts_of([a, b, a | b], {2}), K, K, witnesses=[first.witness])
    assert not cold.passed
    assert not warm.passed and warm.failing == cold.failing and warm.culprits == cold.culprits


def test_a_foreign_or_false_witness_changes_nothing():
    rng = np.random.default_rng(3)
    sets = [
        BitMap(rng.choice(400, size=int(rng.integers(20, 120)), replace=False).tolist()) for _ in range(8)
    ]
    counts = counts_of(sets, {6, 7})
    cold = audit_atoms(counts, K, K)
    honest = audit_atoms(counts_of(sets[:6], {5}), K, K).witness
    assert honest is not None
    empty_tables = WitnessSet(honest.universe, honest.atom_of, tuple(np.zeros_like(p) for p in honest.points))
    foreign = WitnessSet(
        np.arange(10_000, 10_050, dtype=np.uint32), np.zeros(50, dtype=np.int64), (np.array([50.0]),)
    )
    warm = audit_atoms(counts, K, K, witnesses=[empty_tables, foreign])
    assert warm.passed == cold.passed and warm.failing == cold.failing
    assert warm.witnesses_carried == 0  # an empty table contradicts every count; the other is foreign


def test_an_interval_model_takes_only_points_of_its_own_system():
    # x0 + x1 = 3, x1 + x2 = 2, all >= 0
    rows = [({0: 1.0, 1: 1.0}, 3.0, 3.0), ({1: 1.0, 2: 1.0}, 2.0, 2.0)]
    model = IntervalModel([0.0] * 3, [np.inf] * 3, rows, integral_proofs=False, record_points=True)
    assert model.add_point(np.array([3.0, 0.0, 2.0]))
    assert not model.add_point(np.array([2.0, 0.0, 2.0]))  # breaks the first row
    assert not model.add_point(np.array([1.5, 1.5, 0.5]))  # not whole numbers
    assert not model.add_point(np.array([4.0, -1.0, 3.0]))  # below a bound
    assert model.proven_at_lower(1)  # learnt from the accepted point only


def test_a_growing_history_is_decided_the_same_with_and_without_witnesses():
    # A service-like history: cohorts defined by attributes, released one after another with their
    # breakdowns; the audit with the last audits' witnesses must decide every release as without.
    rng = np.random.default_rng(5)
    persons = 3_000
    attributes = rng.random((persons, 6)) < np.array([0.3, 0.2, 0.1, 0.05, 0.5, 0.02])
    region = rng.integers(0, 5, size=persons)
    memory = WitnessMemory()
    earlier: list[BitMap] = []
    carried = 0
    checks_cold = checks_warm = 0
    for step in range(14):
        chosen = rng.choice(6, size=int(rng.integers(1, 3)), replace=False)
        cohort = np.flatnonzero(
            attributes[:, chosen].all(axis=1) if step % 2 else attributes[:, chosen].any(axis=1)
        )
        new = [BitMap(cohort.tolist())]
        if step % 3 == 0:
            new += [BitMap(cohort[region[cohort] == r].tolist()) for r in range(5)]
        new = [s for s in new if len(s)]
        counts = counts_of(earlier + new, set(range(len(earlier), len(earlier) + len(new))))
        cold = audit_atoms(counts, K, K)
        warm = audit_atoms(counts, K, K, witnesses=memory.get("dv"))
        memory.add("dv", warm.witness)
        assert warm.passed == cold.passed, step
        carried += warm.witnesses_carried
        checks_cold += cold.union_checks
        checks_warm += warm.union_checks
        if warm.passed:
            earlier += new
    assert carried > 0
    assert checks_warm <= checks_cold


def test_protect_keeps_the_audits_witnesses_per_data_version():
    MEMORY.clear()
    stores = InMemoryStores()
    # Two cohorts sharing 3 persons: the second release's audit has a small atom to search.
    for n, persons in enumerate([BitMap(range(0, 60)), BitMap(range(57, 120)), BitMap(range(100, 200))]):
        table = AggregateTable(
            title=f"cohort {n}",
            kind="cohort_count",
            dimensions=(),
            cells=(Cell((), len(persons), persons),),
            registers=frozenset({"bef"}),
        )
        release = protect([table], Policy.default(), ReleaseContext("dv-witness", "org-a", b"w" * 32), stores)
        stores.apply("dv-witness", release.changes)
    assert MEMORY.get("dv-witness")
    assert not MEMORY.get("another-version")


def test_an_audit_out_of_time_hands_back_the_tables_it_found(monkeypatch):
    from disclosure import atoms as atoms_module
    from disclosure.atoms import AuditOutOfTime

    def out_of_time(*args, **kwargs):
        raise AuditOutOfTime("past its deadline")

    rng = np.random.default_rng(21)
    sets = [BitMap(rng.choice(300, size=int(rng.integers(30, 90)), replace=False).tolist()) for _ in range(7)]
    counts = counts_of(sets, {5, 6})
    assert audit_atoms(counts, K, K).small_atoms > 0  # there is something to search
    monkeypatch.setattr(atoms_module, "_audit_unions", out_of_time)  # time runs out in the union search
    try:
        audit_atoms(counts, K, K)
    except AuditOutOfTime as error:
        assert error.witness is not None and error.witness.points
        monkeypatch.undo()
        next_audit = audit_atoms(counts, K, K, witnesses=[error.witness])
        assert next_audit.witnesses_carried == len(error.witness.points)  # every one is a table
    else:
        raise AssertionError("the audit did not run out of time")


def test_a_witness_whose_audit_had_a_count_later_hidden_is_still_carried():
    # The first audit had a count that was then hidden (the repair, a refusal, a noisy fallback): the
    # next family lacks that set, so its atoms do not refine the witness's; the witness's tables are
    # carried through the common refinement of both families.
    rng = np.random.default_rng(17)
    sets = [
        BitMap(rng.choice(300, size=int(rng.integers(40, 120)), replace=False).tolist()) for _ in range(6)
    ]
    hidden = BitMap(rng.choice(300, size=70, replace=False).tolist())
    first = audit_atoms(counts_of([*sets, hidden], {6}), K, K)
    assert first.witness is not None and first.witness.points
    later = counts_of([*sets, BitMap(rng.choice(300, size=90, replace=False).tolist())], {6})
    cold = audit_atoms(later, K, K)
    warm = audit_atoms(later, K, K, witnesses=[first.witness])
    assert warm.witnesses_carried > 0
    assert warm.passed == cold.passed and warm.failing == cold.failing
