"""Registers declared in one module each (``queries.registers``): everything the query side derives
from a declaration agrees with it, and the registers written the older way keep working beside them.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp

from queries import model as m
from queries.compiler import concept_row_condition
from queries.reference_engine import read_rows
from queries.registers import DECLARED_CONCEPTS, DECLARED_REGISTERS, DECLARED_RELATIONS
from queries.registry import CONCEPTS, REGISTERS
from queries.storage import LAYOUT_ORDER, RELATION_REGISTERS, RELATION_SQL, raw_parquet_connection
from synthetic_registers.schema import TABLES_BY_NAME


def test_the_heart_failure_registry_is_declared_in_one_module():
    assert "heart_failure_registration" in DECLARED_CONCEPTS
    assert "heart_failure_registrations" in DECLARED_RELATIONS


def test_each_declared_register_reads_exactly_the_schema_tables_it_names():
    for register in DECLARED_REGISTERS:
        assert set(register.tables) <= set(TABLES_BY_NAME), register.tables
        read = {table.name for relation in register.relations for table in relation.sql.find_all(exp.Table)}
        assert read == set(register.tables)
        # a declared register is a register of the table contract, with its owner and threshold
        assert {TABLES_BY_NAME[name].register for name in register.tables} <= set(REGISTERS)


def test_storage_model_and_registry_take_every_declared_relation_and_concept():
    event_models = set(m.union_members(m.EventConcept))
    concept_models = set(m.union_members(m.Concept))
    for name, relation in DECLARED_RELATIONS.items():
        assert sqlglot.parse_one(RELATION_SQL[name], read="duckdb") == relation.sql
        assert LAYOUT_ORDER[name] == relation.layout_order
        tables = {table.name for table in relation.sql.find_all(exp.Table)}
        assert RELATION_REGISTERS[name] == {TABLES_BY_NAME[t].register for t in tables}
    for name, declared in DECLARED_CONCEPTS.items():
        assert declared.model in event_models and declared.model in concept_models
        assert name in m.EVENT_CONCEPT_TYPES
        kind = CONCEPTS[name]
        assert kind.declared is declared and kind.relation == declared.relation.name
        assert declared.model.model_validate(declared.example).type == name


def test_both_styles_coexist_in_the_unions():
    # the hand-written concepts stay where they were, the declared ones are appended
    event_models = m.union_members(m.EventConcept)
    assert m.DiagnosisConcept in event_models and m.BiobankSampleConcept in event_models
    declared = {concept.model for concept in DECLARED_CONCEPTS.values()}
    assert set(event_models[-len(declared) :]) == declared
    assert len(set(event_models)) == len(event_models)
    hand_written = [kind for kind in CONCEPTS.values() if kind.declared is None]
    assert {kind.model for kind in hand_written} & declared == set()


def test_the_reference_reading_of_each_declared_relation_is_its_sql(generated_registers):
    # the generator's registers: they hold rows of every declared relation, the spec registers need not
    # persons numbered as both engines number them: the pseudonym's rank in the population register
    pseudonyms = sorted(row["pnr"] for row in read_rows(generated_registers, "bef"))
    numbers = {pseudonym: number for number, pseudonym in enumerate(pseudonyms)}

    def rows(table: str) -> list[dict]:
        return [{**row, "pnr": numbers[row["pnr"]]} for row in read_rows(generated_registers, table)]

    connection = raw_parquet_connection(generated_registers)
    for name in DECLARED_RELATIONS:
        cursor = connection.execute(f"SELECT * FROM {name}")
        columns = [d[0] for d in cursor.description]
        by_sql = sorted((dict(zip(columns, row, strict=True)) for row in cursor.fetchall()), key=repr)
        assert len(by_sql) > 10, name
        assert by_sql == sorted(DECLARED_RELATIONS[name].reference_rows(rows), key=repr), name


def test_a_declared_concept_with_no_condition_takes_every_row_of_its_relation():
    condition = concept_row_condition(m.Query.model_validate(_query()).index.concept, "r")
    assert condition == exp.true()


def _query() -> dict:
    return {
        "index": {
            "concept": {"type": "heart_failure_registration"},
            "period": {"start": "2015-01-01", "end": "2015-12-31"},
        },
        "result": {"kind": "cohort_count"},
    }
