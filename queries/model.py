"""The cohort query model: what a customer asks, as immutable pydantic v2 models.

A query names an index event (the first, or any, occurrence of a concept in a calendar
period), population constraints at the index date, inclusion/exclusion criteria in windows
relative to the index date, and one result kind. It never names a table or a column: the
compiler (``queries.compiler``) and the reference engine decide how concepts map onto the
registers. The JSON Schema of ``Query`` is published (``docs/query-schema.json``).

Conventions, chosen to match how epidemiologists write protocols (OHDSI ATLAS, ehrQL):

- windows are in days relative to the index date, both ends inclusive, ``null`` = unbounded;
- event concepts (diagnosis, procedure, laboratory result, prescription, cancer, cause of death,
  death/emigration, biobank sample) have dates and are used in windows; attribute concepts (age, sex, region,
  education, income) describe the person at the index date and take no window;
- ICD-10 codes are prefixes in the LPR form with a leading ``D`` (``DE11``) except for the
  cancer register, which stores them without it (``C50``); ATC codes are prefixes (``A10BJ``), and
  so are SKS procedure codes (``KFNG``).
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Annotated, Any, Final, Literal, TypeAlias, Union, get_args

from pydantic import AfterValidator, BeforeValidator, Field, model_validator
from pydantic_core import PydanticCustomError

# The shape limits (reference policy §4 rule 14) and rounding bases are rules of ``disclosure.policy``,
# versioned with it; this model and ``queries.validation`` enforce them.
from disclosure.policy import ALLOWED_ROUNDING_BASES, MIN_AGE_BAND_WIDTH, MIN_CURVE_INTERVAL_DAYS
from queries.base_model import Model
from queries.limits import check_json_limits
from queries.registers import declared_concepts

QUERY_MODEL_VERSION: Final = 1

Sex = Literal["male", "female"]
ContactType = Literal["inpatient", "outpatient", "emergency"]
SampleType = Literal["dried_blood_spot", "serum", "plasma", "whole_blood", "dna", "tissue"]
RegionCode = Literal[1081, 1082, 1083, 1084, 1085]


def _each_once(values: tuple[int, ...]) -> tuple[int, ...]:
    # A region listed twice would become two categories of one region in a breakdown.
    if len(set(values)) != len(values):
        raise ValueError("list each region once")
    return values


RegionCodes = Annotated[
    tuple[RegionCode, ...], AfterValidator(_each_once), Field(json_schema_extra={"uniqueItems": True})
]
EducationLevel = Literal[10, 20, 30, 40, 50, 60, 70, 80]

REGION_NAMES: dict[int, str] = {
    1081: "Nordjylland",
    1082: "Midtjylland",
    1083: "Syddanmark",
    1084: "Hovedstaden",
    1085: "Sjælland",
}
EDUCATION_LEVEL_NAMES: dict[int, str] = {
    10: "primary/lower secondary",
    20: "general upper secondary",
    30: "vocational",
    40: "short-cycle tertiary",
    50: "medium-cycle",
    60: "bachelor",
    70: "master",
    80: "PhD",
}
SEX_CODES: dict[str, int] = {"male": 1, "female": 2}


# Dates a query may name. Windows of up to 100 years around them stay within Python's dates (year
# 1 to 9999), so no date arithmetic in validation or the compiler can overflow into a 500.
QueryDate = Annotated[dt.date, Field(ge=dt.date(1900, 1, 1), le=dt.date(2100, 12, 31))]

CodePrefixes = Annotated[tuple[str, ...], Field(min_length=1, max_length=200)]
# Narrower prefixes taken out of a concept's codes ("all cancer C except non-melanoma skin C44"):
# each must lie under one of the concept's prefixes, which validation checks.
ExcludedPrefixes = Annotated[tuple[str, ...], Field(max_length=200)]


def excluded_codes_field(included: str) -> Any:
    return Field((), description=f"Prefixes under {included} whose events do not count, e.g. all C but C44")


# --- event concepts: things that happen on a date -------------------------------------------


class DiagnosisConcept(Model):
    """A hospital diagnosis in LPR2 or LPR3 (retracted LPR3 diagnoses are never counted)."""

    type: Literal["diagnosis"] = "diagnosis"
    codes: CodePrefixes = Field(description="ICD-10 prefixes in LPR form with a leading D, e.g. DE11")
    exclude_codes: ExcludedPrefixes = excluded_codes_field("codes")
    primary_only: bool = Field(False, description="Only action (A) diagnoses")
    contact_type: ContactType | None = Field(
        None,
        description="Only contacts of this type. LPR2: c_pattype 0/1/2. LPR3: inpatient when the contact "
        "lasted at least 12 hours, emergency when acute (ATA1) and shorter, otherwise outpatient.",
    )


class PrescriptionConcept(Model):
    """A dispensing at a community pharmacy (LMDB)."""

    type: Literal["prescription"] = "prescription"
    atc: CodePrefixes = Field(description="ATC prefixes, e.g. A10BJ (GLP-1 receptor agonists)")
    exclude_atc: ExcludedPrefixes = excluded_codes_field("atc")
    min_packages: float | None = Field(
        None, gt=0, description="Only dispensings of at least this many packages (apk)"
    )


class ProcedureConcept(Model):
    """A procedure on a hospital contact in LPR2 or LPR3: an operation, treatment or examination,
    dated on the day it was done."""

    type: Literal["procedure"] = "procedure"
    codes: CodePrefixes = Field(
        description="SKS procedure prefixes: K operations (KFNG PCI), B treatments (BJFD dialysis), "
        "U examinations (UXCA CT of the head)"
    )
    exclude_codes: ExcludedPrefixes = excluded_codes_field("codes")


class LabResultConcept(Model):
    """A laboratory result (Laboratory Database), dated on the sampling date.

    ``min`` (inclusive) and ``max`` (exclusive) bound the value; a result reported as text such as
    ``<5`` or ``>90`` meets a bound only if every value it stands for does (``<5`` is below a max of
    5 or more and never at or above a min; ``>90`` is at or above a min of 90 or less and never
    below a max). With ``latest``, a criterion asks about the latest day with a result of these
    codes in its window: one of that day's results must be within the bounds."""

    type: Literal["lab_result"] = "lab_result"
    codes: CodePrefixes = Field(description="NPU/DNK analysis codes, e.g. NPU27300 (HbA1c, mmol/mol)")
    exclude_codes: ExcludedPrefixes = excluded_codes_field("codes")
    min: float | None = Field(None, description="Only results at or above this value")
    max: float | None = Field(None, description="Only results below this value")
    unit: str | None = Field(
        None, min_length=1, max_length=30, description="Only results reported in this unit, e.g. mmol/mol"
    )
    latest: bool = Field(
        False, description="Only the latest day with a result in the window counts (criteria and items)"
    )


