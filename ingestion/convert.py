"""Converting one delivered variable to its schema type, and checking its codes.

Each conversion returns the converted values and a mask of the rows that did not convert (a value
was delivered, none came out), so the report can name them. Nothing is guessed per row: a date
column is read with the one format that reads most of its values; the rest are errors.
"""

from __future__ import annotations

import re

import polars as pl

from synthetic_registers.catalog import ENUMERATIONS
from synthetic_registers.schema import Column

_INTEGER_RANGES: dict[str, tuple[pl.DataType, int]] = {
    "UTINYINT": (pl.UInt8(), 2**8 - 1),
    "USMALLINT": (pl.UInt16(), 2**16 - 1),
    "UINTEGER": (pl.UInt32(), 2**32 - 1),
    "UBIGINT": (pl.UInt64(), 2**63 - 1),
}
# Date formats met in deliveries: ISO (SAS's E8601DA, and our own), SAS DATE9. (02JAN2015), Danish
# day-month-year, compact.
DATE_FORMATS = ("%Y-%m-%d", "%d%b%Y", "%d-%m-%Y", "%d.%m.%Y", "%d/%m/%Y", "%Y%m%d")
DATETIME_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M",
    "%d%b%Y:%H:%M:%S",
    "%d-%m-%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
)

# What a valid code of each code system looks like, where the system is not a short enumeration
# (those are synthetic_registers.catalog.ENUMERATIONS, the catalog's own lists).
CODE_PATTERNS: dict[str, str] = {
    "ICD-10 (D prefix)": r"D[A-Z][0-9]{2}[0-9A-Z]{0,4}",
    "ICD-10": r"[A-Z][0-9]{2}[0-9A-Z]{0,4}",
    "ATC": r"[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?",
    "SKS procedure": r"[A-Z]{2}[0-9A-Z]{1,8}",
    "NPU/DNK analysis": r"(NPU|DNK)[0-9]{5}",
    "ICD-O-3": r"M[0-9]{4}[0-9]?",
    "indication": r"[0-9]{7}",
    "LPR specialty": r"[0-9]{2}",
    "SKS hospital": r"[0-9A-Z]{4}",
}
# Code systems whose values are free (names, article numbers, keys): nothing to check.
FREE_CODE_SYSTEMS = frozenset(
    {"pseudonym", "VNR", "LPR3 specialty", "biobank collection", "DST municipality", "DST HFAUDD"}
)


def as_text(series: pl.Series) -> pl.Series:
    """Delivered text, stripped of SAS's padding; a blank field is missing."""
    text = series.cast(pl.Utf8).str.strip_chars()
    return pl.select(pl.when(text == "").then(None).otherwise(text)).to_series().rename(series.name)


def map_codes(series: pl.Series, codes: dict[str, str]) -> pl.Series:
    """Delivered codes -> schema codes (keys compared upper case); other values unchanged."""
    if not codes or series.dtype != pl.Utf8:
        return series
    upper = series.str.to_uppercase()
    mapped = upper.replace_strict(codes, default=None, return_dtype=pl.Utf8)
    return pl.select(pl.when(mapped.is_not_null()).then(mapped).otherwise(series)).to_series()


def convert(series: pl.Series, column: Column, decimal: str) -> tuple[pl.Series, pl.Series, str]:
    """(values in the schema type, mask of rows that did not convert, what went wrong with them)."""
    kind = column.duckdb_type
    if series.dtype == pl.Utf8:
        series = as_text(series)
    delivered = series.is_not_null()
    if kind in _INTEGER_RANGES:
        target, highest = _INTEGER_RANGES[kind]
        if series.dtype.is_float():
            whole = series.is_not_nan() & (series == series.floor())
            values = pl.select(pl.when(whole).then(series)).to_series().cast(pl.Int64, strict=False)
        else:
            values = series.cast(pl.Int64, strict=False)
        in_range = (values >= 0) & (values <= highest)
        values = pl.select(pl.when(in_range).then(values)).to_series().cast(target)
        return values.rename(column.name), delivered & values.is_null(), "not a whole number in range"
    if kind == "DOUBLE":
        if series.dtype == pl.Utf8 and decimal != ".":
            series = series.str.replace_all(re.escape(decimal), ".", literal=True)
        values = series.cast(pl.Float64, strict=False)
        return values.rename(column.name), delivered & values.is_null(), "not a number"
    if kind == "DATE":
        if series.dtype == pl.Date:
            return series.rename(column.name), delivered & False, ""
        if isinstance(series.dtype, pl.Datetime):
            return series.dt.date().rename(column.name), delivered & False, ""
        if series.dtype != pl.Utf8:
            return _unconvertible(series, pl.Date(), column, "a number where a date is expected")
        values = _best_parse(series, DATE_FORMATS, lambda s, f: s.str.to_date(f, strict=False))
        return values.rename(column.name), delivered & values.is_null(), "unparseable date"
    if kind == "TIMESTAMP":
        if isinstance(series.dtype, pl.Datetime):
            return series.cast(pl.Datetime("us")).rename(column.name), delivered & False, ""
        if series.dtype == pl.Date:
            return series.cast(pl.Datetime("us")).rename(column.name), delivered & False, ""
        if series.dtype != pl.Utf8:
            return _unconvertible(series, pl.Datetime("us"), column, "a number where a time is expected")
        values = _best_parse(
            series, DATETIME_FORMATS, lambda s, f: s.str.to_datetime(f, strict=False, time_unit="us")
        )
        return values.rename(column.name), delivered & values.is_null(), "unparseable date and time"
    if series.dtype != pl.Utf8:
        # a code delivered as a number may have lost its leading zeros (specialty 08 read as 8)
        return _unconvertible(series, pl.Utf8(), column, "a number where text is expected")
    return series.rename(column.name), delivered & False, ""


def _unconvertible(
    series: pl.Series, dtype: pl.DataType, column: Column, problem: str
) -> tuple[pl.Series, pl.Series, str]:
    return pl.Series(column.name, [None] * len(series), dtype=dtype), series.is_not_null(), problem


def _best_parse(series: pl.Series, formats: tuple[str, ...], parse) -> pl.Series:
    best: pl.Series | None = None
    for fmt in formats:
        values = parse(series, fmt)
        if best is None or values.null_count() < best.null_count():
            best = values
        if values.null_count() == series.null_count():
            break
    assert best is not None
    return best


def code_checker(column: Column) -> pl.Expr | None:
    """An expression true where the column's code is valid (None: the column carries no code)."""
    system = column.code_system
    if system is None or system in FREE_CODE_SYSTEMS:
        return None
    text = pl.col(column.name).cast(pl.Utf8)
    if system in ENUMERATIONS:
        return text.is_in(list(ENUMERATIONS[system]))
    return text.str.contains(f"^(?:{CODE_PATTERNS[system]})$")
