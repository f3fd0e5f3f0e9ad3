"""Ingesting register deliveries: a synthetic extract exported as Danish CSV and as SAS7BDAT is read
back into the same tables and gives the same answers through the real DuckDB engine; deliveries
that would silently change answers are refused with file, row and variable."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from ingestion.convert import CODE_PATTERNS, FREE_CODE_SYSTEMS
from ingestion.ingest import KEY_COLUMNS, REPORT_FILE, ingest
from ingestion.mapping import load_mapping
from queries.engine import DuckDBEngine
from queries.model import Query
from statservice.cli import app
from synthetic_registers.catalog import ENUMERATIONS, Catalog
from synthetic_registers.delivery import DELIVERY_FORMATS, delivered_name, file_stem, write_delivery
from synthetic_registers.generate import generate_registers
from synthetic_registers.schema import TABLES

QUERIES = {
    "t2d_by_sex": {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2015-01-01", "end": "2021-12-31"},
        },
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}, {"by": "region"}]},
    },
    "metformin_by_age": {
        "index": {
            "concept": {"type": "prescription", "atc": ["A10BA02"]},
            "period": {"start": "2016-01-01", "end": "2020-12-31"},
        },
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": 10}]},
    },
}


@pytest.fixture(scope="module")
def original(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("original")
    generate_registers(directory, persons=2000, seed=5, workers=1, start_year=2015, end_year=2021)
    return directory


@pytest.fixture(scope="module", params=DELIVERY_FORMATS)
def delivery(request, original, tmp_path_factory) -> tuple[str, Path]:
    directory = tmp_path_factory.mktemp(f"delivery-{request.param}")
    write_delivery(original, directory, request.param)
    return request.param, directory


def _sorted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.sort(frame.columns, nulls_last=True)


@pytest.mark.slow
def test_delivery_looks_like_one(delivery):
    fmt, directory = delivery
    names = sorted(p.name for p in directory.iterdir())
    assert "lmdb2015.csv" in names or "lmdb2015.sas7bdat" in names  # one file per year
    assert not any(name.endswith(".parquet") for name in names)
    if fmt == "csv":
        raw = (directory / "bef2015.csv").read_bytes()  # yearly snapshots of the population
        header = raw.split(b"\n")[0].decode("latin-1")
        assert header.startswith("pnr;c_kon;") and header.endswith(";aar")  # c_kon: a name variant
        assert (directory / "lpr_a_kontakt.csv").read_bytes().count("pædiatri".encode("latin-1")) > 0
        assert b"," in (directory / "lab_forsker2018.csv").read_bytes()  # decimal commas
    else:
        import pandas as pd

        # pandas' own SAS reader (not ReadStat) reads the files: they are real SAS7BDAT
        frame = pd.read_sas(directory / "bef2015.sas7bdat", encoding="utf-8")
        assert list(frame.columns)[:2] == ["PNR", "KOEN"]
        assert frame["PNR"].str.len().eq(12).all()  # 12-digit zero-padded pseudonyms


@pytest.mark.slow
def test_delivery_is_ingested_into_the_same_tables_and_answers(delivery, original, tmp_path):
    fmt, directory = delivery
    out = tmp_path / "versions" / fmt
    report = ingest(directory, load_mapping(), out)
    assert report.accepted, [p for p in report.errors]
    for table in TABLES:
        ours = pl.read_parquet(out / table.name / "*.parquet")
        theirs = pl.read_parquet(original / table.name / "*.parquet")
        assert ours.schema == theirs.schema, table.name
        assert _sorted(ours).equals(_sorted(theirs)), table.name
    catalog, before = Catalog.load(out), Catalog.load(original)
    assert (catalog.first_year, catalog.last_year) == (before.first_year, before.last_year)
    assert json.loads((out / REPORT_FILE).read_text())["accepted"] is True
    answers = {}
    for directory_ in (original, out):
        engine = DuckDBEngine(directory_)
        try:
            answers[directory_] = {
                name: [
                    [(c.coordinates, c.count, list(c.persons)) for c in table.cells]
                    for table in engine.run(Query.model_validate(q))
                ]
                for name, q in QUERIES.items()
            }
        finally:
            engine.close()
    assert answers[out] == answers[original]
    # same counts and the same persons (numbered alike) in every cell, and not all of them empty
    assert any(count > 0 for tables in answers[out].values() for t in tables for _, count, _ in t)


def test_default_mapping_covers_every_name_the_delivery_uses():
    mapping = load_mapping()
    for fmt in DELIVERY_FORMATS:
        for table in TABLES:
            assert mapping.table_of(Path(f"{file_stem(table.name)}2019.csv")) == table.name
            for column in table.columns:
                name = delivered_name(fmt, table.name, column.name).lower()
                assert name in mapping.tables[table.name].variants[column.name], (
                    fmt,
                    table.name,
                    column.name,
                )


def test_every_code_system_is_checked_or_declared_free():
    systems = {c.code_system for t in TABLES for c in t.columns if c.code_system}
    assert systems <= set(ENUMERATIONS) | set(CODE_PATTERNS) | FREE_CODE_SYSTEMS
    assert not (set(CODE_PATTERNS) & FREE_CODE_SYSTEMS)
    key_columns = {c.name for t in TABLES for c in t.columns}
    assert set(KEY_COLUMNS) <= key_columns


def _write_csv(path: Path, header: str, *rows: str) -> None:
    path.write_bytes(("\n".join([header, *rows]) + "\n").encode("latin-1"))


def _minimal_delivery(directory: Path) -> None:
    """The population and prescriptions only, with string pseudonyms and Danish conventions."""
    directory.mkdir()
    _write_csv(
        directory / "bef.csv",
        "PNR;KOEN;FOED_DAG;DOED_DATO;REG;KOM",
        "AB12;M;01FEB1950;;1084;101",
        "CD34;K;02MAR1961;;1081;851",
        "EF56;2;05MAY1970;2019-01-01;1082;751",
    )
    _write_csv(
        directory / "lmdb2019.csv",
        "PNR;EKSD;ATC;APK;VOLUME;VNR;INDO",
        "AB12;2019-03-04;A10BA02;1;50,5;101790;",
        "CD34;2019-04-05;A10BA02;2;100;101790;0000031",
        "XX99;2019-04-06;C10AA01;1;30;123;",
    )


def test_string_pseudonyms_codes_and_danish_conventions(tmp_path):
    _minimal_delivery(tmp_path / "in")
    report = ingest(tmp_path / "in", load_mapping(), tmp_path / "out")
    assert report.accepted, report.errors
    bef = pl.read_parquet(tmp_path / "out" / "bef" / "*.parquet").sort("pnr")
    lmdb = pl.read_parquet(tmp_path / "out" / "lmdb" / "*.parquet").sort("pnr")
    assert bef["koen"].to_list() == [1, 2, 2]  # M/K mapped to the schema's 1/2
    assert bef["foed_dag"].dt.year().to_list() == [1950, 1961, 1970]  # SAS DATE9. dates (doed_dato: ISO)
    # the same person has the same key in both files; the pseudonyms are numbered in sorted order
    assert bef["pnr"].to_list() == [0, 1, 2]
    assert lmdb["pnr"].to_list() == [0, 1, 3]
    assert lmdb["volume"].to_list() == [50.5, 100.0, 30.0]  # decimal comma
    assert report.tables["lmdb"].persons_not_in_population_register == 1
    warned = [p.problem for p in report.warnings]
    assert any("not in the population register" in p for p in warned)
    assert any("no file for table lpr_adm" in p for p in warned)


@pytest.mark.parametrize(
    ("file", "row", "replacement", "variable", "problem"),
    [
        ("lmdb2019.csv", 2, "CD34;2019-13-05;A10BA02;2;100;101790;", "eksd", "unparseable date"),
        ("lmdb2019.csv", 1, "AB12;2019-03-04;XYZ;1;50,5;101790;", "atc", "code not valid"),
        ("bef.csv", 2, "AB12;K;02MAR1961;;1081;851", "pnr", "duplicate key"),
        ("bef.csv", 3, "EF56;3;05MAY1970;;1082;751", "koen", "code not valid"),
        ("bef.csv", 3, "EF56;2;1970-05-05;;1082;751", "foed_dag", "unparseable date"),  # mixed formats
        ("lmdb2019.csv", 1, "AB12;2105-03-04;A10BA02;1;50,5;101790;", "eksd", "date outside"),
        ("lmdb2019.csv", 2, "CD34;2019-04-05;A10BA02;2;1.000,5;101790;", "volume", "not a number"),
        ("bef.csv", 1, "AB12;M;;;1084;101", "foed_dag", "missing value"),
    ],
)
def test_refused_with_file_row_and_variable(tmp_path, file, row, replacement, variable, problem):
    _minimal_delivery(tmp_path / "in")
    path = tmp_path / "in" / file
    lines = path.read_bytes().decode("latin-1").splitlines()
    lines[row] = replacement
    path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
    report = ingest(tmp_path / "in", load_mapping(), tmp_path / "out")
    assert not report.accepted
    assert not (tmp_path / "out").exists()  # nothing written but the report
    matching = [p for p in report.errors if p.variable == variable and problem in p.problem]
    assert matching, report.errors
    assert matching[0].file == file and row in matching[0].rows
    saved = json.loads((tmp_path / f"out.{REPORT_FILE}").read_text())
    assert saved["accepted"] is False
    # the report names rows, never values: no pseudonym appears in it
    assert "AB12" not in json.dumps(saved) and "CD34" not in json.dumps(saved)


def test_cli_ingest_refuses_with_exit_1_and_accepts(tmp_path):
    _minimal_delivery(tmp_path / "in")
    runner = CliRunner()
    accepted = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "v1")])
    assert accepted.exit_code == 0, accepted.output
    assert (tmp_path / "v1" / "catalog.json").is_file()
    again = runner.invoke(app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "v1")])
    assert again.exit_code == 1  # a data version is never overwritten
    assert "refused" in again.output


@pytest.mark.parametrize(("fmt", "suffix"), [("sas", ".sas7bdat"), ("csv", ".csv")])
def test_cli_generate_writes_a_delivery(tmp_path, fmt, suffix):
    out = tmp_path / "delivery"
    arguments = ["generate", "--persons", "1000", "--seed", "3", "--out", str(out), "--format", fmt]
    result = CliRunner().invoke(
        app, [*arguments, "--start-year", "2019", "--end-year", "2020", "--workers", "1"]
    )
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert f"bef2019{suffix}" in names and f"lmdb2019{suffix}" in names and f"lmdb2020{suffix}" in names
    assert all(name.endswith(suffix) for name in names)  # no Parquet, no catalog: a delivery
    assert sorted(p.name for p in tmp_path.iterdir()) == ["delivery"]  # the Parquet it came from is gone
    refused = CliRunner().invoke(app, [*arguments[:-1], "xlsx"])
    assert refused.exit_code == 2 and "--format" in refused.output


def test_sas_transport_and_parquet_files_with_a_mapping_of_ones_own(tmp_path):
    """A delivery mixing a Parquet population register and a SAS transport (XPT) prescription file
    with names no default covers, mapped by the customer's own mapping file."""
    import pyreadstat

    source = tmp_path / "in"
    source.mkdir()
    pl.DataFrame(
        {
            "ID": ["p1", "p2"],
            "KOEN": [1, 2],
            "FOED_DAG": [dt.date(1950, 1, 1), dt.date(1960, 6, 1)],
            "REG": [1084, 1081],
            "KOM": [101, 851],
        }
    ).write_parquet(source / "population.parquet")
    sas_days = [float((d - dt.date(1960, 1, 1)).days) for d in (dt.date(2020, 1, 2), dt.date(2020, 5, 6))]
    drugs = {
        "ID": ["p2", "p1"],
        "DISPDATE": sas_days,
        "ATC": ["N06AB06", "C10AA01"],
        "APK": [1.0, 2.0],
        "VOLUME": [30.0, 100.0],
        "VNR": [1.0, 2.0],
        "INDO": ["", "0000031"],
    }
    pyreadstat.write_xport(
        pl.DataFrame(drugs),
        str(source / "drugs_2020.xpt"),
        file_format_version=8,
        table_name="DRUGS",
        variable_format={"DISPDATE": "DATE9."},
    )
    mapping_file = tmp_path / "mine.toml"
    mapping_file.write_text(
        '[tables.bef]\nfiles = ["population"]\n[tables.bef.columns]\npnr = ["ID"]\n'
        '[tables.lmdb]\nfiles = ["drugs"]\n[tables.lmdb.columns]\npnr = ["ID"]\neksd = ["DISPDATE"]\n'
    )
    report = ingest(source, load_mapping(mapping_file), tmp_path / "out")
    assert report.accepted, report.errors
    lmdb = pl.read_parquet(tmp_path / "out" / "lmdb" / "*.parquet").sort("pnr")
    assert lmdb["pnr"].to_list() == [0, 1]  # p1, p2: the same numbering as in the population file
    assert lmdb["atc"].to_list() == ["C10AA01", "N06AB06"]
    assert lmdb["eksd"].dt.year().to_list() == [2020, 2020]
    assert lmdb["indo"].to_list() == ["0000031", None]


