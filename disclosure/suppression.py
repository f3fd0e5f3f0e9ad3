"""Primary and secondary suppression over one release, and the attacker audit that verifies it.

All tables of a release, and earlier released tables linked to it through identical person sets,
form one system of unknowns ("nodes") and linear relations (parent = sum of children). A node is
one distinct published quantity: cells with the same person set are the same unknown wherever
they appear, which is how a sex table, a region table and a sex × region table of one cohort,
released together or weeks apart, are audited as the one system an attacker would combine.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
from pyroaring import BitMap

from disclosure.lp import INF, DeviationModel, Highs, IntervalModel, Row, new_highs
from disclosure.stores import ReleasedTableRecord

Interval = tuple[int, float]  # (low, high); high may be inf


@dataclass
class Node:
    identity: str  # what links equal quantities (person-set fingerprint, or noise keys under DP)
    fingerprint: str  # HMAC of the person set, for the report
    current: bool
    value: int = 0  # the value that would be published (true count, or post-processed noisy count)
    true_count: int = 0
    persons: BitMap | None = None
    level: int = 0  # highest margin level among the cells it stands for
    structural_zero: bool = False
    known_low: float = 0.0  # what earlier releases already told the customer
    known_high: float = INF
    tables: set[int] = field(default_factory=set)  # current tables this node stands for

    def know(self, low: float, high: float) -> None:
        self.known_low = max(self.known_low, low)
        self.known_high = min(self.known_high, high)


@dataclass
class ReleaseSystem:
    nodes: list[Node] = field(default_factory=list)
    relations: list[tuple[int, tuple[int, ...]]] = field(default_factory=list)
    by_identity: dict[str, int] = field(default_factory=dict)

    def add_node(self, node: Node, merge: bool, table: int | None = None) -> int:
        """Add a node, or merge it into the node of the same identity from another table.

        Equal person sets are merged across tables and releases only: there the customer can tell
        they are the same quantity (the same cohort total, the sex margin of a sex × region table
        and a sex table). Within one table two cells with equal sets (a margin whose other children
        are empty) look different to the customer, and merging them would hand the audit knowledge
        no attacker has.
        """
        if merge and node.identity in self.by_identity:
            existing = self.nodes[self.by_identity[node.identity]]
            if table is None or table not in existing.tables:
                existing.level = max(existing.level, node.level)
                existing.current = existing.current or node.current
                if table is not None:
                    existing.tables.add(table)
                return self.by_identity[node.identity]
            merge = False
        if table is not None:
            node.tables.add(table)
        self.nodes.append(node)
        index = len(self.nodes) - 1
        if merge:
            self.by_identity[node.identity] = index
        return index

    def add_relation(self, parent: int, children: Sequence[int]) -> None:
        relation = (parent, tuple(children))
        self.relations.append(relation)

    def link_earlier(self, records: Iterable[ReleasedTableRecord]) -> int:
        """Add earlier releases' published values and relations; returns how many tables were linked."""
        seen_relations = {(p, c) for p, c in self.relations}
        linked = 0
        for record in records:
            linked += 1
            for cell in record.cells:
                index = self.add_node(Node(identity=cell.fingerprint, fingerprint="", current=False), True)
                if cell.low is not None and cell.high is not None:
                    self.nodes[index].know(cell.low, cell.high)
            for parent, children in record.relations:
                relation = (self.by_identity[parent], tuple(self.by_identity[c] for c in children))
                if relation not in seen_relations:
                    seen_relations.add(relation)
                    self.relations.append(relation)
        return linked

    def current_nodes(self) -> list[int]:
        return [i for i, node in enumerate(self.nodes) if node.current]

    def rows(self, columns: Mapping[int, int], constants: Mapping[int, float]) -> list[Row]:
        """Relations as LP rows over ``columns`` (node -> column), moving known nodes to the right side."""
        rows: list[Row] = []
        for parent, children in self.relations:
            coefficients: dict[int, float] = {}
            constant = 0.0
            for node, sign in ((parent, 1.0), *((child, -1.0) for child in children)):
                if node in columns:
                    column = columns[node]
                    coefficients[column] = coefficients.get(column, 0.0) + sign
                else:
                    constant += sign * constants.get(node, 0.0)
            coefficients = {c: v for c, v in coefficients.items() if v != 0.0}
            if coefficients:
                rows.append((coefficients, -constant, -constant))
        return rows


def information_loss(node: Node) -> float:
    """Cost of hiding a cell: its size, and much more for margins (customers read totals first)."""
    return (node.value + 1.0) * 4.0**node.level


