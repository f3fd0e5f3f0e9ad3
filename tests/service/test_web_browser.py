"""Browser scenarios: headless Chromium from the distribution (/usr/bin/chromium) driven by
Playwright through the real app served by uvicorn, over synthetic registers.

No browser is downloaded: Playwright only drives the installed executable. Without it the tests are
skipped, unless STATSERVICE_REQUIRE_BROWSER=1 (set by .ci/run, which installs chromium), where that is
a failure. With STATSERVICE_SCREENSHOTS_DIR set (``make screenshots``), each page is also saved there
as a PNG for the README."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from statservice.api.app import create_app
from statservice.service import Service
from tests.service.conftest import Actor, make_settings, seed_actors
from tests.service.live import live_server

pytestmark = pytest.mark.browser

CHROMIUM = Path(os.environ.get("STATSERVICE_CHROMIUM", "/usr/bin/chromium"))
SCREENSHOTS = os.environ.get("STATSERVICE_SCREENSHOTS_DIR")
TIMEOUT_MS = 60_000  # a run on a loaded 2-core machine


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        if os.environ.get("STATSERVICE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"STATSERVICE_REQUIRE_BROWSER=1 but there is no browser at {CHROMIUM}")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
        )
        yield browser
        browser.close()


class Site:
    def __init__(self, base: str, actors: dict[str, Actor], browser) -> None:
        self.base, self.actors, self.browser = base, actors, browser
        self.contexts = []

    def page_of(self, role_name: str):
        """A new browser (its own cookies) signed in as the named actor through the sign-in form."""
        context = self.browser.new_context(
            accept_downloads=True, viewport={"width": 1100, "height": 900}, locale="en-GB"
        )
        context.set_default_timeout(TIMEOUT_MS)
        self.contexts.append(context)
        page = context.new_page()
        page.goto(f"{self.base}/sign-in")
        shot(page, "sign-in")
        page.get_by_label("API key").fill(self.actors[role_name].key)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_load_state()
        return page


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / f"{name}.png"), full_page=True)


@pytest.fixture
def site(browser, sqlite_url: str, service_registers: Path) -> Iterator[Site]:
    settings = make_settings(sqlite_url, service_registers)
    service = Service(settings)
    actors = seed_actors(service)
    app = create_app(settings, service)
    try:
        with live_server(app) as base:
            site = Site(base, actors, browser)
            yield site
            for context in site.contexts:
                context.close()
    finally:
        service.close()


def wait_for_result_table(page):
    """The result's table; if it does not come, what the result area shows instead (a refusal, the
    fields not run, a run still going), so a failure says why."""
    table = page.locator("table.result-table").first
    try:
        table.wait_for()
    except Exception as error:
        raise AssertionError(
            f"no result table; the result area says: {page.locator('#result').inner_text()!r}"
        ) from error
    return table


def choose_code(page, search: str, code: str) -> None:
    page.get_by_label("Search codes").fill(search)
    page.locator(f'.code-choice[data-code="{code}"]').click()
    page.locator(f'#chosen-codes input[value="{code}"]').wait_for()


def test_a_customer_builds_the_first_query_by_clicking_and_downloads_the_csv(site, tmp_path):
    """The README's first query: type 2 diabetes (DE11), 2015-2018, by sex."""
    page = site.page_of("customer")
    assert page.get_by_role("heading", name="Cohort builder").is_visible()
    page.get_by_label("Concept").select_option("diagnosis")
    choose_code(page, "type 2 diabetes", "DE11")
    page.get_by_label("Period start").fill("2015-01-01")
    page.get_by_label("Period end").fill("2018-12-31")
    page.get_by_role("checkbox", name="Sex", exact=True).check()  # the breakdown
    price = page.locator("#price")
    price.wait_for()
    assert "DKK" in price.inner_text()
    shot(page, "builder")

    page.get_by_role("button", name="Run").click()
    table = wait_for_result_table(page)
    rows = [[cell.strip() for cell in row.split("\t")] for row in table.locator("tbody tr").all_inner_texts()]
    assert [row[0] for row in rows] == ["male", "female", "Total"]
    assert all(row[1] == "hidden" or row[1].replace(",", "").isdigit() for row in rows)
    plot = page.locator("figure.plot svg")
    assert plot.is_visible() and plot.get_attribute("role") == "img"
    assert page.get_by_role("heading", name="Disclosure report").is_visible()
    shot(page, "result")

    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download CSV").click()
    path = tmp_path / "result.csv"
    download_info.value.save_as(path)
    with path.open() as handle:
        downloaded = {r["sex"]: r for r in csv.DictReader(handle)}
    shown = {"Total" if r[0] == "Total" else r[0]: r[1] for r in rows}
    for sex, row in downloaded.items():
        label = "Total" if sex == "total" else sex
        expected = "hidden" if row["status"] != "released" else f"{int(row['value']):,}"
        assert shown[label] == expected  # the file holds what the page shows

    release_id = page.get_by_role("link", name="Download CSV").get_attribute("href").split("/")[2]
    page.get_by_role("link", name="History").click()
    assert page.get_by_role("link", name=release_id).is_visible()  # the run, with its release
    shot(page, "history")


