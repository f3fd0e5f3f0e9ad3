"""Small registers written as readable text tables, turned into a Parquet extract.

Each table is a markdown-style table with the schema's column names in the header; an empty cell
is NULL; columns left out are NULL (or a harmless default for non-nullable keys and codes).
Tables not given are written empty, so every register the engines read exists. A ``catalog.json``
is written beside them as the generator does (code lists from the package data, coverage years
given, never read from the rows): the engine refuses an extract without one.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from synthetic_registers.catalog import Catalog
from synthetic_registers.schema import TABLES, TABLES_BY_NAME

ARROW_TYPES = {
    "UINTEGER": pa.uint32(),
    "UTINYINT": pa.uint8(),
    "USMALLINT": pa.uint16(),
    "UBIGINT": pa.uint64(),
    "DATE": pa.date32(),
    "TIMESTAMP": pa.timestamp("us"),
    "VARCHAR": pa.string(),
    "DOUBLE": pa.float64(),
}


def parse_value(text: str, duckdb_type: str) -> Any:
    text = text.strip()
    if text == "":
        return None
    if duckdb_type == "DATE":
        return dt.date.fromisoformat(text)
    if duckdb_type == "TIMESTAMP":
        return dt.datetime.fromisoformat(text)
    if duckdb_type == "VARCHAR":
        return text
    if duckdb_type == "DOUBLE":
        return float(text)
    return int(text)


def parse_table(table_name: str, text: str) -> list[dict[str, Any]]:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not set(line) <= set("|-: ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    table = TABLES_BY_NAME[table_name]
    rows = []
    for line in lines[1:]:
        cells = [cell for cell in line.strip("|").split("|")]
        assert len(cells) == len(header), (
            f"{table_name}: {line!r} has {len(cells)} cells, header {len(header)}"
        )
        rows.append(
            {
                name: parse_value(value, table.column(name).duckdb_type)
                for name, value in zip(header, cells, strict=True)
            }
        )
    return rows


# Coverage the hand-written catalogs declare: the generator's default years.
TEST_FIRST_YEAR = 2005
TEST_LAST_YEAR = 2024


def write_catalog(
    data_dir: Path, rows: dict[str, int], years: tuple[int, int] = (TEST_FIRST_YEAR, TEST_LAST_YEAR)
) -> Path:
    """A ``catalog.json`` for a hand-written extract: what the generator writes, for given years."""
    metadata = {"data_version": "hand-written", "start_year": years[0], "end_year": years[1]}
    return Catalog.build(metadata, rows).write(data_dir)


def write_rows(
    data_dir: Path,
    rows_by_table: dict[str, list[dict[str, Any]]],
    years: tuple[int, int] = (TEST_FIRST_YEAR, TEST_LAST_YEAR),
) -> Path:
    data_dir.mkdir(parents=True, exist_ok=True)
    for table in TABLES:
        rows = rows_by_table.get(table.name, [])
        schema = pa.schema([pa.field(c.name, ARROW_TYPES[c.duckdb_type]) for c in table.columns])
        columns = {c.name: [row.get(c.name) for row in rows] for c in table.columns}
        pq.write_table(pa.table(columns, schema=schema), data_dir / f"{table.name}.parquet")
    write_catalog(data_dir, {name: len(rows) for name, rows in rows_by_table.items()}, years)
    return data_dir


def write_registers(
    data_dir: Path, tables: dict[str, str], years: tuple[int, int] = (TEST_FIRST_YEAR, TEST_LAST_YEAR)
) -> Path:
    """Write text tables (``{"bef": "| pnr | ... |"}``) as a Parquet extract with its catalog in
    ``data_dir``."""
    return write_rows(data_dir, {name: parse_table(name, text) for name, text in tables.items()}, years)