def protection_requirement(node: Node, threshold: int, width: int) -> int:
    """How far above its value the attacker's maximum must reach so the interval passes the audit."""
    if node.value < threshold:
        return max(width, threshold - node.value)
    return width


def interval_passes(low: int, high: float, threshold: int, width: int) -> bool:
    if high == low:
        return False
    if high - low < width:
        return False
    return not (low >= 1 and high <= threshold - 1)


@dataclass
class AuditResult:
    intervals: dict[int, Interval]
    failing: list[int]
    lps: int


def audit(
    system: ReleaseSystem,
    suppressed: set[int],
    published: Mapping[int, tuple[int, int]],
    threshold: int,
    width: int,
) -> AuditResult:
    """For every suppressed node, min and max of its value given everything the customer knows.

    Knowledge: published values (exact, or rounding intervals), earlier releases' values, every
    relation, non-negativity. Nodes pinned to one value are constants; the rest are LP columns,
    split into independent components so each HiGHS model stays small.
    """
    low: dict[int, float] = {}
    high: dict[int, float] = {}
    for index, node in enumerate(system.nodes):
        lo, hi = node.known_low, node.known_high
        if index in published and index not in suppressed:
            lo, hi = max(lo, published[index][0]), min(hi, published[index][1])
        low[index], high[index] = lo, hi
    constants = {i: low[i] for i in low if low[i] == high[i]}
    unknown = [i for i in range(len(system.nodes)) if i not in constants]

    # Components of unknowns connected through relations.
    parent_of = {i: i for i in unknown}

    def find(i: int) -> int:
        while parent_of[i] != i:
            parent_of[i] = parent_of[parent_of[i]]
            i = parent_of[i]
        return i

    for parent, children in system.relations:
        members = [n for n in (parent, *children) if n not in constants]
        for other in members[1:]:
            root_a, root_b = find(members[0]), find(other)
            if root_a != root_b:
                parent_of[max(root_a, root_b)] = min(root_a, root_b)
    components: dict[int, list[int]] = {}
    for i in unknown:
        components.setdefault(find(i), []).append(i)

    targets = sorted(i for i in suppressed if system.nodes[i].current)
    intervals: dict[int, Interval] = {}
    by_component: dict[int, list[int]] = {}
    for target in targets:
        if target in constants:
            intervals[target] = (int(constants[target]), constants[target])
        else:
            by_component.setdefault(find(target), []).append(target)
    global_columns = {node: position for position, node in enumerate(unknown)}
    rows_by_component: dict[int, list[Row]] = {}
    for coefficients, row_low, row_high in system.rows(global_columns, constants):
        root = find(unknown[next(iter(coefficients))])
        if root in by_component:
            rows_by_component.setdefault(root, []).append((coefficients, row_low, row_high))
    lps = 0
    for root, component_targets in sorted(by_component.items()):
        members = components[root]
        local = {global_columns[node]: position for position, node in enumerate(members)}
        component_rows: list[Row] = [
            ({local[c]: v for c, v in coefficients.items()}, row_low, row_high)
            for coefficients, row_low, row_high in rows_by_component.get(root, [])
        ]
        model = IntervalModel([low[n] for n in members], [high[n] for n in members], component_rows)
        # The customer's lower bound is 0 for every hidden cell; a true zero attains it.
        known_minimums = [
            0.0 if system.nodes[target].value == 0 and low[target] == 0 else None
            for target in component_targets
        ]
        found = model.intervals([local[global_columns[t]] for t in component_targets], known_minimums)
        intervals.update(zip(component_targets, found, strict=True))
        lps += model.solves
    # A safe cell the customer already has from an earlier release (exactly, or as a rounded value)
    # discloses nothing new by being hidden now: it needs no width of its own.
    failing = [
        t
        for t in targets
        if not interval_passes(*intervals[t], threshold, width)
        and not (system.nodes[t].known_high < INF and system.nodes[t].value >= threshold)
    ]
    return AuditResult(intervals=intervals, failing=failing, lps=lps)


@dataclass
class SuppressionOutcome:
    suppressed: set[int]
    secondary: set[int]
    audit: AuditResult
    passed: bool
    rounds: int
    deviation_lps: int


