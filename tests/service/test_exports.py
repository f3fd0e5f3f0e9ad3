"""Release downloads: JSON, CSV, Parquet and XLSX carry the same cells and metadata (issue 15, item 3).

Each format is read back with its ordinary reader and compared with the others, over the real HTTP
app and a real release of two tables, so a format that numbers, types or labels a cell its own way
fails here.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow.parquet as pq
from openpyxl import load_workbook

from statservice import exports

CHARACTERISTICS = {
    "title": "=diabetes characteristics",
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
    },
    "result": {
        "kind": "characteristics",
        "items": [
            {"name": "women", "concept": {"type": "sex", "sex": "female"}},
            {"name": "-aged 65+", "concept": {"type": "age", "min": 65}},
        ],
    },
}


def _typed(value: str, kind: str) -> Any:
    """A CSV text cell as the JSON value of a column declared ``kind``."""
    if value == "":
        return None
    return {"integer": int, "number": float, "string": str}[kind](value)


def _column_kinds(document: dict[str, Any]) -> dict[str, str]:
    """Column types as the JSON cells show them (the one place CSV learns its types from)."""
    kinds: dict[str, str] = {}
    for cell in document["cells"]:
        for column, value in cell.items():
            if isinstance(value, bool) or value is None:
                continue
            kind = "integer" if isinstance(value, int) else "number" if isinstance(value, float) else "string"
            assert kinds.setdefault(column, kind) == kind, column
    return kinds


def read_csv(body: str, kinds: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {column: _typed(value, kinds.get(column, "string")) for column, value in row.items()}
        for row in csv.DictReader(io.StringIO(body))
    ]


def read_parquet(body: bytes) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    table = pq.read_table(io.BytesIO(body))
    metadata = json.loads(table.schema.metadata[exports.PARQUET_METADATA_KEY])
    return table.to_pylist(), metadata


def read_xlsx(body: bytes, columns: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
    """Every table sheet's rows, with the columns a sheet leaves out (other tables' dimensions and
    derived values) as empty, and each sheet's title."""
    workbook = load_workbook(io.BytesIO(body))
    rows: list[dict[str, Any]] = []
    titles: list[str] = []
    for sheet in workbook.worksheets:
        values = list(sheet.iter_rows(values_only=True))
        titles.append(values[0][0])
        header = values[1]
        for line in values[2:]:
            rows.append({column: None for column in columns} | dict(zip(header, line, strict=True)))
    return rows, titles


def test_every_format_carries_the_same_cells_and_metadata(data_api):
    api = data_api
    response = api.post("/v1/queries/runs", api.customer, json=CHARACTERISTICS)
    assert response.status_code == 201, response.text
    release = response.json()
    assert len(release["tables"]) == 2  # the cohort size, then the characteristics
    base = f"/v1/releases/{release['id']}/result"

    def download(fmt: str):
        answer = api.get(base, api.customer, params={"format": fmt})
        assert answer.status_code == 200, answer.text
        assert answer.headers["content-type"].startswith(exports.FORMATS[fmt].split(";")[0])
        return answer

    document = download("json").json()
    cells = document["cells"]
    columns = document["columns"]
    assert [list(cell) for cell in cells] == [columns] * len(cells)
    assert document["release"] == {
        "release_id": release["id"],
        "query_hash": release["query_hash"],
        "data_version": release["data_version"],
        "policy_version": release["policy_version"],
    }
    assert [t["table"] for t in document["tables"]] == [1, 2]
    assert [t["kind"] for t in document["tables"]] == ["cohort_count", "characteristics"]
    assert sorted({cell["table"] for cell in cells}) == [1, 2]
    assert sum(len(t["cells"]) for t in release["tables"]) == len(cells)
    # the cells are the release's cells, in order, with their table's number
    assert [(c["table"], c["value"], c["status"]) for c in cells] == [
        (number, cell["value"], cell["status"])
        for number, table in enumerate(release["tables"], start=1)
        for cell in table["cells"]
    ]
    for cell in cells:
        assert {name: cell[name] for name in exports.RELEASE_FIELDS} == document["release"]
        table = document["tables"][cell["table"] - 1]
        assert {name: cell[name] for name in exports.TABLE_FIELDS} == {
            name: table[name] for name in exports.TABLE_FIELDS
        }

    as_csv = download("csv")
    assert next(csv.reader(io.StringIO(as_csv.text))) == columns
    assert read_csv(as_csv.text, _column_kinds(document)) == cells

    parquet_rows, parquet_metadata = read_parquet(download("parquet").content)
    assert parquet_rows == cells
    assert parquet_metadata == {key: document[key] for key in ("release", "tables", "columns")}

    xlsx_rows, titles = read_xlsx(download("xlsx").content, columns)
    assert xlsx_rows == cells  # the second sheet's rows say table 2, as the CSV does
    assert titles == [t["title"] for t in document["tables"]]

    # a title a spreadsheet would run is text in every format, the same text
    assert {cell["title"] for cell in cells} == {
        "'=diabetes characteristics",
        "'=diabetes characteristics: characteristics",
    }
    assert {cell["characteristic"] for cell in cells if cell["table"] == 2} == {"women", "'-aged 65+"}


