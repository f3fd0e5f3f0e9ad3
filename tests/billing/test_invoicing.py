"""Monthly invoices, gapless numbering under concurrency, credit notes, immutability."""

import threading
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from billing.errors import AlreadyInvoiced, Conflict, InvalidBillingInput, NotFound
from billing.invoicing import (
    InvoicePublic,
    get_invoice,
    get_invoice_by_number,
    invoices_for_month,
    issue_credit_note,
    issue_monthly_invoices,
    set_billing_account,
)
from billing.ledger import record_invoice_line
from billing.models import CreditNote, Invoice, InvoiceLine, InvoiceNumberSequence
from billing.money import vat_on
from tests.billing.concurrency import warm_pool

MARCH = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
APRIL_1 = date(2026, 4, 1)


def add_line(session, organisation_id, amount, *, when=MARCH, release_id=None):
    return record_invoice_line(
        session, organisation_id, release_id, f"analysis for {organisation_id}", Decimal(amount), now=when
    )


def test_one_invoice_per_organisation_with_its_lines_and_vat_on_the_total(billing_session):
    add_line(billing_session, "org-a", "100.01", release_id="r1")
    add_line(billing_session, "org-a", "100.01", release_id="r2")
    add_line(billing_session, "org-b", "50.00", release_id="r3")
    invoices = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    billing_session.commit()
    assert [(invoice.organisation_id, invoice.number) for invoice in invoices] == [("org-a", 1), ("org-b", 2)]
    first = invoices[0]
    assert first.net_total == Decimal("200.02")
    # VAT on the total: 50.005 → 50.01; per line it would be 2 × 25.0025 → 2 × 25.00 = 50.00
    assert first.vat_amount == Decimal("50.01")
    assert first.gross_total == Decimal("250.03")
    assert first.due_date == APRIL_1 + timedelta(days=30)
    assert first.display_number == "F0000001"
    assert [line.release_id for line in first.lines] == ["r1", "r2"]
    public = InvoicePublic.model_validate(first).model_dump(mode="json")
    assert public["gross_total"] == "250.03" and len(public["lines"]) == 2


def test_lines_after_the_month_wait_for_the_next_invoice(billing_session):
    add_line(billing_session, "org-a", "10.00", when=datetime(2026, 3, 31, 23, 59, 59, tzinfo=UTC))
    add_line(billing_session, "org-a", "20.00", when=datetime(2026, 4, 1, 0, 0, tzinfo=UTC))
    (march,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    assert march.net_total == Decimal("10.00")
    (april,) = issue_monthly_invoices(billing_session, 2026, 4, issue_date=date(2026, 5, 1))
    assert april.net_total == Decimal("20.00")


def test_running_twice_bills_no_line_twice(billing_session):
    add_line(billing_session, "org-a", "10.00")
    assert len(issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)) == 1
    assert issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1) == []
    # a late line (committed after the first run) gets a supplementary invoice for the same month
    add_line(billing_session, "org-a", "5.00")
    (late,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 4, 2))
    assert late.number == 2 and late.net_total == Decimal("5.00")
    assert len(invoices_for_month(billing_session, "org-a", 2026, 3)) == 2


def test_a_month_is_invoiced_only_after_it_ends(billing_session):
    with pytest.raises(InvalidBillingInput):
        issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 3, 31))
    with pytest.raises(InvalidBillingInput):
        issue_monthly_invoices(billing_session, 2026, 13, issue_date=APRIL_1)


def test_buyer_details_are_copied_onto_the_invoice(billing_session):
    set_billing_account(billing_session, "org-a", "Novo Analyse A/S", cvr="24256790", city="Bagsværd")
    add_line(billing_session, "org-a", "10.00")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    set_billing_account(billing_session, "org-a", "Renamed A/S", cvr="24256790")
    billing_session.commit()
    billing_session.expire_all()
    assert get_invoice(billing_session, invoice.id).buyer["legal_name"] == "Novo Analyse A/S"
    with pytest.raises(InvalidBillingInput):
        set_billing_account(billing_session, "org-a", "X", cvr="123")