class CancerConcept(Model):
    """An incident primary tumour in the Cancer Registry (ICD-10 without the D prefix)."""

    type: Literal["cancer"] = "cancer"
    codes: CodePrefixes = Field(description="ICD-10 topography prefixes without D, e.g. C50")
    exclude_codes: ExcludedPrefixes = excluded_codes_field("codes")


class CauseOfDeathConcept(Model):
    """A death with one of these causes (Cause of Death Register), dated on the death date."""

    type: Literal["cause_of_death"] = "cause_of_death"
    codes: CodePrefixes = Field(description="ICD-10 prefixes in LPR form with a leading D, e.g. DI21")
    exclude_codes: ExcludedPrefixes = excluded_codes_field("codes")
    underlying_only: bool = Field(True, description="Only the underlying cause (c_dod1)")


class VitalStatusConcept(Model):
    """Death (any cause) or emigration, from the population register, dated on the event."""

    type: Literal["vital_status"] = "vital_status"
    status: Literal["died", "emigrated"]


class BiobankSampleConcept(Model):
    """A stored biological sample of one of these types, dated on the sampling date."""

    type: Literal["biobank_sample"] = "biobank_sample"
    sample_types: Annotated[tuple[SampleType, ...], Field(min_length=1)]


# A composite concept's limits: enough for a protocol's "any of these definitions" (and a saved concept
# set used inside another), few enough that a query stays a question and not a program.
MAX_ANY_OF_MEMBERS = 20
MAX_ANY_OF_DEPTH = 3  # an any_of directly in a query is depth 1; one among its members depth 2


