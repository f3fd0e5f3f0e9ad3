"""Formula-safe CSV: the one function every CSV statservice writes goes through.

A spreadsheet opening a CSV runs a cell that starts with ``=``, ``+``, ``-`` or ``@`` (and, in some,
tab or carriage return) as a formula, so text a customer or staff member typed (an invoice line
description, a table title, an actor name) could compute or fetch something on the reader's machine
(OWASP "CSV injection"). Such text cells get a leading ``'``, which spreadsheets show as plain text.
Numbers (int, Decimal, float) are written as they are: ``-1250.00`` on a credit note stays a number.
It lives in billing because billing may import nothing of ours and statservice may import billing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def formula_safe(value: Any) -> Any:
    """``value`` with a leading ``'`` if it is text a spreadsheet would run as a formula; else as is."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def write_csv(header: Iterable[str], rows: Iterable[Iterable[Any]]) -> str:
    """CSV text with every cell passed through ``formula_safe``; None is empty. Lines end in CRLF
    (RFC 4180), which also makes the writer quote a cell holding a lone CR: with ``\\n`` line ends it
    would not, and the CR would split the row in two for readers."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([formula_safe(name) for name in header])
    for row in rows:
        writer.writerow(["" if cell is None else formula_safe(cell) for cell in row])
    return buffer.getvalue()
