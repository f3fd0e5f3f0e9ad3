"""What a release hands back: protected tables (only released values), the report, the state changes."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyroaring import BitMap

from disclosure.policy import DifferentialPrivacy
from disclosure.report import ReleaseReport
from disclosure.stores import StateChanges
from disclosure.table import Coordinate

if TYPE_CHECKING:
    import polars as pl

SUPPRESSED_MARKER = "suppressed"


@dataclass(frozen=True)
class ReleaseContext:
    """Who asks, on which data, with which per-query options (options may only add protection)."""

    data_version: str
    organisation_id: str
    noise_secret: bytes = field(repr=False)
    rounding_base: int | None = None  # the query asks for rounding (base 5)
    differential_privacy: DifferentialPrivacy | None = None  # the query asks for noise
    # The same question (canonical query, disclosure options included) was released with exact
    # counts on this data version before, to anyone: answering it exactly again adds nothing to
    # what the counts say together, so it needs none of the data version's exact capacity.
    answered_exactly_before: bool = False
    # The service publishes this release to everyone (a public statistic): it always carries the
    # policy's degraded keyed noise, so it adds no exact count to the data version's history (a
    # public list would otherwise take the exact capacity before the first customer asks) and
    # nothing exact that a paid question could be compared with.
    published_with_noise: bool = False

    def __post_init__(self) -> None:
        if len(self.noise_secret) < 16:
            raise ValueError("noise_secret must be at least 16 bytes")


@dataclass(frozen=True)
class ProtectedRow:
    coordinates: tuple[Coordinate, ...]
    value: int | None  # None exactly when suppressed
    suppressed: bool
    derived: Mapping[str, float | None] = field(default_factory=dict)


@dataclass(frozen=True)
class ProtectedTable:
    kind: str
    title: str
    dimensions: tuple[str, ...]
    categories: tuple[tuple[str | int, ...], ...]
    rows: tuple[ProtectedRow, ...]
    derived_columns: tuple[str, ...] = ()
    rounding_base: int | None = None
    noise_mechanism: str | None = None

    def row(self, *coordinates: Coordinate) -> ProtectedRow:
        for row in self.rows:
            if row.coordinates == coordinates:
                return row
        raise KeyError(coordinates)

    def to_polars(self) -> pl.DataFrame:
        import polars as pl

        columns: dict[str, list[object]] = {name: [] for name in self.dimensions}
        columns["value"] = []
        columns["suppressed"] = []
        for name in self.derived_columns:
            columns[name] = []
        for row in self.rows:
            for name, coordinate in zip(self.dimensions, row.coordinates, strict=True):
                columns[name].append(None if coordinate is None else str(coordinate))
            columns["value"].append(row.value)
            columns["suppressed"].append(row.suppressed)
            for name in self.derived_columns:
                columns[name].append(row.derived.get(name))
        schema: dict[str, pl.DataType | type[pl.DataType]] = dict.fromkeys(self.dimensions, pl.String)
        schema |= {"value": pl.Int64, "suppressed": pl.Boolean}
        schema |= dict.fromkeys(self.derived_columns, pl.Float64)
        return pl.DataFrame(columns, schema=schema)


@dataclass(frozen=True)
class Release:
    tables: list[ProtectedTable]
    report: ReleaseReport
    changes: StateChanges
    rho_spent: float
    # What the decision rested on, so a caller that protected on a snapshot of the stores can tell
    # whether a release committed meanwhile could change it: every person of the release's cells and
    # of the earlier counts linked to them, and the fingerprints linking earlier tables.
    relied_on: BitMap = field(default_factory=BitMap)
    fingerprints: frozenset[str] = frozenset()
