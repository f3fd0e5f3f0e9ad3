"""Over HTTP: every ATC code of the index is a valid code (one no one was dispensed answers with
nothing to count), a code outside it is a problem+json 422 naming its field, and the catalog finds
codes of every level (issue 17, item 5)."""

from __future__ import annotations

from synthetic_registers.codes import atc_list, atc_substances
from tests.service.helpers import cohort

PROBLEM = "application/problem+json"


def _codes() -> tuple[str, str]:
    """A sulfonylurea code of the index that no one is dispensed, and one that is no ATC code."""
    sold = {s.code for s in atc_substances()}
    codes = {c.code for c in atc_list().codes}
    never = next(c for c in sorted(codes) if c.startswith("A10BB") and len(c) == 7 and c not in sold)
    unknown = next(f"A10BB{n:02d}" for n in range(99, 0, -1) if f"A10BB{n:02d}" not in codes)
    return never, unknown


def _first_users(atc: str) -> dict:
    return cohort(
        title=f"first dispensing of {atc}",
        index={
            "concept": {"type": "prescription", "atc": [atc]},
            "period": {"start": "2015-01-01", "end": "2018-12-31"},
        },
    )


def test_a_valid_code_no_one_was_dispensed_is_answered_with_every_cell_suppressed(data_api):
    never, _ = _codes()
    run = data_api.post("/v1/queries/runs", data_api.customer, json=_first_users(never))
    assert run.status_code == 201, run.text
    cells = run.json()["tables"][0]["cells"]
    assert cells and all(cell["status"] == "suppressed" for cell in cells)


def test_a_code_outside_the_atc_index_is_a_422_naming_the_field(data_api):
    _, unknown = _codes()
    for path in ("/v1/queries/quote", "/v1/queries/runs"):
        response = data_api.post(path, data_api.customer, json=_first_users(unknown))
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        (error,) = response.json()["errors"]
        assert error["field"] == "index.concept.atc.0"
        assert unknown not in error["valid"] and "A10BB" in error["valid"]


def test_the_catalog_searches_groups_and_never_dispensed_substances(data_api):
    never, _ = _codes()
    for code in ("A10BB", never):
        found = data_api.get("/v1/catalog/code-lists/atc", data_api.customer, params={"q": code})
        assert found.status_code == 200, found.text
        assert found.json()["items"][0]["code"] == code
