"""Price list, quotes, invoice lines, invoices and bespoke orders. Money is Decimal DKK."""
