"""The production engine: compiled SQL on DuckDB over a per-data-version storage layout, and the
result kinds every SQL engine shares (``SQLEngine``; Spark's is ``queries.spark_engine``).

``DuckDBEngine(data_dir).run(query)`` returns unprotected ``AggregateTable``s: true counts and
each cell's person set. The person-level rows of a query are read from the engine as Arrow arrays
of (person key, coordinates) and leave this module only as bitmaps inside the tables.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyroaring import BitMap

from disclosure import curves
from disclosure.table import AggregateTable, Cell, Dimension
from queries import compiler as c
from queries import model as m
from queries.cells import bitmap, cube_cells
from queries.dimensions import (
    UPTAKE_ELIGIBLE,
    BreakdownDimension,
    breakdown_dimension,
    curve_interval_ends,
    curve_measures,
    table_one_strata,
    uptake_categories,
    uptake_day_label,
)
from queries.registry import with_derived_columns
from queries.storage import (
    RELATION_REGISTERS,
    BuildProgress,
    data_version_of,
    layout_connection,
    population_years_coverage,
    raw_parquet_connection,
)
from queries.validation import check_structure
from queries.vocabulary import require_catalog

COHORT_TITLE = "Cohort"
COMPILED_CACHE_SIZE = 256
DAYS_PER_YEAR = 365.25


class SQLEngine:
    """The result kinds over any SQL engine (``queries.engines.Engine``): each query is compiled
    once (cached), rendered in the engine's ``dialect``, run by ``execute_sql``, and its per-person
    rows become ``AggregateTable``s here, with the same numpy and bitmap code for every engine.

    A subclass provides the storage: ``execute_sql(sql) -> pa.Table`` over the relations of
    ``queries.storage``, ``population_years_coverage()``, ``prepare`` and ``close``. A result kind
    added here (and to the compiler) runs on every engine.
    """

    dialect = "duckdb"

    def __init__(self, data_dir: str | Path) -> None:
        self.data_dir = Path(data_dir)
        require_catalog(self.data_dir)  # never serve an extract whose vocabulary would come from rows
        self.data_version = data_version_of(self.data_dir)
        self._catalog: Any = None
        self._lock = threading.Lock()
        self._compiled: OrderedDict[tuple[Any, ...], c.CompiledQuery] = OrderedDict()

    @property
    def catalog(self) -> Any:
        """The register catalog of this extract (code lists, coverage), loaded once."""
        with self._lock:
            if self._catalog is None:
                from queries.vocabulary import load_catalog

                self._catalog = load_catalog(self.data_dir)
            return self._catalog

    def prepare(self, progress: BuildProgress | None = None) -> None:
        """Open the storage now instead of on the first query."""

    def close(self) -> None:
        """Release the storage (the engine opens it again if asked another question)."""

    def execute_sql(self, sql: str) -> pa.Table:
        raise NotImplementedError

    def population_years_coverage(self) -> tuple[int, int] | None:
        """First and last year of a precomputed ``population_years`` relation, None without one."""
        return None

    def compiled(self, key: tuple[Any, ...], build: Callable[[], c.CompiledQuery]) -> c.CompiledQuery:
        """Compile once per distinct query (queries are immutable and hashable): a repeated or
        refreshed question skips compilation and SQL generation."""
        with self._lock:
            found = self._compiled.get(key)
            if found is not None:
                self._compiled.move_to_end(key)
                return found
        compiled = build()
        compiled.sql(self.dialect)  # generate the text outside the lock, once
        with self._lock:
            self._compiled[key] = compiled
            while len(self._compiled) > COMPILED_CACHE_SIZE:
                self._compiled.popitem(last=False)
        return compiled

    def execute(self, compiled: c.CompiledQuery | Any) -> pa.Table:
        """A compiled query's (or a sqlglot expression's) rows, as Arrow."""
        return self.execute_sql(compiled.sql(self.dialect))

    def run(self, query: m.Query) -> list[AggregateTable]:
        check_structure(query)
        return with_derived_columns(self.tables(query))

    def tables(self, query: m.Query) -> list[AggregateTable]:
        result = query.result
        if isinstance(result, m.CohortCountResult):
            return [self._cohort_count(query, result.breakdowns)]
        if isinstance(result, m.AttritionResult):
            return [self._attrition(query)]
        if isinstance(result, m.CharacteristicsResult):
            return self._characteristics(query, result)
        if isinstance(result, m.TreatmentUptakeResult):
            return self._treatment_uptake(query, result)
        if isinstance(result, m.BiobankAvailabilityResult):
            return self._biobank(query, result)
        if isinstance(result, m.IncidencePrevalenceResult):
            return [self._incidence_prevalence(query, result)]
        if isinstance(result, m.TableOneResult):
            return self._table_one(query, result)
        if isinstance(result, m.TimeToEventResult):
            return [time_to_event_table(self, query, result)]
        raise TypeError(f"unknown result kind {result!r}")

    # --- result kinds ------------------------------------------------------------------------

    def _cohort_count(self, query: m.Query, breakdowns: tuple[m.Model, ...]) -> AggregateTable:
        dimensions = [breakdown_dimension(b, query) for b in breakdowns]
        columns = tuple(d.source_column for d in dimensions)
        compiled = self.compiled(("cohort", query), lambda: c.compile_cohort_rows(query, columns))
        rows = self.execute(compiled)
        persons = _keys(rows)
        indices = [_category_indices(rows.column(d.source_column), d) for d in dimensions]
        cells = cube_cells(persons, indices, [d.categories for d in dimensions])
        return AggregateTable(
            kind="cohort_count",
            title=query.title or COHORT_TITLE,
            dimensions=tuple(Dimension(d.name, d.categories) for d in dimensions),
            cells=tuple(cells),
            registers=compiled.registers,
            max_cells_per_person=1,
            ordered_dimension="index_year" if any(d.name == "index_year" for d in dimensions) else None,
        )

    def _attrition(self, query: m.Query) -> AggregateTable:
        compiled = self.compiled(("attrition", query), lambda: c.compile_attrition(query))
        rows = self.execute(compiled)
        persons = _keys(rows)
        remaining = np.ones(len(persons), dtype=bool)
        steps: list[tuple[str, np.ndarray]] = [("index event", remaining.copy())]
        remaining &= _bools(rows.column("eligible"))
        steps.append(("population at index", remaining.copy()))
        for k, label in enumerate(compiled.step_names):
            remaining &= _bools(rows.column(f"step_{k}"))
            steps.append((label, remaining.copy()))
        categories = _unique_labels([label for label, _ in steps])
        cells = tuple(
            _cell((category,), persons[mask]) for category, (_, mask) in zip(categories, steps, strict=True)
        )
        return AggregateTable(
            kind="attrition",
            title=(query.title or COHORT_TITLE) + ": attrition",
            dimensions=(Dimension("step", categories, has_total=False),),
            cells=cells,
            registers=compiled.registers,
            max_cells_per_person=len(categories),
            ordered_dimension="step",
        )

    def _flags_table(
        self,
        query: m.Query,
        kind: str,
        title: str,
        dimension: str,
        labels: list[str],
        flags: list[tuple[m.Model, m.Window | None, int]],
    ) -> list[AggregateTable]:
        compiled = self.compiled(("flags", query), lambda: c.compile_flags(query, flags))
        rows = self.execute(compiled)
        persons = _keys(rows)
        categories = _unique_labels(labels)
        cells = tuple(
            _cell((category,), persons[_bools(rows.column(f"flag_{k}"))])
            for k, category in enumerate(categories)
        )
        table = AggregateTable(
            kind=kind,
            title=title,
            dimensions=(Dimension(dimension, categories, has_total=False),),
            cells=cells,
            registers=compiled.registers,
            max_cells_per_person=len(categories),
        )
        return [self._cohort_total(query, persons, compiled.registers), table]

    def _cohort_total(self, query: m.Query, persons: np.ndarray, registers: frozenset[str]) -> AggregateTable:
        return AggregateTable(
            kind="cohort_count",
            title=query.title or COHORT_TITLE,
            dimensions=(),
            cells=(_cell((), persons),),
            registers=registers,
        )

    def _characteristics(self, query: m.Query, result: m.CharacteristicsResult) -> list[AggregateTable]:
        return self._flags_table(
            query,
            "characteristics",
            (query.title or COHORT_TITLE) + ": characteristics",
            "characteristic",
            [item.name for item in result.items],
            [(item.concept, item.window, item.min_count) for item in result.items],
        )

    def _table_one(self, query: m.Query, result: m.TableOneResult) -> list[AggregateTable]:
        breakdown = breakdown_dimension(result.breakdowns[0], query) if result.breakdowns else None
        column = breakdown.source_column if breakdown is not None else None
        compiled = self.compiled(("table_one", query), lambda: c.compile_table_one(query, result, column))
        rows = self.execute(compiled)
        persons = _keys(rows)
        strata = table_one_strata(result, query)
        if result.exposure is not None:
            positions = np.where(_bools(rows.column("exposed")), 0, 1)
        elif breakdown is not None:
            positions = _category_indices(rows.column(breakdown.source_column), breakdown)
        else:
            positions = np.zeros(len(persons), dtype=np.int64)
        # the strata, then their margin (everyone); one margin only when the table is not stratified
        categories: tuple[str | int | None, ...] = (*strata[1], None) if strata is not None else (None,)
        in_stratum = [
            np.ones(len(persons), dtype=bool) if category is None else positions == p
            for p, category in enumerate(categories)
        ]
        labels = _unique_labels([i.name for i in result.items] + [i.name for i in result.continuous])
        binary, continuous = labels[: len(result.items)], labels[len(result.items) :]
        characteristics: list[tuple[str, np.ndarray, np.ndarray | None]] = [
            (label, _bools(rows.column(f"flag_{k}")), None) for k, label in enumerate(binary)
        ]
        for k, label in enumerate(continuous):
            values = pc.cast(rows.column(f"value_{k}"), pa.float64()).to_numpy(zero_copy_only=False)
            values = np.asarray(values, dtype=np.float64)
            characteristics.append((label, ~np.isnan(values), values))

        def coordinates(*head: str) -> list[tuple]:
            return [(*head,) if strata is None else (*head, category) for category in categories]

        cells = []
        for label, has, values in characteristics:
            for coords, members in zip(coordinates(label), in_stratum, strict=True):
                chosen = has & members
                keys = persons[chosen]
                order = np.argsort(keys, kind="stable")
                cell = _cell(coords, keys)
                if values is not None:
                    cell = dataclasses.replace(cell, values=tuple(float(v) for v in values[chosen][order]))
                cells.append(cell)
        dimensions: tuple[Dimension, ...] = (Dimension("characteristic", labels, has_total=False),)
        if strata is not None:
            dimensions += (Dimension(strata[0], strata[1]),)
        table = AggregateTable(
            kind="table_one",
            title=(query.title or COHORT_TITLE) + ": table 1",
            dimensions=dimensions,
            cells=tuple(cells),
            registers=compiled.registers,
            max_cells_per_person=len(labels),
            continuous_categories=continuous,
        )
        if strata is None:
            return [self._cohort_total(query, persons, compiled.registers), table]
        sizes = AggregateTable(
            kind="cohort_count",
            title=query.title or COHORT_TITLE,
            dimensions=(Dimension(strata[0], strata[1]),),
            cells=tuple(
                _cell((category,), persons[members])
                for category, members in zip(categories, in_stratum, strict=True)
            ),
            registers=compiled.registers,
        )
        return [sizes, table]

    def _biobank(self, query: m.Query, result: m.BiobankAvailabilityResult) -> list[AggregateTable]:
        types = list(dict.fromkeys(result.sample_types))
        flags: list[tuple[m.Model, m.Window | None, int]] = [
            (m.BiobankSampleConcept(sample_types=(t,)), result.window, 1) for t in types
        ]
        labels: list[str] = list(types)
        if len(types) > 1:
            flags.append((m.BiobankSampleConcept(sample_types=tuple(types)), result.window, 1))
            labels.append("any of these")
        return self._flags_table(
            query,
            "biobank_availability",
            (query.title or COHORT_TITLE) + ": biobank samples",
            "sample_type",
            labels,
            flags,
        )

    def _treatment_uptake(self, query: m.Query, result: m.TreatmentUptakeResult) -> list[AggregateTable]:
        compiled = self.compiled(("uptake", query), lambda: c.compile_treatment_uptake(query, result))
        rows = self.execute(compiled)
        persons = _keys(rows)
        drugs = _unique_labels([drug.name for drug in result.drugs])
        days = sorted(set(result.days))
        within = uptake_categories(result)
        washout = result.washout_days is not None
        cells = []
        for k, drug in enumerate(drugs):
            if washout:
                cells.append(_cell((drug, UPTAKE_ELIGIBLE), persons[_bools(rows.column(f"eligible_{k}"))]))
            first_day = pc.fill_null(pc.cast(rows.column(f"first_day_{k}"), pa.int64()), -1).to_numpy()
            started = first_day >= 0
            for limit in days:
                cells.append(_cell((drug, uptake_day_label(limit)), persons[started & (first_day <= limit)]))
        table = AggregateTable(
            kind="treatment_uptake",
            title=(query.title or COHORT_TITLE) + ": treatment uptake",
            dimensions=(
                Dimension("drug", drugs, has_total=False),
                Dimension("within", within, has_total=False),
            ),
            cells=tuple(cells),
            registers=compiled.registers,
            max_cells_per_person=len(drugs) * len(within),
            ordered_dimension="within",
            denominator_category=UPTAKE_ELIGIBLE if washout else None,
        )
        return [self._cohort_total(query, persons, compiled.registers), table]

    def _incidence_prevalence(self, query: m.Query, result: m.IncidencePrevalenceResult) -> AggregateTable:
        first_year, last_year = query.index.period.start.year, query.index.period.end.year
        breakdown = breakdown_dimension(result.breakdowns[0], query) if result.breakdowns else None
        by = breakdown.source_column if breakdown else None
        compiled = self.compiled(("cases", query), lambda: c.compile_incidence_cases(query))
        cases = self.execute(compiled)
        population = self.execute(
            c.compile_population_years(query, first_year, last_year, by, self.population_years_coverage())
        )
        lookback = query.index.lookback
        if lookback is None:
            return incidence_prevalence_table(query, cases, population, breakdown, compiled.registers)
        observed = self.execute(
            c.compile_population_years(query, first_year, last_year, by, observed_after_days=lookback.days)
        )
        episodes = None
        if query.index.occurrence == "first_in_lookback":
            episodes = self.execute(
                self.compiled(("episodes", query), lambda: c.compile_incident_episodes(query))
            )
        return incidence_prevalence_table(
            query, cases, population, breakdown, compiled.registers, observed, episodes
        )


def time_to_event_table(self: SQLEngine, query: m.Query, result: m.TimeToEventResult) -> AggregateTable:
    """Per interval of the curve (and stratum): the members at risk at its start, and those whose
    follow-up ends in it with the event, the competing event or censored. Disclosure control merges
    intervals (``disclosure.curves``); this is the table before."""
    breakdown = breakdown_dimension(result.breakdowns[0], query) if result.breakdowns else None
    columns = (breakdown.source_column,) if breakdown else ()
    end_of_data = dt.date(self.catalog.last_year, 12, 31)
    compiled = self.compiled(
        ("time_to_event", query, end_of_data),
        lambda: c.compile_time_to_event(query, result, end_of_data, columns),
    )
    rows = self.execute(compiled)
    order = np.argsort(_keys(rows), kind="stable")
    persons = _keys(rows)[order]
    time = pc.cast(rows.column("time"), pa.int64()).to_numpy(zero_copy_only=False)[order]
    status = np.asarray(rows.column("status").to_pylist(), dtype=object)[order]
    measures = curve_measures(result)
    ends = curve_interval_ends(result)
    labels = curves.interval_labels(ends)
    exits = {
        curves.EVENTS: status == c.FOLLOW_UP_EVENT,
        curves.COMPETING: status == c.FOLLOW_UP_COMPETING,
        curves.CENSORED: status == c.FOLLOW_UP_CENSORED,
    }
    strata: list[tuple[tuple[str | int | None, ...], np.ndarray]] = [((), np.ones(len(persons), dtype=bool))]
    if breakdown is not None:
        positions = _category_indices(rows.column(breakdown.source_column), breakdown)[order]
        strata = [((None,), np.ones(len(persons), dtype=bool))]
        strata += [((category,), positions == k) for k, category in enumerate(breakdown.categories)]
    cells = []
    for j, (label, end) in enumerate(zip(labels, ends, strict=True)):
        start = ends[j - 1] if j else -1  # day 0 belongs to the first interval
        at_risk = time > start
        ending = at_risk & (time <= end)
        for extra, in_stratum in strata:
            for measure in measures:
                mask = at_risk if measure == curves.AT_RISK else ending & exits[measure]
                cells.append(_cell((label, measure, *extra), persons[mask & in_stratum]))
    dimensions = [
        Dimension(curves.INTERVAL, labels, has_total=False),
        Dimension(curves.MEASURE, measures, has_total=False),
    ]
    if breakdown is not None:
        dimensions.append(Dimension(breakdown.name, breakdown.categories))
    return AggregateTable(
        kind="time_to_event",
        title=(query.title or COHORT_TITLE) + ": time to event",
        dimensions=tuple(dimensions),
        cells=tuple(cells),
        registers=compiled.registers,
        max_cells_per_person=len(labels) + 1,  # at risk in every interval, and one exit
        ordered_dimension=curves.INTERVAL,
        time_points=tuple(sorted(result.time_points)),
    )


class DuckDBEngine(SQLEngine):
    """Thread-safe: one DuckDB connection, a cursor per ``run``.

    ``storage="layout"`` (default) serves from the materialised layout (built on first use, once per
    data version, under a file lock); ``storage="parquet"`` reads the Parquet extract directly.
    """

    dialect = "duckdb"

    def __init__(self, data_dir: str | Path, *, storage: str = "layout") -> None:
        if storage not in {"layout", "parquet"}:
            raise ValueError("storage must be 'layout' or 'parquet'")
        super().__init__(data_dir)
        self.storage = storage
        self._connection: duckdb.DuckDBPyConnection | None = None

    def prepare(self, progress: BuildProgress | None = None) -> None:
        """Open the storage now (building the layout if needed, telling ``progress`` each step)
        instead of on the first query."""
        self._cursor(progress).close()

    def _cursor(self, progress: BuildProgress | None = None) -> duckdb.DuckDBPyConnection:
        with self._lock:
            if self._connection is None:
                if self.storage == "layout":
                    self._connection = layout_connection(self.data_dir, self.data_version, progress)
                else:
                    self._connection = raw_parquet_connection(self.data_dir)
            return self._connection.cursor()

    def population_years_coverage(self) -> tuple[int, int] | None:
        cursor = self._cursor()
        try:
            return population_years_coverage(cursor)
        finally:
            cursor.close()

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def execute_sql(self, sql: str) -> pa.Table:
        cursor = self._cursor()
        try:
            return cursor.sql(sql).to_arrow_table()
        finally:
            cursor.close()


def incidence_prevalence_table(
    query: m.Query,
    cases: pa.Table,
    population: pa.Table,
    breakdown: BreakdownDimension | None,
    registers: frozenset[str],
    observed: pa.Table | None = None,
    episodes: pa.Table | None = None,
) -> AggregateTable:
    """Yearly incident and prevalent cases with person-time, from the cases' rows and the population's
    person-days per year (see ``IncidencePrevalenceResult`` for the definitions). With a look-back,
    ``observed`` holds the population's observed person-days (after a look-back's worth of
    residence: the time at risk is counted from them) and, for ``first_in_lookback``, ``episodes``
    the concept's episodes (an incident event and the last event before a gap longer than the
    look-back); without episodes each case has one, from the first-ever event on."""
    period = query.index.period
    years = list(range(period.start.year, period.end.year + 1))
    # Ordered by person number once, so that every person set built below from these arrays is a
    # sorted slice and becomes a bitmap in one call; the other sets are unions and differences of
    # those (cheap: person numbers are dense, so a set is a few hundred containers).
    persons = _keys(cases)
    order = np.argsort(persons, kind="stable")
    persons = persons[order]
    first = _days(cases.column("first_date"))[order]
    birth = _days(cases.column("birth_date"))
    entry = np.maximum(birth, _days(cases.column("immigration_date"), missing=birth))[order]
    never = np.iinfo(np.int64).max
    leave = np.minimum(
        _days(cases.column("death_date"), missing=never),
        _days(cases.column("emigration_date"), missing=never),
    )[order]
    strata = _category_indices(cases.column(breakdown.source_column), breakdown)[order] if breakdown else None
    categories = breakdown.categories if breakdown else ()
    population_by_key = _population_by_key(population, breakdown)
    at_risk_by_key = population_by_key if observed is None else _population_by_key(observed, breakdown)
    lookback_days = query.index.lookback.days if query.index.lookback is not None else 0

    first_day, last_day = _epoch_day(dt.date(years[0], 1, 1)), _epoch_day(dt.date(years[-1], 12, 31))
    year_starts = np.array([_epoch_day(dt.date(y, 1, 1)) for y in years])
    leave = np.minimum(leave, last_day + 1)  # nothing after the last year matters
    # Episodes, each with its person's position in the arrays above: an incident event (start) and
    # the last day it keeps its person from being at risk (end).
    if episodes is None:
        episode_of = np.arange(len(persons))
        start, end = first, np.full(len(persons), never)
    else:
        keys = _keys(episodes)
        found = np.clip(np.searchsorted(persons, keys), 0, max(len(persons) - 1, 0))
        known = (persons[found] == keys) if len(persons) else np.zeros(len(keys), dtype=bool)
        episode_of = found[known]
        start = _days(episodes.column("event_date"))[known]
        end = _days(episodes.column("last_date"))[known] + lookback_days
        order = np.argsort(episode_of, kind="stable")
        episode_of, start, end = episode_of[order], start[order], end[order]
    observed_from = entry[episode_of] + lookback_days  # the first day with a whole look-back resident
    incident = (start >= max(first_day, _epoch_day(period.start))) & (
        start <= min(last_day, _epoch_day(period.end))
    )
    incident &= (observed_from <= start) & (start <= leave[episode_of])
    # 1 January of every year of the span and of the year after it, so days after the span map to
    # the year after the last (never into the last year: someone arriving on 1 January after the
    # span is not prevalent in it).
    bounds = np.append(year_starts, _epoch_day(dt.date(years[-1] + 1, 1, 1)))
    incident_year = _year_in(start, bounds, years[0])
    first_year_of = _year_in(first, bounds, years[0])
    # prevalent from the year of the first event (or arrival, if later) to the year of leaving
    prevalent_from = np.maximum(np.maximum(first_year_of, _year_in(entry, bounds, years[0])), years[0])
    prevalent_to = _year_in(np.minimum(leave, last_day), bounds, years[0])
    prevalent = (first <= last_day) & (entry <= leave) & (prevalent_from <= prevalent_to)
    # the days after an incident event until its episode ends are not at risk (after the first-ever
    # event: never again); counted only within the observed residence, as the denominator is
    not_at_risk_from = np.maximum(np.maximum(observed_from, start + 1), first_day)
    not_at_risk_to = np.minimum(np.minimum(leave[episode_of], end), last_day)

    # Every stratum straight from the per-person arrays; without a breakdown the one stratum is the
    # margin (None, every person).
    strata_masks: list[tuple[Any, np.ndarray]] = [(None, np.ones(len(persons), dtype=bool))]
    if breakdown:
        assert strata is not None
        strata_masks = [(category, strata == k) for k, category in enumerate(categories)]
    # Year positions 0..len(years)-1 (clipped to -1 and len(years) outside the span) as int16: the
    # per-year comparisons of every stratum then touch a quarter of the memory.
    span = len(years)
    from_position = np.clip(prevalent_from - years[0], -1, span).astype(np.int16)
    to_position = np.clip(prevalent_to - years[0], -1, span).astype(np.int16)
    per_stratum: dict[Any, tuple[list[tuple[BitMap, int]], list[tuple[BitMap, int]], np.ndarray]] = {}
    for stratum, selected in strata_masks:
        chosen = selected & prevalent
        in_stratum = selected[episode_of]
        removed = _days_per_year(
            not_at_risk_from[in_stratum], not_at_risk_to[in_stratum], last_day - first_day, first_day
        )
        removed_per_year = (
            np.add.reduceat(removed, year_starts - first_day) if len(removed) else np.zeros(len(years))
        )
        counted = in_stratum & incident
        incident_persons, incident_years = persons[episode_of[counted]], incident_year[counted]
        if episodes is not None:  # a person with two incident events in a year is one case in it
            incident_persons, incident_years = _distinct_pairs(incident_persons, incident_years)
        incident_sets = _group_bitmaps(incident_persons, incident_years, years)
        # A prevalent case is prevalent in every year from its first to its last: each year's set
        # is the year before's, less those whose last year that was, plus those starting now. Two
        # bitmaps per year are built from arrays; the rest are a few hundred container operations.
        positions = list(range(span))
        starting = _group_bitmaps(persons[chosen], from_position[chosen], positions)
        ending = _group_bitmaps(persons[chosen], to_position[chosen], positions)
        prevalent_sets: list[tuple[BitMap, int]] = []
        current, size = BitMap(), 0
        for k in range(span):
            if k > 0:
                current, size = current - ending[k - 1][0], size - ending[k - 1][1]
            current, size = current | starting[k][0], size + starting[k][1]
            prevalent_sets.append((current, size))
        per_stratum[stratum] = (incident_sets, prevalent_sets, removed_per_year)
    if breakdown:
        # Every case has exactly one category (_category_indices refuses any other value), so the
        # margin's sets are the disjoint unions of the strata's (dense bitmaps: a union is a few
        # hundred container ORs) and its days their sum.
        strata_sets = list(per_stratum.values())
        per_stratum[None] = (
            _disjoint_unions([incident for incident, _, _ in strata_sets]),
            _disjoint_unions([prevalent for _, prevalent, _ in strata_sets]),
            np.sum([removed for _, _, removed in strata_sets], axis=0),
        )
    cells: list[Cell] = []
    for stratum, (incident_sets, prevalent_sets, removed_per_year) in per_stratum.items():
        extra = (stratum,) if breakdown else ()
        for k, year in enumerate(years):
            if stratum is None:
                resident, days = _sum_population(population_by_key, year)
                _, observed_days = _sum_population(at_risk_by_key, year)
            else:
                resident, days = population_by_key.get((year, stratum), (0, 0))
                observed_days = at_risk_by_key.get((year, stratum), (0, 0))[1]
            at_risk_years = (observed_days - int(removed_per_year[k])) / DAYS_PER_YEAR
            measures = {"person_years_at_risk": at_risk_years, "population": float(resident)}
            # sizes come with the sets (counted as they were built)
            incident_set, incident_count = incident_sets[k]
            cells.append(Cell((year, "incident", *extra), incident_count, incident_set, measures))
            measures = {"person_years": days / DAYS_PER_YEAR, "population": float(resident)}
            prevalent_set, prevalent_count = prevalent_sets[k]
            cells.append(Cell((year, "prevalent", *extra), prevalent_count, prevalent_set, measures))
    dimensions = [
        Dimension("year", tuple(years), has_total=False),
        Dimension("measure", ("incident", "prevalent"), has_total=False),
    ]
    if breakdown:
        dimensions.append(Dimension(breakdown.name, breakdown.categories))
    return AggregateTable(
        kind="incidence_prevalence",
        title=(query.title or COHORT_TITLE) + ": incidence and prevalence",
        dimensions=tuple(dimensions),
        cells=tuple(cells),
        registers=registers | RELATION_REGISTERS["persons"],
        # prevalent every year, incident once (with first_in_lookback: in every year)
        max_cells_per_person=len(years) * 2 if episodes is not None else len(years) + 1,
        ordered_dimension="year",
    )


def _population_by_key(
    population: pa.Table, breakdown: BreakdownDimension | None
) -> dict[tuple[int, Any], tuple[int, int]]:
    """(persons, person-days) per (year, stratum) of a population-years table."""
    by_key: dict[tuple[int, Any], tuple[int, int]] = {}
    for row in population.to_pylist():
        stratum = breakdown.label(row[breakdown.source_column]) if breakdown else None
        key = (row["year"], stratum)
        persons_count, days = by_key.get(key, (0, 0))
        by_key[key] = (persons_count + row["persons"], days + int(row["person_days"]))
    return by_key


def _distinct_pairs(persons: np.ndarray, years: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each (person, year) once, ordered by year and then person."""
    if not len(persons):
        return persons, years
    keys = np.unique((years.astype(np.int64) << 32) | persons.astype(np.int64))
    return (keys & 0xFFFFFFFF).astype(persons.dtype), keys >> 32


