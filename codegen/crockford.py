"""Crockford base32: the text alphabet of every yima code.

Case-insensitive, and the confusable letters I, L and O read as 1, 1 and 0, so a code copied by hand
or upper-cased inside a QR payload (alphanumeric mode) still decodes. U is not a symbol.
"""

from __future__ import annotations

import base64

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_STD = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"  # RFC 4648 alphabet, same symbol order

_TO_CROCKFORD = bytes.maketrans(_STD.encode(), ALPHABET.encode())
# Upper-case, fold the aliases; everything else maps to "?" which no alphabet holds.
_NORMALISE = str.maketrans(
    {
        **{c: c for c in ALPHABET},
        **{c.lower(): c for c in ALPHABET},
        "I": "1", "i": "1", "L": "1", "l": "1", "O": "0", "o": "0",
    }
)
_VALID = frozenset(ALPHABET)
# The alphabet is in value order, so int(…, 32) decodes once the symbols are spelled as Python's digits.
_TO_PY_DIGITS = str.maketrans(ALPHABET, "0123456789abcdefghijklmnopqrstuv")


def normalise(text: str) -> str | None:
    """Return the canonical upper-case form of `text`, or None if it holds a non-symbol."""
    out = text.translate(_NORMALISE)
    if not _VALID.issuperset(out):
        return None
    return out


def encode_int(value: int, length: int) -> str:
    """Encode a non-negative integer of at most 5*length bits as exactly `length` symbols."""
    if value < 0 or value >> (5 * length):
        raise ValueError(f"{value} does not fit in {length} base32 symbols")
    nbytes = -(-length * 5 // 40) * 5  # whole 40-bit groups so b32encode needs no padding
    raw = base64.b32encode(value.to_bytes(nbytes, "big")).translate(_TO_CROCKFORD)
    return raw[len(raw) - length :].decode("ascii")


def decode_int(symbols: str) -> int:
    """Decode canonical symbols (see `normalise`) to an integer."""
    if not _VALID.issuperset(symbols):  # int() would also take "_", signs, spaces and the letters U, I, L, O
        raise ValueError(f"not canonical base32 symbols: {symbols!r}")
    return decode_canonical(symbols)


def decode_canonical(symbols: str) -> int:
    """Decode what `normalise` returned (it has checked every symbol) without checking again."""
    return int(symbols.translate(_TO_PY_DIGITS), 32)


def encode_bytes_prefix(data: bytes, length: int) -> str:
    """The first `length` symbols of `data` read as a bit string (5*length <= 8*len(data))."""
    return base64.b32encode(data).translate(_TO_CROCKFORD)[:length].decode("ascii")
