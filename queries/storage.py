"""The logical relations the compiler reads, and the two ways of providing them.

The compiler never names a register table. It reads these relations, which unify the registers
once (LPR2 and LPR3 behind one diagnosis event relation, the two causes of death behind one):

=====================  ===============================================================
persons                pnr, sex, birth_date, death_date, immigration_date,
                       emigration_date, region
diagnosis_events       pnr, event_date, code, diagnosis_type, contact_type, source
procedure_events       pnr, event_date, code, source
lab_results            pnr, event_date, code, value, bound ('<', '>' or NULL), unit
prescription_events    pnr, event_date, atc, packages
cancer_events          pnr, event_date, code
death_cause_events     pnr, event_date, code, underlying
biobank_samples        pnr, event_date, sample_type
education              pnr, year, level
income                 pnr, year, personal, household_equivalised
diagnosis_spans        code, pnr, first_date, last_date
prescription_spans     atc, year, pnr, first_date, last_date
=====================  ===============================================================

Registers declared one module each in ``queries.registers`` (the clinical quality databases) add
their relations to these; each module documents its relation's columns.

The two ``*_spans`` relations compact an event relation for the questions that need only whether a
person had a code in a window: one row per code and person (diagnoses), or per code, person and
calendar year (prescriptions: chronic drugs are dispensed several times a year), with the first and
last event date. A span answers exactly "any event on or before / on or after a date" and a
person's first date; a calendar-year span also answers "any event between two dates" for windows of
365 days or more, which a year's first and last dates cannot both lie outside of. A national-scale
characteristics table reads several times fewer rows there. Everything else (shorter windows,
counts of days, conditions on other event columns) still reads the events.

Persons are numbered: every relation's ``pnr`` is the person's position (0, 1, 2, ...) in the
population register ordered by pseudonym, not the pseudonym itself (``PERSON_NUMBERS_SQL``). Person
sets are roaring bitmaps, and pseudonyms spread over the whole 32-bit range put a few persons in
each of tens of thousands of containers; numbered persons fill a few hundred dense ones, which are
several times faster to build, compare and serialise. The numbering is fixed by the extract (part of
its data version), so a set means the same persons in every release of a data version and in both
storages. Rows of a pseudonym absent from the population register are left out of every relation:
no cohort can hold such a person (every pass joins ``persons``).

``raw_parquet_connection`` defines them as views over the Parquet extract (correct, slow at national
scale). ``build_layout`` materialises them once per data version into a DuckDB database file,
sorted by code so that code-prefix range predicates skip almost every row group (DuckDB zone
maps), which is what makes a query at 6 million persons take a fraction of a second.

At national scale (a billion dispensings) one ``ORDER BY`` per relation does not finish on a small
machine, so a large relation is partitioned once by ranges of its sort key (chosen from a sample)
into Parquet beside the data, and each range is sorted and appended in order, under a fixed DuckDB
memory limit that spills into the data directory (``python -m queries.storage DIR`` shows progress).
The spans are then summarised from the sorted events, range by range.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp

from queries.registers import DECLARED_RELATIONS
from synthetic_registers.schema import PERSON_KEY, TABLES, TABLES_BY_NAME

REGISTER_TABLES = tuple(table.name for table in TABLES)
PERSON_KEYED_TABLES = frozenset(t.name for t in TABLES if any(c.name == PERSON_KEY for c in t.columns))
# Part of every data version: person sets stored under a data version (differencing guard, atom
# audit, noise draws) are only ever compared with sets numbered the same way. Change it whenever
# the numbering changes, so that no stored set is read in a different numbering.
PERSON_NUMBERING = "rank-of-pseudonym-in-bef/1"

# The person numbering: each pseudonym's position in the population register (constant text).
PERSON_NUMBERS_SQL = """
    SELECT pnr, CAST(row_number() OVER (ORDER BY pnr) - 1 AS UINTEGER) AS number FROM bef_source
"""

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
    "procedure_events": """
        SELECT a.pnr, o.d_odto AS event_date, o.c_opr AS code, 'LPR2' AS source
        FROM lpr_adm AS a JOIN lpr_sksopr AS o ON o.recnum = a.recnum
        UNION ALL
        SELECT a.pnr, u.d_odto AS event_date, u.c_opr AS code, 'LPR2' AS source
        FROM lpr_adm AS a JOIN lpr_sksube AS u ON u.recnum = a.recnum
        UNION ALL
        SELECT k.pnr, CAST(p.procedure_tidspunkt AS DATE) AS event_date, p.procedurekode AS code,
               'LPR3' AS source
        FROM lpr3_kontakter AS k JOIN lpr3_procedurer_kirurgi AS p ON p.dw_ek_kontakt = k.dw_ek_kontakt
        UNION ALL
        SELECT k.pnr, CAST(p.procedure_tidspunkt AS DATE) AS event_date, p.procedurekode AS code,
               'LPR3' AS source
        FROM lpr3_kontakter AS k JOIN lpr3_procedurer_andre AS p ON p.dw_ek_kontakt = k.dw_ek_kontakt
    """,
    "prescription_events": """
        SELECT pnr, eksd AS event_date, atc, apk AS packages FROM lmdb
    """,
    "lab_results": """
        SELECT pnr, samplingdate AS event_date, analysiscode AS code,
               TRY_CAST(replace(ltrim(value, '<>'), ',', '.') AS DOUBLE) AS value,
               CASE WHEN value LIKE '<%' THEN '<' WHEN value LIKE '>%' THEN '>' END AS bound,
               unit
        FROM lab_forsker
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
# the relations of the registers declared one module each (queries.registers), written out as text
RELATION_SQL |= {name: relation.duckdb_sql for name, relation in DECLARED_RELATIONS.items()}


