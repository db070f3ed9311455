"""Code format v1: pure encode / parse / verify, no I/O. Specified in docs/code-format.md.

A code is 28 Crockford base32 symbols = 140 bits:

    header (70 bits)                                         | tag (70 bits)
    version:5 | role:2 | key_id:5 | batch_id:28 | serial:30   | first 70 bits of HMAC-SHA256(batch_key, header)

The header is big-endian in 9 bytes when it is MACed. Version 1 puts "1" in the first symbol.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from hashlib import sha256

from codegen import crockford
from codegen.errors import CodegenError, Kind

VERSION = 1
CODE_LENGTH = 28
HEADER_SYMBOLS = 14
TAG_SYMBOLS = 14
TAG_BITS = TAG_SYMBOLS * 5
TAG_MASK = (1 << TAG_BITS) - 1
MAX_KEY_ID = (1 << 5) - 1
MAX_BATCH_ID = (1 << 28) - 1
MAX_SERIAL = (1 << 30) - 1
# The longest text that could still be a code or a URL holding one; anything longer is refused unread.
MAX_INPUT_LENGTH = 512


class Role(IntEnum):
    INNER = 0  # 暗码, under the cap: the reward code
    OUTER = 1  # 明码, on the label: authenticity and trace
    CASE = 2  # 箱码
    PALLET = 3  # 垛码

    @property
    def label(self) -> str:
        return _ROLE_LABELS[self]  # a table: Enum.name is a descriptor call, and this runs on every scan

    @classmethod
    def parse(cls, name: str) -> Role:
        try:
            return cls[name.upper()]
        except KeyError:
            raise ValueError(f"unknown role {name!r}: use inner, outer, case or pallet") from None


_ROLES = tuple(Role)  # by value
_ROLE_LABELS = tuple(role.name.lower() for role in _ROLES)


@dataclass(frozen=True, slots=True)
class CodeFields:
    version: int
    role: Role
    key_id: int
    batch_id: int
    serial: int


class CodeError(CodegenError, ValueError):
    """A text that is not a genuine code. `reason` is one of the class constants."""

    code = "not_genuine"
    kind = Kind.NOT_FOUND

    MALFORMED = "malformed"  # wrong length or symbols: a typo, a truncated scan, not ours
    UNSUPPORTED = "unsupported_version"
    UNKNOWN_KEY = "unknown_key"  # key id / batch nobody here can verify
    FORGED = "forged"  # well-formed, but the tag does not match

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _header(role: int, key_id: int, batch_id: int, serial: int) -> int:
    if not 0 <= key_id <= MAX_KEY_ID:
        raise ValueError(f"key id {key_id} out of range 0..{MAX_KEY_ID}")
    if not 0 <= batch_id <= MAX_BATCH_ID:
        raise ValueError(f"batch id {batch_id} out of range 0..{MAX_BATCH_ID}")
    if not 0 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial {serial} out of range 0..{MAX_SERIAL}")
    return (((VERSION << 2 | role) << 5 | key_id) << 28 | batch_id) << 30 | serial


def _tag(batch_key: bytes, header: int) -> str:
    digest = hmac.digest(batch_key, header.to_bytes(9, "big"), sha256)
    return crockford.encode_bytes_prefix(digest[:10], TAG_SYMBOLS)


def encode(batch_key: bytes, *, role: Role, key_id: int, batch_id: int, serial: int) -> str:
    """The canonical (upper-case) text of one code."""
    header = _header(int(role), key_id, batch_id, serial)
    return crockford.encode_int(header, HEADER_SYMBOLS) + _tag(batch_key, header)


def parse(text: str) -> tuple[CodeFields, str]:
    """Read the header of a code without checking its tag; returns the fields and the canonical text."""
    fields, canonical, _header, _tag_value = _parse(text)
    return fields, canonical


def _parse(text: str) -> tuple[CodeFields, str, int, int]:
    """(fields, canonical text, header, tag): the whole code is decoded once, as one 140-bit number."""
    if len(text) != CODE_LENGTH:
        raise CodeError(CodeError.MALFORMED, f"a code has {CODE_LENGTH} symbols, this has {len(text)}")
    canonical = crockford.normalise(text)
    if canonical is None:
        raise CodeError(CodeError.MALFORMED, "a code holds only the symbols 0-9 and A-Z without U")
    value = crockford.decode_canonical(canonical)
    header = value >> TAG_BITS
    version = header >> 65
    if version != VERSION:
        raise CodeError(CodeError.UNSUPPORTED, f"code format version {version} is not supported")
    fields = CodeFields(
        version=version,
        role=_ROLES[(header >> 63) & 0b11],
        key_id=(header >> 58) & MAX_KEY_ID,
        batch_id=(header >> 30) & MAX_BATCH_ID,
        serial=header & MAX_SERIAL,
    )
    return fields, canonical, header, value & TAG_MASK


def verify(text: str, key_for: Callable[[int, int], bytes | None]) -> CodeFields:
    """Parse `text` and check its tag with the key `key_for(key_id, batch_id)` returns.

    `key_for` returns None when it holds no key for that pair (another batch's ticket, an unknown key id).
    The tag comparison is constant-time.
    """
    return verify_canonical(text, key_for)[0]


def verify_canonical(text: str, key_for: Callable[[int, int], bytes | None]) -> tuple[CodeFields, str]:
    """`verify`, also returning the canonical text (upper case, aliases I/L/O folded): the one spelling
    under which a code is counted, drawn and stored, however it was typed."""
    fields, canonical, header, tag = _parse(text)
    batch_key = key_for(fields.key_id, fields.batch_id)
    if batch_key is None:
        raise CodeError(CodeError.UNKNOWN_KEY, f"no key for key id {fields.key_id}, batch {fields.batch_id}")
    # The tag is the MAC's first 70 bits. Compared as bits, so the MAC is never turned into text: the
    # MAC's first 9 bytes against the code's 70 bits followed by the MAC's own last 2 bits.
    mac = hmac.digest(batch_key, header.to_bytes(9, "big"), sha256)[:9]
    if not hmac.compare_digest(mac, (tag << 2 | mac[8] & 0b11).to_bytes(9, "big")):
        raise CodeError(CodeError.FORGED, "the code's signature does not match: not a genuine code")
    return fields, canonical


def extract_code(code_or_url: str) -> str:
    """The code inside a bare code or a scan URL (`…/q/<CODE>`, any case, query or fragment ignored)."""
    text = code_or_url.strip()
    if len(text) > MAX_INPUT_LENGTH:
        raise CodeError(CodeError.MALFORMED, f"input longer than {MAX_INPUT_LENGTH} characters")
    for sep in ("?", "#"):
        text = text.split(sep, 1)[0]
    if "/" in text:
        head, _, code = text.rstrip("/").rpartition("/")
        if not head.lower().endswith("/q"):
            raise CodeError(CodeError.MALFORMED, "not a yima scan URL (expected …/q/<CODE>)")
        text = code
    return text


@functools.cache
def _serial_halves() -> tuple[str, ...]:
    """The 3 symbols of every 15-bit half of a serial."""
    return tuple(crockford.encode_int(i, 3) for i in range(1 << 15))


class CodeSigner:
    """Signs the codes of one batch and role at line speed.

    Equal to `encode` for every serial (a unit test holds it to that); faster because the 8 header symbols
    before the serial are fixed per batch and role, serial symbols come from a table, and the HMAC key
    schedule is computed once and copied.
    """

    def __init__(self, batch_key: bytes, *, role: Role, key_id: int, batch_id: int) -> None:
        self._half = _serial_halves()
        self._base = _header(int(role), key_id, batch_id, 0)
        self._prefix = crockford.encode_int(self._base >> 30, 8)
        self._hmac = hmac.new(batch_key, digestmod=sha256)

    def code(self, serial: int) -> str:
        if not 0 <= serial <= MAX_SERIAL:
            raise ValueError(f"serial {serial} out of range 0..{MAX_SERIAL}")
        mac = self._hmac.copy()
        mac.update((self._base | serial).to_bytes(9, "big"))
        half = self._half
        return (
            self._prefix
            + half[serial >> 15]
            + half[serial & 0x7FFF]
            + crockford.encode_bytes_prefix(mac.digest()[:10], TAG_SYMBOLS)
        )
