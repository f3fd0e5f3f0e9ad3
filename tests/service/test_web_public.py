"""The public statistics pages over HTTP, without a key: the list, each statistic's tables and plot
from the stored released values with the noise in words, and the same caching and rate limit as
/v1/public/statistics."""

from __future__ import annotations

import copy
import re

import pytest

from statservice import public_statistics
from statservice.api.middleware import PUBLIC_STATISTICS_CONTROL
from statservice.web import results, trend_plot
from tests.service.conftest import build_api, make_settings
from tests.service.test_public_statistics import BY_AGE_BAND, BY_SEX, chosen
from tests.service.test_web_pages import sign_in


@pytest.fixture
def published(data_api):
    outcomes = public_statistics.build(data_api.service, chosen(data_api.service, BY_SEX, BY_AGE_BAND))
    assert [outcome.status for outcome in outcomes] == ["released", "released"]
    return data_api


def _table_rows(html: str) -> list[list[str]]:
    body = re.search(r'<table class="result-table">.*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    return [
        re.findall(r"<td[^>]*>(.*?)</td>", row, re.S) for row in re.findall(r"<tr>(.*?)</tr>", body, re.S)
    ]


def test_the_list_page_before_anything_is_published(data_api):
    page = data_api.client.get("/public")
    assert page.status_code == 200 and "No statistics are published" in page.text
    assert page.headers["cache-control"] == PUBLIC_STATISTICS_CONTROL
    assert "set-cookie" not in page.headers  # the same page for everyone


def test_a_statistic_page_shows_the_stored_released_values_a_plot_and_the_noise_in_words(published):
    api = published
    listed = api.client.get("/public")
    assert f'href="/public/{BY_SEX}"' in listed.text and f'href="/public/{BY_AGE_BAND}"' in listed.text

    page = api.client.get(f"/public/{BY_SEX}")
    assert page.status_code == 200
    statistic = api.client.get(f"/v1/public/statistics/{BY_SEX}").json()
    shown = results.shown_tables({"tables": statistic["tables"]})[0]
    assert _table_rows(page.text) == shown.rows  # the API's stored tables, cell for cell
    assert any(results.HIDDEN in row for row in shown.rows)  # hidden cells say so
    assert re.search(r'<svg role="img" aria-label="Line chart of [^"]+"', page.text)
    words = re.search(r'<ul id="noise-in-words">(.*?)</ul>', page.text, re.S).group(1)
    scale = statistic["report"]["noise"]["scales"][0]
    assert f"random noise of typically about {scale:,.0f} persons" in words
    assert statistic["report"]["data_version"] in words
    cohort_page = api.client.get(f"/public/{BY_AGE_BAND}")
    assert cohort_page.status_code == 200 and "<svg" in cohort_page.text


def test_the_pages_are_cached_and_revalidated_by_their_own_entity_tag(published):
    api = published
    for path in ("/public", f"/public/{BY_SEX}"):
        page = api.client.get(path)
        assert page.headers["cache-control"] == PUBLIC_STATISTICS_CONTROL
        etag = page.headers["etag"]
        again = api.client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
        assert again.headers["cache-control"] == PUBLIC_STATISTICS_CONTROL
    api_etag = api.client.get(f"/v1/public/statistics/{BY_SEX}").headers["etag"]
    with_api_tag = api.client.get(f"/public/{BY_SEX}", headers={"If-None-Match": api_etag})
    assert with_api_tag.status_code == 200  # the JSON's tag is not the page's


def test_a_signed_in_visitor_gets_the_same_page_without_session_or_token(published):
    api = published
    anonymous = api.client.get(f"/public/{BY_SEX}")
    sign_in(api, api.customer)
    signed_in = api.client.get(f"/public/{BY_SEX}")
    assert signed_in.text == anonymous.text and signed_in.headers["etag"] == anonymous.headers["etag"]
    assert "csrf_token" not in signed_in.text and "Sign out" not in signed_in.text


def test_an_unknown_statistic_is_a_404_page(published):
    answer = published.client.get("/public/no-such-statistic")
    assert answer.status_code == 404 and answer.headers["content-type"].startswith("text/html")
    assert "No such statistic" in answer.text and answer.headers["cache-control"] == "no-store"


def test_without_registers_the_page_says_so_with_a_503(api):
    answer = api.client.get("/public")
    assert answer.status_code == 503 and answer.headers["content-type"].startswith("text/html")


def test_the_pages_share_the_rate_limit_per_client_address(database_url, service_registers):
    settings = make_settings(
        database_url, service_registers, public_rate_limit_per_second=0.01, public_rate_limit_burst=2
    )
    api = build_api(settings)
    try:
        assert api.client.get("/public").status_code == 200
        assert api.client.get("/v1/public/statistics").status_code == 200
        limited = api.client.get("/public")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    finally:
        api.client.__exit__(None, None, None)


def test_the_plot_is_drawn_from_released_values_only(published):
    statistic = published.client.get(f"/v1/public/statistics/{BY_SEX}").json()
    table = statistic["tables"][0]
    svg = trend_plot.trend_svg(table)
    assert svg is not None
    # whatever a hidden cell held, the plot is the same: it never reads the value of a hidden cell
    tampered = copy.deepcopy(table)
    hidden = [cell for cell in tampered["cells"] if cell["status"] != "released"]
    if not hidden:  # the keyed noise left every cell of this statistic released: hide one as a release may
        hidden = [next(c for c in tampered["cells"] if None not in c["coordinates"])]
        hidden[0]["status"] = "suppressed"
    before = trend_plot.trend_svg(tampered)
    for cell in hidden:
        cell["value"] = 123_456
    assert trend_plot.trend_svg(tampered) == before
    released = next(
        c for c in tampered["cells"] if c["status"] == "released" and None not in c["coordinates"]
    )
    released["value"] += 1_000
    assert trend_plot.trend_svg(tampered) != before  # while a released value is drawn
