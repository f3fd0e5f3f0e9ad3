"""Venn-atom audit: what all released counts, taken together, say about small groups of persons.

The pairwise differencing guard catches two counts whose person sets differ by 1..k-1 persons, and
the cell audit links earlier releases only through identical person sets. Neither sees
inclusion–exclusion over three or more counts: count(C∧A) + count(C∧B) − count(C∧(A∨B)) is the size
of C∧A∧B although no two of the three sets differ by fewer than k persons.

Every released count is the sum of the sizes of the Venn atoms it covers, where an atom is a group of
persons who are in exactly the same released sets. So the strongest linear attacker works with one
unknown per atom: non-negative sizes, one row per released count (exact, or a rounding interval).
Anything the attacker can name with the released sets ("in A or B but not C") is a union of atoms.

The rule, for every union of atoms holding 1..k-1 persons: the attacker may learn that it has at most
a few persons (some consistent table empties it), or that it is non-empty only within a window of at
least the width that reaches k; never that a few persons are in it. Unions of atoms that are
themselves at least k persons are not protected: they are what any breakdown publishes.

How it is checked, per connected part of the system that a current count takes part in:
- single atoms: an LP minimum (and maximum when the minimum is positive), after push-down LPs that
  show most atoms possibly empty at once;
- unions: by cutting planes. Every feasible point the LPs meet empties a set of atoms together, and a
  union is safe when one point empties all of it. A master problem (a bounded search over classes
  of interchangeable atoms, a MILP when that grows large) looks for a union of at most k-1 persons
  that every known point leaves non-empty; an LP then either finds a point emptying it (one
  more cut) or the union's interval is judged by the rule. The search ends when no such union is
  left. Unions holding an atom that is non-empty but wide, or a union judged safe, are not extended:
  their supersets keep an upper bound of at least k (their width is not re-checked).

What this does not cover: whole-number reasoning beyond rounding the LP bounds (a union the LP
relaxation empties only at a fractional point while whole numbers keep it non-empty). The issue's
attacker is the LP; the cell audit adds integer proofs on the smaller within-release systems, and the
reviewer's parity triangle is caught here as a union (|X3 ∪ X4| ≥ 1.5 in the LP). The search fails
closed: out of checks (``MAX_UNION_CHECKS``) or master time, the part counts as failing.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import highspy
import numpy as np
from pyroaring import BitMap
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from disclosure.lp import INF, Highs, IntervalModel, build_model
from disclosure.policy import (
    COVER_SEARCH_NODES,
    MASTER_SECONDS,
    MAX_UNION_CHECKS,
    PUSH_DOWN_ROUNDS,
    RANDOM_POINTS,
    REPRESENTATIVE_TRIES,
)
from disclosure.witnesses import WitnessSet, extend, holds, keep

# Not release rules (the limits of this audit are in ``disclosure.policy``): a seed that changes
# no atom (collisions are detected and refined exactly) and a numerical tolerance.
_SIGNATURE_SEED = 0x5EED_A70E  # fixed: identical input gives identical atoms, run after run
_ZERO = 1e-6  # LP values at most this are zero
_HINTS = 24  # LPs spent following earlier tables that no longer hold (speed only, not a release rule)


@dataclass(frozen=True)
class KnownCount:
    """A released count: its person set and what the customer knows of its size.

    ``cell`` names the current release's cell it stands for (a node index), None for a count released
    earlier: only current cells can be hidden to repair a failing atom.
    """

    persons: BitMap
    low: int
    high: int
    cell: int | None = None


@dataclass(frozen=True)
class VennAtoms:
    sizes: np.ndarray  # persons per atom
    members: list[np.ndarray]  # per count: indices of the atoms it covers
    universe: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.uint32))  # persons, sorted
    atom_of: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))  # per person


@dataclass
class AtomAuditResult:
    atoms: int = 0
    small_atoms: int = 0
    lps: int = 0
    union_checks: int = 0
    failing: list[tuple[int, ...]] = field(default_factory=list)  # failing unions of atoms (indices)
    culprits: list[set[int]] = field(default_factory=list)  # per failing union: current counts proving it
    witnesses_carried: int = 0  # earlier audits' tables that still hold (see ``disclosure.witnesses``)
    witness: WitnessSet | None = None  # this audit's tables, for the next audit

    @property
    def passed(self) -> bool:
        return not self.failing


# A dense key -> position table costs 4 bytes per possible key: worth it while keys are not much
# sparser than the persons themselves; otherwise binary search. Speed only: not a release rule.
_DENSE_LOOKUP_SPREAD = 32


def _positions_of(sets: Sequence[BitMap], universe: np.ndarray) -> list[np.ndarray]:
    arrays = [np.frombuffer(persons.to_array(), dtype=np.uint32) for persons in sets]
    largest = int(universe[-1]) if len(universe) else 0
    if largest <= _DENSE_LOOKUP_SPREAD * len(universe) + 1_000_000:
        lookup = np.zeros(largest + 1, dtype=np.int32)
        lookup[universe] = np.arange(len(universe), dtype=np.int32)
        return [lookup[array] for array in arrays]
    return [np.searchsorted(universe, array) for array in arrays]


def venn_atoms(sets: Sequence[BitMap]) -> VennAtoms:
    """The atoms of a family of person sets: persons grouped by which of the sets contain them.

    Each set adds a random 64-bit key to the signature of its members, so equal membership gives
    equal signatures; a collision (different membership, equal signature) is detected afterwards
    (some set would cover only part of an atom) and then the exact refinement is used instead.
    """
    if not sets:
        return VennAtoms(np.zeros(0, dtype=np.int64), [])
    universe = np.frombuffer(BitMap.union(*sets).to_array(), dtype=np.uint32)
    positions = _positions_of(sets, universe)
    rng = np.random.default_rng(_SIGNATURE_SEED)
    keys = rng.integers(0, np.iinfo(np.uint64).max, size=len(sets), dtype=np.uint64, endpoint=True)
    signatures = np.zeros(len(universe), dtype=np.uint64)
    for key, where in zip(keys, positions, strict=True):
        signatures[where] += key  # wraps modulo 2**64, which is what a keyed sum needs
    _, atom_of, sizes = np.unique(signatures, return_inverse=True, return_counts=True)
    members = _members(atom_of, sizes, positions)
    if members is None:
        atom_of, sizes = _refine_exactly(len(universe), positions)
        members = _members(atom_of, sizes, positions)
        assert members is not None
    return VennAtoms(sizes.astype(np.int64), members, universe, np.asarray(atom_of, dtype=np.int64).ravel())


def _members(
    atom_of: np.ndarray, sizes: np.ndarray, positions: Sequence[np.ndarray]
) -> list[np.ndarray] | None:
    members = []
    for where in positions:
        atoms = np.unique(atom_of[where])
        # Each touched atom holds at least as many persons as the set has in it, so the sizes add up
        # to the set's size exactly when every touched atom lies wholly inside the set.
        if int(sizes[atoms].sum()) != len(where):
            return None  # a signature collision merged persons the set tells apart: not atoms
        members.append(atoms)
    return members


def _refine_exactly(n: int, positions: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    labels = np.zeros(n, dtype=np.int64)
    for where in positions:
        inside = np.zeros(n, dtype=np.int64)
        inside[where] = 1
        _, labels = np.unique(labels * 2 + inside, return_inverse=True)
        labels = labels.ravel()
    sizes = np.bincount(labels)
    return labels, sizes


def atom_passes(low: float, high: float, threshold: int, width: int) -> bool:
    """An atom may be shown possibly empty, or non-empty only within a window of at least ``width``
    reaching ``threshold``; never as a few persons known to be there."""
    if low <= 0:
        return True
    return high >= threshold and high - low >= width


class AuditOutOfTime(RuntimeError):
    """The audit could not show the release safe before its deadline: the caller refuses it.

    ``points`` (of the component being audited) and ``witness`` carry the whole-number tables found
    until then: valid tables whatever the verdict, so the next audit need not find them again."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.points: list[np.ndarray] = []
        self.witness: WitnessSet | None = None


