"""Named concept sets and cohort definitions per organisation (SQLite and PostgreSQL): saved in
immutable versions, a changed definition is a new version, another organisation's are not found, and
every refusal is problem+json naming its field."""

from __future__ import annotations

T2D = {"type": "diagnosis", "codes": ["DE11"]}
T2D_OR_A10 = {"type": "any_of", "concepts": [T2D, {"type": "prescription", "atc": ["A10"]}]}
PERIOD = {"start": "2015-01-01", "end": "2020-12-31"}


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