def test_the_model_numbers_tables_and_keeps_each_sheet_to_its_own_columns():
    tables = [
        {
            "kind": "cohort_count",
            "title": "cohort",
            "dimensions": ["sex"],
            "derived_columns": [],
            "rounding_base": 5,
            "noise_mechanism": None,
            "cells": [
                {"coordinates": ["male"], "value": 10, "status": "released", "derived": {}},
                {"coordinates": [None], "value": None, "status": "suppressed", "derived": {}},
            ],
        },
        {
            "kind": "incidence_prevalence",
            "title": "by year",
            "dimensions": ["year", "measure"],
            "derived_columns": ["rate_per_1000_person_years"],
            "rounding_base": None,
            "noise_mechanism": "gaussian",
            "cells": [
                {
                    "coordinates": [2015, "incident"],
                    "value": 25,
                    "status": "released",
                    "derived": {"rate_per_1000_person_years": 1.5},
                }
            ],
        },
    ]
    release = {"release_id": "rel_1", "query_hash": "q", "data_version": "d", "policy_version": "p"}
    export = exports.ReleaseExport.build(release, tables)
    records = export.records()
    assert [r["table"] for r in records] == [1, 1, 2]
    assert records[1]["sex"] == "total" and records[1]["value"] is None
    # labels are text in every format, so a year and "total" can share a column
    assert records[2]["year"] == "2015" and records[2]["sex"] is None
    assert records[2]["rate_per_1000_person_years"] == 1.5
    assert export.table_columns(export.tables[0]) == (
        "table",
        "title",
        "kind",
        "sex",
        "value",
        "status",
        "rounding_base",
        "noise_mechanism",
        *exports.RELEASE_FIELDS,
    )
    second = load_workbook(io.BytesIO(exports.render(export, "xlsx"))).worksheets[1]
    header = [c.value for c in second[2]]
    assert "sex" not in header and "year" in header
    assert second.cell(3, header.index("table") + 1).value == 2


def test_a_control_character_in_a_title_is_the_same_replacement_in_every_format():
    """openpyxl refuses control characters, so a title typed with one made the XLSX download a 500."""
    tables = [
        {
            "kind": "cohort_count",
            "title": "bad\x01title",
            "dimensions": [],
            "cells": [{"coordinates": [], "value": 10, "status": "released", "derived": {}}],
        }
    ]
    release = {"release_id": "rel_1", "query_hash": "q", "data_version": "d", "policy_version": "p"}
    export = exports.ReleaseExport.build(release, tables)
    assert export.records()[0]["title"] == "bad\ufffdtitle"
    sheet = load_workbook(io.BytesIO(exports.render(export, "xlsx"))).worksheets[0]
    assert sheet["A1"].value == "bad\ufffdtitle"
    assert json.loads(exports.render(export, "json"))["cells"][0]["title"] == "bad\ufffdtitle"
    assert "bad\ufffdtitle" in exports.render(export, "csv").decode("utf-8")
    assert read_parquet(exports.render(export, "parquet"))[0][0]["title"] == "bad\ufffdtitle"


def test_a_title_with_a_control_character_downloads_as_xlsx(data_api):
    from tests.service.helpers import cohort

    api = data_api
    release = api.post("/v1/queries/runs", api.customer, json=cohort(title="bad\x01title"))
    assert release.status_code == 201, release.text
    base = f"/v1/releases/{release.json()['id']}/result"
    xlsx = api.get(base, api.customer, params={"format": "xlsx"})
    assert xlsx.status_code == 200, xlsx.text
    assert load_workbook(io.BytesIO(xlsx.content)).worksheets[0]["A1"].value == "bad\ufffdtitle"
