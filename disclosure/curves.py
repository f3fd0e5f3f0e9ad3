"""Time-to-event curves: coarsening an engine's interval table, and cumulative incidence computed
from the released interval counts only.

An engine hands over a curve as an ``AggregateTable`` with a dimension ``interval`` (ordered, labels
``"0-30"``, ``"31-90"``: days after index, both ends inclusive, day 0 in the first) and a dimension
``measure``: the persons at risk at the start of each interval, those with the event in it, with the
competing event (Aalen-Johansen only) and censored in it, each cell with its person set, and at
most one further (breakdown) dimension with its margin. Before anything else is decided:

1. ``coarsen`` merges adjacent intervals until each is at least ``MIN_CURVE_INTERVAL_DAYS`` long
   and holds none or at least k events, none or at least k competing events and none or at least k
   censored persons, in every stratum (breakdown category or margin) with at least k of them in
   all. The sets of a merged interval are the unions of its parts (and the at-risk set of its first
   part), so the table stays exact: a step of the curve never rests on 1..k-1 persons. In such a
   series a zero is one by construction and is shown as 0 (``Cell.structural_zero``). A breakdown
   category with fewer than k of any of them in all is left out, and with it the margin (which
   would give it by subtraction from the other categories); a table without breakdown in that case
   is left to suppression like any other.
2. ``cumulative_incidence`` reads the *released* values (after suppression, rounding or noise):
   1 - Kaplan-Meier or Aalen-Johansen over the intervals, with a 95 % interval (Greenwood's
   variance, or the delta-method variance of Aalen-Johansen, on the log(-log) scale). A stratum's
   curve stops (None) at the first interval with a count not released.

The interval estimate treats each interval's events as happening before its censoring (the
Kaplan-Meier estimate of the grouped data); with intervals of a month or a quarter that is the
usual life-table reading.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace

from pyroaring import BitMap

from disclosure.policy import CURVE_CONFIDENCE_Z, DECIMALS, MIN_CURVE_INTERVAL_DAYS
from disclosure.table import AggregateTable, Cell, Coordinate, Dimension

INTERVAL = "interval"
MEASURE = "measure"
AT_RISK = "at risk"
EVENTS = "events"
COMPETING = "competing events"
CENSORED = "censored"
KAPLAN_MEIER_MEASURES = (AT_RISK, EVENTS, CENSORED)
AALEN_JOHANSEN_MEASURES = (AT_RISK, EVENTS, COMPETING, CENSORED)

CUMULATIVE_INCIDENCE = "cumulative_incidence_percent"
CI_LOWER = "ci_lower_percent"
CI_UPPER = "ci_upper_percent"
CURVE_COLUMNS = (CUMULATIVE_INCIDENCE, CI_LOWER, CI_UPPER)

MERGED_NOTE = (
    "Adjacent intervals were merged until each holds none or at least {k} events, competing events "
    "and censored persons in every stratum with at least {k} of them in all, and spans at least "
    "{days} days; a 0 there is a true zero."
)


SMALL_STRATA_NOTE = (
    "Categories of {name} with fewer than {k} events, competing events or censored persons in all are "
    "not shown, and neither is the total over {name}, which would show them by subtraction."
)


TOTAL_ONLY_NOTE = (
    "No category of {name} has {k} or more events, competing events and censored persons in all: only "
    "the total curve is shown."
)


def interval_label(start: int, end: int) -> str:
    """Days after index, both inclusive: ``0-30`` (day 0 belongs to the first interval), ``31-90``."""
    return f"{start}-{end}"


def interval_bounds(label: str) -> tuple[int, int]:
    start, end = label.split("-")
    return int(start), int(end)


def interval_labels(ends: Sequence[int]) -> tuple[str, ...]:
    """The labels of intervals ending on these days (increasing): ``[30, 90]`` → ``0-30``, ``31-90``."""
    starts = [0, *(end + 1 for end in ends[:-1])]
    return tuple(interval_label(start, end) for start, end in zip(starts, ends, strict=True))


def is_curve(table: AggregateTable) -> bool:
    return CUMULATIVE_INCIDENCE in table.derived_columns


def _layout(table: AggregateTable) -> tuple[int, int]:
    names = [d.name for d in table.dimensions]
    return names.index(INTERVAL), names.index(MEASURE)


def _stratum(coordinates: tuple[Coordinate, ...], interval: int, measure: int) -> tuple[Coordinate, ...]:
    return tuple(c for d, c in enumerate(coordinates) if d not in (interval, measure))


def _place(
    stratum: tuple[Coordinate, ...], interval: int, measure: int, label: str, what: Coordinate, width: int
) -> tuple[Coordinate, ...]:
    rest = iter(stratum)
    return tuple(label if d == interval else what if d == measure else next(rest) for d in range(width))


def merged_groups(
    widths: Sequence[int],
    counts: Sequence[Sequence[int]],
    threshold: int,
    min_days: int,
    kept_ends: Sequence[bool] = (),
) -> list[list[int]]:
    """Groups of consecutive intervals: each spans ``min_days`` and, for every series in ``counts``
    (one count per interval) whose total is at least ``threshold``, holds none or at least that
    many. An
    interval flagged in ``kept_ends`` (a time point asked for) stays a group's end when the intervals
    since the previous such end can be grouped on their own: what is not enough there joins the
    group before it. What is left at the end joins the last group."""
    active = [series for series in counts if sum(series) >= threshold]

    def enough(group: list[int]) -> bool:
        wide = sum(widths[i] for i in group) >= min_days
        return wide and all(not 0 < sum(series[i] for i in group) < threshold for series in active)

    groups: list[list[int]] = []
    current: list[int] = []
    segment_start = 0  # the first interval after the last kept end
    for j in range(len(widths)):
        current.append(j)
        if enough(current):
            groups.append(current)
            current = []
        kept = j < len(kept_ends) and kept_ends[j]
        if kept and current and groups and groups[-1][0] >= segment_start:
            groups[-1].extend(current)  # still enough: sums only grow
            current = []
        if kept and not current:
            segment_start = j + 1
    if current:
        if groups:
            groups[-1].extend(current)
        else:
            groups.append(current)
    return groups


def coarsen(table: AggregateTable, threshold: int, min_days: int = MIN_CURVE_INTERVAL_DAYS) -> AggregateTable:
    """The curve table as it may be released: breakdown categories too small for a curve left out
    (with the margin), adjacent intervals merged, and zeros of series with k or more in all marked
    as shown (see the module's docstring)."""
    interval, measure = _layout(table)
    labels = table.dimensions[interval].categories
    measures = table.dimensions[measure].categories
    bounds = [interval_bounds(str(label)) for label in labels]
    widths = [end - start + (1 if start > 0 else 0) for start, end in bounds]
    by_coordinates = {cell.coordinates: cell for cell in table.cells}
    strata = sorted(
        {_stratum(c.coordinates, interval, measure) for c in table.cells},
        key=lambda s: tuple((c is not None, str(c)) for c in s),
    )
    width = len(table.dimensions)

    def persons(stratum: tuple[Coordinate, ...], label: str | int, what: Coordinate) -> BitMap:
        found = by_coordinates.get(_place(stratum, interval, measure, str(label), what, width))
        return found.persons if found is not None else BitMap()

    counted = [what for what in measures if what != AT_RISK]

    def total(stratum: tuple[Coordinate, ...], what: Coordinate) -> int:
        return sum(len(persons(stratum, label, what)) for label in labels)

    dimensions = list(table.dimensions)
    notes = list(table.notes)
    others = [d for d in range(width) if d not in (interval, measure)]
    if len(others) == 1:
        # A category with fewer than k events (or competing events, or censored) in all has no
        # curve to show, and its rows would pin its few persons between the risk sets: it is left
        # out, and so is the margin, which would give it by subtraction from the others.
        small = [s for s in strata if s != (None,) and any(total(s, what) < threshold for what in counted)]
        if small:
            breakdown = table.dimensions[others[0]]
            kept = tuple(c for c in breakdown.categories if (c,) not in small)
            strata = [(c,) for c in kept] if kept else [(None,)]
            if kept:
                dimensions[others[0]] = Dimension(breakdown.name, kept, has_total=False)
                notes.append(SMALL_STRATA_NOTE.format(k=threshold, name=breakdown.name))
            else:
                del dimensions[others[0]]
                notes.append(TOTAL_ONLY_NOTE.format(k=threshold, name=breakdown.name))
    series = [[len(persons(s, label, what)) for label in labels] for s in strata for what in counted]
    kept_ends = [end in table.time_points for _, end in bounds]
    groups = merged_groups(widths, series, threshold, min_days, kept_ends)
    active = {(stratum, what) for stratum in strata for what in counted if total(stratum, what) >= threshold}
    new_width = len(dimensions)
    # where the interval and measure dimensions are once a breakdown before them is gone
    new_interval, new_measure = (
        (interval, measure)
        if new_width == width
        else (_after(interval, others[0]), _after(measure, others[0]))
    )
    new_labels = tuple(interval_label(bounds[g[0]][0], bounds[g[-1]][1]) for g in groups)
    cells: list[Cell] = []
    for stratum in strata:
        for group, label in zip(groups, new_labels, strict=True):
            for what in measures:
                if what == AT_RISK:
                    members = BitMap(persons(stratum, labels[group[0]], what))
                else:
                    members = BitMap()
                    for j in group:
                        members |= persons(stratum, labels[j], what)
                released_stratum = stratum if new_width == width else ()
                coordinates = _place(released_stratum, new_interval, new_measure, label, what, new_width)
                # In a series with k or more persons in all, merging leaves no interval with 1..k-1:
                # a zero there is one by the release's construction, shown as 0 (the "<k" marker
                # would hide a flat step of the curve and tell nothing it does not).
                empty = not members and (stratum, what) in active
                cells.append(Cell(coordinates, len(members), members, structural_zero=empty))
    dimensions[new_interval] = Dimension(INTERVAL, new_labels, has_total=False)
    if len(new_labels) < len(labels):
        notes.append(MERGED_NOTE.format(k=threshold, days=min_days))
    return replace(
        table,
        dimensions=tuple(dimensions),
        cells=tuple(cells),
        max_cells_per_person=len(new_labels) + 1,
        notes=tuple(notes),
    )


def _after(position: int, removed: int) -> int:
    return position - 1 if removed < position else position


def _log_log_interval(f: float, se: float) -> tuple[float | None, float | None]:
    """95 % interval of a cumulative incidence on the log(-log) scale (stays inside 0..1)."""
    if f <= 0.0:
        return 0.0, None
    if f >= 1.0 or se <= 0.0:
        return f, f
    spread = CURVE_CONFIDENCE_Z * se / (f * abs(math.log(f)))
    centre = math.log(-math.log(f))
    return math.exp(-math.exp(centre + spread)), math.exp(-math.exp(centre - spread))


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100.0 * value, DECIMALS)