def audit_atoms(
    counts: Sequence[KnownCount],
    threshold: int,
    width: int,
    deadline: float | None = None,
    witnesses: Sequence[WitnessSet] = (),
) -> AtomAuditResult:
    """Every union of atoms of 1..k-1 persons, over all released counts, against ``atom_passes``.

    Only what the current counts (``cell`` set) take part in is audited: a system of earlier counts
    alone was audited when they were released. ``deadline`` (``time.monotonic()``) bounds the work:
    past it ``AuditOutOfTime`` is raised, never a pass. ``witnesses`` (earlier audits' tables, see
    ``disclosure.witnesses``) start the search where the last one ended; each is checked against
    every count first, so they change how long the audit takes, never what it decides. The result
    carries this audit's tables for the next one.
    """
    result = AtomAuditResult()
    counts = [c for c in counts if len(c.persons) > 0]
    if not any(c.cell is not None for c in counts):
        return result
    atoms = venn_atoms([c.persons for c in counts])
    result.atoms = len(atoms.sizes)
    small = atoms.sizes < threshold  # every atom has at least one person
    result.small_atoms = int(small.sum())
    if not result.small_atoms:
        return result
    system = _Presolved(atoms, counts)
    row_low = np.asarray([c.low for c in counts], dtype=np.float64)
    row_high = np.asarray([c.high for c in counts], dtype=np.float64)
    carried: list[np.ndarray] = []
    hints: list[np.ndarray] = []
    for carried_witness in witnesses:
        found = extend(
            carried_witness, atoms.universe, atoms.atom_of, atoms.sizes, system.matrix, row_low, row_high
        )
        carried.extend(found.tables)
        hints.extend(found.hints)
    result.witnesses_carried = len(carried)
    # A whole table of this family to complete each component's points with: a carried one, or the
    # true sizes (every count holds them) once checked.
    base = carried[0] if carried else atoms.sizes.astype(np.float64)
    complete = bool(carried) or holds(system.matrix, base, row_low, row_high)
    completed: list[np.ndarray] = []  # this audit's points, each completed to a whole table

    # A small atom fixed by counts one of which is current: pinned to its size, 1..k-1.
    for atom in np.flatnonzero(system.fixed & small).tolist():
        if system.atom_provenance[atom]:
            result.failing.append((atom,))
            result.culprits.append(set(system.atom_provenance[atom]))

    def remember(component: _Component, points: Sequence[np.ndarray]) -> None:
        if complete:
            for point in points:
                table = base.copy()
                table[component.atoms] = point
                completed.append(table)

    def witness() -> WitnessSet | None:
        if not complete:
            return None
        # Carried tables were checked against these counts already; completed ones are checked here.
        checked = carried + [t for t in completed if holds(system.matrix, t, row_low, row_high)]
        return WitnessSet(atoms.universe, atoms.atom_of, keep(checked, small))

    try:
        for component in system.components(small):
            _check_deadline(deadline)
            seeds = [table[component.atoms] for table in carried]
            local_hints = [hint[component.atoms] for hint in hints]
            try:
                points = _audit_component(
                    system, component, atoms.sizes, threshold, width, result, deadline, seeds, local_hints
                )
            except AuditOutOfTime as error:
                remember(component, error.points)
                raise
            remember(component, points)
    except AuditOutOfTime as error:
        # What was found is kept for the next audit, which then starts further along.
        error.witness = witness()
        raise
    result.witness = witness()
    return result


