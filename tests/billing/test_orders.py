"""The bespoke order state machine, against SQLite and PostgreSQL."""

import itertools
import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from billing.errors import (
    Conflict,
    IllegalTransition,
    InvalidBillingInput,
    NotFound,
    QuoteExpired,
    QuoteMismatch,
    UnknownSegment,
)
from billing.invoicing import issue_monthly_invoices
from billing.ledger import charge_release, record_invoice_line
from billing.models import Invoice, OrderEvent
from billing.orders import (
    STATES,
    TRANSITIONS,
    EstimateExceeded,
    FixedElement,
    accept_order,
    allowed_transitions,
    cancel_order,
    decline_order,
    deliver_order,
    estimate_order,
    expire_orders,
    get_order,
    invoice_order,
    list_orders,
    log_hours,
    order_public,
    request_order,
    start_order,
)
from billing.pricing import PricedShape, PriceList, ReleaseOutcome
from tests.billing.concurrency import warm_pool

T0 = datetime(2026, 5, 4, 9, 0, tzinfo=UTC)
SHAPE = PricedShape("incidence_prevalence", registers=3, cells=300, differential_privacy=False)


def new_order(session, organisation_id="org-pharma", segment="private_company"):
    return request_order(
        session,
        organisation_id,
        segment,
        "GLP-1 uptake after MI",
        "Uptake of GLP-1 agonists within a year of first MI, by region and sex, 2019-2024.",
        actor="alice@pharma",
        draft_query={"index": {"concept": {"type": "diagnosis", "codes": ["DI21"]}}},
        now=T0,
    )


def run_to_in_progress(session, order, hours=Decimal("6.50")):
    estimate_order(
        session,
        order.id,
        "staff:bo",
        hours,
        [FixedElement("Data management plan review", Decimal("1500.00"))],
        now=T0 + timedelta(hours=1),
    )
    accept_order(session, order.id, "alice@pharma", now=T0 + timedelta(days=2))
    start_order(session, order.id, "staff:bo", now=T0 + timedelta(days=3))


def test_full_workflow_ends_in_one_invoice_for_the_whole_order(billing_session):
    order = new_order(billing_session)
    quote = estimate_order(
        billing_session,
        order.id,
        "staff:bo",
        Decimal("6.50"),
        [FixedElement("Data management plan review", Decimal("1500.00"))],
        now=T0 + timedelta(hours=1),
    )
    # 6.5 h × 2299 = 14943.50, + 1500 fixed
    assert quote.net_amount == Decimal("16443.50")
    assert quote.valid_until == date(2026, 6, 1)
    assert quote.kind == "order" and quote.order_id == order.id
    accept_order(billing_session, order.id, "alice@pharma", now=T0 + timedelta(days=2))
    start_order(billing_session, order.id, "staff:bo", now=T0 + timedelta(days=3))
    log_hours(
        billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("4.00"), now=T0 + timedelta(days=3)
    )
    log_hours(
        billing_session, order.id, "staff:eva", date(2026, 5, 8), Decimal("2.50"), now=T0 + timedelta(days=4)
    )
    release_line = charge_release(
        billing_session,
        organisation_id="org-pharma",
        release_id="rel-77",
        shape=SHAPE,
        segment="private_company",
        description="incidence of MI",
        order_id=order.id,
        now=T0 + timedelta(days=4),
    )
    deliver_order(billing_session, order.id, "staff:bo", now=T0 + timedelta(days=5))
    # an order's releases are not on the monthly invoice
    assert issue_monthly_invoices(billing_session, 2026, 5, issue_date=date(2026, 6, 1)) == []
    invoice = invoice_order(
        billing_session, order.id, "staff:bo", issue_date=date(2026, 5, 12), now=T0 + timedelta(days=8)
    )
    billing_session.commit()

    assert invoice.order_id == order.id
    by_kind = {line.kind: line for line in invoice.lines}
    assert by_kind["staff_hours"].quantity == Decimal("6.50")
    assert by_kind["staff_hours"].unit_price == Decimal("2299.00")
    assert by_kind["staff_hours"].net_amount == Decimal("14943.50")
    assert by_kind["fixed_element"].net_amount == Decimal("1500.00")
    assert by_kind["release"].id == release_line.id
    assert invoice.net_total == Decimal("14943.50") + Decimal("1500.00") + release_line.net_amount
    assert get_order(billing_session, order.id).state == "invoiced"
    public = order_public(billing_session, get_order(billing_session, order.id))
    assert public.invoice_id == invoice.display_number == "F0000001"
    assert public.release_ids == ["rel-77"]
    assert public.logged_hours == Decimal("6.50")
    assert public.allowed_transitions == []
    assert [(event.from_state, event.to_state) for event in public.events] == [
        (None, "requested"),
        ("requested", "estimated"),
        ("estimated", "accepted"),
        ("accepted", "in_progress"),
        ("in_progress", "delivered"),
        ("delivered", "invoiced"),
    ]
    assert [event.actor for event in public.events][:3] == ["alice@pharma", "staff:bo", "alice@pharma"]
    assert all(event.occurred_at.tzinfo is not None for event in public.events)


