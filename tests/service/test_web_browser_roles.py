"""Browser scenarios of the staff, auditor and public pages (headless Chromium from the distribution,
the real app under uvicorn; the fixtures are test_web_browser's)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from statservice import public_statistics
from statservice.api.app import create_app
from statservice.service import Service
from tests.service.conftest import make_settings, seed_actors
from tests.service.helpers import cohort
from tests.service.live import live_server
from tests.service.test_public_statistics import BY_SEX, chosen
from tests.service.test_web_browser import Site, browser, shot, site  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_an_auditor_filters_opens_a_release_report_and_verifies_the_chain(site):  # noqa: F811
    released = httpx.post(
        f"{site.base}/v1/queries/runs",
        json=cohort(),
        headers={"Authorization": f"Bearer {site.actors['customer'].key}"},
        timeout=120,
    )
    assert released.status_code == 201, released.text
    release_id = released.json()["id"]

    page = site.page_of("auditor")
    assert page.get_by_role("heading", name="Audit log").is_visible()
    page.get_by_label("Action").select_option("release")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_load_state()
    rows = page.locator("#audit-records tbody tr")
    assert rows.count() == 1 and "release" in rows.first.inner_text()
    shot(page, "audit-log")

    rows.first.get_by_role("link", name="Auditor report").click()
    assert page.get_by_role("heading", name=f"Auditor report of release {release_id}").is_visible()
    assert page.get_by_role("heading", name="What was hidden and why").is_visible()
    assert "Interval audit passed" in page.locator("#report-sentences").inner_text()
    shot(page, "audit-release-report")

    page.get_by_role("link", name="Back to the audit log").click()
    page.get_by_role("button", name="Verify the chain").click()
    result = page.locator("#verification-result")
    result.wait_for()
    assert result.inner_text().startswith("Chain verified")
    assert page.url.endswith("/audit")  # htmx put the result into the page
    shot(page, "audit-verified")


@pytest.fixture
def public_site(browser, sqlite_url: str, service_registers: Path) -> Iterator[Site]:  # noqa: F811
    """The site with one public statistic published, as ``statservice run`` publishes them."""
    settings = make_settings(sqlite_url, service_registers)
    service = Service(settings)
    actors = seed_actors(service)
    assert public_statistics.build(service, chosen(service, BY_SEX))[0].status == "released"
    try:
        with live_server(create_app(settings, service)) as base:
            site = Site(base, actors, browser)
            yield site
            for context in site.contexts:
                context.close()
    finally:
        service.close()


def test_the_public_page_shows_a_chart_without_a_key(public_site, browser):  # noqa: F811
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="en-GB")
    public_site.contexts.append(context)
    page = context.new_page()
    page.goto(f"{public_site.base}/public")  # no sign-in
    assert page.get_by_role("heading", name="Public statistics", exact=True).is_visible()
    shot(page, "public-list")
    page.get_by_role("link", name="Type 2 diabetes: incidence and prevalence per year by sex").click()
    chart = page.get_by_role("img", name="Line chart of Type 2 diabetes", exact=False)
    chart.wait_for()
    assert chart.bounding_box()["height"] > 100  # drawn, not an empty element
    assert "random noise" in page.locator("#noise-in-words").inner_text()
    assert page.locator("table.result-table tbody tr").count() > 0
    assert context.cookies() == []  # nothing set: no session, no token
    shot(page, "public-statistic")


def test_staff_take_an_order_from_request_to_invoice(site):  # noqa: F811
    page = site.page_of("staff")
    page.goto(f"{site.base}/staff")
    assert page.get_by_role("heading", name="Orders", exact=True).is_visible()
    page.get_by_label("Organisation", exact=True).select_option(label="Customer A")
    page.get_by_label("Title").fill("Diabetes by sex")
    page.get_by_label("What the customer asks for").fill("Incident type 2 diabetes 2015-2018 by sex.")
    page.get_by_label("Draft query").fill(json.dumps(cohort()))
    page.get_by_role("button", name="Place the order").click()
    state = page.locator("#order-state")
    assert state.inner_text() == "requested"
    shot(page, "staff-order")

    page.get_by_label("Hours", exact=True).fill("3")
    page.get_by_label("Description 1").fill("Protocol review")
    page.get_by_label("Net amount 1 (DKK)").fill("1500")
    steps = [
        ("Send the estimate", "estimated"),
        ("Accept the estimate for the customer", "accepted"),
        ("Start work", "in progress"),
        ("Run the query for the order", "in progress"),  # the draft query, already in the form
    ]
    for button, expected in steps:
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state()
        assert state.inner_text() == expected, button
    assert page.locator("#order-releases a").count() == 1
    page.get_by_label("Hours worked").fill("2.5")
    page.get_by_role("button", name="Log hours").click()
    page.wait_for_load_state()
    assert page.locator("#order-hours").inner_text() == "2.50"
    for button, expected in (("Deliver", "delivered"), ("Invoice the order", "invoiced")):
        page.get_by_role("button", name=button).click()
        page.wait_for_load_state()
        assert state.inner_text() == expected, button
    assert page.locator("#order-invoice").inner_text().startswith("F")
    shot(page, "staff-order-invoiced")

    page.get_by_role("link", name="Orders of Customer A").click()
    assert page.get_by_role("heading", name="Invoiced (1)").is_visible()
    shot(page, "staff-board")