def _member_count(members: Any) -> Any:
    # Counted before the members are validated: pydantic counts only the valid ones, so a composite
    # of two with one invalid member would also be told it has too few.
    if isinstance(members, list | tuple) and not 2 <= len(members) <= MAX_ANY_OF_MEMBERS:
        kind = "too_short" if len(members) < 2 else "too_long"
        raise PydanticCustomError(
            kind,
            "any_of needs {min_length} to {max_length} member concepts, not {actual_length}",
            {"min_length": 2, "max_length": MAX_ANY_OF_MEMBERS, "actual_length": len(members)},
        )
    return members


class AnyOfConcept(Model):
    """An event of any of its member concepts: type 2 diabetes as a DE11 diagnosis or an A10
    dispensing. As the index event, ``first`` is the first-ever event of any member and ``any`` the
    first event of any member in the period; in criteria and items, ``min_count`` counts the distinct
    days with an event of any member (a diagnosis and a dispensing on one day are one day). Members
    are event concepts, or another ``any_of`` (nested at most ``MAX_ANY_OF_DEPTH`` deep)."""

    type: Literal["any_of"] = "any_of"
    concepts: Annotated[
        tuple[EventConcept, ...],
        BeforeValidator(_member_count),
        Field(json_schema_extra={"minItems": 2, "maxItems": MAX_ANY_OF_MEMBERS}),
    ] = Field(description="The member concepts: event concepts or any_of")


class ConceptSetReference(Model):
    """A concept set the organisation saved (``/v1/concept-sets``), by id and version. The service
    replaces it by the saved concept before anything else reads the query: validation, the quote, the
    engines and the query's hash all see the concept itself, and the release records the reference."""

    type: Literal["concept_set"] = "concept_set"
    id: str = Field(min_length=1, max_length=40, pattern=r"^[a-z]+_[0-9a-f]+$", description="e.g. cs_0123…")
    version: int = Field(ge=1, le=1_000_000, description="the saved version, from 1")


_FixedEventConcept = (
    DiagnosisConcept
    | PrescriptionConcept
    | ProcedureConcept
    | LabResultConcept
    | CancerConcept
    | CauseOfDeathConcept
    | VitalStatusConcept
    | BiobankSampleConcept
    | AnyOfConcept
    | ConceptSetReference
)
if TYPE_CHECKING:
    # the declared registers' concepts are known when the registry is read, not to the type checker
    EventConcept: TypeAlias = _FixedEventConcept | Model
else:
    EventConcept = Annotated[
        # the event concepts of the registers declared one module each (queries.registers)
        _FixedEventConcept | declared_concepts(),
        Field(discriminator="type"),
    ]

AnyOfConcept.model_rebuild()


def union_members(union: Any) -> tuple[type[Model], ...]:
    """The models of an ``Annotated`` discriminated union."""
    return get_args(get_args(union)[0])


# Where a concept may stand, a reference to a saved one may stand instead; it is no concept itself.
REFERENCE_TYPES = frozenset({"concept_set"})
EVENT_CONCEPT_TYPES = (
    frozenset(concept.model_fields["type"].default for concept in union_members(EventConcept))
    - REFERENCE_TYPES
)


# --- attribute concepts: the person at the index date --------------------------------------


class AgeConcept(Model):
    """Age in completed years at the index date, both ends inclusive."""

    type: Literal["age"] = "age"
    min: int | None = Field(None, ge=0, le=120)
    max: int | None = Field(None, ge=0, le=120)


class SexConcept(Model):
    type: Literal["sex"] = "sex"
    sex: Sex


