"""Per-person rows → cells with person-set bitmaps, vectorised with numpy.

The DuckDB engine fetches (person key, category index per dimension) as Arrow arrays and groups
them here; the person keys never take any other form outside DuckDB than these bitmaps.
"""

from __future__ import annotations

import array
import itertools

import numpy as np
from pyroaring import BitMap

from disclosure.table import Cell, Coordinate


def bitmap(person_keys: np.ndarray) -> BitMap:
    """A BitMap from a numpy array of keys, through the buffer protocol (fast path)."""
    return BitMap(array.array("I", np.ascontiguousarray(person_keys, dtype=np.uint32).tobytes()))


def cube_cells(
    person_keys: np.ndarray,
    category_indices: list[np.ndarray],
    categories: list[tuple[str | int, ...]],
    with_margins: list[bool] | None = None,
) -> list[Cell]:
    """Every cell of the full cross-classification and all its margins (``None`` coordinates), in a
    fixed order: inner cells first, then the margins, each in category order; empty cells included.

    ``category_indices[d][i]`` is person ``i``'s category position in dimension ``d``.
    """
    dimensions = len(categories)
    with_margins = with_margins or [True] * dimensions
    cells: list[Cell] = []
    for kept in itertools.product((True, False), repeat=dimensions):
        if any(not k and not with_margins[d] for d, k in enumerate(kept)):
            continue
        kept_dims = [d for d in range(dimensions) if kept[d]]
        sizes = [len(categories[d]) for d in kept_dims]
        if kept_dims:
            keys = np.ravel_multi_index([category_indices[d] for d in kept_dims], sizes)
        else:
            keys = np.zeros(len(person_keys), dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        sorted_persons = person_keys[order]
        total = int(np.prod(sizes)) if kept_dims else 1
        bounds = np.searchsorted(sorted_keys, np.arange(total + 1))
        for flat, combination in enumerate(itertools.product(*[range(s) for s in sizes])):
            persons = bitmap(sorted_persons[bounds[flat] : bounds[flat + 1]])
            coordinates: list[Coordinate] = [None] * dimensions
            for d, position in zip(kept_dims, combination, strict=True):
                coordinates[d] = categories[d][position]
            cells.append(Cell(tuple(coordinates), len(persons), persons))
    return cells
