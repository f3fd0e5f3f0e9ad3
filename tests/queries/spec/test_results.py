"""Spec: the result kinds other than cohort counts, on both engines and both storages."""

from __future__ import annotations

import math

from queries.model import Query
from queries.shape import query_shape
from tests.queries.engines import counts, persons, run_both
from tests.queries.registers_text import write_registers

STORAGES = ("parquet", "layout")
T2D = {"type": "diagnosis", "codes": ["DE11"]}
INDEX = {"concept": T2D, "period": {"start": "2015-01-01", "end": "2020-12-31"}}
GLP1 = {"type": "prescription", "atc": ["A10BJ"]}


def run(spec_registers, query):
    tables = run_both(spec_registers, query, STORAGES)
    # the shape used for pricing predicts the cells without running anything
    assert query_shape(Query.model_validate(query)).cells == sum(len(t.cells) for t in tables)
    return tables


def test_attrition_counts_what_is_left_after_each_step(spec_registers):
    query = {
        "index": INDEX,
        "population": {"age": {"min": 40, "max": 70}},
        "criteria": [
            {
                "type": "include",
                "name": "GLP-1 within a year",
                "concept": GLP1,
                "window": {"start": 0, "end": 365},
            },
            {
                "type": "exclude",
                "concept": {"type": "cancer", "codes": ["C"]},
                "window": {"start": -1825, "end": -1},
            },
        ],
        "result": {"kind": "attrition"},
    }
    (table,) = run(spec_registers, query)
    assert table.dimensions[0].categories == (
        "index event",
        "population at index",
        "GLP-1 within a year",
        "exclude cancer C",
    )
    assert [c.count for c in table.cells] == [6, 4, 2, 1]
    assert persons(spec_registers, table, "exclude cancer C") == {4}
    assert table.ordered_dimension == "step"
    assert table.max_cells_per_person == 4
    assert not table.dimensions[0].has_total
    assert table.registers == frozenset({"CPR/BEF", "LPR2", "LPR3", "LMDB", "Cancer Registry"})


def test_characteristics_count_each_item_in_its_window(spec_registers):
    query = {
        "index": INDEX,
        "result": {
            "kind": "characteristics",
            "items": [
                {
                    "name": "hypertension ever before",
                    "concept": {"type": "diagnosis", "codes": ["DI10"]},
                    "window": {"end": 0},
                },
                {
                    "name": "metformin in first year",
                    "concept": {"type": "prescription", "atc": ["A10BA"]},
                    "window": {"start": 0, "end": 365},
                },
                {
                    "name": "cancer before index",
                    "concept": {"type": "cancer", "codes": ["C"]},
                    "window": {"end": -1},
                },
                {"name": "women", "concept": {"type": "sex", "sex": "female"}},
                {"name": "aged 60+", "concept": {"type": "age", "min": 60}},
                {
                    "name": "died within a year",
                    "concept": {"type": "vital_status", "status": "died"},
                    "window": {"start": 0, "end": 365},
                },
            ],
        },
    }
    total, table = run(spec_registers, query)
    assert total.kind == "cohort_count" and total.cells[0].count == 5
    assert counts(table) == {
        ("hypertension ever before",): 1,  # person 1's DI109 on the index contact
        ("metformin in first year",): 2,  # 3 and 5
        ("cancer before index",): 1,  # 1
        ("women",): 2,  # 4 and 8
        ("aged 60+",): 2,  # 3 (65) and 8 (74)
        ("died within a year",): 1,  # 3
    }
    assert table.max_cells_per_person == 6
    assert not table.dimensions[0].has_total


def test_treatment_uptake_is_cumulative_from_the_index_day(spec_registers):
    query = {
        "index": INDEX,
        "result": {
            "kind": "treatment_uptake",
            "drugs": [
                {"name": "GLP-1", "atc": ["A10BJ"]},
                {"name": "SGLT2", "atc": ["A10BK"]},
                {"name": "metformin", "atc": ["A10BA"]},
            ],
            "days": [30, 90, 180, 365, 366],
        },
    }
    _, table = run(spec_registers, query)
    found = counts(table)
    assert [found[("GLP-1", w)] for w in table.dimensions[1].categories] == [1, 1, 1, 2, 2]
    assert [found[("SGLT2", w)] for w in table.dimensions[1].categories] == [0, 0, 0, 0, 1]
    assert [found[("metformin", w)] for w in table.dimensions[1].categories] == [2, 2, 2, 2, 2]
    assert table.ordered_dimension == "within"
    assert table.max_cells_per_person == 15


def test_treatment_uptake_washout_counts_new_users_only(spec_registers):
    query = {
        "index": INDEX,
        "result": {
            "kind": "treatment_uptake",
            "drugs": [{"name": "metformin", "atc": ["A10BA"]}],
            "days": [365],
            "washout_days": 365,
        },
    }
    _, table = run(spec_registers, query)
    assert persons(spec_registers, table, "metformin", "365 days") == {3, 5}
    query["index"] = {**INDEX, "occurrence": "any"}
    query["criteria"] = []
    _, table = run(spec_registers, query)
    assert persons(spec_registers, table, "metformin", "365 days") == {3, 5}


