"""The registry: every register, code system, concept and result kind the service knows, declared once.

Each list that used to be kept by hand in several places is derived from here (or, where a package
may not import ``queries``, checked against it by ``tests/test_registry.py``):

- **registers** come from the table contract ``synthetic_registers.schema`` (name, owner, tables,
  the strictest minimum cell count of their tables): ``REGISTERS``. The disclosure policy the
  service applies takes its per-register thresholds from them (``register_thresholds``).
- **code systems**: the name a query uses, the catalog's code list, the schema's column label, and
  the prefix syntax validation checks: ``CODE_SYSTEMS``.
- **concepts**: the model class, the logical relation of ``queries.storage`` their events or values
  are read from (which fixes the registers a query touches), and the field holding their codes:
  ``CONCEPTS``.
- **result kinds**: the model class, how many tables an engine returns, the derived columns
  disclosure computes from the released counts (handed to it on each ``AggregateTable``), and the
  first price list that prices the kind (older price lists stay valid without it): ``RESULT_KINDS``.

A register declared in ``queries.registers`` (one module: its relation's SQL, its concept's model,
row condition and plain-Python reading) enters ``CONCEPTS`` from there. For the registers written
the older way, what stays with the code that implements it: the SQL of a relation
(``queries.storage``), a concept's row condition (``queries.compiler``) and its second, plain-Python
reading (``queries.reference_engine``), and a result kind's compile pass and cell count. Tests check
that each of those handles every entry.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from disclosure import derived, magnitude
from disclosure.table import AggregateTable
from queries import model as m
from queries.registers import DECLARED_CONCEPTS, DeclaredConcept
from queries.storage import RELATION_REGISTERS
from synthetic_registers.catalog import CANCER_CODES, CODE_SYSTEM_LISTS
from synthetic_registers.schema import TABLES

# --- registers ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Register:
    """A register as ``AggregateTable.registers`` and the policy's thresholds name it."""

    name: str  # schema.Table.register
    owner: str
    tables: tuple[str, ...]
    minimum_cell_count: int  # the strictest of its tables': what the catalog publishes


def _registers() -> dict[str, Register]:
    grouped: dict[str, list[Any]] = {}
    for table in TABLES:
        grouped.setdefault(table.register, []).append(table)
    registers = {}
    for name, tables in grouped.items():
        owners = {table.owner for table in tables}
        assert len(owners) == 1, f"register {name} has tables of several owners: {sorted(owners)}"
        registers[name] = Register(
            name=name,
            owner=owners.pop(),
            tables=tuple(table.name for table in tables),
            minimum_cell_count=max(table.minimum_cell_count for table in tables),
        )
    return registers


REGISTERS: Mapping[str, Register] = _registers()


def register_thresholds(default_threshold: int) -> dict[str, int]:
    """The registers whose owner requires more than the policy's default threshold: what
    ``disclosure.policy.Policy.register_thresholds`` holds for the service."""
    return {
        name: register.minimum_cell_count
        for name, register in REGISTERS.items()
        if register.minimum_cell_count > default_threshold
    }


# --- code systems ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CodeSystem:
    name: str  # as queries and validation name it
    catalog_list: str  # the catalog's code list (synthetic_registers.catalog.Catalog.code_lists)
    column_label: str  # schema.Column.code_system of the columns holding these codes
    prefix_pattern: re.Pattern[str]  # a valid code prefix
    prefix_example: str  # what validation tells a customer whose prefix does not match


ICD10_LPR = "icd10_lpr"  # diagnoses and causes of death: ICD-10 with the LPR "D" prefix
ICD10_CANCER = "icd10_cancer"  # cancer register: ICD-10 without the prefix
ATC = "atc"
SKS_PROCEDURE = "sks_procedure"
NPU = "npu"  # laboratory analyses: NPU codes and the Danish DNK extension

