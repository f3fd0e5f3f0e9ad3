"""The customer documentation and the example queries are executable and current."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from queries.examples import load_examples, queries_in_markdown
from queries.registry import RESULT_KINDS
from queries.schema import schema_text
from queries.shape import query_shape
from queries.validation import validate_query
from tests.queries.engines import run_both

ROOT = Path(__file__).resolve().parents[2]
LANGUAGE = ROOT / "docs" / "query-language.md"
SCHEMA = ROOT / "docs" / "query-schema.json"


def json_blocks() -> list[str]:
    return [json.dumps(query) for query in queries_in_markdown(LANGUAGE.read_text())]


def test_the_published_schema_is_current():
    assert SCHEMA.read_text() == schema_text(), "regenerate with: python -m queries.schema"


def test_the_language_page_has_an_example_per_result_kind():
    kinds = {json.loads(block)["result"]["kind"] for block in json_blocks()}
    assert kinds == set(RESULT_KINDS)


@pytest.mark.parametrize("position", range(len(json_blocks())))
def test_every_documented_query_validates_and_runs(position, spec_registers):
    payload = json.loads(json_blocks()[position])
    query = validate_query(payload, None)
    tables = run_both(spec_registers, query)
    assert sum(len(t.cells) for t in tables) == query_shape(query).cells


@pytest.mark.parametrize("name", sorted(load_examples()))
def test_every_example_validates_and_runs(name, spec_registers):
    query = validate_query(load_examples()[name], None)
    tables = run_both(spec_registers, query)
    assert sum(len(t.cells) for t in tables) == query_shape(query).cells
    assert query.title


def markdown_tables(section: str) -> list[list[dict[str, str]]]:
    """The markdown tables of one ``####`` section of the language page, as rows of header -> cell."""
    text = LANGUAGE.read_text().split(f"#### {section}\n", 1)[1].split("\n#", 1)[0]
    tables, current = [], []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|"):
            current.append([cell.strip() for cell in line.strip().strip("|").split("|")])
        elif current:
            header, _, *rows = current
            tables.append([dict(zip(header, row, strict=True)) for row in rows])
            current = []
    return tables


