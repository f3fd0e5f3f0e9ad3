"""Free public statistics: released through the one release path when built, stored, served without a
key from the database with an entity tag and cache headers, rate-limited per client address, and
remembered in the global release history so that no paid question can be differenced against them."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient
from pyroaring import BitMap
from sqlalchemy import func, select

from billing.models import InvoiceLine
from disclosure.errors import ReleaseRefused
from disclosure.pipeline import protect
from disclosure.policy import Policy
from disclosure.release import ReleaseContext
from disclosure.stores import GLOBAL_SCOPE
from disclosure.table import AggregateTable, Cell
from statservice import audit, public_statistics
from statservice.api.app import create_app
from statservice.api.middleware import PUBLIC_STATISTICS_CONTROL
from statservice.db.models import (
    ApiKey,
    AuditRecord,
    PrivacyLedgerRow,
    PublicStatistic,
    ReleasedCountRow,
    ReleaseRecord,
)
from statservice.stores import HistoryStores
from tests.budgets import without_degraded_budget
from tests.service.conftest import build_api, make_settings

BY_SEX = "type-2-diabetes-incidence-prevalence-by-sex"
BY_AGE_BAND = "type-2-diabetes-incident-cases-by-age-band"


def chosen(service, *slugs: str) -> list[public_statistics.Statistic]:
    by_slug = {statistic.slug: statistic for statistic in public_statistics.statistics_for(service)}
    return [by_slug[slug] for slug in slugs]


def test_the_list_is_one_registry_of_unique_slugs_and_valid_queries(data_api):
    statistics = public_statistics.statistics_for(data_api.service)
    slugs = [statistic.slug for statistic in statistics]
    assert (
        len(slugs)
        == len(set(slugs))
        == 3 * len(public_statistics.PUBLIC_CONDITIONS) + len(public_statistics.PUBLIC_DRUG_GROUPS)
    )
    assert all(len(slug) <= 80 for slug in slugs)  # the column's width
    for statistic in statistics:  # the catalog knows every code and period
        payload = statistic.query.model_dump(mode="json")
        response = data_api.post("/v1/queries/validate", data_api.customer, json=payload)
        assert response.status_code == 200, (statistic.slug, response.text)


def test_built_statistics_are_served_without_a_key_with_etag_and_cache_headers(data_api):
    api = data_api
    assert api.client.get("/v1/public/statistics").json() == {"items": []}  # nothing built yet
    outcomes = public_statistics.build(api.service, chosen(api.service, BY_SEX, BY_AGE_BAND))
    assert [outcome.status for outcome in outcomes] == ["released", "released"]

    listed = api.client.get("/v1/public/statistics")  # no Authorization header
    assert listed.status_code == 200, listed.text
    assert [item["slug"] for item in listed.json()["items"]] == [BY_SEX, BY_AGE_BAND]
    assert listed.headers["cache-control"] == PUBLIC_STATISTICS_CONTROL

    one = api.client.get(f"/v1/public/statistics/{BY_SEX}")
    assert one.status_code == 200, one.text
    body = one.json()
    assert body["data_version"] == api.service.data_version and body["subject"] == "condition"
    table = body["tables"][0]
    assert table["kind"] == "incidence_prevalence" and table["dimensions"][-1] == "sex"
    assert {cell["status"] for cell in table["cells"]} <= {"released", "suppressed"}
    assert any(cell["status"] == "released" for cell in table["cells"])
    assert body["report"]["threshold"] >= 5
    etag = one.headers["etag"]
    assert etag == f'"{body["etag"]}"'
    assert one.headers["cache-control"] == PUBLIC_STATISTICS_CONTROL

    again = api.client.get(f"/v1/public/statistics/{BY_SEX}", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    changed = api.client.get(f"/v1/public/statistics/{BY_SEX}", headers={"If-None-Match": '"other"'})
    assert changed.status_code == 200
    listed_again = api.client.get("/v1/public/statistics", headers={"If-None-Match": listed.headers["etag"]})
    assert listed_again.status_code == 304

    # served from the database: the stored release's tables, not a new run
    with api.service.db.session() as session:
        stored = session.get(PublicStatistic, (api.service.data_version, BY_SEX))
        release = session.get(ReleaseRecord, stored.release_id)
        assert json.loads(release.tables_json) == body["tables"]

    missing = api.client.get("/v1/public/statistics/no-such-statistic")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    assert missing.headers["cache-control"] == "no-store"
    unknown = api.client.get("/v1/public/statistics?page=2")
    assert unknown.status_code == 422 and "page" in unknown.text


def test_a_public_statistic_is_a_free_audited_release_that_a_second_build_does_not_repeat(data_api):
    api = data_api
    statistics = chosen(api.service, BY_SEX)
    public_statistics.build(api.service, statistics)
    assert [o.status for o in public_statistics.build(api.service, statistics)] == ["stored"]
    with api.service.db.session() as session:
        releases = session.scalars(select(ReleaseRecord)).all()
        assert len(releases) == 1 and releases[0].price == 0 and releases[0].invoice_line_ref is None
        assert session.execute(select(func.count()).select_from(InvoiceLine)).scalar_one() == 0
        record = session.execute(
            select(AuditRecord).where(AuditRecord.sequence == releases[0].audit_sequence)
        ).scalar_one()
        assert record.action == "release" and record.actor == public_statistics.PUBLIC_ACTOR
        assert audit.verify(session).ok
        # noised, never exact: nothing in the exact history, only the degraded ledgers charged
        held = session.execute(
            select(func.count())
            .select_from(ReleasedCountRow)
            .where(ReleasedCountRow.release_id == releases[0].id)
        ).scalar_one()
        assert held == 0 and releases[0].rho_spent > 0
        spent = dict(session.execute(select(PrivacyLedgerRow.scope, PrivacyLedgerRow.rho_spent)).all())
        assert spent and all(scope.endswith(":degraded") for scope, rho in spent.items() if rho > 0)
        assert json.loads(releases[0].report_json)["noise"]["mechanism"]
        key = session.execute(select(ApiKey).where(ApiKey.id == releases[0].key_id)).scalar_one()
        assert key.revoked_at is not None  # the publisher's key can never authenticate


def test_a_public_statistic_the_budgets_cannot_pay_is_not_published(data_api):
    """Public statistics carry the degraded noise: with no degraded budget left, none is published,
    nothing is stored or charged, and the refusal is audited."""
    service = data_api.service
    service.__dict__["policy"] = Policy.default().model_copy(update={"budgets": without_degraded_budget()})
    assert [outcome.status for outcome in public_statistics.build(service, chosen(service, BY_SEX))] == [
        "refused"
    ]
    with service.db.session() as session:
        assert session.execute(select(func.count()).select_from(ReleaseRecord)).scalar_one() == 0
        assert session.execute(select(func.count()).select_from(PublicStatistic)).scalar_one() == 0
        assert session.execute(select(func.sum(PrivacyLedgerRow.rho_spent))).scalar_one() in (None, 0.0)
        refusal = session.execute(
            select(AuditRecord).where(AuditRecord.action == "release.refused")
        ).scalar_one()
        assert refusal.actor == public_statistics.PUBLIC_ACTOR


def test_the_whole_list_is_published_noised_and_takes_no_exact_capacity(data_api):
    """Exact, a year's incidence and prevalence differ by the few persons who died in it, and the
    differencing rules hid such tables whole; noised, every statistic shows its cells."""
    service = data_api.service
    outcomes = public_statistics.build(service)
    assert outcomes and all(outcome.status == "released" for outcome in outcomes)
    with service.db.session() as session:
        service.history.refresh(session, service.data_version)
    assert service.history.released_count_total(service.data_version, GLOBAL_SCOPE) == 0
    for outcome in outcomes:
        body = data_api.client.get(f"/v1/public/statistics/{outcome.slug}").json()
        cells = [cell for table in body["tables"] for cell in table["cells"]]
        assert body["report"]["noise"] is not None, outcome.slug
        assert any(cell["status"] == "released" for cell in cells), outcome.slug


def _engine_cells(service, statistic) -> dict[str, Cell]:
    """The true cells of a statistic's cohort table, by their coordinates as JSON."""
    (table,) = [t for t in service.engine.run(statistic.query) if t.kind == "cohort_count"]
    return {json.dumps(list(cell.coordinates)): cell for cell in table.cells}


