"""Offline: every page and the API documentation load everything they use from the app itself (the
installed package), and nothing from another host. Checked twice: every URL a page's HTML or a
stylesheet names is this app's and answers 200; and a browser that may reach no other host opens
each page, including /docs and /redoc, without a single request leaving the app."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urljoin, urlparse

import httpx
import pytest

from statservice import public_statistics
from statservice.api.app import create_app
from statservice.service import Service
from statservice.web.pages import HERE
from tests.service.conftest import make_settings, seed_actors
from tests.service.helpers import cohort
from tests.service.live import live_server
from tests.service.test_public_statistics import BY_SEX, chosen
from tests.service.test_web_browser import browser  # noqa: F401 (fixture)
from tests.service.test_web_pages import sign_in

# Where HTML and CSS name something to load or to go to.
URL_ATTRIBUTE = re.compile(
    r"\s(?:src|href|xlink:href|action|srcset|poster|data|hx-get|hx-post|hx-put|hx-delete)\s*=\s*[\"']([^\"']*)[\"']"
)
CSS_URL = re.compile(r"url\(\s*[\"']?([^\"')]+)|@import\s+[\"']([^\"']+)")
LOADED = re.compile(r"<(?:script|link|img|source)\b[^>]*\s(?:src|href)\s*=\s*[\"']([^\"']+)[\"']")


def urls_of(text: str) -> list[str]:
    found = URL_ATTRIBUTE.findall(text)
    found += [a or b for a, b in CSS_URL.findall(text)]
    return [url for url in found if url and not url.startswith(("#", "data:", "mailto:"))]


def is_outside(url: str) -> bool:
    parsed = urlparse(url)
    return bool(parsed.scheme and parsed.scheme not in ("http", "https")) or bool(parsed.netloc)


@pytest.fixture
def every_page(data_api) -> dict[str, str]:
    """path -> HTML of every page there is, each with content (a release, a public statistic)."""
    api = data_api
    assert public_statistics.build(api.service, chosen(api.service, BY_SEX))[0].status == "released"
    release = api.post("/v1/queries/runs", api.customer, json=cohort()).json()
    pages: dict[str, str] = {}
    for path in ("/sign-in", "/public", f"/public/{BY_SEX}", "/docs", "/redoc"):
        pages[path] = api.client.get(path).text
    sign_in(api, api.customer)
    for path in ("/", "/history", f"/releases/{release['id']}", "/audit"):  # /audit: the 403 page
        pages[f"customer {path}"] = api.client.get(path).text
    api.client.cookies.clear()
    sign_in(api, api.staff)
    pages["/staff"] = api.client.get("/staff").text
    api.client.cookies.clear()
    sign_in(api, api.auditor)
    pages["/audit"] = api.client.get("/audit").text
    pages["/audit/records/1"] = api.client.get("/audit/records/1").text
    return pages


def test_no_page_names_another_host_and_everything_it_loads_is_served(data_api, every_page):
    for name, html in every_page.items():
        assert "<html" in html, name
        outside = [url for url in urls_of(html) if is_outside(url)]
        assert outside == [], f"{name} names another host: {outside}"
        for asset in LOADED.findall(html):
            answer = data_api.client.get(urljoin("http://testserver/", asset))
            assert answer.status_code == 200, (name, asset)
            if asset.endswith(".css"):  # and what a stylesheet loads in turn (fonts, images)
                assert not [url for url in urls_of(answer.text) if is_outside(url)], asset


def test_the_package_assets_name_no_other_host():
    for path in (HERE / "static").glob("*.css"):
        assert not [url for url in urls_of(path.read_text()) if is_outside(url)], path
    # no font file is needed: the pages use the system's fonts
    assert (
        not list((HERE / "static").glob("*.woff*"))
        and "font-face" not in (HERE / "static" / "app.css").read_text()
    )


def test_a_browser_that_reaches_no_other_host_loads_every_page(browser, sqlite_url, service_registers: Path):  # noqa: F811
    settings = make_settings(sqlite_url, service_registers)
    service = Service(settings)
    actors = seed_actors(service)
    assert public_statistics.build(service, chosen(service, BY_SEX))[0].status == "released"
    try:
        with live_server(create_app(settings, service)) as base:
            released = httpx.post(
                f"{base}/v1/queries/runs", json=cohort(), headers=actors["customer"].headers, timeout=120
            )
            assert released.status_code == 201
            context = browser.new_context()
            left: list[str] = []

            def only_this_app(route):
                if route.request.url.startswith(base):
                    route.continue_()
                else:  # as with no network: the request fails
                    left.append(route.request.url)
                    route.abort()

            context.route("**/*", only_this_app)
            page = context.new_page()
            failed: list[tuple[str, str]] = []
            page.on("requestfailed", lambda request: failed.append((request.url, request.failure or "")))
            page.goto(f"{base}/docs", wait_until="networkidle")
            page.locator(".swagger-ui .opblock").first.wait_for()  # Swagger UI drew the operations
            page.goto(f"{base}/redoc", wait_until="networkidle")
            page.locator("[role=menuitem], .menu-content").first.wait_for()  # ReDoc drew its menu
            page.goto(f"{base}/public/{BY_SEX}", wait_until="networkidle")
            for role in ("customer", "staff", "auditor"):
                page.context.clear_cookies()
                page.goto(f"{base}/sign-in", wait_until="networkidle")
                page.get_by_label("API key").fill(actors[role].key)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_load_state("networkidle")
            page.goto(f"{base}/audit/records/{1}", wait_until="networkidle")
            assert left == []  # nothing left the app
            # ReDoc's bundle names its logo on cdn.redoc.ly: the page's policy stops it in the browser
            assert [(url, why) for url, why in failed if why not in ("csp", "net::ERR_BLOCKED_BY_CSP")] == []
            assert all(url.startswith("https://cdn.redoc.ly/") for url, _ in failed)
            context.close()
    finally:
        service.close()
