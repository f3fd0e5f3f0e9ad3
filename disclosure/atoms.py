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

What this does not cover: a union of several atoms (say "in A or B but not C") pinned to 1..k-1
while each of its atoms stays free. The pairwise guard covers the unions that are the difference of
two released sets; general unions would need a search over exponentially many combinations.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from pyroaring import BitMap
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from disclosure.lp import INF, IntervalModel, Row

_SIGNATURE_SEED = 0x5EED_A70E  # fixed: identical input gives identical atoms, run after run


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


def _positions(persons: BitMap, universe: np.ndarray) -> np.ndarray:
    return np.searchsorted(universe, np.frombuffer(persons.to_array(), dtype=np.uint32))


def venn_atoms(sets: Sequence[BitMap]) -> VennAtoms:
    """The atoms of a family of person sets: persons grouped by which of the sets contain them.

    Each set adds a random 128-bit key to the signature of its members, so equal membership gives
    equal signatures; a collision (different membership, equal signature) is detected afterwards
    (some set would cover only part of an atom) and then the exact refinement is used instead.
    """
    if not sets:
        return VennAtoms(np.zeros(0, dtype=np.int64), [])
    universe = np.frombuffer(BitMap.union(*sets).to_array(), dtype=np.uint32)
    positions = [_positions(persons, universe) for persons in sets]
    rng = np.random.default_rng(_SIGNATURE_SEED)
    keys = rng.integers(0, np.iinfo(np.uint64).max, size=(len(sets), 2), dtype=np.uint64, endpoint=True)
    signatures = np.zeros((len(universe), 2), dtype=np.uint64)
    for key, where in zip(keys, positions, strict=True):
        signatures[where] += key  # wraps modulo 2**64, which is what a keyed sum needs
    _, atom_of, sizes = np.unique(signatures, axis=0, return_inverse=True, return_counts=True)
    atom_of = atom_of.ravel()
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
        covered = np.bincount(atom_of[where], minlength=len(sizes))
        atoms = np.flatnonzero(covered)
        if not np.array_equal(covered[atoms], sizes[atoms]):
            return None  # a signature collision split nothing it should have: not atoms
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
    small = np.flatnonzero(atoms.sizes < threshold)  # every atom has at least one person
    result.small_atoms = len(small)
    if not len(small):
        return result

    # Components of atoms linked through counts; only those holding a small atom need an LP.
    n_atoms, n_counts = len(atoms.sizes), len(counts)
    row_index = np.concatenate([np.full(len(m), r) for r, m in enumerate(atoms.members)])
    atom_index = np.concatenate(atoms.members)
    graph = coo_matrix(
        (np.ones(len(row_index)), (row_index + n_atoms, atom_index)),
        shape=(n_atoms + n_counts, n_atoms + n_counts),
    )
    _, component = connected_components(graph, directed=False)
    small_by_component: dict[int, list[int]] = {}
    for atom in small:
        small_by_component.setdefault(int(component[atom]), []).append(int(atom))

    for label, targets in sorted(small_by_component.items()):
        members = np.flatnonzero(component[:n_atoms] == label)
        local = {int(atom): position for position, atom in enumerate(members)}
        rows: list[Row] = []
        row_counts: list[int] = []
        for r, covered in enumerate(atoms.members):
            if component[n_atoms + r] != label:
                continue
            row_counts.append(r)
            rows.append(({local[int(a)]: 1.0 for a in covered}, float(counts[r].low), float(counts[r].high)))
        model = IntervalModel([0.0] * len(members), [INF] * len(members), rows)
        columns = [local[a] for a in targets]
        model.push_down(columns)
        for atom, column in zip(targets, columns, strict=True):
            low = model.minimum(column)
            if low <= 1e-6:
                continue
            # The counts whose rows prove the lower bound: hiding one of them is what can free the atom.
            binding = {row_counts[r] for r in model.binding_rows()}
            high = model.maximum(column)
            if atom_passes(math.ceil(low - 1e-6), high, threshold, width):
                continue
            result.failing.append(atom)
            culprits = {counts[r].cell for r in binding if counts[r].cell is not None}
            if not culprits:  # proven by an integer bound only: any current count of the component
                culprits = {counts[r].cell for r in row_counts if counts[r].cell is not None}
            result.culprits.append({c for c in culprits if c is not None})
        result.lps += model.solves
    return result
