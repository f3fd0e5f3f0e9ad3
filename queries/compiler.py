"""Query model → SQL, built as sqlglot expressions, one function per pass, rendered per engine
dialect (``CompiledQuery.sql("duckdb")``, ``.sql("spark")``).

Passes, in the order the SQL composes them:

1. ``concept_row_condition`` / ``concept_events``: the dated events of a concept, over the
   logical relations of ``queries.storage`` (code prefixes become range predicates, which skip
   row groups of the code-sorted layout); a diagnosis or prescription concept with no condition
   beyond its codes is read from the compacted ``*_spans`` relation (``span_relation``) for its
   first dates, and for whether it occurred in a window wherever spans decide that exactly
   (``spans_answer``);
2. ``index_events``: one index date per person (first-ever, or first in the period);
3. ``education_at_index`` / ``income_at_index``: attributes at the index date;
4. ``population_base``: index persons with their demographics and the ``eligible`` flag
   (population constraints: age, sex, region, alive and resident at index);
5. ``criterion_condition``: criteria as boolean expressions; every windowed event leaf becomes
   one aggregate column of its relation's ``leaf_group`` (one scan and one join per relation,
   however many leaves), combined by all/any/not;
6. ``cohort_members`` and a result pass per result kind (``compile_cohort_rows``,
   ``compile_attrition``, ``compile_flags``, ``compile_treatment_uptake``,
   ``compile_incidence_cases``, ``compile_population_years``), selecting per-person rows (person
   key plus cell coordinates) that the engine turns into person-set bitmaps; result items are
   evaluated over the materialised cohort only.

Every user-supplied value (codes, dates, offsets, counts) enters as a literal expression;
nothing is spliced into SQL text. Expressions whose meaning differs between dialects are built as
sqlglot's dialect-neutral nodes (``days_between``: the difference of two dates is a number of days in
DuckDB but an interval in Spark), so every pass renders to every engine's dialect unchanged.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlglot
from sqlglot import exp

from queries import model as m
from queries.dimensions import follow_up_days
from queries.registry import concept_excluded_codes, concept_kind
from queries.registry import concept_registers as registry_concept_registers
from queries.storage import RELATION_REGISTERS, SPAN_RELATIONS, days_between, population_days

B = "b"  # alias of the population base in every pass that reads it


# --- literals and small expression helpers ------------------------------------------------


def date_literal(value: dt.date) -> exp.Expr:
    return exp.cast(exp.Literal.string(value.isoformat()), exp.DataType.build("DATE"))


def number(value: int | float) -> exp.Expr:
    return exp.Literal.number(value)


def col(name: str, table: str | None = None) -> exp.Column:
    return exp.column(name, table)


def prefix_upper_bound(prefix: str) -> str:
    """The smallest string greater than every string starting with ``prefix`` (codes are ASCII)."""
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def prefix_condition(column: exp.Expr, prefixes: tuple[str, ...]) -> exp.Expr:
    """``column`` starts with one of the prefixes, as ranges so DuckDB prunes row groups of
    code-sorted tables by their min/max statistics."""
    ranges = [
        exp.and_(
            exp.GTE(this=column.copy(), expression=exp.Literal.string(prefix)),
            exp.LT(this=column.copy(), expression=exp.Literal.string(prefix_upper_bound(prefix))),
        )
        for prefix in sorted(set(prefixes))
    ]
    return exp.or_(*ranges) if len(ranges) > 1 else ranges[0]


def offset_date(date_column: exp.Expr, days: int) -> exp.Expr:
    return exp.Add(this=date_column.copy(), expression=number(days))


def between_inclusive(value: exp.Expr, low: int | None, high: int | None) -> exp.Expr:
    conditions: list[exp.Expr] = []
    if low is not None:
        conditions.append(exp.GTE(this=value.copy(), expression=number(low)))
    if high is not None:
        conditions.append(exp.LTE(this=value.copy(), expression=number(high)))
    return exp.and_(*conditions) if conditions else exp.true()


def age_at(birth: exp.Expr, on: exp.Expr) -> exp.Expr:
    """Completed years between birth and ``on`` (a birthday on 29 February is reached on 1 March
    in common years, as in Danish civil law)."""
    years = exp.Sub(this=exp.func("year", on.copy()), expression=exp.func("year", birth.copy()))
    day_of_year = lambda d: exp.Add(  # noqa: E731 - a local shorthand keeps the expression readable
        this=exp.Mul(this=exp.func("month", d.copy()), expression=number(100)),
        expression=exp.func("day", d.copy()),
    )
    before_birthday = exp.LT(this=day_of_year(on), expression=day_of_year(birth))
    return exp.Sub(this=years, expression=exp.Case().when(before_birthday, number(1)).else_(number(0)))


# --- pass 1: concept events ------------------------------------------------------------------


def concept_relation(concept: m.Model) -> str:
    return concept_kind(concept).relation


def concept_row_condition(concept: m.Model, table: str | None = None) -> exp.Expr:
    """The rows of the concept's relation that are events of the concept."""
    conditions: list[exp.Expr] = []
    kind = concept_kind(concept)
    if kind.codes_only:  # cancer, procedure, ...: the registry entry says all there is to say
        assert kind.code_field is not None  # codes_only means a concept with a code field
        conditions.append(prefix_condition(col(kind.code_column, table), getattr(concept, kind.code_field)))
    elif kind.declared is not None:  # a register declared in queries.registers brings its condition
        conditions.append(kind.declared.row_condition(concept, table))
    elif isinstance(concept, m.DiagnosisConcept):
        conditions.append(prefix_condition(col("code", table), concept.codes))
        if concept.primary_only:
            conditions.append(exp.EQ(this=col("diagnosis_type", table), expression=exp.Literal.string("A")))
        if concept.contact_type is not None:
            conditions.append(
                exp.EQ(this=col("contact_type", table), expression=exp.Literal.string(concept.contact_type))
            )
    elif isinstance(concept, m.PrescriptionConcept):
        conditions.append(prefix_condition(col("atc", table), concept.atc))
        if concept.min_packages is not None:
            conditions.append(exp.GTE(this=col("packages", table), expression=number(concept.min_packages)))
    elif isinstance(concept, m.LabResultConcept):
        conditions.append(prefix_condition(col("code", table), concept.codes))
        if concept.unit is not None:
            conditions.append(exp.EQ(this=col("unit", table), expression=exp.Literal.string(concept.unit)))
        conditions += lab_value_conditions(concept, table)
    elif isinstance(concept, m.CauseOfDeathConcept):
        conditions.append(prefix_condition(col("code", table), concept.codes))
        if concept.underlying_only:
            conditions.append(col("underlying", table))
    elif isinstance(concept, m.BiobankSampleConcept):
        types = [exp.Literal.string(t) for t in sorted(set(concept.sample_types))]
        conditions.append(col("sample_type", table).isin(*types))
    elif isinstance(concept, m.VitalStatusConcept):
        conditions.append(
            exp.Not(this=exp.Is(this=col(vital_status_column(concept), table), expression=exp.null()))
        )
    else:
        raise TypeError(f"{type_name(concept)} is not an event concept")
    excluded = concept_excluded_codes(concept)
    if excluded is not None and excluded[1]:  # the same column the concept's own prefixes match
        outside = exp.Not(this=exp.paren(prefix_condition(col(kind.code_column, table), excluded[1])))
        conditions.append(outside)
    return exp.and_(*conditions) if len(conditions) > 1 else conditions[0]


