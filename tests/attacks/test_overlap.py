"""Inclusion-exclusion inside one release: count(A) + count(B) - count(A ∪ B) = |A ∩ B|.

Characteristics, drug groups and sample types are overlapping categories with no linear relation
the audit could use, so an item that is the union of two others (or an "any of these" cell)
would publish the size of their overlap. Found by review; these attacks must fail.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroaring import BitMap

from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import InMemoryStores
from tests.disclosure.tables import subsets_table

K = 5
SECRET = b"overlap-attack-secret-of-32-byte"


def released_sets(table, protected) -> dict:
    truth = {cell.coordinates: cell.persons for cell in table.cells}
    return {row.coordinates: truth[row.coordinates] for row in protected.rows if not row.suppressed}


def assert_no_small_overlap_is_published(released: dict) -> None:
    """No two published cells' overlap or remainders are 1..k-1 persons; and no published cell
    equal to the union of two others lets the overlap be computed."""
    for (name_a, a), (name_b, b) in itertools.combinations(released.items(), 2):
        shared = a.intersection_cardinality(b)
        for part in (shared, len(a) - shared, len(b) - shared):
            assert not 1 <= part <= K - 1, (name_a, name_b, part)


def test_an_item_that_is_the_union_of_two_others_cannot_reveal_their_overlap():
    cohort = BitMap(range(1, 301))
    a = BitMap(range(1, 25))  # 24 persons
    b = BitMap(range(24, 58))  # 34 persons, one of them also in a
    sets = {"A10BJ": a, "C08": b, "A10BJ or C08": a | b}
    table = subsets_table(sets, cohort)
    release = protect([table], Policy.default(), ReleaseContext("dv1", "org-a", SECRET), InMemoryStores())
    published = released_sets(table, release.tables[0])
    values = {row.coordinates: row.value for row in release.tables[0].rows}
    assert not all(values[(name,)] is not None for name in sets), "A + B - (A ∪ B) would give 1"
    assert_no_small_overlap_is_published(published)


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=K, max_value=40), min_size=2, max_size=4),
    overlaps=st.lists(st.integers(min_value=0, max_value=6), min_size=4, max_size=4),
)
def test_overlapping_items_with_their_unions_never_publish_a_small_overlap(sizes, overlaps):
    cohort = BitMap(range(1, 1001))
    sets, start = {}, 1
    for i, size in enumerate(sizes):
        start -= min(overlaps[i], start - 1)  # step back into the previous set: an overlap
        sets[f"item {i}"] = BitMap(range(start, start + size))
        start += size
    for (name_a, a), (name_b, b) in itertools.combinations(list(sets.items()), 2):
        sets[f"{name_a} or {name_b}"] = a | b
    table = subsets_table(sets, cohort)
    release = protect([table], Policy.default(), ReleaseContext("dv1", "org-a", SECRET), InMemoryStores())
    assert_no_small_overlap_is_published(released_sets(table, release.tables[0]))


@pytest.fixture(scope="module")
def engine(small_registers):
    from queries.engine import DuckDBEngine

    engine = DuckDBEngine(small_registers)
    yield engine
    engine.close()


@pytest.mark.slow
def test_biobank_sample_types_and_any_of_them_through_the_real_engine(engine):
    """Every pair of sample types plus the "any of these" cell: no pair's overlap is published."""
    from queries.validation import validate_query

    payload = {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2010-01-01", "end": "2020-12-31"},
        },
        "result": {
            "kind": "biobank_availability",
            "sample_types": ["dried_blood_spot", "serum", "plasma", "whole_blood", "dna", "tissue"],
        },
    }
    tables = engine.run(validate_query(payload, engine.catalog))
    release = protect(
        tables, Policy.default(), ReleaseContext(engine.data_version, "org-a", SECRET), InMemoryStores()
    )
    for table, protected in zip(tables, release.tables, strict=True):
        assert_no_small_overlap_is_published(released_sets(table, protected))


@pytest.mark.slow
def test_drug_groups_with_their_union_through_the_real_engine(engine):
    from queries.validation import validate_query

    groups = [["A10BB"], ["A10BJ"], ["A10BK"], ["C03"], ["C08"]]
    items = [{"name": "+".join(g), "atc": g} for g in groups]
    items += [
        {"name": f"{'+'.join(g)} or {'+'.join(h)}", "atc": g + h}
        for g, h in itertools.combinations(groups, 2)
    ]
    payload = {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2010-01-01", "end": "2020-12-31"},
        },
        "result": {"kind": "treatment_uptake", "drugs": items},
    }
    tables = engine.run(validate_query(payload, engine.catalog))
    release = protect(
        tables, Policy.default(), ReleaseContext(engine.data_version, "org-a", SECRET), InMemoryStores()
    )
    checked = 0
    for table, protected in zip(tables, release.tables, strict=True):
        released = released_sets(table, protected)
        # Compare cells of the same uptake window only: other windows are nested, and the guard
        # already covers nested cells with the symmetric difference.
        by_window: dict = {}
        for coordinates, persons in released.items():
            by_window.setdefault(coordinates[1:], {})[coordinates] = persons
        for cells in by_window.values():
            assert_no_small_overlap_is_published(cells)
            checked += len(cells)
    assert checked > 0
