"""The full ATC index: every code a query may name, generated reproducibly, and the long tail of
rarely used drugs the generator dispenses from it (issue 17, item 5)."""

from __future__ import annotations

import re

import duckdb
import pytest

from synthetic_registers import atc_index
from synthetic_registers.catalog import Catalog
from synthetic_registers.codes import _read_csv, atc_index_rows, atc_list, atc_substances
from synthetic_registers.validation import drug_list_breadth

# a level 1-5 code: A, A10, A10B, A10BJ, A10BJ06
ATC_SYNTAX = re.compile(r"^[A-Z]([0-9]{2}([A-Z]([A-Z]([0-9]{2})?)?)?)?$")


def _hand_kept() -> dict[str, str]:
    return {r["code"]: r["name"] for r in _read_csv("atc.csv")}


def test_the_shipped_index_is_what_the_generator_writes():
    shipped = (atc_index.data_dir() / atc_index.INDEX_FILE).read_text(encoding="utf-8")
    assert shipped == atc_index.index_text(_hand_kept())


def test_the_index_has_the_size_and_shape_of_the_who_index():
    codes = [c.code for c in atc_list().codes]
    assert len(codes) == len(set(codes)) and all(ATC_SYNTAX.match(code) for code in codes)
    per_level: dict[int, int] = {}
    for row in atc_index_rows():
        per_level[int(row["level"])] = per_level.get(int(row["level"]), 0) + 1
    assert per_level[1] == 14 and per_level[2] == 94
    assert 200 <= per_level[3] <= 350 and 700 <= per_level[4] <= 1100
    assert len([c for c in codes if len(c) == 7]) >= 4500
    known = set(codes)
    for code in codes:  # every code's groups are codes too: the hierarchy has no holes
        assert all(code[:k] in known for k in (1, 3, 4, 5) if k < len(code)), code


def test_hand_kept_substances_keep_their_real_names_and_are_not_invented_again():
    hand_kept = _hand_kept()
    assert not set(hand_kept) & {r["code"] for r in atc_index_rows() if r["level"] == "5"}
    for code, name in hand_kept.items():
        assert atc_list().get(code).name == name
    assert atc_list().get("A10BJ").name == "glucagon-like peptide-1 (GLP-1) analogues"
    assert atc_list().get("C").name == "cardiovascular system"
    substance_names = [c.name for c in atc_list().codes if len(c.code) == 7]
    assert len(substance_names) == len(set(substance_names))


def test_the_market_holds_the_long_tail_and_a_few_short_product_codes():
    sold = atc_substances()
    for year in range(2005, 2025):
        on_market = [s for s in sold if len(s.code) == 7 and s.market_from <= f"{year}-12-31"]
        assert len(on_market) >= 800, year
    short = {s.code for s in sold if len(s.code) < 7}
    assert set(atc_index.SHORT_PRODUCT_GROUPS) <= short and len(short) <= 10
    # most of the index is never dispensed, and so stays a valid code that counts nobody
    assert len(atc_list()) > 4 * len(sold)
    tail = sorted((s.weight for s in sold if s.code not in _hand_kept()), reverse=True)
    assert tail[0] > 100 * tail[-1]  # a few common drugs, many rarely used ones


def test_made_up_substances_stay_out_of_the_classes_the_conditions_model():
    invented_on_market = {r["code"] for r in atc_index_rows() if r["market_from"]}
    for prefix in ("A10", "C10", "N06A", "R03", "B01A", "M05B"):
        assert not [c for c in invented_on_market if c.startswith(prefix)], prefix
        assert [c.code for c in atc_list().codes if c.code.startswith(prefix) and len(c.code) == 7]


def test_every_dispensed_code_is_named_in_the_catalog_and_the_tail_is_dispensed(small_registers):
    catalog = Catalog.load(small_registers)
    dispensed = [
        code
        for (code,) in duckdb.sql(
            f"SELECT DISTINCT atc FROM read_parquet('{small_registers}/lmdb/*.parquet')"
        ).fetchall()
    ]
    for code in dispensed:
        assert catalog.atc.get(code) is not None and catalog.atc.get(code).name, code
    breadth = drug_list_breadth(small_registers)
    # 20,000 persons already dispense hundreds of substances a year (the hand-kept list had 147)
    assert min(breadth.substances_per_year.values()) >= 400
    assert set(atc_index.SHORT_PRODUCT_GROUPS) <= set(breadth.short_codes)


@pytest.mark.parametrize("code", ["A10BJ06", "A10BJ", "C09", "N"])
def test_codes_of_every_level_are_searchable_by_code(code):
    assert atc_list().search(code)[0].code == code


def test_a_codes_synonyms_are_those_of_every_row_naming_one_of_its_prefixes_in_table_order():
    from synthetic_registers.codes import icd10_list

    for code_list in (atc_list(), icd10_list()):
        rows = code_list.synonym_targets()
        for c in code_list.codes:
            scanned = (word for target, words in rows.items() if c.code.startswith(target) for word in words)
            assert code_list.synonyms(c.code) == tuple(dict.fromkeys(scanned)), c.code