def test_treatment_uptake_washout_releases_each_drug_groups_eligible_new_users(spec_registers):
    """With a washout the shares' denominator is not the cohort but the members without a dispensing
    of the group in the washout: person 5's GLP-1 before index leaves 4 of 5 eligible for GLP-1."""
    query = {
        "index": INDEX,
        "result": {
            "kind": "treatment_uptake",
            "drugs": [{"name": "GLP-1", "atc": ["A10BJ"]}, {"name": "metformin", "atc": ["A10BA"]}],
            "days": [30, 365],
            "washout_days": 180,
        },
    }
    total, table = run(spec_registers, query)
    assert total.cells[0].count == 5
    assert table.dimensions[1].categories == ("eligible new users", "30 days", "365 days")
    assert persons(spec_registers, table, "GLP-1", "eligible new users") == {1, 3, 4, 8}
    assert persons(spec_registers, table, "metformin", "eligible new users") == {1, 3, 4, 5, 8}
    assert persons(spec_registers, table, "GLP-1", "365 days") == {1, 4}
    assert table.denominator_category == "eligible new users"
    assert table.max_cells_per_person == 6
    # without a washout every member is eligible: no such row, the cohort is the denominator
    del query["result"]["washout_days"]
    _, table = run(spec_registers, query)
    assert table.dimensions[1].categories == ("30 days", "365 days")
    assert table.denominator_category is None


def test_biobank_availability_per_sample_type(spec_registers):
    query = {
        "index": INDEX,
        "result": {
            "kind": "biobank_availability",
            "sample_types": ["serum", "dna", "dried_blood_spot", "tissue"],
        },
    }
    _, table = run(spec_registers, query)
    assert counts(table) == {
        ("serum",): 1,
        ("dna",): 1,
        ("dried_blood_spot",): 1,
        ("tissue",): 0,
        ("any of these",): 2,
    }
    assert "Danish National Biobank" in table.registers
    query["result"]["window"] = {"end": 0}
    _, table = run(spec_registers, query)
    assert counts(table)[("dna",)] == 0  # person 1's DNA sample is from after the index date


INCIDENCE_REGISTERS = {
    "bef": """
        | pnr | koen | foed_dag   | doed_dato  | indvandret_dato | udvandret_dato | reg  | kom |
        | 1   | 1    | 1950-01-01 |            |                 |                | 1084 | 101 |
        | 2   | 2    | 1960-01-01 | 2017-06-30 |                 |                | 1084 | 101 |
        | 3   | 2    | 1970-01-01 |            | 2017-01-01      |                | 1082 | 751 |
        | 4   | 1    | 2016-12-31 |            |                 |                | 1082 | 751 |
    """,
    "lpr_adm": """
        | pnr | recnum | d_inddto   | d_uddto    | c_pattype |
        | 1   | 1      | 2016-07-01 | 2016-07-01 | 1         |
        | 3   | 2      | 2010-05-05 | 2010-05-05 | 1         |
    """,
    "lpr_diag": """
        | recnum | c_diag | c_diagtype |
        | 1      | DE119  | A          |
        | 2      | DE119  | A          |
    """,
}


def test_incidence_and_prevalence_with_person_time(tmp_path):
    data = write_registers(tmp_path, INCIDENCE_REGISTERS)
    query = {
        "index": {"concept": T2D, "period": {"start": "2016-01-01", "end": "2017-12-31"}},
        "result": {"kind": "incidence_prevalence", "breakdowns": [{"by": "sex"}]},
    }
    (table,) = run(data, query)
    cell = table.cell(2016, "incident", None)
    assert cell.count == 1
    # 2016 has 366 days: person 1 at risk 1 Jan to 1 Jul (183 days), 2 all year, 4 on 31 Dec
    assert math.isclose(cell.measures["person_years_at_risk"], (183 + 366 + 1) / 365.25)
    assert cell.measures["population"] == 3
    cell = table.cell(2017, "prevalent", None)
    assert persons(data, table, 2017, "prevalent", None) == {1, 3}  # 3 arrived with an earlier diagnosis
    assert math.isclose(cell.measures["person_years"], (365 + 181 + 365 + 365) / 365.25)
    assert table.cell(2017, "prevalent", "female").count == 1
    assert table.cell(2017, "incident", None).count == 0
    assert math.isclose(table.cell(2017, "incident", "female").measures["person_years_at_risk"], 181 / 365.25)
    assert table.ordered_dimension == "year"


ARRIVING_AFTER_THE_SPAN = {
    **INCIDENCE_REGISTERS,
    "bef": INCIDENCE_REGISTERS["bef"].rstrip()
    + """
        | 5   | 1    | 1965-01-01 |            | 2018-01-01      |                | 1081 | 851 |
    """,
    "lpr_adm": INCIDENCE_REGISTERS["lpr_adm"].rstrip()
    + """
        | 5   | 3      | 2011-03-03 | 2011-03-03 | 1         |
    """,
    "lpr_diag": INCIDENCE_REGISTERS["lpr_diag"].rstrip()
    + """
        | 3      | DE119  | A          |
    """,
}


def test_a_case_arriving_on_1_january_after_the_span_is_not_prevalent_in_its_last_year(tmp_path):
    # Found by the engine-vs-reference property test: days after the span were mapped to its last year.
    data = write_registers(tmp_path, ARRIVING_AFTER_THE_SPAN)
    query = {
        "index": {"concept": T2D, "period": {"start": "2016-01-01", "end": "2017-12-31"}},
        "result": {"kind": "incidence_prevalence", "breakdowns": []},
    }
    (table,) = run(data, query)
    assert persons(data, table, 2017, "prevalent") == {1, 3}


def test_layout_precomputes_the_population_denominators(tmp_path):
    from queries.engine import DuckDBEngine

    engine = DuckDBEngine(write_registers(tmp_path, INCIDENCE_REGISTERS))
    try:
        assert engine.population_years_coverage() == (2010, 2017)
    finally:
        engine.close()