def relation_query(name: str) -> exp.Query:
    """A logical relation's SQL as a sqlglot query (a SELECT or a UNION of them)."""
    query = sqlglot.parse_one(RELATION_SQL[name], "duckdb")
    assert isinstance(query, exp.Query), name
    return query


def _tables_read(sql: str) -> frozenset[str]:
    return frozenset(table.name for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table))


# Which registers each logical relation reads (schema.Table.register), for AggregateTable.registers:
# read off the relation's SQL, so a relation cannot read a register without saying so.
RELATION_REGISTERS: dict[str, frozenset[str]] = {
    relation: frozenset(TABLES_BY_NAME[name].register for name in _tables_read(sql))
    for relation, sql in RELATION_SQL.items()
}

# Sort order of each materialised relation: code first so prefix ranges prune row groups, then
# date so the calendar bounds of a window prune within a code's rows.
LAYOUT_ORDER: dict[str, str] = {
    "persons": "pnr",
    "diagnosis_events": "code, event_date, pnr",
    "prescription_events": "atc, event_date, pnr",
    "procedure_events": "code, event_date, pnr",
    "lab_results": "code, event_date, pnr",
    "cancer_events": "code, pnr",
    "death_cause_events": "code, pnr",
    "biobank_samples": "sample_type, pnr",
    "education": "pnr, year",
    "income": "pnr, year",
    "diagnosis_spans": "code, pnr",
    "prescription_spans": "atc, year, pnr",  # year after code: a window's years prune row groups
}
LAYOUT_ORDER |= {name: relation.layout_order for name, relation in DECLARED_RELATIONS.items()}

# The compacted relations: name -> (the event relation it summarises, its code column, whether a
# span covers one calendar year rather than the whole history).
SPAN_RELATIONS: dict[str, tuple[str, str, bool]] = {
    "diagnosis_spans": ("diagnosis_events", "code", False),
    # diagnoses of one code and person are rarely more than one a year: yearly spans would be as
    # many rows as the events
    "prescription_spans": ("prescription_events", "atc", True),
}
RELATION_REGISTERS |= {span: RELATION_REGISTERS[events] for span, (events, _, _) in SPAN_RELATIONS.items()}

# Part of a layout's file name: the relations' SQL, sort orders and spans, so that a layout built
# by other code (a relation or table added, an order changed) is never read, with no number to bump.
_LAYOUT_DEFINITION = (
    sorted(RELATION_SQL.items()),
    sorted(LAYOUT_ORDER.items()),
    sorted(SPAN_RELATIONS.items()),
)
LAYOUT_FORMAT = hashlib.sha256(repr(_LAYOUT_DEFINITION).encode()).hexdigest()[:8]


def span_sql(name: str, where: exp.Expr | None = None) -> exp.Select:
    """One row per code and person (and calendar year) of an event relation, with the first and last
    event date."""
    events, code, by_year = SPAN_RELATIONS[name]
    event_date = exp.column("event_date")
    keys: list[exp.Expr] = [exp.column(code)]
    if by_year:
        keys.append(exp.alias_(exp.func("year", event_date.copy()), "year"))
    keys.append(exp.column("pnr"))
    select = sqlglot.select(
        *keys,
        exp.alias_(exp.Min(this=event_date.copy()), "first_date"),
        exp.alias_(exp.Max(this=event_date.copy()), "last_date"),
    ).from_(events)
    if where is not None:
        select = select.where(where)
    return select.group_by(*[key.unalias() for key in keys])


def days_between(later: exp.Expr, earlier: exp.Expr) -> exp.Expr:
    """Days from ``earlier`` to ``later`` (dates), as a number in every dialect (a difference of
    dates is a number in DuckDB but an interval in Spark)."""
    return exp.DateDiff(this=later.copy(), expression=earlier.copy(), unit=exp.var("DAY"))


def resident_interval(person: str) -> tuple[exp.Expr, exp.Expr]:
    """First and last day of residence (both inclusive; the last is NULL while still resident)."""
    birth = exp.column("birth_date", person)
    entry = exp.func(
        "greatest", birth, exp.func("coalesce", exp.column("immigration_date", person), birth.copy())
    )
    leave = exp.func("least", exp.column("death_date", person), exp.column("emigration_date", person))
    return entry, leave