def _protect_for_a_customer(service, persons: BitMap):
    """What disclosure control answers a customer asking for exactly ``persons``, on the service's
    release history as it is now (nothing is stored)."""
    table = AggregateTable(
        kind="cohort_count",
        title="a paid question",
        dimensions=(),
        cells=(Cell((), len(persons), persons),),
        registers=frozenset({"lpr"}),
    )
    context = ReleaseContext(
        service.data_version, "org-paying-customer", service.noise_secret_for(service.data_version)
    )
    with service.db.session() as session:
        service.history.refresh(session, service.data_version)
        return protect([table], service.policy, context, HistoryStores(service.history, session))


def _less_one(cell: Cell) -> BitMap:
    persons = BitMap(cell.persons)
    persons.discard(persons.min())  # the cell less one person: count - (count - 1) = 1
    return persons


def test_no_paid_question_can_be_differenced_against_a_public_statistic(data_api):
    service = data_api.service
    (statistic,) = chosen(service, BY_AGE_BAND)
    cells = _engine_cells(service, statistic)
    assert public_statistics.build(service, [statistic])[0].status == "released"
    published = data_api.client.get(f"/v1/public/statistics/{statistic.slug}").json()
    shown = {
        json.dumps(cell["coordinates"]): cell["value"]
        for cell in published["tables"][0]["cells"]
        if cell["status"] == "released"
    }
    large = {c: value for c, value in shown.items() if cells[c].count >= 10}
    assert len(large) >= 5
    # the public values are noisy, so the difference between a public value and a paid answer for
    # the same cell less one person is the noise, not that person; and the public person sets are in
    # the global release memory all the same, so such a paid answer is suppressed as well
    assert sum(value != cells[c].count for c, value in large.items()) >= len(large) // 2
    for coordinates in list(large)[:5]:
        try:
            answer = _protect_for_a_customer(service, _less_one(cells[coordinates]))
        except ReleaseRefused:
            continue  # refused outright: nothing to difference
        assert answer.tables[0].rows[0].value is None and answer.tables[0].rows[0].suppressed