def test_illegal_transition_names_the_allowed_ones(billing_session):
    order = new_order(billing_session)
    with pytest.raises(IllegalTransition) as caught:
        start_order(billing_session, order.id, "staff:bo")
    error = caught.value
    assert error.http_status == 409
    assert (error.current, error.requested) == ("requested", "in_progress")
    assert error.allowed == ["cancelled", "declined", "estimated"]
    assert "estimated" in str(error)
    # nothing was recorded for the refused transition
    events = billing_session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)).all()
    assert [event.to_state for event in events] == ["requested"]


def test_accepting_an_expired_estimate_is_409_and_staff_can_re_estimate(billing_session):
    order = new_order(billing_session)
    estimate_order(billing_session, order.id, "staff:bo", Decimal("2.00"), now=T0)
    with pytest.raises(QuoteExpired):
        accept_order(billing_session, order.id, "alice@pharma", now=T0 + timedelta(days=29))
    assert [o.id for o in expire_orders(billing_session, (T0 + timedelta(days=29)).date())] == [order.id]
    assert get_order(billing_session, order.id).state == "expired"
    # expiry is idempotent
    assert expire_orders(billing_session, (T0 + timedelta(days=30)).date()) == []
    estimate_order(billing_session, order.id, "staff:bo", Decimal("3.00"), now=T0 + timedelta(days=30))
    accept_order(billing_session, order.id, "alice@pharma", now=T0 + timedelta(days=31))
    assert get_order(billing_session, order.id).state == "accepted"


def test_last_valid_day_of_an_estimate_can_still_be_accepted(billing_session):
    order = new_order(billing_session)
    estimate_order(billing_session, order.id, "staff:bo", Decimal("2.00"), now=T0)
    accept_order(billing_session, order.id, "alice@pharma", now=T0 + timedelta(days=28, hours=14))
    assert get_order(billing_session, order.id).state == "accepted"


def test_decline_and_cancel_are_final(billing_session):
    declined = new_order(billing_session)
    decline_order(billing_session, declined.id, "staff:bo", "cells would be below k in every stratum")
    cancelled = new_order(billing_session)
    cancel_order(billing_session, cancelled.id, "alice@pharma", organisation_id="org-pharma")
    for order in (declined, cancelled):
        with pytest.raises(IllegalTransition) as caught:
            estimate_order(billing_session, order.id, "staff:bo", Decimal("1.00"))
        assert caught.value.allowed == []


def test_customers_cannot_touch_other_organisations_orders(billing_session):
    order = new_order(billing_session)
    with pytest.raises(NotFound):
        get_order(billing_session, order.id, "org-other")
    with pytest.raises(NotFound):
        cancel_order(billing_session, order.id, "mallory", organisation_id="org-other")
    assert list_orders(billing_session, "org-other") == []
    assert [o.id for o in list_orders(billing_session, "org-pharma")] == [order.id]


def test_hours_are_logged_only_in_progress_and_validated(billing_session):
    order = new_order(billing_session)
    with pytest.raises(IllegalTransition):
        log_hours(
            billing_session,
            order.id,
            "staff:bo",
            date(2026, 5, 5),
            Decimal("1.00"),
            now=T0 + timedelta(days=3),
        )
    run_to_in_progress(billing_session, order, hours=Decimal("30.00"))
    for bad in (Decimal("0"), Decimal("-1"), Decimal("24.01"), Decimal("1.001"), 1.5):
        with pytest.raises(InvalidBillingInput):
            log_hours(
                billing_session, order.id, "staff:bo", date(2026, 5, 5), bad, now=T0 + timedelta(days=3)
            )
    log_hours(
        billing_session, order.id, "staff:bo", date(2026, 5, 5), Decimal("24.00"), now=T0 + timedelta(days=3)
    )


