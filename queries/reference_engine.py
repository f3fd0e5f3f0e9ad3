"""A deliberately simple second engine, in plain Python over the same Parquet tables.

Used in tests only: every real engine is tested against it (spec tests, property tests). It
reads whole tables into memory, so it is for small registers. It shares with the DuckDB engine
only the query model and the breakdown categories, never the SQL: the semantics are written
out a second time, one person at a time, so a compiler mistake shows up as a difference.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from pyroaring import BitMap

from disclosure.table import AggregateTable, Cell, Dimension
from queries import model as m
from queries.dimensions import (
    UPTAKE_ELIGIBLE,
    breakdown_dimension,
    curve_interval_ends,
    curve_measures,
    follow_up_days,
    uptake_categories,
    uptake_day_label,
)
from queries.registers import DECLARED_RELATIONS
from queries.registry import concept_codes, concept_excluded_codes, concept_kind, with_derived_columns
from queries.storage import (
    PERSON_KEYED_TABLES,
    RELATION_REGISTERS,
    data_version_of,
    extract_files,
    parquet_source,
)
from queries.validation import check_structure

Person = dict[str, Any]
Event = dict[str, Any]


@dataclasses.dataclass
class _YearTally:
    """One calendar year of one stratum, counted person by person (incidence and prevalence)."""

    incident: set[int] = dataclasses.field(default_factory=set)
    prevalent: set[int] = dataclasses.field(default_factory=set)
    residents: int = 0
    days: int = 0
    at_risk: int = 0


def read_rows(data_dir: Path, table: str) -> list[dict[str, Any]]:
    source = parquet_source(data_dir, table)
    if "*" in source:
        rows: list[dict[str, Any]] = []
        for path in sorted(Path(source).parent.glob("*.parquet")):
            rows.extend(pq.read_table(path).to_pylist())
        return rows
    return pq.read_table(source).to_pylist()


def starts_with_any(code: str | None, prefixes: tuple[str, ...]) -> bool:
    return code is not None and any(code.startswith(p) for p in prefixes)


def concept_code_matches(concept: m.Model, code: str | None) -> bool:
    """The code is one of the concept's: under one of its prefixes and under none it excludes."""
    codes = concept_codes(concept)
    if codes is None:
        raise TypeError(f"a {concept.type} concept carries no codes")  # type: ignore[attr-defined]
    excluded = concept_excluded_codes(concept)
    return starts_with_any(code, codes[2]) and not (excluded and starts_with_any(code, excluded[1]))


