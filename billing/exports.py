"""Invoice and credit note exports: CSV, PDF (fpdf2) and Peppol BIS Billing 3.0 UBL 2.1 XML (lxml).

Peppol BIS Billing 3.0 is the Danish public e-invoicing format replacing OIOUBL. The UBL here carries
the mandatory elements (CustomizationID, ProfileID, ID, IssueDate, InvoiceTypeCode 380 / CreditNoteTypeCode
381, DocumentCurrencyCode, BuyerReference, both parties with electronic address, TaxTotal with one
TaxSubtotal for VAT category S at 25 %, LegalMonetaryTotal and the lines) in the UBL 2.1 schema order.
Danish parties are identified by CVR number, Peppol electronic address scheme 0184.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from fpdf import FPDF
from lxml import etree

from billing.errors import InvalidBillingInput
from billing.models import CreditNote, Invoice
from billing.money import format_dkk
from billing.seller import Seller
from billing.spreadsheet_safety import write_csv

CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
NS_INVOICE = "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"
NS_CREDIT_NOTE = "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2"
NS_CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
NS_CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CVR_SCHEME = "0184"  # Peppol EAS / ICD code for the Danish CVR number
GLN_SCHEME = "0088"  # Peppol EAS code for a GS1 GLN (the Danish EAN location number)
UNIT_ONE = "C62"  # UN/ECE rec 20: "one"
UNIT_HOUR = "HUR"
FORMATS = ("csv", "pdf", "ubl")


@dataclass(frozen=True)
class DocumentLine:
    number: int
    description: str
    quantity: Decimal
    unit_code: str
    unit_price: Decimal
    net_amount: Decimal
    release_id: str | None
    order_id: str | None


@dataclass(frozen=True)
class BillingDocument:
    """An invoice or credit note as every export sees it."""

    kind: str  # "invoice" | "credit_note"
    number: str
    issue_date: date
    due_date: date | None
    organisation_id: str
    buyer: dict[str, Any]
    seller: Seller
    currency: str
    vat_rate: Decimal
    lines: tuple[DocumentLine, ...]
    net_total: Decimal
    vat_amount: Decimal
    gross_total: Decimal
    period: tuple[date, date] | None
    note: str | None
    credited_invoice: tuple[str, date] | None  # credit notes: (invoice number, its issue date)
    order_id: str | None


def document_of_invoice(invoice: Invoice) -> BillingDocument:
    period = None
    if invoice.period_year and invoice.period_month:
        start = date(invoice.period_year, invoice.period_month, 1)
        next_month = date(start.year + start.month // 12, start.month % 12 + 1, 1)
        period = (start, date.fromordinal(next_month.toordinal() - 1))
    lines = tuple(
        DocumentLine(
            number=index,
            description=line.description,
            quantity=line.quantity,
            unit_code=UNIT_HOUR if line.kind == "staff_hours" else UNIT_ONE,
            unit_price=line.unit_price,
            net_amount=line.net_amount,
            release_id=line.release_id,
            order_id=line.order_id,
        )
        for index, line in enumerate(invoice.lines, start=1)
    )
    return BillingDocument(
        kind="invoice",
        number=invoice.display_number,
        issue_date=invoice.issue_date,
        due_date=invoice.due_date,
        organisation_id=invoice.organisation_id,
        buyer=invoice.buyer,
        seller=Seller.load(),
        currency=invoice.currency,
        vat_rate=invoice.vat_rate,
        lines=lines,
        net_total=invoice.net_total,
        vat_amount=invoice.vat_amount,
        gross_total=invoice.gross_total,
        period=period,
        note=f"Bespoke order {invoice.order_id}" if invoice.order_id else None,
        credited_invoice=None,
        order_id=invoice.order_id,
    )


def document_of_credit_note(note: CreditNote) -> BillingDocument:
    invoice = note.invoice
    line = DocumentLine(
        number=1,
        description=f"Credit of invoice {invoice.display_number}: {note.reason}",
        quantity=Decimal("1.00"),
        unit_code=UNIT_ONE,
        unit_price=note.net_total,
        net_amount=note.net_total,
        release_id=None,
        order_id=invoice.order_id,
    )
    return BillingDocument(
        kind="credit_note",
        number=note.display_number,
        issue_date=note.issue_date,
        due_date=None,
        organisation_id=note.organisation_id,
        buyer=note.buyer,
        seller=Seller.load(),
        currency=note.currency,
        vat_rate=note.vat_rate,
        lines=(line,),
        net_total=note.net_total,
        vat_amount=note.vat_amount,
        gross_total=note.gross_total,
        period=None,
        note=note.reason,
        credited_invoice=(invoice.display_number, invoice.issue_date),
        order_id=invoice.order_id,
    )


def as_document(document: Invoice | CreditNote | BillingDocument) -> BillingDocument:
    if isinstance(document, Invoice):
        return document_of_invoice(document)
    if isinstance(document, CreditNote):
        return document_of_credit_note(document)
    return document


def export(document: Invoice | CreditNote | BillingDocument, export_format: str) -> bytes:
    """Render in ``export_format`` (csv, pdf or ubl) as bytes."""
    if export_format == "csv":
        return to_csv(document).encode("utf-8")
    if export_format == "pdf":
        return to_pdf(document)
    if export_format == "ubl":
        return to_ubl(document)
    raise InvalidBillingInput(f"export format must be one of {', '.join(FORMATS)}, got {export_format!r}")


# --- CSV ----------------------------------------------------------------------------------------

CSV_COLUMNS = (
    "document_type",
    "document_number",
    "issue_date",
    "organisation_id",
    "row_type",
    "line_number",
    "description",
    "quantity",
    "unit_price",
    "net_amount",
    "vat_amount",
    "gross_amount",
    "currency",
    "release_id",
    "order_id",
)


def to_csv(document: Invoice | CreditNote | BillingDocument) -> str:
    """One row per line, then one ``total`` row; amounts as plain decimals with a point (DKK).
    Text typed by staff or customers (descriptions) is made formula-safe."""
    doc = as_document(document)
    common = (doc.kind, doc.number, doc.issue_date.isoformat(), doc.organisation_id)
    rows: list[tuple[Any, ...]] = [
        (
            *common,
            "line",
            line.number,
            line.description,
            line.quantity,
            line.unit_price,
            line.net_amount,
            "",
            "",
            doc.currency,
            line.release_id or "",
            line.order_id or "",
        )
        for line in doc.lines
    ]
    rows.append(
        (
            *common,
            "total",
            "",
            f"VAT {_percent(doc.vat_rate)} % on the net total",
            "",
            "",
            doc.net_total,
            doc.vat_amount,
            doc.gross_total,
            doc.currency,
            "",
            doc.order_id or "",
        )
    )
    return write_csv(CSV_COLUMNS, rows)


# --- PDF ----------------------------------------------------------------------------------------


# fpdf2's core fonts are Latin-1 (æ, ø, å, × are in it): spell common other characters in it
_TYPOGRAPHY = str.maketrans(
    {"–": "-", "—": "-", "≥": ">=", "≤": "<=", "“": '"', "”": '"', "’": "'", "ρ": "rho"}
)


def _latin1(text: str) -> str:
    return text.translate(_TYPOGRAPHY).encode("latin-1", "replace").decode("latin-1")


def to_pdf(document: Invoice | CreditNote | BillingDocument) -> bytes:
    doc = as_document(document)
    title = "Invoice" if doc.kind == "invoice" else "Credit note"
    seller = doc.seller
    pdf = FPDF(format="A4")
    pdf.set_title(f"{title} {doc.number}")
    pdf.set_author(seller.name)
    pdf.set_creator("statservice billing")
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.add_page()
    pdf.set_font("Helvetica", "B", 18)
    pdf.cell(0, 10, _latin1(f"{title} {doc.number}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("Helvetica", "", 10)
    seller_lines = [
        seller.name,
        seller.street,
        f"{seller.postal_code} {seller.city}",
        f"CVR {seller.cvr} - VAT {seller.vat_id}",
    ]
    buyer = doc.buyer
    buyer_lines = [
        buyer.get("legal_name") or doc.organisation_id,
        buyer.get("street") or "",
        " ".join(part for part in (buyer.get("postal_code"), buyer.get("city")) if part),
        f"CVR {buyer['cvr']}" if buyer.get("cvr") else "",
        f"Customer {doc.organisation_id}",
    ]
    top = pdf.get_y() + 2
    pdf.set_y(top)
    for text in seller_lines:
        pdf.cell(90, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.set_y(top)
    for text in [line for line in buyer_lines if line]:
        pdf.set_x(110)
        pdf.cell(90, 5, _latin1(text), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    facts = [("Issue date", doc.issue_date.isoformat())]
    if doc.due_date:
        facts.append(("Due date", doc.due_date.isoformat()))
    if doc.period:
        facts.append(("Period", f"{doc.period[0].isoformat()} to {doc.period[1].isoformat()}"))
    if doc.credited_invoice:
        facts.append(
            ("Credits invoice", f"{doc.credited_invoice[0]} of {doc.credited_invoice[1].isoformat()}")
        )
    if doc.order_id:
        facts.append(("Order", doc.order_id))
    for label, value in facts:
        pdf.set_font("Helvetica", "B", 10)
        pdf.cell(35, 6, _latin1(label))
        pdf.set_font("Helvetica", "", 10)
        pdf.cell(0, 6, _latin1(value), new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    with pdf.table(
        col_widths=(8, 80, 18, 30, 34),
        text_align=("RIGHT", "LEFT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=6,
    ) as table:
        table.row(["#", "Description", "Qty", f"Unit price {doc.currency}", f"Amount {doc.currency}"])
        for line in doc.lines:
            table.row(
                [
                    str(line.number),
                    _latin1(line.description),
                    _latin1(f"{line.quantity.normalize():f}" + (" h" if line.unit_code == UNIT_HOUR else "")),
                    format_dkk(line.unit_price),
                    format_dkk(line.net_amount),
                ]
            )
    pdf.ln(4)
    totals = [
        ("Net total", doc.net_total),
        (f"VAT {_percent(doc.vat_rate)} %", doc.vat_amount),
        (f"Total {doc.currency}", doc.gross_total),
    ]
    for label, amount in totals:
        pdf.set_font("Helvetica", "B" if label.startswith("Total") else "", 11)
        pdf.set_x(110)
        pdf.cell(50, 7, _latin1(label))
        pdf.cell(40, 7, format_dkk(amount), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(6)
    pdf.set_font("Helvetica", "", 9)
    if doc.kind == "invoice" and doc.due_date:
        pdf.multi_cell(
            0,
            5,
            _latin1(
                f"Payment by bank transfer to IBAN {seller.iban} by {doc.due_date.isoformat()}, "
                f"quoting {doc.number}. Prices are in Danish kroner; VAT is computed on the net total."
            ),
        )
    return bytes(pdf.output())


# --- Peppol BIS Billing 3.0 (UBL 2.1) -----------------------------------------------------------


def _percent(rate: Decimal) -> str:
    return f"{(rate * 100).normalize():f}"


def _money(amount: Decimal) -> str:
    return f"{amount:.2f}"


def _quantity(quantity: Decimal) -> str:
    return f"{quantity.normalize():f}"


class _Builder:
    def __init__(self, root: etree._Element) -> None:
        self.root = root

    @staticmethod
    def cbc(parent: etree._Element, tag: str, text: str, **attributes: str) -> etree._Element:
        element = etree.SubElement(parent, f"{{{NS_CBC}}}{tag}", attributes)
        element.text = text
        return element

    @staticmethod
    def cac(parent: etree._Element, name: str) -> etree._Element:
        return etree.SubElement(parent, f"{{{NS_CAC}}}{name}")


def _party(parent: etree._Element, wrapper: str, party: dict[str, str | None], role: str) -> None:
    cbc, cac = _Builder.cbc, _Builder.cac
    cvr = party.get("cvr")
    if not cvr:
        raise InvalidBillingInput(
            f"Peppol BIS needs the {role}'s electronic address: set a CVR number on the billing account"
        )
    node = cac(cac(parent, wrapper), "Party")
    if party.get("ean"):  # a Danish public buyer receives e-invoices at its EAN location number
        cbc(node, "EndpointID", party["ean"] or "", schemeID=GLN_SCHEME)
    else:
        cbc(node, "EndpointID", cvr, schemeID=CVR_SCHEME)
    identification = cac(node, "PartyIdentification")
    cbc(identification, "ID", cvr, schemeID=CVR_SCHEME)
    cbc(cac(node, "PartyName"), "Name", party["legal_name"] or "")
    address = cac(node, "PostalAddress")
    if party.get("street"):
        cbc(address, "StreetName", party["street"] or "")
    if party.get("city"):
        cbc(address, "CityName", party["city"] or "")
    if party.get("postal_code"):
        cbc(address, "PostalZone", party["postal_code"] or "")
    country = party.get("country_code") or "DK"
    cbc(cac(address, "Country"), "IdentificationCode", country)
    if party.get("vat_id"):
        tax_scheme = cac(node, "PartyTaxScheme")
        cbc(tax_scheme, "CompanyID", party["vat_id"] or "")
        cbc(cac(tax_scheme, "TaxScheme"), "ID", "VAT")
    legal = cac(node, "PartyLegalEntity")
    cbc(legal, "RegistrationName", party["legal_name"] or "")
    cbc(legal, "CompanyID", cvr, schemeID=CVR_SCHEME)
    if party.get("email"):
        cbc(cac(node, "Contact"), "ElectronicMail", party["email"] or "")


def _tax_category(parent: etree._Element, name: str, rate: Decimal) -> None:
    category = _Builder.cac(parent, name)
    _Builder.cbc(category, "ID", "S")
    _Builder.cbc(category, "Percent", _percent(rate))
    _Builder.cbc(_Builder.cac(category, "TaxScheme"), "ID", "VAT")


def to_ubl(document: Invoice | CreditNote | BillingDocument) -> bytes:
    """A Peppol BIS Billing 3.0 Invoice (type 380) or CreditNote (type 381), UBL 2.1, UTF-8."""
    doc = as_document(document)
    cbc, cac = _Builder.cbc, _Builder.cac
    is_invoice = doc.kind == "invoice"
    namespace = NS_INVOICE if is_invoice else NS_CREDIT_NOTE
    root = etree.Element(
        f"{{{namespace}}}{'Invoice' if is_invoice else 'CreditNote'}",
        nsmap={None: namespace, "cac": NS_CAC, "cbc": NS_CBC},
    )
    amount = {"currencyID": doc.currency}
    cbc(root, "CustomizationID", CUSTOMIZATION_ID)
    cbc(root, "ProfileID", PROFILE_ID)
    cbc(root, "ID", doc.number)
    cbc(root, "IssueDate", doc.issue_date.isoformat())
    if is_invoice:
        if doc.due_date:
            cbc(root, "DueDate", doc.due_date.isoformat())
        cbc(root, "InvoiceTypeCode", "380")
    else:
        cbc(root, "CreditNoteTypeCode", "381")
    if doc.note:
        cbc(root, "Note", doc.note)
    cbc(root, "DocumentCurrencyCode", doc.currency)
    # Peppol requires a buyer reference or an order reference; ours is the customer's organisation id
    cbc(root, "BuyerReference", doc.organisation_id)
    if doc.period:
        period = cac(root, "InvoicePeriod")
        cbc(period, "StartDate", doc.period[0].isoformat())
        cbc(period, "EndDate", doc.period[1].isoformat())
    if doc.order_id:
        cbc(cac(root, "OrderReference"), "ID", doc.order_id)
    if doc.credited_invoice:
        reference = cac(cac(root, "BillingReference"), "InvoiceDocumentReference")
        cbc(reference, "ID", doc.credited_invoice[0])
        cbc(reference, "IssueDate", doc.credited_invoice[1].isoformat())
    seller = doc.seller
    _party(
        root,
        "AccountingSupplierParty",
        {
            "cvr": seller.cvr,
            "legal_name": seller.name,
            "street": seller.street,
            "city": seller.city,
            "postal_code": seller.postal_code,
            "country_code": seller.country_code,
            "vat_id": seller.vat_id,
            "email": seller.email,
        },
        "seller",
    )
    buyer = dict(doc.buyer)
    if buyer.get("cvr") and (buyer.get("country_code") or "DK") == "DK":
        buyer["vat_id"] = f"DK{buyer['cvr']}"
    _party(root, "AccountingCustomerParty", buyer, "buyer")
    if is_invoice:
        means = cac(root, "PaymentMeans")
        cbc(means, "PaymentMeansCode", "30", name="Credit transfer")
        cbc(means, "PaymentID", doc.number)
        cbc(cac(means, "PayeeFinancialAccount"), "ID", seller.iban)
        cbc(cac(root, "PaymentTerms"), "Note", f"Net {seller.payment_terms_days} days")
    tax_total = cac(root, "TaxTotal")
    cbc(tax_total, "TaxAmount", _money(doc.vat_amount), **amount)
    subtotal = cac(tax_total, "TaxSubtotal")
    cbc(subtotal, "TaxableAmount", _money(doc.net_total), **amount)
    cbc(subtotal, "TaxAmount", _money(doc.vat_amount), **amount)
    _tax_category(subtotal, "TaxCategory", doc.vat_rate)
    totals = cac(root, "LegalMonetaryTotal")
    cbc(
        totals,
        "LineExtensionAmount",
        _money(sum((line.net_amount for line in doc.lines), Decimal("0.00"))),
        **amount,
    )
    cbc(totals, "TaxExclusiveAmount", _money(doc.net_total), **amount)
    cbc(totals, "TaxInclusiveAmount", _money(doc.gross_total), **amount)
    cbc(totals, "PayableAmount", _money(doc.gross_total), **amount)
    for line in doc.lines:
        node = cac(root, "InvoiceLine" if is_invoice else "CreditNoteLine")
        cbc(node, "ID", str(line.number))
        if line.release_id:
            cbc(node, "Note", f"Release {line.release_id}")
        cbc(
            node,
            "InvoicedQuantity" if is_invoice else "CreditedQuantity",
            _quantity(line.quantity),
            unitCode=line.unit_code,
        )
        cbc(node, "LineExtensionAmount", _money(line.net_amount), **amount)
        item = cac(node, "Item")
        cbc(item, "Name", line.description[:200])
        _tax_category(item, "ClassifiedTaxCategory", doc.vat_rate)
        cbc(cac(node, "Price"), "PriceAmount", _money(line.unit_price), **amount)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