def test_a_mapping_naming_an_unknown_variable_is_a_usage_error(tmp_path):
    _minimal_delivery(tmp_path / "in")
    mapping_file = tmp_path / "bad.toml"
    mapping_file.write_text('[tables.bef.columns]\nshoe_size = ["SKO"]\n')
    result = CliRunner().invoke(
        app, ["ingest", str(tmp_path / "in"), "--out", str(tmp_path / "v"), "--mapping", str(mapping_file)]
    )
    assert result.exit_code == 2 and "shoe_size" in result.output
    assert not (tmp_path / "v").exists()


@pytest.mark.slow
@pytest.mark.parametrize("fmt", DELIVERY_FORMATS)
def test_small_batches_give_the_same_tables_and_name_rows_through_the_whole_file(original, tmp_path, fmt):
    """Files are read, converted and written in batches (a national LMDB year does not fit in memory
    whole): the tables are the same as in one batch, and a row number counts from the file's start."""
    delivery = tmp_path / "delivery"
    write_delivery(original, delivery, fmt)
    whole = ingest(delivery, load_mapping(), tmp_path / "whole")
    batched = ingest(delivery, load_mapping(), tmp_path / "batched", batch_rows=700)
    assert whole.accepted and batched.accepted
    for table in TABLES:
        ours = pl.read_parquet(tmp_path / "batched" / table.name / "*.parquet")
        assert _sorted(ours).equals(_sorted(pl.read_parquet(tmp_path / "whole" / table.name / "*.parquet")))
    assert len(list((tmp_path / "batched" / "lmdb").glob("*.parquet"))) > len(
        list((tmp_path / "whole" / "lmdb").glob("*.parquet"))
    )
    if fmt == "csv":  # a bad date far into a file is named by its row in the whole file
        path = delivery / "lmdb2018.csv"
        lines = path.read_bytes().decode("latin-1").splitlines()
        assert len(lines) > 1500
        fields = lines[1500].split(";")
        fields[1] = "2018-02-30"
        lines[1500] = ";".join(fields)
        path.write_bytes(("\n".join(lines) + "\n").encode("latin-1"))
        refused = ingest(delivery, load_mapping(), tmp_path / "refused", batch_rows=700)
        assert [(p.file, p.variable, p.rows) for p in refused.errors] == [("lmdb2018.csv", "eksd", [1500])]


