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
        lower, upper = (float(bound) for bound in row["95 % interval"].split("–"))
        assert rows[measure].derived["rate_per_1000_person_years_lower"] == lower
        assert rows[measure].derived["rate_per_1000_person_years_upper"] == upper
        assert rows[measure].derived["person_years"] == int(row["rounded to 100"])


def _date(text: str) -> dt.date | None:
    return dt.date.fromisoformat(text) if text else None


def test_the_documented_table_one_example_is_what_disclosure_releases():
    """The worked Table 1 example: its input table is built into the tables an engine hands over,
    protected by the real pipeline, and every released number must be the page's."""
    from pyroaring import BitMap

    from disclosure.pipeline import protect
    from disclosure.policy import Policy
    from disclosure.release import ReleaseContext
    from disclosure.stores import InMemoryStores
    from disclosure.table import AggregateTable, Cell, Dimension

    given, shown = markdown_tables("Worked example: a Table 1 by exposure")
    variables = ("age", "CRP")
    strata = tuple(row["stratum"] for row in given)
    values = {
        (row["stratum"], name): [float(v) for v in row["ages" if name == "age" else name].split(",")]
        for row in given
        for name in variables
    }
    persons, first = {}, 1
    for stratum in strata:
        persons[stratum] = list(range(first, first + len(values[(stratum, "age")])))
        first += 100
    columns = [(s, BitMap(persons[s])) for s in strata] + [
        (None, BitMap([p for s in strata for p in persons[s]]))
    ]
    value_of = {
        (name, p): v
        for s in strata
        for name in variables
        for p, v in zip(persons[s], values[(s, name)], strict=True)
    }
    sizes = AggregateTable(
        "cohort_count",
        "cohort",
        (Dimension("exposure", strata),),
        tuple(Cell((s,), len(ps), ps) for s, ps in columns),
        frozenset({"bef"}),
    )
    table = AggregateTable(
        "table_one",
        "cohort: table 1",
        (Dimension("characteristic", variables, has_total=False), Dimension("exposure", strata)),
        tuple(
            Cell((name, s), len(ps), ps, values=tuple(value_of[(name, p)] for p in ps))
            for name in variables
            for s, ps in columns
        ),
        frozenset({"bef"}),
        max_cells_per_person=len(variables),
        derived_columns=RESULT_KINDS["table_one"].derived_columns,
        continuous_categories=variables,
    )
    release = protect(
        [sizes, table], Policy.default(), ReleaseContext("dv", "org", b"x" * 32), InMemoryStores()
    )

    def text(value) -> str:
        return "–" if value is None else str(value)

    computed = [
        {
            "characteristic": row.coordinates[0],
            "exposure": "total" if row.coordinates[1] is None else row.coordinates[1],
            "n": text(row.value),
            **{
                name: text(row.derived.get(name))
                for name in ("percent", "mean", "sd", "q1", "median", "q3", "smd")
            },
        }
        for row in release.tables[1].rows
    ]
    assert sorted(computed, key=str) == sorted(shown, key=str)


def test_the_documented_lookback_example_is_what_both_engines_and_disclosure_compute(tmp_path):
    """The worked example of "Look-back and early-year incidence": its persons built as registers,
    the query under each incident definition run on both engines and protected, every released
    count, rate and interval as the page states; the look-backs the page marks "—" refused."""
    import re

    from disclosure.pipeline import protect
    from disclosure.policy import Policy
    from disclosure.release import ReleaseContext
    from disclosure.stores import InMemoryStores
    from queries.errors import QueryValidationError
    from queries.vocabulary import load_catalog
    from tests.queries.registers_text import write_rows

    groups, results = markdown_tables("Look-back and early-year incidence")
    bef, lpr_adm, lpr_diag = [], [], []
    for group in groups:
        contacts = [
            dt.date.fromisoformat(d.strip()) for d in group["type 2 diabetes contacts (DE11)"].split(",") if d
        ]
        for _ in range(int(group["persons"])):
            pnr = len(bef) + 1
            born = dt.date.fromisoformat(group["born"])
            bef.append({"pnr": pnr, "koen": 1 + pnr % 2, "foed_dag": born, "reg": 1084, "kom": 101})
            for day in contacts:
                recnum = len(lpr_adm) + 1
                lpr_adm.append(
                    {"pnr": pnr, "recnum": recnum, "d_inddto": day, "d_uddto": day, "c_pattype": 1}
                )
                lpr_diag.append({"recnum": recnum, "c_diag": "DE119", "c_diagtype": "A"})
    data_dir = write_rows(tmp_path, {"bef": bef, "lpr_adm": lpr_adm, "lpr_diag": lpr_diag})
    catalog = load_catalog(data_dir)
    (documented,) = [json.loads(b) for b in json_blocks() if '"Type 2 diabetes with a 2-year look-back"' in b]
    definitions = {
        "first-ever": {"occurrence": "first"},
        "first in a 2-year look-back": {"occurrence": "first_in_lookback", "lookback": {"days": 730}},
        "first in a 5-year look-back": {"occurrence": "first_in_lookback", "lookback": {"days": 1826}},
    }
    assert documented["index"]["lookback"] == definitions["first in a 2-year look-back"]["lookback"]
    years = [int(row["year"]) for row in results]
    cell_pattern = re.compile(r"(\d+) · ([\d.]+) \(([\d.]+)–([\d.]+)\)")
    for column, definition in definitions.items():
        stated = {int(row["year"]): row[column] for row in results}
        answered = [year for year in years if stated[year] != "—"]
        index = {
            key: value for key, value in documented["index"].items() if key not in ("occurrence", "lookback")
        }
        index |= definition
        query = {**documented, "index": index}
        # a year marked "—" would need a look-back before the registers start: refused
        early = {**index, "period": {"start": f"{answered[0] - 1}-01-01", "end": f"{years[-1]}-12-31"}}
        if answered[0] > years[0]:
            with pytest.raises(QueryValidationError) as refused:
                validate_query({**query, "index": early}, catalog)
            assert [p["field"] for p in refused.value.problems] == ["index.lookback.days"]
        index["period"] = {"start": f"{answered[0]}-01-01", "end": f"{years[-1]}-12-31"}
        validated = validate_query({**query, "index": index}, catalog)
        (table,) = run_both(data_dir, validated, ("parquet", "layout"))
        release = protect(
            [table], Policy.default(), ReleaseContext("doc", "org", b"k" * 32), InMemoryStores()
        )
        released = {
            row.coordinates[0]: row for row in release.tables[0].rows if row.coordinates[1] == "incident"
        }
        for year in answered:
            count, rate, lower, upper = cell_pattern.fullmatch(stated[year]).groups()
            row = released[year]
            assert row.value == int(count), (column, year)
            assert row.derived["rate_per_1000_person_years"] == float(rate), (column, year)
            assert row.derived["rate_per_1000_person_years_lower"] == float(lower), (column, year)
            assert row.derived["rate_per_1000_person_years_upper"] == float(upper), (column, year)


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
