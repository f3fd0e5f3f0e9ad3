"""Saved query drafts per organisation (SQLite and PostgreSQL): the /v1/drafts API and the builder's
"Save draft", the drafts page and opening a draft in the builder."""

from __future__ import annotations

import re

from tests.service.test_web_pages import WHOLE_QUERY, WHOLE_QUERY_FORM, htmx, sign_in

UNFINISHED = {"title": "not yet a query", "criteria": [{"type": "all"}]}


def test_a_draft_is_saved_replaced_by_name_read_and_deleted_within_its_organisation(api):
    customer, foreign = api.customer, api.foreign
    created = api.post("/v1/drafts", customer, json={"name": "diabetes", "query": UNFINISHED})
    assert created.status_code == 201, created.text
    draft = created.json()
    assert draft["query"] == UNFINISHED and draft["organisation_id"] == customer.organisation_id
    replaced = api.post("/v1/drafts", customer, json={"name": "diabetes", "query": WHOLE_QUERY})
    assert replaced.status_code == 200 and replaced.json()["id"] == draft["id"]
    assert (
        api.post("/v1/drafts", foreign, json={"name": "diabetes", "query": {}}).status_code == 201
    )  # its own
    listed = api.get("/v1/drafts", customer).json()
    assert [(d["name"], d["query"]) for d in listed] == [("diabetes", WHOLE_QUERY)]
    assert api.get(f"/v1/drafts/{draft['id']}", customer).json()["query"] == WHOLE_QUERY
    assert api.get(f"/v1/drafts/{draft['id']}", foreign).status_code == 404
    assert api.client.delete(f"/v1/drafts/{draft['id']}", headers=foreign.headers).status_code == 404
    assert api.client.delete(f"/v1/drafts/{draft['id']}", headers=customer.headers).status_code == 204
    assert api.get(f"/v1/drafts/{draft['id']}", customer).status_code == 404
    assert api.get("/v1/drafts", customer).json() == []


def test_a_draft_is_refused_a_422_naming_the_field_when_out_of_limits(api):
    deep: dict = {}
    node = deep
    for _ in range(40):
        node["criteria"] = [{}]
        node = node["criteria"][0]
    for body, field in (
        ({"name": "deep", "query": deep}, "query"),
        ({"name": " ", "query": {}}, "name"),
        ({"name": "x" * 121, "query": {}}, "name"),
        ({"name": "nul\u0000", "query": {}}, "name"),
    ):
        answer = api.post("/v1/drafts", api.customer, json=body)
        assert answer.status_code == 422, (body["name"], answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert any(e["field"].startswith(field) for e in answer.json()["errors"]), answer.json()


def test_the_builder_saves_a_draft_the_drafts_page_lists_opens_and_deletes(api):
    token = sign_in(api, api.customer)
    saved = api.client.post(
        "/drafts/save", data={**WHOLE_QUERY_FORM, "draft_name": "GLP-1 uptake"}, headers=htmx(token)
    )
    assert saved.status_code == 200 and "Saved draft" in saved.text
    (draft,) = api.get("/v1/drafts", api.customer).json()
    assert draft["name"] == "GLP-1 uptake" and draft["query"] == WHOLE_QUERY  # what the form builds
    again = api.client.post(
        "/drafts/save", data={**WHOLE_QUERY_FORM, "draft_name": "GLP-1 uptake"}, headers=htmx(token)
    )
    assert "Replaced draft" in again.text
    unnamed = api.client.post(
        "/drafts/save", data={**WHOLE_QUERY_FORM, "draft_name": ""}, headers=htmx(token)
    )
    assert "Give the draft a name" in unnamed.text

    page = api.client.get("/drafts").text
    assert f'href="/?draft={draft["id"]}"' in page
    opened = api.client.get(f"/?draft={draft['id']}").text
    assert 'name="criteria.1.criteria.0.concept.codes" type="text" value="DI10"' in opened
    assert 'value="DE11" checked' in opened and 'value="GLP-1 uptake"' in opened
    assert re.search(r'name="result.kind".*?<option value="treatment_uptake" selected', opened, re.S)

    api.client.cookies.clear()
    foreign_token = sign_in(api, api.foreign)
    assert api.client.get(f"/?draft={draft['id']}").status_code == 404
    assert "GLP-1 uptake" not in api.client.get("/drafts").text
    refused = api.client.post(f"/drafts/{draft['id']}/delete", data={"csrf_token": foreign_token})
    assert refused.status_code == 404

    api.client.cookies.clear()
    token = sign_in(api, api.customer)
    deleted = api.client.post(
        f"/drafts/{draft['id']}/delete", data={"csrf_token": token}, follow_redirects=False
    )
    assert deleted.status_code == 303 and api.get("/v1/drafts", api.customer).json() == []