@dataclass(frozen=True)
class _Component:
    atoms: np.ndarray  # global atom indices (unknown ones)
    rows: np.ndarray  # global row indices (live ones)
    matrix: csr_matrix  # rows x atoms


def _audit_component(
    system: _Presolved,
    component: _Component,
    sizes: np.ndarray,
    threshold: int,
    width: int,
    result: AtomAuditResult,
    deadline: float | None,
    seeds: Sequence[np.ndarray] = (),
    hints: Sequence[np.ndarray] = (),
) -> list[np.ndarray]:
    """Audits one component; returns the whole-number points it met (over the component's atoms).

    ``seeds`` are earlier audits' tables carried to this system, ``hints`` the atoms that earlier
    tables which could not be carried had emptied (see ``disclosure.witnesses``)."""
    matrix = component.matrix
    csr = (
        system.low[component.rows],
        system.high[component.rows],
        matrix.indptr[:-1].astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data.astype(np.float64),
    )
    # The LP relaxation: whole-number reasoning can pin a union it leaves free (see the module
    # docstring); the attacker is the LP, and the cell audit adds integer proofs on top.
    model = IntervalModel(
        system.lower[component.atoms],
        system.upper[component.atoms],
        csr,
        integral_proofs=False,
        record_points=True,
    )
    for seed in seeds:
        model.add_point(seed)  # checked against the component's rows and bounds first
    local_sizes = sizes[component.atoms]
    targets = np.flatnonzero(local_sizes < threshold).tolist()
    _follow_hints(model, hints, targets)

    def provenance(rows: Sequence[int], columns: Sequence[int]) -> set[int]:
        found: set[int] = set()
        for r in rows:
            found |= system.row_provenance[component.rows[r]]
        for c in columns:
            found |= system.atom_provenance[component.atoms[c]]
        return found

    def fail(columns: Sequence[int], binding: set[int]) -> None:
        culprits = binding or provenance(range(len(component.rows)), range(len(component.atoms)))
        result.failing.append(tuple(int(component.atoms[c]) for c in columns))
        result.culprits.append(culprits)

    # Each push-down proves many atoms possibly empty at once; repeat on the rest while it pays.
    remaining = targets
    for _ in range(PUSH_DOWN_ROUNDS):
        model.push_down(remaining)
        left = [c for c in remaining if not model.proven_at_lower(c)]
        if len(left) > len(remaining) // 2:
            break
        remaining = left

    # Single atoms. The LPs run relaxed (cheap), but only a whole-number point proves an atom
    # possibly empty: for one emptied only at fractional points, the first integer point emptying it
    # is looked for (which empties many others too); if there is none, whole numbers pin it.
    emptied = np.zeros(len(component.atoms), dtype=bool)
    seen = 0

    def note_points() -> None:
        nonlocal seen
        for point in model.points[seen:]:
            if model.is_integral(point):
                emptied[point <= _ZERO] = True
        seen = len(model.points)

    weight_rng = np.random.default_rng(len(targets))
    settled: set[int] = set()  # atoms that cannot be emptied: failing, or non-empty but wide
    for column in targets:
        note_points()
        if emptied[column]:
            continue
        low = model.minimum(column)
        note_points()
        if low <= _ZERO and not emptied[column]:
            near = model.points[-1] if model.points else None  # the LP minimum's point
            point = model.integer_zero_point(
                [column], targets, weight_rng.exponential(size=len(targets)), near=near
            )
            note_points()
            if point is None:
                settled.add(column)
                if not _passes_over_whole_numbers(model, [column], threshold, width):
                    fail([column], set())
            continue
        if low <= _ZERO:
            continue
        settled.add(column)
        binding = provenance(model.binding_rows(), model.binding_columns())
        high = model.maximum(column)
        if not atom_passes(math.ceil(low - _ZERO), high, threshold, width):
            fail([column], binding)

    # Unions of atoms that each can be emptied, but perhaps not together.
    candidates = [c for c in targets if c not in settled]
    try:
        _audit_unions(model, candidates, local_sizes, threshold, width, fail, provenance, result, deadline)
    except _Undecided:  # not shown safe in time: treated as failing (the repair hides a count)
        fail(candidates, set())
    except AuditOutOfTime as error:
        error.points = [point for point in model.points if model.is_integral(point)]
        raise
    result.lps += model.solves
    return [point for point in model.points if model.is_integral(point)]