def lab_value_conditions(concept: m.LabResultConcept, table: str | None = None) -> list[exp.Expr]:
    """``min <= value < max``, where a censored result (``bound`` '<' or '>') meets a bound only if
    every value it stands for does: '<v' meets ``max`` when v <= max, '>v' meets ``min`` when
    v >= min; an unreadable value meets none."""
    value, bound = col("value", table), col("bound", table)
    conditions: list[exp.Expr] = []
    if concept.min is not None:
        conditions.append(
            exp.and_(
                exp.GTE(this=value.copy(), expression=number(concept.min)),
                exp.or_(
                    exp.Is(this=bound.copy(), expression=exp.null()),
                    exp.EQ(this=bound.copy(), expression=exp.Literal.string(">")),
                ),
            )
        )
    if concept.max is not None:
        exact = exp.and_(
            exp.Is(this=bound.copy(), expression=exp.null()),
            exp.LT(this=value.copy(), expression=number(concept.max)),
        )
        below = exp.and_(
            exp.EQ(this=bound.copy(), expression=exp.Literal.string("<")),
            exp.LTE(this=value.copy(), expression=number(concept.max)),
        )
        conditions.append(exp.paren(exp.or_(exact, below)))
    return conditions


def vital_status_column(concept: m.VitalStatusConcept) -> str:
    return "death_date" if concept.status == "died" else "emigration_date"


def span_relation(concept: m.Model) -> str | None:
    """The compacted relation holding every event of the concept (see ``storage.SPAN_RELATIONS``),
    or None when the concept also conditions on event columns the spans do not keep."""
    if isinstance(concept, m.DiagnosisConcept) and not concept.primary_only and concept.contact_type is None:
        return "diagnosis_spans"
    if isinstance(concept, m.PrescriptionConcept) and concept.min_packages is None:
        return "prescription_spans"
    return None


def members_union(concept: m.AnyOfConcept, events: Callable[[m.Model], exp.Query]) -> exp.Query:
    """``UNION ALL`` of the members' ``SELECT pnr, event_date``: a composite's events are its
    members' (each read from its own relation, with its own conditions)."""
    selects = [events(member) for member in concept.concepts]
    return functools.reduce(lambda left, right: exp.union(left, right, distinct=False), selects)


def concept_first_events(concept: m.Model) -> exp.Query:
    """``SELECT pnr, event_date`` with, per person, the same earliest date as ``concept_events``
    (and no earlier one): from the spans' first dates where the concept has spans, which are
    several times fewer rows than its events (a composite: its members' first events)."""
    if isinstance(concept, m.AnyOfConcept):
        return members_union(concept, concept_first_events)
    relation = span_relation(concept)
    if relation is None:
        return concept_events(concept)
    return (
        sqlglot.select(col("pnr"), exp.alias_(col("first_date"), "event_date"))
        .from_(relation)
        .where(concept_row_condition(concept), copy=False)
    )


def concept_events(concept: m.Model) -> exp.Query:
    """``SELECT pnr, event_date`` of every event of an event concept."""
    if isinstance(concept, m.AnyOfConcept):
        return members_union(concept, concept_events)
    relation = concept_relation(concept)
    date = (
        col(vital_status_column(concept)) if isinstance(concept, m.VitalStatusConcept) else col("event_date")
    )
    return (
        sqlglot.select(col("pnr"), exp.alias_(date, "event_date"))
        .from_(relation)
        .where(concept_row_condition(concept), copy=False)
    )


def concept_registers(concept: m.Model) -> frozenset[str]:
    return registry_concept_registers(concept)


# --- pass 2: index events ----------------------------------------------------------------------


def incident_events(concept: m.Model, lookback_days: int) -> exp.Select:
    """``SELECT pnr, event_date, last_date`` of every event with no event of the concept in the
    ``lookback_days`` days before it (the start of an episode), with ``last_date`` the episode's
    last event: the next event more than ``lookback_days`` after it starts a new episode. Days
    ``event_date + 1`` to ``last_date + lookback_days`` have an event in the look-back before them."""
    dates = (
        sqlglot.select(col("pnr"), col("event_date")).distinct().from_(concept_events(concept).subquery("e"))
    )
    order = exp.Order(expressions=[exp.Ordered(this=col("event_date"))])
    partition = [col("pnr")]
    previous = exp.Window(this=exp.func("lag", col("event_date")), partition_by=partition, order=order)
    starts = sqlglot.select(
        col("pnr"),
        col("event_date"),
        exp.alias_(
            exp.or_(
                exp.Is(this=previous, expression=exp.null()),
                exp.LT(this=previous.copy(), expression=offset_date(col("event_date"), -lookback_days)),
            ),
            "starts",
        ),
    ).from_(dates.subquery("d"))
    episode = exp.Window(
        this=exp.Sum(this=exp.Cast(this=col("starts"), to=exp.DataType.build("int"))),
        partition_by=[col("pnr")],
        order=order.copy(),
    )
    numbered = sqlglot.select(
        col("pnr"), col("event_date"), col("starts"), exp.alias_(episode, "episode")
    ).from_(starts.subquery("s"))
    return (
        sqlglot.select(
            col("pnr"),
            exp.alias_(exp.Min(this=col("event_date")), "event_date"),
            exp.alias_(exp.Max(this=col("event_date")), "last_date"),
        )
        .from_(numbered.subquery("n"))
        .group_by(col("pnr"), col("episode"))
    )


