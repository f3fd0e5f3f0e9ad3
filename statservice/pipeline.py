"""The release path, the only way a result leaves the service.

validate → shape → quote → admission (``Service.admission``) → ``engine.run`` → ``disclosure.protect``
(never bypassed; there is no override flag, staff acting for a customer take the same path) →
one transaction: release row, budget spend (re-checked under the ledger row locks), released person
sets, noise draws, released-table records, invoice line, audit record → response.

If any step of the transaction fails, it rolls back: nothing is released and nothing is charged.
Errors never depend on counts: refusals carry disclosure's fixed messages.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
import traceback
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import select, update

from billing.errors import BillingError, QuoteAlreadyUsed
from billing.ledger import charge_release
from billing.pricing import PricedShape
from billing.quotes import check_quote_for_run, get_quote
from disclosure.errors import BUDGET_EXCEEDED_MESSAGE, ReleaseRefused
from disclosure.pipeline import exceeds_exact_capacity, protect
from disclosure.policy import DifferentialPrivacy
from disclosure.release import ProtectedTable, Release, ReleaseContext
from disclosure.stores import GLOBAL_SCOPE, degraded_scope, organisation_scope
from queries.registry import tables_of
from statservice import audit, charging, leases
from statservice.accounts import new_id
from statservice.audit import canonical_json, sha256_hex
from statservice.core.errors import PROBLEM_BASE, STATUS_ERRORS, Conflict, NotFound
from statservice.db.models import Organisation, QueryRun, ReleaseRecord, utcnow
from statservice.history import HistoryMark
from statservice.service import Service
from statservice.stores import BudgetOverdrawn, HistoryStores, SqlStores

log = logging.getLogger("statservice.pipeline")


@dataclass(frozen=True)
class Requester:
    """Who asked (the key) and for whom (the organisation charged and scoped)."""

    key_id: str
    role: str
    key_organisation_id: str
    organisation_id: str
    actor: str


@dataclass(frozen=True)
class Prepared:
    query: Any  # queries.model.Query
    canonical: dict[str, Any]
    query_hash: str
    shape: Any  # queries.shape.QueryShape
    priced: PricedShape
    quote: Any  # billing.pricing.Quote
    segment: str
    rho: float
    # billing hooks (optional): charge the release at a stored quote's price, or attach it to a
    # bespoke order in progress; both are checked again inside the release transaction
    quote_id: str | None = None
    order_id: str | None = None
    # A public statistic (statservice.public_statistics): the same release path, audit record and
    # release history as every paid release, but free (no invoice line), and always with the
    # service's keyed noise (``ReleaseContext.published_with_noise``)
    public: bool = False
    # the saved concept sets the query referred to (``saved_definitions.resolve_concept_sets``): id,
    # version and definition hash, recorded with the release; the query above is the resolved one
    saved_definitions: tuple[dict[str, Any], ...] = ()


def canonical_query(query: Any) -> dict[str, Any]:
    return json.loads(canonical_json(query.model_dump(mode="json")))


def query_hash_of(canonical: dict[str, Any]) -> str:
    return sha256_hex(canonical_json(canonical))


def _without_wording(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_wording(v) for k, v in value.items() if k not in ("title", "name")}
    if isinstance(value, list):
        return [_without_wording(v) for v in value]
    return value


def semantic_hash_of(canonical: dict[str, Any]) -> str:
    """The query without its wording (title, criterion and item names): near-identical queries that
    differ only in how they are labelled share it."""
    return sha256_hex(canonical_json(_without_wording(canonical)))


def _shape_field(shape: Any, *names: str, default: Any = None) -> Any:
    for name in names:
        if hasattr(shape, name):
            return getattr(shape, name)
    return default


def priced_shape(shape: Any) -> PricedShape:
    registers = _shape_field(shape, "registers", "registers_touched", default=())
    return PricedShape(
        result_kind=str(_shape_field(shape, "result_kind", "kind")),
        registers=len(registers) if not isinstance(registers, int) else registers,
        cells=int(_shape_field(shape, "cells", "number_of_cells", "n_cells")),
        differential_privacy=bool(_shape_field(shape, "differential_privacy", "dp", default=False)),
    )


def shape_public(shape: Any) -> dict[str, Any]:
    """The query's shape as JSON (sets become sorted lists)."""
    from dataclasses import fields, is_dataclass

    if hasattr(shape, "model_dump"):
        return shape.model_dump(mode="json")
    if not is_dataclass(shape):
        return {"description": str(shape)}
    out: dict[str, Any] = {}
    for f in fields(shape):
        value = getattr(shape, f.name)
        if isinstance(value, set | frozenset | tuple | list):
            value = sorted(value) if isinstance(value, set | frozenset) else list(value)
        out[f.name] = value
    return out