# --- small helpers -------------------------------------------------------------------------------


def _year_in(epoch_days: np.ndarray, year_starts: np.ndarray, first_year: int) -> np.ndarray:
    """Calendar year of each day, exact within the years whose 1 January are ``year_starts`` (the
    last entry closing the span); earlier days give ``first_year - 1`` and later ones the year after
    the span (callers only compare these with the years of the span)."""
    return np.searchsorted(year_starts, epoch_days, side="right") - 1 + first_year


def _days_per_year(starts: np.ndarray, ends: np.ndarray, span: int, origin: int) -> np.ndarray:
    """How many of the intervals [start, end] (epoch days, inclusive) cover each day of the span."""
    keep = starts <= ends
    starts, ends = starts[keep] - origin, ends[keep] - origin
    changes = (
        np.bincount(starts, minlength=span + 2)[: span + 2]
        - np.bincount(ends + 1, minlength=span + 2)[: span + 2]
    )
    return np.cumsum(changes)[: span + 1]


def _group_bitmaps(persons: np.ndarray, groups: np.ndarray, years: list[int]) -> list[tuple[BitMap, int]]:
    """One bitmap per year of the persons whose group is that year (others are ignored), with its
    size. ``years`` are consecutive; persons sorted in, sorted within each year out."""
    order = np.argsort(groups, kind="stable")
    groups, persons = groups[order], persons[order]
    bounds = np.searchsorted(groups, np.arange(years[0], years[-1] + 2))
    return [_sized_bitmap(persons[bounds[k] : bounds[k + 1]]) for k in range(len(years))]