def _follow_hints(model: IntervalModel, hints: Sequence[np.ndarray], targets: list[int]) -> None:
    """For earlier tables a new count contradicts: an LP point emptying as many of the same small
    atoms as it can (the search would look for such points anyway, one proposed union at a time).
    Distinct emptied sets only, most emptied first, at most ``_HINTS`` LPs."""
    if not hints or not targets:
        return
    target_index = np.asarray(targets)
    seen: set[bytes] = set()
    ranked = sorted(hints, key=lambda hint: -int(hint[target_index].sum()))
    for hint in ranked:
        zeros = target_index[hint[target_index]]
        key = zeros.tobytes()
        if key in seen or not len(zeros):
            continue
        seen.add(key)
        # Emptying all of them may be what the new count contradicts: push them hardest instead.
        model.zero_point([], targets, np.where(hint[target_index], 16.0, 1.0))
        if len(seen) >= _HINTS:
            return


def _audit_unions(
    model: IntervalModel,
    candidates: list[int],
    sizes: np.ndarray,
    threshold: int,
    width: int,
    fail: Callable[[Sequence[int], set[int]], None],
    provenance: Callable[[Sequence[int], Sequence[int]], set[int]],
    result: AtomAuditResult,
    deadline: float | None,
) -> None:
    """Search for a union of 1..k-1 persons no feasible point empties, by cutting planes.

    Every feasible point the LPs met empties some atoms at once: a union is safe if one point
    empties all of it. The master problem (``_master``) looks for a union of candidate atoms of at
    most k-1 persons in total that meets every point's non-empty atoms; for it, an LP looks for a
    point emptying it (a new cut), and if there is none the union's interval is judged by the rule.
    The search ends when no such union is left (every union is safe) or after ``MAX_UNION_CHECKS``
    unions, which fails closed.
    """
    if len(candidates) < 2:
        return
    weights = sizes[candidates].astype(np.float64)
    if np.sort(weights)[:2].sum() > threshold - 1:
        return
    index = np.asarray(candidates)

    def non_empty(values: np.ndarray) -> np.ndarray:
        return np.flatnonzero(values[index] > _ZERO)

    # Points that empty different atoms of each count: minimise randomly weighted sums. One point
    # settles the unions inside every count at once, which is why a few of them replace hundreds of
    # master iterations. The generator is seeded: identical input gives identical decisions.
    rng = np.random.default_rng(len(candidates))
    # Only whole-number points are tables the attacker must consider possible: a union the LP
    # empties only at a fractional point can still be non-empty in every integer solution.
    if any(len(non_empty(point)) == 0 for point in model.points if model.is_integral(point)):
        return  # a point the single-atom LPs met already empties every candidate at once
    for _ in range(RANDOM_POINTS):
        model.zero_point([], candidates, rng.exponential(size=len(candidates)))
    hitting = [non_empty(point) for point in model.points if model.is_integral(point)]
    cuts: list[np.ndarray] = []  # unions judged by the rule: no superset is proposed again
    for _ in range(MAX_UNION_CHECKS):
        _check_deadline(deadline)
        chosen = _master(hitting, cuts, weights, threshold - 1)
        if chosen is None:
            return
        union = [candidates[i] for i in chosen]
        result.union_checks += 1
        weights_now = rng.exponential(size=len(candidates))
        point = model.zero_point(union, candidates, weights_now)
        if point is not None and not model.is_integral(point):
            point = model.integer_zero_point(union, candidates, weights_now, near=point)
            if point is None:
                # Empty only at fractional points: whole numbers keep it non-empty. No LP duals
                # name the counts proving it, so any current count may be hidden.
                if not _passes_over_whole_numbers(model, union, threshold, width):
                    fail(union, set())
                cuts.append(chosen)
                continue
        if point is not None:
            hitting.append(non_empty(point))
            continue
        low, rows, columns = model.sum_bound(union, 1.0)
        high, _, _ = model.sum_bound(union, -1.0)
        if not atom_passes(math.ceil(low - _ZERO), high, threshold, width):
            fail(union, provenance(rows, columns))
        # No superset need be proposed: it holds this union, so it is at least as large (its own
        # upper bound reaches k whenever this one's does); a failing one is repaired as a whole.
        cuts.append(chosen)
    # Out of checks or time: not shown safe, so treated as failing (the repair hides a count).
    fail(candidates, set())


