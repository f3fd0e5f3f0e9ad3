"""The ICD-10 chapter IX (circulatory system, I00-I99) is complete in the catalog's code list, so a
customer can search and query every category (DI22-DI24 were missing)."""

from __future__ import annotations

import pytest

from queries.errors import QueryValidationError
from queries.validation import validate_query
from synthetic_registers.catalog import Catalog
from synthetic_registers.codes import icd10_categories, icd10_list

# Every three-character category of chapter IX by block (WHO ICD-10 2019). I84 (haemorrhoids) was
# moved to K64 in the 2010 update and is absent on purpose; K64 is in the list.
CHAPTER_IX_BLOCKS = {
    "I00-I02 acute rheumatic fever": ["I00", "I01", "I02"],
    "I05-I09 chronic rheumatic heart diseases": ["I05", "I06", "I07", "I08", "I09"],
    "I10-I15 hypertensive diseases": ["I10", "I11", "I12", "I13", "I15"],
    "I20-I25 ischaemic heart diseases": ["I20", "I21", "I22", "I23", "I24", "I25"],
    "I26-I28 pulmonary heart disease": ["I26", "I27", "I28"],
    "I30-I52 other forms of heart disease": [f"I{n}" for n in range(30, 53)],
    "I60-I69 cerebrovascular diseases": [f"I{n}" for n in range(60, 70)],
    "I70-I79 arteries": ["I70", "I71", "I72", "I73", "I74", "I77", "I78", "I79"],
    "I80-I89 veins and lymphatics": ["I80", "I81", "I82", "I83", "I85", "I86", "I87", "I88", "I89"],
    "I95-I99 other circulatory": ["I95", "I97", "I98", "I99"],
}
CHAPTER_IX = sorted(code for codes in CHAPTER_IX_BLOCKS.values() for code in codes)


def test_chapter_ix_has_exactly_the_who_categories():
    present = sorted(c.code for c in icd10_categories() if c.code.startswith("I"))
    assert present == CHAPTER_IX
    assert "DK64" in icd10_list()


@pytest.mark.parametrize("category", CHAPTER_IX)
def test_every_category_and_its_subcodes_are_in_the_lpr_list(category):
    codes = icd10_list()
    assert f"D{category}" in codes and f"D{category}9" in codes
    assert codes.get(category).code == f"D{category}"


def test_di22_to_di24_are_searchable_by_code_and_name():
    catalog = Catalog.build({"data_version": "t", "start_year": 2005, "end_year": 2024}, {})
    for category, words in [
        ("DI22", "subsequent myocardial"),
        ("DI23", "complications following acute myocardial"),
        ("DI24", "other acute ischaemic"),
    ]:
        by_code = [c.code for c in catalog.search_codes("ICD-10", category)]
        assert by_code[0] == category and f"{category}9" in by_code
        assert [c.code for c in catalog.search_codes("ICD-10", category[1:])] == by_code  # I22 = DI22
        assert category in [c.code for c in catalog.search_codes("ICD-10", words)]


def test_queries_may_use_the_new_codes_and_typos_are_caught():
    catalog = Catalog.build({"data_version": "t", "start_year": 2005, "end_year": 2024}, {})
    query = {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DI22", "DI23", "DI24", "DI46"]},
            "period": {"start": "2015-01-01", "end": "2018-12-31"},
        }
    }
    assert validate_query(query, catalog).index.concept.codes == ("DI22", "DI23", "DI24", "DI46")
    with pytest.raises(QueryValidationError) as raised:
        validate_query(
            {**query, "index": {**query["index"], "concept": {"type": "diagnosis", "codes": ["DI84"]}}},
            catalog,
        )
    assert raised.value.problems[0]["field"] == "index.concept.codes.0"
    assert "DI8" in raised.value.problems[0]["valid"]
