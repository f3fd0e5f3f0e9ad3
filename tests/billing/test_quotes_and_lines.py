"""Quotes and invoice lines, against SQLite and PostgreSQL."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from billing.errors import (
    Conflict,
    InvalidBillingInput,
    NotFound,
    QuoteAlreadyUsed,
    QuoteExpired,
    QuoteMismatch,
)
from billing.ledger import InvoiceLinePublic, charge_release, record_invoice_line, uninvoiced_lines
from billing.models import InvoiceLine, IssuedQuote
from billing.pricing import PricedShape, PriceList, ReleaseOutcome
from billing.quotes import IssuedQuotePublic, get_quote, issue_quote, list_quotes
from tests.billing.concurrency import warm_pool

SHAPE = PricedShape("cohort_count", registers=2, cells=40, differential_privacy=True)
ISSUED = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


def test_quote_is_stored_with_price_privacy_cost_and_28_day_validity(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "start_up", 0.05, now=ISSUED)
    billing_session.commit()
    expected = PriceList.load().quote(SHAPE, "start_up")
    stored = get_quote(billing_session, quote.id, "org-a")
    assert stored.net_amount == expected.net_amount
    assert stored.gross_amount == expected.gross_amount
    assert stored.privacy_rho == pytest.approx(0.05)
    assert stored.valid_until == date(2026, 3, 29)
    assert stored.created_at == ISSUED and stored.created_at.tzinfo is not None
    public = IssuedQuotePublic.model_validate(stored)
    assert public.model_dump(mode="json")["net_amount"] == str(expected.net_amount)


def test_another_organisations_quote_is_not_found(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=ISSUED)
    with pytest.raises(NotFound):
        get_quote(billing_session, quote.id, "org-b")


def test_negative_privacy_cost_is_invalid(billing_session):
    with pytest.raises(InvalidBillingInput):
        issue_quote(billing_session, "org-a", SHAPE, "start_up", -0.1, now=ISSUED)


def test_running_with_a_quote_charges_exactly_the_quoted_price(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", 0.01, now=ISSUED)
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="private_company",
        description="cohort count",
        quote_id=quote.id,
        now=ISSUED + timedelta(days=28, hours=10),  # last valid day
    )
    billing_session.commit()
    assert line.net_amount == quote.net_amount
    assert line.quote_id == quote.id
    refreshed = get_quote(billing_session, quote.id)
    assert refreshed.used_by_release_id == "rel-1" and refreshed.used_at is not None
    assert InvoiceLinePublic.model_validate(line).net_amount == quote.net_amount


def test_quote_keeps_its_price_when_the_price_list_changes(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    dearer = PriceList.from_mapping(
        {
            **_raw_price_list(),
            "version": "2026-2",
        }
    )
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="private_company",
        description="x",
        quote_id=quote.id,
        price_list=dearer,
        now=ISSUED,
    )
    assert line.net_amount == quote.net_amount != dearer.quote(SHAPE, "private_company").net_amount


def _raw_price_list():
    import tomllib
    from importlib import resources

    raw = tomllib.loads(resources.files("billing.data").joinpath("pricelist-2026-1.toml").read_text())
    raw["result_kinds"]["cohort_count"]["base_fee"] = "5000.00"
    return raw


def test_expired_quote_is_409_and_charges_nothing(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    with pytest.raises(QuoteExpired) as caught:
        charge_release(
            billing_session,
            organisation_id="org-a",
            release_id="rel-1",
            shape=SHAPE,
            segment="private_company",
            description="x",
            quote_id=quote.id,
            now=ISSUED + timedelta(days=29),
        )
    assert caught.value.http_status == 409
    assert billing_session.scalar(select(func.count()).select_from(InvoiceLine)) == 0


@pytest.mark.parametrize(
    ("shape", "segment"),
    [
        (PricedShape("cohort_count", registers=3, cells=40, differential_privacy=True), "private_company"),
        (PricedShape("cohort_count", registers=2, cells=40, differential_privacy=False), "private_company"),
        (SHAPE, "public_research"),
    ],
)
def test_quote_pays_only_for_the_shape_and_segment_it_priced(billing_session, shape, segment):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    with pytest.raises(QuoteMismatch):
        charge_release(
            billing_session,
            organisation_id="org-a",
            release_id="rel-1",
            shape=shape,
            segment=segment,
            description="x",
            quote_id=quote.id,
            now=ISSUED,
        )


def test_quote_pays_for_one_run_only(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    record_invoice_line(billing_session, "org-a", "rel-1", "x", None, quote.id, now=ISSUED)
    with pytest.raises(QuoteAlreadyUsed):
        record_invoice_line(billing_session, "org-a", "rel-2", "x", None, quote.id, now=ISSUED)


def test_explicit_amount_must_equal_the_quote(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    with pytest.raises(QuoteMismatch):
        record_invoice_line(billing_session, "org-a", "rel-1", "x", Decimal("1.00"), quote.id, now=ISSUED)


def test_two_concurrent_runs_with_one_quote_charge_once(billing_sessions):
    with billing_sessions() as session:
        quote_id = issue_quote(session, "org-a", SHAPE, "private_company", None, now=ISSUED).id
        session.commit()
    warm_pool(billing_sessions.kw["bind"], 2)
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def run(release_id: str) -> None:
        with billing_sessions() as session:
            barrier.wait()
            try:
                record_invoice_line(session, "org-a", release_id, "x", None, quote_id, now=ISSUED)
                session.commit()
                outcomes.append("charged")
            except (QuoteAlreadyUsed, IntegrityError):
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=run, args=(f"rel-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["charged", "refused"]
    with billing_sessions() as session:
        assert session.scalar(select(func.count()).select_from(InvoiceLine)) == 1


def test_release_charged_once(billing_session):
    record_invoice_line(billing_session, "org-a", "rel-1", "x", Decimal("10.00"), now=ISSUED)
    with pytest.raises(Conflict):
        record_invoice_line(billing_session, "org-a", "rel-1", "x", Decimal("10.00"), now=ISSUED)


def test_without_quote_charges_todays_list_price(billing_session):
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="public_research",
        description="x",
        now=ISSUED,
    )
    assert line.net_amount == PriceList.load().quote(SHAPE, "public_research").net_amount


def test_refused_release_leaves_no_line(billing_session):
    """The service writes the line in the release transaction; a refusal rolls it all back."""

    class ReleaseRefusedForTest(Exception):
        pass

    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    billing_session.commit()
    with pytest.raises(ReleaseRefusedForTest), billing_session.begin():
        record_invoice_line(billing_session, "org-a", "rel-1", "x", None, quote.id, now=ISSUED)
        raise ReleaseRefusedForTest
    assert billing_session.scalar(select(func.count()).select_from(InvoiceLine)) == 0
    # the quote is still unused, so the customer can run again at the quoted price
    assert billing_session.get(IssuedQuote, quote.id).used_at is None


@pytest.mark.parametrize("amount", [Decimal("-1.00"), Decimal("1.001"), 12.5, Decimal("NaN")])
def test_line_amount_must_be_whole_ore_decimal(billing_session, amount):
    with pytest.raises(InvalidBillingInput):
        record_invoice_line(billing_session, "org-a", "rel-1", "x", amount, now=ISSUED)


def test_amounts_round_trip_exactly(billing_session):
    amount = Decimal("123456789012.34")
    record_invoice_line(billing_session, "org-a", "rel-1", "big", amount, now=ISSUED)
    billing_session.commit()
    billing_session.expire_all()
    (line,) = uninvoiced_lines(billing_session, "org-a")
    assert line.net_amount == amount
    assert line.created_at == ISSUED


def test_list_quotes_in_date_order(billing_session):
    later = issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=ISSUED + timedelta(days=1))
    earlier = issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=ISSUED)
    issue_quote(billing_session, "org-b", SHAPE, "start_up", None, now=ISSUED)
    assert [quote.id for quote in list_quotes(billing_session, "org-a")] == [earlier.id, later.id]


def test_naive_timestamps_are_refused(billing_session):
    naive = datetime(2026, 3, 1, 12, 0)
    with pytest.raises(InvalidBillingInput, match="timezone-aware"):
        record_invoice_line(billing_session, "org-a", "rel-1", "x", Decimal("1.00"), now=naive)
    with pytest.raises(InvalidBillingInput, match="timezone-aware"):
        issue_quote(billing_session, "org-a", SHAPE, "start_up", None, now=naive)


# --- reduced prices: the release's outcome picks the price the quote or price list states ------------


def test_a_quote_states_its_reduced_prices_and_a_suppressed_run_pays_one(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", 0.125, now=ISSUED)
    public = IssuedQuotePublic.model_validate(quote).model_dump(mode="json")
    listed = PriceList.load().quote(SHAPE, "private_company")
    assert {r["outcome"]: r["net_amount"] for r in public["reduced_prices"]} == {
        "fully_suppressed": "900.00",  # the base fee of cohort_count, × 1.00
        "total_only": str(listed.net_amount_for(ReleaseOutcome.TOTAL_ONLY)),
    }
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="private_company",
        description="cohort_count analysis, release rel-1",
        quote_id=quote.id,
        now=ISSUED,
        outcome=ReleaseOutcome.FULLY_SUPPRESSED,
    )
    billing_session.commit()
    assert line.net_amount == line.unit_price == Decimal("900.00") < quote.net_amount
    assert line.description == "cohort_count analysis, release rel-1; fully suppressed: base fee only"
    assert line.quote_id == quote.id and get_quote(billing_session, quote.id).used_by_release_id == "rel-1"


@pytest.mark.parametrize(
    ("outcome", "suffix"),
    [
        (ReleaseOutcome.FULL, None),
        (ReleaseOutcome.TOTAL_ONLY, "; total only: no table size fee"),
        ("fully_suppressed", "; fully suppressed: base fee only"),  # the enum's value is accepted too
    ],
)
def test_a_run_without_a_quote_pays_the_list_price_of_its_outcome(billing_session, outcome, suffix):
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="start_up",
        description="cohort_count analysis",
        now=ISSUED,
        outcome=outcome,
    )
    expected = PriceList.load().quote(SHAPE, "start_up").net_amount_for(ReleaseOutcome(outcome))
    assert line.net_amount == expected
    assert line.description == "cohort_count analysis" + (suffix or "")


def test_a_quote_under_a_list_without_reduced_prices_pays_its_full_price(billing_session):
    older = PriceList.load("2026-1")
    quote = issue_quote(
        billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED, price_list=older
    )
    assert IssuedQuotePublic.model_validate(quote).reduced_prices == []
    line = charge_release(
        billing_session,
        organisation_id="org-a",
        release_id="rel-1",
        shape=SHAPE,
        segment="private_company",
        description="cohort_count analysis",
        quote_id=quote.id,
        now=ISSUED,
        outcome=ReleaseOutcome.FULLY_SUPPRESSED,
    )
    assert line.net_amount == quote.net_amount == older.quote(SHAPE, "private_company").net_amount
    assert line.description == "cohort_count analysis"


def test_a_quote_accepts_only_the_amounts_it_states(billing_session):
    quote = issue_quote(billing_session, "org-a", SHAPE, "private_company", None, now=ISSUED)
    with pytest.raises(QuoteMismatch):
        record_invoice_line(billing_session, "org-a", "rel-1", "x", Decimal("1.00"), quote.id, now=ISSUED)
    assert get_quote(billing_session, quote.id).used_at is None
    line = record_invoice_line(
        billing_session, "org-a", "rel-1", "x", Decimal("900.00"), quote.id, now=ISSUED
    )
    assert line.net_amount == Decimal("900.00")


def test_an_unknown_outcome_is_invalid_and_charges_nothing(billing_session):
    with pytest.raises(ValueError, match="partly"):
        charge_release(
            billing_session,
            organisation_id="org-a",
            release_id="rel-1",
            shape=SHAPE,
            segment="start_up",
            description="x",
            now=ISSUED,
            outcome="partly",
        )
    assert billing_session.scalar(select(func.count()).select_from(InvoiceLine)) == 0
