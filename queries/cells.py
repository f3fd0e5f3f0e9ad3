"""Per-person rows → cells with person-set bitmaps, vectorised with numpy.

The DuckDB engine fetches (person number, category index per dimension) as Arrow arrays and groups
them here; the person numbers never take any other form outside DuckDB than these bitmaps.
"""

from __future__ import annotations

import array
import itertools

import numpy as np
from pyroaring import BitMap

from disclosure.table import Cell, Coordinate

# Roaring's portable serialisation without run containers (the format BitMap.deserialize reads).
_NO_RUN_COOKIE = 12346
_ARRAY_CONTAINER_MAX = 4096  # above this many keys a container is a bitset
_BITSET_BYTES = 8192
_SMALL = 256  # below this many keys building through add_many is as fast


def bitmap(person_keys: np.ndarray) -> BitMap:
    """A BitMap from a numpy array of person numbers.

    For sorted, distinct keys (what the engine's slices are) the portable serialisation is written
    with a few vectorised numpy operations (array containers as their low halves, bitset containers
    by ``packbits``) and deserialised in one call: several times faster than adding the keys, which
    goes container by container. Other input goes through ``add_many``.
    """
    keys = np.ascontiguousarray(person_keys, dtype=np.uint32)
    if len(keys) < _SMALL or not bool(np.all(keys[1:] > keys[:-1])):
        return BitMap(array.array("I", keys.tobytes()))
    high = keys >> 16
    starts = np.flatnonzero(np.concatenate(([True], high[1:] != high[:-1])))
    counts = np.diff(np.append(starts, len(keys)))
    low = (keys & 0xFFFF).astype("<u2")
    dense = counts > _ARRAY_CONTAINER_MAX
    containers = len(starts)
    descriptions = np.empty(2 * containers, dtype="<u2")
    descriptions[0::2] = high[starts]
    descriptions[1::2] = counts - 1
    sizes = np.where(dense, _BITSET_BYTES, 2 * counts)
    first_byte = 8 + 8 * containers  # cookie, size, descriptions, offsets
    offsets = (first_byte + np.cumsum(sizes) - sizes).astype("<u4")
    if dense.any():
        parts = []
        for k in range(containers):
            chunk = low[starts[k] : starts[k] + counts[k]]
            if dense[k]:
                bits = np.zeros(1 << 16, dtype=bool)
                bits[chunk] = True
                parts.append(np.packbits(bits, bitorder="little").tobytes())
            else:
                parts.append(chunk.tobytes())
        payload = b"".join(parts)
    else:
        payload = low.tobytes()
    header = np.array([_NO_RUN_COOKIE, containers], dtype="<u4").tobytes()
    return BitMap.deserialize(header + descriptions.tobytes() + offsets.tobytes() + payload)


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
