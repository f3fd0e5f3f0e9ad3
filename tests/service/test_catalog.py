"""The catalog: registers, variables, coverage years, data owners, code lists with search; it
publishes no person or row counts at all."""

from __future__ import annotations

import json

from synthetic_registers.schema import TABLES


def test_registers_owners_and_coverage(data_api):
    api = data_api
    registers = api.get("/v1/catalog/registers", api.customer).json()
    names = {r["name"] for r in registers}
    assert names == {t.register for t in TABLES}
    lpr2 = api.get("/v1/catalog/registers/LPR2", api.customer).json()
    assert lpr2["coverage_last_year"] == 2018 and lpr2["owner"] == "Sundhedsdatastyrelsen"
    assert {v["name"] for v in lpr2["variables"]} >= {"pnr", "recnum", "c_adiag", "c_diag"}
    lpr3 = api.get("/v1/catalog/registers/LPR3", api.customer).json()
    assert lpr3["coverage_first_year"] == 2019
    owners = api.get("/v1/catalog/data-owners", api.customer).json()
    assert {o["name"] for o in owners} == {t.owner for t in TABLES}
    variables = api.get("/v1/catalog/variables", api.customer, params={"search": "atc"}).json()
    assert any(v["table"] == "lmdb" and v["name"] == "atc" for v in variables)
    assert api.get("/v1/catalog/variables", api.customer, params={"register": "NOPE"}).status_code == 404


def test_catalog_publishes_no_counts(data_api):
    api = data_api
    bodies = [
        api.get("/v1/catalog/registers", api.customer).text,
        *(api.get(f"/v1/catalog/registers/{t.register}", api.customer).text for t in TABLES),
        api.get("/v1/catalog/variables", api.customer).text,
    ]
    for body in bodies:
        assert '"rows"' not in body and '"count"' not in body and '"persons"' not in body
    # the extract's catalog does know row counts; none of them is published
    row_counts = {info.rows for info in api.service.catalog.tables.values() if info.rows > 1000}
    registers = json.loads(bodies[0])
    flat = json.dumps(registers)
    assert not any(f": {n}," in flat or f": {n}}}" in flat for n in row_counts)


def test_code_lists_search_by_code_and_by_name(data_api):
    api = data_api
    lists = {c["name"]: c for c in api.get("/v1/catalog/code-lists", api.customer).json()}
    assert {"icd10", "atc"} <= set(lists)
    by_code = api.get("/v1/catalog/code-lists/icd10", api.customer, params={"search": "E11"}).json()
    assert by_code["total"] >= 1 and all(c["code"].startswith("DE11") for c in by_code["items"])
    by_lpr_code = api.get("/v1/catalog/code-lists/icd10", api.customer, params={"search": "DE11"}).json()
    assert by_lpr_code["total"] == by_code["total"]
    by_name = api.get("/v1/catalog/code-lists/atc", api.customer, params={"search": "metformin"}).json()
    assert any(c["code"].startswith("A10BA") for c in by_name["items"])
    page = api.get("/v1/catalog/code-lists/atc", api.customer, params={"limit": 3, "offset": 2}).json()
    assert len(page["items"]) == 3 and page["offset"] == 2
    missing = api.get("/v1/catalog/code-lists/nope", api.customer)
    assert missing.status_code == 404 and "icd10" in missing.json()["detail"]