def population_days(
    first_year: int,
    last_year: int,
    groups: list[str],
    conditions: list[exp.Expr],
    observed_after_days: int = 0,
) -> exp.Select:
    """Resident persons and person-days per year and ``groups`` (columns of ``persons p``), as a
    cross join of the persons with the calendar years. With ``observed_after_days`` only the days
    a person has been resident that many days before (a look-back's observed time)."""
    entry, leave = resident_interval("p")
    if observed_after_days:
        entry = exp.Add(this=entry, expression=exp.Literal.number(observed_after_days))
    year = exp.column("year", "y")
    jan1 = exp.func("make_date", year.copy(), exp.Literal.number(1), exp.Literal.number(1))
    dec31 = exp.func("make_date", year.copy(), exp.Literal.number(12), exp.Literal.number(31))
    days = exp.Add(
        this=days_between(
            exp.func("least", exp.func("coalesce", leave, dec31.copy()), dec31.copy()),
            exp.func("greatest", entry, jan1),
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


def table_files(data_dir: Path, table_name: str) -> list[Path]:
    """The Parquet files of a register table: ``DIR/<table>.parquet`` or a directory of parts."""
    single = data_dir / f"{table_name}.parquet"
    if single.exists():
        return [single]
    return sorted((data_dir / table_name).glob("*.parquet"))


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
        files.extend(table_files(data_dir, name))
    return files


def data_version_of(data_dir: Path) -> str:
    """A stable hash of the extract: every file's name, size and Parquet footer (which holds the
    row counts and column statistics), so any regeneration changes it without reading gigabytes."""
    digest = hashlib.sha256(PERSON_NUMBERING.encode())
    for path in extract_files(data_dir):
        size = path.stat().st_size
        digest.update(str(path.relative_to(data_dir)).encode())
        digest.update(size.to_bytes(8, "little"))
        with path.open("rb") as handle:
            handle.seek(max(0, size - 65536))
            digest.update(handle.read())
    return digest.hexdigest()[:16]


def _read_parquet(files: str | list[Path]) -> exp.Expr:
    if isinstance(files, str):
        return exp.func("read_parquet", exp.Literal.string(files))
    return exp.func("read_parquet", exp.Array(expressions=[exp.Literal.string(str(f)) for f in files]))


def register_table_views(
    connection: duckdb.DuckDBPyConnection,
    data_dir: Path,
    sample_parts: int | None = None,
    numbered: bool = True,
) -> None:
    """A view per register table over its Parquet; with ``sample_parts``, over at most that many
    parts, spread evenly and at the same positions in every table (the parts of one extract are
    person chunks, so the contacts and diagnoses of a sampled part still join).

    ``numbered`` (the default) replaces each person-keyed table's pseudonym by the person's number
    (see the module docstring), from a ``person_numbers`` table computed once per connection;
    without it the views are the bare Parquet (for hand-written baselines and samples of codes).
    """
    if numbered:
        bef = exp.Create(
            this=exp.to_table("bef_source"),
            kind="VIEW",
            replace=True,
            expression=sqlglot.select("*").from_(_read_parquet(parquet_source(data_dir, "bef"))),
        )
        connection.execute(bef.sql("duckdb"))
        numbers = exp.Create(
            this=exp.to_table("person_numbers"),
            kind="TABLE",
            replace=True,
            expression=sqlglot.parse_one(PERSON_NUMBERS_SQL, "duckdb"),
        )
        connection.execute(numbers.sql("duckdb"))
    for name in REGISTER_TABLES:
        if sample_parts is None:
            source = _read_parquet(parquet_source(data_dir, name))
        else:
            files = table_files(data_dir, name)
            if not files:
                raise FileNotFoundError(f"register table {name!r} not found in {data_dir}")
            count = min(len(files), sample_parts)
            positions = sorted({round(k * (len(files) - 1) / max(1, count - 1)) for k in range(count)})
            source = _read_parquet([files[k] for k in positions])
        define_table_view(connection, name, source, numbered)


def define_table_view(
    connection: duckdb.DuckDBPyConnection, name: str, source: exp.Expr, numbered: bool = True
) -> None:
    """(Re)define the view of one register table over ``source`` (a Parquet reader)."""
    rows = (
        _numbered(source) if numbered and name in PERSON_KEYED_TABLES else sqlglot.select("*").from_(source)
    )
    view = exp.Create(this=exp.to_table(name), kind="VIEW", replace=True, expression=rows)
    connection.execute(view.sql("duckdb"))


def _numbered(source: exp.Expr) -> exp.Select:
    """``SELECT r.* REPLACE (n.number AS pnr)``: a register table's rows with the person's number
    for the pseudonym (an inner join: rows of persons outside the population register go)."""
    number = exp.alias_(exp.column("number", "n"), PERSON_KEY)
    return (
        sqlglot.select(exp.Column(this=exp.Star(replace=[number]), table=exp.to_identifier("r")))
        .from_(exp.Table(this=source, alias=exp.TableAlias(this=exp.to_identifier("r"))))
        .join(
            exp.alias_(exp.to_table("person_numbers"), "n", table=True),
            on=exp.EQ(this=exp.column(PERSON_KEY, "n"), expression=exp.column(PERSON_KEY, "r")),
        )
    )


def register_relation_views(connection: duckdb.DuckDBPyConnection) -> None:
    for name, sql in RELATION_SQL.items():
        view = exp.Create(
            this=exp.to_table(name), kind="VIEW", replace=True, expression=sqlglot.parse_one(sql, "duckdb")
        )
        connection.execute(view.sql("duckdb"))
    # over the event views above: correct, and as slow as the rest of the raw Parquet path
    for name in SPAN_RELATIONS:
        view = exp.Create(this=exp.to_table(name), kind="VIEW", replace=True, expression=span_sql(name))
        connection.execute(view.sql("duckdb"))


def relation_definitions(source_of: Callable[[str], exp.Expr]) -> list[tuple[str, exp.Select]]:
    """Every view an SQL engine defines to serve the compiler, in dependency order, as sqlglot
    expressions (rendered in the engine's own dialect) over each register table's source
    (``source_of(table_name)``: a table or a file reader of that engine): the pseudonyms' person
    numbers, each register table with numbered persons, the logical relations and the span
    relations. No DuckDB here: any engine that reads Parquet can provide the relations."""
    numbers = sqlglot.parse_one(PERSON_NUMBERS_SQL, "duckdb")
    for cast in numbers.find_all(exp.DataType):
        cast.replace(exp.DataType.build("INT"))  # numbers below 2^31 in every dialect (no UINT in Spark)
    definitions: list[tuple[str, exp.Select]] = [
        ("bef_source", sqlglot.select("*").from_(source_of("bef"))),
        ("person_numbers", numbers),  # type: ignore[list-item]
    ]
    for table in TABLES:
        source = source_of(table.name)
        if table.name in PERSON_KEYED_TABLES:
            # explicit columns, not DuckDB's ``* REPLACE``: the person's number for the pseudonym
            rows = (
                sqlglot.select(
                    *[
                        exp.alias_(exp.column("number", "n"), PERSON_KEY)
                        if column.name == PERSON_KEY
                        else exp.column(column.name, "r")
                        for column in table.columns
                    ]
                )
                .from_(exp.alias_(source, "r", table=True))
                .join(
                    exp.alias_(exp.to_table("person_numbers"), "n", table=True),
                    on=exp.EQ(this=exp.column(PERSON_KEY, "n"), expression=exp.column(PERSON_KEY, "r")),
                )
            )
        else:
            rows = sqlglot.select("*").from_(source)
        definitions.append((table.name, rows))
    definitions += [(name, sqlglot.parse_one(sql, "duckdb")) for name, sql in RELATION_SQL.items()]  # type: ignore[misc]
    definitions += [(name, span_sql(name)) for name in SPAN_RELATIONS]
    return definitions


def raw_parquet_connection(data_dir: Path, numbered: bool = True) -> duckdb.DuckDBPyConnection:
    """An in-memory connection whose relations are views straight over the Parquet files, with
    numbered persons unless ``numbered=False`` (the pseudonyms as they are, for baselines)."""
    connection = duckdb.connect(config={"temp_directory": str(spill_directory(data_dir))})
    register_table_views(connection, data_dir, numbered=numbered)
    register_relation_views(connection)
    return connection


def layout_directory(data_dir: Path) -> Path:
    return data_dir / ".statservice"


def layout_path(data_dir: Path, data_version: str) -> Path:
    return layout_directory(data_dir) / f"layout-{data_version}-f{LAYOUT_FORMAT}.duckdb"


def spill_directory(data_dir: Path) -> Path:
    """Where DuckDB spills what does not fit in memory: beside the data (never in the working
    directory, which may be a source checkout)."""
    return layout_directory(data_dir) / "spill"


@contextlib.contextmanager
def _exclusive_lock(lock_path: Path) -> Iterator[None]:
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- building the layout ---------------------------------------------------------------------------

# The build runs beside a serving process on a small shared machine: DuckDB gets a fixed memory
# budget and spills the rest into the data directory. A relation larger than BUILD_CHUNK_ROWS is
# sorted in code-range chunks of about that size (a full sort of a billion rows would spill tens of
# gigabytes and take far longer than the sum of its chunks).
BUILD_MEMORY_LIMIT = os.environ.get("STATSERVICE_LAYOUT_MEMORY_LIMIT", "4GB")
BUILD_CHUNK_ROWS = 40_000_000
SAMPLE_PARTS = 3  # parts per table read to choose the chunk boundaries
SAMPLE_ROWS = 200_000

# Told each step of a build: what it is doing, how many steps are done, how many there are.
BuildProgress = Callable[[str, int, int], None]


def _no_progress(description: str, done: int, total: int) -> None:
    return None


def build_layout(
    data_dir: Path,
    data_version: str,
    progress: BuildProgress | None = None,
    chunk_rows: int = BUILD_CHUNK_ROWS,
    timings: dict[str, float] | None = None,
) -> Path:
    """Materialise the relations into ``DIR/.statservice/layout-<version>.duckdb`` once.

    ``timings``, when given, receives the seconds each relation took (``benchmarks.layout``).

    Concurrent processes serialise on a file lock; the database is written under a temporary name
    and renamed, so a reader never opens a half-built layout. After a successful build, the
    layouts of other data versions of this extract are deleted.
    """
    target = layout_path(data_dir, data_version)
    if target.exists():
        return target
    with _exclusive_lock(target.with_suffix(".lock")):
        if target.exists():  # another process built it while we waited
            return target
        partial = target.with_name(target.name + f".building-{os.getpid()}")
        staging = target.with_name(target.stem + f".staging-{os.getpid()}")
        # leftovers of builds of this version that crashed (we hold the lock: nobody else builds it)
        _remove(
            *target.parent.glob(target.name + ".building-*"), *target.parent.glob(target.stem + ".staging-*")
        )
        staging.mkdir(parents=True)
        # the register views live in an in-memory database; only the tables go into the file
        connection = duckdb.connect(
            config={
                "memory_limit": BUILD_MEMORY_LIMIT,
                "temp_directory": str(staging / "spill"),
                "preserve_insertion_order": True,  # chunks are appended in code order
            }
        )
        built = False
        try:
            connection.execute("SET enable_progress_bar = false")  # the build reports its own steps
            register_table_views(connection, data_dir)
            connection.execute(
                exp.Attach(this=exp.alias_(exp.Literal.string(str(partial)), "layout")).sql("duckdb")
            )
            build = _LayoutBuild(connection, data_dir, staging, chunk_rows, progress or _no_progress)
            build.run()
            if timings is not None:
                timings.update(build.seconds)
            connection.execute("DETACH layout")
            built = True
        finally:
            connection.close()
            _remove(staging)
            if not built:
                _remove(partial, partial.with_name(partial.name + ".wal"))
        partial.rename(target)
    remove_stale_layouts(data_dir, keep=target)
    return target


class _LayoutBuild:
    """The steps of one build: each relation either in one sorted pass or, when large, partitioned
    by ranges of its sort key into Parquet once and then sorted and appended range by range."""

    def __init__(
        self,
        connection: duckdb.DuckDBPyConnection,
        data_dir: Path,
        staging: Path,
        chunk_rows: int,
        progress: BuildProgress,
    ) -> None:
        self.connection = connection
        self.data_dir = data_dir
        self.staging = staging
        self.chunk_rows = chunk_rows
        self.progress = progress
        self.done = 0
        self.total = 0
        self.seconds: dict[str, float] = {}  # per relation (and "plan", "population_years")

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def step(self, description: str) -> None:
        self.progress(description, self.done, self.total)

    def finish_step(self) -> None:
        self.done += 1
        self.progress("", self.done, self.total)

    def run(self) -> None:
        with self.timed("choosing chunk boundaries"):
            plans = {name: self.boundaries(name) for name in RELATION_SQL}
        # one step per partitioning pass and per chunk, one per small relation, one per range of
        # each span relation (the ranges of its event relation), one for person-time
        self.total = sum(1 + len(b) + 1 if b else 1 for b in plans.values()) + 1
        self.total += sum(len(plans[events]) + 1 for events, _, _ in SPAN_RELATIONS.values())
        for name, boundaries in plans.items():
            with self.timed(name):
                if boundaries:
                    self.build_chunked(name, boundaries)
                else:
                    self.step(f"sorting {name}")
                    self.connection.execute(
                        exp.Create(
                            this=exp.to_table(f"layout.{name}"), kind="TABLE", expression=self.ordered(name)
                        ).sql("duckdb")
                    )
                    self.finish_step()
        for name, (events, _, _) in SPAN_RELATIONS.items():
            with self.timed(name):
                self.build_spans(name, plans[events])
        with self.timed("population_years"):
            self.step("person-time per year")
            build_population_years(self.connection)
            self.finish_step()

    def build_spans(self, name: str, boundaries: list[exp.Expr]) -> None:
        """Summarise the materialised event relation range by range of its code (the ranges it was
        sorted in, so each group-by fits the memory limit and reads only its own row groups), and
        append each range in the layout order (code first, for the zone maps)."""
        events, code, _ = SPAN_RELATIONS[name]
        key = exp.column(code)
        self.connection.execute("USE layout")  # the spans read the events just materialised
        try:
            ranges = len(boundaries) + 1
            for k in range(ranges):
                self.step(
                    f"summarising {events} into {name}"
                    + (f", range {k + 1} of {ranges}" if ranges > 1 else "")
                )
                conditions: list[exp.Expr] = []
                if k > 0:
                    conditions.append(exp.GTE(this=key.copy(), expression=boundaries[k - 1].copy()))
                if k < len(boundaries):
                    conditions.append(exp.LT(this=key.copy(), expression=boundaries[k].copy()))
                elif conditions:  # NULL codes sort last, as in the events' chunks
                    conditions = [exp.or_(conditions[0], exp.Is(this=key.copy(), expression=exp.null()))]
                rows = span_sql(name, exp.and_(*conditions) if conditions else None).order_by(
                    *LAYOUT_ORDER[name].split(", "),
                    dialect="duckdb",  # NULLs last, as the chunks put them
                )
                target = exp.to_table(name)
                statement = (
                    exp.Create(this=target, kind="TABLE", expression=rows)
                    if k == 0
                    else exp.Insert(this=target, expression=rows)
                )
                self.connection.execute(statement.sql("duckdb"))
                self.finish_step()
            self.connection.execute("CHECKPOINT layout")
        finally:
            self.connection.execute("USE memory")

    def ordered(self, name: str, source: exp.Expr | None = None) -> exp.Select:
        source = source if source is not None else relation_query(name).subquery()
        # parsed as DuckDB: NULLs last, as the chunked path puts them (generic SQL would put them first)
        return sqlglot.select("*").from_(source).order_by(*LAYOUT_ORDER[name].split(", "), dialect="duckdb")

    def boundaries(self, name: str) -> list[exp.Expr]:
        """Sort-key values that cut the relation into chunks of about ``chunk_rows`` rows (none for
        a relation that fits in one), chosen from a sample of its parts."""
        sources = _tables_read(RELATION_SQL[name])
        source_rows = sum(self.parquet_rows(table) for table in sources)
        if source_rows <= self.chunk_rows:
            return []
        sample = duckdb.connect(config={"memory_limit": BUILD_MEMORY_LIMIT})
        try:
            register_table_views(sample, self.data_dir, sample_parts=SAMPLE_PARTS, numbered=False)
            relation = relation_query(name)
            count = exp.Count(this=exp.Star())
            sample_rows = _scalar(sample, sqlglot.select(count.copy()).from_(relation.subquery()))
            sample_source_rows = sum(
                _scalar(sample, sqlglot.select(count.copy()).from_(table)) for table in sources
            )
            estimated = source_rows * sample_rows // max(1, sample_source_rows)
            chunks = -(-estimated // self.chunk_rows)
            if chunks <= 1:
                return []
            key = LAYOUT_ORDER[name].split(", ")[0]
            fractions = [exp.Literal.number(k / chunks) for k in range(1, chunks)]
            reservoir = (
                sqlglot.select(key)
                .from_(relation.subquery())
                .where(exp.Not(this=exp.Is(this=exp.column(key), expression=exp.null())))
            )
            quantiles = sqlglot.select(
                exp.func("quantile_disc", exp.column(key), exp.Array(expressions=fractions))
            ).from_(
                exp.Subquery(
                    this=reservoir,
                    alias=exp.TableAlias(this=exp.to_identifier("s")),
                    sample=exp.TableSample(size=exp.Literal.number(SAMPLE_ROWS), method=exp.var("reservoir")),
                )
            )
            row = sample.execute(quantiles.sql("duckdb")).fetchone()
            values = (row[0] if row else None) or []
        finally:
            sample.close()
        return [_literal(v) for v in sorted(set(values))]

    def parquet_rows(self, table: str) -> int:
        return parquet_rows(self.connection, table_files(self.data_dir, table))

    def build_chunked(self, name: str, boundaries: list[exp.Expr]) -> None:
        key = exp.column(LAYOUT_ORDER[name].split(", ")[0])
        relation = relation_query(name).subquery("source")
        bucket = _range_number(key, boundaries, 0, len(boundaries))
        directory = self.staging / name
        self.step(f"partitioning {name} into {len(boundaries) + 1} ranges")
        self.connection.execute(
            exp.Create(
                this=exp.to_table(f"layout.{name}"),
                kind="TABLE",
                expression=sqlglot.select("*").from_(relation.copy()).limit(0),
            ).sql("duckdb")
        )
        described = self.connection.execute(f"DESCRIBE layout.{name}").fetchall()
        columns = [row[0] for row in described]
        order = LAYOUT_ORDER[name].split(", ")
        text_key = {row[0]: row[1] for row in described}[order[0]] == "VARCHAR"
        partitioned = sqlglot.select("*", exp.alias_(bucket, "layout_chunk")).from_(relation)
        copy = exp.Copy(
            this=partitioned.subquery(),
            files=[exp.Literal.string(str(directory))],
            params=[
                exp.CopyParameter(this=exp.var("FORMAT"), expression=exp.var("PARQUET")),
                # staged for minutes only and read once: the cheapest codec to write and read
                exp.CopyParameter(this=exp.var("COMPRESSION"), expression=exp.var("LZ4_RAW")),
                exp.CopyParameter(
                    this=exp.var("PARTITION_BY"), expression=exp.paren(exp.var("layout_chunk"))
                ),
                exp.CopyParameter(this=exp.var("APPEND"), expression=exp.true()),
            ],
        ).sql("duckdb")
        # the partitioning pass needs no order, and keeping one would buffer rows (memory)
        self.connection.execute("SET preserve_insertion_order = false")
        groups = aligned_part_groups(self.data_dir, RELATION_SQL[name], self.chunk_rows // 2)
        if groups is None:
            self.connection.execute(copy)
        else:
            # joined part by part (a national contacts table does not fit one hash join's memory)
            try:
                for group in groups:
                    for table, files in group.items():
                        define_table_view(self.connection, table, _read_parquet(files))
                    self.connection.execute(copy)
            finally:
                for table in groups[0]:
                    define_table_view(
                        self.connection, table, _read_parquet(parquet_source(self.data_dir, table))
                    )
        self.connection.execute("SET preserve_insertion_order = true")
        self.finish_step()
        for k in range(len(boundaries) + 1):
            self.step(f"sorting {name}, range {k + 1} of {len(boundaries) + 1}")
            part = directory / f"layout_chunk={k}"
            if part.is_dir():
                chunk = exp.func(
                    "read_parquet",
                    exp.Literal.string(str(part / "*.parquet")),
                    exp.EQ(this=exp.var("hive_partitioning"), expression=exp.false()),
                )
                if text_key:
                    self.connection.execute(f"DROP TYPE IF EXISTS {_RANGE_CODES}")
                    self.connection.execute(_codes_enum(chunk, order[0]).sql("duckdb"))
                rows = _range_order(chunk, columns, order, text_key)
                self.connection.execute(
                    exp.Insert(this=exp.to_table(f"layout.{name}"), expression=rows).sql("duckdb")
                )
                _remove(part)  # free the disk as we go
            self.finish_step()
        self.connection.execute(f"DROP TYPE IF EXISTS {_RANGE_CODES}")
        self.connection.execute("CHECKPOINT layout")


# The ENUM type of one range's codes (in the build's in-memory catalog, never in the layout file).
_RANGE_CODES = "layout_range_codes"


def _codes_enum(source: exp.Expr, key: str) -> exp.Command:
    """``CREATE TYPE`` of an ENUM whose values are the range's distinct codes in the order ``ORDER BY``
    gives them (byte order: the build's connection sets no collation), so that a code's ENUM index
    is its rank (sqlglot has no expression for ``CREATE TYPE``)."""
    codes = (
        sqlglot.select(key)
        .distinct()
        .from_(source.copy())
        .where(exp.Not(this=exp.Is(this=exp.column(key), expression=exp.null())))
        .order_by(key, dialect="duckdb")
    )
    return exp.Command(this="CREATE", expression=f"TYPE {_RANGE_CODES} AS ENUM ({codes.sql('duckdb')})")


def _range_order(source: exp.Expr, columns: list[str], order: list[str], text_key: bool) -> exp.Select:
    """``SELECT columns FROM source ORDER BY order``. A text first key (a code) is sorted as its
    value in the range's ENUM (``_codes_enum``): a sort on the ENUM's small integer, then the date
    and person, takes about half the CPU of one on the string, and a fifth less than joining
    each code's rank to the rows, which this replaces (a 48M-row range of dispensings, read,
    sorted and appended: 15.1 CPU-s, against 19.1 with the joined rank and 29.4 on the string).
    The order is the same; NULL codes go last, as ORDER BY puts them."""
    first: exp.Expr = exp.column(order[0])
    if text_key:
        first = exp.cast(first, exp.DataType.build(_RANGE_CODES, udt=True))
    return (
        sqlglot.select(*(exp.column(c) for c in columns))
        .from_(source)
        .order_by(first, *(exp.column(c) for c in order[1:]), dialect="duckdb")  # NULLs last
    )


def parquet_rows(connection: duckdb.DuckDBPyConnection, files: list[Path]) -> int:
    """Rows of Parquet files, from their footers (nothing is scanned)."""
    metadata = exp.func(
        "parquet_file_metadata", exp.Array(expressions=[exp.Literal.string(str(f)) for f in files])
    )
    total = connection.execute(
        sqlglot.select(exp.Sum(this=exp.column("num_rows"))).from_(metadata).sql("duckdb")
    ).fetchone()
    return int(total[0] or 0) if total else 0


def _equi_joins(sql: str) -> list[tuple[str, str, str, str]] | None:
    """The joins of a relation's SQL as (table, column, table, column), or None when one is not a
    plain equality of two tables' columns."""
    joins: list[tuple[str, str, str, str]] = []
    for select in sqlglot.parse_one(sql, "duckdb").find_all(exp.Select):
        tables = {t.alias_or_name: t.name for t in select.find_all(exp.Table) if t.parent_select is select}
        for join in select.args.get("joins") or []:
            on = join.args.get("on")
            if not (
                isinstance(on, exp.EQ)
                and isinstance(on.this, exp.Column)
                and isinstance(on.expression, exp.Column)
                and on.this.table in tables
                and on.expression.table in tables
            ):
                return None
            joins.append(
                (tables[on.this.table], on.this.name, tables[on.expression.table], on.expression.name)
            )
    return joins


def _key_ranges(files: list[Path], column: str) -> list[tuple[Any, Any] | None]:
    """Each file's smallest and largest value of ``column`` (None for a file without one)."""
    connection = duckdb.connect()
    try:
        connection.execute("SET enable_progress_bar = false")
        rows = connection.execute(
            sqlglot.select(
                exp.column("filename"),
                exp.Min(this=exp.column(column)),
                exp.Max(this=exp.column(column)),
            )
            .from_(
                exp.func(
                    "read_parquet",
                    exp.Array(expressions=[exp.Literal.string(str(f)) for f in files]),
                    exp.EQ(this=exp.var("filename"), expression=exp.true()),
                )
            )
            .group_by(exp.column("filename"))
            .sql("duckdb")
        ).fetchall()
    finally:
        connection.close()
    by_file = {filename: (low, high) for filename, low, high in rows if low is not None}
    return [by_file.get(str(f)) for f in files]


def _contained(outer: list[tuple[Any, Any] | None], inner: list[tuple[Any, Any] | None]) -> bool:
    """True when ``outer``'s ranges are disjoint and each ``inner`` range lies in the outer range at
    its position: a key of inner part i can then only match rows of outer part i."""
    present = sorted(r for r in outer if r is not None)
    if any(present[k][1] >= present[k + 1][0] for k in range(len(present) - 1)):
        return False
    return all(
        i is None or (o is not None and o[0] <= i[0] and i[1] <= o[1])
        for o, i in zip(outer, inner, strict=True)
    )


def aligned_part_groups(data_dir: Path, sql: str, target_rows: int) -> list[dict[str, list[Path]]] | None:
    """Groups of part positions over which a relation with joins can be computed part by part (the
    union of the groups' results is the whole relation), each group holding about ``target_rows``
    rows of its largest table; None when that does not hold or is not needed.

    It holds when every table the relation reads has the same number of parts and, for every join,
    one side's key ranges per part are disjoint and contain the other side's range at the same
    position: a generated extract (one part per chunk of persons, contact numbers by chunk) and a
    delivery of yearly files with yearly contact numbers both are. It is checked on the data (one
    scan of the key columns), never assumed."""
    joins = _equi_joins(sql)
    if not joins:
        return None
    tables = sorted(_tables_read(sql))
    files = {table: table_files(data_dir, table) for table in tables}
    parts = {len(f) for f in files.values()}
    if len(parts) != 1 or (count := parts.pop()) < 2:
        return None
    for left, left_key, right, right_key in joins:
        left_ranges, right_ranges = _key_ranges(files[left], left_key), _key_ranges(files[right], right_key)
        if not (_contained(left_ranges, right_ranges) or _contained(right_ranges, left_ranges)):
            return None
    connection = duckdb.connect()
    try:
        largest = max(parquet_rows(connection, files[table]) for table in tables)
    finally:
        connection.close()
    per_group = max(1, count * target_rows // max(1, largest))
    if per_group >= count:
        return None
    return [
        {table: files[table][start : start + per_group] for table in tables}
        for start in range(0, count, per_group)
    ]


def _range_number(key: exp.Expr, boundaries: list[exp.Expr], low: int, high: int) -> exp.Expr:
    """The chunk of ``key`` among chunks ``low..high``: chunk k holds boundaries[k-1] <= key <
    boundaries[k], and NULL keys go to the last chunk, as ORDER BY puts them last. A binary search
    written as nested CASEs: a billion rows cut into 30 chunks take 5 comparisons each, not 15."""
    if low == high:
        return exp.Literal.number(low)
    middle = (low + high) // 2
    return (
        exp.Case()
        .when(
            exp.LT(this=key.copy(), expression=boundaries[middle].copy()),
            _range_number(key, boundaries, low, middle),
        )
        .else_(_range_number(key, boundaries, middle + 1, high))  # NULL compares to nothing: last
    )


def _scalar(connection: duckdb.DuckDBPyConnection, select: exp.Select) -> int:
    row = connection.execute(select.sql("duckdb")).fetchone()
    return int(row[0] or 0) if row else 0


def _literal(value: object) -> exp.Expr:
    if isinstance(value, str):
        return exp.Literal.string(value)
    if isinstance(value, int | float):
        return exp.Literal.number(value)
    raise TypeError(f"cannot chunk on a sort key of type {type(value).__name__}")


def _remove(*paths: Path) -> None:
    for path in paths:
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def remove_stale_layouts(data_dir: Path, keep: Path) -> None:
    """Delete the layouts (and leftovers of crashed builds) of other data versions or formats of
    this extract. A version whose lock another process holds is being built: left alone. A process
    still reading a deleted layout keeps its open file until it closes it."""
    directory = layout_directory(data_dir)
    for lock_path in directory.glob("layout-*.lock"):
        stem = lock_path.stem  # layout-<version>-f<format>
        if stem == keep.stem:
            continue
        with lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            try:
                _remove(*directory.glob(f"{stem}.duckdb*"), *directory.glob(f"{stem}.staging-*"))
                lock_path.unlink(missing_ok=True)
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    # completed layouts whose lock file is already gone
    for path in directory.glob("layout-*.duckdb"):
        if path != keep and not path.with_suffix(".lock").exists():
            _remove(path, path.with_name(path.name + ".wal"))


def build_population_years(connection: duckdb.DuckDBPyConnection) -> None:
    """Person-days per year, sex and region for every year with events: the denominators of
    incidence and prevalence, which would otherwise cross join every person with every year."""
    first, last = connection.execute(  # type: ignore[misc]  # an aggregate always returns one row
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


def layout_connection(
    data_dir: Path, data_version: str, progress: BuildProgress | None = None
) -> duckdb.DuckDBPyConnection:
    path = build_layout(data_dir, data_version, progress)
    return duckdb.connect(
        str(path), read_only=True, config={"temp_directory": str(spill_directory(data_dir))}
    )


@contextlib.contextmanager
def rich_build_progress(console: Any = None) -> Iterator[BuildProgress]:
    """A rich progress display for a build started from a terminal (a national-scale build takes
    many minutes and must not look hung): a spinner, the current step, steps done, elapsed time,
    and one logged line per finished step with its duration."""
    import time

    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    display = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
    task = display.add_task("storage layout", total=None)
    current: dict[str, Any] = {"description": "", "started": time.perf_counter()}

    def report(description: str, done: int, total: int) -> None:
        if not display.live.is_started:  # shown only once there is a build to show
            display.start()
        if description:
            current.update(description=description, started=time.perf_counter())
            display.update(task, description=description, completed=done, total=total)
        else:
            seconds = time.perf_counter() - current["started"]
            display.console.log(f"{current['description']}: {seconds:.1f} s")
            display.update(task, completed=done, total=total)

    try:
        yield report
    finally:
        if display.live.is_started:
            display.stop()


def main() -> None:
    """``python -m queries.storage DIR``: build the layout of an extract, showing progress."""
    import argparse
    import time

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("data_dir", type=Path)
    args = parser.parse_args()
    version = data_version_of(args.data_dir)
    started = time.perf_counter()
    with rich_build_progress() as progress:
        path = build_layout(args.data_dir, version, progress)
    print(f"layout {path} ready in {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