CODE_SYSTEMS: Mapping[str, CodeSystem] = {
    system.name: system
    for system in (
        CodeSystem(
            ICD10_LPR,
            "ICD-10",
            "ICD-10 (D prefix)",
            re.compile(r"^D[A-Z]([0-9][0-9A-Z]{0,5})?$"),
            "ICD-10 prefix with the LPR D, e.g. DE11 or DI2",
        ),
        CodeSystem(
            ICD10_CANCER,
            CANCER_CODES,
            "ICD-10",
            re.compile(r"^[A-Z]([0-9][0-9A-Z]{0,5})?$"),
            "ICD-10 prefix without D, e.g. C50 or C1",
        ),
        CodeSystem(
            ATC,
            "ATC",
            "ATC",
            re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$"),
            "ATC prefix, e.g. A10, A10BJ or A10BJ06",
        ),
        CodeSystem(
            SKS_PROCEDURE,
            CODE_SYSTEM_LISTS["SKS procedure"],
            "SKS procedure",
            re.compile(r"^[KBU]([A-Z]{1,3}([0-9][0-9A-Z]{0,3})?)?$"),
            "SKS procedure prefix: K operations, B treatments, U examinations, e.g. KFNG or BJFD20",
        ),
        CodeSystem(
            NPU,
            CODE_SYSTEM_LISTS["NPU/DNK analysis"],
            "NPU/DNK analysis",
            re.compile(r"^(NPU|DNK)[0-9]{0,5}$"),
            "NPU or DNK analysis code, e.g. NPU27300 (HbA1c) or DNK35302 (eGFR)",
        ),
    )
}


# --- concepts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConceptKind:
    """A concept type of the query model and where the registers hold it."""

    model: type[m.Model]
    relation: str  # the queries.storage relation its events (or values) are read from
    example: Mapping[str, Any]  # one concept as a customer writes it (tests run it on both engines)
    code_field: str | None = None  # the field holding code prefixes, if any
    code_system: str | None = None  # their code system (a key of CODE_SYSTEMS)
    code_column: str = "code"  # the relation's column the prefixes are matched against
    # a concept of a register declared in queries.registers: its row condition and reference reading
    declared: DeclaredConcept | None = None

    @property
    def exclusion_field(self) -> str | None:
        """The field of narrower prefixes taken out of the concept's codes (``exclude_codes``,
        ``exclude_atc``): every concept with codes has one, named after its code field."""
        return None if self.code_field is None else f"exclude_{self.code_field}"

    @property
    def codes_only(self) -> bool:
        """A concept that is nothing but code prefixes (and their exclusions): its events are the
        relation's rows whose ``code_column`` starts with one of them and with none of the excluded.
        The compiler and the reference engine read such a concept from this entry alone (no
        condition of its own to write)."""
        return self.code_field is not None and set(self.model.model_fields) == {
            "type",
            self.code_field,
            self.exclusion_field,
        }

    @property
    def type(self) -> str:
        return self.model.model_fields["type"].default

    @property
    def is_event(self) -> bool:
        return self.type in m.EVENT_CONCEPT_TYPES

    @property
    def registers(self) -> frozenset[str]:
        """The registers a query reads when it names this concept (every query reads persons)."""
        return RELATION_REGISTERS[self.relation] | RELATION_REGISTERS["persons"]


CONCEPTS: Mapping[str, ConceptKind] = {
    kind.type: kind
    for kind in (
        ConceptKind(
            m.DiagnosisConcept,
            "diagnosis_events",
            {"type": "diagnosis", "codes": ["DE11"]},
            "codes",
            ICD10_LPR,
        ),
        ConceptKind(
            m.ProcedureConcept,
            "procedure_events",
            {"type": "procedure", "codes": ["KFNG"]},
            "codes",
            SKS_PROCEDURE,
        ),
        ConceptKind(
            m.LabResultConcept,
            "lab_results",
            {"type": "lab_result", "codes": ["NPU27300"], "min": 48, "unit": "mmol/mol"},
            "codes",
            NPU,
        ),
        ConceptKind(
            m.PrescriptionConcept,
            "prescription_events",
            {"type": "prescription", "atc": ["A10BJ"]},
            "atc",
            ATC,
            code_column="atc",
        ),
        ConceptKind(
            m.CancerConcept, "cancer_events", {"type": "cancer", "codes": ["C50"]}, "codes", ICD10_CANCER
        ),
        ConceptKind(
            m.CauseOfDeathConcept,
            "death_cause_events",
            {"type": "cause_of_death", "codes": ["DI21"]},
            "codes",
            ICD10_LPR,
        ),
        ConceptKind(m.VitalStatusConcept, "persons", {"type": "vital_status", "status": "died"}),
        ConceptKind(
            m.BiobankSampleConcept, "biobank_samples", {"type": "biobank_sample", "sample_types": ["dna"]}
        ),
        # composite: its events are its members' (each read from its own relation, see
        # ``concept_registers``); the relation every query reads stands for it here
        ConceptKind(
            m.AnyOfConcept,
            "persons",
            {
                "type": "any_of",
                "concepts": [
                    {"type": "diagnosis", "codes": ["DE11"]},
                    {"type": "prescription", "atc": ["A10"]},
                ],
            },
        ),
        ConceptKind(m.AgeConcept, "persons", {"type": "age", "min": 40, "max": 79}),
        ConceptKind(m.SexConcept, "persons", {"type": "sex", "sex": "female"}),
        ConceptKind(m.RegionConcept, "persons", {"type": "region", "regions": [1084, 1085]}),
        ConceptKind(m.EducationConcept, "education", {"type": "education", "levels": [60, 70, 80]}),
        ConceptKind(m.IncomeConcept, "income", {"type": "income", "min": 300000}),
    )
} | {
    # the concepts of the registers declared one module each
    name: ConceptKind(declared.model, declared.relation.name, declared.example, declared=declared)
    for name, declared in DECLARED_CONCEPTS.items()
}