class RegionConcept(Model):
    """Region of residence (1081 Nordjylland … 1085 Sjælland)."""

    type: Literal["region"] = "region"
    regions: Annotated[RegionCodes, Field(min_length=1)]


class EducationConcept(Model):
    """Highest completed education level in force in the index year (UDDA, ISCED-grouped)."""

    type: Literal["education"] = "education"
    levels: Annotated[tuple[EducationLevel, ...], Field(min_length=1)]


class IncomeConcept(Model):
    """Income in the calendar year before the index year within [min, max) DKK."""

    type: Literal["income"] = "income"
    measure: Literal["personal", "household_equivalised"] = "household_equivalised"
    min: float | None = None
    max: float | None = None


AttributeConcept = Annotated[
    AgeConcept | SexConcept | RegionConcept | EducationConcept | IncomeConcept,
    Field(discriminator="type"),
]

# every concept: the event concepts, then the attribute concepts (each listed once, above)
if TYPE_CHECKING:
    Concept: TypeAlias = EventConcept | AttributeConcept
else:
    Concept = Annotated[
        Union[union_members(EventConcept) + union_members(AttributeConcept)],  # noqa: UP007
        Field(discriminator="type"),
    ]


def is_event_concept(concept: object) -> bool:
    """An event concept, or a reference to a saved one (which stands for an event concept)."""
    return getattr(concept, "type", None) in EVENT_CONCEPT_TYPES | REFERENCE_TYPES


def member_concepts(concept: Model) -> tuple[Model, ...]:
    """The concepts whose events are ``concept``'s: an ``any_of``'s members, flattened through nested
    ones, or the concept itself."""
    if isinstance(concept, AnyOfConcept):
        return tuple(leaf for member in concept.concepts for leaf in member_concepts(member))
    return (concept,)


def any_of_depth(concept: Model) -> int:
    """How deep ``any_of`` concepts nest in ``concept`` (0 for any other concept)."""
    if not isinstance(concept, AnyOfConcept):
        return 0
    return 1 + max(any_of_depth(member) for member in concept.concepts)


# --- index event, windows, criteria ----------------------------------------------------------


class Period(Model):
    """A calendar period, both dates inclusive, at least one month long. When the result has a row
    per calendar year (incidence and prevalence, an ``index_year`` breakdown) the period's part of
    each year must be at least one month too."""

    start: QueryDate
    end: QueryDate


class Lookback(Model):
    """A required observation period before the index date: the person was resident (population
    register) on every one of the ``days`` days before it, and the registers cover all of them
    (validation refuses a look-back reaching before the registers start)."""

    days: int = Field(
        ge=1,
        le=7305,  # 20 years: more than the registers hold before any index date
        description="Days before the index date the person must have been resident and observed, "
        "e.g. 730 (two years); with occurrence first_in_lookback also the washout",
    )


class IndexEvent(Model):
    """The event that puts a person in the cohort and fixes the index date.

    ``first``: the person's first-ever event lies in the period (incident cases; first since the
    registers start).
    ``any``: the person has an event in the period; the index date is the first one in it.
    ``first_in_lookback``: the index date is the person's first event in the period with no event
    of the concept in the ``lookback`` days before it (incident cases with a washout); needs
    ``lookback``.

    With ``lookback``, whatever the occurrence, a person is eligible only if resident on every day
    of the look-back before the index date (no newcomers whose history the registers do not hold).
    """

    concept: EventConcept
    period: Period
    occurrence: Literal["first", "any", "first_in_lookback"] = "first"
    lookback: Lookback | None = Field(
        None, description="Required observation period before index (residence and register coverage)"
    )


class Window(Model):
    """Days relative to the index date, both ends inclusive; ``null`` means unbounded."""

    start: int | None = Field(None, ge=-36500, le=36500)
    end: int | None = Field(None, ge=-36500, le=36500)


