"""Shared helpers for the release tests: queries, and counting what a release leaves in the database."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select

from billing.models import InvoiceLine
from statservice import audit
from statservice.db.models import (
    AuditRecord,
    NoiseDraw,
    PrivacyLedgerRow,
    PrivacySpend,
    PublicStatistic,
    QueryRun,
    ReleasedFingerprint,
    ReleasedPersonSet,
    ReleasedTable,
    ReleaseRecord,
)


def fixed_clock(moment: dt.datetime):
    """A clock for ``Service.clock`` that always says ``moment``."""
    return lambda: moment


def set_today(service, day: dt.date) -> None:
    """Billing's "today" (issue dates, work dates, estimates) becomes ``day``, 08:00 UTC."""
    service.clock = fixed_clock(dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC))


COHORT = {
    "title": "Incident type 2 diabetes by sex",
    "index": {
        "concept": {"type": "diagnosis", "codes": ["DE11"]},
        "period": {"start": "2015-01-01", "end": "2018-12-31"},
    },
    "result": {"kind": "cohort_count", "breakdowns": [{"by": "sex"}]},
}


def cohort(**changes) -> dict:
    query = {**COHORT, **changes}
    return query


def distinct_cohort(i: int) -> dict:
    """A cohort of other persons for each ``i`` (0..18): the index period starts in year 2005 + i.

    Noise draws are keyed by person set, so only queries over other persons draw (and pay for) fresh
    noise; a query repeated in another wording reuses its draws and spends no privacy budget.
    """
    if not 0 <= i <= 18:
        raise ValueError("the small registers cover 2005-2024: i must be in 0..18")
    period = {"start": f"{2005 + i}-01-01", "end": "2024-12-31"}
    return cohort(title=f"diabetes from {2005 + i}", index={**COHORT["index"], "period": period})


def with_noise(query: dict) -> dict:
    return {**query, "disclosure": {"noise": "gaussian"}}


def counts(service) -> dict[str, int]:
    models = {
        "releases": ReleaseRecord,
        "invoice_lines": InvoiceLine,
        "person_sets": ReleasedPersonSet,
        "spends": PrivacySpend,
        "noise": NoiseDraw,
        "released_tables": ReleasedTable,
        "fingerprints": ReleasedFingerprint,
        "release_audits": AuditRecord,
    }
    out = {}
    with service.db.session() as session:
        for name, model in models.items():
            query = select(func.count()).select_from(model)
            if model is AuditRecord:
                query = query.where(AuditRecord.action == "release")
            out[name] = session.execute(query).scalar_one()
        out["rho"] = sum(session.execute(select(PrivacyLedgerRow.rho_spent)).scalars())
    return out


def assert_consistent(service) -> None:
    """Every release has its audit record and invoice line (a free public statistic: its audit
    record and no line); nothing is charged without a release; the audit chain verifies."""
    with service.db.session() as session:
        releases = session.execute(select(ReleaseRecord)).scalars().all()
        lines = session.execute(select(InvoiceLine).where(InvoiceLine.kind == "release")).scalars().all()
        audits = session.execute(select(AuditRecord).where(AuditRecord.action == "release")).scalars().all()
        free = set(session.execute(select(PublicStatistic.release_id)).scalars())
        release_ids = {r.id for r in releases}
        assert {line.release_id for line in lines} == release_ids - free
        assert all(r.price == 0 and r.invoice_line_ref is None for r in releases if r.id in free)
        assert {r.audit_sequence for r in releases} == {a.sequence for a in audits}
        spends = session.execute(select(PrivacySpend.release_id)).scalars().all()
        assert set(spends) <= release_ids
        for run in session.execute(select(QueryRun)).scalars():
            assert (run.status == "released") == (run.release_id is not None)
            if run.release_id:
                assert run.release_id in release_ids
        assert audit.verify(session).ok
