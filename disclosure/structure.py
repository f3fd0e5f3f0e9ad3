"""The linear structure of a table (parent = sum of children) and keyed fingerprints of person sets."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pyroaring import BitMap

from disclosure.errors import InvalidTable
from disclosure.table import AggregateTable, Cell, Coordinate


def canonical_bytes(persons: BitMap) -> bytes:
    """Serialized bytes that depend only on the set, not on how the bitmap was built."""
    copy = BitMap(persons)
    copy.run_optimize()
    return copy.serialize()


def keyed_digest(secret: bytes, *parts: bytes | str) -> str:
    """HMAC-SHA256 over length-prefixed parts (so no two part lists collide)."""
    chunks = []
    for part in parts:
        data = part.encode() if isinstance(part, str) else part
        chunks.append(len(data).to_bytes(8, "big"))
        chunks.append(data)
    return hmac.new(secret, b"".join(chunks), hashlib.sha256).hexdigest()


def fingerprint(secret: bytes, data_version: str, persons: BitMap) -> str:
    return keyed_digest(secret, "person-set", data_version, canonical_bytes(persons))


@dataclass(frozen=True)
class TableStructure:
    """A validated, completed table: cells in order, their margins' relations, hierarchy levels."""

    table: AggregateTable
    cells: tuple[Cell, ...]
    relations: tuple[tuple[int, tuple[int, ...]], ...]  # (parent cell index, child cell indexes)
    margin_levels: tuple[int, ...]  # number of margin (None) coordinates per cell
    summable_dimensions: tuple[int, ...]

    def is_grand_total(self, index: int) -> bool:
        return all(coordinate is None for coordinate in self.cells[index].coordinates)


def analyse(table: AggregateTable) -> TableStructure:
    """Validate the input contract, add provably empty missing cells, and derive the margin relations."""
    width = len(table.dimensions)
    index: dict[tuple[Coordinate, ...], int] = {}
    cells: list[Cell] = []
    known = [frozenset(dimension.categories) for dimension in table.dimensions]  # O(1) membership
    for cell in table.cells:
        if len(cell.coordinates) != width:
            raise InvalidTable(f"{table.title}: a cell has {len(cell.coordinates)} coordinates, not {width}")
        for coordinate, dimension, categories in zip(cell.coordinates, table.dimensions, known, strict=True):
            if coordinate is not None and coordinate not in categories:
                raise InvalidTable(f"{table.title}: unknown category in dimension {dimension.name}")
        if cell.coordinates in index:
            raise InvalidTable(f"{table.title}: duplicate cell")
        if cell.count != len(cell.persons) or cell.count < 0:
            raise InvalidTable(f"{table.title}: a cell's count differs from its person set")
        if cell.structural_zero and cell.count != 0:
            raise InvalidTable(f"{table.title}: a structural zero is not empty")
        index[cell.coordinates] = len(cells)
        cells.append(cell)

    summable = tuple(d for d, dimension in enumerate(table.dimensions) if dimension.has_total)
    relations: list[tuple[int, tuple[int, ...]]] = []
    position = 0
    while position < len(cells):  # cells may grow while completing missing children
        parent = cells[position]
        for d in summable:
            if parent.coordinates[d] is not None:
                continue
            children_coordinates = [
                (*parent.coordinates[:d], category, *parent.coordinates[d + 1 :])
                for category in table.dimensions[d].categories
            ]
            present = [index[c] for c in children_coordinates if c in index]
            if not present:
                continue
            union = BitMap.union(*(cells[i].persons for i in present)) if present else BitMap()
            if union != parent.persons or sum(cells[i].count for i in present) != parent.count:
                raise InvalidTable(
                    f"{table.title}: the margin over {table.dimensions[d].name} is not the sum of its parts"
                )
            children: list[int] = []
            for coordinates in children_coordinates:
                if coordinates not in index:
                    # Provably empty (the parent is covered by the present children): publish as a
                    # regular cell so the table is complete and the missing cell is not conspicuous.
                    index[coordinates] = len(cells)
                    cells.append(Cell(coordinates=coordinates, count=0, persons=BitMap()))
                children.append(index[coordinates])
            relations.append((position, tuple(children)))
        position += 1

    levels = tuple(sum(c is None for c in cell.coordinates) for cell in cells)
    return TableStructure(
        table=replace(table, cells=tuple(cells)) if len(cells) != len(table.cells) else table,
        cells=tuple(cells),
        relations=tuple(relations),
        margin_levels=levels,
        summable_dimensions=summable,
    )


def comparable_groups(structure: TableStructure) -> dict[tuple[Coordinate, ...], list[int]]:
    """Cells grouped by their coordinates on summable dimensions.

    Summable dimensions partition persons, so two cells can share persons only if, on every
    summable dimension, their coordinates are equal or one of them is the margin. The differencing
    guard therefore compares a cell only with cells of its own group and its ancestors' groups.
    """
    groups: dict[tuple[Coordinate, ...], list[int]] = {}
    for i, cell in enumerate(structure.cells):
        key = tuple(cell.coordinates[d] for d in structure.summable_dimensions)
        groups.setdefault(key, []).append(i)
    return groups


def ancestor_keys(key: Sequence[Coordinate]) -> list[tuple[Coordinate, ...]]:
    """Every projection obtained by replacing any subset of the given coordinates by the margin."""
    keys: list[tuple[Coordinate, ...]] = [()]
    for coordinate in key:
        keys = [(*k, c) for k in keys for c in ({coordinate, None} if coordinate is not None else {None})]
    return keys