def test_issued_invoice_and_its_lines_are_immutable(billing_session):
    add_line(billing_session, "org-a", "10.00")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    billing_session.commit()

    invoice.net_total = Decimal("1.00")
    with pytest.raises(AlreadyInvoiced) as caught:
        billing_session.flush()
    assert caught.value.http_status == 409
    billing_session.rollback()

    invoice.lines[0].net_amount = Decimal("1.00")
    with pytest.raises(AlreadyInvoiced):
        billing_session.flush()
    billing_session.rollback()

    billing_session.delete(invoice)
    with pytest.raises(AlreadyInvoiced):
        billing_session.flush()
    billing_session.rollback()
    assert get_invoice(billing_session, invoice.id).net_total == Decimal("10.00")


def test_credit_notes_have_their_own_numbers_and_net_a_full_credit_to_zero(billing_session):
    add_line(billing_session, "org-a", "333.33")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    first = issue_credit_note(
        billing_session, invoice.id, "wrong segment", net_amount=Decimal("111.11"), issue_date=APRIL_1
    )
    second = issue_credit_note(billing_session, invoice.id, "cancelled", issue_date=APRIL_1)
    billing_session.commit()
    assert (first.display_number, second.display_number) == ("K0000001", "K0000002")
    assert first.vat_amount == vat_on(Decimal("111.11"))
    assert second.net_total == Decimal("222.22")
    assert first.net_total + second.net_total == invoice.net_total
    assert first.vat_amount + second.vat_amount == invoice.vat_amount
    assert first.gross_total + second.gross_total == invoice.gross_total
    # the invoice itself is untouched
    assert get_invoice(billing_session, invoice.id).net_total == Decimal("333.33")
    with pytest.raises(Conflict):
        issue_credit_note(billing_session, invoice.id, "again", net_amount=Decimal("0.01"))


def test_credit_note_validation(billing_session):
    add_line(billing_session, "org-a", "10.00")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    with pytest.raises(Conflict):
        issue_credit_note(billing_session, invoice.id, "too much", net_amount=Decimal("10.01"))
    with pytest.raises(InvalidBillingInput):
        issue_credit_note(billing_session, invoice.id, "negative", net_amount=Decimal("-1.00"))
    with pytest.raises(InvalidBillingInput):
        issue_credit_note(billing_session, invoice.id, " ")
    with pytest.raises(NotFound):
        issue_credit_note(billing_session, invoice.id, "not yours", organisation_id="org-b")
    with pytest.raises(NotFound):
        issue_credit_note(billing_session, 999_999, "missing")


def test_lookup_by_display_number(billing_session):
    add_line(billing_session, "org-a", "10.00")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    assert get_invoice_by_number(billing_session, "F0000001", "org-a").id == invoice.id
    for wrong in ("F1", "K0000001", "F0000002"):
        with pytest.raises(NotFound):
            get_invoice_by_number(billing_session, wrong)
    with pytest.raises(NotFound):
        get_invoice_by_number(billing_session, "F0000001", "org-b")


def test_rolled_back_invoicing_returns_its_number(billing_session):
    add_line(billing_session, "org-a", "10.00")
    billing_session.commit()
    issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    billing_session.rollback()
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    assert invoice.number == 1


invoicing_plans = st.lists(st.tuples(st.sampled_from([1, 2, 3]), st.booleans()), min_size=2, max_size=6)


