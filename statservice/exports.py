"""Released tables as JSON, CSV, Parquet and XLSX, all rendered from one model.

Input is the public table form stored with a release (see ``pipeline.public_table``) and the release's
identifying metadata. ``ReleaseExport.build`` turns them into one rectangle of cells (one row per cell
of every table, a column per dimension name, value, status and derived value, and the table's and
the release's metadata on every row), and each format is only a serialisation of that rectangle. So
the formats cannot disagree on a cell, a table number or the metadata: a customer comparing a CSV
with the XLSX sees the same table 2 in both. Margins are the coordinate ``"total"``. Only released
values exist here.

Text cells are formula-safe in every format (billing's one rule), not only in CSV: the same file may
be opened in a spreadsheet whatever its format, and keeping one value per cell is what lets a test
prove the formats equal. For the same reason a control character XLSX cannot hold (a title typed with
one) is shown as U+FFFD in every format, instead of failing the XLSX download.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal

from billing.spreadsheet_safety import formula_safe, write_csv

TOTAL_LABEL = "total"

ExportFormat = Literal["json", "csv", "parquet", "xlsx"]

FORMATS: dict[ExportFormat, str] = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}

# What identifies the release a file came from; on every row, and once in JSON and Parquet metadata.
RELEASE_FIELDS = ("release_id", "query_hash", "data_version", "policy_version")
# What a reader needs to interpret a table's numbers; on every row of the table.
TABLE_FIELDS = ("table", "title", "kind", "rounding_base", "noise_mechanism")
# Parquet's key-value metadata key holding the release and table metadata as JSON.
PARQUET_METADATA_KEY = b"statservice"
# The characters an XLSX cell cannot hold (XML 1.0 forbids them; openpyxl refuses them).
_NOT_IN_XLSX = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def _text(value: Any) -> Any:
    """A text cell as every format writes it: formula-safe, with what XLSX cannot hold replaced."""
    if isinstance(value, str):
        value = _NOT_IN_XLSX.sub("\ufffd", value)
    return formula_safe(value)


@dataclass(frozen=True)
class ExportTable:
    """One released table's metadata; ``table`` is its 1-based number in the release."""

    table: int
    title: str | None
    kind: str
    dimensions: tuple[str, ...]
    derived_columns: tuple[str, ...]
    rounding_base: int | None
    noise_mechanism: str | None


@dataclass(frozen=True)
class ReleaseExport:
    """The one export model: release metadata, table metadata and the cell rows every format writes.

    ``types`` gives each column's type (``int``, ``float`` or ``str``; every column may be empty), so
    typed formats (Parquet, XLSX) keep it and CSV can be read back to the same values.
    """

    release: dict[str, str]
    tables: tuple[ExportTable, ...]
    columns: tuple[str, ...]
    types: dict[str, type]
    rows: tuple[tuple[Any, ...], ...]

    @classmethod
    def build(cls, release: Mapping[str, Any], tables: list[dict[str, Any]]) -> ReleaseExport:
        """The model of ``tables`` (public table form) of the release described by ``release``
        (a mapping with every name in ``RELEASE_FIELDS``)."""
        metadata = {name: _text(str(release[name])) for name in RELEASE_FIELDS}
        infos: list[ExportTable] = []
        dimension_names: list[str] = []
        derived_names: list[str] = []
        for number, table in enumerate(tables, start=1):
            dimensions = tuple(table.get("dimensions", []))
            derived = list(table.get("derived_columns", []))
            for cell in table.get("cells", []):
                derived.extend(name for name in cell.get("derived") or {} if name not in derived)
            infos.append(
                ExportTable(
                    table=number,
                    title=_text(table.get("title")),
                    kind=table["kind"],
                    dimensions=dimensions,
                    derived_columns=tuple(derived),
                    rounding_base=table.get("rounding_base"),
                    noise_mechanism=table.get("noise_mechanism"),
                )
            )
            dimension_names.extend(name for name in dimensions if name not in dimension_names)
            derived_names.extend(name for name in derived if name not in derived_names)
        columns = (
            "table",
            "title",
            "kind",
            *dimension_names,
            "value",
            "status",
            *derived_names,
            "rounding_base",
            "noise_mechanism",
            *RELEASE_FIELDS,
        )
        if len(set(columns)) != len(columns):
            # a dimension or derived column named like a fixed column would silently overwrite it
            raise ValueError(f"export columns collide: {columns}")
        types: dict[str, type] = dict.fromkeys(columns, str)
        types.update({"table": int, "value": int, "rounding_base": int})
        types.update(dict.fromkeys(derived_names, float))

        rows: list[tuple[Any, ...]] = []
        for info, table in zip(infos, tables, strict=True):
            for cell in table.get("cells", []):
                row: dict[str, Any] = {
                    "title": info.title,
                    "kind": info.kind,
                    "table": info.table,
                    "rounding_base": info.rounding_base,
                    "noise_mechanism": info.noise_mechanism,
                    **metadata,
                }
                for name, value in zip(info.dimensions, cell.get("coordinates", []), strict=True):
                    row[name] = _text(TOTAL_LABEL if value is None else str(value))
                row["value"] = None if cell.get("value") is None else int(cell["value"])
                row["status"] = cell.get("status")
                for name, value in (cell.get("derived") or {}).items():
                    row[name] = None if value is None else float(value)
                rows.append(tuple(row.get(column) for column in columns))
        return cls(metadata, tuple(infos), columns, types, tuple(rows))

    def records(self) -> list[dict[str, Any]]:
        """The rows as mappings from column to value."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def table_columns(self, table: ExportTable) -> tuple[str, ...]:
        """The columns that apply to ``table``: without other tables' dimensions and derived values."""
        foreign = {
            name
            for other in self.tables
            for name in (*other.dimensions, *other.derived_columns)
            if name not in table.dimensions and name not in table.derived_columns
        }
        return tuple(column for column in self.columns if column not in foreign)

    def metadata(self) -> dict[str, Any]:
        """Release and table metadata as one JSON-able mapping (JSON's head, Parquet's metadata)."""
        return {
            "release": dict(self.release),
            "tables": [
                {**asdict(t), "dimensions": list(t.dimensions), "derived_columns": list(t.derived_columns)}
                for t in self.tables
            ],
            "columns": list(self.columns),
        }


