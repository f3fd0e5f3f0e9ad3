"""Build realistic AggregateTables from person-level polars frames, as an engine would."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from pyroaring import BitMap

from disclosure.table import AggregateTable, Cell, Dimension
from queries.registry import RESULT_KINDS


def declared_derived_columns(kind: str) -> tuple[str, ...]:
    """The derived columns an engine hands over with a table of this kind (queries.registry)."""
    return RESULT_KINDS[kind].derived_columns if kind in RESULT_KINDS else ()


def crosstab(
    persons: pl.DataFrame,
    dimensions: Sequence[str],
    *,
    title: str = "table",
    kind: str = "cohort_count",
    registers: Sequence[str] = ("bef",),
    categories: Mapping[str, Sequence[str | int]] | None = None,
    key: str = "pnr",
) -> AggregateTable:
    """Count distinct persons per combination of ``dimensions``, with every margin and every empty cell."""
    categories = dict(categories or {})
    for name in dimensions:
        if name not in categories:
            categories[name] = sorted(persons[name].unique().to_list())
    dims = tuple(Dimension(name, tuple(categories[name])) for name in dimensions)
    cells: list[Cell] = []
    for pattern in itertools.product((False, True), repeat=len(dimensions)):
        grouped = [name for name, is_margin in zip(dimensions, pattern, strict=True) if not is_margin]
        if grouped:
            sets = {
                tuple(row[:-1]): BitMap(np.asarray(row[-1], dtype=np.uint32))
                for row in persons.group_by(grouped).agg(pl.col(key).unique()).iter_rows()
            }
        else:
            sets = {(): BitMap(np.asarray(persons[key].unique().to_numpy(), dtype=np.uint32))}
        for combination in itertools.product(*(categories[name] for name in grouped)):
            members = sets.get(tuple(combination), BitMap())
            values = iter(combination)
            coordinates = tuple(None if is_margin else next(values) for is_margin in pattern)
            cells.append(Cell(coordinates=coordinates, count=len(members), persons=members))
    return AggregateTable(
        kind=kind,
        title=title,
        dimensions=dims,
        cells=tuple(cells),
        registers=frozenset(registers),
        derived_columns=declared_derived_columns(kind),
    )


def subsets_table(
    sets: Mapping[str, BitMap],
    total: BitMap,
    *,
    title: str = "characteristics",
    kind: str = "characteristics",
    dimension: str = "characteristic",
    ordered: bool = False,
    registers: Sequence[str] = ("bef",),
) -> AggregateTable:
    """A table of possibly overlapping person sets (characteristics, attrition steps) plus the cohort."""
    names = tuple(sets)
    cells = [Cell((name,), len(members), members) for name, members in sets.items()]
    cells.append(Cell((None,), len(total), total))
    return AggregateTable(
        kind=kind,
        title=title,
        dimensions=(Dimension(dimension, names, has_total=False),),
        cells=tuple(cells),
        registers=frozenset(registers),
        max_cells_per_person=len(names),
        ordered_dimension=dimension if ordered else None,
        derived_columns=declared_derived_columns(kind),
    )


def synthetic_persons(
    n: int,
    seed: int = 7,
    regions: Sequence[str] = ("North", "Central", "South", "Capital", "Zealand"),
    age_bands: Sequence[str] = ("0-17", "18-39", "40-64", "65-79", "80+"),
    first_key: int = 1,
) -> pl.DataFrame:
    """Persons with skewed region and age distributions, so small cells occur naturally."""
    rng = np.random.default_rng(seed)
    region_weights = np.array([0.1, 0.2, 0.2, 0.4, 0.1])[: len(regions)]
    age_weights = np.array([0.05, 0.2, 0.4, 0.3, 0.05])[: len(age_bands)]
    return pl.DataFrame(
        {
            "pnr": np.arange(first_key, first_key + n, dtype=np.uint32),
            "sex": rng.choice(["F", "M"], size=n),
            "region": rng.choice(list(regions), size=n, p=region_weights / region_weights.sum()),
            "age_band": rng.choice(list(age_bands), size=n, p=age_weights / age_weights.sum()),
        }
    )


def table_one_tables(
    strata: Mapping[str, Mapping[int, float]],
    *,
    variable: str = "age",
    binary: Mapping[str, Sequence[int]] | None = None,
    dimension: str = "exposure",
    registers: Sequence[str] = ("bef",),
) -> list[AggregateTable]:
    """A Table 1 as the engines hand it over: the strata's sizes (with their margin), then one
    continuous row (every person of a stratum has a value: ``{stratum: {person: value}}``) and
    optional binary rows (``{name: persons}``), by stratum and overall."""
    categories = tuple(strata)
    members = {name: BitMap(values) for name, values in strata.items()}
    everyone = BitMap.union(*members.values()) if members else BitMap()
    value_of = {person: value for values in strata.values() for person, value in values.items()}
    columns: list[tuple[str | None, BitMap]] = [*members.items(), (None, everyone)]
    sizes = AggregateTable(
        "cohort_count",
        "cohort",
        (Dimension(dimension, categories),),
        tuple(Cell((name,), len(persons), persons) for name, persons in columns),
        frozenset(registers),
    )
    binary = binary or {}
    cells = [
        Cell((variable, name), len(persons), persons, values=tuple(value_of[p] for p in persons))
        for name, persons in columns
    ]
    for row, having in binary.items():
        for name, persons in columns:
            chosen = persons & BitMap(having)
            cells.append(Cell((row, name), len(chosen), chosen))
    table = AggregateTable(
        "table_one",
        "cohort: table 1",
        (Dimension("characteristic", (variable, *binary), has_total=False), Dimension(dimension, categories)),
        tuple(cells),
        frozenset(registers),
        max_cells_per_person=1 + len(binary),
        derived_columns=declared_derived_columns("table_one"),
        continuous_categories=(variable,),
    )
    return [sizes, table]
