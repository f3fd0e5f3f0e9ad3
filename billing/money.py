"""Money rules, in one place.

- Money is ``decimal.Decimal`` in Danish kroner (DKK); never float.
- Every stored or printed amount is rounded to whole øre (0.01) with ROUND_HALF_UP
  (the commercial rounding customers expect: 0.005 becomes 0.01).
- Prices in the price list are net (excluding VAT).
- A priced amount (a quote, an invoice line) is computed exactly and rounded once, at the end.
- VAT is computed once per invoice (or credit note) on its net total, then rounded to øre; never
  per line and summed, so an invoice's VAT is always ``round(net_total × 25 %)``. This is also the
  rule Peppol BIS Billing 3.0 checks (VAT per category on the category's taxable amount).
"""

from decimal import ROUND_HALF_UP, Decimal

ORE = Decimal("0.01")
CURRENCY = "DKK"
# Danish standard VAT (moms); Peppol VAT category "S".
STANDARD_VAT_RATE = Decimal("0.25")


def to_ore(amount: Decimal | int | str) -> Decimal:
    """Round an amount to whole øre, half up."""
    return Decimal(amount).quantize(ORE, rounding=ROUND_HALF_UP)


def vat_on(net_total: Decimal, rate: Decimal = STANDARD_VAT_RATE) -> Decimal:
    """VAT on an invoice's net total: exact product, then rounded to øre half up."""
    return to_ore(Decimal(net_total) * rate)


def is_whole_ore(amount: Decimal) -> bool:
    return amount == amount.quantize(ORE)


def format_dkk(amount: Decimal) -> str:
    """``1234567.5`` → ``"1.234.567,50"`` (Danish notation, for PDF invoices)."""
    text = f"{to_ore(amount):,.2f}"
    return text.replace(",", "_").replace(".", ",").replace("_", ".")