def privacy_for(query: Any) -> DifferentialPrivacy | None:
    options = getattr(query, "disclosure", None)
    if options is not None and options.noise == "gaussian":
        return DifferentialPrivacy()
    return None


def rounding_for(query: Any) -> int | None:
    options = getattr(query, "disclosure", None)
    return options.rounding if options is not None else None


def validate(service: Service, payload: dict[str, Any]) -> Any:
    from queries.validation import validate_query

    return validate_query(payload, service.query_catalog)


def prepare(
    service: Service,
    payload: dict[str, Any],
    segment: str,
    saved_definitions: tuple[dict[str, Any], ...] | list[dict[str, Any]] = (),
) -> Prepared:
    """Validate, shape and price a query (references to saved definitions already resolved) without
    running anything."""
    from queries.shape import query_shape

    query = validate(service, payload)
    canonical = canonical_query(query)
    shape = query_shape(query)
    priced = priced_shape(shape)
    quote = service.price_list.quote(priced, segment)
    privacy = privacy_for(query)
    # each table released with noise costs rho: the quote states the privacy cost before the run
    rho = privacy.rho_charged() * tables_of(priced.result_kind) if privacy is not None else 0.0
    return Prepared(
        query,
        canonical,
        query_hash_of(canonical),
        shape,
        priced,
        quote,
        segment,
        rho,
        saved_definitions=tuple(saved_definitions),
    )


def with_saved_definitions(prepared: Prepared, payload: dict[str, Any]) -> dict[str, Any]:
    """An audit payload with the saved definitions the query referred to, when it referred to any."""
    return (
        {**payload, "saved_definitions": list(prepared.saved_definitions)}
        if prepared.saved_definitions
        else payload
    )


def refusal_warnings(
    service: Service, session: Any, organisation_id: str, prepared: Prepared
) -> list[charging.QuoteWarning]:
    """The ``charging.QuoteWarning``s of a quote: whether the budgets can pay for the run's noise (or
    for the noise an exact release falls back to), from the ledgers and the organisation's own
    releases only (another organisation's questions are not its business)."""
    stores = SqlStores(session)
    data_version = service.data_version
    budgets = service.policy.budgets
    # noise asked for is paid from the asked-noise ledgers; the degraded noise (an exact question past
    # the capacity or its deadline, or noise asked for that its ledgers cannot pay) from the degraded
    # ledgers (``disclosure.policy``)
    organisation = organisation_scope(organisation_id)
    organisation_remaining = budgets.rho_per_organisation - stores.rho_spent(data_version, organisation)
    global_remaining = budgets.rho_global - stores.rho_spent(data_version, GLOBAL_SCOPE)
    degraded_remaining = min(
        budgets.rho_degraded_per_organisation - stores.rho_spent(data_version, degraded_scope(organisation)),
        budgets.rho_degraded_global - stores.rho_spent(data_version, degraded_scope(GLOBAL_SCOPE)),
    )
    fallback = service.policy.degraded_privacy()
    asked_before = False
    if prepared.rho > 0:
        # the semantic hash includes the disclosure options: an equal one was released with noise
        asked_before = (
            session.execute(
                select(ReleaseRecord.id)
                .join(QueryRun, QueryRun.id == ReleaseRecord.run_id)
                .where(
                    ReleaseRecord.organisation_id == organisation_id,
                    ReleaseRecord.data_version == data_version,
                    QueryRun.semantic_hash == semantic_hash_of(prepared.canonical),
                )
                .limit(1)
            ).first()
            is not None
        )
    return charging.refusal_warnings(
        prepared.rho,
        fallback.rho_charged() * tables_of(prepared.priced.result_kind),
        organisation_remaining,
        global_remaining,
        asked_before,
        past_exact_capacity=prepared.rho == 0 and past_exact_capacity(service, session, prepared),
        degraded_remaining=degraded_remaining,
    )