def test_a_validation_error_is_shown_at_its_field(site):
    page = site.page_of("customer")
    choose_code(page, "DE11", "DE11")
    page.get_by_label("Period start").fill("2019-01-01")
    page.get_by_label("Period end").fill("2018-12-31")
    start_error = page.locator("#error-start")
    start_error.wait_for(state="visible")
    assert "starts after it ends" in start_error.inner_text()
    # the message is the one the start field is described by (read out with it)
    described_by = page.get_by_label("Period start").get_attribute("aria-describedby")
    assert described_by == "error-start"
    assert page.locator("#error-end").inner_text() == ""
    assert page.locator("#price").count() == 0
    shot(page, "validation-error")

    page.get_by_label("Period start").fill("2015-01-01")
    page.locator("#price").wait_for()
    assert page.locator("#error-start").inner_text() == ""  # corrected: the message goes


def test_a_customer_adds_nested_criteria_and_another_result_kind_by_clicking(site):
    """Criteria, their concepts' options and the result kind's options are drawn as they are chosen;
    the price follows the form."""
    page = site.page_of("customer")
    choose_code(page, "DE11", "DE11")
    page.get_by_label("Period start").fill("2015-01-01")
    page.get_by_label("Period end").fill("2018-12-31")
    page.locator("#price").wait_for()
    first_price = page.locator("#price").inner_text()

    page.get_by_role("button", name="Add to Criteria").click()
    page.get_by_label("Criterion 1: type").select_option("any")
    page.get_by_role("button", name="Add to Criteria").last.wait_for()
    page.locator("#f-criteria-0 button", has_text="Add").click()
    page.get_by_label("Criterion 1.1: type").wait_for()
    assert page.get_by_label("Criterion 1: type").input_value() == "any"  # kept while drawn again
    page.locator("#f-criteria-0-criteria-0-concept-type").select_option("prescription")
    page.locator("#f-criteria-0-criteria-0-concept-atc").wait_for()
    page.locator("#f-criteria-0-criteria-0-concept-atc").fill("A10A")
    page.locator("#f-criteria-0-criteria-0-window-start").fill("-365")
    page.locator("#f-criteria-0-criteria-0-window-end").fill("-1")
    page.locator("#f-criteria-0-criteria-0-window-end").press("Tab")  # keyboard only: change fires
    page.locator("#f-result-kind").select_option("attrition")
    page.wait_for_function(
        "first => document.querySelector('#price') && document.querySelector('#price').innerText !== first",
        arg=first_price,
    )
    assert "DKK" in page.locator("#price").inner_text()
    shot(page, "builder-criteria")

    page.get_by_role("button", name="Run").click()
    table = wait_for_result_table(page)
    assert "Step" in table.locator("thead").inner_text() or table.locator("tbody tr").count() >= 2


def test_a_customer_plots_incidence_and_prevalence_and_downloads_the_plot(site, tmp_path):
    """Another result kind chosen by clicking: the plot is its own (yearly lines), on the page and as
    the PNG download."""
    page = site.page_of("customer")
    choose_code(page, "DE11", "DE11")
    page.get_by_label("Period start").fill("2015-01-01")
    page.get_by_label("Period end").fill("2018-12-31")
    page.locator("#f-result-kind").select_option("incidence_prevalence")
    by_sex = page.locator('#f-result-breakdowns input[value="sex"]')
    by_sex.wait_for()
    # sex is offered before and after the form swaps in this kind's breakdowns: wait for the swap
    from playwright.sync_api import expect

    expect(page.locator('#f-result-breakdowns input[value="age_band"]')).to_have_count(0)  # not for this kind
    by_sex.check()
    page.locator("#price").wait_for()
    page.get_by_role("button", name="Run").click()
    plot = page.locator("figure.plot svg")
    plot.wait_for()
    assert "incidence and prevalence by year" in plot.get_attribute("aria-label").lower()
    shot(page, "result-incidence")
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Download plot (PNG)").click()
    path = tmp_path / "plot.png"
    download_info.value.save_as(path)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize("path", ["/staff", "/audit"])
def test_a_customer_cannot_open_staff_or_auditor_pages(site, path):
    page = site.page_of("customer")
    navigation = page.get_by_role("navigation", name="Pages")
    assert navigation.get_by_role("link", name="Orders").count() == 0
    assert navigation.get_by_role("link", name="Audit log").count() == 0
    answer = page.goto(f"{site.base}{path}")
    assert answer.status == 403
    assert page.get_by_role("heading", name="Not for your role").is_visible()
    if path == "/staff":
        shot(page, "forbidden")


def test_staff_and_auditor_pages_open_for_their_roles(site):
    staff = site.page_of("staff")
    answer = staff.goto(f"{site.base}/staff")
    assert answer.status == 200 and staff.get_by_role("heading", name="Orders").is_visible()
    auditor = site.page_of("auditor")
    assert auditor.get_by_role("heading", name="Audit log").is_visible()  # the auditor's first page
    assert auditor.get_by_role("button", name="Verify the chain").is_visible()