def _disjoint_unions(per_stratum: list[list[tuple[BitMap, int]]]) -> list[tuple[BitMap, int]]:
    """Year by year, the union of disjoint sized sets, with the sum of their sizes."""
    return [
        (BitMap.union(*(bitmap for bitmap, _ in sets)), sum(size for _, size in sets))
        for sets in zip(*per_stratum, strict=True)
    ]


def _sized_bitmap(sorted_distinct_keys: np.ndarray) -> tuple[BitMap, int]:
    return bitmap(sorted_distinct_keys), len(sorted_distinct_keys)


def _sum_population(population_by_key: dict[tuple[int, Any], tuple[int, int]], year: int) -> tuple[int, int]:
    persons = sum(v[0] for k, v in population_by_key.items() if k[0] == year)
    days = sum(v[1] for k, v in population_by_key.items() if k[0] == year)
    return persons, days


def _epoch_day(value: dt.date) -> int:
    return (value - dt.date(1970, 1, 1)).days


def _days(column: pa.ChunkedArray, missing: np.ndarray | int | None = None) -> np.ndarray:
    """Dates as int64 days since 1970-01-01; nulls become ``missing``."""
    values = pc.cast(column, pa.date32()).cast(pa.int32())
    filled = pc.fill_null(values, 0).to_numpy().astype(np.int64)
    if missing is None:
        return filled
    nulls = pc.is_null(values).to_numpy(zero_copy_only=False)
    return np.where(nulls, missing, filled)


