"""Inclusion–exclusion over three releases through the real service (HTTP, SQLite and PostgreSQL):
count(C∧A) + count(C∧B) − count(C∧(A∨B)) must not give |C∧A∧B| in 1..4, also when the three counts
go to two different organisations (colluding customers are one attacker), and the exact counts the
Venn-atom audit needs are kept in the release transaction."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from statservice.db.models import ReleasedCountRow

CODE = "DE11"


def query(atc: list[str], title: str) -> dict:
    return {
        "title": title,
        "index": {
            "concept": {"type": "diagnosis", "codes": [CODE]},
            "period": {"start": "2015-01-01", "end": "2020-12-31"},
        },
        "population": {"age": {"min": 18}},
        "criteria": [{"type": "include", "concept": {"type": "prescription", "atc": atc}}],
        "result": {"kind": "cohort_count", "breakdowns": []},
    }


def released_total(response) -> int | None:
    if response.status_code != 201:
        assert response.status_code < 500, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        return None
    (cell,) = response.json()["tables"][0]["cells"]
    return cell["value"]


def true_counts(data_api) -> tuple[int, int, int]:
    """Ground truth from the engine itself (inside the test only)."""
    from queries.validation import validate_query

    engine = data_api.service.engine
    sizes = []
    for atc in (["A10BJ"], ["B01AA"], ["A10BJ", "B01AA"]):
        (table,) = engine.run(validate_query(query(atc, "truth"), engine.catalog))
        sizes.append(table.cells[0].count)
    return sizes[0], sizes[1], sizes[2]


@pytest.mark.parametrize("collusion", [False, True], ids=["one-organisation", "two-organisations"])
def test_third_count_of_an_inclusion_exclusion_is_not_released(data_api, collusion):
    api = data_api
    a, b, union = true_counts(api)
    overlap = a + b - union
    assert 1 <= overlap <= 4 and min(a, b, union) >= 5  # the scenario really isolates a few persons
    first = released_total(api.post("/v1/queries/runs", api.customer, json=query(["A10BJ"], "with A10BJ")))
    second = released_total(api.post("/v1/queries/runs", api.customer, json=query(["B01AA"], "with B01AA")))
    assert (first, second) == (a, b)  # large, far apart: the pairwise guard has nothing to say
    third_actor = api.foreign if collusion else api.customer
    third = released_total(
        api.post("/v1/queries/runs", third_actor, json=query(["A10BJ", "B01AA"], "with either"))
    )
    assert third is None
    with api.service.db.session() as session:
        kept = session.execute(select(func.count()).select_from(ReleasedCountRow)).scalar_one()
    assert kept == 2  # the two released totals, with their person sets, for later audits
