"""Sort one staged range of a large relation into the layout order, and summarise it into spans.

A national build sorts about two billion rows, range by range of their code (``queries.storage``).
DuckDB sorts a range on its keys (a code, a date, a person) at about 2.7 million rows per
CPU-second on a small machine, even with the code replaced by its rank. Packed into one unsigned
64-bit integer (the code's rank among the range's distinct codes, then each further key offset by
its minimum, each in as many bits as its range needs) the same order sorts in Polars at about 7
million. The spans come from the sorted rows while they are still in memory, grouped on integers
(the code's rank), where a second DuckDB pass would read the written table back and group and sort
on strings.

The order is exactly ``ORDER BY <keys>`` in DuckDB: strings by their bytes, NULLs last. Rows equal
on every key may come in any order, as in DuckDB.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

_KEY = "__layout_key"


def read_range(files: str, columns: Sequence[str]) -> pl.DataFrame:
    """A staged range's rows (Parquet ``files``, a glob), with every string column read as a
    Categorical: a contact type or a source has a handful of values, a code a few thousand, and the
    sort then moves 4-byte integers rather than 16-byte string views (half the sort's time on the
    diagnoses, and a third of the memory)."""
    rows = pl.scan_parquet(files, hive_partitioning=False).select(columns)
    strings = [name for name, dtype in rows.collect_schema().items() if dtype == pl.String]
    return rows.with_columns(pl.col(c).cast(pl.Categorical) for c in strings).collect(engine="streaming")


def _encoded(frame: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    """The frame with each string sort key as an Enum whose categories are its distinct values in
    byte order (so the physical index is the value's rank): a group-by and a sort then work on
    small integers."""
    keys = [c for c in order if frame.schema[c] in (pl.String, pl.Categorical)]
    return frame.with_columns(
        pl.col(c).cast(pl.Enum(frame[c].drop_nulls().unique().cast(pl.String).sort().to_list())) for c in keys
    )


def _packed_key(frame: pl.DataFrame, order: Sequence[str]) -> pl.Expr | None:
    """One UInt64 expression whose ascending order is the frame's order on ``order`` (NULLs last),
    or None when the keys' ranges need more than 64 bits together."""
    parts: list[tuple[pl.Expr, int]] = []
    for column in order:
        dtype = frame.schema[column]
        if isinstance(dtype, pl.Enum):
            values = pl.col(column).to_physical().cast(pl.Int64)
            low, high = 0, len(dtype.categories) - 1
        elif dtype == pl.Date or dtype.is_integer():
            values = pl.col(column).cast(pl.Int64)
            bounds = frame.select(values.min().alias("low"), values.max().alias("high")).row(0)
            if bounds[0] is None:  # every value NULL: the column does not order anything
                continue
            low, high = int(bounds[0]), int(bounds[1])
        else:
            return None
        # 0 .. high-low for values, high-low+1 for NULL (last)
        parts.append(
            ((values - low).fill_null(high - low + 1).cast(pl.UInt64), (high - low + 1).bit_length())
        )
    if sum(bits for _, bits in parts) > 64:
        return None
    key: pl.Expr = pl.lit(0, dtype=pl.UInt64)
    shift = 0
    for values, bits in reversed(parts):  # the last key in the lowest bits
        key = key + values * pl.lit(2**shift, dtype=pl.UInt64)
        shift += bits
    return key


def _sorted(frame: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    key = _packed_key(frame, order)
    if key is None:  # ranges too wide to pack (not our registers): Polars' own multi-key sort
        return frame.sort(list(order), nulls_last=True)
    return frame.with_columns(key.alias(_KEY)).sort(_KEY).drop(_KEY)


def sort_range(frame: pl.DataFrame, order: Sequence[str]) -> pl.DataFrame:
    """The rows of ``frame`` in the order ``ORDER BY order`` (DuckDB's, NULLs last). String keys
    come back as Enums (DuckDB reads an Enum or a Categorical as its strings)."""
    return _sorted(_encoded(frame, order), order)


def summarise_spans(events: pl.DataFrame, code: str, by_year: bool) -> pl.DataFrame:
    """One row per code, person (and calendar year) of sorted events with the first and last event
    date, in the order ``code, [year,] pnr``: ``queries.storage.span_sql`` over these rows.
    ``events`` as ``sort_range`` returned them (the code an Enum)."""
    keys = [code, "year", "pnr"] if by_year else [code, "pnr"]
    rows = events.lazy()
    if by_year:
        rows = rows.with_columns(pl.col("event_date").dt.year().cast(pl.Int64).alias("year"))
    spans = (
        rows.group_by(keys)
        .agg(pl.col("event_date").min().alias("first_date"), pl.col("event_date").max().alias("last_date"))
        .collect()
    )
    return _sorted(spans, keys)