def past_exact_capacity(service: Service, session: Any, prepared: Prepared) -> bool:
    """Whether an exact run of this question would get keyed noise because the data version's exact
    capacity is used: the same rule as ``disclosure.pipeline.exact_capacity_reached``, with the
    question's largest possible number of cells (its shape)."""
    data_version = service.data_version
    if answered_exactly_before(session, data_version, prepared):
        return False
    service.history.refresh(session, data_version)
    held = service.history.released_count_total(data_version, GLOBAL_SCOPE)
    return exceeds_exact_capacity(held, int(prepared.shape.cells), service.policy)


def answered_exactly_before(session: Any, data_version: str, prepared: Prepared) -> bool:
    """Whether this question (its semantic hash: the query without its wording, disclosure options
    included) was released with exact counts on this data version, to any organisation. Such a
    question is answered exactly again whatever the data version's exact capacity: its counts are out
    already (colluding customers are one attacker), so a repeat adds nothing to the audit's system.
    Decided by the question, never by its person sets: a different question that happens to select
    the same persons is a new question (set equality would tell 0 from 1..k-1)."""
    reports = session.execute(
        select(ReleaseRecord.report_json)
        .join(QueryRun, QueryRun.id == ReleaseRecord.run_id)
        .where(
            ReleaseRecord.data_version == data_version,
            QueryRun.semantic_hash == semantic_hash_of(prepared.canonical),
        )
        .order_by(ReleaseRecord.audit_sequence)
        .limit(_EXACT_BEFORE_LOOKUPS)
    ).scalars()
    # the stored (customer) report names the noise a release carried: none means exact counts
    return any(json.loads(report).get("noise") is None for report in reports)


# The earliest releases of a question that are read to find an exact one (the first is exact unless
# the question came after the capacity was used; later ones of a degraded question are degraded too).
_EXACT_BEFORE_LOOKUPS = 5


def segment_of(service: Service, organisation_id: str, session: Any = None) -> str:
    """The organisation's billing segment, read in ``session`` if given (else a session of its own)."""
    if session is None:
        with service.db.session() as own:
            return segment_of(service, organisation_id, own)
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise NotFound(f"organisation {organisation_id} not found")
    return organisation.segment


# --- tables on the wire -----------------------------------------------------------------------


def public_table(table: ProtectedTable) -> dict[str, Any]:
    """A protected table as JSON: released values only; suppressed cells carry value null."""
    return {
        "kind": table.kind,
        "title": table.title,
        "dimensions": list(table.dimensions),
        "categories": [list(c) for c in table.categories],
        "derived_columns": list(table.derived_columns),
        "rounding_base": table.rounding_base,
        "noise_mechanism": table.noise_mechanism,
        "cells": [
            {
                "coordinates": list(row.coordinates),
                "value": row.value,
                "status": "suppressed" if row.suppressed else "released",
                "derived": dict(row.derived),
            }
            for row in table.rows
        ],
    }


# --- runs -------------------------------------------------------------------------------------


def create_run(service: Service, requester: Requester, prepared: Prepared) -> str:
    run_id = new_id("run")
    with service.db.write() as session:
        session.add(
            QueryRun(
                id=run_id,
                organisation_id=requester.organisation_id,
                key_id=requester.key_id,
                acting_key_organisation_id=requester.key_organisation_id,
                status="queued",
                query_json=canonical_json(prepared.canonical),
                query_hash=prepared.query_hash,
                semantic_hash=semantic_hash_of(prepared.canonical),
                title=getattr(prepared.query, "title", None),
                created_at=utcnow(),
                # queued for this process, which renews the lease until the run finishes
                lease_owner=service.lease_owner,
                lease_expires_at=leases.expiry(service.settings.run_lease_seconds),
            )
        )
    return run_id


# What a running run is doing, in order; stored on the run as it enters each (``QueryRun.stage``).
RunStage = Literal["engine", "disclosure_control", "commit"]
ENGINE: RunStage = "engine"
DISCLOSURE_CONTROL: RunStage = "disclosure_control"
COMMIT: RunStage = "commit"


def enter_stage(service: Service, run_id: str, stage: RunStage) -> None:
    """Record the stage in its own short transaction, so that polls through any process see it while
    the stage lasts; only while this process holds the running run's lease."""
    with service.db.write() as session:
        session.execute(
            update(QueryRun)
            .where(
                QueryRun.id == run_id,
                QueryRun.status == "running",
                QueryRun.lease_owner == service.lease_owner,
            )
            .values(stage=stage)
        )


def _problem(status: int, slug: str, title: str, detail: str, run_id: str) -> dict[str, Any]:
    return {
        "type": PROBLEM_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": f"/v1/queries/runs/{run_id}",
        "errors": [],
    }