def test_releases_attach_only_to_an_order_in_progress_of_the_same_organisation(billing_session):
    order = new_order(billing_session)
    with pytest.raises(Conflict):
        record_invoice_line(billing_session, "org-pharma", "rel-1", "x", Decimal("10.00"), order_id=order.id)
    run_to_in_progress(billing_session, order)
    with pytest.raises(NotFound):
        record_invoice_line(billing_session, "org-other", "rel-1", "x", Decimal("10.00"), order_id=order.id)
    record_invoice_line(billing_session, "org-pharma", "rel-1", "x", Decimal("10.00"), order_id=order.id)


def test_an_order_estimate_cannot_pay_for_a_query_run(billing_session):
    order = new_order(billing_session)
    estimate = estimate_order(billing_session, order.id, "staff:bo", Decimal("1.00"), now=T0)
    with pytest.raises(QuoteMismatch):
        record_invoice_line(billing_session, "org-pharma", "rel-1", "x", None, estimate.id, now=T0)


def test_invalid_requests_and_estimates(billing_session):
    with pytest.raises(UnknownSegment):
        new_order(billing_session, segment="oligarch")
    with pytest.raises(InvalidBillingInput):
        request_order(billing_session, "org-a", "start_up", " ", "text", actor="a")
    order = new_order(billing_session)
    with pytest.raises(InvalidBillingInput):
        estimate_order(billing_session, order.id, "staff:bo", Decimal("0"))
    with pytest.raises(InvalidBillingInput):
        estimate_order(
            billing_session, order.id, "staff:bo", Decimal("1"), [FixedElement("x", Decimal("1.001"))]
        )
    with pytest.raises(InvalidBillingInput):
        estimate_order(billing_session, order.id, "", Decimal("1.00"))


def test_segment_rate_is_fixed_at_estimate_time(billing_session):
    order = new_order(billing_session, segment="public_research")
    estimate_order(billing_session, order.id, "staff:bo", Decimal("2.00"), now=T0)
    accept_order(billing_session, order.id, "alice", now=T0)
    start_order(billing_session, order.id, "staff:bo", now=T0)
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 4), Decimal("2.00"), now=T0)
    deliver_order(billing_session, order.id, "staff:bo", now=T0)
    invoice = invoice_order(
        billing_session, order.id, "staff:bo", issue_date=date(2026, 5, 5), now=T0 + timedelta(days=1)
    )
    assert invoice.net_total == 2 * PriceList.load().hourly_rate("public_research")


def test_order_with_nothing_to_invoice_is_refused(billing_session):
    order = new_order(billing_session)
    estimate_order(billing_session, order.id, "staff:bo", Decimal("1.00"), now=T0)
    accept_order(billing_session, order.id, "alice", now=T0)
    start_order(billing_session, order.id, "staff:bo", now=T0)
    deliver_order(billing_session, order.id, "staff:bo", note="the customer withdrew the question", now=T0)
    with pytest.raises(InvalidBillingInput):
        invoice_order(billing_session, order.id, "staff:bo", now=T0)


def test_concurrent_invoicing_of_one_order_makes_one_invoice(billing_sessions):
    with billing_sessions() as session:
        order = new_order(session)
        run_to_in_progress(session, order)
        log_hours(session, order.id, "staff:bo", date(2026, 5, 7), Decimal("1.00"))
        deliver_order(session, order.id, "staff:bo")
        session.commit()
        order_id = order.id
    warm_pool(billing_sessions.kw["bind"], 4)
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def invoice() -> None:
        with billing_sessions() as session:
            barrier.wait()
            try:
                invoice_order(session, order_id, "staff:bo")
                session.commit()
                outcomes.append("invoiced")
            except IllegalTransition:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=invoice) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["invoiced", "refused", "refused", "refused"]
    with billing_sessions() as session:
        assert len(session.scalars(select(Invoice).where(Invoice.order_id == order_id)).all()) == 1