_NULLABLE_TEXT = {"type": ["string", "null"]}
_NULLABLE_INT = {"type": ["integer", "null"]}
# The JSON download's shape, published in the OpenAPI schema.
JSON_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["release", "tables", "columns", "cells"],
    "properties": {
        "release": {
            "type": "object",
            "required": list(RELEASE_FIELDS),
            "properties": {name: {"type": "string"} for name in RELEASE_FIELDS},
        },
        "tables": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "table": {"type": "integer", "minimum": 1},
                    "title": _NULLABLE_TEXT,
                    "kind": {"type": "string"},
                    "dimensions": {"type": "array", "items": {"type": "string"}},
                    "derived_columns": {"type": "array", "items": {"type": "string"}},
                    "rounding_base": _NULLABLE_INT,
                    "noise_mechanism": _NULLABLE_TEXT,
                },
            },
        },
        "columns": {"type": "array", "items": {"type": "string"}},
        "cells": {
            "type": "array",
            "description": "one object per cell with every column (the CSV's rows)",
            "items": {"type": "object"},
        },
    },
}


def to_json(export: ReleaseExport) -> bytes:
    document = {**export.metadata(), "cells": export.records()}
    return json.dumps(document, ensure_ascii=False).encode("utf-8")


def to_csv(export: ReleaseExport) -> bytes:
    return write_csv(export.columns, export.rows).encode("utf-8")


def to_parquet(export: ReleaseExport) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    arrow_types = {int: pa.int64(), float: pa.float64(), str: pa.string()}
    arrays = {
        column: pa.array([row[i] for row in export.rows], type=arrow_types[export.types[column]])
        for i, column in enumerate(export.columns)
    }
    table = pa.table(arrays).replace_schema_metadata(
        {PARQUET_METADATA_KEY: json.dumps(export.metadata(), ensure_ascii=False).encode("utf-8")}
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    return buffer.getvalue()


def to_xlsx(export: ReleaseExport) -> bytes:
    """One sheet per table: its title, then the header and the rows of the table's own columns."""
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    records = export.records()
    for info in export.tables:
        sheet = workbook.create_sheet(title=f"Table {info.table}")
        sheet.append([info.title or f"Table {info.table}"])
        columns = export.table_columns(info)
        sheet.append(list(columns))
        for record in records:
            if record["table"] == info.table:
                sheet.append([record[column] for column in columns])
    if not export.tables:
        workbook.create_sheet(title="Empty")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


_RENDERERS = {"json": to_json, "csv": to_csv, "parquet": to_parquet, "xlsx": to_xlsx}


def render(export: ReleaseExport, fmt: str) -> bytes:
    """``export`` in format ``fmt`` (a key of ``FORMATS``)."""
    return _RENDERERS[fmt](export)
