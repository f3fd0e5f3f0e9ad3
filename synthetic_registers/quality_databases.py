"""The clinical quality databases (RKKP), each declared once: the table of the contract it fills,
the enumerations of its variables, and how it registers patients on their hospital contacts.

A quality database registers a patient on a hospital contact: each row has the person, the LPR2
contact (``recnum``, before LPR3) or the LPR3 contact (``dw_ek_kontakt``), a registration date (the
contact's start), and the database's own variables. The chunk writer (``chunk``) fills those common
columns for every database in ``QUALITY_DATABASES``, each from a random stream of its own, so a
database added here leaves every other table of a seed as it was.

The Danish Heart Failure Registry (Dansk Hjertesvigtdatabase) registers incident heart failure with
reduced ejection fraction (LVEF 40 % or less) at the first hospital contact for it, from 2003. Its
figures follow the published ones: about 42,400 patients registered from 2003 to July 2015, some
3,400 a year (Schjødt et al., Clin Epidemiol 2016); the process indicators rose from 2003 to 2010 -
echocardiography 62.7 % to 90.5 %, beta-blockers 72.6 % to 88.3 %, ACE inhibitor/ARB 92.0 % to
93.2 %, physical training 5.6 % to 22.8 % (Nakano et al., BMC Health Serv Res 2013) - and stay at
the 2010 level after it here. ``data/targets.toml`` (section ``heart_failure_registry``) holds them
and ``validation`` compares an extract with them.

The Danish Adult Diabetes Registry (Dansk Voksen Diabetes Database) takes a yearly status of each
adult with diabetes seen at a hospital outpatient clinic - diabetes type, HbA1c, and whether the
eye and foot examinations (within two years) and the urine albumin measurement were done - with
almost all clinic patients reported (Jørgensen et al., Clin Epidemiol 2016: over 38,000 patients
from outpatient clinics in 2014). Its general-practice part, with limited coverage, is not made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from synthetic_registers.context import ChunkPeople
from synthetic_registers.dates import NEVER, day, year_of
from synthetic_registers.hospital import KIND_OUTPATIENT, Contacts
from synthetic_registers.writer import labels

YES_NO = ("Ja", "Nej")


@dataclass
class Registrations:
    contact: np.ndarray  # contact row (of the chunk's hospital contacts) of each registration, sorted
    columns: dict[str, np.ndarray | pa.Array]  # the database's own columns, ready to write


@dataclass(frozen=True)
class QualityDatabase:
    table: str  # the schema table (synthetic_registers.schema) it fills
    date_column: str  # the registration date: the contact's start
    stream: int  # its own random stream: (seed, chunk, QUALITY_DATABASE_STREAM, stream)
    # the persons' contacts (with their action diagnosis codes) -> the registrations
    build: Callable[[np.random.Generator, ChunkPeople, Contacts, tuple[str, ...]], Registrations]
    enumerations: dict[str, dict[str, str]]  # the catalog's labels of its coded variables


def first_contacts(person: np.ndarray, start: np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """Each person's first contact among the candidate contact rows."""
    candidates = candidates[np.lexsort((start[candidates], person[candidates]))]
    new_person = np.ones(len(candidates), dtype=bool)
    new_person[1:] = person[candidates][1:] != person[candidates][:-1]
    return candidates[new_person]


def fulfilled(rng: np.random.Generator, share: np.ndarray) -> pa.Array:
    """'Ja' with the given probability per registration, else 'Nej'."""
    return labels(np.where(rng.random(len(share)) < share, 0, 1), YES_NO)


# --- the Danish Heart Failure Registry ------------------------------------------------------------

HEART_FAILURE_PREFIX = "DI50"
HEART_FAILURE_START_YEAR = 2003
# the first heart failure contact counts as incident when it comes within this long of the onset
# (later first contacts in an extract are prevalent patients the database registered before)
INCIDENT_WITHIN_DAYS = 365
REDUCED_EJECTION_FRACTION_SHARE = 0.5  # about half of heart failure has LVEF 40 % or less
HEART_FAILURE_COMPLETENESS = 0.9  # registered share of eligible patients (the annual reports: ~90 %)
NYHA_SHARES = (0.15, 0.45, 0.32, 0.08)  # classes 1-4
LVEF_CATEGORIES = ("<=25", "26-35", "36-40")
LVEF_SHARES = (0.35, 0.45, 0.20)
# indicator column -> share fulfilled in 2003 and from 2010 (linear between: the audit's effect)
HEART_FAILURE_INDICATORS: dict[str, tuple[float, float]] = {
    "ind_ekko": (0.627, 0.905),
    "ind_raas": (0.920, 0.932),
    "ind_betablok": (0.726, 0.883),
    "ind_traening": (0.056, 0.228),
}
INDICATORS_LEVEL_FROM_YEAR = 2010


def indicator_share(shares: tuple[float, float], year: np.ndarray) -> np.ndarray:
    start, level = shares
    progress = np.clip(
        (year - HEART_FAILURE_START_YEAR) / (INDICATORS_LEVEL_FROM_YEAR - HEART_FAILURE_START_YEAR), 0, 1
    )
    return start + (level - start) * progress


