"""Disclosure rules for magnitudes: means, standard deviations and quantiles of persons' values.

A count hides a person among k others; a value statistic can still single one out. The rules here
(reference §2.1 "Magnitude tables", policy §4 rules 4 and 11; constants in ``disclosure.policy``):

- **Threshold.** A statistic is computed only where the cell's person count was released (not
  suppressed by the count rules, which also ran the differencing guard on the persons with a value)
  and at least k persons have a value.
- **Dominance.** A mean and SD are hidden when a few persons determine them: (n, k) dominance and the
  p% rule on the absolute values. A mean whose SD rounds to 0 tells every person's value (as "100 %
  female" tells everyone's sex), so it is hidden too.
- **Quantiles** are values of single persons: only for at least ``QUANTILE_MIN_THRESHOLDS`` × k
  persons, coarsened to ``QUANTILE_ROUNDING``, and only with at least k persons strictly below and k
  strictly above the released value. Minimum and maximum are never released.
- **Secondary protection.** A mean times its count is a sum, and sums add up over a breakdown: with
  the overall mean and all but one stratum released, the last stratum's sum (and with its count, its
  mean) follows by subtraction. So on every line (a margin and its categories) either no mean is
  hidden or at least two are; the SD goes with the mean (sums of squares add up the same way).
- **Noise.** When the release is noised, a mean gets Gaussian noise of ``MEAN_NOISE_STANDARD_ERRORS``
  standard errors, keyed on the secret, the data version, the statistic and the persons (so the same
  persons always get the same noise, whatever the question); SDs and quantiles are rounded.
- **Standardised mean differences** between two strata come from the released percentages, means and
  SDs only.

This module sees tables, never queries (``disclosure`` never imports ``queries``): a table declares
which categories of its first dimension carry values (``AggregateTable.continuous_categories``) and
which derived columns it wants; each such cell carries its persons' values.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from pyroaring import BitMap

from disclosure.derived import PERCENT, share
from disclosure.policy import (
    DOMINANCE_N,
    DOMINANCE_PERCENT,
    MAGNITUDE_DECIMALS,
    MEAN_NOISE_STANDARD_ERRORS,
    P_PERCENT,
    QUANTILE_MIN_THRESHOLDS,
    QUANTILE_ROUNDING,
    SMD_DECIMALS,
)
from disclosure.release import ProtectedTable
from disclosure.structure import canonical_bytes, keyed_digest
from disclosure.table import AggregateTable, Coordinate

MEAN = "mean"
SD = "sd"
Q1 = "q1"
MEDIAN = "median"
Q3 = "q3"
SMD = "smd"
QUANTILES: Mapping[str, float] = {Q1: 0.25, MEDIAN: 0.5, Q3: 0.75}
VALUE_COLUMNS = (MEAN, SD, Q1, MEDIAN, Q3)
MAGNITUDE_COLUMNS = (*VALUE_COLUMNS, SMD)
# The same words on every release with magnitudes, whatever was hidden (uniform behaviour).
NOTE = (
    "Means, SDs, medians and quartiles are shown only where at least k persons have a value, no few "
    "persons dominate the mean, and k persons lie on each side of a quartile; a hidden mean is never "
    "the only one hidden among strata that add up. Minimum and maximum are never shown."
)


# --- primary rules on one cell ---------------------------------------------------------------------


def dominated(values: Sequence[float]) -> bool:
    """(n, k) dominance or the p% rule: a few persons determine the cell's sum (and so its mean)."""
    contributions = sorted((abs(v) for v in values), reverse=True)
    total = sum(contributions)
    if total == 0:
        return False
    if sum(contributions[:DOMINANCE_N]) > DOMINANCE_PERCENT / 100 * total:
        return True
    largest = contributions[0]
    rest = total - largest - (contributions[1] if len(contributions) > 1 else 0.0)
    return rest < P_PERCENT / 100 * largest


def quantile(ordered: Sequence[float], probability: float) -> float:
    """Linear interpolation between order statistics (numpy's default, Hyndman-Fan type 7)."""
    position = (len(ordered) - 1) * probability
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def coarsened(value: float) -> float:
    return float(QUANTILE_ROUNDING * round(value / QUANTILE_ROUNDING))


def released_quantile(ordered: Sequence[float], probability: float, threshold: int) -> float | None:
    """The coarsened quantile of sorted values, or None unless k persons lie strictly on each side."""
    if len(ordered) < QUANTILE_MIN_THRESHOLDS * threshold:
        return None
    value = coarsened(quantile(ordered, probability))
    below = bisect.bisect_left(ordered, value)
    above = len(ordered) - bisect.bisect_right(ordered, value)
    if below < threshold or above < threshold:
        return None
    return value