def test_the_documented_person_time_example_is_what_both_engines_and_disclosure_compute(tmp_path):
    """The worked example of "Person-time and rates": its persons built as registers, its query run
    on both engines, the days and rates it states recomputed (person-time per person and in total)."""
    from disclosure.pipeline import protect
    from disclosure.policy import Policy
    from disclosure.release import ReleaseContext
    from disclosure.stores import InMemoryStores
    from tests.queries.registers_text import write_rows

    persons, results = markdown_tables("Person-time and rates")
    bef, lpr_adm, lpr_diag = [], [], []
    resident = at_risk = 0
    for group in persons:
        for _ in range(int(group["persons"])):
            pnr = len(bef) + 1
            bef.append(
                {
                    "pnr": pnr,
                    "koen": 1 + pnr % 2,
                    "foed_dag": dt.date.fromisoformat(group["born"]),
                    "indvandret_dato": _date(group["immigrated"]),
                    "doed_dato": _date(group["died"]),
                    "udvandret_dato": _date(group["emigrated"]),
                    "reg": 1084,
                    "kom": 101,
                }
            )
            diagnosed = _date(group["first E11 diagnosis"])
            if diagnosed is not None:
                lpr_adm.append(
                    {"pnr": pnr, "recnum": pnr, "d_inddto": diagnosed, "d_uddto": diagnosed, "c_pattype": 1}
                )
                lpr_diag.append({"recnum": pnr, "c_diag": "DE119", "c_diagtype": "A"})
            resident += int(group["days resident in 2016"])
            at_risk += int(group["days at risk in 2016"])
    data_dir = write_rows(tmp_path, {"bef": bef, "lpr_adm": lpr_adm, "lpr_diag": lpr_diag})
    (query,) = [json.loads(b) for b in json_blocks() if '"Type 2 diabetes in 2016"' in b]
    (table,) = run_both(data_dir, validate_query(query, None), ("parquet", "layout"))

    stated = {row["measure"]: row for row in results}
    assert int(stated["incident"]["person-days"]) == at_risk
    assert int(stated["prevalent"]["person-days"]) == resident
    measures = {"incident": "person_years_at_risk", "prevalent": "person_years"}
    release = protect([table], Policy.default(), ReleaseContext("doc", "org", b"k" * 32), InMemoryStores())
    rows = {row.coordinates[1]: row for row in release.tables[0].rows}
    for measure, row in stated.items():
        cell = table.cell(2016, measure)
        person_years = cell.measures[measures[measure]]
        assert person_years * 365.25 == pytest.approx(int(row["person-days"]))
        assert f"{person_years:.2f}" == row["person-years (days / 365.25)"]
        assert cell.count == rows[measure].value == int(row["cases"])
        assert 100 * round(person_years / 100) == int(row["rounded to 100"])
        rate = rows[measure].derived["rate_per_1000_person_years"]
        assert rate == float(row["rate per 1,000 person-years"])


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def test_the_documented_time_to_event_example_is_what_both_engines_and_disclosure_compute(tmp_path):
    """The worked example of "A worked time-to-event example": its persons built as registers, its
    query run on both engines and through disclosure control, the released rows it states compared."""
    from disclosure.pipeline import protect
    from disclosure.policy import Policy
    from disclosure.release import ReleaseContext
    from disclosure.stores import InMemoryStores
    from tests.queries.registers_text import write_rows

    persons, results = markdown_tables("A worked time-to-event example")
    index_day = dt.date(2016, 1, 1)
    bef, lpr_adm, lpr_diag = [], [], []

    def on(days: str) -> dt.date | None:
        return index_day + dt.timedelta(days=int(days)) if days else None

    for group in persons:
        for _ in range(int(group["persons"])):
            pnr = len(bef) + 1
            bef.append(
                {
                    "pnr": pnr,
                    "koen": 1 + pnr % 2,
                    "foed_dag": dt.date(1950, 1, 1),
                    "indvandret_dato": None,
                    "doed_dato": on(group["died on day"]),
                    "udvandret_dato": on(group["emigrated on day"]),
                    "reg": 1084,
                    "kom": 101,
                }
            )
            for date, code in ((index_day, "DE119"), (on(group["DI21 on day"]), "DI219")):
                if date is not None:
                    recnum = len(lpr_adm) + 1
                    lpr_adm.append(
                        {"pnr": pnr, "recnum": recnum, "d_inddto": date, "d_uddto": date, "c_pattype": 1}
                    )
                    lpr_diag.append({"recnum": recnum, "c_diag": code, "c_diagtype": "A"})
    data_dir = write_rows(tmp_path, {"bef": bef, "lpr_adm": lpr_adm, "lpr_diag": lpr_diag})
    (query,) = [json.loads(b) for b in json_blocks() if '"A worked time-to-event example"' in b]
    (table,) = run_both(data_dir, validate_query(query, None), ("parquet", "layout"))
    release = protect([table], Policy.default(), ReleaseContext("doc", "org", b"k" * 32), InMemoryStores())
    released = release.tables[0]
    assert released.categories[0] == tuple(dict.fromkeys(row["interval"] for row in results))
    for row, stated in zip(released.rows, results, strict=True):
        assert row.coordinates == (stated["interval"], stated["measure"])
        assert row.value == int(stated["released"])
        incidence = row.derived.get("cumulative_incidence_percent")
        assert (f"{incidence:.1f}" if incidence is not None else "") == stated["cumulative incidence %"]
        low, high = row.derived.get("ci_lower_percent"), row.derived.get("ci_upper_percent")
        interval = f"{low:.1f} to {high:.1f}" if incidence is not None else ""
        assert interval == stated["95 % interval"]
