"""Code lists, pseudonyms, chunk allocation and the catalog: the parts other packages code against."""

from __future__ import annotations

import json

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from synthetic_registers.catalog import Catalog
from synthetic_registers.codes import atc_list, cancer_icd10_list, icd10_list
from synthetic_registers.generate import data_version, plan_chunks
from synthetic_registers.pseudonyms import person_keys
from synthetic_registers.schema import RKKP, TABLES
from synthetic_registers.validation import load_targets


def test_icd10_list_has_thousands_of_codes_in_lpr_form():
    codes = icd10_list()
    assert len(codes) > 3000
    assert all(c.code.startswith("D") for c in codes.codes)
    assert "DE119" in codes and "E11.9" in codes and "E119" in codes
    assert "DX999" not in codes


def test_search_by_prefix_and_by_name():
    codes = icd10_list()
    assert [c.code for c in codes.search("DE11")][:2] == ["DE11", "DE110"]
    assert all(c.code.startswith("DJ45") for c in codes.search("J45"))
    assert any(c.code == "DE10" for c in codes.search("type 1 diabetes"))
    assert any(c.code == "A10BJ06" for c in atc_list().search("semaglutide"))


def test_nearest_codes_suggest_valid_codes_for_a_typo():
    suggestions = [c.code for c in icd10_list().nearest("DE1l9")]
    assert "DE119" in suggestions
    assert all(code in icd10_list() for code in suggestions)
    assert atc_list().nearest("A10BA2")[0].code == "A10BA02"


def test_cancer_register_codes_have_no_d_prefix():
    codes = cancer_icd10_list()
    assert "C509" in codes and "C61" in codes
    assert not any(c.code.startswith("D") for c in codes.codes)


@given(st.integers(0, 2**32 - 1), st.integers(1, 5000))
@settings(max_examples=25, deadline=None)
def test_person_keys_are_a_permutation_and_not_sequential(seed, n):
    running = np.arange(n, dtype=np.uint32) + np.uint32(n * 7)
    keys = person_keys(running, seed)
    assert len(np.unique(keys)) == n
    if n > 100:
        assert np.mean(np.diff(keys.astype(np.int64)) == 1) < 0.05


@given(st.integers(1000, 5_000_000), st.integers(1000, 400_000), st.floats(1, 200_000))
@settings(max_examples=50, deadline=None)
def test_chunk_allocation_adds_up_exactly(persons, chunk_persons, national):
    plans = plan_chunks(persons, 2005, 2024, chunk_persons)
    assert plans[0].lo == 0 and plans[-1].hi == persons
    total = sum(plan.allocate(national) for plan in plans)
    assert total == round(national * persons / 5_961_249)


def test_data_version_changes_with_every_input():
    base = data_version(1000, 1, 2005, 2024)
    assert base == data_version(1000, 1, 2005, 2024)
    others = {data_version(1001, 1, 2005, 2024), data_version(1000, 2, 2005, 2024),
              data_version(1000, 1, 2006, 2024), data_version(1000, 1, 2005, 2023)}  # fmt: skip
    assert base not in others and len(others) == 4


def test_targets_ship_as_package_data():
    targets = load_targets()
    assert targets["population"]["total"] == 5961249
    assert targets["disclosure"]["min_cell_count"] == 5


def test_catalog_documents_every_table_and_column(small_registers):
    catalog = Catalog.load(small_registers)
    assert set(catalog.tables) == {t.name for t in TABLES}
    for table in TABLES:
        info = catalog.table(table.name)
        assert info.owner and info.description and info.minimum_cell_count == table.minimum_cell_count
        # the default, unless the owner requires more (the heart failure registry's RKKP: 10)
        assert info.minimum_cell_count == (10 if table.owner == RKKP else 5)
        assert info.rows > 0
        assert {v.name for v in info.variables} == {c.name for c in table.columns}
        for column in table.columns:
            variable = info.variable(column.name)
            assert variable.type == column.duckdb_type and variable.description
    assert catalog.table("lpr_adm").coverage == (2005, 2018)
    assert catalog.table("lpr3_kontakter").coverage == (2019, 2024)
    assert catalog.code_list("ICD-10 (D prefix)").get("DE119") is not None
    assert catalog.code_list("ICD-10").get("C509") is not None
    assert catalog.data_version == data_version(20_000, 7, 2005, 2024)
    raw = json.loads((small_registers / "catalog.json").read_text())
    assert {"ICD-10", "ATC"} <= set(raw["code_lists"])
    assert len(raw["municipalities"]) == 98


