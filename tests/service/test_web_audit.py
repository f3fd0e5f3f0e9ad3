"""The auditor's pages over HTTP (the real app, real database, real releases): the log with its
filters, each release's auditor report, chain verification (intact, then tampered), the export, and
the /v1 functions the pages call (the alerts filter, one record)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import update

from disclosure.report import SuppressionReason
from statservice import audit
from statservice.db.models import AuditRecord
from statservice.web import audit_report
from tests.service.helpers import cohort
from tests.service.test_audit_chain import as_intruder
from tests.service.test_web_pages import sign_in

# Many small cells: five-year age bands by sex by region of one year's new diabetes cases
SPARSE = cohort(
    title="sparse",
    index={
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2018-01-01", "end": "2018-12-31"},
    },
    result={"kind": "cohort_count", "breakdowns": [{"by": "age_band", "width": 5}, {"by": "sex"}]},
)


def _rows(html: str) -> list[list[str]]:
    body = re.search(r'<table id="audit-records">.*?<tbody>(.*?)</tbody>', html, re.S)
    if body is None:
        return []
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body.group(1), re.S)
    ]


def _alert(api, organisation_id: str) -> None:
    with api.service.db.write() as session:
        audit.append(
            session,
            actor="statservice",
            organisation_id=organisation_id,
            action="alert.repeated_query",
            query_hash=None,
            payload={"releases_of_this_query": 3, "threshold": 3},
        )


def test_every_suppression_reason_has_its_words():
    assert set(audit_report.REASON_IN_WORDS) == set(audit_report.SUPPRESSION_REASONS)
    assert SuppressionReason.__args__ == audit_report.SUPPRESSION_REASONS


def test_the_log_filters_by_organisation_action_period_and_alerts(api):
    sign_in(api, api.auditor)
    _alert(api, api.customer.organisation_id)
    everything = _rows(api.client.get("/audit").text)
    actions = {row[2] for row in everything}
    assert {"organisation.create", "key.create", "alert.repeated_query"} <= actions

    customer_org = api.client.get("/audit", params={"organisation_id": api.customer.organisation_id}).text
    assert {row[3] for row in _rows(customer_org)} == {"Customer A"}  # its name, as seed_actors made it

    keys = _rows(api.client.get("/audit", params={"action": "key.create"}).text)
    assert keys and {row[2] for row in keys} == {"key.create"}

    alerts = _rows(api.client.get("/audit", params={"alerts": "1"}).text)
    assert [row[2] for row in alerts] == ["alert.repeated_query"]
    api_alerts = api.get("/v1/audit/records", api.auditor, params={"alerts": "true"}).json()
    assert [record["action"] for record in api_alerts["items"]] == ["alert.repeated_query"]

    today = everything[0][1][:10]
    assert _rows(api.client.get("/audit", params={"start": today, "end": today}).text) == everything
    assert _rows(api.client.get("/audit", params={"end": "2000-01-01"}).text) == []
    later = api.client.get("/audit", params={"start": "2999-01-01"})
    assert later.status_code == 200 and "No records match" in later.text


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"start": "yesterday"}, "start", "is not a date"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "end", "ends before it starts"),
    ],
)
def test_a_bad_period_is_shown_at_its_field(api, params, field, message):
    sign_in(api, api.auditor)
    answer = api.client.get("/audit", params=params)
    assert answer.status_code == 422
    shown = re.search(rf'<p id="error-{field}"[^>]*>(.*?)</p>', answer.text, re.S).group(1)
    assert message in shown
    assert 'id="audit-records"' not in answer.text


def test_verification_says_verified_then_finds_a_tampered_record(api):
    token = sign_in(api, api.auditor)
    page = api.client.get("/audit")
    assert "Chain verified" not in page.text  # the whole log is read on the button only
    refused = api.client.post("/audit/verify", data={})
    assert refused.status_code == 403 and "security token" in refused.text

    verified = api.client.post("/audit/verify", data={"csrf_token": token})
    assert verified.status_code == 200 and "Chain verified" in verified.text
    fragment = api.client.post("/audit/verify", headers={"X-CSRF-Token": token, "HX-Request": "true"})
    assert fragment.text.lstrip().startswith('<p class="ok"')  # no page around it

    as_intruder(api.service)  # someone who can drop the log's append-only triggers
    with api.service.db.write() as session:
        session.execute(update(AuditRecord).where(AuditRecord.sequence == 2).values(actor="someone else"))
    failed = api.client.post("/audit/verify", data={"csrf_token": token})
    assert "Chain verification FAILED" in failed.text and "#2:" in failed.text


def test_a_release_has_an_auditor_report_saying_what_was_hidden_and_why(data_api):
    api = data_api
    released = api.post("/v1/queries/runs", api.customer, json=SPARSE)
    assert released.status_code == 201, released.text
    release = released.json()
    hidden = sum(1 for cell in release["tables"][0]["cells"] if cell["status"] == "suppressed")
    assert hidden > 0  # the question is sparse enough to hide cells

    sign_in(api, api.auditor)
    rows = _rows(api.client.get("/audit", params={"action": "release"}).text)
    assert len(rows) == 1 and rows[0][5] == "Auditor report"
    sequence = rows[0][0]
    page = api.client.get(f"/audit/records/{sequence}")
    assert page.status_code == 200
    assert f"Auditor report of release {release['id']}" in page.text
    record = api.get(f"/v1/audit/records/{sequence}", api.auditor).json()
    table_report = record["payload"]["report"]["tables"][0]
    assert f"{table_report['suppressed']} of {table_report['cells']} cells hidden" in page.text
    assert f"{table_report['primary']} {audit_report.REASON_IN_WORDS['primary']}" in page.text
    cells = re.search(r'<table id="hidden-cells">.*?<tbody>(.*?)</tbody>', page.text, re.S).group(1)
    assert cells.count("<tr>") == len(record["payload"]["report"]["audit"]["cells"]) == hidden
    assert "Interval audit passed" in page.text


def test_a_refused_run_shows_why(api):
    with api.service.db.write() as session:
        entry = audit.append(
            session,
            actor="key:x (customer, org:y)",
            organisation_id=api.customer.organisation_id,
            action="release.refused",
            query_hash=None,
            payload={
                "run_id": "run_1",
                "detail": "the table would be hidden whole",
                "reason": "total_hidden",
            },
        )
        sequence = entry.sequence
    sign_in(api, api.auditor)
    page = api.client.get(f"/audit/records/{sequence}")
    assert "The run was refused: the table would be hidden whole" in page.text
    assert "The rule that decided it: total_hidden." in page.text
    assert api.client.get("/audit/records/999999").status_code == 404
    assert api.get("/v1/audit/records/999999", api.auditor).status_code == 404


def test_the_export_is_the_whole_log_as_json_lines(api):
    sign_in(api, api.auditor)
    answer = api.client.get("/audit/export.jsonl")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in answer.text.splitlines()]
    assert [line["sequence"] for line in lines] == list(range(1, len(lines) + 1))
    assert lines == [
        r for r in api.get("/v1/audit/records", api.auditor, params={"limit": 500}).json()["items"]
    ]


@pytest.mark.parametrize("path", ["/audit/records/1", "/audit/export.jsonl"])
def test_a_customer_cannot_open_an_auditor_page(api, path):
    sign_in(api, api.customer)
    answer = api.client.get(path)
    assert answer.status_code == 403 and "Not for your role" in answer.text
