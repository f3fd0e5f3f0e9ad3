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
    """The ```json <info> block of the language page's section on saved concept sets and cohorts."""
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


# --- queries on saved cohorts ------------------------------------------------------------------------

ADULTS = {"age": {"min": 18}}
ON_METFORMIN = {
    "type": "include",
    "concept": {"type": "prescription", "atc": ["A10BA"]},
    "window": {"end": 0},
}
BY_SEX = {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]}


def on_cohort(cohort_id: str, version: int, **rest) -> dict:
    return {
        "title": "on a saved cohort",
        "cohort": {"id": cohort_id, "version": version},
        "result": BY_SEX,
        **rest,
    }


def written_out(saved: dict, *criteria: dict) -> dict:
    """The query on a saved cohort version with the cohort written in, as a customer could send it."""
    cohort = saved["cohort"]
    return {
        "title": "on a saved cohort",
        "index": cohort["index"],
        "population": cohort["population"],
        "criteria": [*cohort["criteria"], *criteria],
        "result": BY_SEX,
    }


def test_the_query_on_a_saved_cohort_has_the_fields_of_a_query():
    """``QueryOnSavedCohort`` repeats ``Query``'s fields but index and population: they must not drift."""
    from queries.model import Query
    from statservice.api.routes.queries import QueryOnSavedCohort

    written, on_saved = Query.model_fields, QueryOnSavedCohort.model_fields
    assert set(on_saved) == set(written) - {"index", "population"} | {"cohort"}
    for name in set(on_saved) - {"cohort"}:
        assert on_saved[name].annotation == written[name].annotation, name
        assert on_saved[name].default == written[name].default, name
        assert on_saved[name].metadata == written[name].metadata, name


def test_releases_on_a_saved_cohort_name_its_versions_after_two_revisions_and_audit_verifies(data_api):
    api, customer = data_api, data_api.customer
    first = {"index": {"concept": T2D, "period": {"start": "2015-01-01", "end": "2018-12-31"}}}
    created = api.post("/v1/cohorts", customer, json={"name": "incident T2D", **first})
    assert created.status_code == 201, created.text
    cohort_id = created.json()["id"]
    revisions = [{**first, "population": ADULTS}, {**first, "population": ADULTS, "criteria": [ON_METFORMIN]}]
    releases = []
    for version, revision in enumerate([*revisions, None], start=1):
        query = on_cohort(cohort_id, version)
        run = api.post("/v1/queries/runs", customer, json=query)
        assert run.status_code == 201, run.text
        releases.append((version, run.json()))
        # the same question with the cohort written in has the same hash; the quote is the same
        saved = api.get(f"/v1/cohorts/{cohort_id}/versions/{version}", customer).json()
        validated = api.post("/v1/queries/validate", customer, json=written_out(saved)).json()
        assert run.json()["query_hash"] == validated["query_hash"]
        assert (
            api.post("/v1/queries/quote", customer, json=query).json()["price"]
            == api.post("/v1/queries/quote", customer, json=written_out(saved)).json()["price"]
        )
        if revision is not None:  # revised after the run: the release keeps naming its version
            saved_next = api.post(f"/v1/cohorts/{cohort_id}/versions", customer, json=revision)
            assert saved_next.status_code == 201 and saved_next.json()["version"] == version + 1
    assert api.get(f"/v1/cohorts/{cohort_id}", customer).json()["versions"] == [1, 2, 3]
    assert len({release["query_hash"] for _, release in releases}) == 3
    records = api.get("/v1/audit/records", api.auditor, params={"action": "release", "limit": 50}).json()
    for version, release in releases:
        saved = api.get(f"/v1/cohorts/{cohort_id}/versions/{version}", customer).json()
        stored = api.get(f"/v1/releases/{release['id']}", customer).json()
        assert stored["saved_definitions"] == [
            {
                "type": "cohort",
                "id": cohort_id,
                "version": version,
                "definition_hash": saved["definition_hash"],
            }
        ]
        (record,) = [r for r in records["items"] if r["payload"]["release_id"] == release["id"]]
        assert record["payload"]["saved_definitions"] == stored["saved_definitions"]
        # the audited query is the resolved one: the cohort's parts, not the reference
        assert "cohort" not in record["payload"]["query"]
        assert record["payload"]["query"]["population"] == saved["cohort"]["population"]
    verified = api.get("/v1/audit/verify", api.auditor).json()
    assert verified["ok"] and verified["problems"] == []


