"""The cohort builder draws composite concepts (``any_of``) from the query model, as the index event
and in criteria, and reads them back into the JSON the API takes (over HTTP, without a browser)."""

from __future__ import annotations

import re

from queries import model as m
from statservice.web import forms
from tests.service.test_web_pages import FIRST_QUERY_FORM, _multi, _options, htmx, sign_in

T2D_OR_A10 = {
    "type": "any_of",
    "concepts": [{"type": "diagnosis", "codes": ["DE11"]}, {"type": "prescription", "atc": ["A10"]}],
}
COMPOSITE_FORM = {
    **FIRST_QUERY_FORM,
    "concept_type": "any_of",
    "codes": [],
    "index.concept.concepts.0.type": "diagnosis",
    "index.concept.concepts.0.codes": "DE11",
    "index.concept.concepts.1.type": "prescription",
    "index.concept.concepts.1.atc": "A10",
    "criteria.0.type": "include",
    "criteria.0.concept.type": "any_of",
    "criteria.0.concept.concepts.0.type": "cancer",
    "criteria.0.concept.concepts.0.codes": "C",
    "criteria.0.concept.concepts.1.type": "prescription",
    "criteria.0.concept.concepts.1.atc": "A10BJ",
    "criteria.0.min_count": "2",
}
COMPOSITE_QUERY = {
    "index": {
        "concept": T2D_OR_A10,
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
        "occurrence": "first",
    },
    "criteria": [
        {
            "type": "include",
            "concept": {
                "type": "any_of",
                "concepts": [{"type": "cancer", "codes": ["C"]}, {"type": "prescription", "atc": ["A10BJ"]}],
            },
            "min_count": 2,
        }
    ],
    "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
}


def test_the_form_reads_composite_concepts_into_the_query_json():
    payload = forms.BuilderForm.from_form(_multi(COMPOSITE_FORM)).payload()
    assert payload == COMPOSITE_QUERY
    assert m.Query.model_validate(payload)
    # a saved draft of the query draws the same form again
    again = forms.BuilderForm.from_payload(COMPOSITE_QUERY)
    assert again.payload() == COMPOSITE_QUERY
    paths = {control.path for group in again.controls().values() for top in group for control in top.walk()}
    assert {"index.concept.concepts.1.atc", "criteria.0.concept.concepts.0.codes"} <= paths


def test_the_builder_renders_a_composite_index_and_criterion(api):
    token = sign_in(api, api.customer)
    page = api.client.get("/").text
    assert "any_of" in _options(page, "concept_type")
    drawn = api.client.post("/builder/edit", data=COMPOSITE_FORM, headers=htmx(token))
    assert drawn.status_code == 200
    html = drawn.text
    assert 'name="index.concept.concepts.0.codes" type="text" value="DE11"' in html
    assert re.search(
        r'name="index.concept.concepts.1.type".*?<option value="prescription" selected', html, re.S
    )
    assert 'name="criteria.0.concept.concepts.1.atc" type="text" value="A10BJ"' in html
    # a member can be any event concept, another any_of or a saved concept set, and nothing else
    assert _options(html, "index.concept.concepts.0.type") == m.EVENT_CONCEPT_TYPES | m.REFERENCE_TYPES


def test_a_member_is_added_to_and_removed_from_a_composite_index_concept(api):
    token = sign_in(api, api.customer)
    added = api.client.post(
        "/builder/edit", data={**COMPOSITE_FORM, "edit": "add:index.concept.concepts"}, headers=htmx(token)
    ).text
    assert 'name="index.concept.concepts.2.type"' in added
    removed = api.client.post(
        "/builder/edit",
        data={**COMPOSITE_FORM, "edit": "remove:index.concept.concepts.0"},
        headers=htmx(token),
    ).text
    assert re.search(
        r'name="index.concept.concepts.0.type".*?<option value="prescription" selected', removed, re.S
    )
    assert 'name="index.concept.concepts.1.type"' not in removed