def keyed_gaussian(secret: bytes, data_version: str, statistic: str, persons: BitMap) -> float:
    """A standard normal draw fixed by who is in the cell (Box-Muller on an HMAC of the persons)."""
    digest = bytes.fromhex(
        keyed_digest(secret, "magnitude", data_version, statistic, canonical_bytes(persons))
    )
    u1 = (int.from_bytes(digest[:8], "big") + 1) / (2**64 + 1)
    u2 = int.from_bytes(digest[8:16], "big") / 2**64
    return math.sqrt(-2 * math.log(u1)) * math.cos(2 * math.pi * u2)


@dataclass(frozen=True)
class NoiseKey:
    """What keys a mean's noise besides its persons."""

    secret: bytes
    data_version: str
    statistic: str  # the variable's name: two variables of the same persons get different noise


def summarise(
    values: Sequence[float],
    threshold: int,
    count_released: bool = True,
    noise: NoiseKey | None = None,
    persons: BitMap | None = None,
) -> dict[str, float | None]:
    """The released mean, SD and quartiles of one cell's values (None where a rule hides them)."""
    out: dict[str, float | None] = dict.fromkeys(VALUE_COLUMNS)
    n = len(values)
    if not count_released or n < threshold:
        return out
    ordered = sorted(values)
    for name, probability in QUANTILES.items():
        out[name] = released_quantile(ordered, probability, threshold)
    if dominated(values):
        return out
    mean = math.fsum(values) / n
    sd = math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    if round(sd, MAGNITUDE_DECIMALS) == 0:
        return out  # everyone has the same value: the mean would tell it
    if noise is not None:
        assert persons is not None, "noise is keyed on the persons"
        draw = keyed_gaussian(noise.secret, noise.data_version, f"mean:{noise.statistic}", persons)
        mean += draw * MEAN_NOISE_STANDARD_ERRORS * sd / math.sqrt(n)
    out[MEAN] = round(mean, MAGNITUDE_DECIMALS)
    out[SD] = round(sd, MAGNITUDE_DECIMALS)
    return out


# --- secondary protection of means ------------------------------------------------------------------


def lines_of(
    dimensions: Sequence[tuple[Sequence[str | int], bool]], coordinates: Sequence[tuple]
) -> list[tuple[tuple, tuple[tuple, ...]]]:
    """(margin, its categories) for every summable dimension: the relations sums obey."""
    present = set(coordinates)
    lines = []
    for d, (categories, has_total) in enumerate(dimensions):
        if not has_total:
            continue
        for coords in coordinates:
            if coords[d] is not None:
                continue
            children = tuple((*coords[:d], c, *coords[d + 1 :]) for c in categories)
            lines.append((coords, tuple(child for child in children if child in present)))
    return lines


def secondary_hidden(
    lines: Sequence[tuple[tuple, tuple[tuple, ...]]],
    hidden: set[tuple],
    size: Mapping[tuple, int],
) -> set[tuple]:
    """Further cells whose means to hide so that no line has exactly one hidden mean (it would be
    the line's sum minus the others). Hides the smallest released category of such a line, else its
    margin; repeats until every line holds none or at least two."""
    hidden = set(hidden)
    changed = True
    while changed:
        changed = False
        for parent, children in lines:
            members = (parent, *children)
            if sum(1 for c in members if c in hidden) != 1:
                continue
            candidates = sorted((c for c in children if c not in hidden), key=lambda c: (size[c], str(c)))
            hidden.add(candidates[0] if candidates else parent)
            changed = True
    return hidden


# --- standardised mean differences --------------------------------------------------------------------


def smd_binary(percent_a: float | None, percent_b: float | None) -> float | None:
    """(p1 - p2) / sqrt((p1(1-p1) + p2(1-p2)) / 2) from released percentages."""
    if percent_a is None or percent_b is None:
        return None
    p1, p2 = percent_a / 100, percent_b / 100
    pooled = (p1 * (1 - p1) + p2 * (1 - p2)) / 2
    if pooled <= 0:
        return None
    return round((p1 - p2) / math.sqrt(pooled), SMD_DECIMALS)