def test_a_query_adds_criteria_after_the_cohorts_own_and_concept_sets_resolve_in_them(data_api):
    api, customer = data_api, data_api.customer
    hypertension = {"type": "diagnosis", "codes": ["DI10"]}
    set_id = api.post("/v1/concept-sets", customer, json={"name": "ht", "concept": hypertension}).json()["id"]
    body = {"name": "t2d", "index": {"concept": T2D, "period": PERIOD}, "criteria": [ON_METFORMIN]}
    created = api.post("/v1/cohorts", customer, json=body).json()
    own = {
        "type": "exclude",
        "concept": {"type": "concept_set", "id": set_id, "version": 1},
        "window": {"end": 0},
    }
    query = on_cohort(created["id"], 1, criteria=[own])
    validated = api.post("/v1/queries/validate", customer, json=query)
    assert validated.status_code == 200, validated.text
    resolved = validated.json()["query"]
    assert [c["type"] for c in resolved["criteria"]] == ["include", "exclude"]
    assert resolved["criteria"][1]["concept"]["codes"] == ["DI10"]
    written = written_out(created, {**own, "concept": hypertension})
    assert (
        validated.json()["query_hash"]
        == api.post("/v1/queries/validate", customer, json=written).json()["query_hash"]
    )
    run = api.post("/v1/queries/runs", customer, json=query)
    assert run.status_code == 201, run.text
    assert [(d["type"], d["id"]) for d in run.json()["saved_definitions"]] == [
        ("cohort", created["id"]),
        ("concept_set", set_id),
    ]
    # an error in the query's own criteria names it by its own position, not after the cohort's
    inverted = {**own, "window": {"start": 10, "end": -10}}
    answer = api.post("/v1/queries/validate", customer, json=on_cohort(created["id"], 1, criteria=[inverted]))
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["criteria.0.window.start"]
    unknown_set = {**own, "concept": {"type": "concept_set", "id": set_id, "version": 9}}
    answer = api.post(
        "/v1/queries/validate", customer, json=on_cohort(created["id"], 1, criteria=[unknown_set])
    )
    assert answer.status_code == 404
    assert [e["field"] for e in answer.json()["errors"]] == ["criteria.0.concept"]


def test_a_reference_to_an_unknown_or_foreign_cohort_is_a_404_naming_the_field(data_api):
    api = data_api
    body = {"name": "t2d", "index": {"concept": T2D, "period": PERIOD}}
    cohort_id = api.post("/v1/cohorts", api.customer, json=body).json()["id"]
    set_id = api.post("/v1/concept-sets", api.customer, json={"name": "t2d", "concept": T2D}).json()["id"]
    cases = [
        (api.customer, cohort_id, 2, "cohort.version"),
        (api.customer, "coh_00000000000000000000", 1, "cohort"),
        (api.customer, set_id, 1, "cohort"),  # a concept set is no cohort
        (api.foreign, cohort_id, 1, "cohort"),
    ]
    for actor, reference, version, field in cases:
        for path in ("/v1/queries/validate", "/v1/queries/quote", "/v1/queries/runs", "/v1/quotes"):
            answer = api.post(path, actor, json=on_cohort(reference, version))
            assert answer.status_code == 404, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in answer.json()["errors"]] == [field]
    # a stored quote on the cohort is the owner's to take
    assert api.post("/v1/quotes", api.customer, json=on_cohort(cohort_id, 1)).status_code == 201


def test_a_query_with_a_saved_cohort_and_its_own_index_is_a_422_naming_the_field(data_api):
    api = data_api
    body = {"name": "t2d", "index": {"concept": T2D, "period": PERIOD}}
    cohort_id = api.post("/v1/cohorts", api.customer, json=body).json()["id"]
    cases = [
        (on_cohort(cohort_id, 1, index=body["index"]), "index"),
        (on_cohort(cohort_id, 1, population=ADULTS), "population"),
        ({**on_cohort(cohort_id, 1), "cohort": {"id": cohort_id}}, "cohort.version"),
        ({**on_cohort(cohort_id, 1), "cohort": {"id": "COH", "version": 1}}, "cohort.id"),
        ({"result": BY_SEX}, "index"),  # neither: the written-out query's field is missing, as before
    ]
    for query, field in cases:
        for path in ("/v1/queries/validate", "/v1/queries/runs"):
            answer = api.post(path, api.customer, json=query)
            assert answer.status_code == 422, (path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert [e["field"] for e in answer.json()["errors"]] == [field], answer.json()


def test_the_documented_cohort_example_runs(data_api):
    api, customer = data_api, data_api.customer
    created = api.post("/v1/cohorts", customer, json=documented("cohort"))
    assert created.status_code == 201, created.text
    query = documented("query-with-cohort")
    query["cohort"]["id"] = created.json()["id"]
    quoted = api.post("/v1/queries/quote", customer, json=query)
    assert quoted.status_code == 200, quoted.text
    run = api.post("/v1/queries/runs", customer, json=query)
    assert run.status_code == 201, run.text
    assert run.json()["saved_definitions"] == [
        {
            "type": "cohort",
            "id": created.json()["id"],
            "version": 1,
            "definition_hash": created.json()["definition_hash"],
        }
    ]
    # the documented query's criterion follows the saved cohort's (none): the first and only one
    validated = api.post("/v1/queries/validate", customer, json=query).json()["query"]
    assert validated["criteria"][0]["concept"]["atc"] == ["A10BA"]
    assert validated["population"]["age"]["min"] == 18
