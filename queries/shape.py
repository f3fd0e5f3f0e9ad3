"""What a query will produce, computed from the query alone (never by running it): for pricing
and quoting."""

from __future__ import annotations

import math
from dataclasses import dataclass

from queries import model as m
from queries.compiler import concept_registers, walk_concepts
from queries.dimensions import breakdown_dimension, curve_interval_ends, table_one_strata, uptake_categories
from queries.storage import RELATION_REGISTERS


@dataclass(frozen=True)
class QueryShape:
    result_kind: str
    registers: frozenset[str]  # register names as in synthetic_registers.schema.Table.register
    cells: int  # cells over all returned tables, margins included
    dimensions: int  # breakdown dimensions of the main table
    differential_privacy: bool


def query_registers(query: m.Query) -> frozenset[str]:
    registers: set[str] = set(RELATION_REGISTERS["persons"])
    for concept in walk_concepts(query):
        registers |= concept_registers(concept)
    if any(b.by == "education" for b in getattr(query.result, "breakdowns", ())):
        registers |= RELATION_REGISTERS["education"]
    return frozenset(registers)


def query_shape(query: m.Query) -> QueryShape:
    result = query.result
    if isinstance(result, m.CohortCountResult):
        sizes = [len(breakdown_dimension(b, query).categories) + 1 for b in result.breakdowns]
        cells, dimensions = math.prod(sizes), len(sizes)
    elif isinstance(result, m.AttritionResult):
        cells, dimensions = 2 + len(query.criteria), 1
    elif isinstance(result, m.CharacteristicsResult):
        cells, dimensions = 1 + len(result.items), 1
    elif isinstance(result, m.IncidencePrevalenceResult):
        years = query.index.period.end.year - query.index.period.start.year + 1
        strata = [len(breakdown_dimension(b, query).categories) + 1 for b in result.breakdowns]
        cells, dimensions = years * 2 * math.prod(strata), 2 + len(strata)
    elif isinstance(result, m.TreatmentUptakeResult):
        cells, dimensions = 1 + len(result.drugs) * len(uptake_categories(result)), 2
    elif isinstance(result, m.TimeToEventResult):
        # before merging (merging only removes cells): a row per interval and measure and stratum
        measures = 4 if result.method == "aalen_johansen" else 3
        strata = [len(breakdown_dimension(b, query).categories) + 1 for b in result.breakdowns]
        cells = len(curve_interval_ends(result)) * measures * math.prod(strata)
        dimensions = 2 + len(strata)
    elif isinstance(result, m.BiobankAvailabilityResult):
        types = len(set(result.sample_types))
        cells, dimensions = 1 + types + (1 if types > 1 else 0), 1
    elif isinstance(result, m.TableOneResult):
        table_strata = table_one_strata(result, query)
        columns = 1 if table_strata is None else len(table_strata[1]) + 1
        cells = columns * (1 + len(result.items) + len(result.continuous))
        dimensions = 1 if table_strata is None else 2
    else:
        raise TypeError(f"unknown result kind {result!r}")
    return QueryShape(
        result_kind=result.kind,
        registers=query_registers(query),
        cells=cells,
        dimensions=dimensions,
        differential_privacy=query.disclosure is not None and query.disclosure.noise == "gaussian",
    )