def build_heart_failure_registrations(
    rng: np.random.Generator, people: ChunkPeople, c: Contacts, codes: tuple[str, ...]
) -> Registrations:
    """Registrations of persons' first heart failure contacts (DI50 action diagnosis) from 2003,
    within a year of the onset, for the reduced ejection fraction share, about 90 % complete."""
    is_heart_failure = np.array([code.startswith(HEART_FAILURE_PREFIX) for code in codes])
    first = first_contacts(c.person, c.start, np.flatnonzero(is_heart_failure[c.a_code]))
    onset = people.onsets["heart_failure"][c.person[first]]
    incident = (onset != NEVER) & (c.start[first] - onset.astype(np.int64) < INCIDENT_WITHIN_DAYS)
    eligible = first[incident & (c.start[first] >= day(HEART_FAILURE_START_YEAR))]
    registered = rng.random(len(eligible)) < REDUCED_EJECTION_FRACTION_SHARE * HEART_FAILURE_COMPLETENESS
    contact = np.sort(eligible[registered])
    n = len(contact)
    year = year_of(c.start[contact])
    nyha = (rng.choice(4, size=n, p=NYHA_SHARES) + 1).astype(np.uint8)
    columns: dict[str, np.ndarray | pa.Array] = {
        "nyha": nyha,
        "lvef": labels(rng.choice(len(LVEF_CATEGORIES), size=n, p=LVEF_SHARES), LVEF_CATEGORIES),
    }
    for column, shares in HEART_FAILURE_INDICATORS.items():
        share = indicator_share(shares, year)
        if column == "ind_traening":  # sicker patients (NYHA 3-4) are referred to training less often
            share = np.where(nyha >= 3, share * 0.6, share * 1.3)
        columns[column] = fulfilled(rng, share)
    return Registrations(contact, columns)


HEART_FAILURE_REGISTRY = QualityDatabase(
    table="dhd",
    date_column="d_registrering",
    stream=0,
    build=build_heart_failure_registrations,
    enumerations={
        "NYHA class": {
            "1": "no limitation",
            "2": "slight limitation",
            "3": "marked limitation",
            "4": "symptoms at rest",
        },
        "LVEF category": {"<=25": "25 % or less", "26-35": "26-35 %", "36-40": "36-40 %"},
    },
)

# --- the Danish Adult Diabetes Registry -----------------------------------------------------------

DIABETES_PREFIXES = {"DE10": 1, "DE11": 2}  # action diagnosis prefix -> diabetes type
DIABETES_START_YEAR = 2005
DIABETES_COMPLETENESS = 0.85  # the outpatient clinics report almost all their patients
HBA1C_MEASURED = 0.97
# mmol/mol, illustrative: most type 1 and over half of type 2 clinic patients at 53 or more (no
# distribution is published with the registry's description; the annual reports give shares)
HBA1C_MEAN = {1: 64.0, 2: 57.0}
HBA1C_SD = 13.0
# indicator column -> share met (eye and foot examination within two years, urine albumin this year)
DIABETES_INDICATORS = {"ind_oejne": 0.88, "ind_fod": 0.85, "ind_albuminuri": 0.9}


def build_diabetes_statuses(
    rng: np.random.Generator, people: ChunkPeople, c: Contacts, codes: tuple[str, ...]
) -> Registrations:
    """A yearly status for each person with a diabetes outpatient contact (action diagnosis DE10
    or DE11) in the year from 2005, on the year's first such contact."""
    diabetes_type = np.zeros(len(codes), dtype=np.uint8)
    for prefix, kind in DIABETES_PREFIXES.items():
        diabetes_type[[i for i, code in enumerate(codes) if code.startswith(prefix)]] = kind
    year = year_of(c.start)
    candidates = np.flatnonzero(
        (diabetes_type[c.a_code] > 0) & (c.kind == KIND_OUTPATIENT) & (year >= DIABETES_START_YEAR)
    )
    # the first contact of each person and year
    candidates = candidates[np.lexsort((c.start[candidates], year[candidates], c.person[candidates]))]
    new = np.ones(len(candidates), dtype=bool)
    new[1:] = (c.person[candidates][1:] != c.person[candidates][:-1]) | (
        year[candidates][1:] != year[candidates][:-1]
    )
    first = candidates[new]
    contact = np.sort(first[rng.random(len(first)) < DIABETES_COMPLETENESS])
    n = len(contact)
    kind = diabetes_type[c.a_code[contact]]
    mean = np.where(kind == 1, HBA1C_MEAN[1], HBA1C_MEAN[2])
    hba1c = np.clip(np.round(rng.normal(mean, HBA1C_SD)), 30, 150)
    columns: dict[str, np.ndarray | pa.Array] = {
        "diabetestype": kind,
        "hba1c": pa.array(hba1c, mask=rng.random(n) >= HBA1C_MEASURED),
    }
    for column, share in DIABETES_INDICATORS.items():
        columns[column] = fulfilled(rng, np.full(n, share))
    return Registrations(contact, columns)


ADULT_DIABETES_REGISTRY = QualityDatabase(
    table="dvdd",
    date_column="d_status",
    stream=1,
    build=build_diabetes_statuses,
    enumerations={"diabetes type": {"1": "type 1 diabetes", "2": "type 2 diabetes"}},
)

QUALITY_DATABASES: tuple[QualityDatabase, ...] = (HEART_FAILURE_REGISTRY, ADULT_DIABETES_REGISTRY)
QUALITY_DATABASE_ENUMERATIONS: dict[str, dict[str, str]] = {
    name: labels for database in QUALITY_DATABASES for name, labels in database.enumerations.items()
}
