"""S4 over HTTP: a query whose calendar period is shorter than a month is a 422 problem that names
the field and what would be valid, before anything is priced or run."""

from __future__ import annotations

from decimal import Decimal

from tests.service.conftest import build_api, make_settings

PROBLEM = "application/problem+json"


def _query(start: str, end: str, result: dict) -> dict:
    return {
        "index": {
            "concept": {"type": "diagnosis", "codes": ["DE11"]},
            "period": {"start": start, "end": end},
        },
        "result": result,
    }


def test_a_too_short_period_is_a_422_naming_the_field(sqlite_url, service_registers):
    api = build_api(make_settings(sqlite_url, service_registers))
    try:
        short = api.post(
            "/v1/queries/validate",
            api.customer,
            json=_query("2016-03-01", "2016-03-14", {"kind": "cohort_count"}),
        )
        year_part = api.post(
            "/v1/queries/quote",
            api.customer,
            json=_query("2015-01-01", "2018-01-05", {"kind": "incidence_prevalence"}),
        )
        month = api.post(
            "/v1/queries/validate",
            api.customer,
            json=_query("2016-03-01", "2016-03-31", {"kind": "cohort_count"}),
        )
    finally:
        api.client.__exit__(None, None, None)
    for response, valid in [(short, "2016-03-31"), (year_part, "2018-01-31")]:
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["status"] == 422
        (error,) = body["errors"]
        assert error["field"] == "index.period.end"
        assert valid in error["valid"] and "month" in error["message"]
    assert month.status_code == 200, month.text


def test_a_lookback_before_the_registers_or_without_its_days_is_a_422_naming_the_field(
    sqlite_url, service_registers
):
    api = build_api(make_settings(sqlite_url, service_registers))
    incidence = {"kind": "incidence_prevalence"}
    try:
        early = _query("2006-01-01", "2008-12-31", incidence)
        early["index"] |= {"occurrence": "first_in_lookback", "lookback": {"days": 730}}
        reaching = api.post("/v1/queries/quote", api.customer, json=early)
        without = _query("2007-01-01", "2008-12-31", incidence)
        without["index"]["occurrence"] = "first_in_lookback"
        missing = api.post("/v1/queries/validate", api.customer, json=without)
        valid = api.post(
            "/v1/queries/validate",
            api.customer,
            json={
                **early,
                "index": {**early["index"], "period": {"start": "2007-01-01", "end": "2008-12-31"}},
            },
        )
    finally:
        api.client.__exit__(None, None, None)
    for answer, field in ((reaching, "index.lookback.days"), (missing, "index.lookback")):
        assert answer.status_code == 422 and answer.headers["content-type"].startswith(PROBLEM), answer.text
        assert [e["field"] for e in answer.json()["errors"]] == [field]
    assert "2007-01-01" in reaching.json()["errors"][0]["valid"]  # the earliest period start it allows
    assert valid.status_code == 200, valid.text


def test_a_curve_with_intervals_shorter_than_the_policy_allows_is_a_422_and_a_valid_one_is_priced(
    sqlite_url, service_registers
):
    curve = {"kind": "time_to_event", "outcome": {"type": "diagnosis", "codes": ["DI21"]}}
    api = build_api(make_settings(sqlite_url, service_registers))
    try:
        close = api.post(
            "/v1/queries/quote",
            api.customer,
            json=_query("2015-01-01", "2018-12-31", {**curve, "time_points": [30, 45]}),
        )
        quoted = api.post("/v1/queries/quote", api.customer, json=_query("2015-01-01", "2018-12-31", curve))
    finally:
        api.client.__exit__(None, None, None)
    assert close.status_code == 422, close.text
    assert close.headers["content-type"] == PROBLEM
    (error,) = close.json()["errors"]
    assert error["field"] == "result.time_points"
    assert "30 apart" in error["valid"]
    assert quoted.status_code == 200, quoted.text
    assert quoted.json()["price"]["price_list_version"] == "2026-4"
    assert Decimal(quoted.json()["price"]["amount"]) > 0