def index_events(index: m.IndexEvent) -> exp.Select:
    """``SELECT pnr, index_date``: one row per person with an index event."""
    if index.occurrence == "first_in_lookback":
        assert index.lookback is not None  # validation: first_in_lookback needs its look-back
        events = incident_events(index.concept, index.lookback.days).subquery("e")
        return (
            sqlglot.select(col("pnr"), exp.alias_(exp.Min(this=col("event_date")), "index_date"))
            .from_(events)
            .where(
                exp.Between(
                    this=col("event_date"),
                    low=date_literal(index.period.start),
                    high=date_literal(index.period.end),
                )
            )
            .group_by("pnr")
        )
    # the first-ever date needs only each code's first date; the first in the period needs all dates
    events = (
        concept_first_events(index.concept) if index.occurrence == "first" else concept_events(index.concept)
    ).subquery("e")
    first = exp.Min(this=col("event_date"))
    in_period = lambda value: exp.Between(  # noqa: E731
        this=value, low=date_literal(index.period.start), high=date_literal(index.period.end)
    )
    select = sqlglot.select(col("pnr"), exp.alias_(first.copy(), "index_date")).from_(events).group_by("pnr")
    if index.occurrence == "first":
        return select.having(in_period(first.copy()))
    return select.where(in_period(col("event_date")))


# --- pass 3: attributes at the index date ------------------------------------------------------


def education_at_index() -> exp.Select:
    """The level in force in the index year: the record with the largest year <= index year."""
    return (
        sqlglot.select(
            col("pnr", "i"), exp.alias_(exp.func("arg_max", col("level", "u"), col("year", "u")), "level")
        )
        .from_(exp.alias_(exp.to_table("index_events"), "i", table=True))
        .join(
            exp.alias_(exp.to_table("education"), "u", table=True),
            on=exp.and_(
                exp.EQ(this=col("pnr", "u"), expression=col("pnr", "i")),
                exp.LTE(this=col("year", "u"), expression=exp.func("year", col("index_date", "i"))),
            ),
        )
        .group_by(col("pnr", "i"))
    )


def income_at_index() -> exp.Select:
    """Income of the last complete calendar year before the index year."""
    return (
        sqlglot.select(
            col("pnr", "i"),
            exp.alias_(col("personal", "n"), "income_personal"),
            exp.alias_(col("household_equivalised", "n"), "income_household_equivalised"),
        )
        .from_(exp.alias_(exp.to_table("index_events"), "i", table=True))
        .join(
            exp.alias_(exp.to_table("income"), "n", table=True),
            on=exp.and_(
                exp.EQ(this=col("pnr", "n"), expression=col("pnr", "i")),
                exp.EQ(
                    this=col("year", "n"),
                    expression=exp.Sub(this=exp.func("year", col("index_date", "i")), expression=number(1)),
                ),
            ),
        )
    )


# --- pass 4: population base -------------------------------------------------------------------


def alive_and_resident(person: str, on: exp.Expr) -> exp.Expr:
    """Born by, and not dead, emigrated or yet to immigrate on, the given date (the day of death
    or emigration itself still counts: the person was there that day)."""

    def null_or(column: str, comparison: type[exp.Binary]) -> exp.Expr:
        return exp.or_(
            exp.Is(this=col(column, person), expression=exp.null()),
            comparison(this=col(column, person), expression=on.copy()),
        )

    return exp.and_(
        exp.LTE(this=col("birth_date", person), expression=on.copy()),
        null_or("death_date", exp.GTE),
        null_or("emigration_date", exp.GTE),
        null_or("immigration_date", exp.LTE),
    )


def observed_before(person: str, index_date: exp.Expr, lookback_days: int) -> exp.Expr:
    """Resident on every day of the look-back, the ``lookback_days`` days before the index date.
    Residence is one interval (arrival to death or emigration), so its first and last day decide."""
    return exp.and_(
        alive_and_resident(person, offset_date(index_date, -lookback_days)),
        alive_and_resident(person, offset_date(index_date, -1)),
    )


def population_conditions(population: m.Population) -> list[exp.Expr]:
    conditions: list[exp.Expr] = []
    if population.age is not None:
        conditions.append(between_inclusive(col("age"), population.age.min, population.age.max))
    if population.sex is not None:
        conditions.append(exp.EQ(this=col("sex"), expression=number(m.SEX_CODES[population.sex])))
    if population.regions is not None:
        conditions.append(col("region").isin(*[number(r) for r in population.regions]))
    return conditions


def population_base(query: m.Query, needs: Needs) -> exp.Select:
    """Index persons with sex, region, age and index year, and ``eligible`` (population constraints)."""
    index_date = col("index_date", "i")
    age = age_at(col("birth_date", "p"), index_date)
    inner = (
        sqlglot.select(
            col("pnr", "i"),
            col("index_date", "i"),
            exp.alias_(col("sex", "p"), "sex"),
            exp.alias_(col("region", "p"), "region"),
            exp.alias_(age, "age"),
            exp.alias_(exp.func("year", index_date.copy()), "index_year"),
            exp.alias_(alive_and_resident("p", index_date), "resident"),
            exp.alias_(col("death_date", "p"), "death_date"),
            exp.alias_(col("emigration_date", "p"), "emigration_date"),
        )
        .from_(exp.alias_(exp.to_table("index_events"), "i", table=True))
        .join(
            exp.alias_(exp.to_table("persons"), "p", table=True),
            on=exp.EQ(this=col("pnr", "p"), expression=col("pnr", "i")),
        )
    )
    lookback = query.index.lookback
    if lookback is not None:
        inner = inner.select(exp.alias_(observed_before("p", index_date, lookback.days), "observed"))
    extra: list[exp.Expr] = []
    if needs.education:
        inner = inner.select(exp.alias_(col("level", "ed"), "education_level")).join(
            exp.alias_(exp.to_table("education_at_index"), "ed", table=True),
            on=exp.EQ(this=col("pnr", "ed"), expression=col("pnr", "i")),
            join_type="left",
        )
        extra.append(col("education_level"))
    if needs.income:
        inner = inner.select(col("income_personal", "inc"), col("income_household_equivalised", "inc")).join(
            exp.alias_(exp.to_table("income_at_index"), "inc", table=True),
            on=exp.EQ(this=col("pnr", "inc"), expression=col("pnr", "i")),
            join_type="left",
        )
        extra += [col("income_personal"), col("income_household_equivalised")]
    conditions = population_conditions(query.population)
    # An event dated before the person's birth is a register error, never an index: nobody is in a
    # cohort before being born, whatever the residence flag (an age band has no place for them).
    # Completed years are negative exactly before birth.
    conditions.insert(0, exp.GTE(this=col("age"), expression=number(0)))
    if query.population.alive_and_resident_at_index:
        conditions.insert(0, col("resident"))
    if lookback is not None:
        conditions.insert(0, col("observed"))
    eligible = exp.and_(*conditions)
    return sqlglot.select(
        "pnr",
        "index_date",
        "sex",
        "region",
        "age",
        "index_year",
        "death_date",
        "emigration_date",
        *extra,
        exp.alias_(exp.func("coalesce", eligible, exp.false()), "eligible"),
    ).from_(inner.subquery("population"))


# --- pass 5: criteria --------------------------------------------------------------------------


@dataclass
class Needs:
    """What the base must carry, found by walking the query before compiling it."""

    education: bool = False
    income: bool = False


