"""Released tables as JSON, CSV, Parquet and XLSX.

Input is the public table form stored with a release (see ``pipeline.public_table``): a title, a
kind, dimension names and cells with coordinates, a released value (or null when suppressed), a
status and derived values. Margins are the coordinate ``"total"``. Only released values exist here.
"""

from __future__ import annotations

import io
from typing import Any

from billing.spreadsheet_safety import formula_safe, write_csv

TOTAL_LABEL = "total"

FORMATS = {
    "json": "application/json",
    "csv": "text/csv; charset=utf-8",
    "parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}


def _label(value: Any) -> Any:
    return TOTAL_LABEL if value is None else value


# Text that a spreadsheet would run as a formula is written as plain text (billing's one function).
_cell_text = formula_safe


def flatten(tables: list[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """One row per cell of every table, with a column per dimension name (union over tables)."""
    dimension_names: list[str] = []
    extra_names: list[str] = []
    for table in tables:
        for name in table.get("dimensions", []):
            if name not in dimension_names:
                dimension_names.append(name)
        for cell in table.get("cells", []):
            for name in cell.get("derived", {}) or {}:
                if name not in extra_names:
                    extra_names.append(name)
    columns = ["table", "title", "kind", *dimension_names, "value", "status", *extra_names]
    rows: list[dict[str, Any]] = []
    for index, table in enumerate(tables, start=1):
        names = table.get("dimensions", [])
        for cell in table.get("cells", []):
            row: dict[str, Any] = {
                "table": index,
                "title": _cell_text(table.get("title")),
                "kind": table.get("kind"),
            }
            for name in dimension_names:
                row[name] = None
            for name, value in zip(names, cell.get("coordinates", []), strict=False):
                row[name] = _cell_text(_label(value))
            row["value"] = cell.get("value")
            row["status"] = cell.get("status")
            for name in extra_names:
                row[name] = (cell.get("derived") or {}).get(name)
            rows.append(row)
    return columns, rows


def to_csv(tables: list[dict[str, Any]]) -> bytes:
    columns, rows = flatten(tables)
    return write_csv(columns, ([row.get(column) for column in columns] for row in rows)).encode("utf-8")


def to_parquet(tables: list[dict[str, Any]]) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns, rows = flatten(tables)
    arrays = {}
    for column in columns:
        values = [row.get(column) for row in rows]
        if column in ("table", "value"):
            arrays[column] = pa.array(values, type=pa.int64())
        elif all(v is None or isinstance(v, int | float) for v in values) and column not in ("title", "kind"):
            arrays[column] = (
                pa.array([None if v is None else float(v) for v in values], type=pa.float64())
                if any(isinstance(v, float) for v in values)
                else pa.array([None if v is None else str(v) for v in values], type=pa.string())
            )
        else:
            arrays[column] = pa.array([None if v is None else str(v) for v in values], type=pa.string())
    buffer = io.BytesIO()
    pq.write_table(pa.table(arrays), buffer)
    return buffer.getvalue()


def to_xlsx(tables: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for index, table in enumerate(tables, start=1):
        sheet = workbook.create_sheet(title=f"Table {index}")
        sheet.append([_cell_text(table.get("title")) or f"Table {index}"])
        columns, rows = flatten([table])
        sheet.append(columns)
        for row in rows:
            sheet.append([row.get(column) for column in columns])
    if not tables:
        workbook.create_sheet(title="Empty")
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def render(tables: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "csv":
        return to_csv(tables)
    if fmt == "parquet":
        return to_parquet(tables)
    if fmt == "xlsx":
        return to_xlsx(tables)
    raise ValueError(fmt)
