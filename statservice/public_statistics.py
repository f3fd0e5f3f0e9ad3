"""Free public statistics (eSundhed-style): a fixed list of questions, answered once per data version.

Each statistic is an ordinary query (``queries.model.Query``) run by the public-statistics
organisation through the one release path (``statservice.pipeline``): the same engine, the same
disclosure control, the same release transaction and audit record, only free (no invoice line).

A public statistic always carries the service's keyed noise (the policy's degraded noise,
``disclosure.release.ReleaseContext.published_with_noise``), never exact counts:

- exact, the list would be mostly hidden: incidence and prevalence of one year differ by the few
  persons who died or emigrated in it, so the differencing rules hide such tables whole;
- its exact counts would take the data version's exact capacity before the first customer asks;
- a paid question that differs from a public cell by fewer than k persons learns nothing from the
  difference, since the public value is noisy; the draws are stored (the same persons asked about
  again get the same draw), so no one can average them away.

The noise is charged to the publisher's and the global degraded ledgers: a dozen tables of
``DEGRADED_RHO_PER_TABLE`` each, a small part of a data version's global degraded budget.

The list is ``PUBLIC_CONDITIONS`` and ``PUBLIC_DRUG_GROUPS``: per condition, yearly incidence and
prevalence (with rates) by sex and by region, and incident cases per year by 10-year age band (the
query language has no age band for incidence and prevalence); per ATC level-4 drug group, new users
(first dispensing) and ever-users per year by sex. ``build`` answers those not stored yet for the
loaded data version; they are served from the database (``/v1/public/statistics``).

A statistic the budgets cannot pay for is refused and not published; the next build tries again.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import logging
import secrets
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select

from queries.model import (
    AgeBandBreakdown,
    CohortCountResult,
    DiagnosisConcept,
    IncidencePrevalenceResult,
    IndexEvent,
    IndexYearBreakdown,
    Period,
    PrescriptionConcept,
    Query,
    RegionBreakdown,
    SexBreakdown,
)
from statservice import pipeline
from statservice.audit import canonical_json
from statservice.core.security import hash_api_key
from statservice.db.models import ApiKey, Organisation, PublicStatistic, ReleaseRecord, utcnow
from statservice.service import Service

log = logging.getLogger("statservice.public_statistics")

# Who publishes them: an organisation of the service's own, with one API key that was revoked when it
# was made (runs and releases name a key; this one can never authenticate).
PUBLIC_ORGANISATION_NAME = "Public statistics (statservice)"
PUBLIC_SEGMENT = "public_authority"
PUBLIC_ACTOR = "statservice:public-statistics"
# It asks as a customer would (the key is revoked from the start, so the role grants nothing).
PUBLIC_KEY_ROLE = "customer"
# The most recent calendar years of the extract that the statistics cover.
PUBLIC_YEARS = 5


@dataclass(frozen=True)
class Condition:
    slug: str
    name: str
    icd10: tuple[str, ...]  # LPR form, with the leading D


@dataclass(frozen=True)
class DrugGroup:
    atc: str  # ATC level 4 (5 characters)
    name: str


PUBLIC_CONDITIONS: tuple[Condition, ...] = (
    Condition("type-2-diabetes", "Type 2 diabetes", ("DE11",)),
    Condition("acute-myocardial-infarction", "Acute myocardial infarction", ("DI21",)),
    Condition("copd", "Chronic obstructive pulmonary disease", ("DJ44",)),
)
PUBLIC_DRUG_GROUPS: tuple[DrugGroup, ...] = (
    DrugGroup("A10BA", "Biguanides (metformin)"),
    DrugGroup("A10BJ", "GLP-1 receptor agonists"),
    DrugGroup("C10AA", "Statins"),
)


@dataclass(frozen=True)
class Statistic:
    slug: str
    title: str
    subject: Literal["condition", "drug_group"]
    description: str
    query: Query


def _period(first_year: int, last_year: int) -> Period:
    return Period(start=dt.date(first_year, 1, 1), end=dt.date(last_year, 12, 31))


def statistics(last_year: int, years: int = PUBLIC_YEARS) -> tuple[Statistic, ...]:
    """Every public statistic for an extract whose last calendar year is ``last_year``."""
    period = _period(last_year - years + 1, last_year)
    out: list[Statistic] = []
    for condition in PUBLIC_CONDITIONS:
        index = IndexEvent(concept=DiagnosisConcept(codes=condition.icd10), period=period, occurrence="first")
        for by, breakdown in (("sex", SexBreakdown()), ("region", RegionBreakdown())):
            title = f"{condition.name}: incidence and prevalence per year by {by}"
            out.append(
                Statistic(
                    slug=f"{condition.slug}-incidence-prevalence-by-{by}",
                    title=title,
                    subject="condition",
                    description="first hospital diagnosis ever (incident) and persons diagnosed by the "
                    "year's end (prevalent), per year, with the person-years at risk",
                    query=Query(
                        title=title,
                        index=index,
                        result=IncidencePrevalenceResult(breakdowns=(breakdown,)),
                    ),
                )
            )
        title = f"{condition.name}: incident cases per year by 10-year age band"
        out.append(
            Statistic(
                slug=f"{condition.slug}-incident-cases-by-age-band",
                title=title,
                subject="condition",
                description="persons with their first hospital diagnosis ever in the year, by age then",
                query=Query(
                    title=title,
                    index=index,
                    result=CohortCountResult(breakdowns=(IndexYearBreakdown(), AgeBandBreakdown(width=10))),
                ),
            )
        )
    for group in PUBLIC_DRUG_GROUPS:
        title = f"{group.name} ({group.atc}): new users and users so far per year by sex"
        out.append(
            Statistic(
                slug=f"atc-{group.atc.lower()}-users-by-sex",
                title=title,
                subject="drug_group",
                description="persons with their first dispensing ever of the group in the year (new "
                "users) and persons dispensed it by the year's end (users so far), per year",
                query=Query(
                    title=title,
                    index=IndexEvent(concept=PrescriptionConcept(atc=(group.atc,)), period=period),
                    result=IncidencePrevalenceResult(breakdowns=(SexBreakdown(),)),
                ),
            )
        )
    return tuple(out)


def statistics_for(service: Service) -> tuple[Statistic, ...]:
    # the engine's catalog: a 503 (not a 500) while no register extract is loaded
    return statistics(service.query_catalog.last_year)


def etag_of(release: ReleaseRecord) -> str:
    """The SHA-256 of what a statistic serves (its tables and report), as its entity tag."""
    return hashlib.sha256(canonical_json([release.tables_json, release.report_json]).encode()).hexdigest()


def publisher(service: Service) -> pipeline.Requester:
    """The public-statistics organisation and its revoked key, created on first use."""
    with service.db.write() as session:
        organisation = session.execute(
            select(Organisation).where(Organisation.name == PUBLIC_ORGANISATION_NAME)
        ).scalar_one_or_none()
        if organisation is None:
            from statservice import accounts

            organisation = accounts.create_organisation(session, PUBLIC_ORGANISATION_NAME, PUBLIC_SEGMENT)
        key = session.execute(
            select(ApiKey).where(ApiKey.organisation_id == organisation.id, ApiKey.role == PUBLIC_KEY_ROLE)
        ).scalar_one_or_none()
        if key is None:
            from statservice.accounts import new_id

            now = utcnow()
            key = ApiKey(
                id=new_id("key"),
                organisation_id=organisation.id,
                role=PUBLIC_KEY_ROLE,
                name="public statistics (never valid)",
                key_hash=hash_api_key(secrets.token_urlsafe(32)),  # the secret is thrown away
                prefix="none",
                created_at=now,
                revoked_at=now,
            )
            session.add(key)
        return pipeline.Requester(
            key_id=key.id,
            role=PUBLIC_KEY_ROLE,
            key_organisation_id=organisation.id,
            organisation_id=organisation.id,
            actor=PUBLIC_ACTOR,
        )


@dataclass(frozen=True)
class BuildOutcome:
    slug: str
    status: str  # stored (already), released, refused or failed


def build(
    service: Service,
    wanted: Iterable[Statistic] | None = None,
    progress: Callable[[BuildOutcome], None] | None = None,
) -> list[BuildOutcome]:
    """Answer each public statistic not yet stored for the loaded data version, one release each
    (in order, so each is protected against the ones before it), and store the released ones."""
    data_version = service.data_version
    requester = publisher(service)
    with service.db.session() as session:
        stored = set(
            session.execute(
                select(PublicStatistic.slug).where(PublicStatistic.data_version == data_version)
            ).scalars()
        )
    outcomes = []
    for statistic in statistics_for(service) if wanted is None else wanted:
        if statistic.slug in stored:
            outcome = BuildOutcome(statistic.slug, "stored")
        else:
            outcome = BuildOutcome(statistic.slug, _release(service, requester, statistic, data_version))
        outcomes.append(outcome)
        if progress is not None:
            progress(outcome)
    return outcomes


def _release(service: Service, requester: pipeline.Requester, statistic: Statistic, data_version: str) -> str:
    payload = statistic.query.model_dump(mode="json")
    prepared = pipeline.prepare(service, payload, PUBLIC_SEGMENT)
    prepared = dataclasses.replace(prepared, public=True)
    run_id = pipeline.create_run(service, requester, prepared)
    status = pipeline.execute_run(service, run_id, requester, prepared)
    if status != "released":
        log.warning("public statistic %s was not released: %s", statistic.slug, status)
        return status
    with service.db.write() as session:
        release = session.execute(select(ReleaseRecord).where(ReleaseRecord.run_id == run_id)).scalar_one()
        session.add(
            PublicStatistic(
                data_version=data_version,
                slug=statistic.slug,
                release_id=release.id,
                etag=etag_of(release),
                created_at=utcnow(),
            )
        )
    return status


def etag_of_list(etags: list[str]) -> str:
    return hashlib.sha256(canonical_json(etags).encode()).hexdigest()


def stored(
    service: Service, session: Any, slug: str | None = None
) -> list[tuple[PublicStatistic, ReleaseRecord]]:
    """The loaded data version's stored statistics (or the one named ``slug``) with their releases,
    in the list's order."""
    order = {statistic.slug: n for n, statistic in enumerate(statistics_for(service))}
    conditions = [PublicStatistic.data_version == service.data_version]
    if slug is not None:
        conditions.append(PublicStatistic.slug == slug)
    rows = session.execute(
        select(PublicStatistic, ReleaseRecord)
        .join(ReleaseRecord, ReleaseRecord.id == PublicStatistic.release_id)
        .where(*conditions)
    ).all()
    return sorted(rows, key=lambda row: (order.get(row[0].slug, len(order)), row[0].slug))


def served_tables(release: ReleaseRecord) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    return json.loads(release.tables_json), json.loads(release.report_json)
