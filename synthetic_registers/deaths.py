"""Cause of Death Register rows: underlying and first contributing cause, ICD-10 with D prefix."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers import condition_parameters as cp
from synthetic_registers.conditions import ALL_CONDITIONS
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import day


@dataclass
class DeathRecords:
    person: np.ndarray
    died: np.ndarray
    codes: list[str]
    cause1: np.ndarray
    cause2: np.ndarray  # -1 when there is no contributing cause


def build_death_records(
    rng: np.random.Generator, people: ChunkPeople, decedents: np.ndarray, cause: np.ndarray
) -> DeathRecords:
    inside = (people.death[decedents] >= people.start_day) & (people.death[decedents] < people.end_day)
    decedents, cause = decedents[inside], cause[inside]
    codes: list[str] = []
    index: dict[str, int] = {}

    def code_id(code: str) -> int:
        if code not in index:
            index[code] = len(codes)
            codes.append(code)
        return index[code]

    cause1 = np.empty(len(decedents), dtype=np.int32)
    other = [c for c, _ in cp.OTHER_DEATH_CAUSES]
    other_w = np.array([w for _, w in cp.OTHER_DEATH_CAUSES])
    covid_w = other_w.copy()
    covid_w[other.index("DU071")] = 4.0
    died = people.death[decedents]
    pandemic = (died >= day(2020, 3, 1)) & (died < day(2023))
    for j in np.unique(cause):
        rows = np.flatnonzero(cause == j)
        if j >= 0:
            ids = np.array([code_id(c) for c in ALL_CONDITIONS[j].death_codes])
            cause1[rows] = ids[rng.integers(0, len(ids), len(rows))]
        else:
            for mask, w in ((pandemic[rows], covid_w), (~pandemic[rows], other_w)):
                sub = rows[mask]
                cause1[sub] = np.array([code_id(c) for c in other])[
                    rng.choice(len(other), size=len(sub), p=w / w.sum())
                ]
    # contributing cause: another condition the person had, else sometimes a generic one
    cause2 = np.full(len(decedents), -1, dtype=np.int32)
    for condition in ALL_CONDITIONS[:14]:
        had = people.onsets[condition.name][decedents] < died
        pick = had & (cause2 < 0) & (rng.random(len(decedents)) < 0.5)
        code = condition.death_codes[0] if condition.death_codes else condition.lpr_codes[0][0]
        cause2[pick & (cause1 != code_id(code))] = code_id(code)
    return DeathRecords(decedents.astype(np.int32), died.astype(np.int32), codes, cause1, cause2)
