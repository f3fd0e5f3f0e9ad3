"""The engine's numpy-built bitmaps hold exactly the keys they were given."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from disclosure.structure import canonical_bytes
from queries.cells import bitmap


@st.composite
def person_numbers(draw) -> np.ndarray:
    """Sorted or unsorted keys mixing dense runs (bitset containers of more than 4,096 keys) with
    sparse keys over the whole 32-bit range (array containers)."""
    keys: set[int] = set()
    for _ in range(draw(st.integers(0, 4))):
        start = draw(st.integers(0, 2**32 - 70_000))
        length = draw(st.integers(1, 70_000))
        step = draw(st.sampled_from([1, 2, 3, 7, 16]))
        keys.update(range(start, start + length, step))
    keys.update(draw(st.lists(st.integers(0, 2**32 - 1), max_size=600)))
    values = np.array(sorted(keys), dtype=np.uint32)
    if draw(st.booleans()):
        values = values[::-1].copy()
    return values


@settings(max_examples=60, deadline=None)
@given(person_numbers())
def test_bitmap_holds_exactly_the_keys(keys):
    built = bitmap(keys)
    assert built == BitMap(keys.tolist())
    assert len(built) == len(set(keys.tolist()))


def test_dense_and_sparse_containers_in_one_set():
    dense = np.arange(65_536 * 3, 65_536 * 3 + 50_000, dtype=np.uint32)  # one bitset container
    sparse = np.array([5, 70_000, 2**31, 2**32 - 1], dtype=np.uint32)
    keys = np.sort(np.concatenate([dense, sparse]))
    assert bitmap(keys) == BitMap(keys.tolist())
    # the disclosure layer's fingerprints and noise keys see one set, however it was built
    assert canonical_bytes(bitmap(keys)) == canonical_bytes(BitMap(keys.tolist()))