def _finish_unreleased(
    service: Service,
    run_id: str,
    requester: Requester,
    prepared: Prepared,
    status: str,
    problem: dict,
    reason: str | None = None,
) -> None:
    """Record a refused or failed run (and its audit record) in its own transaction, unless the run's
    lease was lost: then another process has already failed it. ``reason`` (which rule refused) goes to
    the auditor's record only."""
    with service.db.write() as session:
        if not leases.holds(session, run_id, service.lease_owner):
            return
        run = session.get_one(QueryRun, run_id)
        run.status = status
        run.finished_at = utcnow()
        run.problem_json = json.dumps(problem)
        audit.append(
            session,
            actor=requester.actor,
            organisation_id=requester.organisation_id,
            action=f"release.{status}",
            query_hash=prepared.query_hash,
            payload=with_saved_definitions(
                prepared,
                {
                    "run_id": run_id,
                    "detail": problem["detail"],
                    "reason": reason,
                    "query": prepared.canonical,
                },
            ),
        )


def check_quote_usable(session: Any, requester: Requester, prepared: Prepared) -> None:
    """Raise a BillingError unless the run's quote (if any) exists, is the organisation's, fits the run,
    is unexpired and unused. Checked before the engine and before ``protect``: a run whose quote cannot
    pay must fail without the customer learning whether protection would have refused it."""
    if prepared.quote_id is None:
        return
    quote = get_quote(session, prepared.quote_id, requester.organisation_id)
    if quote.used_at is not None:
        raise QuoteAlreadyUsed(f"quote {quote.id} has already paid for a run")
    check_quote_for_run(quote, requester.organisation_id, prepared.priced, prepared.segment, utcnow().date())


def execute_run(service: Service, run_id: str, requester: Requester, prepared: Prepared) -> str:
    """Run and release; returns the final run status (released, refused or failed)."""
    settings = service.settings
    try:
        while True:  # admission across processes: max_concurrent_runs run at once in all of them
            with service.db.write() as session:
                started = leases.start(
                    session,
                    run_id,
                    service.lease_owner,
                    settings.run_lease_seconds,
                    settings.max_concurrent_runs,
                )
                if started:
                    session.get_one(QueryRun, run_id).stage = ENGINE  # visible with "running"
                    check_quote_usable(session, requester, prepared)
            if started is not None:
                break
            time.sleep(leases.SLOT_WAIT_SECONDS)
        if not started:
            log.warning("run %s was reaped before it started", run_id)
            return "failed"
        engine = service.engine  # one data version for the run: a version switched meanwhile is not mixed in
        tables = engine.run(prepared.query)
        release_id = commit_release(service, run_id, requester, prepared, tables, engine.data_version)
        log.info("run %s released as %s", run_id, release_id)
        return "released"
    except leases.LeaseLost:  # reaped while it ran (this process stalled): failed by the reaper
        log.warning("run %s: lease lost before its release; nothing was released", run_id)
        return "failed"
    except (ReleaseRefused, BudgetOverdrawn) as refusal:
        if not isinstance(refusal, ReleaseRefused):
            refusal = ReleaseRefused(BUDGET_EXCEEDED_MESSAGE, reason="a ledger was overdrawn at commit")
        problem = _problem(409, "release-refused", "Release refused", refusal.message, run_id)
        problem["advice"] = refusal.advice  # shape and policy only, like the message
        _finish_unreleased(service, run_id, requester, prepared, "refused", problem, reason=refusal.reason)
        return "refused"
    except BillingError as error:  # e.g. the quote was used by a concurrent run: rolled back
        _finish_unreleased(
            service,
            run_id,
            requester,
            prepared,
            "failed",
            _problem(
                error.http_status,
                STATUS_ERRORS.get(error.http_status, Conflict).slug,
                STATUS_ERRORS.get(error.http_status, Conflict).title,
                error.message,
                run_id,
            ),
        )
        return "failed"
    except Exception as error:  # nothing was committed: the transaction rolled back
        # frames only: an exception's message could quote data, the frames cannot
        frames = "".join(traceback.format_tb(error.__traceback__))
        log.error("run %s failed: %s\n%s", run_id, type(error).__name__, frames)
        fail_run(service, run_id, requester, prepared)
        return "failed"


