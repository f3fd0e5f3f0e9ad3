"""S3: the vocabulary (known codes, covered years) comes only from the catalog, never from the rows.

A code present in the data but not in the catalog's code lists must stay unknown (and never be
suggested), coverage years are the catalog's, and an extract without ``catalog.json`` is refused.
"""

from __future__ import annotations

import pytest

from queries.engine import DuckDBEngine
from queries.errors import QueryValidationError
from queries.validation import validate_query
from queries.vocabulary import MissingCatalogError, load_catalog
from synthetic_registers.catalog import CATALOG_FILE
from tests.queries.registers_text import write_registers

# DU999 is not in the catalog (package data has only DU07x in chapter U); one person has it.
RARE_CODE_REGISTERS = {
    "bef": """
        | pnr | koen | foed_dag   | reg  | kom |
        | 1   | 1    | 1960-03-15 | 1084 | 101 |
        | 2   | 2    | 1970-06-15 | 1082 | 751 |
    """,
    "lpr_adm": """
        | pnr | recnum | d_inddto   | d_uddto    | c_pattype | c_adiag |
        | 1   | 10     | 2016-03-01 | 2016-03-01 | 1         | DU999   |
        | 2   | 11     | 1995-03-01 | 1995-03-01 | 1         | DE119   |
    """,
    "lpr_diag": """
        | recnum | c_diag | c_diagtype |
        | 10     | DU999  | A          |
        | 11     | DE119  | A          |
    """,
}


def _query(codes: list[str], start: str = "2015-01-01") -> dict:
    return {
        "index": {
            "concept": {"type": "diagnosis", "codes": codes},
            "period": {"start": start, "end": "2018-12-31"},
        }
    }


@pytest.fixture(scope="module")
def rare_code_extract(tmp_path_factory):
    return write_registers(tmp_path_factory.mktemp("rare-code"), RARE_CODE_REGISTERS)


def test_a_code_only_the_rows_contain_is_unknown_and_never_suggested(rare_code_extract):
    engine = DuckDBEngine(rare_code_extract, storage="parquet")
    try:
        with pytest.raises(QueryValidationError) as raised:
            validate_query(_query(["DU9"]), engine.catalog)
    finally:
        engine.close()
    (found,) = raised.value.problems
    assert found["field"] == "index.concept.codes.0"
    assert "DU9" not in found["valid"] and "DU0" in found["valid"]  # suggestions from the catalog only


def test_coverage_years_are_the_catalogs_not_the_datas(rare_code_extract):
    catalog = load_catalog(rare_code_extract)
    assert (catalog.first_year, catalog.last_year) == (2005, 2024)
    with pytest.raises(QueryValidationError) as raised:
        validate_query(_query(["DE11"], start="1995-01-01"), catalog)  # the data has a 1995 event
    assert [p["field"] for p in raised.value.problems] == ["index.period.start"]
    assert "2005-01-01" in raised.value.problems[0]["valid"]


def test_an_extract_without_catalog_is_refused_by_the_engine(tmp_path):
    extract = write_registers(tmp_path / "extract", RARE_CODE_REGISTERS)
    (extract / CATALOG_FILE).unlink()
    for storage in ("layout", "parquet"):
        with pytest.raises(MissingCatalogError) as raised:
            DuckDBEngine(extract, storage=storage)
        assert CATALOG_FILE in str(raised.value) and str(extract) in str(raised.value)
    with pytest.raises(MissingCatalogError):
        load_catalog(extract)
    assert not (extract / ".statservice").exists()  # refused before any layout was built
