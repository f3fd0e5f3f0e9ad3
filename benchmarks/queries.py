"""Benchmark: the standard cohort questions through the compiler, against hand-written SQL.

    .venv/bin/python -m benchmarks.queries --persons 1000000

Generates (or reuses, in ``data/bench-<N>``) synthetic registers of N persons, builds the storage
layout once, then times four questions, warm, each ``--repeat`` times:

1. T2D (DE11) first diagnosed 2015-2020, aged 40-70 at index, GLP-1 (A10BJ) within 365 days,
   by sex x region x 5-year age band (all margins);
2. the same, excluding any hospital cancer diagnosis (DC) in the 5 years before index;
3. the characteristics of cohort 2: 20 comorbidity groups ever before index, 20 drug groups in
   the year before;
4. yearly incidence and prevalence of T2D 2005-2024 by sex, with person-time.

Each is compared in the same run with hand-written DuckDB SQL answering the same question, over
the raw Parquet extract and over the layout; the counts must agree. The engine's time includes
everything ``DuckDBEngine.run`` does (validation, compilation, SQL, person-set bitmaps); the
hand-written SQL only counts. The last line is ``key=value`` for scripts.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import duckdb
from rich.console import Console
from rich.table import Table

from queries.engine import DuckDBEngine
from queries.model import Query
from queries.storage import raw_parquet_connection, rich_build_progress

T2D = {"type": "diagnosis", "codes": ["DE11"]}
COHORT_1 = {
    "title": "T2D 2015-2020 aged 40-70 with GLP-1 within a year",
    "index": {"concept": T2D, "period": {"start": "2015-01-01", "end": "2020-12-31"}},
    "population": {"age": {"min": 40, "max": 70}},
    "criteria": [
        {
            "type": "include",
            "concept": {"type": "prescription", "atc": ["A10BJ"]},
            "window": {"start": 0, "end": 365},
        }
    ],
}
BREAKDOWNS = [{"by": "sex"}, {"by": "region"}, {"by": "age_band", "width": 5}]
COHORT_2 = {
    **COHORT_1,
    "title": "T2D 2015-2020 aged 40-70 with GLP-1 within a year, no cancer in 5 years before",
    "criteria": [
        *COHORT_1["criteria"],
        {
            "type": "exclude",
            "concept": {"type": "diagnosis", "codes": ["DC"]},
            "window": {"start": -1825, "end": -1},
        },
    ],
}
COMORBIDITIES = [
    "DI10", "DI20", "DI21", "DI48", "DI50", "DI63", "DJ44", "DJ45", "DF32", "DF03",
    "DG30", "DM05", "DM80", "DN18", "DE10", "DE66", "DK70", "DF10", "DG40", "DE78",
]  # fmt: skip
DRUGS = [
    "C09A", "C09C", "C10AA", "B01AC", "B01AF", "C07A", "C03", "C08CA", "N06A", "N05B",
    "R03AC", "R03BA", "M05BA", "H02AB", "L04AX", "A02BC", "N02BE", "N02A", "A10BA", "A10BK",
]  # fmt: skip
CHARACTERISTICS = [
    *({"name": f"{code} before index", "concept": {"type": "diagnosis", "codes": [code]},
       "window": {"end": -1}} for code in COMORBIDITIES),
    *({"name": f"{atc} in the year before", "concept": {"type": "prescription", "atc": [atc]},
       "window": {"start": -365, "end": -1}} for atc in DRUGS),
]  # fmt: skip

STANDARD_QUERIES: dict[str, dict[str, Any]] = {
    "1 T2D+GLP-1 by sex x region x age": {
        **COHORT_1,
        "result": {"kind": "cohort_count", "breakdowns": BREAKDOWNS},
    },
    "2 ... without cancer": {**COHORT_2, "result": {"kind": "cohort_count", "breakdowns": BREAKDOWNS}},
    "3 ... characteristics 20+20": {
        **COHORT_2,
        "result": {"kind": "characteristics", "items": CHARACTERISTICS},
    },
    "4 T2D incidence/prevalence 2005-2024 by sex": {
        "title": "Type 2 diabetes",
        "index": {"concept": T2D, "period": {"start": "2005-01-01", "end": "2024-12-31"}},
        "result": {"kind": "incidence_prevalence", "breakdowns": [{"by": "sex"}]},
    },
}

# --- hand-written SQL: what an analyst would write for the same questions ------------------------


def prefix(column: str, code: str) -> str:
    """A code-prefix test as a range, the form that lets DuckDB skip row groups of the code-sorted
    layout (an expert's hand-written SQL; ``LIKE 'DE11%'`` is slower on the layout)."""
    upper = code[:-1] + chr(ord(code[-1]) + 1)
    return f"({column} >= '{code}' AND {column} < '{upper}')"


AGE = "(year(c.index_date) - year(p.birth_date) - CASE WHEN month(c.index_date) * 100 + day(c.index_date) < month(p.birth_date) * 100 + day(p.birth_date) THEN 1 ELSE 0 END)"  # noqa: E501
RESIDENT = """p.birth_date <= c.index_date
      AND (p.death_date IS NULL OR p.death_date >= c.index_date)
      AND (p.emigration_date IS NULL OR p.emigration_date >= c.index_date)
      AND (p.immigration_date IS NULL OR p.immigration_date <= c.index_date)"""


# Over the raw Parquet an analyst has only the events. Over the layout they would also use its
# compacted spans, as the engine does (the first date per code and person; first and last date per
# ATC code, person and calendar year, which decide windows of a year or more), so that the ratio
# compares the compiler with the best hand-written SQL on the same layout.
def first_dates(code_column: str, code: str, spans: bool) -> str:
    """``pnr, first_date`` of every person with the code (one or more rows per person)."""
    if spans:
        return f"SELECT pnr, first_date FROM diagnosis_spans WHERE {prefix(code_column, code)}"
    return f"SELECT pnr, event_date AS first_date FROM diagnosis_events WHERE {prefix(code_column, code)}"


def event_in(low: str, high: str, spans: bool) -> str:
    """A row of ``e`` (events, or yearly spans for a window of at least 365 days) has an event
    between the two dates."""
    if not spans:
        return f"e.event_date BETWEEN {low} AND {high}"
    return f"e.first_date <= {high} AND e.last_date >= {low}"


def cohort_1_sql(spans: bool) -> str:
    prescriptions = "prescription_spans" if spans else "prescription_events"
    return f"""
WITH first_t2d AS (
    SELECT pnr, min(first_date) AS index_date FROM ({first_dates("code", "DE11", spans)}) GROUP BY pnr
    HAVING min(first_date) BETWEEN DATE '2015-01-01' AND DATE '2020-12-31'),
population AS (
    SELECT c.pnr, c.index_date, p.sex, p.region, {AGE} AS age
    FROM first_t2d c JOIN persons p ON p.pnr = c.pnr
    WHERE {RESIDENT}),
aged AS (SELECT * FROM population WHERE age BETWEEN 40 AND 70),
glp1 AS (
    SELECT DISTINCT a.pnr FROM aged a JOIN {prescriptions} e ON e.pnr = a.pnr
    WHERE {prefix("e.atc", "A10BJ")} AND {event_in("a.index_date", "a.index_date + 365", spans)}),
cohort AS (SELECT * FROM aged WHERE pnr IN (SELECT pnr FROM glp1))
"""


def cohort_2_sql(spans: bool) -> str:
    # a two-sided window over diagnoses needs their dates (diagnosis spans cover a whole history)
    window = event_in("a.index_date - 1825", "a.index_date - 1", False)
    return cohort_1_sql(spans).replace(
        "cohort AS (SELECT * FROM aged WHERE pnr IN (SELECT pnr FROM glp1))",
        f"""cancer AS (
    SELECT DISTINCT a.pnr FROM aged a JOIN diagnosis_events e ON e.pnr = a.pnr
    WHERE {prefix("e.code", "DC")} AND {window}),
cohort AS (SELECT * FROM aged WHERE pnr IN (SELECT pnr FROM glp1) AND pnr NOT IN (SELECT pnr FROM cancer))""",
    )


CUBE = """
SELECT sex, region, CASE WHEN age >= 90 THEN 90 ELSE age // 5 * 5 END AS age_band, count(*) AS persons
FROM cohort GROUP BY CUBE (sex, region, age_band)"""


def characteristics_sql(spans: bool) -> str:
    diagnoses = "diagnosis_spans" if spans else "diagnosis_events"
    prescriptions = "prescription_spans" if spans else "prescription_events"
    before = "e.first_date < c.index_date" if spans else "e.event_date < c.index_date"
    year_before = event_in("c.index_date - 365", "c.index_date - 1", spans)
    diagnosis_flags = ",\n    ".join(
        f"bool_or({prefix('e.code', code)}) AS d{k}" for k, code in enumerate(COMORBIDITIES)
    )
    drug_flags = ",\n    ".join(f"bool_or({prefix('e.atc', atc)}) AS r{k}" for k, atc in enumerate(DRUGS))
    any_diagnosis = " OR ".join(prefix("e.code", code) for code in COMORBIDITIES)
    any_drug = " OR ".join(prefix("e.atc", atc) for atc in DRUGS)
    counts = ", ".join(
        [f"count(*) FILTER (WHERE d.d{k})" for k in range(len(COMORBIDITIES))]
        + [f"count(*) FILTER (WHERE r.r{k})" for k in range(len(DRUGS))]
    )
    return (
        cohort_2_sql(spans)
        + f""",
dx AS (SELECT c.pnr, {diagnosis_flags}
    FROM cohort c JOIN {diagnoses} e ON e.pnr = c.pnr AND {before}
    WHERE {any_diagnosis} GROUP BY c.pnr),
rx AS (SELECT c.pnr, {drug_flags}
    FROM cohort c JOIN {prescriptions} e ON e.pnr = c.pnr
    AND {year_before}
    WHERE {any_drug} GROUP BY c.pnr)
SELECT count(*), {counts}
FROM cohort c LEFT JOIN dx d ON d.pnr = c.pnr LEFT JOIN rx r ON r.pnr = c.pnr"""
    )


INCIDENCE_CASES = """
WITH first_t2d AS (
    SELECT pnr, min(first_date) AS first_date FROM ({first}) GROUP BY pnr),
people AS (
    SELECT p.pnr, p.sex, f.first_date,
           greatest(p.birth_date, coalesce(p.immigration_date, p.birth_date)) AS entry,
           least(p.death_date, p.emigration_date) AS leave
    FROM {people} p {join} first_t2d f ON f.pnr = p.pnr),
years AS (SELECT range AS year, make_date(range, 1, 1) AS jan1, make_date(range, 12, 31) AS dec31
          FROM range(2005, 2025)),
person_years AS (
    SELECT y.year, p.sex, p.first_date, p.entry, p.leave, y.jan1, y.dec31,
           greatest(p.entry, y.jan1) AS s, least(coalesce(p.leave, y.dec31), y.dec31) AS e
    FROM people p CROSS JOIN years y
    WHERE p.entry <= y.dec31 AND (p.leave IS NULL OR p.leave >= y.jan1))
"""
INCIDENCE_RAW_SQL = (
    INCIDENCE_CASES.format(people="persons", join="LEFT JOIN", first=first_dates("code", "DE11", False))
    + """
SELECT year, sex,
       count(*) FILTER (WHERE first_date BETWEEN jan1 AND dec31 AND first_date BETWEEN entry AND coalesce(leave, first_date)) AS incident,
       count(*) FILTER (WHERE first_date <= dec31) AS prevalent,
       sum(e - s + 1) AS person_days,
       sum(CASE WHEN first_date IS NULL OR first_date > e THEN e - s + 1
                WHEN first_date < s THEN 0 ELSE first_date - s + 1 END) AS at_risk_days
FROM person_years GROUP BY GROUPING SETS ((year, sex), (year)) ORDER BY year, sex"""  # noqa: E501
)
INCIDENCE_LAYOUT_SQL = (
    INCIDENCE_CASES.format(people="persons", join="JOIN", first=first_dates("code", "DE11", True))
    + """,
cases AS (
    SELECT year, sex,
           count(*) FILTER (WHERE first_date BETWEEN jan1 AND dec31 AND first_date BETWEEN entry AND coalesce(leave, first_date)) AS incident,
           count(*) FILTER (WHERE first_date <= dec31) AS prevalent,
           sum(CASE WHEN first_date < s THEN e - s + 1 WHEN first_date <= e THEN e - first_date ELSE 0 END) AS removed_days
    FROM person_years GROUP BY GROUPING SETS ((year, sex), (year))),
population AS (
    SELECT year, sex, sum(person_days) AS person_days FROM population_years
    WHERE year BETWEEN 2005 AND 2024 GROUP BY GROUPING SETS ((year, sex), (year)))
SELECT p.year, p.sex, coalesce(c.incident, 0), coalesce(c.prevalent, 0), p.person_days,
       p.person_days - coalesce(c.removed_days, 0) AS at_risk_days
FROM population p LEFT JOIN cases c ON c.year = p.year AND c.sex IS NOT DISTINCT FROM p.sex
ORDER BY p.year, p.sex"""  # noqa: E501
)

HANDWRITTEN: dict[str, tuple[str, str]] = {  # (over raw parquet, over the layout)
    "1 T2D+GLP-1 by sex x region x age": (cohort_1_sql(False) + CUBE, cohort_1_sql(True) + CUBE),
    "2 ... without cancer": (cohort_2_sql(False) + CUBE, cohort_2_sql(True) + CUBE),
    "3 ... characteristics 20+20": (characteristics_sql(False), characteristics_sql(True)),
    "4 T2D incidence/prevalence 2005-2024 by sex": (INCIDENCE_RAW_SQL, INCIDENCE_LAYOUT_SQL),
}


# --- running -------------------------------------------------------------------------------------


def ensure_registers(persons: int, cache_dir: Path, seed: int) -> Path:
    if (cache_dir / "bef").exists() or (cache_dir / "bef.parquet").exists():
        return cache_dir
    from synthetic_registers.generate import generate_registers

    started = time.perf_counter()
    generate_registers(cache_dir, persons=persons, seed=seed)
    Console(stderr=True).print(f"generated {persons:,} persons in {time.perf_counter() - started:.0f} s")
    return cache_dir


def _fetch_all(connection: duckdb.DuckDBPyConnection, sql: str) -> list[tuple[Any, ...]]:
    return connection.execute(sql).fetchall()


def timed(function: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Median milliseconds of ``repeat`` warm runs (after one warm-up) and the last result."""
    result = function()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        result = function()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def engine_total(tables: list) -> int:
    """The cohort size (or, for incidence, the prevalent cases in the last year) from the engine."""
    table = tables[0]
    if table.kind == "incidence_prevalence":
        last_year = table.dimensions[0].categories[-1]
        return table.cell(last_year, "prevalent", None).count
    return table.cell(*([None] * len(table.dimensions))).count


def engine_characteristics(tables: list) -> list[int]:
    """The characteristics' counts in item order (empty for other questions)."""
    return (
        [cell.count for cell in tables[1].cells]
        if tables[0].kind == "cohort_count" and len(tables) > 1
        else []
    )


def handwritten_characteristics(name: str, rows: list[tuple]) -> list[int]:
    return list(rows[0][1:]) if name.startswith("3") else []


def handwritten_total(name: str, rows: list[tuple]) -> int:
    if name.startswith("4"):
        return next(r[3] for r in reversed(rows) if r[1] is None)
    if name.startswith("3"):
        return rows[0][0]
    return next(r[3] for r in rows if r[0] is None and r[1] is None and r[2] is None)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--data", type=Path, help="an existing extract instead of data/bench-<persons>")
    args = parser.parse_args()
    console = Console()
    data_dir = args.data or ensure_registers(args.persons, Path("data") / f"bench-{args.persons}", args.seed)

    engine = DuckDBEngine(data_dir)
    started = time.perf_counter()
    with rich_build_progress(console) as progress:
        engine.prepare(progress)
    console.print(
        f"layout ready in {time.perf_counter() - started:.1f} s (data version {engine.data_version})"
    )
    layout = engine._cursor()
    raw = raw_parquet_connection(data_dir, numbered=False)

    table = Table(title=f"cohort queries, {args.persons:,} persons, p50 of {args.repeat} warm runs (ms)")
    for column in (
        "question",
        "engine",
        "hand SQL on layout",
        "hand SQL on parquet",
        "ratio",
        "speedup",
        "count",
    ):
        table.add_column(column, justify="left" if column == "question" else "right")
    p50s, ratios, speedups = [], [], []
    for name, payload in STANDARD_QUERIES.items():
        query = Query.model_validate(payload)
        raw_sql, layout_sql = HANDWRITTEN[name]
        engine_ms, tables = timed(partial(engine.run, query), args.repeat)
        layout_ms, layout_rows = timed(partial(_fetch_all, layout, layout_sql), args.repeat)
        raw_ms, raw_rows = timed(partial(_fetch_all, raw, raw_sql), max(1, args.repeat // 2))
        ours = engine_total(tables)
        theirs = {handwritten_total(name, layout_rows), handwritten_total(name, raw_rows)}
        if theirs != {ours}:
            raise SystemExit(f"{name}: the engine counts {ours}, hand-written SQL {sorted(theirs)}")
        # the characteristics item by item, not only the cohort
        items = engine_characteristics(tables)
        if any(handwritten_characteristics(name, rows) != items for rows in (layout_rows, raw_rows)):
            raise SystemExit(f"{name}: the engine's characteristics differ from hand-written SQL's")
        ratio, speedup = engine_ms / layout_ms, raw_ms / engine_ms
        p50s.append(engine_ms)
        ratios.append(ratio)
        speedups.append(speedup)
        table.add_row(
            name,
            f"{engine_ms:.0f}",
            f"{layout_ms:.0f}",
            f"{raw_ms:.0f}",
            f"{ratio:.2f}",
            f"{speedup:.1f}",
            "agree",
        )
    console.print(table)
    raw.close()
    layout.close()
    engine.close()
    print(
        f"persons={args.persons} queries={len(STANDARD_QUERIES)} p50_ms_max={max(p50s):.0f} "
        f"max_ratio_vs_handwritten={max(ratios):.2f} min_speedup_vs_raw_parquet={min(speedups):.1f}"
    )


if __name__ == "__main__":
    main()
