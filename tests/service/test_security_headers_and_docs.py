"""Every response carries the security headers (successes, every kind of error, the docs); /docs and
/redoc load every asset from the app itself, so they work offline and run no third-party script."""

from __future__ import annotations

import re

import pytest

from statservice.api.docs import DOCS_CSP
from statservice.api.middleware import CSP, SECURITY_HEADERS
from statservice.api.routes import catalog as catalog_routes


def assert_secure(response) -> None:
    for name, value in SECURITY_HEADERS.items():
        if name == CSP and response.request.url.path in ("/docs", "/redoc"):  # their own, stricter
            assert response.headers[name] == DOCS_CSP and value in DOCS_CSP
            continue
        assert response.headers.get(name) == value, (response.request.url, name, response.headers)
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_success_responses_carry_the_security_headers(api):
    for path in ("/v1/health", "/v1/catalog/data-owners", "/openapi.json", "/docs", "/redoc"):
        response = api.get(path, api.customer)
        assert response.status_code == 200, path
        assert_secure(response)
    response = api.get("/v1/audit/export", api.auditor)  # streamed
    assert response.status_code == 200
    assert_secure(response)


def test_error_responses_carry_the_security_headers(api, monkeypatch):
    answers = {
        401: api.client.get("/v1/catalog/registers"),
        403: api.get("/v1/audit/verify", api.customer),
        404: api.get("/v1/nowhere", api.customer),
        405: api.client.put("/v1/catalog/registers", headers=api.customer.headers),
        413: api.client.post(
            "/v1/queries/validate",
            content=b"x" * (api.service.settings.max_body_bytes + 10),
            headers={**api.customer.headers, "Content-Type": "application/json"},
        ),
        422: api.post("/v1/queries/validate", api.customer, json={"index": 3}),
    }

    def explode(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(catalog_routes, "_registers", explode)
    answers[500] = api.get("/v1/catalog/registers", api.customer)
    for status, response in answers.items():
        assert response.status_code == status, (status, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert_secure(response)


def referenced_urls(html: str) -> list[str]:
    """Every URL the page makes the browser load: src and href attributes, and the spec's url."""
    urls = re.findall(r'(?:src|href)\s*=\s*"([^"]+)"', html)
    urls += re.findall(r"""url:\s*['"]([^'"]+)['"]""", html)
    urls += re.findall(r"""spec-url\s*=\s*['"]([^'"]+)['"]""", html)
    return urls


@pytest.mark.parametrize(
    ("page", "expected"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
def test_docs_pages_load_every_asset_from_the_app_itself(api, page, expected):
    response = api.client.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    urls = referenced_urls(html)
    assert any(url.endswith(expected) for url in urls), urls
    assert "/openapi.json" in urls
    assert not re.search(r"https?://", html), "the page references another host"
    for url in urls:
        assert url.startswith("/"), url
        asset = api.client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 0
        if url.endswith(".js"):
            assert "javascript" in asset.headers["content-type"]
            assert len(asset.content) > 100_000  # the real bundle, not a stub
        if url.endswith(".css"):
            assert asset.headers["content-type"].startswith("text/css")
        if url.startswith("/docs-assets/"):
            assert asset.headers["X-Content-Type-Options"] == "nosniff"
            assert asset.headers["Cache-Control"].startswith("public")  # the same files for everyone


def test_docs_assets_do_not_serve_outside_their_directory(api):
    for path in ("/docs-assets/../core/config.py", "/docs-assets/%2e%2e/__init__.py", "/docs-assets/nope.js"):
        response = api.client.get(path)
        assert response.status_code == 404, path
        assert_secure(response)
