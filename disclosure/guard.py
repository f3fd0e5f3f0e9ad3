"""Differencing guard on person sets.

Two released counts whose person sets differ by 1..k-1 persons disclose those persons (count(A)
minus count(A without x), trackers that pad a rare set with a large known one, nested attrition
steps, cumulative windows, a characteristic against its cohort). The guard compares every cell
about to be released with the other cells of the release and with every set released earlier on
this data version (per organisation and globally) and hides the cell when the symmetric
difference is in 1..k-1. Only sets whose sizes differ by at most k-1 can fail that test, which
prunes the comparisons against earlier releases and across tables.

Within a table, on one ancestor line, the guard also hides a cell when two sets share, or do not share,
1..k-1 persons (|A ∩ B|, |A − B| or |B − A|): characteristics, drug groups and sample types are
overlapping categories, and an item that is the union of two others (or an "any of these" cell)
turns count(A) + count(B) - count(A ∪ B) into the size of the overlap. Summable dimensions
partition persons, so only cells on one ancestor line are compared; in a table with overlapping
categories all of them whatever their sizes. For nested and disjoint sets the overlap rule says
exactly what the symmetric difference says, so it adds no suppression to ordinary breakdowns.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from pyroaring import BitMap

from disclosure.structure import TableStructure, ancestor_keys, comparable_groups
from disclosure.suppression import ReleaseSystem, information_loss


@dataclass
class GuardResult:
    hidden_within_release: set[int] = field(default_factory=set)
    hidden_against_earlier: set[int] = field(default_factory=set)
    already_released: dict[str, set[int]] = field(default_factory=dict)  # scope -> nodes stored before
    comparisons: int = 0

    @property
    def hidden(self) -> set[int]:
        return self.hidden_within_release | self.hidden_against_earlier


def _unsafe(a: BitMap, b: BitMap, threshold: int) -> bool:
    difference = a.symmetric_difference_cardinality(b)
    return 1 <= difference <= threshold - 1


def _overlap_unsafe(a: BitMap, b: BitMap, threshold: int) -> bool:
    """True when the overlap of two cells of one table, or either's remainder, is 1..k-1 persons.

    Used for cells on one ancestor line of a table, which differ only in overlapping (non-summable)
    categories or are nested: nothing in the audit relates overlapping categories, so their
    intersection is as good as published once an item equal to their union is. For nested sets
    the remainder is the symmetric difference, so this includes the plain differencing test.
    """
    shared = a.intersection_cardinality(b)
    return any(1 <= part <= threshold - 1 for part in (shared, len(a) - shared, len(b) - shared))


def _candidate_pairs(
    system: ReleaseSystem,
    structures: Sequence[TableStructure],
    cell_nodes: Sequence[Sequence[int]],
    candidates: set[int],
    threshold: int,
) -> dict[tuple[int, int], bool]:
    """Pairs of candidate nodes to compare, each mapped to whether the overlap rule applies."""
    pairs: dict[tuple[int, int], bool] = {}
    nodes = system.nodes

    def consider(a: int, b: int, same_line: bool = False) -> None:
        close = same_line or abs(nodes[a].true_count - nodes[b].true_count) <= threshold - 1
        if a != b and a in candidates and b in candidates and close:
            key = (min(a, b), max(a, b))
            pairs[key] = pairs.get(key, False) or same_line

    for structure, table_nodes in zip(structures, cell_nodes, strict=True):
        # Only overlapping (non-summable) categories can hide a small overlap between two large
        # cells; in a table of summable dimensions cells on one ancestor line are nested, where the
        # size window is exact.
        overlapping = len(structure.summable_dimensions) < len(structure.table.dimensions)
        groups = comparable_groups(structure)
        for key, members in groups.items():
            related = [m for ancestor in ancestor_keys(key) for m in groups.get(ancestor, [])]
            for i in members:
                for j in related:
                    consider(table_nodes[i], table_nodes[j], same_line=overlapping)
    # Across tables nothing is known about how categories relate: compare by size window.
    for t, first in enumerate(cell_nodes):
        for second in cell_nodes[t + 1 :]:
            ordered = sorted(set(second) & candidates, key=lambda n: nodes[n].true_count)
            sizes = [nodes[n].true_count for n in ordered]
            for a in set(first) & candidates:
                size = nodes[a].true_count
                start = bisect.bisect_left(sizes, size - (threshold - 1))
                stop = bisect.bisect_right(sizes, size + (threshold - 1))
                for b in ordered[start:stop]:
                    consider(a, b)
    return pairs


def differencing_guard(
    system: ReleaseSystem,
    structures: Sequence[TableStructure],
    cell_nodes: Sequence[Sequence[int]],
    candidates: set[int],
    earlier_sets: Mapping[str, Iterable[BitMap]],
    threshold: int,
) -> GuardResult:
    """Decide which candidate nodes (cells about to be released) the guard hides."""
    nodes = system.nodes
    result = GuardResult()
    released = set(candidates)

    # Against earlier releases first: those sets are out already, so the new cell must yield.
    for scope, sets in earlier_sets.items():
        by_size: dict[int, list[BitMap]] = {}
        for persons in sets:
            by_size.setdefault(len(persons), []).append(persons)
        stored_here: set[int] = set()
        for node_index in sorted(released):
            node = nodes[node_index]
            assert node.persons is not None
            size = node.true_count
            for other_size in range(size - (threshold - 1), size + threshold):
                for persons in by_size.get(other_size, ()):
                    result.comparisons += 1
                    if other_size == size and persons == node.persons:
                        stored_here.add(node_index)
                    elif _unsafe(node.persons, persons, threshold):
                        result.hidden_against_earlier.add(node_index)
        result.already_released[scope] = stored_here
    released -= result.hidden_against_earlier

    # Within the release: of an unsafe pair hide the cell that loses less information.
    pairs = _candidate_pairs(system, structures, cell_nodes, released, threshold)
    for (a, b), same_line in sorted(pairs.items()):
        if a not in released or b not in released:
            continue
        persons_a, persons_b = nodes[a].persons, nodes[b].persons
        assert persons_a is not None and persons_b is not None
        result.comparisons += 1
        unsafe = _overlap_unsafe if same_line else _unsafe
        if unsafe(persons_a, persons_b, threshold):
            loser = min((a, b), key=lambda n: (information_loss(nodes[n]), -n))
            result.hidden_within_release.add(loser)
            released.discard(loser)
    return result
