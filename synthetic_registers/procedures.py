"""LPR procedures: operations (K…), treatments (B…) and examinations (U…) on hospital contacts.

A procedure belongs to a contact and follows from it: each rule below names the action diagnoses
(LPR prefixes) and contact kinds it applies to and, for each procedure, the chance that such a
contact carries it. So PCI and CABG come with myocardial infarction admissions, joint replacements
with coxarthrosis and gonarthrosis admissions, chemotherapy with cancer follow-ups, dialysis with
end-stage kidney disease, and imaging with the acute contacts that need it. The chances are tuned so
that national yearly volumes come out near the approximate targets (targets.toml [procedures]).
The writer puts K codes in the surgical tables and B/U codes in the others.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from synthetic_registers.codes import sks_procedure_list

ADMISSION, OUTPATIENT, EMERGENCY = 0, 1, 2  # hospital.KIND_*
ANY = (ADMISSION, OUTPATIENT, EMERGENCY)


@dataclass(frozen=True)
class ProcedureRule:
    diagnoses: tuple[str, ...]  # action diagnosis prefixes in LPR form
    kinds: tuple[int, ...]  # contact kinds the rule applies to
    procedures: tuple[tuple[str, float], ...]  # SKS code, chance on a matching contact (independent)


RULES: tuple[ProcedureRule, ...] = (
    # myocardial infarction: most are catheterised, most of those get PCI, a few CABG. An elective
    # PCI is a day case, which LPR3 counts as outpatient (under 12 hours).
    ProcedureRule(
        ("DI21",),
        (ADMISSION,),
        (
            ("UXAC85", 0.85),
            ("KFNG05", 0.65),
            ("KFNG02", 0.1),
            ("KFNA20", 0.06),
            ("KFNC10", 0.06),
            ("UXUC80", 0.6),
        ),
    ),
    ProcedureRule(("DI21",), (OUTPATIENT,), (("UXAC85", 0.1), ("KFNG05", 0.1))),
    ProcedureRule(
        ("DI20", "DI25"),
        (ADMISSION,),
        (("UXAC85", 0.6), ("KFNG05", 0.45), ("KFNG02", 0.05), ("KFNA20", 0.12), ("KFNC10", 0.12)),
    ),
    ProcedureRule(("DI20", "DI25"), (OUTPATIENT,), (("UXAC85", 0.08), ("KFNG05", 0.06), ("UXUC80", 0.1))),
    ProcedureRule(("DI50", "DI48", "DI42"), ANY, (("UXUC80", 0.3),)),
    ProcedureRule(
        ("DI63",),
        (ADMISSION, EMERGENCY),
        (("UXCA00", 0.9), ("BOHJ19", 0.15), ("KAAL10", 0.05), ("UXMA00", 0.25)),
    ),
    ProcedureRule(("DI61", "DI64", "DG45"), (ADMISSION, EMERGENCY), (("UXCA00", 0.9),)),
    # joint replacement for osteoarthritis of the hip and knee
    ProcedureRule(("DM16",), (ADMISSION,), (("KNFB20", 0.55), ("KNFB40", 0.3))),
    # (fast-track replacements discharged within 12 hours are outpatient contacts in LPR3)
    ProcedureRule(("DM16",), (OUTPATIENT,), (("UXRG10", 0.3), ("KNFB20", 0.08), ("KNFB40", 0.04))),
    ProcedureRule(("DM17",), (ADMISSION,), (("KNGB20", 0.35), ("KNGB40", 0.4))),
    ProcedureRule(("DM17",), (OUTPATIENT,), (("KNGB20", 0.035), ("KNGB40", 0.035))),
    # cancer: surgery at the diagnosing admission, chemotherapy and radiotherapy at follow-ups
    ProcedureRule(("DC50",), (ADMISSION,), (("KHAB30", 0.5), ("KHAC20", 0.25))),
    ProcedureRule(("DC50",), (OUTPATIENT,), (("BWHA110", 0.25), ("BWGC10", 0.15))),
    ProcedureRule(
        ("DC18", "DC19", "DC20"), (ADMISSION,), (("KJFB20", 0.35), ("KJFB40", 0.25), ("UXCD00", 0.5))
    ),
    ProcedureRule(("DC18", "DC19", "DC20"), (OUTPATIENT,), (("BWHA110", 0.3), ("UXCD00", 0.15))),
    ProcedureRule(("DC33", "DC34"), (ADMISSION,), (("KGDB10", 0.2), ("UXCC00", 0.6))),
    ProcedureRule(("DC33", "DC34"), (OUTPATIENT,), (("BWHA110", 0.35), ("BWGC10", 0.15), ("UXCC00", 0.3))),
    ProcedureRule(("DC61",), (ADMISSION,), (("KKEC00", 0.3),)),
    ProcedureRule(("DC61",), (OUTPATIENT,), (("BWGC10", 0.1), ("BWHA120", 0.05))),
    # kidney failure: dialysis at almost every end-stage contact, rarely in stage 4
    ProcedureRule(("DN185",), ANY, (("BJFD20", 0.8), ("BJFD00", 0.12))),
    ProcedureRule(("DN184",), ANY, (("BJFD20", 0.06),)),
    ProcedureRule(("DO82",), (ADMISSION,), (("KMCA10", 0.97),)),
    ProcedureRule(("DK35",), (ADMISSION, EMERGENCY), (("KJEA10", 0.85),)),
    ProcedureRule(("DK80",), (ADMISSION,), (("KJKA21", 0.4),)),
    ProcedureRule(("DK80",), (OUTPATIENT, EMERGENCY), (("UXUD00", 0.4),)),
    # imaging on any contact
    ProcedureRule(("D",), (EMERGENCY,), (("UXRC00", 0.08), ("UXCA00", 0.03))),
    ProcedureRule(("D",), (ADMISSION,), (("UXRC00", 0.2), ("UXCD00", 0.04), ("UXUD00", 0.04))),
    ProcedureRule(("D",), (OUTPATIENT,), (("UXRC00", 0.015), ("UXUD00", 0.01))),
)


@functools.cache
def procedure_codes() -> tuple[str, ...]:
    return tuple(code.code for code in sks_procedure_list().codes)


@functools.cache
def _rule_table(diagnosis_codes: tuple[str, ...], rule: ProcedureRule, kinds: int) -> np.ndarray:
    """Whether ``rule`` applies, by action code id * kinds + contact kind. Every chunk has the same
    code book, so this is built once per process, not once per chunk."""
    applies = np.array([code.startswith(rule.diagnoses) for code in diagnosis_codes])
    of_kind = np.isin(np.arange(kinds), rule.kinds)
    return (applies[:, None] & of_kind[None, :]).ravel()


def is_surgical(codes: tuple[str, ...]) -> np.ndarray:
    """K codes are operations (the surgical tables); B and U codes go to the other tables."""
    return np.array([code.startswith("K") for code in codes])


@dataclass
class Procedures:
    contact: np.ndarray  # row of the contact the procedure belongs to
    code: np.ndarray  # index into procedure_codes()
    minutes_after_start: np.ndarray  # within the contact


def build_procedures(
    rng: np.random.Generator,
    diagnosis_codes: tuple[str, ...],
    action_code: np.ndarray,
    kind: np.ndarray,
    minutes: np.ndarray,
) -> Procedures:
    """Procedures on contacts given each contact's action diagnosis id (into ``diagnosis_codes``),
    kind and duration in minutes."""
    codes = procedure_codes()
    index = {code: k for k, code in enumerate(codes)}
    contacts, drawn = [], []
    # one lookup per rule on (action code, kind) rather than a lookup and a set test per rule
    kinds = 1 + max(ANY)
    code_and_kind = action_code.astype(np.int64) * kinds + kind
    for rule in RULES:
        rows = np.flatnonzero(_rule_table(diagnosis_codes, rule, kinds)[code_and_kind])
        if len(rows) == 0:
            continue
        for code, chance in rule.procedures:
            chosen = rows[rng.random(len(rows)) < chance]
            contacts.append(chosen)
            drawn.append(np.full(len(chosen), index[code], dtype=np.int32))
    contact = np.concatenate(contacts) if contacts else np.zeros(0, np.int64)
    code_ids = np.concatenate(drawn) if drawn else np.zeros(0, np.int32)
    # a procedure lies within its contact: early in an admission, anywhere in a short contact
    length = np.maximum(minutes[contact].astype(np.int64), 1)
    within = np.minimum(
        length - 1, (rng.random(len(contact)) * np.minimum(length, 2 * 1440)).astype(np.int64)
    )
    order = np.argsort(contact, kind="stable")  # grouped by contact, as an extract is
    return Procedures(contact[order], code_ids[order], within[order])