def _passes_over_whole_numbers(
    model: IntervalModel, columns: Sequence[int], threshold: int, width: int
) -> bool:
    """The rule on the whole-number bounds of a union no integer point empties."""
    low = model.integer_sum_bound(columns, 1.0)
    high = model.integer_sum_bound(columns, -1.0)
    return atom_passes(math.ceil(low - _ZERO), high, threshold, width)


def _master_model(upper: np.ndarray, weights: np.ndarray, budget: int) -> Highs:
    """The master MILP's columns (how many atoms of each candidate or class), its weight budget and
    its "at least two atoms" row (single atoms are audited already)."""
    n = len(upper)
    master = build_model(np.zeros(n), np.zeros(n), upper.astype(np.float64), [], integer=True)
    master.setOptionValue("time_limit", MASTER_SECONDS)
    master.setOptionValue("presolve", "on")  # nothing to warm-start here; presolve shrinks the search
    everything = np.arange(n, dtype=np.int32)
    master.addRow(-INF, float(budget), n, everything, weights.astype(np.float64))
    master.addRow(2.0, INF, n, everything, np.ones(n))
    return master


def _solve_master(master: Highs) -> np.ndarray | None:
    """The master's solution values, None if infeasible; raises ``_Undecided`` if out of time."""
    master.run()
    status = master.getModelStatus()
    if status == highspy.HighsModelStatus.kInfeasible:
        return None
    if status != highspy.HighsModelStatus.kOptimal:
        raise _Undecided
    return np.asarray(master.getSolution().col_value)


def _master(
    hitting: list[np.ndarray], cuts: list[np.ndarray], weights: np.ndarray, budget: int
) -> np.ndarray | None:
    """A set of at least two candidates of total weight at most ``budget`` meeting every set in
    ``hitting`` and holding no set in ``cuts``; None if there is none (raises if undecided in time)."""
    if any(len(h) == 0 for h in hitting):
        return None  # a point empties every candidate at once
    n = len(weights)
    hits = np.zeros(n, dtype=np.int64)
    for h in hitting:
        hits[h] += 1
    # A union has at most ``budget`` atoms (each holds a person): unless the candidates meeting the
    # most points can together meet all of them, no union can, and a candidate that cannot reach all
    # points together with the best others is left out of the MILP.
    most = np.sort(hits)[::-1][:budget]
    if most.sum() < len(hitting):
        return None
    best_others = most[: budget - 1].sum()
    keep = np.flatnonzero((hits + best_others >= len(hitting)) & (weights <= budget - 1))
    if len(keep) < 2:
        return None
    position = np.full(n, -1, dtype=np.int64)
    position[keep] = np.arange(len(keep))
    chosen = _master_by_class(hitting, cuts, weights, budget, keep, position)
    if chosen is not _UNRESOLVED:
        return chosen
    # Per atom: the same search with one class per atom and the judged unions forbidden.
    members = np.zeros((len(hitting), len(keep)), dtype=bool)
    for row, h in enumerate(hitting):
        columns = position[h]
        members[row, columns[columns >= 0]] = True
    forbidden = [frozenset(position[cut].tolist()) for cut in cuts if np.all(position[cut] >= 0)]
    try:
        taken = _cover_search(
            members, weights[keep].astype(np.int64), np.ones(len(keep), dtype=np.int64), budget, forbidden
        )
        return None if taken is None else keep[taken > 0]
    except _SearchExhausted:
        pass
    master = _master_model(np.ones(len(keep)), weights[keep], budget)
    for h in hitting:
        columns = position[h]
        columns = columns[columns >= 0].astype(np.int32)
        if not len(columns):
            return None
        master.addRow(1.0, INF, len(columns), columns, np.ones(len(columns)))
    for cut in cuts:
        columns = position[cut]
        if np.all(columns >= 0):
            master.addRow(
                -INF, float(len(columns) - 1), len(columns), columns.astype(np.int32), np.ones(len(columns))
            )
    values = _solve_master(master)
    return None if values is None else keep[values > 0.5]


_UNRESOLVED = np.zeros(0, dtype=np.int64)  # the class master could not answer: solve per atom


