"""Witness tables carried from one Venn-atom audit to the next, so an audit's cost follows what the
new counts change instead of the whole history.

The union search of ``disclosure.atoms`` shows a union of small atoms possibly empty by finding a
whole-number table (a *witness*: atom sizes satisfying every released count) with all of it at 0.
Most of the search, release after release, rediscovers the witnesses of the previous audit: the
history only grows, so the previous family of person sets is part of the new one, and each of its
atoms is a union of new atoms. This module keeps the last audits' witnesses per data version and
*extends* them to the new family: the sizes of atoms the new counts do not cut are kept, the size of
a cut atom is shared among its pieces, and only the new counts (and earlier ones that cut atoms of
the witness) are constraints, in a small integer problem over the cut atoms.

A witness is used only after it is checked, whole number by whole number, against every count of the
new system, so a wrong, stale or foreign witness can cost time but never change a verdict: the audit
decides exactly as without them, only sooner (which of several failing counts a repair hides may
differ). The memory is per process and bounded; losing it (a restart, a killed audit) only costs time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.sparse import csr_matrix

from disclosure.lp import INF, build_model

# Speed and memory only, not release rules: how many audits' witnesses a process keeps per data
# version, how many witnesses per audit, and how long one extension may search.
_SETS_PER_VERSION = 3
_POINTS_PER_SET = 96
_EXTENSION_SECONDS = 0.25
_VERSIONS = 4
_TOLERANCE = 1e-6
_LEAST_OVERLAP = 0.5  # share of the new family's persons a witness must hold to be worth carrying


@dataclass(frozen=True)
class WitnessSet:
    """Whole-number tables of one audit's family of person sets.

    ``universe``: the family's persons (sorted); ``atom_of``: each person's atom; ``points``: per
    witness, the size of every atom. Each point satisfied every count of that family.
    """

    universe: np.ndarray
    atom_of: np.ndarray
    points: tuple[np.ndarray, ...]


def _pieces(
    witness: WitnessSet, universe: np.ndarray, atom_of: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The common refinement of the witness's atoms and the new ones: per piece, its witness atom
    (-1: persons the witness's sets do not hold), its new atom (-1: persons no new set holds) and its
    persons. Usually the new family holds the witness's (the history grew) and the pieces are the
    new atoms; when it does not (the witness's audit had counts that were then hidden), a new atom
    is several pieces and the witness still tells how their persons may be spread."""
    persons = np.union1d(witness.universe, universe)
    old = np.full(len(persons), -1, dtype=np.int64)
    old[np.searchsorted(persons, witness.universe)] = witness.atom_of
    new = np.full(len(persons), -1, dtype=np.int64)
    new[np.searchsorted(persons, universe)] = atom_of
    span = int(new.max(initial=-1)) + 2
    pairs, sizes = np.unique((old + 1) * span + (new + 1), return_counts=True)
    return pairs // span - 1, pairs % span - 1, sizes


def holds(matrix: csr_matrix, table: np.ndarray, low: np.ndarray, high: np.ndarray) -> bool:
    """Whether ``table`` is a whole-number table (atom sizes) that every count (row) allows."""
    activity = matrix @ table
    return bool(
        np.all(table >= 0)
        and np.all(np.abs(table - np.round(table)) <= _TOLERANCE)
        and np.all(activity >= low - _TOLERANCE)
        and np.all(activity <= high + _TOLERANCE)
    )


@dataclass
class Carried:
    """What earlier audits' witnesses give a new audit: whole tables of the new family (each checked
    against every row), and for each witness that could not be carried, the atoms it emptied (a hint
    where to look for a new table: see ``disclosure.atoms``)."""

    tables: list[np.ndarray] = field(default_factory=list)
    hints: list[np.ndarray] = field(default_factory=list)