@dataclass
class LeafGroup:
    """All windowed leaves over one relation, answered by one scan and one join: per eligible
    person, one aggregate per leaf (``hit_<k>``), over the rows matching any leaf."""

    relation: str
    alias: str
    row_conditions: list[exp.Expr] = field(default_factory=list)
    aggregates: list[exp.Expr] = field(default_factory=list)
    # a composite concept's events (``members_union``) instead of a relation of ``queries.storage``
    events: exp.Query | None = None


@dataclass
class Leaves:
    """The windowed event leaves found so far, grouped by relation."""

    source: str = "base"  # "base" (eligible persons, for criteria) or "cohort" (for result items)
    period: m.Period | None = None  # the index period: every index date lies in it
    groups: dict[str, LeafGroup] = field(default_factory=dict)
    registers: set[str] = field(default_factory=set)

    def add(
        self,
        concept: m.Model,
        aggregate: Callable[[exp.Expr], exp.Expr],
        window: m.Window | None = None,
        relation: str | None = None,
    ) -> exp.Column:
        """Register a leaf; ``aggregate(row_condition)`` builds its per-person aggregate over the
        group's rows (``e``) of ``relation`` (default: the concept's event relation) joined with the
        base (``b``). Returns the column holding the result."""
        composite = isinstance(concept, m.AnyOfConcept)
        if composite:  # one group per composite: its members' events are its rows, every one an event
            relation = "any_of " + concept.model_dump_json()
        relation = relation or concept_relation(concept)
        group = self.groups.get(relation)
        if group is None:
            alias = f"{self.source}_leaves_{len(self.groups)}"
            events = concept_events(concept) if composite else None
            group = self.groups[relation] = LeafGroup(relation, alias, events=events)
        row_condition = exp.true() if composite else concept_row_condition(concept, "e")
        name = f"hit_{len(group.aggregates)}"
        bounds = calendar_bounds(self.period, window, relation)
        group.row_conditions.append(exp.and_(row_condition, bounds))
        group.aggregates.append(exp.alias_(aggregate(row_condition.copy()), name))
        return col(name, group.alias)

    def ctes(self) -> list[tuple[str, exp.Select]]:
        return [(group.alias, leaf_group(group, self.source)) for group in self.groups.values()]

    def join_onto(self, select: exp.Select) -> exp.Select:
        """Left-join every group onto a select from the base (persons without events get NULLs)."""
        for group in self.groups.values():
            select = select.join(
                exp.alias_(exp.to_table(group.alias), group.alias, table=True),
                on=exp.EQ(this=col("pnr", group.alias), expression=col("pnr", B)),
                join_type="left",
                copy=False,
            )
        return select


def calendar_bounds(period: m.Period | None, window: m.Window | None, relation: str) -> exp.Expr:
    """Constant dates no event in the window can lie outside, whatever the index date in the
    period: redundant with the window, but a constant lets DuckDB skip row groups by date. On a
    span relation: spans that end before the earliest or begin after the latest such date (and
    yearly spans outside those years, which is what their sort order prunes)."""
    if period is None or window is None:
        return exp.true()
    spans = relation in SPAN_RELATIONS
    by_year = spans and SPAN_RELATIONS[relation][2]
    bounds: list[exp.Expr] = []
    if window.start is not None:
        earliest = period.start + dt.timedelta(days=window.start)
        column = col("last_date" if spans else "event_date", "e")
        bounds.append(exp.GTE(this=column, expression=date_literal(earliest)))
        if by_year:
            bounds.append(exp.GTE(this=col("year", "e"), expression=number(earliest.year)))
    if window.end is not None:
        latest = period.end + dt.timedelta(days=window.end)
        column = col("first_date" if spans else "event_date", "e")
        bounds.append(exp.LTE(this=column, expression=date_literal(latest)))
        if by_year:
            bounds.append(exp.LTE(this=col("year", "e"), expression=number(latest.year)))
    return exp.and_(*bounds) if bounds else exp.true()


def leaf_group(group: LeafGroup, source: str) -> exp.Select:
    rows = exp.paren(exp.or_(*group.row_conditions))
    events = (
        exp.alias_(exp.to_table(group.relation), "e", table=True)
        if group.events is None
        else group.events.subquery("e")
    )
    return (
        sqlglot.select(col("pnr", B), *group.aggregates)
        .from_(exp.alias_(exp.to_table(source), B, table=True), copy=False)
        .join(
            events,
            on=exp.EQ(this=col("pnr", "e"), expression=col("pnr", B)),
            copy=False,
        )
        .where(exp.and_(col("eligible", B), rows) if source == "base" else rows, copy=False)
        .group_by(col("pnr", B), copy=False)
    )


def window_condition(event_date: exp.Expr, window: m.Window | None) -> exp.Expr:
    if window is None:
        return exp.true()
    index_date = col("index_date", B)
    conditions: list[exp.Expr] = []
    if window.start is not None:
        conditions.append(exp.GTE(this=event_date.copy(), expression=offset_date(index_date, window.start)))
    if window.end is not None:
        conditions.append(exp.LTE(this=event_date.copy(), expression=offset_date(index_date, window.end)))
    return exp.and_(*conditions) if conditions else exp.true()


# A calendar year's first and last events cannot both lie outside a window of this many days or
# more that lies between them (at most 364 days fit strictly inside a year), so yearly spans answer
# such windows exactly; shorter windows need the events' own dates.
YEARLY_SPAN_MIN_WINDOW_DAYS = 365


def spans_answer(relation: str, window: m.Window | None, min_count: int) -> bool:
    """Whether span rows decide "at least ``min_count`` days with an event in the window"."""
    if min_count > 1:  # days of several codes may coincide: counting them needs the dates
        return False
    if window is None or window.start is None or window.end is None:
        return True
    _, _, by_year = SPAN_RELATIONS[relation]
    return by_year and window.end - window.start + 1 >= YEARLY_SPAN_MIN_WINDOW_DAYS


def span_window_condition(window: m.Window | None) -> exp.Expr:
    """Over a span row (``e``): it has an event in the window (see ``spans_answer`` for when this
    is exact): it begins by the window's end and ends by its start."""
    index_date = col("index_date", B)
    conditions: list[exp.Expr] = []
    if window is not None and window.end is not None:
        conditions.append(
            exp.LTE(this=col("first_date", "e"), expression=offset_date(index_date, window.end))
        )
    if window is not None and window.start is not None:
        conditions.append(
            exp.GTE(this=col("last_date", "e"), expression=offset_date(index_date, window.start))
        )
    return exp.and_(*conditions) if conditions else exp.true()


