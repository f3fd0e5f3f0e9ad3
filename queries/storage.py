"""The logical relations the compiler reads, and the two ways of providing them.

The compiler never names a register table. It reads these relations, which unify the registers
once (LPR2 and LPR3 behind one diagnosis event relation, the two causes of death behind one):

=====================  ===============================================================
persons                pnr, sex, birth_date, death_date, immigration_date,
                       emigration_date, region
diagnosis_events       pnr, event_date, code, diagnosis_type, contact_type, source
prescription_events    pnr, event_date, atc, packages
cancer_events          pnr, event_date, code
death_cause_events     pnr, event_date, code, underlying
biobank_samples        pnr, event_date, sample_type
education              pnr, year, level
income                 pnr, year, personal, household_equivalised
=====================  ===============================================================

``RawParquetStorage`` defines them as views over the Parquet extract (correct, slow at national
scale). ``build_layout`` materialises them once per data version into a DuckDB database file,
sorted by code so that code-prefix range predicates skip almost every row group (DuckDB zone
maps), which is what makes a query at 6 million persons take a fraction of a second.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import duckdb
import sqlglot
from sqlglot import exp

from synthetic_registers.schema import TABLES

LAYOUT_FORMAT = 5  # bump when the layout's tables or sort orders change
REGISTER_TABLES = tuple(table.name for table in TABLES)

# Which registers each logical relation reads (schema.Table.register), for AggregateTable.registers.
RELATION_REGISTERS: dict[str, frozenset[str]] = {
    "persons": frozenset({"CPR/BEF"}),
    "diagnosis_events": frozenset({"LPR2", "LPR3"}),
    "prescription_events": frozenset({"LMDB"}),
    "cancer_events": frozenset({"Cancer Registry"}),
    "death_cause_events": frozenset({"Cause of Death Register"}),
    "biobank_samples": frozenset({"Danish National Biobank"}),
    "education": frozenset({"UDDA"}),
    "income": frozenset({"IND"}),
}

# The unification, written once as SQL over the register tables (constant text: no user input).
RELATION_SQL: dict[str, str] = {
    "persons": """
        SELECT pnr, koen AS sex, foed_dag AS birth_date, doed_dato AS death_date,
               indvandret_dato AS immigration_date, udvandret_dato AS emigration_date,
               reg AS region
        FROM bef
    """,
    "diagnosis_events": """
        SELECT a.pnr, a.d_inddto AS event_date, d.c_diag AS code, d.c_diagtype AS diagnosis_type,
               CASE a.c_pattype WHEN 0 THEN 'inpatient' WHEN 1 THEN 'outpatient' ELSE 'emergency' END
                   AS contact_type,
               'LPR2' AS source
        FROM lpr_adm AS a JOIN lpr_diag AS d ON d.recnum = a.recnum
        UNION ALL
        SELECT k.pnr, CAST(k.kont_starttidspunkt AS DATE) AS event_date, d.diag_kode AS code,
               d.diag_kode_type AS diagnosis_type,
               CASE WHEN k.kont_sluttidspunkt - k.kont_starttidspunkt >= INTERVAL 12 HOUR THEN 'inpatient'
                    WHEN k.prioritet = 'ATA1' THEN 'emergency'
                    ELSE 'outpatient' END AS contact_type,
               'LPR3' AS source
        FROM lpr3_kontakter AS k JOIN lpr3_diagnoser AS d ON d.dw_ek_kontakt = k.dw_ek_kontakt
        WHERE d.senere_afkraeftet IS DISTINCT FROM 'Ja'
    """,
    "prescription_events": """
        SELECT pnr, eksd AS event_date, atc, apk AS packages FROM lmdb
    """,
    "cancer_events": """
        SELECT pnr, d_diagnosedato AS event_date, c_icd10 AS code FROM cancer
    """,
    "death_cause_events": """
        SELECT pnr, d_dodsdto AS event_date, c_dod1 AS code, TRUE AS underlying
        FROM doedsaarsag WHERE c_dod1 IS NOT NULL
        UNION ALL
        SELECT pnr, d_dodsdto AS event_date, c_dod2 AS code, FALSE AS underlying
        FROM doedsaarsag WHERE c_dod2 IS NOT NULL
    """,
    "biobank_samples": """
        SELECT pnr, sample_date AS event_date, sample_type FROM biobank
    """,
    "education": """
        SELECT pnr, aar AS year, udd_niveau AS level FROM udda
    """,
    "income": """
        SELECT pnr, aar AS year, perindkialt AS personal, famaekvivadisp AS household_equivalised FROM ind
    """,
}

# Sort order of each materialised relation: code first so prefix ranges prune row groups, then
# date so the calendar bounds of a window prune within a code's rows.
LAYOUT_ORDER: dict[str, str] = {
    "persons": "pnr",
    "diagnosis_events": "code, event_date, pnr",
    "prescription_events": "atc, event_date, pnr",
    "cancer_events": "code, pnr",
    "death_cause_events": "code, pnr",
    "biobank_samples": "sample_type, pnr",
    "education": "pnr, year",
    "income": "pnr, year",
}


def resident_interval(person: str) -> tuple[exp.Expression, exp.Expression]:
    """First and last day of residence (both inclusive; the last is NULL while still resident)."""
    birth = exp.column("birth_date", person)
    entry = exp.func(
        "greatest", birth, exp.func("coalesce", exp.column("immigration_date", person), birth.copy())
    )
    leave = exp.func("least", exp.column("death_date", person), exp.column("emigration_date", person))
    return entry, leave


def population_days(
    first_year: int, last_year: int, groups: list[str], conditions: list[exp.Expression]
) -> exp.Select:
    """Resident persons and person-days per year and ``groups`` (columns of ``persons p``), as a
    cross join of the persons with the calendar years."""
    entry, leave = resident_interval("p")
    year = exp.column("year", "y")
    jan1 = exp.func("make_date", year.copy(), exp.Literal.number(1), exp.Literal.number(1))
    dec31 = exp.func("make_date", year.copy(), exp.Literal.number(12), exp.Literal.number(31))
    days = exp.Add(
        this=exp.Sub(
            this=exp.func("least", exp.func("coalesce", leave, dec31.copy()), dec31.copy()),
            expression=exp.func("greatest", entry, jan1),
        ),
        expression=exp.Literal.number(1),
    )
    years = exp.Table(
        this=exp.func("range", exp.Literal.number(first_year), exp.Literal.number(last_year + 1)),
        alias=exp.TableAlias(this=exp.to_identifier("y"), columns=[exp.to_identifier("year")]),
    )
    person_columns = [exp.column(g, "p") for g in groups if g != "year"]
    per_person = (
        sqlglot.select(year.copy(), *person_columns, exp.alias_(days, "days"))
        .from_(exp.alias_(exp.to_table("persons"), "p", table=True))
        .join(years, join_type="cross")
        .where(exp.and_(exp.true(), *conditions))
    )
    return (
        sqlglot.select(
            *groups,
            exp.alias_(exp.Count(this=exp.Star()), "persons"),
            exp.alias_(exp.Sum(this=exp.column("days")), "person_days"),
        )
        .from_(per_person.subquery("t"))
        .where(exp.GT(this=exp.column("days"), expression=exp.Literal.number(0)))
        .group_by(*groups)
    )


def parquet_source(data_dir: Path, table_name: str) -> str:
    """Where a register table lives: ``DIR/<table>.parquet`` or a directory of parts."""
    single = data_dir / f"{table_name}.parquet"
    if single.exists():
        return str(single)
    parts = data_dir / table_name
    if parts.is_dir() and any(parts.glob("*.parquet")):
        return str(parts / "*.parquet")
    raise FileNotFoundError(f"register table {table_name!r} not found in {data_dir}")


def extract_files(data_dir: Path) -> list[Path]:
    files: list[Path] = []
    for name in REGISTER_TABLES:
        single = data_dir / f"{name}.parquet"
        if single.exists():
            files.append(single)
        else:
            files.extend(sorted((data_dir / name).glob("*.parquet")))
    return files


def data_version_of(data_dir: Path) -> str:
    """A stable hash of the extract: every file's name, size and Parquet footer (which holds the
    row counts and column statistics), so any regeneration changes it without reading gigabytes."""
    digest = hashlib.sha256()
    for path in extract_files(data_dir):
        size = path.stat().st_size
        digest.update(str(path.relative_to(data_dir)).encode())
        digest.update(size.to_bytes(8, "little"))
        with path.open("rb") as handle:
            handle.seek(max(0, size - 65536))
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def register_table_views(connection: duckdb.DuckDBPyConnection, data_dir: Path) -> None:
    for name in REGISTER_TABLES:
        source = exp.func("read_parquet", exp.Literal.string(parquet_source(data_dir, name)))
        view = exp.Create(
            this=exp.to_table(name),
            kind="VIEW",
            replace=True,
            expression=sqlglot.select("*").from_(source),
        )
        connection.execute(view.sql("duckdb"))


def register_relation_views(connection: duckdb.DuckDBPyConnection) -> None:
    for name, sql in RELATION_SQL.items():
        view = exp.Create(
            this=exp.to_table(name), kind="VIEW", replace=True, expression=sqlglot.parse_one(sql, "duckdb")
        )
        connection.execute(view.sql("duckdb"))


def raw_parquet_connection(data_dir: Path) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose relations are views straight over the Parquet files."""
    connection = duckdb.connect()
    register_table_views(connection, data_dir)
    register_relation_views(connection)
    return connection


