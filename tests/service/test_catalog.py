"""The catalog: registers, variables, coverage years, data owners, code lists with search; it
publishes no person or row counts at all."""

from __future__ import annotations

import json

from synthetic_registers.codes import atc_list
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
    pci = api.get("/v1/catalog/code-lists/sks_procedures", api.customer, params={"q": "PCI"}).json()
    assert {c["code"] for c in pci["items"]} == {"KFNG02", "KFNG05"}
    hba1c = api.get("/v1/catalog/code-lists/npu_analyses", api.customer, params={"q": "HbA1c"}).json()
    assert [c["code"] for c in hba1c["items"]] == ["NPU27300"]
    missing = api.get("/v1/catalog/code-lists/nope", api.customer)
    assert missing.status_code == 404 and "icd10" in missing.json()["detail"]


def _codes(api, list_name: str, **params) -> dict:
    response = api.get(f"/v1/catalog/code-lists/{list_name}", api.customer, params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_q_is_the_search_parameter_and_search_its_alias(data_api):
    """``?q=diabetes`` was ignored and answered all 4,279 ICD-10 codes."""
    api = data_api
    everything = _codes(api, "icd10")["total"]
    by_q = _codes(api, "icd10", q="diabetes", limit=1000)
    assert 0 < by_q["total"] < everything
    assert {"DE10", "DE11", "DO24"} <= {item["code"] for item in by_q["items"]}
    assert _codes(api, "icd10", search="diabetes", limit=1000) == by_q
    assert _codes(api, "icd10", q="diabetes", search="diabetes", limit=1000) == by_q
    both = api.get("/v1/catalog/code-lists/icd10", api.customer, params={"q": "diabetes", "search": "asthma"})
    assert both.status_code == 422 and both.json()["errors"][0]["field"] == "query:search"
    variables = api.get("/v1/catalog/variables", api.customer, params={"q": "atc"}).json()
    assert variables == api.get("/v1/catalog/variables", api.customer, params={"search": "atc"}).json()
    assert 0 < len(variables) < len(api.get("/v1/catalog/variables", api.customer).json())


def test_search_finds_brands_abbreviations_and_classes_by_synonym(data_api):
    api = data_api

    def codes(list_name: str, text: str) -> list[str]:
        return [item["code"] for item in _codes(api, list_name, q=text, limit=1000)["items"]]

    def under(prefix: str) -> list[str]:
        """Every code of the ATC index a synonym of ``prefix`` reaches: the group and its substances."""
        return [c.code for c in atc_list().codes if c.code.startswith(prefix)]

    glp1 = ["A10AE56", *under("A10BJ")]
    assert {"A10BJ", "A10BJ01", "A10BJ02", "A10BJ05", "A10BJ06"} <= set(glp1)
    for spelling in ("GLP", "GLP-1", "glp1", "glp 1"):
        assert sorted(codes("atc", spelling)) == glp1, spelling
    assert codes("atc", "Glp-1 receptor agonist") == glp1[1:]  # not the insulin combination
    assert codes("atc", "Ozempic") == ["A10BJ06"] == codes("atc", "ozempic")
    assert sorted(codes("atc", "DOAC")) == sorted(["B01AE07", *under("B01AF")])
    assert sorted(codes("atc", "SGLT2")) == under("A10BK")
    assert codes("icd10", "MI")[:2] == ["DI21", "DI210"]  # before every name merely containing "mi"
    assert {"DI21", "DI22"} <= set(codes("icd10", "MI")[:22])
    assert codes("icd10", "COPD")[0] == "DJ44"
    semaglutide = _codes(api, "atc", q="Ozempic")["items"][0]
    assert semaglutide["name"] == "semaglutide"
    assert {"Ozempic", "Wegovy", "Rybelsus", "GLP-1"} <= set(semaglutide["synonyms"])


def test_search_ranks_exact_code_then_prefix_then_name_then_synonym(data_api):
    api = data_api
    items = _codes(api, "atc", q="A10BJ06")["items"]
    assert [item["code"] for item in items] == ["A10BJ06"]
    ranked = [item["code"] for item in _codes(api, "icd10", q="E11", limit=1000)["items"]]
    assert ranked[:11] == ["DE11", *(f"DE11{d}" for d in range(10))]
