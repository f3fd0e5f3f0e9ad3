"""A clinical quality database (RKKP): the Danish Heart Failure Registry (Dansk Hjertesvigtdatabase).

The database registers a patient at the first hospital contact whose action diagnosis is heart
failure (ICD-10 DI50), from the database's start in 2003, with NYHA class, LVEF category and
whether each process indicator was fulfilled. Completeness against the hospital register is about
90 %, as the database's annual reports show; the shares below are illustrative, of that order.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from synthetic_registers.dates import day

HEART_FAILURE_PREFIX = "DI50"
DATABASE_START_YEAR = 2003
COMPLETENESS = 0.9
NYHA_SHARES = (0.15, 0.45, 0.32, 0.08)  # classes 1-4
LVEF_CATEGORIES = ("<=25", "26-35", "36-40")
LVEF_SHARES = (0.35, 0.45, 0.20)
# indicator column -> share of registrations fulfilling it
INDICATORS = {"ind_ekko": 0.95, "ind_raas": 0.88, "ind_betablok": 0.85, "ind_traening": 0.55}
YES_NO = ("Ja", "Nej")


@dataclass
class HeartFailureRegistrations:
    contact: np.ndarray  # contact row of each registration
    nyha: np.ndarray  # 1-4
    lvef: np.ndarray  # index into LVEF_CATEGORIES
    indicators: dict[str, np.ndarray]  # column -> index into YES_NO


def build_heart_failure_registrations(
    rng: np.random.Generator,
    codes: tuple[str, ...],
    person: np.ndarray,
    start: np.ndarray,
    a_code: np.ndarray,
) -> HeartFailureRegistrations:
    """Registrations of persons' first heart failure contacts from 2003 (each contact is a row of
    the hospital contacts: person, start day, action diagnosis code id)."""
    is_heart_failure = np.array([code.startswith(HEART_FAILURE_PREFIX) for code in codes])
    candidates = np.flatnonzero(is_heart_failure[a_code])
    # each person's first heart failure contact: sort by person, then start day
    candidates = candidates[np.lexsort((start[candidates], person[candidates]))]
    new_person = np.ones(len(candidates), dtype=bool)
    new_person[1:] = person[candidates][1:] != person[candidates][:-1]
    first = candidates[new_person]
    incident = first[start[first] >= day(DATABASE_START_YEAR)]
    contact = np.sort(incident[rng.random(len(incident)) < COMPLETENESS])
    n = len(contact)
    nyha = (rng.choice(4, size=n, p=NYHA_SHARES) + 1).astype(np.uint8)
    lvef = rng.choice(len(LVEF_CATEGORIES), size=n, p=LVEF_SHARES)
    # sicker patients (NYHA 3-4) are referred to exercise training less often
    indicators = {}
    for column, share in INDICATORS.items():
        p = np.full(n, share) if column != "ind_traening" else np.where(nyha >= 3, share - 0.2, share)
        indicators[column] = np.where(rng.random(n) < p, 0, 1)
    return HeartFailureRegistrations(contact, nyha, lvef, indicators)
