"""Unknown query parameters are a 422 on every endpoint (issue 15, item 4).

FastAPI ignores a query parameter a route does not declare, so ``?q=diabetes`` on a route reading
``search`` answered with every code as if nothing had been asked. Walks every operation in the
published OpenAPI schema, so a new route is covered without being listed here.
"""

from __future__ import annotations

import re

import pytest

UNKNOWN = "no_such_parameter"


def _operations(schema: dict) -> list[tuple[str, str, list[str]]]:
    out = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            query = sorted(p["name"] for p in operation.get("parameters", []) if p["in"] == "query")
            out.append((method.upper(), path, query))
    return out


def test_every_route_in_the_schema_refuses_an_unknown_query_parameter(api):
    schema = api.client.get("/openapi.json").json()
    operations = _operations(schema)
    assert len(operations) > 40  # the whole API, not a prefix of it
    for method, path, declared in operations:
        url = re.sub(r"\{[^}]+\}", "x_1", path)
        params = {UNKNOWN: "1", **dict.fromkeys(declared[:1], "")}
        response = api.client.request(method, url, params=params, headers=api.admin.headers)
        where = f"{method} {path}"
        assert response.status_code == 422, (where, response.status_code, response.text)
        assert response.headers["content-type"] == "application/problem+json", where
        body = response.json()
        assert UNKNOWN in body["detail"], where
        assert [e["field"] for e in body["errors"]] == [f"query:{UNKNOWN}"], where
        valid = body["errors"][0]["valid"]
        if declared:
            assert valid == f"one of: {', '.join(declared)}", where
        else:
            assert "no query parameters" in valid, where


@pytest.mark.parametrize("actor", [None, "customer"])
def test_a_misspelt_parameter_is_named_with_the_valid_ones(api, actor):
    headers = getattr(api, actor).headers if actor else {}
    response = api.client.get("/v1/releases", params={"limits": "5", "offset": "0"}, headers=headers)
    assert response.status_code == 422
    body = response.json()
    assert body["errors"] == [
        {"field": "query:limits", "message": "unknown query parameter", "valid": "one of: limit, offset"}
    ]
    # declared parameters alone pass the check
    assert api.client.get("/v1/releases", params={"limit": "5"}, headers=headers).status_code == (
        200 if actor else 401
    )
