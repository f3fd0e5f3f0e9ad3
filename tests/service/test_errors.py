"""One error shape (RFC 9457 problem+json) for every error the service can answer."""

from __future__ import annotations

import pytest

from statservice.api.routes import catalog as catalog_routes

PROBLEM = "application/problem+json"
KEYS = {"type", "title", "status", "detail", "instance", "errors"}


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert set(body) == KEYS
    assert body["status"] == status
    assert isinstance(body["errors"], list)
    for error in body["errors"]:
        assert set(error) == {"field", "message", "valid"}
    return body


def test_401(api):
    body = assert_problem(api.client.get("/v1/releases"), 401)
    assert body["instance"] == "/v1/releases"


def test_403(api):
    assert_problem(api.get("/v1/audit/records", api.customer), 403)


def test_404_unknown_route_and_unknown_resource(api):
    assert_problem(api.get("/v1/nothing-here", api.customer), 404)
    assert_problem(api.get("/v1/releases/rel_doesnotexist", api.customer), 404)
    assert_problem(api.get("/v1/catalog/registers/NOPE", api.customer), 404)


def test_405(api):
    assert_problem(api.client.put("/v1/catalog/registers", headers=api.customer.headers), 405)


def test_413_body_limit(api):
    big = b'{"title": "' + b"x" * (api.service.settings.max_body_bytes + 10) + b'"}'
    response = api.client.post(
        "/v1/queries/validate",
        content=big,
        headers={**api.customer.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 413)


def test_413_chunked_body_without_content_length(api):
    limit = api.service.settings.max_body_bytes

    def chunks():
        yield b'{"title": "'
        for _ in range(limit // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    response = api.client.post(
        "/v1/queries/validate",
        content=chunks(),
        headers={**api.customer.headers, "Content-Type": "application/json"},
    )
    assert "content-length" not in response.request.headers
    assert_problem(response, 413)


def test_422_names_the_field_and_what_is_valid(api):
    query = {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "not a date", "end": "2018-12-31"},
        },
        "result": {"kind": "cohort_count", "breakdowns": [{"by": "shoe_size"}]},
    }
    body = assert_problem(api.post("/v1/queries/validate", api.customer, json=query), 422)
    fields = {e["field"] for e in body["errors"]}
    assert "index.period.start" in fields
    assert any(f.startswith("result.breakdowns.0") for f in fields)
    start = next(e for e in body["errors"] if e["field"] == "index.period.start")
    assert "date" in start["valid"]
    body = assert_problem(api.get("/v1/releases", api.customer, params={"limit": 0}), 422)
    assert body["errors"][0]["field"] == "query:limit" and ">=" in body["errors"][0]["valid"]


def test_422_malformed_json(api):
    response = api.client.post(
        "/v1/queries/validate",
        content=b"{not json",
        headers={**api.customer.headers, "Content-Type": "application/json"},
    )
    assert_problem(response, 422)


def test_429_with_retry_after(api):
    api.service.rate_limiter.rate = 0.5
    api.service.rate_limiter.burst = 3
    statuses = [api.get("/v1/catalog/data-owners", api.customer2).status_code for _ in range(6)]
    assert statuses[:3] == [200, 200, 200]
    response = api.get("/v1/catalog/data-owners", api.customer2)
    body = assert_problem(response, 429)
    assert int(response.headers["retry-after"]) >= 1
    assert "retry" in body["detail"]
    # the bucket is per organisation: another key of the same organisation is limited too,
    # a key of another organisation is not
    assert api.get("/v1/catalog/data-owners", api.customer).status_code == 429
    assert api.get("/v1/catalog/data-owners", api.foreign).status_code == 200


def test_500_reveals_no_internals(api, monkeypatch):
    def explode(*args):
        raise RuntimeError("connection string postgresql://user:hunter2@db pnr=123456")

    monkeypatch.setattr(catalog_routes, "_registers", explode)
    response = api.get("/v1/catalog/registers", api.customer)
    body = assert_problem(response, 500)
    assert (
        "hunter2" not in response.text and "pnr" not in response.text and "RuntimeError" not in response.text
    )
    assert body["title"] == "Internal server error"


@pytest.mark.parametrize(
    "method, path",
    [
        ("GET", "/v1/catalog/registers"),
        ("GET", "/v1/catalog/code-lists"),
        ("POST", "/v1/queries/validate"),
        ("POST", "/v1/queries/quote"),
        ("POST", "/v1/queries/runs"),
        ("GET", "/v1/queries/runs/run_x"),
        ("GET", "/v1/releases"),
        ("GET", "/v1/releases/rel_x/result"),
        ("GET", "/v1/budgets"),
        ("GET", "/v1/history"),
        ("GET", "/v1/audit/records"),
        ("GET", "/v1/audit/verify"),
        ("GET", "/v1/audit/export"),
        ("GET", "/v1/keys"),
        ("POST", "/v1/organisations"),
    ],
)
def test_every_endpoint_answers_401_as_problem(api, method, path):
    assert_problem(api.client.request(method, path, json={}), 401)


def test_422_for_a_rounding_base_the_policy_refuses_before_any_quote(data_api):
    """Rounding to 10 was quoted (and could be bought) although protection always refused it."""
    query = {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": "2015-01-01", "end": "2018-12-31"},
        },
        "disclosure": {"rounding": 10},
    }
    for path in ("/v1/queries/quote", "/v1/quotes", "/v1/queries/runs"):
        body = assert_problem(data_api.post(path, data_api.customer, json=query), 422)
        (error,) = body["errors"]
        assert error["field"] == "disclosure.rounding", path
        assert "5" in error["valid"] and "null" in error["valid"] and "10" not in error["valid"]
    assert data_api.get("/v1/quotes", data_api.customer).json()["total"] == 0
    assert data_api.get("/v1/history", data_api.customer).json()["total"] == 0
    rounded = data_api.post(
        "/v1/queries/quote", data_api.customer, json={**query, "disclosure": {"rounding": 5}}
    )
    assert rounded.status_code == 200, rounded.text