@pytest.mark.slow
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=invoicing_plans)
def test_gapless_numbers_and_no_double_billing_under_concurrent_invoicing(billing_sessions, plan):
    """Threads invoice months 1-3 at the same time; some commit, some roll back.

    Whatever the interleaving: invoice numbers stay 1..n without gaps or duplicates (across all
    examples so far, since they share the database), every line of a month some thread committed is on
    exactly one invoice, and lines of months nobody committed are still uninvoiced.
    """
    run = uuid.uuid4().hex[:8]  # this example's organisations, apart from earlier examples'
    organisations = [f"org-{run}-{n}" for n in range(4)]
    with billing_sessions() as session:
        for month in (1, 2, 3):
            for organisation in organisations:
                add_line(session, organisation, "10.00", when=datetime(2026, month, 5, tzinfo=UTC))
        session.commit()
    warm_pool(billing_sessions.kw["bind"], len(plan))
    barrier = threading.Barrier(len(plan))
    errors: list[BaseException] = []

    def invoice(month: int, commit: bool) -> None:
        try:
            with billing_sessions() as session:
                barrier.wait()
                issue_monthly_invoices(session, 2026, month, issue_date=date(2026, 4, 1))
                session.commit() if commit else session.rollback()
        except BaseException as error:  # collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=invoice, args=step) for step in plan]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    # a committed run for month m invoices every line up to the end of m, so the latest committed
    # month decides which of this example's lines are billed
    committed_up_to = max((month for month, commit in plan if commit), default=0)
    with billing_sessions() as session:
        numbers = sorted(session.scalars(select(Invoice.number)))
        assert numbers == list(range(1, len(numbers) + 1))
        assert session.get(InvoiceNumberSequence, "invoice").next_number == len(numbers) + 1
        ours = session.scalars(
            select(InvoiceLine).where(InvoiceLine.organisation_id.in_(organisations))
        ).all()
        for line in ours:
            should_be_billed = line.created_at.month <= committed_up_to
            assert (line.invoice_id is not None) == should_be_billed, (line.created_at, plan)
        billed = [line for line in ours if line.invoice_id is not None]
        on_invoices = session.scalars(
            select(func.count())
            .select_from(InvoiceLine)
            .join(Invoice)
            .where(Invoice.organisation_id.in_(organisations))
        ).one()
        assert on_invoices == len(billed) == 4 * committed_up_to


@pytest.mark.slow
def test_concurrent_credit_notes_are_numbered_gaplessly_and_never_over_credit(billing_sessions):
    with billing_sessions() as session:
        add_line(session, "org-a", "100.00")
        (invoice,) = issue_monthly_invoices(session, 2026, 3, issue_date=APRIL_1)
        session.commit()
        invoice_id = invoice.id
    warm_pool(billing_sessions.kw["bind"], 6)
    barrier = threading.Barrier(6)
    outcomes: list[str] = []

    def credit() -> None:
        with billing_sessions() as session:
            barrier.wait()
            try:
                issue_credit_note(session, invoice_id, "partial", net_amount=Decimal("30.00"))
                session.commit()
                outcomes.append("credited")
            except Conflict:
                session.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=credit) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["credited"] * 3 + ["refused"] * 3
    with billing_sessions() as session:
        assert sorted(session.scalars(select(CreditNote.number))) == [1, 2, 3]


amounts = st.lists(
    st.decimals(min_value=0, max_value=100_000, places=2, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(line_amounts=amounts)
def test_invoice_total_is_sum_of_lines_plus_vat_on_that_sum(billing_session, line_amounts):
    billing_session.execute(delete(InvoiceLine).where(InvoiceLine.invoice_id.is_(None)))
    for amount in line_amounts:
        add_line(billing_session, "org-p", str(amount))
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1, organisation_id="org-p")
    net = sum(line_amounts, Decimal("0.00"))
    assert invoice.net_total == net == sum(line.net_amount for line in invoice.lines)
    assert invoice.vat_amount == vat_on(net)
    assert abs(invoice.vat_amount - net * Decimal("0.25")) <= Decimal("0.005")
    assert invoice.gross_total == invoice.net_total + invoice.vat_amount
    billing_session.rollback()


# --- issue dates (issue 15, item 9) ----------------------------------------------------------------

DECEMBER_6 = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def test_a_month_is_invoiced_only_after_it_has_ended_and_never_on_a_future_date(billing_session):
    add_line(billing_session, "org-a", "100.00", when=datetime(2026, 12, 2, 9, 0, tzinfo=UTC))
    # on 6 December, December's invoice cannot be dated in January to get past the month check
    with pytest.raises(InvalidBillingInput) as future:
        issue_monthly_invoices(billing_session, 2026, 12, issue_date=date(2027, 1, 4), now=DECEMBER_6)
    assert future.value.field == "issue_date" and "future" in future.value.message
    assert future.value.valid == "a date up to 2026-12-06"
    with pytest.raises(InvalidBillingInput) as early:
        issue_monthly_invoices(billing_session, 2026, 12, now=DECEMBER_6)
    assert early.value.field == "month" and "2027-01-01" in early.value.message
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 12, now=datetime(2027, 1, 4, 9, tzinfo=UTC))
    assert invoice.issue_date == date(2027, 1, 4)


