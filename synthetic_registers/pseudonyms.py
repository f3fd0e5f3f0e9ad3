"""Pseudonymised person keys: a keyed permutation of the 32-bit integers.

A person's key is a four-round Feistel network over its running number, keyed by the seed, so
keys are unique (a permutation cannot collide), look random, and carry no order or meaning.
"""

from __future__ import annotations

import numpy as np

_ROUNDS = 4
_MASK16 = np.uint32(0xFFFF)


def _round_keys(seed: int) -> np.ndarray:
    return np.random.default_rng([seed, 0x9E3779B9]).integers(1, 2**31, size=_ROUNDS, dtype=np.uint32)


def _mix(half: np.ndarray, key: np.uint32) -> np.ndarray:
    x = (half ^ key) * np.uint32(0x45D9F3B)
    x ^= x >> np.uint32(13)
    x *= np.uint32(0x2C1B3C6D)
    x ^= x >> np.uint32(11)
    return x & _MASK16


def person_keys(running_numbers: np.ndarray, seed: int) -> np.ndarray:
    """Map distinct running numbers (< 2**32) to distinct random-looking uint32 keys."""
    value = running_numbers.astype(np.uint32)
    left = value >> np.uint32(16)
    right = value & _MASK16
    with np.errstate(over="ignore"):
        for key in _round_keys(seed):
            left, right = right, left ^ _mix(right, key)
    return (left << np.uint32(16)) | right