def event_leaf(concept: m.Model, window: m.Window | None, min_count: int, leaves: Leaves) -> exp.Expr:
    """Eligible persons with at least ``min_count`` distinct days with an event in the window."""
    event_date = col("event_date", "e")
    if isinstance(concept, m.VitalStatusConcept):
        # at most one such event per person, and it is on the base row already
        if min_count > 1:
            return exp.false()
        date = col(vital_status_column(concept), B)
        return exp.and_(
            exp.Not(this=exp.Is(this=date.copy(), expression=exp.null())), window_condition(date, window)
        )
    if isinstance(concept, m.LabResultConcept) and concept.latest:
        return latest_lab_leaf(concept, window, leaves)
    spans = None if isinstance(concept, m.AnyOfConcept) else span_relation(concept)
    if spans is not None and spans_answer(spans, window, min_count):
        hit = leaves.add(
            concept,
            lambda row: exp.func("bool_or", exp.and_(row, span_window_condition(window))),
            window,
            relation=spans,
        )
        return exp.func("coalesce", hit, exp.false())

    def aggregate(row_condition: exp.Expr) -> exp.Expr:
        condition = exp.and_(row_condition, window_condition(event_date, window))
        if min_count == 1:
            return exp.func("bool_or", condition)
        distinct_days = exp.Filter(
            this=exp.Count(this=exp.Distinct(expressions=[event_date.copy()])),
            expression=exp.Where(this=condition),
        )
        return exp.GTE(this=distinct_days, expression=number(min_count))

    return exp.func("coalesce", leaves.add(concept, aggregate, window), exp.false())


def latest_lab_leaf(concept: m.LabResultConcept, window: m.Window | None, leaves: Leaves) -> exp.Expr:
    """The latest day with a result of the codes (and unit) in the window has one within the
    bounds: the latest such day equals the latest day with a result within them."""
    any_value = concept.model_copy(update={"min": None, "max": None, "latest": False})
    event_date = col("event_date", "e")

    def aggregate(row_condition: exp.Expr) -> exp.Expr:
        in_window = exp.and_(row_condition, window_condition(event_date, window))
        in_bounds = exp.and_(in_window.copy(), *lab_value_conditions(concept, "e"))

        def latest(condition: exp.Expr) -> exp.Expr:
            return exp.Filter(this=exp.Max(this=event_date.copy()), expression=exp.Where(this=condition))

        return exp.EQ(this=latest(in_window), expression=latest(in_bounds))

    return exp.func("coalesce", leaves.add(any_value, aggregate, window), exp.false())


def attribute_condition(concept: m.Model) -> exp.Expr:
    """A condition on the base row; a missing attribute never matches (so excluding it keeps)."""
    if isinstance(concept, m.AgeConcept):
        condition = between_inclusive(col("age", B), concept.min, concept.max)
    elif isinstance(concept, m.SexConcept):
        condition = exp.EQ(this=col("sex", B), expression=number(m.SEX_CODES[concept.sex]))
    elif isinstance(concept, m.RegionConcept):
        condition = col("region", B).isin(*[number(r) for r in concept.regions])
    elif isinstance(concept, m.EducationConcept):
        condition = col("education_level", B).isin(*[number(level) for level in concept.levels])
    elif isinstance(concept, m.IncomeConcept):
        column = col(f"income_{concept.measure}", B)
        bounds: list[exp.Expr] = [exp.Not(this=exp.Is(this=column.copy(), expression=exp.null()))]
        if concept.min is not None:
            bounds.append(exp.GTE(this=column.copy(), expression=number(concept.min)))
        if concept.max is not None:
            bounds.append(exp.LT(this=column.copy(), expression=number(concept.max)))
        condition = exp.and_(*bounds)
    else:
        raise TypeError(f"{type_name(concept)} is not an attribute concept")
    return exp.func("coalesce", condition, exp.false())


def concept_condition(concept: m.Model, window: m.Window | None, min_count: int, leaves: Leaves) -> exp.Expr:
    leaves.registers |= concept_registers(concept)
    if not m.is_event_concept(concept):
        return attribute_condition(concept)
    return event_leaf(concept, window, min_count, leaves)


def criterion_condition(criterion: m.Model, leaves: Leaves) -> exp.Expr:
    if isinstance(criterion, m.Include):
        return concept_condition(criterion.concept, criterion.window, criterion.min_count, leaves)
    if isinstance(criterion, m.Exclude):
        return exp.Not(
            this=exp.paren(
                concept_condition(criterion.concept, criterion.window, criterion.min_count, leaves)
            )
        )
    if isinstance(criterion, m.AllOf):
        return exp.paren(exp.and_(*[criterion_condition(c, leaves) for c in criterion.criteria]))
    if isinstance(criterion, m.AnyOf):
        return exp.paren(exp.or_(*[criterion_condition(c, leaves) for c in criterion.criteria]))
    if isinstance(criterion, m.Not):
        return exp.Not(this=exp.paren(criterion_condition(criterion.criterion, leaves)))
    raise TypeError(f"unknown criterion {criterion!r}")


def walk_concepts(query: m.Query) -> list[m.Model]:
    """Every concept the query mentions (for registers and for what the base must carry)."""
    found: list[m.Model] = [query.index.concept]

    def visit(criterion: m.Model) -> None:
        if isinstance(criterion, m.Include | m.Exclude):
            found.append(criterion.concept)
        elif isinstance(criterion, m.AllOf | m.AnyOf):
            for inner in criterion.criteria:
                visit(inner)
        elif isinstance(criterion, m.Not):
            visit(criterion.criterion)

    for criterion in query.criteria:
        visit(criterion)
    if isinstance(query.result, m.CharacteristicsResult):
        found.extend(item.concept for item in query.result.items)
    if isinstance(query.result, m.TreatmentUptakeResult):
        found.extend(m.PrescriptionConcept(atc=drug.atc) for drug in query.result.drugs)
    if isinstance(query.result, m.BiobankAvailabilityResult):
        found.append(m.BiobankSampleConcept(sample_types=query.result.sample_types))
    if isinstance(query.result, m.TableOneResult):
        found.extend(item.concept for item in query.result.items)
        if query.result.exposure is not None:
            found.append(query.result.exposure.concept)
        found.extend(
            lab_measure_concept(item.measure)
            for item in query.result.continuous
            if isinstance(item.measure, m.LabValueMeasure)
        )
    if isinstance(query.result, m.TimeToEventResult):
        found.append(query.result.outcome)
    return found


def lab_measure_concept(measure: m.LabValueMeasure) -> m.LabResultConcept:
    """The results a laboratory measure reads (its codes and unit, whatever their value)."""
    return m.LabResultConcept(codes=measure.codes, unit=measure.unit)


def needs_of(query: m.Query) -> Needs:
    concepts = walk_concepts(query)
    breakdowns = getattr(query.result, "breakdowns", ())
    return Needs(
        education=any(isinstance(c, m.EducationConcept) for c in concepts)
        or any(b.by == "education" for b in breakdowns),
        income=any(isinstance(c, m.IncomeConcept) for c in concepts),
    )


