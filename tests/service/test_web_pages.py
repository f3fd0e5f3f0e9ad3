"""The web pages over HTTP (the real app, real database): session cookie, CSRF, role checks, live
validation, and a result page built from the release. The browser scenarios are in
test_web_browser.py."""

from __future__ import annotations

import csv
import io
import re
import time

import pytest

from statservice.web import forms
from statservice.web import session as web_session
from tests.service.conftest import Actor, Api

FIRST_QUERY_FORM = {
    "concept_type": "diagnosis",
    "codes": ["DE11"],
    "start": "2015-01-01",
    "end": "2018-12-31",
    "occurrence": "first",
    "result.kind": "cohort_count",
    "result.breakdowns": ["sex"],
}


def _csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF token"
    return found.group(1)


def sign_in(api: Api, actor: Actor) -> str:
    """Sign ``actor`` in through the sign-in form; the CSRF token of the session's pages."""
    form = api.client.get("/sign-in")
    answer = api.client.post(
        "/sign-in", data={"api_key": actor.key, "csrf_token": _csrf_of(form.text)}, follow_redirects=False
    )
    assert answer.status_code == 303, answer.text
    return _csrf_of(api.client.get("/history" if actor.role != "auditor" else "/audit").text)


def htmx(token: str) -> dict[str, str]:
    return {"X-CSRF-Token": token, "HX-Request": "true"}