def test_search_ranks_exact_code_prefix_name_then_synonym():
    from synthetic_registers.codes import Code, CodeList

    codes = CodeList(
        "test",
        [
            Code("AB", "abacus", "test"),
            Code("AB1", "other", "test"),
            Code("XY", "ab-ratio", "test"),  # a partial name match
            Code("XZ", "zeta", "test"),  # a partial synonym match
            Code("YY", "A B", "test"),  # the whole name, ignoring the space
            Code("ZZ", "zulu", "test"),  # a whole synonym
        ],
        {"XZ": ("abc",), "ZZ": ("a-b",)},
    )
    assert [c.code for c in codes.search("ab", limit=None)] == ["AB", "AB1", "YY", "ZZ", "XY", "XZ"]
    assert [c.code for c in codes.search("AB", limit=2)] == ["AB", "AB1"]
    assert codes.search(" - ") == []
    assert codes.synonyms("zz") == ("a-b",)


def test_every_synonym_names_a_code_or_code_prefix_of_its_list():
    from synthetic_registers.codes import SKS_PROCEDURES, code_synonyms, search_key, sks_procedure_list

    lists = {"ICD-10": icd10_list(), "ATC": atc_list(), SKS_PROCEDURES: sks_procedure_list()}
    assert set(code_synonyms()) == set(lists)
    for system, rows in code_synonyms().items():
        known = [c.code for c in lists[system].codes]
        for target, words in rows.items():
            assert any(code.startswith(target) for code in known), (system, target)
            assert all(search_key(word) for word in words), (system, target)
    assert cancer_icd10_list().search("breast cancer")[0].code == "C50"
    assert {c.code for c in sks_procedure_list().search("PCI")} == {"KFNG02", "KFNG05"}
    assert search_key("GLP-1") == search_key("glp 1") == search_key("glp1") == "glp1"


def _scanned(code_list, text: str) -> list[str]:
    """``CodeList.search``'s ranking as a plain scan over every code: what its indexes must give."""
    from synthetic_registers.codes import search_key

    code, key = code_list.normalise(text), search_key(text)
    if not key:
        return []
    ranked = []
    for position, c in enumerate(code_list.codes):
        name, synonyms = search_key(c.name), [search_key(w) for w in code_list.synonyms(c.code)]
        if c.code == code:
            rank = 0
        elif code and c.code.startswith(code):
            rank = 1
        elif name == key:
            rank = 2
        elif key in synonyms:
            rank = 3
        elif key in name:
            rank = 4
        elif any(key in synonym for synonym in synonyms):
            rank = 5
        else:
            continue
        ranked.append((rank, position, c.code))
    return [code for _, _, code in sorted(ranked)]


def test_indexed_search_ranks_exactly_as_a_scan_of_every_code():
    """The search indexes (whole-key dictionaries, a bisect over codes, substring search over one
    joined text) find and order what a scan of every code would, on the real lists: codes and
    prefixes, words and fragments of names, synonyms, text matching across two names' boundary."""
    import random

    from synthetic_registers.codes import atc_list, icd10_list, search_key

    rng = random.Random(14)
    for code_list in (icd10_list(), atc_list()):
        texts = ["E11", "DE11", "e11.9", "A10B", "diabetes", "metformin", "MI", "GLP-1", "Ozempic", "x\x00y"]
        for c in rng.sample(code_list.codes, 60):
            name = search_key(c.name)
            start = rng.randrange(len(name))
            texts += [c.code[: rng.randint(1, len(c.code))], c.name, name[start : start + rng.randint(1, 6)]]
            texts += [w[: rng.randint(1, len(w))] for w in code_list.synonyms(c.code)]
        # the end of one name and the start of the next, which no single name holds
        first, second = (search_key(c.name) for c in code_list.codes[:2])
        texts.append(first[-3:] + second[:3])
        for text in texts:
            assert [c.code for c in code_list.search(text, limit=None)] == _scanned(code_list, text), text