def fail_run(service: Service, run_id: str, requester: Requester, prepared: Prepared) -> None:
    """Record a run failed that raised or whose worker died before finishing (nothing was committed
    for it); the problem says nothing of the cause, which could quote data."""
    _finish_unreleased(
        service,
        run_id,
        requester,
        prepared,
        "failed",
        _problem(
            500,
            "internal",
            "Internal server error",
            "the run failed; nothing was released or charged",
            run_id,
        ),
    )


# Attempts at protecting a release on a snapshot of the history before the last attempt, which
# protects under the write lock so that a release always finishes.
SNAPSHOT_ATTEMPTS = 3


class _HistoryMoved(Exception):
    """A release committed while this one was protected touched the persons it relied on."""


def commit_release(
    service: Service,
    run_id: str,
    requester: Requester,
    prepared: Prepared,
    tables: list,
    data_version: str | None = None,
) -> str:
    """Protect, then persist release, audit record, budget spend and invoice line in ONE transaction.

    Disclosure control runs outside the database write lock, on a snapshot of the release history
    (``statservice.history``): no customer waits on another customer's audit. Under the lock, the
    commit catches up on what was committed meanwhile and, if any of it touches the persons the
    release relied on (or drew the same noise first), protects it again. Ledgers are re-checked
    under their row locks as before. The last attempt protects under the lock, so a release under
    heavy contention still finishes.
    """
    data_version = data_version or service.data_version  # the version the tables were computed on
    with service.db.session() as session:
        exact_before = answered_exactly_before(session, data_version, prepared)
    context = ReleaseContext(
        data_version=data_version,
        organisation_id=requester.organisation_id,
        noise_secret=service.noise_secret_for(data_version),
        rounding_base=rounding_for(prepared.query),
        differential_privacy=privacy_for(prepared.query),
        answered_exactly_before=exact_before,
        published_with_noise=prepared.public,
    )
    policy = service.policy
    history = service.history
    for attempt in range(SNAPSHOT_ATTEMPTS + 1):
        snapshot: tuple[Release, HistoryMark] | None = None
        if attempt < SNAPSHOT_ATTEMPTS:
            enter_stage(service, run_id, DISCLOSURE_CONTROL)
            with service.db.session() as session:
                # a quote that cannot pay fails the run before protection, whatever it would say
                check_quote_usable(session, requester, prepared)
                mark = history.refresh(session, data_version)
                try:
                    snapshot = (protect(tables, policy, context, HistoryStores(history, session)), mark)
                except ReleaseRefused:
                    # said only once the quote is known to be usable under the lock, as before
                    with service.db.write() as locked:
                        audit.lock_head(locked)
                        check_quote_usable(locked, requester, prepared)
                    raise
        enter_stage(service, run_id, COMMIT)
        try:
            return _persist_release(service, run_id, requester, prepared, tables, context, snapshot)
        except _HistoryMoved:
            log.info("run %s: history moved during protection (attempt %d)", run_id, attempt + 1)
    raise RuntimeError("unreachable: the last attempt protects under the lock")


