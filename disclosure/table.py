"""The unprotected aggregate table: what an engine hands to disclosure control.

This is the contract between ``queries`` (which produces tables) and ``disclosure`` (which
protects them); ``disclosure`` never imports ``queries``. An ``AggregateTable`` holds true
counts and the person set behind every cell, so it never leaves the service process: only
the ``ProtectedTable`` that disclosure control returns may be released.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pyroaring import BitMap

Coordinate = str | int | None
"""One coordinate of a cell. ``None`` means "all values" of that dimension (a margin)."""

TOTAL: None = None


@dataclass(frozen=True)
class Dimension:
    """A breakdown variable and its categories in display order (margins are not categories)."""

    name: str
    categories: tuple[str | int, ...]
    has_total: bool = (
        True  # False when the categories overlap or do not partition the parent (e.g. characteristics)
    )


@dataclass(frozen=True)
class Cell:
    """One true count. ``persons`` is the exact set of person keys counted (``len(persons) == count``)."""

    coordinates: tuple[Coordinate, ...]
    count: int
    persons: BitMap
    measures: Mapping[str, float] = field(default_factory=dict)  # e.g. {"person_years": 1234.5}
    # True when the count is zero by the query's definition (impossible combination): printed as 0,
    # not as the "<k" marker that every other zero shares.
    structural_zero: bool = False
    # The persons' values of a continuous characteristic (age, a laboratory value), one per person in
    # the order of ``persons``: what ``disclosure.magnitude`` computes means and quantiles from.
    values: tuple[float, ...] = ()


@dataclass(frozen=True)
class AggregateTable:
    """An unprotected table of person counts, with its margins, as an engine produced it.

    Cells are stored in one tuple; each coordinate is a category of the matching dimension or
    ``None`` for its margin. Margin cells are ordinary cells: their relation to the inner cells
    (parent = sum of children) follows from the coordinates for every dimension with
    ``has_total``. ``registers`` names every register the query touched, so the strictest
    threshold applies; ``max_cells_per_person`` bounds how many inner cells one person can be
    counted in (the L1 sensitivity of the whole table for differential privacy).
    """

    kind: str  # the query's result kind; the kinds are declared in queries.registry
    title: str
    dimensions: tuple[Dimension, ...]
    cells: tuple[Cell, ...]
    registers: frozenset[str]
    max_cells_per_person: int = 1
    ordered_dimension: str | None = (
        None  # a dimension whose categories are nested/cumulative (attrition steps, uptake windows, years)
    )
    notes: tuple[str, ...] = ()
    # A category of the ordered dimension whose cell (at the same other coordinates) is the
    # denominator of the table's shares, when that is not the cohort: uptake with a washout divides
    # by each drug group's eligible new users, released as a count of its own.
    denominator_category: str | None = None
    # The values derived from the released counts (``disclosure.derived``: shares, cumulative shares,
    # rates) that the table's result kind declares; disclosure computes them, never from true counts.
    derived_columns: tuple[str, ...] = ()
    # Categories of the first dimension whose cells carry values (continuous characteristics): their
    # rows get the magnitude columns (``disclosure.magnitude``), the others are counts only.
    continuous_categories: tuple[str | int, ...] = ()
    # A curve's days after index at which the customer asked for estimates: merging intervals keeps
    # them as interval ends wherever the intervals between two of them can be merged on their own
    # (``disclosure.curves``).
    time_points: tuple[int, ...] = ()

    def cell(self, *coordinates: Coordinate) -> Cell:
        for cell in self.cells:
            if cell.coordinates == coordinates:
                return cell
        raise KeyError(coordinates)