def cumulative_incidence(
    table: AggregateTable,
    coordinates: Sequence[tuple[Coordinate, ...]],
    released: Sequence[int | None],
) -> list[dict[str, float | None]]:
    """Per row, the derived curve columns: set on each interval's ``events`` row (the cumulative
    incidence at the interval's end), None on every other row and wherever a count the estimate
    needs was not released."""
    interval, measure = _layout(table)
    labels = table.dimensions[interval].categories
    competing = COMPETING in table.dimensions[measure].categories
    value_at = dict(zip(coordinates, released, strict=True))
    width = len(table.dimensions)
    results: dict[tuple[Coordinate, ...], tuple[float | None, float | None, float | None]] = {}
    strata = {_stratum(c, interval, measure) for c in coordinates}
    for stratum in strata:
        survival = 1.0  # free of any event (Aalen-Johansen) or of the event (Kaplan-Meier)
        incidence = 0.0
        greenwood = 0.0
        steps: list[Step] = []
        stopped = False
        for label in labels:
            here = _place(stratum, interval, measure, str(label), EVENTS, width)

            def released_value(
                what: str, label: str | int = label, stratum: tuple[Coordinate, ...] = stratum
            ) -> int | None:
                return value_at.get(_place(stratum, interval, measure, str(label), what, width))

            at_risk, events = released_value(AT_RISK), released_value(EVENTS)
            other = released_value(COMPETING) if competing else 0
            if stopped or at_risk is None or events is None or other is None or at_risk <= 0:
                stopped = True
                results[here] = (None, None, None)
                continue
            events, other = min(events, at_risk), min(other, at_risk - min(events, at_risk))
            all_events = events + other
            before = survival
            if competing:
                incidence += before * events / at_risk
                survival = before * (1.0 - all_events / at_risk)
                steps.append((incidence, before, at_risk, events, all_events))
                variance = _aalen_johansen_variance(incidence, steps)
            else:
                survival = before * (1.0 - events / at_risk)
                incidence = 1.0 - survival
                if at_risk > events:
                    greenwood += events / (at_risk * (at_risk - events))
                variance = survival**2 * greenwood
            low, high = _log_log_interval(incidence, math.sqrt(max(variance, 0.0)))
            results[here] = (_percent(incidence), _percent(low), _percent(high))
    rows: list[dict[str, float | None]] = []
    for coords in coordinates:
        values = results.get(coords)
        if coords[measure] != EVENTS or values is None:
            rows.append(dict.fromkeys(CURVE_COLUMNS))
        else:
            rows.append(dict(zip(CURVE_COLUMNS, values, strict=True)))
    return rows


Step = tuple[float, float, float, float, float]  # (F after, S before, at risk, events, all events)


def _aalen_johansen_variance(incidence: float, steps: Sequence[Step]) -> float:
    """Delta-method variance of the Aalen-Johansen cumulative incidence at the last step
    (Marubini and Valsecchi 1995, as in Stata's stcompet): F(t) is ``incidence``."""
    total = 0.0
    for f_j, s_before, n, d, all_events in steps:
        gap = incidence - f_j
        if n > all_events:
            total += gap**2 * all_events / (n * (n - all_events))
        total += s_before**2 * d * (n - d) / n**3
        total -= 2.0 * gap * s_before * d / n**2
    return total
