"""The customer documentation and the example queries are executable and current."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from queries.examples import load_examples
from queries.schema import schema_text
from queries.shape import query_shape
from queries.validation import validate_query
from tests.queries.engines import run_both

ROOT = Path(__file__).resolve().parents[2]
LANGUAGE = ROOT / "docs" / "query-language.md"
SCHEMA = ROOT / "docs" / "query-schema.json"


def json_blocks() -> list[str]:
    return re.findall(r"```json\n(.*?)```", LANGUAGE.read_text(), flags=re.DOTALL)


def test_the_published_schema_is_current():
    assert SCHEMA.read_text() == schema_text(), "regenerate with: python -m queries.schema"


def test_the_language_page_has_an_example_per_result_kind():
    kinds = {json.loads(block)["result"]["kind"] for block in json_blocks()}
    assert kinds == {
        "cohort_count",
        "attrition",
        "characteristics",
        "incidence_prevalence",
        "treatment_uptake",
        "biobank_availability",
    }


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