ACTIONS = {
    "estimated": lambda s, o: estimate_order(s, o, "staff", Decimal("1.00"), now=T0),
    "accepted": lambda s, o: accept_order(s, o, "customer", now=T0),
    "in_progress": lambda s, o: start_order(s, o, "staff", now=T0),
    "delivered": lambda s, o: deliver_order(s, o, "staff", now=T0),
    "invoiced": lambda s, o: invoice_order(s, o, "staff", now=T0),
    "declined": lambda s, o: decline_order(s, o, "staff", "no", now=T0),
    "cancelled": lambda s, o: cancel_order(s, o, "customer", now=T0),
}


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.sampled_from(sorted(ACTIONS)), max_size=8))
def test_any_sequence_of_actions_follows_the_transition_table(billing_session, attempts):
    order = new_order(billing_session)
    log_state = order.state
    for target in attempts:
        before = get_order(billing_session, order.id).state
        if before == "in_progress":  # within every estimate of 1.00 h these actions make
            log_hours(billing_session, order.id, "staff", date(2026, 5, 4), Decimal("0.10"), now=T0)
        # on an order in progress, estimating is a change order and accepting accepts it: no new state
        change_order = before == "in_progress" and (
            target == "estimated"
            or (target == "accepted" and get_order(billing_session, order.id).change_order)
        )
        try:
            ACTIONS[target](billing_session, order.id)
        except IllegalTransition as error:
            assert target not in TRANSITIONS[before] and not change_order
            assert error.allowed == allowed_transitions(before)
            assert get_order(billing_session, order.id).state == before
        else:
            assert target in TRANSITIONS[before] or change_order
            assert get_order(billing_session, order.id).state == (before if change_order else target)
        log_state = get_order(billing_session, order.id).state
    events = billing_session.scalars(
        select(OrderEvent).where(OrderEvent.order_id == order.id).order_by(OrderEvent.id)
    ).all()
    # the events form a chain from requested to the current state, each step allowed (change orders
    # and their acceptance are events of an order in progress that keep its state)
    assert events[0].from_state is None and events[0].to_state == "requested"
    for previous, event in itertools.pairwise(events):
        assert event.from_state == previous.to_state
        assert (
            event.to_state in TRANSITIONS[event.from_state]
            or event.to_state == event.from_state == "in_progress"
        )
    assert events[-1].to_state == log_state
    billing_session.rollback()


def test_transition_table_is_closed():
    for state, targets in TRANSITIONS.items():
        assert state in STATES and targets <= set(STATES)


def test_a_suppressed_run_on_an_order_pays_the_reduced_list_price_and_the_hours_stay(billing_session):
    order = new_order(billing_session)
    run_to_in_progress(billing_session, order)
    line = charge_release(
        billing_session,
        organisation_id="org-pharma",
        release_id="rel-suppressed",
        shape=SHAPE,
        segment="private_company",
        description="incidence_prevalence analysis",
        order_id=order.id,
        now=T0 + timedelta(days=4),
        outcome=ReleaseOutcome.FULLY_SUPPRESSED,
    )
    assert line.net_amount == Decimal("3200.00")  # incidence_prevalence's base fee, × 1.00
    assert line.description.endswith("; fully suppressed: base fee only")
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 8), Decimal("2.00"))
    deliver_order(billing_session, order.id, "staff:bo", now=T0 + timedelta(days=6))
    invoice = invoice_order(billing_session, order.id, "staff:bo", issue_date=date(2026, 5, 12))
    by_kind = {invoice_line.kind: invoice_line for invoice_line in invoice.lines}
    assert by_kind["release"].id == line.id
    assert by_kind["staff_hours"].net_amount == Decimal("4598.00")  # 2 h × 2299.00: hours as estimated
    assert invoice.net_total == Decimal("4598.00") + Decimal("1500.00") + Decimal("3200.00")


# --- work beyond the estimate (issue 15, item 10) --------------------------------------------------

STARTED = T0 + timedelta(days=3)


def accepted_four_hours(session):
    """The case reported: an accepted estimate of 4 h at the public research rate (DKK 5,060)."""
    order = new_order(session, segment="public_research")
    quote = estimate_order(session, order.id, "staff:bo", Decimal("4.00"), now=T0)
    assert quote.net_amount == Decimal("5060.00")
    accept_order(session, order.id, "alice", now=T0 + timedelta(days=1))
    start_order(session, order.id, "staff:bo", now=STARTED)
    return order