def age_on(birth: dt.date, day: dt.date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


class ReferenceEngine:
    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        self.data_version = data_version_of(self.data_dir)
        assert extract_files(self.data_dir), "no register files"
        # Persons are numbered by their pseudonym's position in the population register, as in
        # queries.storage; rows of other pseudonyms can never be in a cohort and are left out.
        population = read_rows(self.data_dir, "bef")
        pseudonyms = sorted(row["pnr"] for row in population)
        self.numbers = {pseudonym: number for number, pseudonym in enumerate(pseudonyms)}
        self.persons: dict[int, Person] = {row["pnr"]: row for row in self.numbered(population)}
        self.diagnoses = self._diagnoses()
        self.prescriptions = self.rows("lmdb")
        self.lab_results = [{**row, **self.read_lab_value(row["value"])} for row in self.rows("lab_forsker")]
        # the (pnr, date, code) events of each relation whose concepts are nothing but codes
        self.code_events: dict[str, list[Event]] = {
            "cancer_events": [
                {"pnr": row["pnr"], "date": row["d_diagnosedato"], "code": row["c_icd10"]}
                for row in self.rows("cancer")
            ],
            "procedure_events": self._procedures(),
        }
        self.deaths = self.rows("doedsaarsag")
        self.samples = self.rows("biobank")
        # the relations of the registers declared in queries.registers, each read its own way
        self.declared_rows = {
            name: relation.reference_rows(self.rows) for name, relation in DECLARED_RELATIONS.items()
        }
        self.education: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows("udda"):
            self.education[row["pnr"]].append(row)
        self.income: dict[int, list[dict[str, Any]]] = defaultdict(list)
        for row in self.rows("ind"):
            self.income[row["pnr"]].append(row)

    def rows(self, table: str) -> list[dict[str, Any]]:
        """A register table's rows, the pseudonym replaced by the person's number."""
        rows = read_rows(self.data_dir, table)
        return self.numbered(rows) if table in PERSON_KEYED_TABLES else rows

    def numbered(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**row, "pnr": self.numbers[row["pnr"]]} for row in rows if row["pnr"] in self.numbers]

    def _diagnoses(self) -> list[Event]:
        events: list[Event] = []
        contacts = {row["recnum"]: row for row in self.rows("lpr_adm")}
        patient_types = {0: "inpatient", 1: "outpatient", 2: "emergency"}
        for diagnosis in self.rows("lpr_diag"):
            contact = contacts.get(diagnosis["recnum"])
            if contact is None:
                continue
            events.append(
                {
                    "pnr": contact["pnr"],
                    "date": contact["d_inddto"],
                    "code": diagnosis["c_diag"],
                    "type": diagnosis["c_diagtype"],
                    "contact_type": patient_types.get(contact["c_pattype"], "emergency"),
                }
            )
        contacts3 = {row["dw_ek_kontakt"]: row for row in self.rows("lpr3_kontakter")}
        for diagnosis in self.rows("lpr3_diagnoser"):
            contact = contacts3.get(diagnosis["dw_ek_kontakt"])
            if contact is None or diagnosis["senere_afkraeftet"] == "Ja":
                continue
            start, end = contact["kont_starttidspunkt"], contact["kont_sluttidspunkt"]
            if end is not None and end - start >= dt.timedelta(hours=12):
                contact_type = "inpatient"
            elif contact["prioritet"] == "ATA1":
                contact_type = "emergency"
            else:
                contact_type = "outpatient"
            events.append(
                {
                    "pnr": contact["pnr"],
                    "date": start.date(),
                    "code": diagnosis["diag_kode"],
                    "type": diagnosis["diag_kode_type"],
                    "contact_type": contact_type,
                }
            )
        return events

    def _procedures(self) -> list[Event]:
        """LPR2 operations and other procedures on their contacts (dated on the procedure date), and
        LPR3's, dated on the procedure's day."""
        events: list[Event] = []
        contacts = {row["recnum"]: row for row in self.rows("lpr_adm")}
        for table in ("lpr_sksopr", "lpr_sksube"):
            for procedure in self.rows(table):
                contact = contacts.get(procedure["recnum"])
                if contact is not None:
                    events.append(
                        {"pnr": contact["pnr"], "date": procedure["d_odto"], "code": procedure["c_opr"]}
                    )
        contacts3 = {row["dw_ek_kontakt"]: row for row in self.rows("lpr3_kontakter")}
        for table in ("lpr3_procedurer_kirurgi", "lpr3_procedurer_andre"):
            for procedure in self.rows(table):
                contact = contacts3.get(procedure["dw_ek_kontakt"])
                if contact is not None:
                    events.append(
                        {
                            "pnr": contact["pnr"],
                            "date": procedure["procedure_tidspunkt"].date(),
                            "code": procedure["procedurekode"],
                        }
                    )
        return events

    @staticmethod
    def read_lab_value(text: str | None) -> dict[str, Any]:
        """A reported value as a number and its censoring: "<5" is below 5, "7,2" is 7.2."""
        if text is None:
            return {"number": None, "bound": None}
        bound = text[0] if text[:1] in ("<", ">") else None
        try:
            number = float(text.lstrip("<>").replace(",", "."))
        except ValueError:
            number = None
        return {"number": number, "bound": bound}

    @staticmethod
    def lab_value_within(result: dict[str, Any], low: float | None, high: float | None) -> bool:
        number, bound = result["number"], result["bound"]
        if low is not None and (number is None or number < low or bound == "<"):
            return False
        if high is not None:
            if number is None or bound == ">":
                return False
            return number <= high if bound == "<" else number < high
        return True

    # --- concepts ---------------------------------------------------------------------------

    def event_dates(self, concept: m.Model) -> dict[int, list[dt.date]]:
        dates: dict[int, list[dt.date]] = defaultdict(list)
        kind = concept_kind(concept)
        if isinstance(concept, m.AnyOfConcept):  # every event of every member
            for member in concept.concepts:
                for pnr, member_dates in self.event_dates(member).items():
                    dates[pnr].extend(member_dates)
        elif kind.codes_only:
            for e in self.code_events[kind.relation]:
                if concept_code_matches(concept, e["code"]):
                    dates[e["pnr"]].append(e["date"])
        elif kind.declared is not None:  # a register declared in queries.registers
            for row in self.declared_rows[kind.relation]:
                if kind.declared.reference_matches(concept, row):
                    dates[row["pnr"]].append(row["event_date"])
        elif isinstance(concept, m.DiagnosisConcept):
            for e in self.diagnoses:
                if not concept_code_matches(concept, e["code"]):
                    continue
                if concept.primary_only and e["type"] != "A":
                    continue
                if concept.contact_type is not None and e["contact_type"] != concept.contact_type:
                    continue
                dates[e["pnr"]].append(e["date"])
        elif isinstance(concept, m.LabResultConcept):
            for row in self.lab_results:
                if not concept_code_matches(concept, row["analysiscode"]):
                    continue
                if concept.unit is not None and row["unit"] != concept.unit:
                    continue
                if self.lab_value_within(row, concept.min, concept.max):
                    dates[row["pnr"]].append(row["samplingdate"])
        elif isinstance(concept, m.PrescriptionConcept):
            for row in self.prescriptions:
                if concept_code_matches(concept, row["atc"]) and (
                    concept.min_packages is None
                    or (row["apk"] is not None and row["apk"] >= concept.min_packages)
                ):
                    dates[row["pnr"]].append(row["eksd"])
        elif isinstance(concept, m.CauseOfDeathConcept):
            for row in self.deaths:
                causes = [row["c_dod1"]] if concept.underlying_only else [row["c_dod1"], row["c_dod2"]]
                for cause in causes:
                    if concept_code_matches(concept, cause):
                        dates[row["pnr"]].append(row["d_dodsdto"])
        elif isinstance(concept, m.VitalStatusConcept):
            column = "doed_dato" if concept.status == "died" else "udvandret_dato"
            for pnr, person in self.persons.items():
                if person[column] is not None:
                    dates[pnr].append(person[column])
        elif isinstance(concept, m.BiobankSampleConcept):
            for row in self.samples:
                if row["sample_type"] in concept.sample_types:
                    dates[row["pnr"]].append(row["sample_date"])
        else:
            raise TypeError(concept)
        return dates

    def education_level(self, pnr: int, year: int) -> int | None:
        best = None
        for row in self.education.get(pnr, []):
            if row["aar"] <= year and (best is None or row["aar"] > best["aar"]):
                best = row
        return None if best is None else best["udd_niveau"]

    def breakdown_value(self, pnr: int, index_date: dt.date, column: str) -> int | None:
        """The value a breakdown dimension labels (its ``source_column``) for a member at index."""
        person = self.persons[pnr]
        return {
            "sex": lambda: person["koen"],
            "region": lambda: person["reg"],
            "age": lambda: age_on(person["foed_dag"], index_date),
            "index_year": lambda: index_date.year,
            "education_level": lambda: self.education_level(pnr, index_date.year),
        }[column]()

    def income_value(self, pnr: int, year: int, measure: str) -> float | None:
        column = "perindkialt" if measure == "personal" else "famaekvivadisp"
        for row in self.income.get(pnr, []):
            if row["aar"] == year:
                return row[column]
        return None

    def attribute_holds(self, concept: m.Model, pnr: int, index_date: dt.date) -> bool:
        person = self.persons[pnr]
        if isinstance(concept, m.AgeConcept):
            age = age_on(person["foed_dag"], index_date)
            return (concept.min is None or age >= concept.min) and (concept.max is None or age <= concept.max)
        if isinstance(concept, m.SexConcept):
            return person["koen"] == m.SEX_CODES[concept.sex]
        if isinstance(concept, m.RegionConcept):
            return person["reg"] in concept.regions
        if isinstance(concept, m.EducationConcept):
            return self.education_level(pnr, index_date.year) in concept.levels
        if isinstance(concept, m.IncomeConcept):
            value = self.income_value(pnr, index_date.year - 1, concept.measure)
            if value is None:
                return False
            return (concept.min is None or value >= concept.min) and (
                concept.max is None or value < concept.max
            )
        raise TypeError(concept)

    def concept_holds(
        self,
        concept: m.Model,
        window: m.Window | None,
        min_count: int,
        pnr: int,
        index_date: dt.date,
        cache: dict,
    ) -> bool:
        if not m.is_event_concept(concept):
            return self.attribute_holds(concept, pnr, index_date)
        if isinstance(concept, m.LabResultConcept) and concept.latest:
            return self.latest_lab_holds(concept, window, pnr, index_date, cache)
        key = concept.model_dump_json()
        if key not in cache:
            cache[key] = self.event_dates(concept)
        days = set()
        for day in cache[key].get(pnr, []):
            offset = (day - index_date).days
            if window is not None and window.start is not None and offset < window.start:
                continue
            if window is not None and window.end is not None and offset > window.end:
                continue
            days.add(day)
        return len(days) >= min_count

    def latest_lab_holds(
        self, concept: m.LabResultConcept, window: m.Window | None, pnr: int, index_date: dt.date, cache: dict
    ) -> bool:
        """The latest day in the window with a result of the codes has one within the bounds."""

        def in_window(day: dt.date) -> bool:
            offset = (day - index_date).days
            return (window is None or window.start is None or offset >= window.start) and (
                window is None or window.end is None or offset <= window.end
            )

        days_by_range = []
        for bounded in (concept.model_copy(update={"min": None, "max": None, "latest": False}), concept):
            key = "latest:" + bounded.model_dump_json()
            if key not in cache:
                cache[key] = self.event_dates(bounded.model_copy(update={"latest": False}))
            days_by_range.append([day for day in cache[key].get(pnr, []) if in_window(day)])
        any_days, bounded_days = days_by_range
        return bool(any_days) and max(any_days) in bounded_days

    def criterion_holds(self, criterion: m.Model, pnr: int, index_date: dt.date, cache: dict) -> bool:
        if isinstance(criterion, m.Include):
            return self.concept_holds(
                criterion.concept, criterion.window, criterion.min_count, pnr, index_date, cache
            )
        if isinstance(criterion, m.Exclude):
            return not self.concept_holds(
                criterion.concept, criterion.window, criterion.min_count, pnr, index_date, cache
            )
        if isinstance(criterion, m.AllOf):
            return all(self.criterion_holds(c, pnr, index_date, cache) for c in criterion.criteria)
        if isinstance(criterion, m.AnyOf):
            return any(self.criterion_holds(c, pnr, index_date, cache) for c in criterion.criteria)
        if isinstance(criterion, m.Not):
            return not self.criterion_holds(criterion.criterion, pnr, index_date, cache)
        raise TypeError(criterion)

    # --- cohort ----------------------------------------------------------------------------------

    def index_dates(self, index: m.IndexEvent) -> dict[int, dt.date]:
        found = {}
        for pnr, dates in self.event_dates(index.concept).items():
            if pnr not in self.persons:
                continue
            in_period = [d for d in dates if index.period.start <= d <= index.period.end]
            if index.occurrence == "first_in_lookback":
                assert index.lookback is not None
                incident = [d for d in in_period if first_in_lookback(d, dates, index.lookback.days)]
                if incident:
                    found[pnr] = min(incident)
            elif index.occurrence == "first":
                if min(dates) in in_period:
                    found[pnr] = min(dates)
            elif in_period:
                found[pnr] = min(in_period)
        return found

    def resident_on(self, pnr: int, day: dt.date) -> bool:
        person = self.persons[pnr]
        return (
            person["foed_dag"] <= day
            and (person["doed_dato"] is None or person["doed_dato"] >= day)
            and (person["udvandret_dato"] is None or person["udvandret_dato"] >= day)
            and (person["indvandret_dato"] is None or person["indvandret_dato"] <= day)
        )

    def observed_before(self, pnr: int, day: dt.date, lookback_days: int) -> bool:
        """Resident on each of the ``lookback_days`` days before ``day``."""
        return all(self.resident_on(pnr, day - dt.timedelta(days=k)) for k in range(1, lookback_days + 1))

    def eligible(self, query: m.Query, pnr: int, index_date: dt.date) -> bool:
        person = self.persons[pnr]
        population = query.population
        if index_date < person["foed_dag"]:  # an event before birth is a register error
            return False
        if population.alive_and_resident_at_index and not self.resident_on(pnr, index_date):
            return False
        lookback = query.index.lookback
        if lookback is not None and not self.observed_before(pnr, index_date, lookback.days):
            return False
        if population.age is not None:
            age = age_on(person["foed_dag"], index_date)
            if population.age.min is not None and age < population.age.min:
                return False
            if population.age.max is not None and age > population.age.max:
                return False
        if population.sex is not None and person["koen"] != m.SEX_CODES[population.sex]:
            return False
        return population.regions is None or person["reg"] in population.regions

    def cohort(self, query: m.Query, cache: dict) -> dict[int, dt.date]:
        members = {}
        for pnr, index_date in self.index_dates(query.index).items():
            if self.eligible(query, pnr, index_date) and all(
                self.criterion_holds(c, pnr, index_date, cache) for c in query.criteria
            ):
                members[pnr] = index_date
        return members

    # --- results -----------------------------------------------------------------------------------

    def run(self, query: m.Query) -> list[AggregateTable]:
        check_structure(query)
        return with_derived_columns(self.tables(query))

    def tables(self, query: m.Query) -> list[AggregateTable]:
        cache: dict = {}
        result = query.result
        registers = self.registers(query)
        title = query.title or "Cohort"
        if isinstance(result, m.AttritionResult):
            return [self.attrition(query, cache, registers, title)]
        if isinstance(result, m.IncidencePrevalenceResult):
            return [self.incidence_prevalence(query, result, registers, title)]
        cohort = self.cohort(query, cache)
        if isinstance(result, m.CohortCountResult):
            return [self.cohort_count(query, result, cohort, registers, title)]
        total = AggregateTable("cohort_count", title, (), (cell((), cohort),), registers)
        if isinstance(result, m.CharacteristicsResult):
            items = [(i.name, i.concept, i.window, i.min_count) for i in result.items]
            return [
                total,
                self.flags(
                    "characteristics",
                    title + ": characteristics",
                    "characteristic",
                    items,
                    cohort,
                    cache,
                    registers,
                ),
            ]
        if isinstance(result, m.BiobankAvailabilityResult):
            types = list(dict.fromkeys(result.sample_types))
            items = [(t, m.BiobankSampleConcept(sample_types=(t,)), result.window, 1) for t in types]
            if len(types) > 1:
                items.append(
                    ("any of these", m.BiobankSampleConcept(sample_types=tuple(types)), result.window, 1)
                )
            return [
                total,
                self.flags(
                    "biobank_availability",
                    title + ": biobank samples",
                    "sample_type",
                    items,
                    cohort,
                    cache,
                    registers,
                ),
            ]
        if isinstance(result, m.TreatmentUptakeResult):
            return [total, self.treatment_uptake(result, cohort, registers, title)]
        if isinstance(result, m.TableOneResult):
            return self.table_one(query, result, cohort, cache, registers, title)
        if isinstance(result, m.TimeToEventResult):
            return [self.time_to_event(query, result, cohort, registers, title)]
        raise TypeError(result)

    def registers(self, query: m.Query) -> frozenset[str]:
        from queries.compiler import walk_concepts  # the list of concepts, not their SQL

        registers = set(RELATION_REGISTERS["persons"])
        for concept in walk_concepts(query):
            registers |= concept_kind(concept).registers
            for member in m.member_concepts(concept):
                registers |= concept_kind(member).registers
        if any(b.by == "education" for b in getattr(query.result, "breakdowns", ())):
            registers |= RELATION_REGISTERS["education"]
        return frozenset(registers)

    def cohort_count(
        self,
        query: m.Query,
        result: m.CohortCountResult,
        cohort: dict[int, dt.date],
        registers: frozenset[str],
        title: str,
    ) -> AggregateTable:
        dimensions = [breakdown_dimension(b, query) for b in result.breakdowns]

        labels = {
            pnr: tuple(d.label(self.breakdown_value(pnr, cohort[pnr], d.source_column)) for d in dimensions)
            for pnr in cohort
        }
        cells = []
        import itertools

        for combination in itertools.product(*[(*d.categories, None) for d in dimensions]):
            persons = {
                pnr
                for pnr, label in labels.items()
                if all(want is None or want == got for want, got in zip(combination, label, strict=True))
            }
            cells.append(cell(combination, persons))
        return AggregateTable(
            "cohort_count",
            title,
            tuple(Dimension(d.name, d.categories) for d in dimensions),
            tuple(cells),
            registers,
            1,
            "index_year" if any(d.name == "index_year" for d in dimensions) else None,
        )

    def attrition(self, query: m.Query, cache: dict, registers: frozenset[str], title: str) -> AggregateTable:
        from queries.compiler import criterion_label

        index = self.index_dates(query.index)
        steps = [("index event", set(index))]
        remaining = {p for p in index if self.eligible(query, p, index[p])}
        steps.append(("population at index", set(remaining)))
        for k, criterion in enumerate(query.criteria):
            remaining = {p for p in remaining if self.criterion_holds(criterion, p, index[p], cache)}
            steps.append((criterion_label(criterion, k), set(remaining)))
        labels = unique([label for label, _ in steps])
        return AggregateTable(
            "attrition",
            title + ": attrition",
            (Dimension("step", labels, has_total=False),),
            tuple(cell((label,), persons) for label, (_, persons) in zip(labels, steps, strict=True)),
            registers,
            len(labels),
            "step",
        )

    def flags(self, kind, title, dimension, items, cohort, cache, registers) -> AggregateTable:
        labels = unique([name for name, *_ in items])
        cells = []
        for label, (_, concept, window, min_count) in zip(labels, items, strict=True):
            persons = {
                p for p, d in cohort.items() if self.concept_holds(concept, window, min_count, p, d, cache)
            }
            cells.append(cell((label,), persons))
        return AggregateTable(
            kind,
            title,
            (Dimension(dimension, labels, has_total=False),),
            tuple(cells),
            registers,
            len(labels),
        )

    def latest_lab_value(
        self, measure: m.LabValueMeasure, pnr: int, index_date: dt.date, cache: dict
    ) -> float | None:
        """The latest day with a result of the codes (and unit) in the window: the highest exactly
        reported value of that day, None when all of that day's results are censored or unreadable."""
        key = "values:" + measure.model_dump_json(exclude={"window"})
        if key not in cache:
            by_person: dict[int, list[tuple[dt.date, float | None]]] = defaultdict(list)
            concept = m.LabResultConcept(codes=measure.codes, unit=measure.unit)
            for row in self.lab_results:
                if not concept_code_matches(concept, row["analysiscode"]):
                    continue
                if measure.unit is not None and row["unit"] != measure.unit:
                    continue
                exact = row["number"] if row["bound"] is None else None
                by_person[row["pnr"]].append((row["samplingdate"], exact))
            cache[key] = by_person
        window = measure.window
        found = [
            (day, value)
            for day, value in cache[key].get(pnr, [])
            if (window.start is None or (day - index_date).days >= window.start)
            and (window.end is None or (day - index_date).days <= window.end)
        ]
        if not found:
            return None
        latest = max(day for day, _ in found)
        exact = [value for day, value in found if day == latest and value is not None]
        return max(exact) if exact else None

    def table_one(self, query, result, cohort, cache, registers, title) -> list[AggregateTable]:
        if result.exposure is not None:
            exposure = result.exposure
            strata: tuple[str, tuple] | None = ("exposure", (m.EXPOSED, m.UNEXPOSED))
            stratum: dict[int, str | int] = {
                p: m.EXPOSED
                if self.concept_holds(exposure.concept, exposure.window, exposure.min_count, p, d, cache)
                else m.UNEXPOSED
                for p, d in cohort.items()
            }
        elif result.breakdowns:
            dimension = breakdown_dimension(result.breakdowns[0], query)
            strata = (dimension.name, dimension.categories)
            stratum = {
                p: dimension.label(self.breakdown_value(p, cohort[p], dimension.source_column))
                for p in cohort
            }
        else:
            strata, stratum = None, {}
        labels = unique([i.name for i in result.items] + [i.name for i in result.continuous])
        binary, continuous = labels[: len(result.items)], labels[len(result.items) :]
        per_label: dict[str, dict[int, float | None]] = {}
        for label, item in zip(binary, result.items, strict=True):
            per_label[label] = {
                p: 1.0 if self.concept_holds(item.concept, item.window, item.min_count, p, d, cache) else None
                for p, d in cohort.items()
            }
        for label, item in zip(continuous, result.continuous, strict=True):
            if isinstance(item.measure, m.AgeAtIndexMeasure):
                per_label[label] = {
                    p: float(age_on(self.persons[p]["foed_dag"], d)) for p, d in cohort.items()
                }
            else:
                per_label[label] = {
                    p: self.latest_lab_value(item.measure, p, d, cache) for p, d in cohort.items()
                }
        columns = [*strata[1], None] if strata is not None else [None]
        cells = []
        for label in labels:
            for column in columns:
                members = {
                    p
                    for p, value in per_label[label].items()
                    if value is not None and (column is None or stratum[p] == column)
                }
                coordinates = (label,) if strata is None else (label, column)
                made = cell(coordinates, members)
                if label in continuous:
                    made = Cell(
                        made.coordinates,
                        made.count,
                        made.persons,
                        values=tuple(v for p in sorted(members) if (v := per_label[label][p]) is not None),
                    )
                cells.append(made)
        dimensions: tuple[Dimension, ...] = (Dimension("characteristic", labels, has_total=False),)
        if strata is not None:
            dimensions += (Dimension(*strata),)
        table = AggregateTable(
            "table_one",
            title + ": table 1",
            dimensions,
            tuple(cells),
            registers,
            len(labels),
            continuous_categories=continuous,
        )
        if strata is None:
            return [AggregateTable("cohort_count", title, (), (cell((), cohort),), registers), table]
        sizes = AggregateTable(
            "cohort_count",
            title,
            (Dimension(*strata),),
            tuple(
                cell((column,), {p for p in cohort if column is None or stratum[p] == column})
                for column in columns
            ),
            registers,
        )
        return [sizes, table]

    def treatment_uptake(self, result, cohort, registers, title) -> AggregateTable:
        drugs = unique([d.name for d in result.drugs])
        days = sorted(set(result.days))
        within = uptake_categories(result)
        washout = result.washout_days is not None
        cells = []
        for label, drug in zip(drugs, result.drugs, strict=True):
            dates = self.event_dates(m.PrescriptionConcept(atc=drug.atc))
            first_day: dict[int, int] = {}
            eligible: set[int] = set()
            for pnr, index_date in cohort.items():
                offsets = [(d - index_date).days for d in dates.get(pnr, [])]
                if washout and any(-result.washout_days <= o <= -1 for o in offsets):
                    continue
                eligible.add(pnr)
                after = [o for o in offsets if 0 <= o <= max(days)]
                if after:
                    first_day[pnr] = min(after)
            if washout:
                cells.append(cell((label, UPTAKE_ELIGIBLE), eligible))
            for limit in days:
                cells.append(
                    cell((label, uptake_day_label(limit)), {p for p, o in first_day.items() if o <= limit})
                )
        return AggregateTable(
            "treatment_uptake",
            title + ": treatment uptake",
            (
                Dimension("drug", drugs, has_total=False),
                Dimension("within", within, has_total=False),
            ),
            tuple(cells),
            registers,
            len(drugs) * len(within),
            "within",
            denominator_category=UPTAKE_ELIGIBLE if washout else None,
        )

    def follow_up(
        self, result: m.TimeToEventResult, cohort: dict[int, dt.date], end_of_data: dt.date
    ) -> dict[int, tuple[int, str]]:
        """Each followed member's (days from index to the end of follow-up, how it ended), one
        person at a time: the first outcome after index, death, emigration, the registers' last date
        or the end of follow-up; the outcome before death before censoring on the same day."""
        horizon = follow_up_days(result)
        outcome_dates = self.event_dates(result.outcome)
        followed: dict[int, tuple[int, str]] = {}
        for pnr, index_date in cohort.items():
            person = self.persons[pnr]
            offsets = [(day - index_date).days for day in outcome_dates.get(pnr, [])]
            if any(offset <= 0 for offset in offsets):  # an outcome on or before the index date
                if result.outcome_before_index == "day_zero":
                    followed[pnr] = (0, "event")
                continue
            after = [offset for offset in offsets if 1 <= offset <= horizon]
            first = min(after) if after else None
            death = (person["doed_dato"] - index_date).days if person["doed_dato"] else None
            emigration = (person["udvandret_dato"] - index_date).days if person["udvandret_dato"] else None
            ends = [horizon, (end_of_data - index_date).days]
            ends += [day for day in (first, death, emigration) if day is not None]
            time = min(ends)
            if time < 0:  # dead or emigrated before index: nothing to follow
                continue
            if time == first:
                followed[pnr] = (time, "event")
            elif time == death and result.method == "aalen_johansen":
                followed[pnr] = (time, "competing")
            else:
                followed[pnr] = (time, "censored")
        return followed

    def time_to_event(self, query, result, cohort, registers, title) -> AggregateTable:
        from disclosure import curves
        from queries.vocabulary import load_catalog

        end_of_data = dt.date(load_catalog(self.data_dir).last_year, 12, 31)
        followed = self.follow_up(result, cohort, end_of_data)
        breakdown = breakdown_dimension(result.breakdowns[0], query) if result.breakdowns else None

        def stratum(pnr: int) -> str | int:
            assert breakdown is not None
            return breakdown.label(self.breakdown_value(pnr, cohort[pnr], breakdown.source_column))

        strata: list[tuple[tuple, set[int]]] = [((), set(followed))]
        if breakdown is not None:
            strata = [((None,), set(followed))]
            strata += [((c,), {p for p in followed if stratum(p) == c}) for c in breakdown.categories]
        measures = curve_measures(result)
        exit_status = {curves.EVENTS: "event", curves.COMPETING: "competing", curves.CENSORED: "censored"}
        ends = curve_interval_ends(result)
        labels = curves.interval_labels(ends)
        cells = []
        for j, (label, end) in enumerate(zip(labels, ends, strict=True)):
            start = ends[j - 1] if j else -1
            for extra, members in strata:
                at_risk = {p for p in members if followed[p][0] > start}
                for measure in measures:
                    if measure == curves.AT_RISK:
                        cells.append(cell((label, measure, *extra), at_risk))
                        continue
                    status = exit_status[measure]
                    ended = {p for p in at_risk if followed[p][0] <= end and followed[p][1] == status}
                    cells.append(cell((label, measure, *extra), ended))
        dimensions = [
            Dimension(curves.INTERVAL, labels, has_total=False),
            Dimension(curves.MEASURE, measures, has_total=False),
        ]
        if breakdown is not None:
            dimensions.append(Dimension(breakdown.name, breakdown.categories))
        return AggregateTable(
            "time_to_event",
            title + ": time to event",
            tuple(dimensions),
            tuple(cells),
            registers,
            len(labels) + 1,
            curves.INTERVAL,
            time_points=tuple(sorted(result.time_points)),
        )

    def incidence_prevalence(self, query, result, registers, title) -> AggregateTable:
        period = query.index.period
        breakdown = breakdown_dimension(result.breakdowns[0], query) if result.breakdowns else None
        all_dates = {
            p: sorted(d) for p, d in self.event_dates(query.index.concept).items() if p in self.persons
        }
        first_dates = {p: d[0] for p, d in all_dates.items()}
        lookback = query.index.lookback.days if query.index.lookback is not None else 0
        washout = query.index.occurrence == "first_in_lookback"
        population = query.population

        def at_risk_on(pnr: int, day: dt.date) -> bool:
            """Not (yet) a case on ``day``: no earlier event (first-ever), or none in the look-back
            before it (first_in_lookback)."""
            dates = all_dates.get(pnr, [])
            if washout:
                return first_in_lookback(day, dates, lookback)
            return not dates or day <= dates[0]

        def incident_on(pnr: int, day: dt.date) -> bool:
            dates = all_dates.get(pnr, [])
            return day in dates and (first_in_lookback(day, dates, lookback) if washout else day == dates[0])

        def in_population(person: Person) -> bool:
            return (population.sex is None or person["koen"] == m.SEX_CODES[population.sex]) and (
                population.regions is None or person["reg"] in population.regions
            )

        def stratum(person: Person):
            if breakdown is None:
                return None
            return breakdown.label(person["koen"] if breakdown.name == "sex" else person["reg"])

        strata = [None, *breakdown.categories] if breakdown else [None]
        cells = []
        for year in range(period.start.year, period.end.year + 1):
            jan1, dec31 = dt.date(year, 1, 1), dt.date(year, 12, 31)
            tally = {s: _YearTally() for s in strata}
            for pnr, person in self.persons.items():
                if not in_population(person):
                    continue
                entry = max(person["foed_dag"], person["indvandret_dato"] or person["foed_dag"])
                leaves = [d for d in (person["doed_dato"], person["udvandret_dato"]) if d is not None]
                leave = min(leaves) if leaves else dt.date.max
                start, end = max(entry, jan1), min(leave, dec31)
                days = (end - start).days + 1 if end >= start else 0
                first = first_dates.get(pnr)
                # at risk: resident, with a whole look-back of residence behind, and not a case
                observed_from = max(start, entry + dt.timedelta(days=lookback))
                observed_days = range(max(0, (end - observed_from).days + 1))
                if pnr in all_dates:
                    at_risk = sum(
                        1 for k in observed_days if at_risk_on(pnr, observed_from + dt.timedelta(days=k))
                    )
                else:
                    at_risk = len(observed_days)
                incident = any(
                    incident_on(pnr, day)
                    for day in all_dates.get(pnr, [])
                    if jan1 <= day <= dec31
                    and period.start <= day <= period.end
                    and entry + dt.timedelta(days=lookback) <= day <= leave
                )
                for s in {None, stratum(person)}:
                    t = tally[s]
                    if days > 0:
                        t.residents += 1
                        t.days += days
                        t.at_risk += at_risk
                        if first is not None and first <= dec31:
                            t.prevalent.add(pnr)
                    if incident:
                        t.incident.add(pnr)
            for s in strata:
                t = tally[s]
                extra = (s,) if breakdown else ()
                cells.append(
                    cell(
                        (year, "incident", *extra),
                        t.incident,
                        {"person_years_at_risk": t.at_risk / 365.25, "population": float(t.residents)},
                    )
                )
                cells.append(
                    cell(
                        (year, "prevalent", *extra),
                        t.prevalent,
                        {"person_years": t.days / 365.25, "population": float(t.residents)},
                    )
                )
        years = tuple(range(period.start.year, period.end.year + 1))
        dimensions = [
            Dimension("year", years, has_total=False),
            Dimension("measure", ("incident", "prevalent"), has_total=False),
        ]
        if breakdown:
            dimensions.append(Dimension(breakdown.name, breakdown.categories))
        return AggregateTable(
            "incidence_prevalence",
            title + ": incidence and prevalence",
            tuple(dimensions),
            tuple(cells),
            registers,
            # prevalent every year, incident once (with first_in_lookback: in every year)
            len(years) * 2 if washout else len(years) + 1,
            "year",
        )


def first_in_lookback(day: dt.date, dates: list[dt.date], lookback_days: int) -> bool:
    """No event in the ``lookback_days`` days before ``day``."""
    return not any(day - dt.timedelta(days=lookback_days) <= d < day for d in dates)


def cell(coordinates: tuple, persons, measures: dict[str, float] | None = None) -> Cell:
    bitmap = BitMap(sorted(persons))
    return Cell(tuple(coordinates), len(bitmap), bitmap, measures or {})


def unique(labels: list[str]) -> tuple[str, ...]:
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return tuple(out)