def layout_path(data_dir: Path, data_version: str) -> Path:
    return data_dir / ".statservice" / f"layout-{data_version}-f{LAYOUT_FORMAT}.duckdb"


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def build_layout(data_dir: Path, data_version: str) -> Path:
    """Materialise the relations into ``DIR/.statservice/layout-<version>.duckdb`` once.

    Concurrent processes serialise on a file lock; the database is written under a temporary name
    and renamed, so a reader never opens a half-built layout.
    """
    target = layout_path(data_dir, data_version)
    if target.exists():
        return target
    with _exclusive_lock(target.with_suffix(".lock")):
        if target.exists():  # another process built it while we waited
            return target
        partial = target.with_name(target.name + f".building-{os.getpid()}")
        partial.unlink(missing_ok=True)
        # the register views live in an in-memory database; only the tables go into the file
        connection = duckdb.connect()
        try:
            register_table_views(connection, data_dir)
            connection.execute(
                exp.Attach(this=exp.alias_(exp.Literal.string(str(partial)), "layout")).sql("duckdb")
            )
            for name, sql in RELATION_SQL.items():
                ordered = sqlglot.select("*").from_(sqlglot.parse_one(sql, "duckdb").subquery("source"))
                ordered = ordered.order_by(*LAYOUT_ORDER[name].split(", "))
                create = exp.Create(this=exp.to_table(f"layout.{name}"), kind="TABLE", expression=ordered)
                connection.execute(create.sql("duckdb"))
            build_population_years(connection)
            connection.execute("DETACH layout")
        finally:
            connection.close()
        partial.rename(target)
    return target


