"""Reading one delivered file into a Polars frame: SAS7BDAT and SAS transport (pyreadstat), Danish
CSV (every field read as text, converted later so that each failure can be named), Parquet.

Every frame gets ``ROW`` (the data row's 1-based number in its file, the header not counted), so a
problem is reported by file, row and variable.
"""

from __future__ import annotations

import io
from pathlib import Path

import polars as pl

from ingestion.mapping import Mapping

ROW = "__row"
READERS = (".csv", ".txt", ".sas7bdat", ".xpt", ".parquet")


def is_delivery_file(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in READERS


def delivered_columns(path: Path, mapping: Mapping) -> list[str]:
    """The variable names in a file, as delivered (without reading its rows)."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        with path.open("rb") as handle:
            header = handle.readline().decode(mapping.csv_encoding).strip("\r\n")
        return [name.strip().strip('"') for name in header.split(mapping.csv_separator)]
    if suffix == ".parquet":
        return list(pl.read_parquet_schema(path))
    import pyreadstat

    reader = pyreadstat.read_sas7bdat if suffix == ".sas7bdat" else pyreadstat.read_xport
    _, meta = reader(str(path), metadataonly=True)
    return list(meta.column_names)


def read_file(path: Path, mapping: Mapping, columns: list[str]) -> pl.DataFrame:
    """The named variables of a delivered file, with the row number ``ROW``."""
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt"):
        # Polars reads UTF-8 only: the file is decoded from its declared encoding here, and every
        # field stays text so the conversion can say which row did not parse.
        text = path.read_bytes().decode(mapping.csv_encoding)
        frame = pl.read_csv(
            io.BytesIO(text.encode("utf-8")),
            separator=mapping.csv_separator,
            infer_schema=False,
            columns=columns,
        )
    elif suffix == ".parquet":
        frame = pl.read_parquet(path, columns=columns)
    else:
        import pyreadstat

        reader = pyreadstat.read_sas7bdat if suffix == ".sas7bdat" else pyreadstat.read_xport
        frame, _ = reader(str(path), usecols=columns, output_format="polars")
        frame = frame.select(columns)
    return frame.with_row_index(ROW, offset=1)