# --- pass 6: results ---------------------------------------------------------------------------


# Dialects whose WITH takes the MATERIALIZED hint (the compiler asks DuckDB to compute the index
# events, base and cohort once); others get the same CTEs without it.
MATERIALIZED_CTE_DIALECTS = frozenset({"duckdb", "postgres", "sqlite"})


@dataclass(frozen=True)
class CompiledQuery:
    """The SQL of one query and how to read its per-person rows."""

    statement: exp.Select
    registers: frozenset[str]
    columns: tuple[str, ...]  # after pnr
    step_names: tuple[str, ...] = ()
    texts: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    def sql(self, dialect: str = "duckdb") -> str:
        """The statement in an engine's SQL dialect (generated once per dialect)."""
        text = self.texts.get(dialect)
        if text is None:
            # An engine renders its queries in one dialect: the first rendering may skip the copy
            # (generating from a copy costs more than the compilation itself), later ones may not,
            # as a dialect's generator may rewrite the tree it is given.
            statement: exp.Expr = self.statement
            if dialect not in MATERIALIZED_CTE_DIALECTS:
                statement = statement.copy()
                for cte in statement.find_all(exp.CTE):
                    cte.set("materialized", None)  # a hint to DuckDB; a syntax error in Spark
            if dialect != "duckdb":
                statement = statement.transform(_without_duckdb_functions)
            text = self.texts[dialect] = statement.sql(dialect, copy=bool(self.texts))
        return text


def _without_duckdb_functions(node: exp.Expr) -> exp.Expr:
    """DuckDB's ``arg_max_null`` (the argument of the largest key, NULL arguments included) is what
    ``ArgMax`` means elsewhere (Spark's ``max_by`` keeps a NULL argument), and its ``row`` is a
    struct, which orders field by field in both."""
    if isinstance(node, exp.Anonymous):
        name = str(node.this).lower()
        if name == "arg_max_null":
            argument, key = node.expressions
            return exp.ArgMax(this=argument.copy(), expression=_without_duckdb_functions(key.copy()))
        if name == "row":
            return exp.Struct(expressions=list(node.expressions))
    return node


def criterion_label(criterion: m.Model, position: int) -> str:
    name: str | None = getattr(criterion, "name", None)
    if name:
        return name
    if isinstance(criterion, m.Include | m.Exclude):
        return f"{criterion.type} {concept_label(criterion.concept)}"
    return f"criterion {position + 1} ({type_name(criterion)})"


def concept_label(concept: m.Model) -> str:
    """``diagnosis DE11``; a composite lists its members: ``any_of (diagnosis DE11; prescription A10)``."""
    if isinstance(concept, m.AnyOfConcept):
        return f"{concept.type} (" + "; ".join(concept_label(member) for member in concept.concepts) + ")"
    codes = getattr(concept, "codes", None) or getattr(concept, "atc", None) or ()
    return type_name(concept) + (" " + ",".join(codes) if codes else "")


def type_name(model: m.Model) -> str:
    """A concept's or criterion's ``type`` as the query names it (every one of them has one)."""
    return str(getattr(model, "type", type(model).__name__))


def with_base(
    query: m.Query,
    select: exp.Select,
    leaves: Leaves,
    needs: Needs,
    cohort: exp.Select | None = None,
    items: Leaves | None = None,
) -> exp.Select:
    """Join the leaf groups onto the final select, and attach the CTEs it reads: index events,
    attributes, base, criterion leaves and, when result items are counted over the cohort, the
    cohort and the item leaves (so items are evaluated for cohort members only)."""
    select = leaves.join_onto(select) if items is None else items.join_onto(select)
    select = select.with_("index_events", as_=index_events(query.index), materialized=True, copy=False)
    if needs.education:
        select = select.with_("education_at_index", as_=education_at_index(), copy=False)
    if needs.income:
        select = select.with_("income_at_index", as_=income_at_index(), copy=False)
    select = select.with_("base", as_=population_base(query, needs), materialized=True, copy=False)
    for name, leaf in leaves.ctes():
        select = select.with_(name, as_=leaf, copy=False)
    if cohort is not None and items is not None:
        select = select.with_("cohort", as_=cohort, materialized=True, copy=False)
        for name, leaf in items.ctes():
            select = select.with_(name, as_=leaf, copy=False)
    return select


def cohort_members(query: m.Query, leaves: Leaves) -> exp.Select:
    """``SELECT b.*`` of the base rows in the cohort (eligible and meeting every criterion)."""
    select = (
        sqlglot.select(exp.Column(this=exp.Star(), table=exp.to_identifier(B)))
        .from_(exp.alias_(exp.to_table("base"), B, table=True), copy=False)
        .where(cohort_condition(query, leaves), copy=False)
    )
    return leaves.join_onto(select)


def base_registers(query: m.Query, needs: Needs) -> set[str]:
    registers = set(concept_registers(query.index.concept))
    if needs.education:
        registers |= RELATION_REGISTERS["education"]
    if needs.income:
        registers |= RELATION_REGISTERS["income"]
    return registers


def cohort_condition(query: m.Query, leaves: Leaves) -> exp.Expr:
    return exp.and_(col("eligible", B), *[criterion_condition(c, leaves) for c in query.criteria])


def compile_cohort_rows(query: m.Query, dimension_columns: tuple[str, ...]) -> CompiledQuery:
    """Cohort members with the columns the breakdowns need."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    condition = cohort_condition(query, leaves)
    select = sqlglot.select(col("pnr", B), *[col(c, B) for c in dimension_columns]).from_(
        exp.alias_(exp.to_table("base"), B, table=True)
    )
    select = with_base(query, select.where(condition), leaves, needs)
    return CompiledQuery(
        select, frozenset(base_registers(query, needs) | leaves.registers), dimension_columns
    )


def compile_attrition(query: m.Query) -> CompiledQuery:
    """Every index person with ``eligible`` and one flag per top-level criterion."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    flags = [criterion_condition(c, leaves) for c in query.criteria]
    names = tuple(f"step_{k}" for k in range(len(flags)))
    select = sqlglot.select(
        col("pnr", B),
        col("eligible", B),
        *[
            exp.alias_(exp.func("coalesce", flag, exp.false()), name)
            for flag, name in zip(flags, names, strict=True)
        ],
    ).from_(exp.alias_(exp.to_table("base"), B, table=True))
    select = with_base(query, select, leaves, needs)
    labels = tuple(criterion_label(c, k) for k, c in enumerate(query.criteria))
    return CompiledQuery(
        select, frozenset(base_registers(query, needs) | leaves.registers), ("eligible", *names), labels
    )


