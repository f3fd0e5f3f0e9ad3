"""``ingest(source, mapping, out)``: a register delivery -> a new data version, or a refusal.

Two passes over the delivered files. The first reads only the key variables (the pseudonym and the
contact keys) of every file and fixes one integer per key value for the whole delivery, so a person
or a contact gets the same key in every file. Keys that are whole numbers (distinct as numbers and
within the schema's type) keep their value; any other pseudonyms are numbered in sorted order. The
second pass converts each file's variables to the schema, batch by batch, checks them and writes
one Parquet part per batch with the generator's writer, into a staging directory that becomes
``out`` only if nothing was refused. The report names file, row and variable of every problem,
never a value: it may be passed around, and row-level data must not travel with it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from pathlib import Path

import polars as pl
import pyarrow as pa

from ingestion.convert import as_text, code_checker, convert, map_codes
from ingestion.mapping import Mapping
from ingestion.readers import BATCH_ROWS, ROW, delivered_columns, is_delivery_file, read_ahead, read_file
from synthetic_registers.catalog import Catalog
from synthetic_registers.schema import PERSON_KEY, TABLES, TABLES_BY_NAME, Table
from synthetic_registers.writer import arrow_schema, write_part

# The keys joining tables: the person, the LPR2 contact, the LPR3 contact. Each gets one integer
# per delivered value across all files.
KEY_COLUMNS = (PERSON_KEY, "recnum", "dw_ek_kontakt")
# Tables where a key identifies a row: a duplicate would count a person or a contact twice.
PRIMARY_KEYS = {"bef": PERSON_KEY, "lpr_adm": "recnum", "lpr3_kontakter": "dw_ek_kontakt"}
POPULATION_TABLE = "bef"
# Population variables that are the same in every yearly snapshot of a person.
UNCHANGING = ("koen", "foed_dag")
SNAPSHOTS = ".population-snapshots"  # staging of the population register's yearly files
EXAMPLE_ROWS = 5  # row numbers named per problem
REPORT_FILE = "ingest-report.json"


@dataclass
class Problem:
    severity: str  # "error" (refuses the delivery) or "warning"
    file: str | None
    variable: str | None
    problem: str
    count: int = 0
    rows: list[int] = field(default_factory=list)  # the first few data rows (1-based), no values


@dataclass
class TableReport:
    files: list[str] = field(default_factory=list)
    rows: int = 0
    variables: dict[str, dict] = field(default_factory=dict)
    coverage_column: str | None = None
    coverage_by_year: dict[str, int] = field(default_factory=dict)
    duplicate_rows: int = 0
    persons_not_in_population_register: int = 0
    unknown_codes: dict[str, int] = field(default_factory=dict)
    dates_out_of_range: dict[str, int] = field(default_factory=dict)


@dataclass
class IngestReport:
    source: str
    mapping: str
    out: str
    accepted: bool = False
    data_version: str | None = None
    problems: list[Problem] = field(default_factory=list)
    tables: dict[str, TableReport] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    def add(
        self,
        severity: str,
        file: str | None,
        variable: str | None,
        problem: str,
        rows: list[int] | None = None,
        count: int | None = None,
    ) -> None:
        numbers = [] if rows is None else [int(r) for r in rows]
        count = count if count is not None else len(numbers) or 1
        self.problems.append(Problem(severity, file, variable, problem, count, numbers[:EXAMPLE_ROWS]))

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, ensure_ascii=False)


@dataclass
class _File:
    path: Path
    table: Table
    names: dict[str, str]  # schema variable -> delivered name


def ingest(
    source: Path,
    mapping: Mapping,
    out: Path,
    start_year: int | None = None,
    end_year: int | None = None,
    batch_rows: int = BATCH_ROWS,
) -> IngestReport:
    """Read the delivery in ``source`` into a new data version at ``out`` (which must not exist),
    converting and writing each file in batches of ``batch_rows`` rows (one Parquet part each).

    Returns the report; ``report.accepted`` is False (and ``out`` not created) when any error was
    found. The report is also written to ``<out>.ingest-report.json`` beside ``out``, and on
    success into ``out`` itself.
    """
    source, out = Path(source), Path(out)
    report = IngestReport(str(source), str(mapping.path), str(out))
    if out.exists() and any(out.iterdir()):
        report.add("error", None, None, f"{out} exists and is not empty: a data version is never overwritten")
        return _finish(report, out, None)
    files = _match_files(source, mapping, report)
    if not report.errors:
        keys = _key_encodings(files, mapping, report, batch_rows)
    staging = out.with_name(f".{out.name}.staging")
    shutil.rmtree(staging, ignore_errors=True)
    if not report.errors:
        _convert_all(files, mapping, keys, staging, report, batch_rows)
    if report.errors:
        shutil.rmtree(staging, ignore_errors=True)
        return _finish(report, out, None)
    years = _extract_years(report, start_year, end_year)
    version = _content_hash(staging)
    persons = report.tables[POPULATION_TABLE].rows
    metadata = {
        "data_version": version,
        "source": "delivery",
        "ingested_from": source.name,
        "ingested_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "mapping": mapping.path.name,
        "persons": persons,
        "start_year": years[0],
        "end_year": years[1],
        "layout": "one directory per table holding Parquet parts part-NNNNN.parquet",
    }
    Catalog.build(metadata, {name: t.rows for name, t in report.tables.items()}).write(staging)
    report.accepted = True
    report.data_version = version
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.exists():
        out.rmdir()  # empty, checked above
    staging.rename(out)
    return _finish(report, out, out)


def _finish(report: IngestReport, out: Path, inside: Path | None) -> IngestReport:
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_name(f"{out.name}.{REPORT_FILE}").write_text(report.to_json(), encoding="utf-8")
    if inside is not None:
        (inside / REPORT_FILE).write_text(report.to_json(), encoding="utf-8")
    return report


def _match_files(source: Path, mapping: Mapping, report: IngestReport) -> list[_File]:
    paths = [source] if source.is_file() else sorted(p for p in source.iterdir() if is_delivery_file(p))
    if not paths:
        report.add("error", str(source), None, "no delivery files (.csv, .sas7bdat, .xpt, .parquet) found")
    files = []
    for path in paths:
        table_name = mapping.table_of(path)
        if table_name is None:
            report.add("warning", path.name, None, "file name matches no table of the mapping: not read")
            continue
        table = TABLES_BY_NAME[table_name]
        delivered = {name.lower(): name for name in delivered_columns(path, mapping)}
        names = {}
        for column in table.columns:
            found = next(
                (delivered[v] for v in mapping.tables[table_name].variants[column.name] if v in delivered),
                None,
            )
            if found is not None:
                names[column.name] = found
            elif column.nullable:
                report.add("warning", path.name, column.name, "variable not delivered: left missing")
            else:
                variants = ", ".join(mapping.tables[table_name].variants[column.name])
                report.add("error", path.name, column.name, f"variable not delivered (looked for {variants})")
        used = {n.lower() for n in names.values()}
        for extra in sorted(set(delivered) - used - set(mapping.tables[table_name].ignored)):
            report.add("warning", path.name, delivered[extra], "variable not in the schema: not read")
        files.append(_File(path, table, names))
        report.tables.setdefault(table_name, TableReport()).files.append(path.name)
    return files


@dataclass
class _KeyEncoding:
    numeric: bool
    numbers: pl.DataFrame | None = None  # for text keys: "key" (text) -> "number"


def _key_encodings(
    files: list[_File], mapping: Mapping, report: IngestReport, batch_rows: int
) -> dict[str, _KeyEncoding]:
    values: dict[str, list[pl.Series]] = defaultdict(list)
    keyed = [(file, [k for k in KEY_COLUMNS if k in file.names]) for file in files]
    frames = read_ahead(
        (file, present, frame)
        for file, present in keyed
        if present
        for frame in read_file(file.path, mapping, [file.names[k] for k in present], batch_rows)
    )
    for file, present, frame in frames:
        for key in present:
            values[key].append(as_text(frame[file.names[key]]).drop_nulls().unique())
    encodings = {}
    for key, parts in values.items():
        distinct = pl.concat(parts).unique().sort()
        highest = 2**32 - 1 if key == PERSON_KEY else 2**63 - 1
        as_numbers = distinct.cast(pl.UInt64, strict=False)
        whole = (
            distinct.str.contains(r"^[0-9]+$").all()
            and as_numbers.null_count() == 0
            and as_numbers.n_unique() == len(distinct)
            and (len(distinct) == 0 or int(as_numbers.max()) <= highest)  # type: ignore[arg-type]  # no nulls: a number
        )
        if whole:
            encodings[key] = _KeyEncoding(numeric=True)
        else:
            if len(distinct) > highest:
                report.add("error", None, key, "more distinct keys than the schema's integer type holds")
            numbers = pl.DataFrame({"key": distinct, "number": pl.arange(0, len(distinct), eager=True)})
            encodings[key] = _KeyEncoding(numeric=False, numbers=numbers)
    return encodings


def _convert_all(
    files: list[_File],
    mapping: Mapping,
    keys: dict[str, _KeyEncoding],
    staging: Path,
    report: IngestReport,
    batch_rows: int,
) -> None:
    order = {t.name: i for i, t in enumerate(TABLES)}
    files = sorted(files, key=lambda f: (order[f.table.name], f.path.name))  # the population first
    population: pl.Series | None = None
    parts: dict[str, int] = defaultdict(int)
    primary: dict[str, list[pl.DataFrame]] = defaultdict(list)
    batches = read_ahead(
        (file, raw)
        for file in files
        for raw in read_file(file.path, mapping, list(file.names.values()), batch_rows)
    )
    # A population register in several files is yearly snapshots (DST delivers BEF so): a person is
    # in every year they were resident, and becomes one row (see _collapse_snapshots).
    snapshot_files = sorted(f.path.name for f in files if f.table.name == POPULATION_TABLE)
    snapshots = staging / SNAPSHOTS if len(snapshot_files) > 1 else None
    for file, raw in batches:
        frame = _convert_batch(file, raw, mapping, keys, report)
        if frame is None:
            continue
        table = file.table
        summary = report.tables[table.name]
        summary.rows += len(frame)
        if table.name == POPULATION_TABLE:
            population = (
                frame[PERSON_KEY] if population is None else pl.concat([population, frame[PERSON_KEY]])
            )
        elif PERSON_KEY in frame.columns and population is not None:
            outside = int((~frame[PERSON_KEY].is_in(population.implode())).sum())
            summary.persons_not_in_population_register += outside
        if table.name in PRIMARY_KEYS:
            key = PRIMARY_KEYS[table.name]
            primary[table.name].append(frame.select(key, ROW, pl.lit(file.path.name).alias("__file")))
        data = frame.drop(ROW)
        summary.duplicate_rows += len(data) - data.n_unique()  # within a batch of a file
        if snapshots is not None and table.name == POPULATION_TABLE:
            snapshots.mkdir(parents=True, exist_ok=True)
            period = pl.lit(snapshot_files.index(file.path.name)).alias("__period")
            data.with_columns(period).write_parquet(snapshots / f"part-{parts[SNAPSHOTS]:05d}.parquet")
            parts[SNAPSHOTS] += 1
            continue
        write_part(staging, table.name, {c: data[c].to_arrow() for c in data.columns}, parts[table.name])
        parts[table.name] += 1
    if snapshots is not None and snapshots.is_dir():
        persons, conflicts = _collapse_snapshots(snapshots)
        shutil.rmtree(snapshots)
        write_part(staging, POPULATION_TABLE, {c: persons[c].to_arrow() for c in persons.columns}, 0)
        parts[POPULATION_TABLE] = 1
        summary = report.tables[POPULATION_TABLE]
        summary.rows, summary.coverage_by_year = len(persons), {}
        _coverage(persons, TABLES_BY_NAME[POPULATION_TABLE], summary)
        if conflicts:
            report.add(
                "error",
                None,
                ", ".join(UNCHANGING),
                "sex or birth date differs between the population register's yearly files",
                count=conflicts,
            )
    for name, frames in primary.items():
        rows = pl.concat(frames)
        # a yearly snapshot repeats its persons in every year: a key counts twice within one file
        within = (
            [PRIMARY_KEYS[name], "__file"] if snapshots is not None and name == POPULATION_TABLE else None
        )
        identity = pl.struct(within) if within else pl.col(PRIMARY_KEYS[name])
        repeated = rows.filter(identity.is_duplicated() & ~identity.is_first_distinct())
        for file_name, group in repeated.group_by("__file", maintain_order=True):
            report.add(
                "error",
                file_name[0],
                PRIMARY_KEYS[name],
                "duplicate key: the row would count twice",
                group[ROW].to_list(),
            )
    for name, summary in report.tables.items():
        if summary.persons_not_in_population_register:
            report.add(
                "warning",
                None,
                PERSON_KEY,
                f"{name}: rows of persons not in the population register (left out of every answer)",
                count=summary.persons_not_in_population_register,
            )
        if summary.duplicate_rows:
            report.add(
                "warning",
                None,
                None,
                f"{name}: identical rows delivered more than once (kept)",
                count=summary.duplicate_rows,
            )
    for table in TABLES:
        if table.name not in report.tables:
            report.add("warning", None, None, f"no file for table {table.name}: written empty")
            report.tables[table.name] = TableReport()
        if not parts[table.name]:  # not delivered, or delivered without rows: the engine reads it empty
            schema = arrow_schema(table.name)
            write_part(staging, table.name, {f.name: pa.array([], type=f.type) for f in schema}, 0)


def _collapse_snapshots(directory: Path) -> tuple[pl.DataFrame, int]:
    """One row per person from the yearly snapshots: each variable's latest value that is not
    missing (the last year's residence; a death or emigration date from whichever year has it), and
    how many persons' sex or birth date differ between years (errors: one of them is wrong)."""
    table = TABLES_BY_NAME[POPULATION_TABLE]
    others = [c.name for c in table.columns if c.name != PERSON_KEY]
    rows = pl.scan_parquet(directory / "*.parquet")
    collapsed = (
        rows.group_by(PERSON_KEY)
        .agg(
            *[pl.col(c).sort_by("__period").drop_nulls().last() for c in others],
            *[pl.col(c).drop_nulls().n_unique().alias(f"__{c}_values") for c in UNCHANGING],
        )
        .collect()
    )
    conflicts = collapsed.filter(pl.any_horizontal(pl.col(f"__{c}_values") > 1 for c in UNCHANGING)).height
    return collapsed.select(PERSON_KEY, *others).sort(PERSON_KEY), conflicts


def _convert_batch(
    file: _File, raw: pl.DataFrame, mapping: Mapping, keys: dict[str, _KeyEncoding], report: IngestReport
) -> pl.DataFrame | None:
    table, name = file.table, file.path.name
    summary = report.tables[table.name]
    table_mapping = mapping.tables[table.name]
    columns: list[pl.Series] = [raw[ROW]]
    rows = raw[ROW]
    failed = False
    for column in table.columns:
        if column.name not in file.names:
            columns.append(pl.Series(column.name, [None] * len(raw), dtype=pl.Utf8))
            columns[-1] = convert(columns[-1], column, mapping.csv_decimal)[0]  # missing, in its type
            continue
        delivered = raw[file.names[column.name]]
        summary.variables.setdefault(
            column.name,
            {
                "delivered_as": file.names[column.name],
                "delivered_type": str(delivered.dtype),
                "type": column.duckdb_type,
                "missing": 0,
            },
        )
        if column.name in keys:
            values, bad, problem = _encode_key(delivered, column.name, keys[column.name])
        else:
            codes = table_mapping.codes.get(column.name, {})
            values, bad, problem = convert(map_codes(delivered, codes), column, mapping.csv_decimal)
        if bad.any():
            report.add("error", name, column.name, problem, rows.filter(bad).to_list())
            failed = True
        missing = values.is_null() & ~bad
        summary.variables[column.name]["missing"] += int(missing.sum())
        if not column.nullable and missing.any():
            report.add(
                "error",
                name,
                column.name,
                "missing value in a variable that is never missing",
                rows.filter(missing).to_list(),
            )
            failed = True
        columns.append(values)
    if failed:
        return None
    frame = pl.DataFrame(columns)
    for column in table.columns:
        check = code_checker(column)
        if check is not None:
            unknown = frame.select(pl.col(column.name).is_not_null() & ~check).to_series()
            _tolerate(
                report,
                name,
                column.name,
                "code not valid for its code system",
                unknown,
                rows,
                len(frame),
                mapping.unknown_code_tolerance,
            )
            summary.unknown_codes[column.name] = summary.unknown_codes.get(column.name, 0) + int(
                unknown.sum()
            )
        if column.duckdb_type in ("DATE", "TIMESTAMP"):
            as_date = (
                frame[column.name].cast(pl.Date) if column.duckdb_type == "TIMESTAMP" else frame[column.name]
            )
            outside = (as_date < mapping.earliest_date) | (as_date > mapping.latest_date)
            outside = outside.fill_null(False)
            _tolerate(
                report,
                name,
                column.name,
                f"date outside {mapping.earliest_date} to {mapping.latest_date}",
                outside,
                rows,
                len(frame),
                mapping.unknown_code_tolerance,
            )
            summary.dates_out_of_range[column.name] = summary.dates_out_of_range.get(column.name, 0) + int(
                outside.sum()
            )
    _coverage(frame, table, summary)
    return frame


def _encode_key(delivered: pl.Series, name: str, encoding: _KeyEncoding) -> tuple[pl.Series, pl.Series, str]:
    text = as_text(delivered)
    target = pl.UInt32 if name == PERSON_KEY else pl.UInt64
    if encoding.numeric:
        values = text.cast(pl.UInt64, strict=False).cast(target, strict=False)
    else:
        assert encoding.numbers is not None
        joined = pl.DataFrame({"key": text}).join(
            encoding.numbers, on="key", how="left", maintain_order="left"
        )
        values = joined["number"].cast(target)
    return values.rename(name), text.is_not_null() & values.is_null(), "key not readable"


def _tolerate(
    report: IngestReport,
    file: str,
    variable: str,
    problem: str,
    mask: pl.Series,
    rows: pl.Series,
    total: int,
    tolerance: float,
) -> None:
    count = int(mask.sum())
    if not count:
        return
    severity = "error" if count > tolerance * total else "warning"
    suffix = (
        f" (more than {tolerance:.2%} of the rows)" if severity == "error" else f" (within {tolerance:.2%})"
    )
    report.add(severity, file, variable, problem + suffix, rows.filter(mask).to_list())


def _coverage_column(table: Table) -> str | None:
    for column in table.columns:
        if column.duckdb_type in ("DATE", "TIMESTAMP") or column.name == "aar":
            return column.name
    return None


def _coverage(frame: pl.DataFrame, table: Table, summary: TableReport) -> None:
    name = _coverage_column(table)
    if name is None:
        return
    summary.coverage_column = name
    column = frame[name]
    years = column.cast(pl.Int32) if name == "aar" else column.dt.year()
    for year, count in years.drop_nulls().value_counts(sort=False).iter_rows():
        key = str(year)
        summary.coverage_by_year[key] = summary.coverage_by_year.get(key, 0) + int(count)


def _extract_years(report: IngestReport, start: int | None, end: int | None) -> tuple[int, int]:
    """The extract's period: given, or the years the prescription register covers (it runs through
    the whole period), or else every dated table's."""
    years = [int(y) for y in report.tables.get("lmdb", TableReport()).coverage_by_year]
    if not years:
        years = [int(y) for t in report.tables.values() for y in t.coverage_by_year]
    first = start if start is not None else (min(years) if years else dt.date.today().year)
    last = end if end is not None else (max(years) if years else first)
    return first, last


def _content_hash(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*.parquet")):
        digest.update(str(path.relative_to(directory)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]
