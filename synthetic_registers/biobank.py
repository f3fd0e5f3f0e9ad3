"""Biobank index: which samples exist for whom (no assay values).

Neonatal dried blood spots for nearly everyone born in Denmark since 1982; maternal serum in
pregnancy; plasma, whole blood and DNA from clinical and research collections; pathology tissue,
most often after a cancer diagnosis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers.conditions import CANCERS
from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import NEVER, day

SAMPLE_TYPES = ("dried_blood_spot", "serum", "plasma", "whole_blood", "dna", "tissue")
COLLECTIONS = (
    "Danish Neonatal Screening Biobank",
    "Maternal serum collection",
    "Regional clinical biobank",
    "Danish Blood Donor Study",
    "Pathology tissue archive",
)
DBS_FROM = day(1982)


@dataclass
class SampleRecords:
    person: np.ndarray
    taken: np.ndarray
    sample_type: np.ndarray  # index into SAMPLE_TYPES
    collection: np.ndarray  # index into COLLECTIONS


def build_samples(rng: np.random.Generator, people: ChunkPeople) -> SampleRecords:
    persons, dates, types, collections = [], [], [], []

    def add(person, when, sample_type, collection):
        persons.append(person)
        dates.append(when)
        types.append(np.broadcast_to(np.asarray(sample_type), person.shape))
        collections.append(np.broadcast_to(np.asarray(collection), person.shape))

    born_here = np.flatnonzero(
        (people.immigration == NEVER) & (people.birth >= DBS_FROM) & (rng.random(len(people)) < 0.985)
    )
    spot = people.birth[born_here] + rng.integers(2, 6, len(born_here))
    ok = spot < np.minimum(people.exit[born_here], people.end_day)
    add(born_here[ok], spot[ok], 0, 0)
    child = np.flatnonzero(people.mother >= 0)
    mother = people.mother[child]
    taken = people.birth[child] - rng.integers(120, 230, len(child))
    ok = (taken >= people.entry[mother]) & (rng.random(len(child)) < 0.8)
    add(mother[ok], taken[ok], 1, 1)
    # adult blood samples: rare per person-year, more in the elderly and the ill
    years = (np.minimum(people.exit, people.end_day) - people.entry).clip(0) / 365.25
    count = rng.poisson(0.02 * years)
    who = np.repeat(np.arange(len(people)), count)
    when = people.entry[who] + (
        rng.random(len(who)) * (np.minimum(people.exit, people.end_day)[who] - people.entry[who])
    )
    adult = (when - people.birth[who]) / 365.25 >= 18
    kind = rng.choice([2, 3, 4], size=len(who), p=[0.5, 0.3, 0.2])
    donor = rng.random(len(who)) < 0.3
    add(who[adult], when[adult].astype(np.int32), kind[adult], np.where(donor[adult], 3, 2))
    # tissue: most tumours diagnosed in the window, a few other biopsies
    for condition in CANCERS:
        onset = people.onsets[condition.name]
        who = np.flatnonzero(
            (onset != NEVER)
            & (onset >= np.maximum(people.entry, people.start_day))
            & (rng.random(len(people)) < 0.8)
        )
        when = onset[who] + rng.integers(0, 30, len(who))
        ok = when < np.minimum(people.exit[who], people.end_day)
        add(who[ok], when[ok], 5, 4)
    biopsies = rng.poisson(0.004 * years)
    who = np.repeat(np.arange(len(people)), biopsies)
    when = people.entry[who] + (
        rng.random(len(who)) * (np.minimum(people.exit, people.end_day)[who] - people.entry[who])
    )
    add(who, when.astype(np.int32), 5, 4)
    return SampleRecords(
        np.concatenate(persons).astype(np.int32),
        np.concatenate(dates).astype(np.int32),
        np.concatenate(types).astype(np.int8),
        np.concatenate(collections).astype(np.int8),
    )
