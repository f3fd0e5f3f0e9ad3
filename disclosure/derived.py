"""Derived numbers (percentages, rates, cumulative shares) computed only from released counts.

As in ehrql's measures, a ratio is computed from the already protected numerator and denominator,
never from true counts. A derived value is suppressed when its numerator or denominator is
suppressed, or when the complement (denominator minus numerator) is a count of 1..k-1 persons.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from scipy.stats import gamma

from disclosure import curves
from disclosure.policy import DECIMALS, PERSON_YEARS_ROUNDING, RATE_CONFIDENCE_LEVEL, RATE_DECIMALS
from disclosure.table import AggregateTable, Coordinate

PERCENT = "percent"
PERCENT_OF_FIRST_STEP = "percent_of_first_step"
PERCENT_OF_PREVIOUS_STEP = "percent_of_previous_step"
CUMULATIVE_SHARE = "cumulative_share_percent"
RATE_PER_1000_PERSON_YEARS = "rate_per_1000_person_years"
# The exact Poisson confidence interval of the rate (``RATE_CONFIDENCE_LEVEL``), and the person-years
# it and the rate divide by, as released (rounded to ``PERSON_YEARS_ROUNDING``).
RATE_LOWER = RATE_PER_1000_PERSON_YEARS + "_lower"
RATE_UPPER = RATE_PER_1000_PERSON_YEARS + "_upper"
PERSON_YEARS = "person_years"
# The columns that need person-time: a table without it gets none of them.
PERSON_TIME_COLUMNS = (RATE_PER_1000_PERSON_YEARS, RATE_LOWER, RATE_UPPER, PERSON_YEARS)
# time to event (``disclosure.curves``): on each interval's events row
CUMULATIVE_INCIDENCE = curves.CUMULATIVE_INCIDENCE
CI_LOWER = curves.CI_LOWER
CI_UPPER = curves.CI_UPPER


def share(numerator: int | None, denominator: int | None, threshold: int) -> float | None:
    """numerator / denominator in percent, from released values only; None when it could disclose."""
    if numerator is None or denominator is None or denominator <= 0:
        return None
    complement = denominator - numerator
    if 1 <= complement <= threshold - 1:
        return None
    return round(100.0 * numerator / denominator, DECIMALS)


def released_person_years(person_years: float | None) -> int | None:
    """Person-time as released: rounded to ``PERSON_YEARS_ROUNDING``; None when it rounds to none."""
    if person_years is None:
        return None
    rounded = PERSON_YEARS_ROUNDING * round(person_years / PERSON_YEARS_ROUNDING)
    return rounded if rounded > 0 else None


def rate_per_1000(count: int | None, person_years: float | None) -> float | None:
    """Rate per 1,000 person-years from a released count and person-time rounded to
    ``PERSON_YEARS_ROUNDING`` (so the rate never pins person-time more finely than that)."""
    rounded = released_person_years(person_years)
    if count is None or count < 0 or rounded is None:
        return None
    return round(1000.0 * count / rounded, RATE_DECIMALS)


def poisson_interval(count: int, level: float = RATE_CONFIDENCE_LEVEL) -> tuple[float, float]:
    """The exact (Garwood) confidence interval of a Poisson mean from one observed count: the
    gamma (equivalently chi-square, chi2(2k) / 2) quantiles, lower bound 0 for a count of 0."""
    if count < 0:
        raise ValueError("a Poisson count is not negative")
    tail = (1.0 - level) / 2
    lower = 0.0 if count == 0 else float(gamma.ppf(tail, count))
    upper = float(gamma.ppf(1.0 - tail, count + 1))
    return lower, upper


def rate_interval_per_1000(count: int | None, person_years: float | None) -> tuple[float, float] | None:
    """The exact Poisson interval of the rate per 1,000 person-years, from the released count and
    the released (rounded) person-years only, widened outwards to ``RATE_DECIMALS`` so it always
    contains the released rate. None where the rate is not released."""
    rounded = released_person_years(person_years)
    if count is None or count < 0 or rounded is None:
        return None
    lower, upper = poisson_interval(count)
    scale = 10**RATE_DECIMALS
    return (
        math.floor(1000.0 * lower / rounded * scale) / scale,
        math.ceil(1000.0 * upper / rounded * scale) / scale,
    )


def rate_columns(
    count: int | None, person_years: float | None, columns: Sequence[str]
) -> dict[str, float | None]:
    """A cell's rate, its interval and its person-years, from the released count and the person-years
    rounded as released. Beside a hidden count all of them are hidden too: its person-years would
    tell how much time the hidden cases took from the population's (and rate and interval would
    give the count back)."""
    rate = rate_per_1000(count, person_years)
    interval = rate_interval_per_1000(count, person_years) if rate is not None else None
    values: dict[str, float | None] = {
        RATE_PER_1000_PERSON_YEARS: rate,
        RATE_LOWER: interval[0] if interval else None,
        RATE_UPPER: interval[1] if interval else None,
        PERSON_YEARS: float(released_person_years(person_years) or 0) if rate is not None else None,
    }
    return {name: value for name, value in values.items() if name in columns}


def derived_columns_for(table: AggregateTable) -> tuple[str, ...]:
    """The derived columns the table's result kind declares; a rate only where the table carries
    person-time, its public denominator."""
    has_person_time = any(_person_years(c.measures) for c in table.cells)
    return tuple(
        column for column in table.derived_columns if column not in PERSON_TIME_COLUMNS or has_person_time
    )


def _person_years(measures: Mapping[str, float]) -> float | None:
    """Time at risk for incident cells, person-time for prevalent ones (public denominators)."""
    for name in ("person_years_at_risk", "person_years"):
        if name in measures:
            return measures[name]
    return None


def _share_dimension(table: AggregateTable) -> int | None:
    """The dimension whose margin is the denominator: the ordered one, else the first non-summable one."""
    names = [d.name for d in table.dimensions]
    if table.ordered_dimension in names:
        return names.index(table.ordered_dimension)
    for d, dimension in enumerate(table.dimensions):
        if not dimension.has_total:
            return d
    return None


def compute(
    table: AggregateTable,
    coordinates: Sequence[tuple[Coordinate, ...]],
    released: Sequence[int | None],
    threshold: int,
    cohort_total: int | None = None,
) -> list[dict[str, float | None]]:
    """Derived values per row; ``released`` holds the protected values (None when suppressed).

    ``cohort_total`` is the released cohort size from the release's total table; it is the
    denominator of shares whose table carries no margin of its own (characteristics, uptake),
    unless the table names a ``denominator_category`` (uptake with a washout: the eligible new users).
    """
    columns = derived_columns_for(table)
    rows: list[dict[str, float | None]] = [{} for _ in coordinates]
    if not columns:
        return rows
    if CUMULATIVE_INCIDENCE in columns:  # a curve: each interval's estimate needs the ones before it
        return curves.cumulative_incidence(table, coordinates, released)
    value_at = dict(zip(coordinates, released, strict=True))
    measures_at = {cell.coordinates: cell.measures for cell in table.cells}
    d = _share_dimension(table)
    for row, coords in zip(rows, coordinates, strict=True):
        value = value_at[coords]
        if RATE_PER_1000_PERSON_YEARS in columns:
            measures = measures_at.get(coords)
            person_years = _person_years(measures) if measures is not None else None
            row.update(rate_columns(value, person_years, columns))
        if d is None:
            continue
        if coords[d] is None:
            for name in columns:
                if name not in PERSON_TIME_COLUMNS:
                    row[name] = None
            continue
        if table.denominator_category is not None:
            if coords[d] == table.denominator_category:
                for name in columns:  # the denominator itself: a count, not a share
                    row[name] = None
                continue
            # Never the cohort total instead: a suppressed denominator hides the shares.
            parent = value_at.get((*coords[:d], table.denominator_category, *coords[d + 1 :]))
        else:
            parent = value_at.get((*coords[:d], None, *coords[d + 1 :]), cohort_total)
        if PERCENT in columns:
            row[PERCENT] = share(value, parent, threshold)
        if CUMULATIVE_SHARE in columns:
            row[CUMULATIVE_SHARE] = share(value, parent, threshold)
        if PERCENT_OF_FIRST_STEP in columns:
            steps = table.dimensions[d].categories
            first = value_at.get((*coords[:d], steps[0], *coords[d + 1 :]))
            position = steps.index(coords[d])
            previous = (
                value_at.get((*coords[:d], steps[position - 1], *coords[d + 1 :])) if position else value
            )
            row[PERCENT_OF_FIRST_STEP] = share(value, first, threshold)
            row[PERCENT_OF_PREVIOUS_STEP] = share(value, previous, threshold)
    return rows
