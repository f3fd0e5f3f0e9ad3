"""Export a generated extract as a register owner would deliver it: SAS datasets or Danish CSV files.

Real deliveries are not our Parquet layout. The person key is a string pseudonym (osdc simulates it
as a 12-digit zero-padded string), contact keys are strings, variable names are upper case in SAS
files and lower case after conversion (with the common variants, e.g. ``C_KON`` for ``KOEN``), the
population register comes as yearly snapshots (a row per person resident in the year, with
``aar``), the prescription and laboratory registers as one file per year, and CSV files follow Danish
conventions: ``;`` between fields, a decimal comma, latin-1. ``statservice ingest`` reads such a
delivery back into the Parquet layout; the tests check that the answers are the same.

SAS files are SAS7BDAT, written by pyreadstat (ReadStat's writer; the files read back with
pyreadstat and with pandas' own SAS reader). Dates are SAS dates (days since 1960-01-01, format
DATE9.) and times SAS datetimes (seconds since 1960-01-01, format DATETIME20.), as in SAS itself.

CSV files are appended to part by part, so memory holds one part of the extract; pyreadstat writes
a SAS dataset whole, so a SAS delivery holds each table in memory (fine for test deliveries; a
1,000,000-person CSV delivery ran out of 24 GB when CSV was written whole too).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import BinaryIO, Literal

import polars as pl

from synthetic_registers.catalog import Catalog
from synthetic_registers.schema import PERSON_KEY, TABLES, Table

DeliveryFormat = Literal["csv", "sas"]
DELIVERY_FORMATS: tuple[str, ...] = ("csv", "sas")

# Table -> the file name stem the register owner uses (LPR3 in the research format "LPR_A").
DELIVERY_FILE_STEMS: dict[str, str] = {
    "lpr3_kontakter": "lpr_a_kontakt",
    "lpr3_diagnoser": "lpr_a_diagnose",
    "lpr3_procedurer_kirurgi": "lpr_a_procedurer_kirurgi",
    "lpr3_procedurer_andre": "lpr_a_procedurer_andre",
    "cancer": "t_tumor",
    "doedsaarsag": "dodsaars",
}
# Registers delivered as one file per year, and the column whose year names the file.
YEARLY_FILES: dict[str, str] = {"lmdb": "eksd", "lab_forsker": "samplingdate", "ind": "aar", "udda": "aar"}
# Keys delivered as text: the pseudonym (zero-padded to 12 digits) and the contact keys.
TEXT_KEYS: dict[str, int] = {PERSON_KEY: 12, "recnum": 0, "dw_ek_kontakt": 0}
# Variable names other than the schema's (upper-cased in SAS, lower case in CSV).
RENAMED: dict[str, dict[tuple[str, str], str]] = {
    "csv": {("bef", "koen"): "c_kon", ("doedsaarsag", "d_dodsdto"): "d_doddato"},
    "sas": {("lmdb", "volume"): "VOLAPK"},
}
SAS_EPOCH = dt.date(1960, 1, 1)
CSV_ENCODING = "latin-1"


def delivered_name(fmt: DeliveryFormat, table: str, column: str) -> str:
    name = RENAMED[fmt].get((table, column), column)
    return name.upper() if fmt == "sas" else name.lower()


def file_stem(table: str) -> str:
    return DELIVERY_FILE_STEMS.get(table, table)


def write_delivery(extract_dir: Path, out_dir: Path, fmt: DeliveryFormat) -> list[Path]:
    """Write every table of the Parquet extract in ``extract_dir`` as delivery files in ``out_dir``."""
    if fmt not in DELIVERY_FORMATS:
        raise ValueError(f"format must be one of {', '.join(DELIVERY_FORMATS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    years = Catalog.load(extract_dir).years
    written: list[Path] = []
    for table in TABLES:
        parts = sorted((Path(extract_dir) / table.name).glob("*.parquet"))
        if fmt == "csv":
            written += _write_csv_files(parts, table, years, out_dir)
            continue
        frame = _as_delivered(pl.read_parquet(parts), table)
        for stem, piece in sorted(_pieces(frame, table, years), key=lambda item: item[0]):
            renamed = piece.rename({c: delivered_name(fmt, table.name, c) for c in piece.columns})
            written.append(_write_sas(renamed, out_dir / f"{stem}.sas7bdat", stem))
    return written


def _pieces(frame: pl.DataFrame, table: Table, years: range) -> list[tuple[str, pl.DataFrame]]:
    """The rows of ``frame`` by the delivery file they belong in (file stem, rows)."""
    if table.name == "bef":
        return _yearly_snapshots(frame, years)
    if table.name in YEARLY_FILES:
        year_column = YEARLY_FILES[table.name]
        year = pl.col(year_column)
        year = year.dt.year() if frame.schema[year_column] == pl.Date else year.cast(pl.Int32)
        frame = frame.with_columns(year.alias("__year"))
        return [
            (f"{file_stem(table.name)}{key[0]}", part.drop("__year"))
            for key, part in frame.partition_by("__year", as_dict=True, maintain_order=True).items()
        ]
    return [(file_stem(table.name), frame)]


def _write_csv_files(parts: list[Path], table: Table, years: range, out_dir: Path) -> list[Path]:
    """Append the table part by part to its CSV files, so that memory holds one part (a national
    extract's prescription register does not fit in memory as text), with the bytes one frame of
    the whole table would give: rows in part order, one header per file."""
    files: dict[str, BinaryIO] = {}
    try:
        for part in parts:
            frame = _as_delivered(pl.read_parquet(part), table)
            for stem, piece in _pieces(frame, table, years):
                if stem not in files:
                    files[stem] = (out_dir / f"{stem}.csv").open("wb")
                handle = files[stem]
                if piece.is_empty() and handle.tell() > 0:
                    continue  # (an empty piece still gives a new file its header)
                renamed = piece.rename({c: delivered_name("csv", table.name, c) for c in piece.columns})
                handle.write(_csv_bytes(renamed, header=handle.tell() == 0))
    finally:
        for handle in files.values():
            handle.close()
    return sorted(out_dir / f"{stem}.csv" for stem in files)


def _yearly_snapshots(frame: pl.DataFrame, years: range) -> list[tuple[str, pl.DataFrame]]:
    """The population register as DST delivers it: one file per year, a row for every person resident
    at some time in the year, with the register year ``aar`` (so most persons are in many files)."""
    entry = pl.max_horizontal("foed_dag", pl.coalesce("indvandret_dato", "foed_dag"))
    leave = pl.min_horizontal("doed_dato", "udvandret_dato")  # null while resident
    pieces = []
    for year in years:
        resident = (entry <= pl.date(year, 12, 31)) & (leave.is_null() | (leave >= pl.date(year, 1, 1)))
        snapshot = frame.filter(resident).with_columns(pl.lit(year, pl.Int32).alias("aar"))
        pieces.append((f"bef{year}", snapshot))
    return pieces


def _as_delivered(frame: pl.DataFrame, table: Table) -> pl.DataFrame:
    """Keys as text, as the register owners deliver them."""
    changes = []
    for column in table.columns:
        if column.name in TEXT_KEYS:
            text = pl.col(column.name).cast(pl.Utf8)
            width = TEXT_KEYS[column.name]
            changes.append((text.str.zfill(width) if width else text).alias(column.name))
    return frame.with_columns(changes) if changes else frame


def _csv_bytes(frame: pl.DataFrame, header: bool) -> bytes:
    text = frame.write_csv(
        include_header=header,
        separator=";",
        decimal_comma=True,
        date_format="%Y-%m-%d",
        datetime_format="%Y-%m-%d %H:%M:%S",
        float_scientific=False,
    )
    return text.encode(CSV_ENCODING)


def _write_sas(frame: pl.DataFrame, path: Path, member: str) -> Path:
    import pyreadstat

    formats: dict[str, str] = {}
    columns = []
    for name, dtype in frame.schema.items():
        column = pl.col(name)
        if dtype == pl.Date:
            columns.append((column - pl.lit(SAS_EPOCH)).dt.total_days().cast(pl.Float64).alias(name))
            formats[name] = "DATE9."
        elif isinstance(dtype, pl.Datetime):
            since = column - pl.lit(dt.datetime(1960, 1, 1))
            columns.append((since.dt.total_microseconds() / 1_000_000).alias(name))
            formats[name] = "DATETIME20."
        elif dtype.is_numeric():
            columns.append(column.cast(pl.Float64))  # SAS has one numeric type
        else:
            columns.append(column.cast(pl.Utf8).fill_null(""))  # SAS has no missing text, only blank
    pyreadstat.write_sas7bdat(
        frame.select(columns),
        str(path),
        table_name=member.upper()[:32],
        variable_format=formats,
    )
    return path