class Neighbourhoods:
    """Cells near a node, for small deviation LPs.

    A deviation that protects a cell is, in practice, an alternating cycle (a rectangle, a
    hypercube, lifted through the margins) through cells that share coordinates with it. So
    the first LPs only offer, per dimension, the cell's own category, the margin, and the few
    categories whose cells in the cell's own lines are cheapest to hide (already hidden, or
    large). Any deviation found there is a valid deviation of the whole system (cells outside
    the neighbourhood simply do not move), so restricting can cost extra suppression, never safety.
    """

    def __init__(
        self,
        coordinates: Sequence[Sequence[tuple[object, ...]]],
        categories: Sequence[Sequence[Sequence[object]]],
        summable: Sequence[Sequence[bool]],
        cell_nodes: Sequence[Sequence[int]],
    ) -> None:
        self._tables = []
        self._home: dict[int, tuple[int, int]] = {}
        # Per table, dimension and the cell's other coordinates: the whole line, largest first.
        self._lines: dict[tuple[int, int, tuple[object, ...]], list[tuple[object, int]]] = {}
        for t, (coords, table_nodes) in enumerate(zip(coordinates, cell_nodes, strict=True)):
            lookup = {tuple(c): table_nodes[i] for i, c in enumerate(coords)}
            self._tables.append((coords, lookup, categories[t], summable[t]))
            for i, node in enumerate(table_nodes):
                self._home.setdefault(node, (t, i))

    def _line(self, node: int, d: int, nodes: Sequence[Node]) -> list[tuple[object, int]]:
        """Other categories of dimension d in the node's line, largest cell first.

        The cells of one line share one sorted list (cached per line, not per cell): a cell's own
        list is it without the cell's own category, in the same order.
        """
        t, i = self._home[node]
        coords, lookup, categories, _ = self._tables[t]
        own = tuple(coords[i])
        key = (t, d, (*own[:d], *own[d + 1 :]))
        if key not in self._lines:
            line = []
            for category in categories[d]:
                cell = lookup.get((*own[:d], category, *own[d + 1 :]))
                if cell is not None:
                    line.append((-nodes[cell].value, str(category), category, cell))
            line.sort(key=lambda entry: entry[:2])
            self._lines[key] = [(category, cell) for _, _, category, cell in line]
        return [(category, cell) for category, cell in self._lines[key] if category != own[d]]

    def around(self, node: int, suppressed: set[int], nodes: Sequence[Node], per_dimension: int) -> set[int]:
        if node not in self._home:
            return {node}
        t, i = self._home[node]
        coords, lookup, _, summable = self._tables[t]
        own = tuple(coords[i])
        options: list[list[object]] = []
        for d, category in enumerate(own):
            line = self._line(node, d, nodes)
            # Already hidden neighbours first (free to move), then the largest.
            ranked = [a for a, n in line if n in suppressed] + [a for a, n in line if n not in suppressed]
            chosen: list[object] = [category, *ranked[:per_dimension]]
            if summable[d] and category is not None:
                chosen.append(None)
            if category is None:
                # A margin moves only if some of its categories move: offer them too.
                chosen.extend(ranked[per_dimension : 2 * per_dimension])
            options.append(chosen)
        result: set[int] = set()
        for combination in itertools.product(*options):
            found = lookup.get(combination)
            if found is not None:
                result.add(found)
        return result


def _local_deviation(
    system: ReleaseSystem,
    terms_of: Mapping[int, list[tuple[int, float]]],
    node: int,
    candidates: set[int],
    requirement: int,
    costs: Mapping[int, float],
    solver: Highs | None = None,
) -> tuple[list[tuple[int, float]] | None, int]:
    """Cheapest deviation lifting ``node`` by ``requirement`` moving only ``candidates``.

    ``terms_of[n]`` lists (relation, coefficient) for node n; rows are built from the members'
    terms only, so a margin with 98 categories costs nothing when two of them are candidates.
    ``solver``: a HiGHS instance to build the model in (see ``build_model``).
    """
    members = sorted(candidates)
    by_relation: dict[int, dict[int, float]] = {}
    for position, n in enumerate(members):
        for relation, coefficient in terms_of.get(n, ()):
            row = by_relation.setdefault(relation, {})
            row[position] = row.get(position, 0.0) + coefficient
    # Straight into CSR form (as ``csr_rows`` would make from one dict per row).
    starts: list[int] = []
    indices: list[int] = []
    coefficients: list[float] = []
    for relation in sorted(by_relation):
        start = len(indices)
        for column, coefficient in by_relation[relation].items():
            if coefficient != 0.0:
                indices.append(column)
                coefficients.append(coefficient)
        if len(indices) > start:
            starts.append(start)
    zeros = np.zeros(len(starts))
    rows = (
        zeros,
        zeros,
        np.asarray(starts, dtype=np.int32),
        np.asarray(indices, dtype=np.int32),
        np.asarray(coefficients, dtype=np.float64),
    )
    columns = {n: position for position, n in enumerate(members)}
    model = DeviationModel(
        [system.nodes[n].value for n in members],
        [costs[n] for n in members],
        rows,
        [(system.nodes[n].known_low, system.nodes[n].known_high) for n in members],
        solver,
    )
    moving = model.moving_nodes(columns[node], requirement)
    if moving is None:
        return None, model.solves
    return [(members[c], deviation) for c, deviation in moving], model.solves