def test_yearly_population_files_become_one_row_per_person(tmp_path):
    """DST delivers BEF as yearly snapshots: a person is in every year they lived here. They become
    one row (the latest residence, a death date from the year that has it); a sex that differs
    between years is refused, a person twice in one year's file is a duplicate key."""
    source = tmp_path / "in"
    source.mkdir()
    header = "PNR;AAR;KOEN;FOED_DAG;DOED_DATO;REG;KOM"
    _write_csv(
        source / "bef2018.csv", header, "AB12;2018;1;1950-02-01;;1084;101", "CD34;2018;2;1961-03-02;;1081;851"
    )
    _write_csv(
        source / "bef2019.csv",
        header,
        "AB12;2019;1;1950-02-01;;1082;751",
        "CD34;2019;2;1961-03-02;2019-06-01;1081;851",
    )
    report = ingest(source, load_mapping(), tmp_path / "out")
    assert report.accepted, report.errors
    bef = pl.read_parquet(tmp_path / "out" / "bef" / "*.parquet").sort("pnr")
    assert bef["pnr"].to_list() == [0, 1] and report.tables["bef"].rows == 2
    assert bef["reg"].to_list() == [1082, 1081]  # AB12 moved to Midtjylland in 2019
    assert bef["doed_dato"].to_list() == [None, dt.date(2019, 6, 1)]
    assert all(p.variable != "AAR" for p in report.warnings)  # a known variable, deliberately not read

    _write_csv(
        source / "bef2019.csv", header, "AB12;2019;2;1950-02-01;;1082;751", "CD34;2019;2;1961-03-02;;1081;851"
    )
    refused = ingest(source, load_mapping(), tmp_path / "refused")
    assert not refused.accepted
    assert [(p.variable, p.count) for p in refused.errors] == [("koen, foed_dag", 1)]

    _write_csv(
        source / "bef2019.csv", header, "AB12;2019;1;1950-02-01;;1082;751", "AB12;2019;1;1950-02-01;;1082;751"
    )
    twice = ingest(source, load_mapping(), tmp_path / "twice")
    assert [(p.file, p.variable, p.rows) for p in twice.errors] == [("bef2019.csv", "pnr", [2])]
