"""Breakdown dimensions: their names and categories, fixed by the query alone (never by the data,
so a table's shape reveals nothing), and how a person's value maps to a category."""

from __future__ import annotations

from dataclasses import dataclass

from queries import model as m

UNKNOWN = "unknown"


@dataclass(frozen=True)
class BreakdownDimension:
    name: str
    source_column: str  # column of the population base
    categories: tuple[str | int, ...]
    codes: tuple[int | None, ...] | None = None  # raw value per category (None = "any other")
    band_starts: tuple[int, ...] | None = None  # for age bands: the first age of each band

    def label(self, value: int | None) -> str | int:
        """The category of one raw value (reference engine; the DuckDB engine vectorises this)."""
        if self.band_starts is not None:
            assert value is not None  # an age: every person has one
            index = sum(1 for start in self.band_starts if value >= start) - 1
            return self.categories[index]
        assert self.codes is not None
        if value in self.codes:
            return self.categories[self.codes.index(value)]
        return UNKNOWN


def age_band_starts(
    breakdown: m.AgeBandBreakdown, population: m.Population
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    low = population.age.min if population.age and population.age.min is not None else 0
    high = population.age.max if population.age and population.age.max is not None else 120
    first = (low // breakdown.width) * breakdown.width
    starts = [s for s in range(first, breakdown.top, breakdown.width) if s <= high]
    labels = [f"{s}-{min(s + breakdown.width, breakdown.top) - 1}" for s in starts]
    if high >= breakdown.top:
        starts.append(breakdown.top)
        labels.append(f"{breakdown.top}+")
    # the first band starts at the lowest possible age so every eligible person has a band
    return tuple(starts), tuple(labels)


def breakdown_dimension(breakdown: m.Model, query: m.Query) -> BreakdownDimension:
    if isinstance(breakdown, m.SexBreakdown):
        return BreakdownDimension("sex", "sex", ("male", "female"), codes=(1, 2))
    if isinstance(breakdown, m.AgeBandBreakdown):
        starts, labels = age_band_starts(breakdown, query.population)
        return BreakdownDimension("age_band", "age", labels, band_starts=starts)
    if isinstance(breakdown, m.RegionBreakdown):
        regions = tuple(query.population.regions or sorted(m.REGION_NAMES))
        return BreakdownDimension(
            "region", "region", tuple(m.REGION_NAMES[r] for r in regions), codes=tuple(regions)
        )
    if isinstance(breakdown, m.IndexYearBreakdown):
        years = tuple(range(query.index.period.start.year, query.index.period.end.year + 1))
        return BreakdownDimension("index_year", "index_year", years, codes=years)
    if isinstance(breakdown, m.EducationBreakdown):
        levels = tuple(sorted(m.EDUCATION_LEVEL_NAMES))
        return BreakdownDimension(
            "education",
            "education_level",
            (*(m.EDUCATION_LEVEL_NAMES[level] for level in levels), UNKNOWN),
            codes=(*levels, None),
        )
    raise TypeError(f"unknown breakdown {breakdown!r}")


def uptake_day_label(days: int) -> str:
    return f"{days} days"


# The uptake row of each drug group's new users (no dispensing in the washout before index): the
# denominator of its cumulative shares, released as a count like every cell.
UPTAKE_ELIGIBLE = "eligible new users"


def uptake_categories(result: m.TreatmentUptakeResult) -> tuple[str, ...]:
    """The categories of an uptake table's ``within`` dimension, fixed by the query alone."""
    labels = tuple(uptake_day_label(d) for d in sorted(set(result.days)))
    return (UPTAKE_ELIGIBLE, *labels) if result.washout_days is not None else labels


def table_one_strata(result: m.TableOneResult, query: m.Query) -> tuple[str, tuple[str | int, ...]] | None:
    """(dimension name, categories) a Table 1 is stratified by, fixed by the query alone."""
    if result.exposure is not None:
        return "exposure", (m.EXPOSED, m.UNEXPOSED)
    if result.breakdowns:
        dimension = breakdown_dimension(result.breakdowns[0], query)
        return dimension.name, dimension.categories
    return None


# --- time to event ---------------------------------------------------------------------------------

# The most intervals a curve table may have before merging (each has 3 or 4 cells per stratum).
MAX_CURVE_INTERVALS = 80


def follow_up_days(result: m.TimeToEventResult) -> int:
    """The day after index at which everyone still followed is censored."""
    return result.max_follow_up_days or max(result.time_points)


def curve_interval_ends(result: m.TimeToEventResult) -> tuple[int, ...]:
    """The last day of each interval of the curve, before disclosure control merges any: every time
    point, the end of follow-up, and every ``interval_days`` between them where that leaves both
    neighbours at least the policy's minimum interval long (validation keeps the time points that far
    apart)."""
    from disclosure.policy import MIN_CURVE_INTERVAL_DAYS

    required = sorted({*result.time_points, follow_up_days(result)})
    ends: list[int] = []
    previous = 0
    for point in required:
        grid = (previous // result.interval_days + 1) * result.interval_days
        while grid < point:
            if grid - previous >= MIN_CURVE_INTERVAL_DAYS and point - grid >= MIN_CURVE_INTERVAL_DAYS:
                ends.append(grid)
                previous = grid
            grid += result.interval_days
        ends.append(point)
        previous = point
    return tuple(ends)


def curve_measures(result: m.TimeToEventResult) -> tuple[str, ...]:
    """The rows of each interval: Kaplan-Meier has no competing events (death censors)."""
    from disclosure import curves

    if result.method == "aalen_johansen":
        return curves.AALEN_JOHANSEN_MEASURES
    return curves.KAPLAN_MEIER_MEASURES