def suppress_and_audit(
    system: ReleaseSystem,
    must_hide: set[int],
    published: Mapping[int, tuple[int, int]],
    threshold: int,
    width: int,
    max_rounds: int,
    neighbourhoods: Neighbourhoods | None = None,
) -> SuppressionOutcome:
    """Hide ``must_hide``, add the cheapest secondary suppressions, and audit until the audit passes.

    ``published`` says, for every current node, what the customer learns if it is published: its
    exact value, or its rounding interval. Secondary cells come from deviation LPs: first over a
    small neighbourhood of the cell, widened if that cannot protect it, finally the whole release.
    """
    nodes = system.nodes
    current = system.current_nodes()
    # Nodes already known exactly from earlier releases cannot move; everything else current can.
    movable = [i for i in current if nodes[i].known_low != nodes[i].known_high]
    movable_set = set(movable)
    terms_of: dict[int, list[tuple[int, float]]] = {}
    for r, (parent, children) in enumerate(system.relations):
        terms_of.setdefault(parent, []).append((r, 1.0))
        for child in children:
            terms_of.setdefault(child, []).append((r, -1.0))
    suppressed = set(must_hide)
    costs = {i: (0.0 if i in suppressed else information_loss(nodes[i])) for i in movable}
    secondary: set[int] = set()
    whole: DeviationModel | None = None
    whole_columns = {node: position for position, node in enumerate(movable)}
    solves = 0
    local_solver = new_highs()  # one instance for every neighbourhood LP, each model built afresh

    def hide(added: int) -> None:
        if added not in suppressed:
            suppressed.add(added)
            secondary.add(added)
            costs[added] = 0.0
            if whole is not None:
                whole.make_free(whole_columns[added])

    # A deviation found for one cell also lifts every other hidden cell it moves up; a cell lifted
    # far enough is protected already, so its own LP is skipped (the audit still checks it).
    lifted: dict[int, float] = {}

    def accept(moving: list[tuple[int, float]]) -> None:
        for added, amount in moving:
            hide(added)
            lifted[added] = max(lifted.get(added, 0.0), amount)
        # The opposite deviation is feasible too when no cell it lowers would go below zero (and
        # no earlier release bounds the cells it moves).
        unbounded = all(nodes[n].known_low == 0 and nodes[n].known_high == INF for n, _ in moving)
        if unbounded and all(nodes[n].value - amount >= -1e-9 for n, amount in moving if amount > 0):
            for n, amount in moving:
                lifted[n] = max(lifted.get(n, 0.0), -amount)

    def protect_node(node: int, requirement: int) -> None:
        nonlocal whole, solves
        if lifted.get(node, 0.0) >= requirement - 1e-9:
            return
        if neighbourhoods is not None:
            for per_dimension in (1, 6):
                candidates = neighbourhoods.around(node, suppressed, nodes, per_dimension) & movable_set
                candidates.add(node)
                moving, used = _local_deviation(
                    system, terms_of, node, candidates, requirement, costs, local_solver
                )
                solves += used
                if moving is not None:
                    accept(moving)
                    return
        if whole is None:
            fixed_values = {i: float(nodes[i].value) for i in range(len(nodes)) if i not in whole_columns}
            whole = DeviationModel(
                [nodes[i].value for i in movable],
                [costs[i] for i in movable],
                system.rows(whole_columns, fixed_values),
                [(nodes[i].known_low, nodes[i].known_high) for i in movable],
            )
        moving_columns = whole.moving_nodes(whole_columns[node], requirement)
        solves += 1
        accept([(movable[column], amount) for column, amount in moving_columns or ()])

    needs = sorted(must_hide, key=lambda i: (nodes[i].value, i))
    result = AuditResult({}, [], 0)
    for round_number in range(max_rounds):
        for node in needs:
            if node not in movable_set:
                continue  # pinned by an earlier release; the audit reports it
            protect_node(node, protection_requirement(nodes[node], threshold, width) + round_number)
        result = audit(system, suppressed, published, threshold, width)
        if not result.failing:
            return SuppressionOutcome(suppressed, secondary, result, True, round_number + 1, solves)
        needs = result.failing
    return SuppressionOutcome(suppressed, secondary, result, False, max_rounds, solves)


def finite(value: float) -> int | None:
    return int(value) if math.isfinite(value) else None
