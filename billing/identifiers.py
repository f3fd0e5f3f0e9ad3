"""Check digits of the numbers an invoice is addressed by: the Danish CVR number and the EAN (GS1 GLN)
location number. A mistyped number would send an e-invoice nowhere (or to someone else), so it is
refused when entered rather than discovered when the invoice bounces."""

from __future__ import annotations

# CVR: eight digits whose weighted sum is divisible by 11 (the modulus-11 check of the CVR register)
CVR_WEIGHTS = (2, 7, 6, 5, 4, 3, 2, 1)
GLN_LENGTH = 13


def cvr_problem(cvr: str) -> str | None:
    """Why ``cvr`` is not a CVR number, or None if it is one."""
    if not (cvr.isascii() and cvr.isdigit() and len(cvr) == len(CVR_WEIGHTS)):
        return f"a CVR number has 8 digits, got {cvr!r}"
    if sum(int(digit) * weight for digit, weight in zip(cvr, CVR_WEIGHTS, strict=True)) % 11:
        return f"{cvr} is not a CVR number: its modulus-11 check fails (mistyped?)"
    return None


def gs1_check_digit(body: str) -> int:
    """The GS1 check digit of ``body`` (all digits but the last): weights 3, 1, 3, ... from the right."""
    total = sum(int(digit) * (3 if index % 2 == 0 else 1) for index, digit in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def ean_problem(ean: str) -> str | None:
    """Why ``ean`` is not an EAN (GLN) location number, or None if it is one."""
    if not (ean.isascii() and ean.isdigit() and len(ean) == GLN_LENGTH):
        return f"an EAN (GLN) location number has 13 digits, got {ean!r}"
    if gs1_check_digit(ean[:-1]) != int(ean[-1]):
        return f"{ean} is not an EAN number: its GS1 check digit should be {gs1_check_digit(ean[:-1])}"
    return None