def extend(
    witness: WitnessSet,
    universe: np.ndarray,
    atom_of: np.ndarray,
    sizes: np.ndarray,
    matrix: csr_matrix,
    low: np.ndarray,
    high: np.ndarray,
) -> Carried:
    """The witness's tables carried to a new family (its atoms ``atom_of`` over ``universe``, rows
    ``matrix`` with bounds ``low``..``high``), each checked against every row; a table that cannot be
    carried (a new count contradicts it) leaves a hint. Small pieces of a shared atom are pushed
    towards 0, as the search would."""
    carried = Carried()
    if not witness.points or np.isin(universe, witness.universe).mean() < _LEAST_OVERLAP:
        return carried  # a witness of other persons would be a whole new search, not a head start
    n_new = len(sizes)
    parent, child, sizes = _pieces(witness, universe, atom_of)
    n_atoms = len(sizes)  # pieces, from here on: the tables are over pieces, then summed per new atom
    held = child >= 0
    to_new = csr_matrix(
        (np.ones(int(held.sum())), (child[held], np.flatnonzero(held))), shape=(n_new, n_atoms)
    )
    new_matrix, matrix = matrix, (matrix @ to_new).tocsr()
    n_witness = len(witness.points[0])
    inside = parent >= 0
    pieces = np.bincount(parent[inside], minlength=n_witness)
    fixed = inside & (pieces[np.where(inside, parent, 0)] == 1)
    free = np.flatnonzero(~fixed)
    # A row is decided by the witness when it holds every piece of each shared atom it touches and
    # nothing outside the witness's persons: its value is the sum of whole witness atoms.
    free_matrix = matrix[:, free].tocsr()
    free_parent = parent[free]
    outside_in_row = free_matrix @ (free_parent < 0).astype(np.float64)
    incidence = csr_matrix(
        (
            np.ones(int(np.sum(free_parent >= 0))),
            (np.flatnonzero(free_parent >= 0), free_parent[free_parent >= 0]),
        ),
        shape=(len(free), n_witness),
    )
    taken = (free_matrix @ incidence).tocsr()  # row x witness atom: pieces the row holds
    partial = np.zeros(matrix.shape[0], dtype=bool)
    for row in range(matrix.shape[0]):
        start, end = taken.indptr[row], taken.indptr[row + 1]
        if np.any(taken.data[start:end] < pieces[taken.indices[start:end]] - 0.5):
            partial[row] = True
    constraint_rows = np.flatnonzero(partial | (outside_in_row > 0.5))
    # The shared atoms the constraint rows cut, and the outside atoms in them, are the unknowns; every
    # other shared atom's size goes to its largest piece (its small pieces stay empty).
    involved = np.zeros(n_atoms, dtype=bool)
    if len(constraint_rows):
        involved[np.unique(matrix[constraint_rows].indices)] = True
    cut_parents = np.unique(parent[involved & inside & ~fixed])
    # Every outside atom is in some count, which its persons make a constraint row: an unknown too.
    unknown = np.flatnonzero(~fixed & (np.isin(parent, cut_parents) | ~inside))
    decided_rows = np.setdiff1d(np.arange(matrix.shape[0]), constraint_rows)
    decided_matrix = matrix[decided_rows]
    models: list = []  # the LP, then (only if an LP point is fractional) the same rows over integers
    rows: list[tuple[dict[int, float], float, float]] = []
    weights = np.zeros(0)
    if len(unknown):
        sub = matrix[constraint_rows][:, unknown].tocsr()
        for r in range(sub.shape[0]):
            start, end = sub.indptr[r], sub.indptr[r + 1]
            rows.append(({int(c): 1.0 for c in sub.indices[start:end]}, -INF, INF))
        for a in cut_parents:
            rows.append(({int(c): 1.0 for c in np.flatnonzero(parent[unknown] == a)}, 0.0, 0.0))
        weights = np.where(sizes[unknown] < 10, 1.0 / np.maximum(sizes[unknown], 1), 0.0)
        models.append(build_model(weights, np.zeros(len(unknown)), np.full(len(unknown), INF), rows))

    def split(row_low: np.ndarray, row_high: np.ndarray) -> np.ndarray | None:
        """Whole-number sizes of the unknown atoms within these row bounds, or None."""
        for integer in (False, True):
            if integer and len(models) == 1:
                milp = build_model(
                    weights, np.zeros(len(unknown)), np.full(len(unknown), INF), rows, integer=True
                )
                milp.setOptionValue("time_limit", _EXTENSION_SECONDS)
                milp.setOptionValue("presolve", "on")
                milp.setOptionValue("mip_rel_gap", 1.0)  # any whole-number point will do
                models.append(milp)
            model = models[int(integer)]
            index = np.arange(len(row_low), dtype=np.int32)
            model.changeRowsBounds(len(row_low), index, row_low, row_high)
            model.run()
            if model.getInfo().primal_solution_status != 2:
                return None  # the LP is infeasible, so are whole numbers; or out of time
            values = np.asarray(model.getSolution().col_value)
            if np.all(np.abs(values - np.round(values)) <= _TOLERANCE):
                return np.round(values)
        return None

    # Points that agree on what the unknowns depend on get the same split: solved once.
    splits: dict[bytes, np.ndarray | None] = {}
    # Where each shared atom's size goes when no constraint row cuts it: its largest piece.
    largest_piece = np.full(n_witness, -1, dtype=np.int64)
    order = np.argsort(sizes, kind="stable")
    largest_piece[parent[order][inside[order]]] = order[inside[order]]
    constraint_matrix = matrix[constraint_rows]
    shared = np.flatnonzero(pieces > 1)

    def emptied_by(point: np.ndarray) -> np.ndarray:
        """New atoms all of whose persons the witness puts in empty atoms: what it emptied."""
        emptied = inside & (point[np.where(inside, parent, 0)] <= _TOLERANCE)
        return (to_new @ (~emptied).astype(np.float64)) < 0.5

    for point in witness.points:
        table = np.zeros(n_atoms)
        table[fixed] = point[parent[fixed]]
        # A decided row holds every piece of what it touches: its value does not depend on the split.
        table[largest_piece[shared]] = point[shared]
        decided = decided_matrix @ table
        if np.any(decided < low[decided_rows] - _TOLERANCE) or np.any(
            decided > high[decided_rows] + _TOLERANCE
        ):
            carried.hints.append(emptied_by(point))
            continue
        table[largest_piece[cut_parents]] = 0.0
        if len(unknown):
            known = constraint_matrix @ table  # the unknowns are still 0 here
            row_low = np.concatenate([low[constraint_rows] - known, point[cut_parents]])
            row_high = np.concatenate([high[constraint_rows] - known, point[cut_parents]])
            key = row_low.tobytes() + row_high.tobytes()
            if key not in splits:
                splits[key] = split(row_low, row_high)
            values = splits[key]
            if values is None:
                carried.hints.append(emptied_by(point))
                continue
            table[unknown] = values
        new_table = to_new @ table
        if holds(new_matrix, new_table, low, high):
            carried.tables.append(new_table)
        else:
            carried.hints.append(emptied_by(point))
    return carried