def _persist_release(
    service: Service,
    run_id: str,
    requester: Requester,
    prepared: Prepared,
    tables: list,
    context: ReleaseContext,
    snapshot: tuple[Release, HistoryMark] | None,
) -> str:
    """One transaction: the release protected on ``snapshot`` (a release and the history mark it saw),
    unless the history moved meanwhile (``_HistoryMoved``), or protected now, under the lock."""
    data_version = context.data_version
    policy = service.policy
    limits = {
        organisation_scope(requester.organisation_id): float(policy.budgets.rho_per_organisation),
        GLOBAL_SCOPE: float(policy.budgets.rho_global),
    }
    history = service.history
    with service.db.write() as session:
        head = audit.lock_head(session)
        leases.require_lease(session, run_id, service.lease_owner)  # never after a reaper failed it
        # again under the chain lock (which serialises releases, hence quote use): a quote used
        # meanwhile fails the run the same whether or not protect would refuse it
        check_quote_usable(session, requester, prepared)
        requested_at = session.get_one(QueryRun, run_id).created_at
        history.refresh(session, data_version)
        stores = HistoryStores(history, session)
        if snapshot is None:
            release = protect(tables, policy, context, stores)
        else:
            release, mark = snapshot
            moved = history.changes_since(data_version, mark, release.relied_on, release.fingerprints)
            drawn = stores.drawn_already(data_version, (key for key, _ in release.changes.noise_draws))
            if moved or drawn:
                raise _HistoryMoved
        release_id = new_id("rel")
        sequence = head.last_sequence + 1
        record = ReleaseRecord(
            id=release_id,
            run_id=run_id,
            organisation_id=requester.organisation_id,
            key_id=requester.key_id,
            query_hash=prepared.query_hash,
            data_version=data_version,
            policy_version=policy.version,
            tables_json=json.dumps([public_table(t) for t in release.tables], ensure_ascii=False),
            report_json=canonical_json(release.report.customer_view()),
            price=Decimal("0.00"),
            currency=prepared.quote.currency,
            rho_spent=float(release.rho_spent),
            audit_sequence=sequence,
            created_at=utcnow(),
            saved_definitions_json=canonical_json(list(prepared.saved_definitions))
            if prepared.saved_definitions
            else None,
        )
        session.add(record)
        session.flush()
        rho = stores.persist(data_version, release.changes, release_id, limits)
        invoice_line = None
        if not prepared.public:
            line = charge_release(
                session,
                organisation_id=requester.organisation_id,
                release_id=release_id,
                shape=prepared.priced,
                segment=prepared.segment,
                description=f"{prepared.priced.result_kind} analysis, release {release_id}",
                price_list=service.price_list,
                quote_id=prepared.quote_id,
                order_id=prepared.order_id,
                # Dated when the question was asked, not when protection finished: the line's and the
                # quote's timestamps are shown to the customer and must not time disclosure control.
                now=requested_at,
                outcome=charging.release_outcome(release.tables),  # full, total only or fully suppressed
            )
            record.price = line.net_amount
            record.invoice_line_ref = str(line.id)
            invoice_line = {
                "id": line.id,
                "net_amount": str(line.net_amount),
                "currency": "DKK",
                "description": line.description,
            }
        entry = audit.append(
            session,
            actor=requester.actor,
            organisation_id=requester.organisation_id,
            action="release",
            query_hash=prepared.query_hash,
            payload=with_saved_definitions(
                prepared,
                {
                    "release_id": release_id,
                    "run_id": run_id,
                    "key_id": requester.key_id,
                    "key_organisation_id": requester.key_organisation_id,
                    "role": requester.role,
                    "query": prepared.canonical,
                    "data_version": data_version,
                    "policy_version": policy.version,
                    "invoice_line": invoice_line,
                    "rho_spent": rho,
                    "released_values": [[row.value for row in table.rows] for table in release.tables],
                    "report": release.report.auditor_view(),
                },
            ),
        )
        if entry.sequence != sequence:  # the chain moved under us: impossible while we hold the lock
            raise RuntimeError("audit chain head moved during a release")
        _alert_on_repetition(service, session, run_id, requester, prepared, data_version)
        run = session.get_one(QueryRun, run_id)
        run.status = "released"
        run.release_id = release_id
        run.finished_at = utcnow()
    return release_id


def _alert_on_repetition(
    service: Service, session: Any, run_id: str, requester: Requester, prepared: Prepared, data_version: str
) -> None:
    """Repeated near-identical releases to one organisation raise an alert for review in the audit log
    (i2b2-style review, not a silent lockout); the release itself is unaffected."""
    from sqlalchemy import func, select

    threshold = service.settings.repeat_alert_threshold
    if threshold <= 0:
        return
    semantic = semantic_hash_of(prepared.canonical)
    released = session.execute(
        select(func.count())
        .select_from(QueryRun)
        .join(ReleaseRecord, ReleaseRecord.run_id == QueryRun.id)
        .where(
            QueryRun.organisation_id == requester.organisation_id,
            QueryRun.semantic_hash == semantic,
            ReleaseRecord.data_version == data_version,
        )
    ).scalar_one()
    if released >= threshold:  # this release included (its row is already in the transaction)
        audit.append(
            session,
            actor="statservice",
            organisation_id=requester.organisation_id,
            action="alert.repeated_query",
            query_hash=prepared.query_hash,
            payload={
                "run_id": run_id,
                "semantic_hash": semantic,
                "releases_of_this_query": released,
                "threshold": threshold,
                "data_version": data_version,
            },
        )


def run_status(service: Service, run_id: str) -> QueryRun | None:
    with service.db.session() as session:
        return session.get(QueryRun, run_id)


def mark_interrupted_runs(service: Service, now: dt.datetime | None = None) -> int:
    """Fail the unfinished runs whose lease expired before ``now``: their process died or stalled
    (nothing was released for them: a release commits atomically with its run's status, under the
    lease fence). Runs another live process holds are left alone."""
    return len(leases.reap_expired(service.db, now))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