def compile_flags(query: m.Query, flags: list[tuple[m.Model, m.Window | None, int]]) -> CompiledQuery:
    """Cohort members with one boolean per (concept, window, min_count): characteristics, biobank."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    cohort = cohort_members(query, leaves)
    items = Leaves(source="cohort", period=query.index.period)
    expressions = [
        exp.alias_(exp.func("coalesce", concept_condition(c, w, n, items), exp.false()), f"flag_{k}")
        for k, (c, w, n) in enumerate(flags)
    ]
    select = sqlglot.select(col("pnr", B), *expressions).from_(
        exp.alias_(exp.to_table("cohort"), B, table=True), copy=False
    )
    select = with_base(query, select, leaves, needs, cohort, items)
    names = tuple(f"flag_{k}" for k in range(len(flags)))
    registers = base_registers(query, needs) | leaves.registers | items.registers
    return CompiledQuery(select, frozenset(registers), names)


def compile_treatment_uptake(query: m.Query, result: m.TreatmentUptakeResult) -> CompiledQuery:
    """Cohort members with, per drug group, the day (offset from index) of the first dispensing in
    0..max(days), NULL for none or for prevalent users (a dispensing in the washout before index),
    and with a washout whether they are new users (``eligible_k``: the shares' denominator)."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    cohort = cohort_members(query, leaves)
    items = Leaves(source="cohort", period=query.index.period)
    event_date = col("event_date", "e")
    offset = days_between(event_date, col("index_date", B))
    follow_up = m.Window(start=0, end=max(result.days))
    columns = []
    for k, drug in enumerate(result.drugs):
        concept = m.PrescriptionConcept(atc=drug.atc)
        first_day: exp.Expr = items.add(
            concept,
            lambda row: exp.Filter(  # offset and follow_up are the same for every drug
                this=exp.Min(this=offset.copy()),
                expression=exp.Where(this=exp.and_(row, window_condition(event_date, follow_up))),
            ),
            follow_up,
        )
        if result.washout_days is not None:
            washout = m.Window(start=-result.washout_days, end=-1)
            prevalent_user = event_leaf(concept, washout, 1, items)
            first_day = exp.Case().when(prevalent_user.copy(), exp.null()).else_(first_day)
            columns.append(exp.alias_(exp.Not(this=exp.Paren(this=prevalent_user)), f"eligible_{k}"))
        columns.append(exp.alias_(first_day, f"first_day_{k}"))
    select = sqlglot.select(col("pnr", B), *columns).from_(
        exp.alias_(exp.to_table("cohort"), B, table=True), copy=False
    )
    select = with_base(query, select, leaves, needs, cohort, items)
    names = tuple(f"first_day_{k}" for k in range(len(result.drugs)))
    registers = base_registers(query, needs) | leaves.registers | items.registers
    registers |= RELATION_REGISTERS["prescription_events"]
    return CompiledQuery(select, frozenset(registers), names)


# The status of a member's follow-up at its end (``compile_time_to_event``).
FOLLOW_UP_EVENT = "event"
FOLLOW_UP_COMPETING = "competing"
FOLLOW_UP_CENSORED = "censored"


def compile_time_to_event(
    query: m.Query, result: m.TimeToEventResult, end_of_data: dt.date, columns: tuple[str, ...]
) -> CompiledQuery:
    """Cohort members with their follow-up: ``time``, the days from index to its end (the first
    outcome after index, death, emigration, the registers' last date ``end_of_data`` or the end of
    follow-up, whichever is first), and ``status`` there (the outcome wins a tie with death, death one
    with censoring; death is censoring under Kaplan-Meier). A member with an outcome on or before the
    index date is left out, or has the event on day 0, as the result says. ``columns``: the
    breakdown's column of the base."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    cohort = cohort_members(query, leaves)
    items = Leaves(source="cohort", period=query.index.period)
    horizon = follow_up_days(result)
    index_date = col("index_date", B)
    after_index = m.Window(start=1, end=horizon)
    outcome = result.outcome
    if isinstance(outcome, m.VitalStatusConcept):
        # on the base row already, as in event_leaf
        date = col(vital_status_column(outcome), B)
        days = days_between(date, index_date)
        within = window_condition(date, after_index)
        first_day: exp.Expr = exp.Case().when(within, days).else_(exp.null())
    else:
        event_date = col("event_date", "e")
        offset = days_between(event_date, index_date)
        first_day = items.add(
            outcome,
            lambda row: exp.Filter(
                this=exp.Min(this=offset.copy()),
                expression=exp.Where(this=exp.and_(row, window_condition(event_date, after_index))),
            ),
            after_index,
        )
    before_index = exp.func(
        "coalesce", event_leaf(outcome, m.Window(start=None, end=0), 1, items), exp.false()
    )

    def days_to(column: str) -> exp.Expr:
        return days_between(col(column, B), index_date)

    end = days_between(date_literal(end_of_data), index_date)
    death = days_to("death_date")
    ends = [
        exp.func("coalesce", first_day.copy(), number(horizon)),
        exp.func("coalesce", death.copy(), number(horizon)),
        exp.func("coalesce", days_to("emigration_date"), number(horizon)),
        end,
    ]
    observed = exp.Least(this=number(horizon), expressions=ends)
    outcome_first = before_index if result.outcome_before_index == "day_zero" else exp.false()
    time = exp.Case().when(outcome_first.copy(), number(0)).else_(observed)
    status = exp.Case().when(outcome_first.copy(), exp.Literal.string(FOLLOW_UP_EVENT))
    status = status.when(
        exp.EQ(this=first_day.copy(), expression=observed.copy()), exp.Literal.string(FOLLOW_UP_EVENT)
    )
    if result.method == "aalen_johansen":
        status = status.when(
            exp.EQ(this=death.copy(), expression=observed.copy()), exp.Literal.string(FOLLOW_UP_COMPETING)
        )
    status = status.else_(exp.Literal.string(FOLLOW_UP_CENSORED))
    # a member followed from before death or emigration (only without alive_and_resident_at_index
    # can they come first) has no follow-up to count
    conditions: list[exp.Expr] = [exp.GTE(this=time.copy(), expression=number(0))]
    if result.outcome_before_index == "exclude":
        conditions.append(exp.Not(this=exp.paren(before_index.copy())))
    select = (
        sqlglot.select(
            col("pnr", B),
            *[col(c, B) for c in columns],
            exp.alias_(time, "time"),
            exp.alias_(status, "status"),
        )
        .from_(exp.alias_(exp.to_table("cohort"), B, table=True), copy=False)
        .where(exp.and_(*conditions), copy=False)
    )
    select = with_base(query, select, leaves, needs, cohort, items)
    registers = base_registers(query, needs) | leaves.registers | items.registers
    registers |= RELATION_REGISTERS["persons"] | concept_registers(outcome)
    return CompiledQuery(select, frozenset(registers), (*columns, "time", "status"))


def compile_incidence_cases(query: m.Query) -> CompiledQuery:
    """Every person who ever had the concept (first-ever event date), with residence dates, sex
    and region; the engine derives yearly incident and prevalent cases from these rows."""
    events = concept_first_events(query.index.concept).subquery("e")
    first = sqlglot.select(col("pnr"), exp.alias_(exp.Min(this=col("event_date")), "first_date")).from_(
        events
    )
    first = first.group_by("pnr")
    select = (
        sqlglot.select(
            col("pnr", "f"),
            col("first_date", "f"),
            *[
                col(c, "p")
                for c in ("sex", "region", "birth_date", "immigration_date", "death_date", "emigration_date")
            ],
        )
        .from_(exp.alias_(exp.to_table("first_events"), "f", table=True))
        .join(
            exp.alias_(exp.to_table("persons"), "p", table=True),
            on=exp.EQ(this=col("pnr", "p"), expression=col("pnr", "f")),
        )
        .with_("first_events", as_=first)
    )
    select = select.where(exp.and_(*population_filters("p", query.population)))
    columns = (
        "first_date",
        "sex",
        "region",
        "birth_date",
        "immigration_date",
        "death_date",
        "emigration_date",
    )
    return CompiledQuery(select, frozenset(concept_registers(query.index.concept)), columns)


def compile_incident_episodes(query: m.Query) -> CompiledQuery:
    """Every episode of the index concept (``incident_events``: an event with none in the
    look-back before it, and the episode's last event), for incidence with ``first_in_lookback``;
    the engine joins them to the cases' rows by person."""
    assert query.index.lookback is not None
    select = incident_events(query.index.concept, query.index.lookback.days)
    return CompiledQuery(
        select, frozenset(concept_registers(query.index.concept)), ("event_date", "last_date")
    )


def population_filters(person: str, population: m.Population) -> list[exp.Expr]:
    conditions: list[exp.Expr] = [exp.true()]
    if population.sex is not None:
        conditions.append(exp.EQ(this=col("sex", person), expression=number(m.SEX_CODES[population.sex])))
    if population.regions is not None:
        conditions.append(col("region", person).isin(*[number(r) for r in population.regions]))
    return conditions


def compile_population_years(
    query: m.Query,
    first_year: int,
    last_year: int,
    by: str | None,
    precomputed: tuple[int, int] | None = None,
    observed_after_days: int = 0,
) -> exp.Select:
    """Resident persons and person-days per calendar year (and breakdown): the denominators of
    incidence and prevalence. From the layout's ``population_years`` when it covers the years
    (``precomputed`` = its first and last year), else straight from the population register.
    With ``observed_after_days`` (a look-back), only the days after that many days of residence,
    always from the population register."""
    groups = ["year", *([by] if by else [])]
    filters = population_filters("p", query.population)
    if observed_after_days:
        return population_days(first_year, last_year, groups, filters, observed_after_days)
    if precomputed is None or not (precomputed[0] <= first_year and last_year <= precomputed[1]):
        return population_days(first_year, last_year, groups, filters)
    years = exp.Between(this=col("year", "p"), low=number(first_year), high=number(last_year))
    return (
        sqlglot.select(
            *[col(g, "p") for g in groups],
            exp.alias_(exp.Sum(this=col("persons", "p")), "persons"),
            exp.alias_(exp.Sum(this=col("person_days", "p")), "person_days"),
        )
        .from_(exp.alias_(exp.to_table("population_years"), "p", table=True), copy=False)
        .where(exp.and_(years, *filters), copy=False)
        .group_by(*[col(g, "p") for g in groups], copy=False)
    )


def lab_value_leaf(measure: m.LabValueMeasure, leaves: Leaves) -> exp.Expr:
    """The latest day with a result of the measure's codes (and unit) in its window: the highest
    exactly reported value of that day, NULL when that day's results are all censored (``<5``) or
    unreadable. ``arg_max_null`` over (date, exact value or -inf) keeps such a day as the latest."""
    event_date, value, bound = col("event_date", "e"), col("value", "e"), col("bound", "e")

    def aggregate(row_condition: exp.Expr) -> exp.Expr:
        condition = exp.and_(row_condition, window_condition(event_date, measure.window))
        exact = exp.Case(
            ifs=[exp.If(this=exp.Is(this=bound.copy(), expression=exp.null()), true=value.copy())]
        )
        order = exp.func("row", event_date.copy(), exp.func("coalesce", exact.copy(), number(-1e308)))
        latest = exp.func("arg_max_null", exact, order)
        return exp.Filter(this=latest, expression=exp.Where(this=condition))

    leaves.registers |= concept_registers(lab_measure_concept(measure))
    return leaves.add(lab_measure_concept(measure), aggregate, measure.window)


def compile_table_one(query: m.Query, result: m.TableOneResult, stratum_column: str | None) -> CompiledQuery:
    """Cohort members with one boolean per binary item (``flag_<k>``), one value per continuous
    item (``value_<k>``, NULL without one), the exposure flag and the breakdown's column."""
    needs = needs_of(query)
    leaves = Leaves(period=query.index.period)
    cohort = cohort_members(query, leaves)
    items = Leaves(source="cohort", period=query.index.period)
    expressions: list[exp.Expr] = [
        exp.alias_(
            exp.func("coalesce", concept_condition(i.concept, i.window, i.min_count, items), exp.false()),
            f"flag_{k}",
        )
        for k, i in enumerate(result.items)
    ]
    names = [f"flag_{k}" for k in range(len(result.items))]
    for k, item in enumerate(result.continuous):
        if isinstance(item.measure, m.AgeAtIndexMeasure):
            value: exp.Expr = exp.cast(col("age", B), "DOUBLE")
        else:
            value = exp.cast(lab_value_leaf(item.measure, items), "DOUBLE")
        expressions.append(exp.alias_(value, f"value_{k}"))
        names.append(f"value_{k}")
    if result.exposure is not None:
        exposure = result.exposure
        flag = concept_condition(exposure.concept, exposure.window, exposure.min_count, items)
        expressions.append(exp.alias_(exp.func("coalesce", flag, exp.false()), "exposed"))
        names.append("exposed")
    if stratum_column is not None:
        expressions.append(col(stratum_column, B))
        names.append(stratum_column)
    select = sqlglot.select(col("pnr", B), *expressions).from_(
        exp.alias_(exp.to_table("cohort"), B, table=True), copy=False
    )
    select = with_base(query, select, leaves, needs, cohort, items)
    registers = base_registers(query, needs) | leaves.registers | items.registers
    return CompiledQuery(select, frozenset(registers), tuple(names))