class Include(Model):
    """The person has at least ``min_count`` events of the concept in the window
    (attribute concepts: the person matches it at the index date)."""

    type: Literal["include"] = "include"
    name: str | None = Field(None, max_length=120)
    concept: Concept
    window: Window | None = None
    min_count: int = Field(1, ge=1, le=1000)


class Exclude(Model):
    """The negation of the same ``include``."""

    type: Literal["exclude"] = "exclude"
    name: str | None = Field(None, max_length=120)
    concept: Concept
    window: Window | None = None
    min_count: int = Field(1, ge=1, le=1000)


class AllOf(Model):
    type: Literal["all"] = "all"
    name: str | None = Field(None, max_length=120)
    criteria: Annotated[tuple[Criterion, ...], Field(min_length=1, max_length=50)]


class AnyOf(Model):
    type: Literal["any"] = "any"
    name: str | None = Field(None, max_length=120)
    criteria: Annotated[tuple[Criterion, ...], Field(min_length=1, max_length=50)]


class Not(Model):
    type: Literal["not"] = "not"
    name: str | None = Field(None, max_length=120)
    criterion: Criterion


Criterion = Annotated[Include | Exclude | AllOf | AnyOf | Not, Field(discriminator="type")]

AllOf.model_rebuild()
AnyOf.model_rebuild()
Not.model_rebuild()


class AgeRange(Model):
    min: int | None = Field(None, ge=0, le=120)
    max: int | None = Field(None, ge=0, le=120)


class Population(Model):
    """Constraints on the person at the index date. Whatever they say, a person whose index event
    is dated before their birth (a register error) is never eligible."""

    age: AgeRange | None = None
    sex: Sex | None = None
    regions: RegionCodes | None = None
    alive_and_resident_at_index: bool = Field(
        True, description="Born, not dead, not emigrated and (if immigrated) arrived by the index date"
    )


# --- breakdowns and results ----------------------------------------------------------------


class SexBreakdown(Model):
    by: Literal["sex"] = "sex"


class AgeBandBreakdown(Model):
    """Age at the index date in bands of ``width`` years; the last band is open (``90+``). The band
    below ``top`` is cut at ``top`` and must still span at least 5 years."""

    by: Literal["age_band"] = "age_band"
    width: int = Field(10, ge=MIN_AGE_BAND_WIDTH, le=50)
    top: int = Field(90, ge=10, le=120, description="Start of the open top band")


class RegionBreakdown(Model):
    by: Literal["region"] = "region"


class IndexYearBreakdown(Model):
    by: Literal["index_year"] = "index_year"


class EducationBreakdown(Model):
    """Education level in force in the index year; persons without a record are ``unknown``."""

    by: Literal["education"] = "education"


Breakdown = Annotated[
    SexBreakdown | AgeBandBreakdown | RegionBreakdown | IndexYearBreakdown | EducationBreakdown,
    Field(discriminator="by"),
]


class CohortCountResult(Model):
    """Cohort size, broken down by up to three dimensions, with every margin."""

    kind: Literal["cohort_count"] = "cohort_count"
    breakdowns: tuple[Breakdown, ...] = ()


class AttritionResult(Model):
    """Persons left after the index event, the population constraints and each criterion in turn."""

    kind: Literal["attrition"] = "attrition"


class CharacteristicItem(Model):
    name: str = Field(min_length=1, max_length=120)
    concept: Concept
    window: Window | None = None
    min_count: int = Field(1, ge=1, le=1000)


class CharacteristicsResult(Model):
    """Per listed concept, the number of cohort members who have it (in its window)."""

    kind: Literal["characteristics"] = "characteristics"
    items: Annotated[tuple[CharacteristicItem, ...], Field(min_length=1, max_length=200)]


class IncidencePrevalenceResult(Model):
    """Per calendar year of the index period: incident cases (index events in the year, with the
    person-years at risk of the population without an earlier event), prevalent cases (resident
    in the year with a first event on or before its end) and the resident population with its
    person-years. Needs ``occurrence: first`` and no criteria."""

    kind: Literal["incidence_prevalence"] = "incidence_prevalence"
    breakdowns: Annotated[tuple[SexBreakdown | RegionBreakdown, ...], Field(max_length=1)] = ()