def test_public_statistics_are_rate_limited_per_client_address(database_url, service_registers):
    settings = make_settings(
        database_url, service_registers, public_rate_limit_per_second=0.01, public_rate_limit_burst=3
    )
    api = build_api(settings)
    try:
        for _ in range(3):
            assert api.client.get("/v1/public/statistics").status_code == 200
        limited = api.client.get("/v1/public/statistics")
        assert limited.status_code == 429
        assert limited.headers["content-type"].startswith("application/problem+json")
        assert int(limited.headers["retry-after"]) >= 1
        assert limited.headers["cache-control"] == "no-store"
        # another address has a bucket of its own; keyed customers are not counted here
        with TestClient(create_app(settings, api.service), client=("192.0.2.7", 50000)) as other:
            assert other.get("/v1/public/statistics").status_code == 200
        assert api.get("/v1/budgets", api.customer).status_code == 200
    finally:
        api.client.__exit__(None, None, None)


@pytest.mark.parametrize("path", ["/v1/public/statistics", f"/v1/public/statistics/{BY_SEX}"])
def test_the_public_paths_are_in_the_openapi_schema_without_security(api, path):
    schema = api.client.get("/openapi.json").json()
    template = path.replace(BY_SEX, "{slug}")
    operation = schema["paths"][template]["get"]
    assert "security" not in operation and "304" in operation["responses"]
