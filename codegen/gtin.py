"""GTIN (GS1 trade item number) validation: GTIN-8/12/13/14, stored as GTIN-14."""

from __future__ import annotations

from codegen.errors import CodegenError, Kind


class GtinError(CodegenError, ValueError):
    """Not a valid GTIN; the message says why."""

    code = "invalid_gtin"
    kind = Kind.INVALID


def check_digit(body: str) -> int:
    """GS1 mod-10 check digit for the digits before it (weights 3,1,3,… from the right)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def normalise_gtin(text: str) -> str:
    """Validate a GTIN-8/12/13/14 and return it as 14 digits; raise GtinError with the reason."""
    digits = text.strip().replace(" ", "")
    if not digits.isdigit() or not digits.isascii():
        raise GtinError(f"GTIN {text!r} must be digits only")
    if len(digits) not in (8, 12, 13, 14):
        raise GtinError(f"GTIN {text!r} must have 8, 12, 13 or 14 digits, not {len(digits)}")
    expected = check_digit(digits[:-1])
    if int(digits[-1]) != expected:
        raise GtinError(f"GTIN {text!r} has check digit {digits[-1]}, expected {expected}")
    return digits.rjust(14, "0")
