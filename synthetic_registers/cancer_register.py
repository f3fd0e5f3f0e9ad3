"""Cancer Registry rows: one per incident primary tumour, ICD-10 without the D prefix.

The registry is complete from 1943, so tumours of residents from before the window are present
(persons alive with a past cancer); tumours diagnosed abroad before immigration are not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers.conditions import CANCERS
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import NEVER, day

REGISTRY_FROM = day(1943)


@dataclass
class CancerRecords:
    person: np.ndarray
    diagnosed: np.ndarray
    icd10: list[str]  # dictionary of topography codes
    icd10_id: np.ndarray
    morphology: list[str]
    morphology_id: np.ndarray


def build_cancer_records(rng: np.random.Generator, people: ChunkPeople) -> CancerRecords:
    topographies: list[str] = []
    morphologies: list[str] = []
    persons, dates, topo_ids, morph_ids = [], [], [], []
    arrived = np.where(people.immigration == NEVER, -(2**31) + 1, people.immigration)

    def ids(values: list[str], dictionary: list[str]) -> np.ndarray:
        # one dictionary entry per distinct code, so the written files are byte-identical
        for value in values:
            if value not in dictionary:
                dictionary.append(value)
        return np.array([dictionary.index(v) for v in values])

    for condition in CANCERS:
        onset = people.onsets[condition.name]
        ok = (onset != NEVER) & (onset >= REGISTRY_FROM) & (onset >= arrived) & (onset < people.exit)
        ok &= onset < people.end_day
        who = np.flatnonzero(ok)
        site = condition.cancer
        assert site is not None  # CANCERS are the conditions with a cancer site
        codes = ids([c for c, _ in site.register_codes], topographies)
        weights = np.array([w for _, w in site.register_codes])
        topo_ids.append(codes[rng.choice(len(codes), size=len(who), p=weights / weights.sum())])
        morph = ids([m for m, _ in site.morphologies], morphologies)
        mw = np.array([w for _, w in site.morphologies])
        morph_ids.append(morph[rng.choice(len(morph), size=len(who), p=mw / mw.sum())])
        persons.append(who)
        dates.append(onset[who])
    return CancerRecords(
        person=np.concatenate(persons).astype(np.int32),
        diagnosed=np.concatenate(dates).astype(np.int32),
        icd10=topographies,
        icd10_id=np.concatenate(topo_ids).astype(np.int32),
        morphology=morphologies,
        morphology_id=np.concatenate(morph_ids).astype(np.int32),
    )
