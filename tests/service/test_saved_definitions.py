"""Named concept sets and cohort definitions per organisation (SQLite and PostgreSQL): saved in
immutable versions, a changed definition is a new version, another organisation's are not found, and
every refusal is problem+json naming its field."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.service.conftest import build_api, make_settings

T2D = {"type": "diagnosis", "codes": ["DE11"]}
T2D_OR_A10 = {"type": "any_of", "concepts": [T2D, {"type": "prescription", "atc": ["A10"]}]}
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}
GLP1 = {"type": "prescription", "atc": ["A10BJ"]}


def test_a_concept_set_is_revised_in_versions_and_every_version_stays_as_saved(api):
    customer = api.customer
    created = api.post("/v1/concept-sets", customer, json={"name": "type 2 diabetes", "concept": T2D})
    assert created.status_code == 201, created.text
    first = created.json()
    set_id = first["id"]
    assert first["version"] == 1 and first["versions"] == [1]
    assert first["concept"]["codes"] == ["DE11"] and first["organisation_id"] == customer.organisation_id
    # revised three times: each change a new version, numbered on
    revisions = [
        T2D_OR_A10,
        {**T2D, "exclude_codes": ["DE118"]},
        {
            "type": "any_of",
            "concepts": [T2D, {"type": "prescription", "atc": ["A10"], "exclude_atc": ["A10A"]}],
        },
    ]
    hashes = [first["definition_hash"]]
    for number, concept in enumerate(revisions, start=2):
        saved = api.post(f"/v1/concept-sets/{set_id}/versions", customer, json={"concept": concept})
        assert saved.status_code == 201, saved.text
        assert saved.json()["version"] == number
        hashes.append(saved.json()["definition_hash"])
    assert len(set(hashes)) == 4
    # saving the latest again (defaults written out or not) is no new version
    unchanged = api.post(f"/v1/concept-sets/{set_id}/versions", customer, json={"concept": revisions[-1]})
    assert unchanged.status_code == 200 and unchanged.json()["version"] == 4
    latest = api.get(f"/v1/concept-sets/{set_id}", customer).json()
    assert latest["version"] == 4 and latest["versions"] == [1, 2, 3, 4]
    # old versions read back exactly as they were saved
    for number, concept in enumerate([T2D, *revisions], start=1):
        version = api.get(f"/v1/concept-sets/{set_id}/versions/{number}", customer).json()
        assert version["definition_hash"] == hashes[number - 1]
        assert version["concept"]["type"] == concept["type"]
    assert api.get(f"/v1/concept-sets/{set_id}/versions/2", customer).json()["concept"]["concepts"][1][
        "atc"
    ] == ["A10"]
    assert [s["id"] for s in api.get("/v1/concept-sets", customer).json()] == [set_id]


def test_another_organisations_sets_and_cohorts_are_not_found(api):
    customer, foreign = api.customer, api.foreign
    set_id = api.post("/v1/concept-sets", customer, json={"name": "t2d", "concept": T2D}).json()["id"]
    cohort = {"name": "t2d", "index": {"concept": T2D, "period": PERIOD}}
    cohort_id = api.post("/v1/cohorts", customer, json=cohort).json()["id"]
    for path, actor in (
        (f"/v1/concept-sets/{set_id}", foreign),
        (f"/v1/concept-sets/{set_id}/versions/1", foreign),
        (f"/v1/cohorts/{cohort_id}", foreign),
        (f"/v1/cohorts/{cohort_id}/versions/1", foreign),
        (f"/v1/concept-sets/{cohort_id}", customer),  # a cohort is no concept set
    ):
        answer = api.get(path, actor)
        assert answer.status_code == 404, path
        assert answer.headers["content-type"] == "application/problem+json"
    revised = api.post(f"/v1/concept-sets/{set_id}/versions", foreign, json={"concept": T2D_OR_A10})
    assert revised.status_code == 404
    assert api.get("/v1/concept-sets", foreign).json() == []
    # the same name is the foreign organisation's own
    assert api.post("/v1/concept-sets", foreign, json={"name": "t2d", "concept": T2D}).status_code == 201
    # and unchanged for its owner
    assert api.get(f"/v1/concept-sets/{set_id}", customer).json()["versions"] == [1]


def test_an_unknown_version_and_a_taken_name_are_problems(api):
    customer = api.customer
    set_id = api.post("/v1/concept-sets", customer, json={"name": "t2d", "concept": T2D}).json()["id"]
    missing = api.get(f"/v1/concept-sets/{set_id}/versions/2", customer)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert "version 2" in missing.json()["detail"]
    unknown = api.get("/v1/concept-sets/cs_00000000000000000000", customer)
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    taken = api.post("/v1/concept-sets", customer, json={"name": "t2d", "concept": T2D_OR_A10})
    assert taken.status_code == 409 and set_id in taken.json()["detail"]


def test_a_wrong_definition_is_a_422_naming_its_field(api):
    customer = api.customer
    cases = [
        ({"name": "x", "concept": {"type": "sex", "sex": "female"}}, "concept"),
        ({"name": "x", "concept": {"type": "any_of", "concepts": [T2D]}}, "concept.concepts"),
        (
            {
                "name": "x",
                "concept": {"type": "any_of", "concepts": [T2D, {"type": "prescription", "atc": ["A1"]}]},
            },
            "concept.concepts.1.atc.0",
        ),
        ({"name": "x", "concept": {**T2D, "exclude_codes": ["DI10"]}}, "concept.exclude_codes.0"),
        ({"name": " ", "concept": T2D}, "name"),
    ]
    for body, field in cases:
        answer = api.post("/v1/concept-sets", customer, json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
        assert field in [e["field"] for e in answer.json()["errors"]], answer.json()
    inverted = {"start": 10, "end": -10}
    cohort = {
        "name": "x",
        "index": {"concept": T2D, "period": PERIOD},
        "criteria": [{"type": "include", "concept": T2D_OR_A10, "window": inverted}],
    }
    answer = api.post("/v1/cohorts", customer, json=cohort)
    assert answer.status_code == 422
    assert [e["field"] for e in answer.json()["errors"]] == ["criteria.0.window.start"]


def test_a_cohort_is_revised_in_versions(api):
    customer = api.customer
    body = {"name": "incident T2D", "index": {"concept": T2D_OR_A10, "period": PERIOD}}
    created = api.post("/v1/cohorts", customer, json=body)
    assert created.status_code == 201, created.text
    cohort_id = created.json()["id"]
    assert created.json()["cohort"]["index"]["concept"]["type"] == "any_of"
    adults = {"index": body["index"], "population": {"age": {"min": 18}}}
    revised = api.post(f"/v1/cohorts/{cohort_id}/versions", customer, json=adults)
    assert revised.status_code == 201 and revised.json()["version"] == 2
    again = api.post(f"/v1/cohorts/{cohort_id}/versions", customer, json=adults)
    assert again.status_code == 200 and again.json()["version"] == 2
    first = api.get(f"/v1/cohorts/{cohort_id}/versions/1", customer).json()
    assert first["cohort"]["population"]["age"] is None
    assert api.get(f"/v1/cohorts/{cohort_id}", customer).json()["cohort"]["population"]["age"]["min"] == 18


# --- queries that refer to saved concept sets ------------------------------------------------------


@pytest.fixture
def data_api(database_url, service_registers):
    """The app over synthetic registers, waiting for a run as long as a first run on a loaded machine
    takes (the layout is built then), so each run answers with its release."""
    api = build_api(make_settings(database_url, service_registers, sync_wait_seconds=300))
    yield api
    api.client.__exit__(None, None, None)


def query_with(index_concept: dict, criterion_concept: dict | None = None) -> dict:
    query = {
        "title": "saved sets",
        "index": {"concept": index_concept, "period": {"start": "2015-01-01", "end": "2018-12-31"}},
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
    }
    if criterion_concept is not None:
        query["criteria"] = [{"type": "include", "concept": criterion_concept, "window": {"end": 0}}]
    return query


def test_releases_record_the_concept_set_versions_they_used_and_still_verify_after_revisions(data_api):
    api, customer = data_api, data_api.customer
    created = api.post("/v1/concept-sets", customer, json={"name": "type 2 diabetes", "concept": T2D}).json()
    set_id = created["id"]
    hypertension = api.post(
        "/v1/concept-sets",
        customer,
        json={"name": "hypertension", "concept": {"type": "diagnosis", "codes": ["DI10"]}},
    ).json()
    reference = {"type": "concept_set", "id": set_id, "version": 1}
    releases = []
    for version, revision in enumerate([T2D_OR_A10, {**T2D, "exclude_codes": ["DE118"]}], start=1):
        reference = {"type": "concept_set", "id": set_id, "version": version}
        query = query_with(reference, {"type": "concept_set", "id": hypertension["id"], "version": 1})
        run = api.post("/v1/queries/runs", customer, json=query)
        assert run.status_code == 201, run.text
        releases.append((version, run.json()))
        # the same query with the saved concepts written in is the same question: one hash
        saved = api.get(f"/v1/concept-sets/{set_id}/versions/{version}", customer).json()["concept"]
        inline = query_with(saved, {"type": "diagnosis", "codes": ["DI10"]})
        validated = api.post("/v1/queries/validate", customer, json=inline).json()
        assert run.json()["query_hash"] == validated["query_hash"]
        # then the set is revised: the release keeps naming the version it ran with
        assert (
            api.post(f"/v1/concept-sets/{set_id}/versions", customer, json={"concept": revision}).status_code
            == 201
        )
    assert api.get(f"/v1/concept-sets/{set_id}", customer).json()["versions"] == [1, 2, 3]
    for version, release in releases:
        stored = api.get(f"/v1/releases/{release['id']}", customer).json()
        used = {(d["id"], d["version"]): d["definition_hash"] for d in stored["saved_definitions"]}
        saved = api.get(f"/v1/concept-sets/{set_id}/versions/{version}", customer).json()
        assert used == {
            (set_id, version): saved["definition_hash"],
            (hypertension["id"], 1): hypertension["definition_hash"],
        }
        records = api.get("/v1/audit/records", api.auditor, params={"action": "release", "limit": 50}).json()
        (record,) = [r for r in records["items"] if r["payload"]["release_id"] == release["id"]]
        assert record["payload"]["saved_definitions"] == stored["saved_definitions"]
        assert record["query_hash"] == release["query_hash"]
        # the audited query is the resolved one: the saved concept, not the reference
        assert record["payload"]["query"]["index"]["concept"]["type"] == saved["concept"]["type"]
    assert releases[0][1]["query_hash"] != releases[1][1]["query_hash"]
    verified = api.get("/v1/audit/verify", api.auditor).json()
    assert verified["ok"] and verified["problems"] == []


def test_a_reference_to_an_unknown_or_foreign_set_is_a_404_naming_the_field(data_api):
    api = data_api
    set_id = api.post("/v1/concept-sets", api.customer, json={"name": "t2d", "concept": T2D}).json()["id"]
    cases = [
        (api.customer, {"type": "concept_set", "id": set_id, "version": 2}),
        (api.customer, {"type": "concept_set", "id": "cs_00000000000000000000", "version": 1}),
        (api.foreign, {"type": "concept_set", "id": set_id, "version": 1}),
    ]
    for actor, reference in cases:
        for path in ("/v1/queries/validate", "/v1/queries/quote", "/v1/queries/runs"):
            answer = api.post(path, actor, json=query_with(T2D, reference))
            assert answer.status_code == 404, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in answer.json()["errors"]] == ["criteria.0.concept"]
    # a reference inside any_of is resolved there too
    nested = {"type": "any_of", "concepts": [{"type": "concept_set", "id": set_id, "version": 1}, GLP1]}
    answer = api.post("/v1/queries/validate", api.customer, json=query_with(nested))
    assert answer.status_code == 200, answer.text
    assert answer.json()["query"]["index"]["concept"]["concepts"][0]["codes"] == ["DE11"]
    # a saved set cannot itself refer to another
    refers = {"name": "refers", "concept": {"type": "concept_set", "id": set_id, "version": 1}}
    answer = api.post("/v1/concept-sets", api.customer, json=refers)
    assert answer.status_code == 422 and [e["field"] for e in answer.json()["errors"]] == ["concept"]


def documented(info: str) -> dict:
    """The ```json <info> block of the language page's section on saved concept sets."""
    page = (Path(__file__).resolve().parents[2] / "docs" / "query-language.md").read_text()
    (block,) = re.findall(rf"```json {re.escape(info)}\n(.*?)```", page, flags=re.DOTALL)
    return json.loads(block)


def test_the_documented_concept_set_example_runs(data_api):
    api, customer = data_api, data_api.customer
    created = api.post("/v1/concept-sets", customer, json=documented("concept-set"))
    assert created.status_code == 201, created.text
    set_id = created.json()["id"]
    revised = api.post(
        f"/v1/concept-sets/{set_id}/versions", customer, json=documented("concept-set-version")
    )
    assert revised.status_code == 201 and revised.json()["version"] == 2
    query = documented("query-with-concept-set")
    query["index"]["concept"]["id"] = set_id
    quoted = api.post("/v1/queries/quote", customer, json=query)
    assert quoted.status_code == 200, quoted.text
    run = api.post("/v1/queries/runs", customer, json=query)
    assert run.status_code == 201, run.text
    assert run.json()["saved_definitions"] == [
        {
            "type": "concept_set",
            "id": set_id,
            "version": 1,
            "definition_hash": created.json()["definition_hash"],
        }
    ]
