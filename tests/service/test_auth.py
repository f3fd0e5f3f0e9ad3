"""API keys, roles, organisations: keys are stored hashed; a customer never sees another
organisation's anything (404, not 403); staff acting for a customer is recorded as both."""

from __future__ import annotations

import hashlib

from sqlalchemy import select, text

from statservice.db.models import ApiKey, AuditRecord

PROBLEM = "application/problem+json"


def test_bearer_and_x_api_key_both_authenticate(api):
    key = api.customer.key
    assert (
        api.client.get("/v1/catalog/registers", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    )
    assert api.client.get("/v1/catalog/registers", headers={"X-API-Key": key}).status_code == 200


def test_missing_wrong_and_revoked_keys_are_401(api):
    for headers in (
        {},
        {"Authorization": "Bearer ss_nope"},
        {"X-API-Key": "wrong"},
        {"Authorization": "Basic x"},
    ):
        response = api.client.get("/v1/catalog/registers", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["www-authenticate"].startswith("Bearer")
    revoked = api.client.delete(f"/v1/keys/{api.customer2.key_id}", headers=api.admin.headers)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert api.get("/v1/catalog/registers", api.customer2).status_code == 401
    assert api.get("/v1/catalog/registers", api.customer).status_code == 200


def test_keys_are_stored_only_as_sha256(api):
    created = api.post(
        "/v1/keys",
        api.admin,
        json={"organisation_id": api.customer.organisation_id, "role": "customer", "name": "x"},
    )
    assert created.status_code == 201
    secret = created.json()["key"]
    assert len(secret) >= 40
    with api.service.db.session() as session:
        row = session.get(ApiKey, created.json()["id"])
        assert row.key_hash == hashlib.sha256(secret.encode()).hexdigest()
        dump = "\n".join(str(r) for r in session.execute(text("SELECT * FROM ss_api_keys")).all())
        audit_dump = "\n".join(r.payload_json for r in session.execute(select(AuditRecord)).scalars())
    assert secret not in dump and secret not in audit_dump
    listed = api.get("/v1/keys", api.admin).json()
    assert all("key" not in item for item in listed)
    assert api.get("/v1/catalog/registers", headers={"X-API-Key": secret}).status_code == 200


def test_only_admin_manages_keys_and_organisations(api):
    for name in ("customer", "staff", "auditor"):
        actor = getattr(api, name)
        assert api.get("/v1/keys", actor).status_code == 403
        assert api.post("/v1/organisations", actor, json={"name": "X"}).status_code == 403
    response = api.post("/v1/organisations", api.admin, json={"name": "New org", "segment": "student"})
    assert response.status_code == 201 and response.json()["segment"] == "student"
    bad = api.post("/v1/organisations", api.admin, json={"name": "Other", "segment": "nonsense"})
    assert bad.status_code == 422 and "public_research" in bad.json()["detail"]
    dup = api.post("/v1/organisations", api.admin, json={"name": "New org"})
    assert dup.status_code == 409 and dup.headers["content-type"] == PROBLEM


def test_customer_cannot_act_for_another_organisation(api):
    response = api.get(
        "/v1/budgets", api.customer, headers={"X-Act-For-Organisation": api.foreign.organisation_id}
    )
    assert response.status_code == 403


def test_foreign_organisation_resources_are_404(api):
    """Resources of organisation B probed with a key of organisation A: 404 everywhere."""
    foreign_org = api.foreign.organisation_id
    for path, params in (
        (f"/v1/organisations/{foreign_org}", None),
        ("/v1/budgets", {"organisation_id": foreign_org}),
    ):
        response = api.get(path, api.customer, params=params)
        assert response.status_code in (404, 503), (path, response.status_code)
    own = api.get("/v1/organisations", api.customer).json()
    assert [o["id"] for o in own] == [api.customer.organisation_id]