class DrugGroup(Model):
    name: str = Field(min_length=1, max_length=120)
    atc: CodePrefixes


class TreatmentUptakeResult(Model):
    """Cumulative number of cohort members with a first dispensing of each drug group within
    each number of days after the index date (day 0 included). With a washout, also each group's
    eligible new users (no dispensing in the washout), the denominator of its shares."""

    kind: Literal["treatment_uptake"] = "treatment_uptake"
    drugs: Annotated[tuple[DrugGroup, ...], Field(min_length=1, max_length=20)]
    days: Annotated[tuple[Annotated[int, Field(ge=0, le=3650)], ...], Field(min_length=1, max_length=10)] = (
        30,
        90,
        180,
        365,
    )
    washout_days: int | None = Field(
        None, ge=1, le=3650, description="Count only new users: no dispensing in this many days before index"
    )


class BiobankAvailabilityResult(Model):
    """Cohort members with at least one stored sample of each type (in the window, if given)."""

    kind: Literal["biobank_availability"] = "biobank_availability"
    sample_types: Annotated[tuple[SampleType, ...], Field(min_length=1)]
    window: Window | None = None


class AgeAtIndexMeasure(Model):
    """Age at the index date in completed years."""

    type: Literal["age_at_index"] = "age_at_index"


class LabValueMeasure(Model):
    """The value of the latest laboratory result of these codes (and unit) in the window, e.g. the
    latest HbA1c in the year before index: of several results on that latest day, the highest. A
    person whose latest day has only censored (``<5``, ``>90``) or unreadable results has no value
    (an older exact result would not be the latest)."""

    type: Literal["lab_value"] = "lab_value"
    codes: CodePrefixes = Field(description="NPU/DNK analysis codes, e.g. NPU27300 (HbA1c, mmol/mol)")
    unit: str | None = Field(
        None, min_length=1, max_length=30, description="Only results reported in this unit, e.g. mmol/mol"
    )
    window: Window = Field(
        Window(start=-365, end=0), description="Days relative to index, both ends inclusive"
    )


ContinuousMeasure = Annotated[AgeAtIndexMeasure | LabValueMeasure, Field(discriminator="type")]


class ContinuousItem(Model):
    name: str = Field(min_length=1, max_length=120)
    measure: ContinuousMeasure


class Exposure(Model):
    """Splits the cohort into ``exposed`` (the concept in the window, at least ``min_count`` times)
    and ``unexposed``: a drug (a prescription concept) or any criterion concept."""

    name: str = Field("exposure", min_length=1, max_length=120)
    concept: Concept
    window: Window | None = None
    min_count: int = Field(1, ge=1, le=1000)


EXPOSED, UNEXPOSED = "exposed", "unexposed"


class TableOneResult(Model):
    """A Table 1: per binary item, the cohort members who have it (with percentages), and per
    continuous item (age, a laboratory value) the persons with a value, their mean, SD, median and
    quartiles, released by the magnitude rules. Overall, or by one breakdown or by an exposure
    (exposed vs unexposed, with standardised mean differences from the released numbers)."""

    kind: Literal["table_one"] = "table_one"
    items: Annotated[tuple[CharacteristicItem, ...], Field(max_length=200)] = ()
    continuous: Annotated[tuple[ContinuousItem, ...], Field(max_length=20)] = ()
    breakdowns: Annotated[tuple[Breakdown, ...], Field(max_length=1)] = ()
    exposure: Exposure | None = None

    @model_validator(mode="after")
    def _something_to_show(self) -> TableOneResult:
        if not self.items and not self.continuous:
            raise ValueError("list at least one item or continuous item")
        if self.breakdowns and self.exposure is not None:
            raise ValueError("stratify by a breakdown or by an exposure, not both")
        return self


# Follow-up of a time-to-event result: at most 20 years after index (the registers span about 20).
MAX_FOLLOW_UP_DAYS = 7305
FollowUpDay = Annotated[int, Field(ge=MIN_CURVE_INTERVAL_DAYS, le=MAX_FOLLOW_UP_DAYS)]


