"""Venn-atom audit: what all released counts, taken together, say about small groups of persons.

The pairwise differencing guard catches two counts whose person sets differ by 1..k-1 persons, and
the cell audit links earlier releases only through identical person sets. Neither sees
inclusion–exclusion over three or more counts: count(C∧A) + count(C∧B) − count(C∧(A∨B)) is the size
of C∧A∧B although no two of the three sets differ by fewer than k persons.

Every released count is the sum of the sizes of the Venn atoms it covers, where an atom is a group of
persons who are in exactly the same released sets. So the strongest linear attacker works with one
unknown per atom: non-negative integers, one row per released count (exact, or a rounding interval).
A release passes only if no atom of 1..k-1 persons can be proven non-empty within a window narrower
than the protection width: the attacker may learn that an atom has at most a few persons (its
minimum is 0, so nobody need be in it), never that a few persons are in it.

What this does not cover: whole-number reasoning (an atom the LP relaxation can empty only at a
fractional point, e.g. |X4| = 2·|X2| − 19 with |X2| in [9.5, 11]: whole numbers force |X4| ≥ 1; the
cell audit, on smaller systems, does use integer proofs). And a union of several atoms (say "in A or
B but not C") pinned to 1..k-1 while each of its atoms stays free. The pairwise guard covers the
unions that are the difference of two released sets; general unions would need a search over
exponentially many combinations.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from pyroaring import BitMap
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from disclosure.lp import INF, IntervalModel, Row

_SIGNATURE_SEED = 0x5EED_A70E  # fixed: identical input gives identical atoms, run after run
_PUSH_DOWN_ROUNDS = 4


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


@dataclass
class AtomAuditResult:
    atoms: int = 0
    small_atoms: int = 0
    lps: int = 0
    failing: list[int] = field(default_factory=list)  # atom indices
    culprits: list[set[int]] = field(default_factory=list)  # per failing atom: current cells covering it

    @property
    def passed(self) -> bool:
        return not self.failing


# A dense key -> position table costs 4 bytes per possible key: worth it while keys are not much
# sparser than the persons themselves; otherwise binary search.
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
    return VennAtoms(sizes.astype(np.int64), members)


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


def audit_atoms(counts: Sequence[KnownCount], threshold: int, width: int) -> AtomAuditResult:
    """Min (and if needed max) of every atom of 1..k-1 persons over all released counts."""
    result = AtomAuditResult()
    counts = [c for c in counts if len(c.persons) > 0]
    if not any(c.cell is not None for c in counts):
        return result
    atoms = venn_atoms([c.persons for c in counts])
    result.atoms = len(atoms.sizes)
    small = set(np.flatnonzero(atoms.sizes < threshold).tolist())  # every atom has at least one person
    result.small_atoms = len(small)
    if not small:
        return result
    system = _Presolved(atoms, counts)

    def fail(atom: int, provenance: set[int], fallback: Callable[[], set[int]]) -> None:
        culprits = {counts[r].cell for r in provenance if counts[r].cell is not None}
        if not culprits:  # no binding count known (no valid duals): any current count it is linked to
            culprits = {counts[r].cell for r in fallback() if counts[r].cell is not None}
        result.failing.append(atom)
        result.culprits.append({c for c in culprits if c is not None})

    for atom in sorted(small & system.fixed.keys()):
        value, provenance = system.fixed[atom]
        if not atom_passes(value, value, threshold, width):
            fail(atom, provenance, lambda provenance=provenance: provenance)

    # Components of the atoms left unknown, linked through the rows left; only those holding a small
    # atom need an LP.
    unknown = sorted(set(range(len(atoms.sizes))) - system.fixed.keys())
    position = {atom: i for i, atom in enumerate(unknown)}
    live_rows = [r for r in range(len(counts)) if system.rows[r]]
    n_unknown = len(unknown)
    row_index = [n_unknown + i for i, r in enumerate(live_rows) for _ in system.rows[r]]
    atom_index = [position[a] for r in live_rows for a in system.rows[r]]
    size = n_unknown + len(live_rows)
    graph = coo_matrix((np.ones(len(row_index)), (row_index, atom_index)), shape=(size, size))
    _, component = connected_components(graph, directed=False)
    small_by_component: dict[int, list[int]] = {}
    for atom in sorted(small - system.fixed.keys()):
        small_by_component.setdefault(int(component[position[atom]]), []).append(atom)

    for label, targets in sorted(small_by_component.items()):
        members = [a for a in unknown if component[position[a]] == label]
        local = {atom: i for i, atom in enumerate(members)}
        component_rows = [r for i, r in enumerate(live_rows) if component[n_unknown + i] == label]
        rows: list[Row] = [
            ({local[a]: 1.0 for a in system.rows[r]}, system.low[r], system.high[r]) for r in component_rows
        ]
        # The LP relaxation: whole-number reasoning (parity) can pin an atom it leaves free; see the
        # module docstring. Integer proofs per atom cost MILPs on thousands of columns per release.
        model = IntervalModel(
            [system.lower[a] for a in members],
            [system.upper[a] for a in members],
            rows,
            integral_proofs=False,
        )
        columns = [local[a] for a in targets]
        # Each push-down proves more atoms possibly empty; repeat on the rest while it pays.
        remaining = columns
        for _ in range(_PUSH_DOWN_ROUNDS):
            model.push_down(remaining)
            left = [c for c in remaining if not model.proven_at_lower(c)]
            if len(left) > len(remaining) // 2:
                break
            remaining = left

        def linked(component_rows: list[int] = component_rows, members: list[int] = members) -> set[int]:
            # Every count of the component, only needed when no binding count is known.
            return set(component_rows).union(*(system.bound_provenance[a] for a in members))

        for atom, column in zip(targets, columns, strict=True):
            low = model.minimum(column)
            if low <= 1e-6:
                continue
            # The counts that prove the lower bound: hiding one of them is what can free the atom.
            binding: set[int] = set()
            for r in model.binding_rows():
                binding |= system.provenance[component_rows[r]]
            for c in model.binding_columns():
                binding |= system.bound_provenance[members[c]]
            high = model.maximum(column)
            if not atom_passes(math.ceil(low - 1e-6), high, threshold, width):
                fail(atom, binding, linked)
        result.lps += model.solves
    return result


class _Presolved:
    """The atom system after resolving every count that covers a single unknown atom.

    A published cell that is one atom (most inner cells of a breakdown) fixes that atom, which is
    then a constant in every other row; repeating this leaves an LP over the atoms of hidden cells
    only, a fraction of the whole. ``provenance`` remembers which counts each row's constant, and
    each fixed atom, came from, to name the counts that prove a failing atom.
    """

    def __init__(self, atoms: VennAtoms, counts: Sequence[KnownCount]) -> None:
        self.rows: list[set[int]] = [set(members.tolist()) for members in atoms.members]
        self.low = [float(c.low) for c in counts]
        self.high = [float(c.high) for c in counts]
        self.provenance: list[set[int]] = [{r} for r in range(len(counts))]
        n = len(atoms.sizes)
        self.lower = [0.0] * n
        self.upper = [INF] * n
        self.bound_provenance: list[set[int]] = [set() for _ in range(n)]
        self.fixed: dict[int, tuple[int, set[int]]] = {}
        rows_of: dict[int, set[int]] = {}
        for r, members in enumerate(self.rows):
            for atom in members:
                rows_of.setdefault(atom, set()).add(r)
        queue = [r for r, members in enumerate(self.rows) if len(members) == 1]
        while queue:
            r = queue.pop()
            if len(self.rows[r]) != 1:
                continue
            (atom,) = self.rows[r]
            self.rows[r] = set()
            rows_of[atom].discard(r)
            self.lower[atom] = max(self.lower[atom], self.low[r])
            self.upper[atom] = min(self.upper[atom], self.high[r])
            self.bound_provenance[atom] |= self.provenance[r]
            if self.lower[atom] != self.upper[atom]:
                continue
            value = self.lower[atom]
            self.fixed[atom] = (int(value), self.bound_provenance[atom])
            for other in rows_of.pop(atom):
                self.rows[other].discard(atom)
                self.low[other] -= value
                self.high[other] -= value
                self.provenance[other] |= self.bound_provenance[atom]
                if len(self.rows[other]) == 1:
                    queue.append(other)