def _keys(rows: pa.Table) -> np.ndarray:
    return rows.column("pnr").to_numpy().astype(np.uint32)


def _bools(column: pa.ChunkedArray) -> np.ndarray:
    return pc.fill_null(column, False).to_numpy(zero_copy_only=False).astype(bool)


def _cell(coordinates: tuple, persons: np.ndarray, measures: dict[str, float] | None = None) -> Cell:
    people = bitmap(persons)
    return Cell(coordinates, len(people), people, measures or {})


def _unique_labels(labels: list[str]) -> tuple[str, ...]:
    """Category labels must be unique; repeated names get a counter."""
    seen: dict[str, int] = {}
    unique = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        unique.append(label if seen[label] == 1 else f"{label} ({seen[label]})")
    return tuple(unique)


def _category_indices(column: pa.ChunkedArray, dimension: BreakdownDimension) -> np.ndarray:
    """Each person's category position in a breakdown dimension, vectorised."""
    if dimension.band_starts is not None:
        values = pc.cast(column, pa.int64()).to_numpy(zero_copy_only=False)
        positions = np.searchsorted(np.asarray(dimension.band_starts), values, side="right") - 1
        if (positions < 0).any():
            raise ValueError(f"{dimension.name}: a value lies below the first category")
        return positions
    assert dimension.codes is not None
    known = [code for code in dimension.codes if code is not None]
    values = pc.fill_null(pc.cast(column, pa.int64()), -1).to_numpy(zero_copy_only=False)
    positions = np.full(len(values), -1, dtype=np.int64)
    for position, code in enumerate(dimension.codes):
        if code is None:
            positions[~np.isin(values, known)] = position
        else:
            positions[values == code] = position
    if (positions < 0).any():
        raise ValueError(f"{dimension.name}: the extract holds a value outside {dimension.categories}")
    return positions
