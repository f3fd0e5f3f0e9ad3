"""Everything that names a register, concept or result kind agrees with ``queries.registry``.

Storage, model, compiler, reference engine, validation, catalog, the disclosure policy's thresholds,
disclosure's derived columns, the shipped price lists and the language page: each either derives its
list from the registry or is checked here against it.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlglot
from sqlglot import exp

from billing.errors import InvalidBillingInput
from billing.pricing import PricedShape, PriceList
from disclosure import derived, magnitude
from disclosure.policy import Policy
from queries import model as m
from queries import registry
from queries.compiler import compile_cohort_rows
from queries.registry import CODE_SYSTEMS, CONCEPTS, REGISTERS, RESULT_KINDS
from queries.shape import query_shape
from queries.storage import LAYOUT_ORDER, RELATION_REGISTERS, RELATION_SQL, SPAN_RELATIONS
from queries.validation import CODE_PATTERNS, concept_code_fields, discriminator_tags, validate_query
from statservice.service import code_list_name
from synthetic_registers.catalog import CODE_SYSTEM_LISTS, Catalog
from synthetic_registers.schema import RKKP, TABLES
from tests.queries.engines import run_both
from tests.queries.test_docs_and_examples import json_blocks

ROOT = Path(__file__).resolve().parents[2]
PERIOD = {"start": "2010-01-01", "end": "2021-12-31"}


# --- registers and storage ------------------------------------------------------------------------


def test_every_register_table_belongs_to_exactly_one_register():
    tables = [name for register in REGISTERS.values() for name in register.tables]
    assert sorted(tables) == sorted(t.name for t in TABLES)


def test_every_register_table_is_read_by_a_storage_relation_and_every_relation_is_laid_out():
    read = set()
    for sql in RELATION_SQL.values():
        read |= {table.name for table in sqlglot.parse_one(sql, read="duckdb").find_all(exp.Table)}
    assert read == {t.name for t in TABLES}
    assert set(LAYOUT_ORDER) == set(RELATION_SQL) | set(SPAN_RELATIONS)
    assert set(RELATION_REGISTERS) == set(LAYOUT_ORDER)
    assert set().union(*RELATION_REGISTERS.values()) == set(REGISTERS)


def test_a_relation_names_the_registers_of_the_tables_its_sql_reads():
    assert RELATION_REGISTERS["diagnosis_events"] == {"LPR2", "LPR3"}
    assert RELATION_REGISTERS["diagnosis_spans"] == {"LPR2", "LPR3"}
    assert RELATION_REGISTERS["death_cause_events"] == {"Cause of Death Register"}


def test_the_policy_applies_each_registers_minimum_cell_count(monkeypatch):
    from statservice.rules import service_policy

    policy = Policy.default()
    for register in REGISTERS.values():
        assert service_policy().threshold_for({register.name}) == register.minimum_cell_count
    # the clinical quality databases' owner (RKKP) requires 10; every other register has the default
    quality_databases = {name: 10 for name, register in REGISTERS.items() if register.owner == RKKP}
    assert "Danish Heart Failure Registry" in quality_databases
    assert registry.register_thresholds(policy.default_threshold) == quality_databases
    # an owner with a stricter threshold gets it in the policy the service applies
    stricter = dataclasses.replace(REGISTERS["LMDB"], minimum_cell_count=10)
    monkeypatch.setattr(registry, "REGISTERS", {**REGISTERS, "LMDB": stricter})
    thresholds = registry.register_thresholds(policy.default_threshold)
    assert thresholds == {**quality_databases, "LMDB": 10}
    service_policy = policy.model_copy(update={"register_thresholds": thresholds})
    assert service_policy.threshold_for({"CPR/BEF", "LMDB"}) == 10


def test_the_service_policy_takes_its_register_thresholds_from_the_registry(monkeypatch):
    from statservice.service import Service

    stricter = dataclasses.replace(REGISTERS["Cancer Registry"], minimum_cell_count=11)
    monkeypatch.setattr(registry, "REGISTERS", {**REGISTERS, "Cancer Registry": stricter})
    policy = Service.policy.func(object())  # the cached property's function: it reads no settings
    assert policy.threshold_for({"Cancer Registry"}) == 11
    assert policy.version == Policy.default().version


# --- code systems, catalog, validation --------------------------------------------------------------


def test_every_code_system_has_a_catalog_code_list_and_columns_holding_it():
    catalog = Catalog.build({"start_year": 1995, "end_year": 2023, "data_version": "x"}, {})
    labels = {c.code_system for t in TABLES for c in t.columns}
    for system in CODE_SYSTEMS.values():
        assert system.catalog_list in catalog.code_lists, system.name
        assert system.column_label in labels, system.name
        # the catalog (which may not import queries) finds the same list from the column's label
        assert catalog.code_list(system.column_label) is catalog.code_lists[system.catalog_list]
        assert CODE_SYSTEM_LISTS.get(system.column_label, system.column_label) == system.catalog_list
        # served as /v1/catalog/code-lists/<name>: one path segment of letters, digits and _
        assert re.fullmatch(r"[a-z0-9_]+", code_list_name(system.catalog_list)), system.catalog_list


def test_the_catalog_publishes_each_table_of_the_schema_with_its_registers_threshold():
    catalog = Catalog.build({"start_year": 1995, "end_year": 2023, "data_version": "x"}, {})
    assert set(catalog.tables) == {t.name for t in TABLES}
    for register in REGISTERS.values():
        published = {catalog.table(name).minimum_cell_count for name in register.tables}
        assert max(published) == register.minimum_cell_count
        assert {catalog.table(name).owner for name in register.tables} == {register.owner}


def test_catalog_coverage_follows_the_tables_declared_coverage():
    catalog = Catalog.build({"start_year": 1995, "end_year": 2023, "data_version": "x"}, {})
    assert catalog.table("lpr_adm").coverage == (1995, 2018)
    assert catalog.table("lpr3_diagnoser").coverage == (2019, 2023)
    assert catalog.table("cancer").coverage == (1943, 2023)  # complete register: history before the period
    assert catalog.table("lmdb").coverage == (1995, 2023)


# --- concepts -------------------------------------------------------------------------------------


def test_the_model_concepts_are_the_registry_concepts():
    # a reference to a saved concept set stands where a concept may, and is resolved before any reading
    assert discriminator_tags(m.Concept) == set(CONCEPTS) | m.REFERENCE_TYPES
    assert {kind.model for kind in CONCEPTS.values()} == set(m.union_members(m.Concept)) - {
        m.ConceptSetReference
    }
    events = {kind.type for kind in CONCEPTS.values() if kind.is_event}
    assert events == m.EVENT_CONCEPT_TYPES == discriminator_tags(m.EventConcept) - m.REFERENCE_TYPES


@pytest.mark.parametrize("concept_type", sorted(CONCEPTS))
def test_each_concept_declares_a_relation_and_codes_that_validation_knows(concept_type):
    kind = CONCEPTS[concept_type]
    assert kind.relation in RELATION_SQL
    concept = kind.model.model_validate(kind.example)
    assert concept.type == concept_type
    if kind.code_field is None:
        assert concept_code_fields(concept) is None
        return
    assert kind.code_field in kind.model.model_fields
    name, system, prefixes = concept_code_fields(concept)
    assert (name, system) == (kind.code_field, kind.code_system)
    pattern, _ = CODE_PATTERNS[system]
    assert all(pattern.match(prefix) for prefix in prefixes)


def concept_query(concept_type: str) -> dict[str, Any]:
    """A query that uses the concept where it can be used: as the index event, else as a criterion."""
    kind = CONCEPTS[concept_type]
    if kind.is_event:
        return {
            "index": {"concept": dict(kind.example), "period": PERIOD, "occurrence": "any"},
            "population": {"alive_and_resident_at_index": False},
            "criteria": [
                {"type": "include", "concept": dict(kind.example), "window": {"start": -3650, "end": 0}}
            ],
        }
    return {
        "index": {"concept": {"type": "diagnosis", "codes": ["DE1"]}, "period": PERIOD, "occurrence": "any"},
        "criteria": [{"type": "include", "concept": dict(kind.example)}],
    }


@pytest.mark.parametrize("concept_type", sorted(CONCEPTS))
def test_each_concept_compiles_to_its_relation_and_both_engines_agree(concept_type, spec_registers):
    kind = CONCEPTS[concept_type]
    query = validate_query(concept_query(concept_type), None)
    sql = compile_cohort_rows(query, ()).statement
    relations = {table.name for table in sql.find_all(exp.Table)}
    span = next((name for name, (events, _, _) in SPAN_RELATIONS.items() if events == kind.relation), None)
    assert kind.relation in relations or span in relations
    tables = run_both(spec_registers, query)  # the reference engine reads the concept a second time
    assert tables[0].registers == query_shape(query).registers
    assert kind.registers <= tables[0].registers


# --- result kinds ---------------------------------------------------------------------------------


def test_the_model_result_kinds_are_the_registry_kinds():
    assert discriminator_tags(m.Result) == set(RESULT_KINDS)
    assert {kind.model for kind in RESULT_KINDS.values()} == set(m.union_members(m.Result))


def test_every_derived_column_is_one_disclosure_computes():
    computed = {
        derived.PERCENT,
        derived.PERCENT_OF_FIRST_STEP,
        derived.PERCENT_OF_PREVIOUS_STEP,
        derived.CUMULATIVE_SHARE,
        *derived.PERSON_TIME_COLUMNS,
        *magnitude.MAGNITUDE_COLUMNS,  # means, SDs, quartiles and SMDs (disclosure.magnitude)
        derived.CUMULATIVE_INCIDENCE,
        derived.CI_LOWER,
        derived.CI_UPPER,
    }
    for kind in RESULT_KINDS.values():
        assert set(kind.derived_columns) <= computed, kind.kind


@pytest.mark.parametrize("position", range(len(json_blocks())))
def test_engines_return_the_tables_and_derived_columns_the_kind_declares(position, spec_registers):
    import json

    query = validate_query(json.loads(json_blocks()[position]), None)
    kind = RESULT_KINDS[query.result.kind]
    tables = run_both(spec_registers, query)
    assert len(tables) == registry.tables_of(kind.kind) == kind.tables
    main = tables[-1]
    assert main.kind == kind.kind
    assert main.derived_columns == kind.derived_columns
    assert all(t.derived_columns == RESULT_KINDS[t.kind].derived_columns for t in tables)


def test_the_language_page_has_a_section_per_result_kind_and_a_row_per_concept():
    page = (ROOT / "docs" / "query-language.md").read_text()
    sections = set(re.findall(r"^### `(\w+)`$", page, flags=re.MULTILINE))
    assert sections == set(RESULT_KINDS)
    concepts = page.split("## Concepts", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `(\w+)` \|", concepts, flags=re.MULTILINE)) - {"type"}  # the header
    assert rows == set(CONCEPTS)


# --- price lists ----------------------------------------------------------------------------------


def version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("-"))


@pytest.mark.parametrize("version", PriceList.available_versions())
def test_each_price_list_prices_exactly_the_kinds_that_existed_when_it_was_issued(version):
    price_list = PriceList.load(version)
    existing = {k.kind for k in RESULT_KINDS.values() if version_key(k.priced_from) <= version_key(version)}
    assert set(price_list.result_kinds) == existing


def test_the_price_list_in_force_prices_every_kind():
    assert set(PriceList.in_force_on(date(2100, 1, 1)).result_kinds) == set(RESULT_KINDS)


def test_a_price_list_that_predates_a_kind_stays_valid_and_says_it_does_not_price_it():
    data = tomllib.loads((ROOT / "billing" / "data" / "pricelist-2026-1.toml").read_text())
    del data["result_kinds"]["biobank_availability"]  # as if the kind had come after this list
    older = PriceList.from_mapping(data)
    assert "biobank_availability" not in older.result_kinds
    assert older.quote(PricedShape("cohort_count", 1, 4, False), "public_research").net_amount > 0
    with pytest.raises(InvalidBillingInput, match="not priced in price list 2026-1"):
        older.quote(PricedShape("biobank_availability", 2, 3, False), "public_research")
