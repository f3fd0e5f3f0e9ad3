"""Curve tables built from follow-ups written out by hand, as an engine would hand them over
(written here a second time, independently of the engines)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyroaring import BitMap

from disclosure import curves
from disclosure.table import AggregateTable, Cell, Dimension

# person -> (days followed, "event" | "competing" | "censored", stratum)
FollowUp = Mapping[int, tuple[int, str, str]]

STATUS = {curves.EVENTS: "event", curves.COMPETING: "competing", curves.CENSORED: "censored"}


def curve_table(
    follow_up: FollowUp,
    ends: Sequence[int],
    *,
    competing: bool = True,
    strata: Sequence[str] = (),
    time_points: Sequence[int] = (),
    registers: frozenset[str] = frozenset({"lpr"}),
) -> AggregateTable:
    labels = curves.interval_labels(ends)
    measures = curves.AALEN_JOHANSEN_MEASURES if competing else curves.KAPLAN_MEIER_MEASURES
    groups: list[tuple[tuple, set[int]]] = [((), set(follow_up))]
    if strata:
        groups = [((None,), set(follow_up))]
        groups += [((s,), {p for p, (_, _, g) in follow_up.items() if g == s}) for s in strata]
    cells = []
    for j, (label, end) in enumerate(zip(labels, ends, strict=True)):
        start = ends[j - 1] if j else -1
        for extra, members in groups:
            at_risk = {p for p in members if follow_up[p][0] > start}
            for measure in measures:
                if measure == curves.AT_RISK:
                    chosen = at_risk
                else:
                    status = STATUS[measure] if competing or measure != curves.CENSORED else None
                    chosen = {
                        p
                        for p in at_risk
                        if follow_up[p][0] <= end
                        and (
                            follow_up[p][1] == status
                            or (status is None and follow_up[p][1] in ("censored", "competing"))
                        )
                    }
                persons = BitMap(sorted(chosen))
                cells.append(Cell((label, measure, *extra), len(persons), persons))
    dimensions = [
        Dimension(curves.INTERVAL, labels, has_total=False),
        Dimension(curves.MEASURE, measures, has_total=False),
    ]
    if strata:
        dimensions.append(Dimension("sex", tuple(strata)))
    return AggregateTable(
        kind="time_to_event",
        title="curve",
        dimensions=tuple(dimensions),
        cells=tuple(cells),
        registers=registers,
        max_cells_per_person=len(labels) + 1,
        ordered_dimension=curves.INTERVAL,
        derived_columns=curves.CURVE_COLUMNS,
        time_points=tuple(time_points),
    )


def follow_ups(*groups: tuple[int, int, str, str], first: int = 1) -> dict[int, tuple[int, str, str]]:
    """``(persons, days, status, stratum)`` groups as one follow-up per person, numbered from ``first``."""
    found: dict[int, tuple[int, str, str]] = {}
    person = first
    for count, days, status, stratum in groups:
        for _ in range(count):
            found[person] = (days, status, stratum)
            person += 1
    return found