def concept_kind(concept: m.Model) -> ConceptKind:
    return CONCEPTS[concept.type]  # type: ignore[attr-defined]  # every concept model has its type


def concept_registers(concept: m.Model) -> frozenset[str]:
    """The registers a query reads when it names this concept: a composite's are its members'."""
    registers = concept_kind(concept).registers
    for member in m.member_concepts(concept):
        registers |= concept_kind(member).registers
    return registers


def concept_codes(concept: m.Model) -> tuple[str, str, tuple[str, ...]] | None:
    """(field name, code system, prefixes) of a concept that carries codes."""
    kind = concept_kind(concept)
    if kind.code_field is None or kind.code_system is None:
        return None
    return kind.code_field, kind.code_system, getattr(concept, kind.code_field)


def concept_excluded_codes(concept: m.Model) -> tuple[str, tuple[str, ...]] | None:
    """(field name, prefixes) of the codes a coded concept takes out of its own."""
    kind = concept_kind(concept)
    if kind.exclusion_field is None:
        return None
    return kind.exclusion_field, getattr(concept, kind.exclusion_field)


# --- result kinds ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ResultKind:
    model: type[m.Model]
    tables: int  # tables an engine returns: flag tables come with their cohort total
    derived_columns: tuple[str, ...]  # computed by disclosure from released counts only
    priced_from: str  # the first price list version (billing/data) that prices this kind

    @property
    def kind(self) -> str:
        return self.model.model_fields["kind"].default


RESULT_KINDS: Mapping[str, ResultKind] = {
    kind.kind: kind
    for kind in (
        ResultKind(m.CohortCountResult, 1, (), "2026-1"),
        ResultKind(
            m.AttritionResult, 1, (derived.PERCENT_OF_FIRST_STEP, derived.PERCENT_OF_PREVIOUS_STEP), "2026-1"
        ),
        ResultKind(m.CharacteristicsResult, 2, (derived.PERCENT,), "2026-1"),
        # the rate is derived only where the table carries person-time (derived.derived_columns_for)
        ResultKind(
            m.IncidencePrevalenceResult,
            1,
            derived.PERSON_TIME_COLUMNS,  # the rate, its interval and the person-years
            "2026-1",
        ),
        ResultKind(m.TreatmentUptakeResult, 2, (derived.CUMULATIVE_SHARE,), "2026-1"),
        ResultKind(m.BiobankAvailabilityResult, 2, (derived.PERCENT,), "2026-1"),
        # counts with percentages, and the magnitude columns of continuous rows and SMDs
        ResultKind(m.TableOneResult, 2, (derived.PERCENT, *magnitude.MAGNITUDE_COLUMNS), "2026-3"),
        # the curve's estimates sit on each interval's events row (disclosure.curves)
        ResultKind(
            m.TimeToEventResult,
            1,
            (derived.CUMULATIVE_INCIDENCE, derived.CI_LOWER, derived.CI_UPPER),
            "2026-4",
        ),
    )
}


def tables_of(result_kind: str) -> int:
    """How many tables a result of this kind is released as (each with noise costs privacy budget)."""
    return RESULT_KINDS[result_kind].tables


def with_derived_columns(tables: Iterable[AggregateTable]) -> list[AggregateTable]:
    """An engine's tables with the derived columns their kind declares, for disclosure to compute."""
    return [
        dataclasses.replace(table, derived_columns=RESULT_KINDS[table.kind].derived_columns)
        for table in tables
    ]
