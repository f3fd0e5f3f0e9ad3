"""DI22-DI24 (added to the catalog's ICD-10 list) are searchable through the catalog API."""

from __future__ import annotations

from tests.service.conftest import build_api, make_settings


def test_di22_to_di24_are_searchable_over_http(sqlite_url, service_registers):
    api = build_api(make_settings(sqlite_url, service_registers))
    try:
        pages = {
            search: api.get("/v1/catalog/code-lists/icd10", api.customer, params={"search": search}).json()
            for search in ("DI22", "I23", "DI24", "subsequent myocardial")
        }
    finally:
        api.client.__exit__(None, None, None)
    for search in ("DI22", "I23", "DI24"):
        code = "D" + search.removeprefix("D")
        assert pages[search]["total"] == 11  # the category and its ten one-digit subcodes
        assert [item["code"] for item in pages[search]["items"]][:2] == [code, f"{code}0"]
    assert "DI22" in [item["code"] for item in pages["subsequent myocardial"]["items"]]