def test_pages_need_a_session_and_the_cookie_is_httponly_strict_and_names_no_key(api):
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/sign-in"
    form = api.client.get("/sign-in")
    answer = api.client.post(
        "/sign-in",
        data={"api_key": api.customer.key, "csrf_token": _csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/"
    cookie = next(c for c in answer.headers.get_list("set-cookie") if c.startswith("statservice_session="))
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie
    assert api.customer.key not in cookie  # the key's id, never the key
    assert api.client.get("/").status_code == 200


def test_a_wrong_key_is_refused_with_the_form_again(api):
    form = api.client.get("/sign-in")
    answer = api.client.post("/sign-in", data={"api_key": "sk_wrong", "csrf_token": _csrf_of(form.text)})
    assert answer.status_code == 401 and "not valid or has been revoked" in answer.text
    assert api.client.get("/", follow_redirects=False).status_code == 303


@pytest.mark.parametrize("token", [None, "forged-token"])
def test_a_form_without_the_right_csrf_token_is_refused_with_a_403_page(api, token):
    api.client.get("/sign-in")  # the browser holds a nonce cookie
    data = {"api_key": api.customer.key, **({"csrf_token": token} if token else {})}
    answer = api.client.post("/sign-in", data=data, follow_redirects=False)
    assert answer.status_code == 403
    assert answer.headers["content-type"].startswith("text/html") and "security token" in answer.text
    assert api.client.get("/", follow_redirects=False).status_code == 303  # not signed in


def test_a_signed_in_request_without_the_token_is_refused(api):
    sign_in(api, api.customer)
    answer = api.client.post("/builder/check", data=FIRST_QUERY_FORM)
    assert answer.status_code == 403 and "security token" in answer.text
    answer = api.client.post("/sign-out", data={}, follow_redirects=False)
    assert answer.status_code == 403
    assert api.client.get("/", follow_redirects=False).status_code == 200  # still signed in


def test_a_forged_or_expired_session_cookie_is_not_a_session(api):
    service = api.service
    signed = web_session.WebSession(key_id=api.staff.key_id, nonce="n", issued_at=1_000_000_000)
    assert web_session.decode_session(service, web_session.encode_session(service, signed)) is None  # expired
    fresh = web_session.WebSession(key_id=api.customer.key_id, nonce="n", issued_at=2_000_000_000)
    cookie = web_session.encode_session(service, fresh)
    assert web_session.decode_session(service, cookie, now=2_000_000_001) == fresh
    _body, mac = cookie.split(".")
    other = web_session.encode_session(service, web_session.WebSession(api.staff.key_id, "n", 2_000_000_000))
    assert web_session.decode_session(service, f"{other.split('.')[0]}.{mac}", now=2_000_000_001) is None


def test_a_revoked_key_ends_its_sessions(api):
    from statservice import accounts

    sign_in(api, api.customer)
    assert api.client.get("/", follow_redirects=False).status_code == 200
    with api.service.db.write() as session:
        accounts.revoke_key(session, api.customer.key_id)
    assert api.client.get("/", follow_redirects=False).status_code == 303


def test_sign_out_ends_the_session(api):
    token = sign_in(api, api.customer)
    answer = api.client.post("/sign-out", data={"csrf_token": token}, follow_redirects=False)
    assert answer.status_code == 303
    assert api.client.get("/", follow_redirects=False).headers["location"] == "/sign-in"


@pytest.mark.parametrize("path", ["/staff", "/audit"])
def test_a_customer_cannot_open_staff_or_auditor_pages(api, path):
    sign_in(api, api.customer)
    answer = api.client.get(path)
    assert answer.status_code == 403 and "Not for your role" in answer.text
    assert "<table" not in answer.text  # nothing of the page itself


def test_staff_and_auditors_open_their_own_pages(api):
    sign_in(api, api.staff)
    assert api.client.get("/staff").status_code == 200
    assert api.client.get("/audit").status_code == 403
    api.client.cookies.clear()
    sign_in(api, api.auditor)
    verified = api.client.get("/audit")
    assert verified.status_code == 200 and 'id="audit-records"' in verified.text
    assert api.client.get("/").status_code == 403  # an auditor does not buy


def _options(html: str, name: str) -> set[str]:
    select = re.search(rf'<select [^>]*name="{re.escape(name)}"[^>]*>(.*?)</select>', html, re.S)
    assert select, f"no select {name}"
    return set(re.findall(r'<option value="([^"]*)"', select.group(1))) - {""}


def _boxes(html: str, name: str) -> set[str]:
    return set(re.findall(rf'type="checkbox" name="{re.escape(name)}" value="([^"]*)"', html))


def test_the_builder_offers_every_result_kind_and_concept_type_the_registry_has(api):
    """The form's choices come from the query model; the registry lists the same kinds and types."""
    from queries import model as m
    from queries.registry import CONCEPTS, RESULT_KINDS

    token = sign_in(api, api.customer)
    page = api.client.get("/").text
    assert _options(page, "result.kind") == set(RESULT_KINDS)
    assert (
        _options(page, "concept_type")
        == {t for t, kind in CONCEPTS.items() if kind.is_event} | m.REFERENCE_TYPES
    )
    assert _boxes(page, "result.breakdowns") == {
        b.model_fields["by"].default for b in m.union_members(m.Breakdown)
    }
    assert _options(page, "disclosure.noise") == {"none", "gaussian"}
    assert _boxes(page, "population.regions") == {str(code) for code in m.REGION_NAMES}
    with_criterion = api.client.post(
        "/builder/edit", data={**FIRST_QUERY_FORM, "edit": "add:criteria"}, headers=htmx(token)
    ).text
    assert _options(with_criterion, "criteria.0.type") == {"include", "exclude", "all", "any", "not"}
    assert _options(with_criterion, "criteria.0.concept.type") == set(CONCEPTS) | m.REFERENCE_TYPES
    for kind in RESULT_KINDS:  # each kind's own options are drawn when it is chosen
        drawn = api.client.post(
            "/builder/edit", data={**FIRST_QUERY_FORM, "result.kind": kind}, headers=htmx(token)
        ).text
        fields = set(RESULT_KINDS[kind].model.model_fields) - {"kind"}
        assert all(f'name="result.{name}' in drawn or f'id="f-result-{name}"' in drawn for name in fields), (
            kind
        )


def test_every_builder_code_list_is_one_the_catalog_serves(data_api):
    known = {entry["name"] for entry in data_api.get("/v1/catalog/code-lists", data_api.customer).json()}
    assert {concept.code_list for concept in forms.coded_concepts().values()} <= known


def _error_at(html: str, slot: str) -> str:
    found = re.search(rf'<p id="error-{slot}"[^>]*>(.*?)</p>', html, re.S)
    assert found, f"no error slot {slot}"
    return found.group(1).strip()


def test_live_validation_shows_each_field_error_at_its_field_as_the_api_names_it(data_api):
    token = sign_in(data_api, data_api.customer)
    bad = {**FIRST_QUERY_FORM, "start": "2015-13-01"}
    page = data_api.client.post("/builder/check", data=bad, headers=htmx(token))
    assert page.status_code == 200
    api_answer = data_api.post(
        "/v1/queries/validate", data_api.customer, json=forms.BuilderForm.from_form(_multi(bad)).payload()
    )
    assert api_answer.status_code == 422
    assert [e["field"] for e in api_answer.json()["errors"]] == ["index.period.start"]
    assert api_answer.json()["errors"][0]["message"] in _error_at(page.text, "start")
    assert _error_at(page.text, "end") == "" and "DKK" not in page.text

    no_codes = data_api.client.post(
        "/builder/check", data={**FIRST_QUERY_FORM, "codes": []}, headers=htmx(token)
    )
    assert _error_at(no_codes.text, "codes") != ""


def test_live_check_shows_the_quoted_price(data_api):
    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/check", data=FIRST_QUERY_FORM, headers=htmx(token))
    payload = forms.BuilderForm.from_form(_multi(FIRST_QUERY_FORM)).payload()
    quote = data_api.post("/v1/queries/quote", data_api.customer, json=payload).json()
    amount = f"{float(quote['price']['amount']):,.2f}"
    assert f"{amount} DKK" in page.text
    assert all(_error_at(page.text, slot) == "" for slot in forms.FIELD_SLOTS)


def test_code_search_answers_from_the_catalog(data_api):
    sign_in(data_api, data_api.customer)
    page = data_api.client.get("/builder/codes", params={"concept_type": "diagnosis", "q": "DE11"})
    assert page.status_code == 200 and 'data-code="DE11"' in page.text
    atc = data_api.client.get("/builder/codes", params={"concept_type": "prescription", "q": "Ozempic"})
    assert 'data-code="A10BJ06"' in atc.text


def test_a_run_shows_the_released_table_plot_report_and_csv(data_api):
    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/run", data=FIRST_QUERY_FORM, headers=htmx(token))
    assert page.status_code == 200
    release_id = re.search(r"/releases/(rel_\w+)/download\.csv", page.text).group(1)
    release = data_api.get(f"/v1/releases/{release_id}", data_api.customer).json()
    for cell in release["tables"][0]["cells"]:
        shown = "hidden" if cell["status"] != "released" else f"{cell['value']:,}"
        label = cell["coordinates"][0] or "Total"
        assert re.search(rf"<td>{label}</td><td class=\"number\">{shown}</td>", page.text), (label, shown)
    assert '<svg role="img"' in page.text and "Disclosure report" in page.text
    assert "cells are released" in page.text or "are hidden" in page.text
    downloaded = data_api.client.get(f"/releases/{release_id}/download.csv")
    rows = list(csv.DictReader(io.StringIO(downloaded.text)))
    assert {r["sex"] for r in rows} == {"male", "female", "total"}
    assert (
        downloaded.text
        == data_api.get(f"/v1/releases/{release_id}/result?format=csv", data_api.customer).text
    )
    history = data_api.client.get("/history")
    assert release_id in history.text
    other = data_api.client.get(f"/releases/{release_id}")
    assert other.status_code == 200


def test_another_organisations_release_is_not_found_on_the_pages(data_api):
    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/run", data=FIRST_QUERY_FORM, headers=htmx(token))
    release_id = re.search(r"/releases/(rel_\w+)/download\.csv", page.text).group(1)
    data_api.client.cookies.clear()
    sign_in(data_api, data_api.foreign)
    assert data_api.client.get(f"/releases/{release_id}").status_code == 404
    assert data_api.client.get(f"/releases/{release_id}/download.csv").status_code == 404


def test_static_assets_are_served_from_the_package(api):
    htmx_js = api.client.get("/static/htmx.min.js")
    assert htmx_js.status_code == 200 and "htmx" in htmx_js.text[:200]
    page = api.client.get("/sign-in").text
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing from outside


class _multi(dict):
    """A form as Starlette hands it: ``getlist`` for repeated fields."""

    def getlist(self, name):
        value = self.get(name, [])
        return value if isinstance(value, list) else [value]


def test_a_run_that_is_not_finished_at_once_shows_its_progress_then_the_result(sqlite_url, service_registers):
    from tests.service.conftest import build_api, make_settings

    api = build_api(make_settings(sqlite_url, service_registers, sync_wait_seconds=0))
    try:
        token = sign_in(api, api.customer)
        page = api.client.post("/builder/run", data=FIRST_QUERY_FORM, headers=htmx(token))
        assert page.status_code == 200
        run_id = re.search(r'hx-get="/runs/(run_\w+)"', page.text).group(1)  # polls its run
        assert "Queued" in page.text or "Running" in page.text
        for _ in range(600):
            page = api.client.get(f"/runs/{run_id}", headers=htmx(token))
            if "download.csv" in page.text:
                break
            assert 'hx-trigger="load delay:1s"' in page.text  # still polling
            time.sleep(0.1)
        assert "Disclosure report" in page.text and "<table" in page.text
        assert api.client.get("/runs/run_doesnotexist").status_code == 404
    finally:
        api.client.__exit__(None, None, None)


def test_a_nul_character_in_a_form_is_refused_as_invalid_not_a_server_error(data_api):
    token = sign_in(data_api, data_api.customer)
    answer = data_api.client.post(
        "/builder/run", data={**FIRST_QUERY_FORM, "title": "a\x00b"}, headers=htmx(token)
    )
    assert answer.status_code == 422
    assert "title" in answer.text


# The whole query language from the form: population, nested criteria with windows, a result kind
# with its options, disclosure options. Field names are the query's JSON paths.
WHOLE_QUERY_FORM = {
    **FIRST_QUERY_FORM,
    "concept_type": "diagnosis",
    "_checkboxes": ["index.concept.primary_only", "population.alive_and_resident_at_index"],
    "index.concept.primary_only": "true",
    "population.alive_and_resident_at_index": "true",
    "population.age.min": "40",
    "population.age.max": "79",
    "population.sex": "female",
    "population.regions": ["1084", "1085"],
    "criteria.0.type": "exclude",
    "criteria.0.concept.type": "prescription",
    "criteria.0.concept.atc": "A10A, A10BA",
    "criteria.0.window.start": "-365",
    "criteria.0.window.end": "-1",
    "criteria.1.type": "any",
    "criteria.1.name": "hypertension or old",
    "criteria.1.criteria.0.type": "include",
    "criteria.1.criteria.0.concept.type": "diagnosis",
    "criteria.1.criteria.0.concept.codes": "DI10",
    "criteria.1.criteria.0.window.start": "-3650",
    "criteria.1.criteria.0.window.end": "0",
    "criteria.1.criteria.1.type": "not",
    "criteria.1.criteria.1.criterion.type": "include",
    "criteria.1.criteria.1.criterion.concept.type": "age",
    "criteria.1.criteria.1.criterion.concept.max": "49",
    "result.kind": "treatment_uptake",
    "result.drugs.0.name": "GLP-1",
    "result.drugs.0.atc": "A10BJ",
    "result.days": "30, 365",
    "result.washout_days": "365",
    "disclosure.noise": "none",
    "disclosure.rounding": "5",
}
WHOLE_QUERY = {
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"], "primary_only": True},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
        "occurrence": "first",
    },
    "population": {"age": {"min": 40, "max": 79}, "sex": "female", "regions": [1084, 1085]},
    "criteria": [
        {
            "type": "exclude",
            "concept": {"type": "prescription", "atc": ["A10A", "A10BA"]},
            "window": {"start": -365, "end": -1},
        },
        {
            "type": "any",
            "name": "hypertension or old",
            "criteria": [
                {
                    "type": "include",
                    "concept": {"type": "diagnosis", "codes": ["DI10"]},
                    "window": {"start": -3650, "end": 0},
                },
                {"type": "not", "criterion": {"type": "include", "concept": {"type": "age", "max": 49}}},
            ],
        },
    ],
    "result": {
        "kind": "treatment_uptake",
        "drugs": [{"name": "GLP-1", "atc": ["A10BJ"]}],
        "days": [30, 365],
        "washout_days": 365,
    },
    "disclosure": {"rounding": 5},
}


def test_the_form_builds_the_whole_query_language_as_json(api):
    from queries import model as m

    payload = forms.BuilderForm.from_form(_multi(WHOLE_QUERY_FORM)).payload()
    assert payload == WHOLE_QUERY
    assert m.Query.model_validate(payload)  # a valid query as written
    # and back: the form drawn from that query carries every value it was read from
    sign_in(api, api.customer)
    token = sign_in(api, api.customer)
    drawn = api.client.post("/builder/edit", data=WHOLE_QUERY_FORM, headers=htmx(token)).text
    assert 'name="criteria.1.criteria.0.concept.codes" type="text" value="DI10"' in drawn
    assert re.search(
        r'name="criteria.1.criteria.1.criterion.concept.type".*?<option value="age" selected', drawn, re.S
    )
    assert 'name="result.days" type="text" value="30, 365"' in drawn


def test_the_live_check_of_the_whole_query_shows_the_apis_quote(data_api):
    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/check", data=WHOLE_QUERY_FORM, headers=htmx(token))
    quote = data_api.post("/v1/queries/quote", data_api.customer, json=WHOLE_QUERY)
    assert quote.status_code == 200, quote.text
    assert f"{float(quote.json()['price']['amount']):,.2f} DKK" in page.text
    assert "field-error" in page.text and not re.search(r'class="field-error"[^>]*>[^<]+</p>', page.text)


def test_adding_and_removing_a_nested_criterion_redraws_the_form(api):
    token = sign_in(api, api.customer)
    form = {**FIRST_QUERY_FORM, "criteria.0.type": "all"}
    added = api.client.post(
        "/builder/edit", data={**form, "edit": "add:criteria.0.criteria"}, headers=htmx(token)
    )
    assert added.headers["HX-Trigger"] == "form-changed"  # the quote follows
    assert 'name="criteria.0.criteria.0.type"' in added.text
    assert 'data-edit="remove:criteria.0.criteria.0"' in added.text
    kept = {**form, "criteria.0.criteria.0.type": "include", "criteria.0.criteria.1.type": "exclude"}
    removed = api.client.post(
        "/builder/edit", data={**kept, "edit": "remove:criteria.0.criteria.0"}, headers=htmx(token)
    ).text
    # the exclude moved up to the first place; nothing is left at the second
    assert re.search(r'name="criteria.0.criteria.0.type".*?<option value="exclude" selected', removed, re.S)
    assert 'name="criteria.0.criteria.1.type"' not in removed


def test_a_nested_criterion_error_is_shown_at_its_field(data_api):
    token = sign_in(data_api, data_api.customer)
    bad = {
        **WHOLE_QUERY_FORM,
        "criteria.1.criteria.0.concept.codes": "E11",
        "criteria.0.window.start": "soon",
    }
    page = data_api.client.post("/builder/check", data=bad, headers=htmx(token)).text
    payload = forms.BuilderForm.from_form(_multi(bad)).payload()
    answer = data_api.post("/v1/queries/validate", data_api.customer, json=payload)
    assert answer.status_code == 422
    fields = {e["field"] for e in answer.json()["errors"]}
    assert "criteria.0.window.start" in fields
    assert _error_at(page, "criteria-0-window-start") != ""
    assert "DKK" not in page
    only_codes = {**WHOLE_QUERY_FORM, "criteria.1.criteria.0.concept.codes": "E11"}
    page = data_api.client.post("/builder/check", data=only_codes, headers=htmx(token)).text
    assert "E11" in _error_at(page, "criteria-1-criteria-0-concept-codes")
    assert _error_at(page, "criteria-0-window-start") == ""


def test_each_download_of_a_release_is_the_apis_and_the_plot_is_the_pages(data_api):
    from statservice import exports

    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/run", data=FIRST_QUERY_FORM, headers=htmx(token)).text
    release_id = re.search(r"/releases/(rel_\w+)/download\.csv", page).group(1)
    for data_format, media_type in exports.FORMATS.items():
        assert f'href="/releases/{release_id}/download.{data_format}"' in page
        downloaded = data_api.client.get(f"/releases/{release_id}/download.{data_format}")
        assert downloaded.status_code == 200 and downloaded.headers["content-type"].startswith(media_type)
        api = data_api.get(f"/v1/releases/{release_id}/result?format={data_format}", data_api.customer)
        if data_format == "xlsx":  # a zip whose entries carry the time of writing: compare the sheets
            import openpyxl

            def sheets(content: bytes) -> list:
                book = openpyxl.load_workbook(io.BytesIO(content))
                return [[list(row) for row in sheet.iter_rows(values_only=True)] for sheet in book]

            assert sheets(downloaded.content) == sheets(api.content)
        else:
            assert downloaded.content == api.content, data_format
    svg = data_api.client.get(f"/releases/{release_id}/plot.svg")
    assert svg.headers["content-type"].startswith("image/svg+xml")
    inline = re.search(r"<svg role=\"img\".*?</svg>", page, re.S).group(0)
    assert re.sub(r'role="img" aria-label="[^"]*" ', "", inline) == svg.text[svg.text.index("<svg") :].strip()
    png = data_api.client.get(f"/releases/{release_id}/plot.png")
    assert png.headers["content-type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert data_api.client.get(f"/releases/{release_id}/plot.png").content == png.content  # the same file
    assert data_api.client.get(f"/releases/{release_id}/download.exe").status_code == 404
    assert data_api.client.get(f"/releases/{release_id}/plot.gif").status_code == 404


def test_the_builder_asks_for_a_lookback_and_shows_its_error_there(data_api):
    form = {**FIRST_QUERY_FORM, "occurrence": "first_in_lookback", "lookback_days": "730"}
    payload = forms.BuilderForm.from_form(_multi(form)).payload()
    assert payload["index"]["lookback"] == {"days": 730}
    assert forms.BuilderForm.from_payload(payload).lookback_days == "730"  # a draft shows it again
    token = sign_in(data_api, data_api.customer)
    page = data_api.client.post("/builder/check", data=form, headers=htmx(token))
    assert "DKK" in page.text and _error_at(page.text, "lookback_days") == ""
    # first_in_lookback without its look-back: the error is shown at the look-back's field
    missing = data_api.client.post("/builder/check", data={**form, "lookback_days": ""}, headers=htmx(token))
    assert "look-back" in _error_at(missing.text, "lookback_days")
    # one reaching before the registers start, too
    early = {**form, "start": "2005-06-01", "lookback_days": "730"}
    reaching = data_api.client.post("/builder/check", data=early, headers=htmx(token))
    assert "before the registers start" in _error_at(reaching.text, "lookback_days")


def test_the_form_builds_a_time_to_event_query_with_its_outcome_concept():
    from queries import model as m

    form = {
        **FIRST_QUERY_FORM,
        "result.kind": "time_to_event",
        "result.outcome.type": "diagnosis",
        "result.outcome.codes": "DI21",
        "result.method": "kaplan_meier",
        "result.time_points": "30, 365",
        "result.outcome_before_index": "day_zero",
    }
    payload = forms.BuilderForm.from_form(_multi(form)).payload()
    assert payload["result"] == {
        "kind": "time_to_event",
        "outcome": {"type": "diagnosis", "codes": ["DI21"]},
        "method": "kaplan_meier",
        "time_points": [30, 365],
        "outcome_before_index": "day_zero",
        "breakdowns": [{"by": "sex"}],
    }
    assert m.Query.model_validate(payload).result.interval_days == 90