class TimeToEventResult(Model):
    """Cumulative incidence of an outcome after the index date, at chosen days and as a curve.

    Each cohort member is followed from the index date (day 0) to the first outcome event after it,
    death (a competing event with ``aalen_johansen``; censoring with ``kaplan_meier``), emigration,
    the registers' last date or ``max_follow_up_days`` (the last time point when not given),
    whichever comes first; an outcome on the day of death counts as the outcome. The table has one
    row per interval (the time points, and every ``interval_days`` between them) with the persons at
    risk at its start, events, competing events and censored persons; disclosure control merges
    intervals until no step rests on fewer than k persons and computes the cumulative incidence with
    its 95 % interval from the released counts."""

    kind: Literal["time_to_event"] = "time_to_event"
    outcome: EventConcept
    method: Literal["aalen_johansen", "kaplan_meier"] = Field(
        "aalen_johansen",
        description="aalen_johansen: death from other causes is a competing risk; kaplan_meier: 1 - KM, "
        "death censors",
    )
    time_points: Annotated[tuple[FollowUpDay, ...], Field(min_length=1, max_length=10)] = (
        30,
        90,
        365,
        730,
        1825,
    )
    interval_days: int = Field(
        90,
        ge=MIN_CURVE_INTERVAL_DAYS,
        le=MAX_FOLLOW_UP_DAYS,
        description="Length of the curve's intervals between the time points",
    )
    max_follow_up_days: FollowUpDay | None = Field(
        None, description="Censor everyone this many days after index (at least the last time point)"
    )
    outcome_before_index: Literal["exclude", "day_zero"] = Field(
        "exclude",
        description="Members with an outcome event on or before the index date: left out (exclude) or "
        "counted as an event on day 0 (day_zero)",
    )
    breakdowns: Annotated[
        tuple[SexBreakdown | AgeBandBreakdown | RegionBreakdown, ...], Field(max_length=1)
    ] = ()


Result = Annotated[
    CohortCountResult
    | AttritionResult
    | CharacteristicsResult
    | IncidencePrevalenceResult
    | TreatmentUptakeResult
    | BiobankAvailabilityResult
    | TableOneResult
    | TimeToEventResult,
    Field(discriminator="kind"),
]


# The bases the disclosure policy allows (one fact, one place): a query cannot ask for rounding that
# protection would refuse after its quote.
_ROUNDING_BASES = tuple(base for base in ALLOWED_ROUNDING_BASES if base is not None)


def _allowed_rounding(value: Any) -> Any:
    # Checked before the Literal so that both error translators (query validation and the service's
    # request validation) say that null means no rounding, and why no other base is offered.
    if value is not None and value not in _ROUNDING_BASES:
        expected = " or ".join(str(base) for base in _ROUNDING_BASES) + " or null (no rounding)"
        raise PydanticCustomError(
            "literal_error",
            "Input should be {expected}: the disclosure policy rounds to no other base",
            {"expected": expected},
        )
    return value


RoundingBase = Annotated[
    Literal[_ROUNDING_BASES],  # type: ignore[valid-type]
    BeforeValidator(_allowed_rounding),
]


class DisclosureOptions(Model):
    """Read by the disclosure layer, not by the engines."""

    noise: Literal["none", "gaussian"] = "none"
    rounding: RoundingBase | None = None


class Query(Model):
    version: Literal[1] = QUERY_MODEL_VERSION
    title: str | None = Field(None, max_length=200)
    index: IndexEvent
    population: Population = Population()
    criteria: Annotated[tuple[Criterion, ...], Field(max_length=50)] = ()
    result: Result = CohortCountResult()
    disclosure: DisclosureOptions | None = None

    @model_validator(mode="before")
    @classmethod
    def _within_json_limits(cls, data: Any) -> Any:
        # before any field is validated: a query nested 500 deep must not reach pydantic's recursion
        return check_json_limits(data)