class WitnessMemory:
    """The last audits' witness sets per data version, in this process (thread-safe, bounded)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_version: OrderedDict[str, list[WitnessSet]] = OrderedDict()

    def get(self, data_version: str) -> list[WitnessSet]:
        with self._lock:
            return list(self._by_version.get(data_version, ()))

    def add(self, data_version: str, witness: WitnessSet | None) -> None:
        if witness is None or not witness.points:
            return
        with self._lock:
            sets = self._by_version.setdefault(data_version, [])
            self._by_version.move_to_end(data_version)
            sets.insert(0, witness)  # newest first: it covers the largest family
            del sets[_SETS_PER_VERSION:]
            while len(self._by_version) > _VERSIONS:
                self._by_version.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._by_version.clear()


def keep(points: Sequence[np.ndarray], small: np.ndarray) -> tuple[np.ndarray, ...]:
    """At most ``_POINTS_PER_SET`` distinct points, those emptying the most small atoms first."""
    distinct: dict[bytes, np.ndarray] = {}
    for point in points:
        distinct.setdefault(
            np.asarray(point, dtype=np.float64).tobytes(), np.asarray(point, dtype=np.float64)
        )
    ranked = sorted(distinct.values(), key=lambda p: -int(np.sum(p[small] <= _TOLERANCE)))
    return tuple(ranked[:_POINTS_PER_SET])


MEMORY = WitnessMemory()