def test_a_credit_note_is_never_dated_before_its_invoice_nor_in_the_future(billing_session):
    add_line(billing_session, "org-a", "100.00")
    april_10 = datetime(2026, 4, 10, 9, 0, tzinfo=UTC)
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 4, 10), now=april_10)
    with pytest.raises(Conflict) as before:
        issue_credit_note(billing_session, invoice.id, "x", issue_date=date(2026, 4, 9), now=april_10)
    assert before.value.field == "issue_date" and before.value.valid == "a date from 2026-04-10"
    # an invoice dated after today (issued before future dates were refused) cannot be credited today
    with pytest.raises(Conflict):
        issue_credit_note(billing_session, invoice.id, "x", now=datetime(2026, 4, 6, 9, 0, tzinfo=UTC))
    with pytest.raises(InvalidBillingInput) as future:
        issue_credit_note(billing_session, invoice.id, "x", issue_date=date(2026, 4, 21), now=april_10)
    assert future.value.field == "issue_date"
    note = issue_credit_note(
        billing_session, invoice.id, "goodwill", net_amount=Decimal("1.00"), now=april_10 + timedelta(days=10)
    )
    assert note.issue_date == date(2026, 4, 20)
    assert (
        issue_credit_note(billing_session, invoice.id, "same day", now=april_10).issue_date
        == invoice.issue_date
    )


# --- buyer identifiers (issue 15, item 8) ----------------------------------------------------------


@pytest.mark.parametrize("cvr", ["12345678", "31119104", "3111910", "3111910a"])
def test_a_cvr_that_fails_the_modulus_11_check_is_refused(billing_session, cvr):
    with pytest.raises(InvalidBillingInput) as refused:
        set_billing_account(billing_session, "org-a", "Mistyped ApS", cvr=cvr)
    assert refused.value.field == "cvr" and "modulus-11" in refused.value.valid


def test_an_ean_is_checked_by_its_gs1_check_digit_and_copied_onto_the_invoice(billing_session):
    for ean in ("5798000416605", "579800041660", "57980004166041"):
        with pytest.raises(InvalidBillingInput) as refused:
            set_billing_account(billing_session, "org-a", "Region", cvr="29190623", ean=ean)
        assert refused.value.field == "ean"
    set_billing_account(billing_session, "org-a", "Region", cvr="29190623", ean="5798000416604")
    add_line(billing_session, "org-a", "10.00")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    assert invoice.buyer["ean"] == "5798000416604"


# --- one public identifier (issue 15, item 7) ------------------------------------------------------


def test_json_names_every_document_by_its_number(billing_session):
    add_line(billing_session, "org-a", "100.00", release_id="r1")
    (invoice,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=APRIL_1)
    note = issue_credit_note(
        billing_session, invoice.id, "goodwill", net_amount=Decimal("1.00"), issue_date=APRIL_1
    )
    billing_session.refresh(invoice, ["credit_notes"])
    public = InvoicePublic.model_validate(invoice).model_dump(mode="json")
    assert public["id"] == "F0000001" and "number" not in public and "display_number" not in public
    assert public["lines"][0]["invoice_id"] == "F0000001"
    assert public["credit_notes"][0]["id"] == note.display_number == "K0000001"
    assert public["credit_notes"][0]["invoice_id"] == "F0000001"
    # what the JSON says reads back as the same document
    assert InvoicePublic.model_validate(public) == InvoicePublic.model_validate(invoice)