def _master_by_class(
    hitting: list[np.ndarray],
    cuts: list[np.ndarray],
    weights: np.ndarray,
    budget: int,
    keep: np.ndarray,
    position: np.ndarray,
) -> np.ndarray | None:
    """The master problem over classes of interchangeable candidates: atoms meeting the same points,
    with the same weight, differ only in the judged unions (cuts) they complete. One integer per
    class (how many of its atoms the union takes) instead of one binary per atom: tens of thousands
    of atoms fall into a few hundred classes. Returns ``_UNRESOLVED`` when every choice of atoms for
    the class solution completes a judged union (then the per-atom MILP decides)."""
    membership = np.zeros((len(hitting), len(keep)), dtype=bool)
    for row, h in enumerate(hitting):
        columns = position[h]
        membership[row, columns[columns >= 0]] = True
    # One byte string per candidate (its points as bits, then its weight): np.unique on them is a
    # 1-D sort, much cheaper than comparing rows.
    packed = np.packbits(membership, axis=0).T
    keys = np.ascontiguousarray(np.hstack([packed, weights[keep].astype(np.uint8)[:, None]]))
    _, first, class_of, sizes = np.unique(
        keys.view(np.dtype((np.void, keys.shape[1]))).ravel(),
        return_index=True,
        return_inverse=True,
        return_counts=True,
    )
    class_of = class_of.ravel()
    class_members = membership[:, first]
    class_weights = weights[keep][first]
    class_counts = np.minimum(sizes, budget)
    try:
        taken = _cover_search(class_members, class_weights.astype(np.int64), class_counts, budget)
    except _SearchExhausted:
        taken = _cover_by_milp(class_members, class_weights, class_counts, budget)
    if taken is None:
        return None
    judged = [set(cut.tolist()) for cut in cuts]
    pools = [
        itertools.combinations(keep[class_of == k].tolist(), int(taken[k])) for k in np.flatnonzero(taken)
    ]
    for choice in itertools.islice(itertools.product(*pools), REPRESENTATIVE_TRIES):
        union = {atom for group in choice for atom in group}
        if not any(cut <= union for cut in judged):
            return np.asarray(sorted(union), dtype=np.int64)
    return _UNRESOLVED


def _cover_by_milp(
    members: np.ndarray, weights: np.ndarray, counts: np.ndarray, budget: int
) -> np.ndarray | None:
    """``_cover_search``'s question put to HiGHS (for searches too large to finish)."""
    master = _master_model(counts, weights, budget)
    for row in range(len(members)):
        columns = np.flatnonzero(members[row]).astype(np.int32)
        if not len(columns):
            return None
        master.addRow(1.0, INF, len(columns), columns, np.ones(len(columns)))
    values = _solve_master(master)
    return None if values is None else np.rint(values).astype(np.int64)


class _SearchExhausted(Exception):
    """The cover search visited its node budget without deciding."""


def _cover_search(
    members: np.ndarray,
    weights: np.ndarray,
    counts: np.ndarray,
    budget: int,
    forbidden: Sequence[frozenset[int]] = (),
) -> np.ndarray | None:
    """How many atoms of each class a union takes so that it meets every point (``members[p, c]``:
    class c is non-empty at point p), holds at least two atoms, weighs at most ``budget`` in all and
    holds none of the ``forbidden`` sets of classes (judged unions, when each class is one atom);
    None if no union does. Raises ``_SearchExhausted`` past ``COVER_SEARCH_NODES``.

    Exact, and for these problems (budget k-1, so at most k-1 atoms) far cheaper than a MILP, whose
    LP relaxation is weak here: proving that no union is left took HiGHS tens of branch-and-bound
    nodes and 0.1-0.2 s on the suppression benchmark, this search about a thousand nodes in 10 ms.
    Why it misses no union:
    - every union meeting all points takes a class of the unmet point with fewest classes that
      still fit the remaining weight, so branching over exactly those classes loses none (a class
      taken already meets no unmet point, so it is never offered twice);
    - a class meets the same points however many of its atoms are taken, so the classes still to
      take are distinct; together they meet at most what the fractional knapsack over the classes'
      weights allows (``_most_met``): fewer than the unmet points prunes nothing feasible;
    - when at most two more classes fit, every pair with a class meeting the branching point is
      tried at once (``_covering_pair``), and when one fits, every single class;
    - a union meeting every point with fewer than two atoms is completed by the lightest atoms that
      fit (taking more atoms never unmeets a point, and the lightest leave the most weight);
    - a class whose taking completes a forbidden set is skipped: every union through it holds that set;
    - a class whose branch found nothing is left out of its later siblings' branches: every union
      holding it (with what the node took) was searched in its own branch.
    Which union it returns differs from the MILP's; the search over unions ends in the same place
    (no union left unjudged), whatever the order the unions are proposed in.
    """
    n_points, n_classes = members.shape
    taken = np.zeros(n_classes, dtype=np.int64)
    visited = 0
    missed = _packed(~members.T)
    # Classes already tried as a branch at an enclosing node: every union holding them was searched
    # there, so the later branches leave them out (one order per union instead of every order).
    excluded = np.zeros(n_classes, dtype=bool)

    def allowed(extra: Sequence[int]) -> bool:
        """Whether taking ``extra`` too leaves the union free of every forbidden set."""
        if not forbidden:
            return True
        chosen = {int(k) for k in np.flatnonzero(taken)} | set(extra)
        return not any(cut <= chosen for cut in forbidden)

    def complete_to_two(left: int) -> bool:
        added: list[int] = []
        while taken.sum() < 2:
            fitting = np.flatnonzero((weights <= left) & (taken < counts))
            room = [k for k in fitting[np.argsort(weights[fitting], kind="stable")].tolist() if allowed([k])]
            if not room:
                for k in added:
                    taken[k] -= 1
                return False
            k = room[0]
            taken[k] += 1
            left -= int(weights[k])
            added.append(k)
        return True

    def extend(unmet: np.ndarray, left: int) -> bool:
        nonlocal visited
        visited += 1
        if visited > COVER_SEARCH_NODES:
            raise _SearchExhausted
        if not unmet.any():
            return complete_to_two(left)
        fits = (weights <= left) & ~excluded
        if not fits.any():
            return False
        open_members = members[unmet] & fits
        options_per_point = open_members.sum(axis=1)
        point = int(np.argmin(options_per_point))
        if options_per_point[point] == 0:
            return False
        gain = open_members.sum(axis=0)
        need = len(open_members)
        whole = np.flatnonzero(gain >= need)
        for k in whole[np.argsort(weights[whole], kind="stable")].tolist():  # each meets every point
            if not allowed([k]):
                continue
            taken[k] += 1
            if complete_to_two(left - int(weights[k])):
                return True
            taken[k] -= 1
            break  # heavier ones leave less room to complete
        options = np.flatnonzero(open_members[point])
        lightest = int(weights[fits].min())
        if left < 2 * lightest:  # room for one more class only, and none meets every point
            return False
        if left < 3 * lightest:  # room for two more: every pair at once
            pair = _covering_pair(
                missed, _packed(unmet[None, :])[0], gain, fits, options, weights, left, need, allowed
            )
            if pair is None:
                return False
            taken[list(pair)] += 1
            return True  # two classes: at least two atoms
        if _most_met(gain[fits], weights[fits], left) < need:
            return False
        # Classes meeting the most unmet points first: a union, when there is one, is found early.
        tried: list[int] = []
        try:
            for k in options[np.argsort(-gain[options], kind="stable")].tolist():
                if not allowed([k]):
                    continue  # every union taking it holds a forbidden set
                taken[k] += 1
                if extend(unmet & ~members[:, k], left - int(weights[k])):
                    return True
                taken[k] -= 1
                excluded[k] = True
                tried.append(k)
            return False
        finally:
            excluded[tried] = False

    if extend(np.ones(n_points, dtype=bool), budget):
        return taken
    return None