def smd_continuous(
    mean_a: float | None, sd_a: float | None, mean_b: float | None, sd_b: float | None
) -> float | None:
    """(m1 - m2) / sqrt((s1² + s2²) / 2) from released means and SDs."""
    if None in (mean_a, sd_a, mean_b, sd_b):
        return None
    assert mean_a is not None and mean_b is not None and sd_a is not None and sd_b is not None
    pooled = (sd_a**2 + sd_b**2) / 2
    if pooled <= 0:
        return None
    return round((mean_a - mean_b) / math.sqrt(pooled), SMD_DECIMALS)


# --- a whole release ------------------------------------------------------------------------------------


def wants_magnitudes(table: AggregateTable) -> bool:
    return any(column in MAGNITUDE_COLUMNS for column in table.derived_columns)


def protect_magnitudes(
    tables: Sequence[AggregateTable],
    protected: Sequence[ProtectedTable],
    threshold: int,
    secret: bytes,
    data_version: str,
    noisy: bool,
) -> list[ProtectedTable]:
    """The protected tables with the magnitude columns of every table that declares them filled in
    from the released counts and the cells' values. Percentages are recomputed against each
    stratum's released size (the release's table over the same dimensions as the strata)."""
    out = list(protected)
    for t, (table, released) in enumerate(zip(tables, protected, strict=True)):
        if wants_magnitudes(table):
            out[t] = _protect_table(table, released, protected, threshold, secret, data_version, noisy)
    return out


def _protect_table(
    table: AggregateTable,
    released: ProtectedTable,
    protected: Sequence[ProtectedTable],
    threshold: int,
    secret: bytes,
    data_version: str,
    noisy: bool,
) -> ProtectedTable:
    strata = released.dimensions[1:]
    sizes = next((p for p in protected if p.dimensions == strata), None)
    stratum_size: dict[tuple[Coordinate, ...], int | None] = (
        {row.coordinates: row.value for row in sizes.rows} if sizes is not None else {}
    )
    cells = {cell.coordinates: cell for cell in table.cells}
    continuous = set(table.continuous_categories)
    derived: dict[tuple, dict[str, float | None]] = {}
    for row in released.rows:
        values = dict(row.derived)
        values[PERCENT] = share(row.value, stratum_size.get(row.coordinates[1:]), threshold)
        if row.coordinates[0] in continuous:
            cell = cells.get(row.coordinates)
            persons = cell.persons if cell is not None else BitMap()
            noise = NoiseKey(secret, data_version, str(row.coordinates[0])) if noisy else None
            values |= summarise(
                cell.values if cell is not None else (),
                threshold,
                count_released=row.value is not None,
                noise=noise,
                persons=persons,
            )
        derived[row.coordinates] = values

    coordinates = [row.coordinates for row in released.rows]
    dimensions = [(d.categories, d.has_total) for d in table.dimensions]
    rows_of_values = [c for c in coordinates if c[0] in continuous]
    hidden = {c for c in rows_of_values if derived[c][MEAN] is None}
    size = {row.coordinates: row.value or 0 for row in released.rows}
    lines = [
        (parent, children)
        for parent, children in lines_of(dimensions, coordinates)
        if parent[0] in continuous
    ]
    for coords in secondary_hidden(lines, hidden, size) - hidden:
        derived[coords][MEAN] = derived[coords][SD] = None

    if SMD in table.derived_columns:
        _add_smd(table, derived, continuous)
    # a binary row carries no magnitude columns at all (not even empty ones), so a reader of the
    # release tells a continuous row whose mean is hidden from a count
    rows = tuple(
        replace(
            row,
            derived={
                name: derived[row.coordinates].get(name)
                for name in table.derived_columns
                if row.coordinates[0] in continuous or name not in VALUE_COLUMNS
            },
        )
        for row in released.rows
    )
    return replace(released, rows=rows, derived_columns=table.derived_columns)


def _add_smd(table: AggregateTable, derived: dict[tuple, dict[str, float | None]], continuous: set) -> None:
    """The SMD of the two strata of a two-category split, on each characteristic's overall row."""
    for values in derived.values():
        values[SMD] = None
    if len(table.dimensions) != 2 or len(table.dimensions[1].categories) != 2:
        return
    first, second = table.dimensions[1].categories
    for characteristic in table.dimensions[0].categories:
        a, b = derived.get((characteristic, first)), derived.get((characteristic, second))
        overall = derived.get((characteristic, None))
        if a is None or b is None or overall is None:
            continue
        if characteristic in continuous:
            overall[SMD] = smd_continuous(a[MEAN], a[SD], b[MEAN], b[SD])
        else:
            overall[SMD] = smd_binary(a[PERCENT], b[PERCENT])