def build_population_years(connection: duckdb.DuckDBPyConnection) -> None:
    """Person-days per year, sex and region for every year with events: the denominators of
    incidence and prevalence, which would otherwise cross join every person with every year."""
    first, last = connection.execute(
        "SELECT year(min(d)), year(max(d)) FROM ("
        "SELECT min(event_date) d FROM layout.diagnosis_events UNION ALL "
        "SELECT max(event_date) FROM layout.diagnosis_events UNION ALL "
        "SELECT min(event_date) FROM layout.prescription_events UNION ALL "
        "SELECT max(event_date) FROM layout.prescription_events UNION ALL "
        "SELECT max(death_date) FROM layout.persons UNION ALL "
        "SELECT max(emigration_date) FROM layout.persons)"
    ).fetchone()
    if first is None:
        first = last = 2000
    connection.execute("USE layout")
    population = population_days(int(first), int(last), ["year", "sex", "region"], [])
    connection.execute(
        exp.Create(this=exp.to_table("population_years"), kind="TABLE", expression=population).sql("duckdb")
    )
    info = sqlglot.select(
        exp.alias_(exp.Literal.number(int(first)), "first_year"),
        exp.alias_(exp.Literal.number(int(last)), "last_year"),
    )
    connection.execute(
        exp.Create(this=exp.to_table("layout_info"), kind="TABLE", expression=info).sql("duckdb")
    )
    connection.execute("USE memory")


def population_years_coverage(connection: duckdb.DuckDBPyConnection) -> tuple[int, int] | None:
    """First and last year of the layout's precomputed population, None without a layout."""
    try:
        row = connection.execute("SELECT first_year, last_year FROM layout_info").fetchone()
    except duckdb.CatalogException:
        return None
    return (int(row[0]), int(row[1])) if row else None


def layout_connection(data_dir: Path, data_version: str) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(build_layout(data_dir, data_version)), read_only=True)