def _packed(rows: np.ndarray) -> np.ndarray:
    """Boolean rows as 64-bit words (one row per class, one bit per point)."""
    packed = np.packbits(rows, axis=1, bitorder="little")
    words = np.zeros((packed.shape[0], -(-packed.shape[1] // 8) * 8), dtype=np.uint8)
    words[:, : packed.shape[1]] = packed
    return words.view(np.uint64)


def _covering_pair(
    missed: np.ndarray,
    unmet: np.ndarray,
    gain: np.ndarray,
    fits: np.ndarray,
    firsts: np.ndarray,
    weights: np.ndarray,
    left: int,
    need: int,
    allowed: Callable[[Sequence[int]], bool],
) -> tuple[int, int] | None:
    """Two classes of total weight at most ``left``, one of them in ``firsts``, that together meet
    every unmet point, or None. ``missed``: per class, the points it misses (``_packed``); ``unmet``:
    the ``need`` unmet points, packed alike; ``gain``: unmet points per class. A partner meets every unmet
    point its first misses, so it meets at least ``need - gain[first]`` of them: no other is compared."""
    partners = np.flatnonzero(fits & (gain >= need - int(gain[firsts].max(initial=0))))
    if not len(partners):
        return None
    # All firsts against all partners at once: (firsts, partners, words) of points both miss.
    both = missed[firsts][:, None, :] & missed[partners][None, :, :] & unmet
    covering = ~both.any(axis=2)
    covering &= (gain[partners][None, :] + gain[firsts][:, None]) >= need
    covering &= (weights[partners][None, :] + weights[firsts][:, None]) <= left
    covering &= partners[None, :] != firsts[:, None]
    for f, q in np.argwhere(covering).tolist():
        if allowed([int(firsts[f]), int(partners[q])]):
            return int(firsts[f]), int(partners[q])
    return None


def _most_met(gain: np.ndarray, weights: np.ndarray, left: int) -> float:
    """At most how many unmet points distinct classes of total weight ``left`` can meet together:
    the fractional knapsack over the classes (by points met per unit of weight) bounds it."""
    order = np.argsort(-(gain / weights), kind="stable")
    total = 0.0
    for k in order.tolist():
        if gain[k] <= 0 or left <= 0:
            break
        take = min(1.0, left / weights[k])
        total += take * gain[k]
        left -= weights[k]
    return total


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise AuditOutOfTime("Venn-atom audit past its deadline")


class _Undecided(Exception):
    """The master MILP ran out of time."""


class _Presolved:
    """The atom system after resolving every count that covers a single unknown atom.

    A published cell that is one atom (most inner cells of a breakdown) fixes that atom, which is
    then a constant in every other row; repeating this leaves an LP over the atoms of hidden cells
    and of overlaps only, a fraction of the whole. Provenance remembers which current counts each
    row's constant, and each atom's bounds, came from: only current counts can be hidden to repair.
    """

    def __init__(self, atoms: VennAtoms, counts: Sequence[KnownCount]) -> None:
        n_rows, n_atoms = len(counts), len(atoms.sizes)
        lengths = np.fromiter((len(m) for m in atoms.members), dtype=np.int64, count=n_rows)
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        indices = np.concatenate(atoms.members).astype(np.int64)
        self.matrix = csr_matrix((np.ones(len(indices)), indices, indptr), shape=(n_rows, n_atoms))
        self.low = np.asarray([c.low for c in counts], dtype=np.float64)
        self.high = np.asarray([c.high for c in counts], dtype=np.float64)
        self.row_provenance: list[frozenset[int]] = [
            frozenset() if c.cell is None else frozenset({c.cell}) for c in counts
        ]
        self.lower = np.zeros(n_atoms)
        self.upper = np.full(n_atoms, INF)
        self.atom_provenance: list[frozenset[int]] = [frozenset()] * n_atoms
        self.fixed = np.zeros(n_atoms, dtype=bool)
        self.alive = np.ones(n_rows, dtype=bool)
        by_atom = self.matrix.tocsc()
        while True:
            unknown_per_row = self.matrix @ (~self.fixed).astype(np.float64)
            self.alive &= unknown_per_row > 0.5  # a row of constants says nothing more
            single = np.flatnonzero(self.alive & (unknown_per_row < 1.5))
            if not len(single):
                break
            rows = self.matrix[single]
            atom_of = rows.indices[~self.fixed[rows.indices]]  # one unknown atom per single row
            np.maximum.at(self.lower, atom_of, self.low[single])
            np.minimum.at(self.upper, atom_of, self.high[single])
            self.alive[single] = False
            for r, atom in zip(single.tolist(), atom_of.tolist(), strict=True):
                if self.row_provenance[r]:
                    self.atom_provenance[atom] = self.atom_provenance[atom] | self.row_provenance[r]
            newly = np.unique(atom_of[self.lower[atom_of] >= self.upper[atom_of]])
            if not len(newly):
                continue
            self.fixed[newly] = True
            values = np.zeros(n_atoms)
            values[newly] = self.lower[newly]
            shift = self.matrix @ values
            self.low -= shift
            self.high -= shift
            for atom in newly.tolist():
                if self.atom_provenance[atom]:
                    for r in by_atom.indices[by_atom.indptr[atom] : by_atom.indptr[atom + 1]].tolist():
                        self.row_provenance[r] = self.row_provenance[r] | self.atom_provenance[atom]

    def components(self, small: np.ndarray) -> list[_Component]:
        """Connected parts of the unknown atoms and live rows that hold a small atom and involve a
        current count (a part made of earlier counts only passed when they were released)."""
        unknown = np.flatnonzero(~self.fixed)
        rows = np.flatnonzero(self.alive)
        matrix = self.matrix[rows][:, unknown].tocsr()
        n_u, n_r = len(unknown), len(rows)
        coo = matrix.tocoo()
        graph = coo_matrix((np.ones(coo.nnz), (coo.row + n_u, coo.col)), shape=(n_u + n_r, n_u + n_r))
        _, label = connected_components(graph, directed=False)
        atom_label, row_label = label[:n_u], label[n_u:]
        involved = np.zeros(label.max() + 1 if len(label) else 0, dtype=bool)
        for i, r in enumerate(rows.tolist()):
            if self.row_provenance[r]:
                involved[row_label[i]] = True
        for i, a in enumerate(unknown.tolist()):
            if self.atom_provenance[a]:
                involved[atom_label[i]] = True
        holding_small = np.zeros_like(involved)
        holding_small[atom_label[small[unknown]]] = True
        wanted = np.flatnonzero(involved & holding_small)
        atom_order = np.argsort(atom_label, kind="stable")
        row_order = np.argsort(row_label, kind="stable")
        atom_starts = np.searchsorted(atom_label[atom_order], wanted)
        atom_ends = np.searchsorted(atom_label[atom_order], wanted, side="right")
        row_starts = np.searchsorted(row_label[row_order], wanted)
        row_ends = np.searchsorted(row_label[row_order], wanted, side="right")
        parts = []
        for a0, a1, r0, r1 in zip(atom_starts, atom_ends, row_starts, row_ends, strict=True):
            local_atoms, local_rows = atom_order[a0:a1], row_order[r0:r1]
            parts.append(
                _Component(unknown[local_atoms], rows[local_rows], matrix[local_rows][:, local_atoms].tocsr())
            )
        return parts