def test_hours_beyond_the_accepted_estimate_are_refused_until_a_change_order_is_accepted(billing_session):
    order = accepted_four_hours(billing_session)
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("4.00"), now=STARTED)
    with pytest.raises(EstimateExceeded) as beyond:
        log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("3.75"), now=STARTED)
    assert beyond.value.http_status == 409 and beyond.value.field == "hours"
    assert "revised estimate" in beyond.value.message and "at most 0.00" in beyond.value.valid

    # staff send a change order; until the customer accepts it, the old estimate holds
    change = estimate_order(
        billing_session, order.id, "staff:bo", Decimal("7.75"), note="more strata", now=STARTED
    )
    assert change.net_amount == Decimal("9803.75")
    public = order_public(billing_session, get_order(billing_session, order.id))
    assert public.state == "in_progress" and public.estimated_hours == Decimal("4.00")
    assert public.change_order.quote_id == change.id and public.change_order.net_amount == Decimal("9803.75")
    with pytest.raises(EstimateExceeded):
        log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("3.75"), now=STARTED)

    accept_order(billing_session, order.id, "alice", now=STARTED + timedelta(days=1))
    public = order_public(billing_session, get_order(billing_session, order.id))
    assert (public.state, public.estimated_hours, public.quote_id) == (
        "in_progress",
        Decimal("7.75"),
        change.id,
    )
    assert public.change_order is None and public.estimate_net_amount == Decimal("9803.75")
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("3.75"), now=STARTED)
    with pytest.raises(EstimateExceeded):
        log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("0.01"), now=STARTED)
    deliver_order(billing_session, order.id, "staff:bo", now=STARTED + timedelta(days=2))
    invoice = invoice_order(billing_session, order.id, "staff:bo", now=STARTED + timedelta(days=2))
    assert invoice.net_total == Decimal("9803.75")
    notes = [(event.from_state, event.to_state, event.note) for event in public.events]
    assert [(f, t) for f, t, _ in notes[-2:]] == [("in_progress", "in_progress")] * 2
    assert "more strata" in notes[-2][2] and "accepted" in notes[-1][2]


def test_a_change_order_covers_the_hours_logged_and_expires_like_an_estimate(billing_session):
    order = accepted_four_hours(billing_session)
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("3.00"), now=STARTED)
    with pytest.raises(InvalidBillingInput) as fewer:
        estimate_order(billing_session, order.id, "staff:bo", Decimal("2.00"), now=STARTED)
    assert fewer.value.field == "hours" and fewer.value.valid == "at least 3.00"
    change = estimate_order(billing_session, order.id, "staff:bo", Decimal("6.00"), now=STARTED)
    with pytest.raises(QuoteExpired):
        accept_order(
            billing_session,
            order.id,
            "alice",
            now=datetime.combine(change.valid_until, datetime.min.time(), UTC) + timedelta(days=1),
        )
    assert get_order(billing_session, order.id).estimated_hours == Decimal("4.00")
    # without a change order waiting, accepting an order in progress is still an illegal transition
    accept_order(billing_session, order.id, "alice", now=STARTED)
    with pytest.raises(IllegalTransition):
        accept_order(billing_session, order.id, "alice", now=STARTED)


def test_hours_are_not_logged_for_days_still_to_come(billing_session):
    order = accepted_four_hours(billing_session)
    with pytest.raises(InvalidBillingInput) as future:
        log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 8), Decimal("1.00"), now=STARTED)
    assert future.value.field == "work_date" and future.value.valid == "a date up to 2026-05-07"
    log_hours(billing_session, order.id, "staff:bo", date(2026, 5, 7), Decimal("1.00"), now=STARTED)


def test_delivering_without_hours_or_releases_needs_a_reason(billing_session):
    order = accepted_four_hours(billing_session)
    for note in (None, "  "):
        with pytest.raises(InvalidBillingInput) as silent:
            deliver_order(billing_session, order.id, "staff:bo", note=note, now=STARTED)
        assert silent.value.field == "note"
    assert get_order(billing_session, order.id).state == "in_progress"
    deliver_order(billing_session, order.id, "staff:bo", note="answered from an earlier release", now=STARTED)
    assert get_order(billing_session, order.id).state == "delivered"
