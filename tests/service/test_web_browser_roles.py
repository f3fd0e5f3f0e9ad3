"""Browser scenarios of the staff, auditor and public pages (headless Chromium from the distribution,
the real app under uvicorn; the fixtures are test_web_browser's)."""

from __future__ import annotations

import httpx
import pytest

from tests.service.helpers import cohort
from tests.service.test_web_browser import browser, shot, site  # noqa: F401 (fixtures)

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
