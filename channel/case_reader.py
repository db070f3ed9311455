"""Reading case codes (箱码) for shipping: the signature first (CPU only), then the batch, once per batch.

A text that is not a case code of the brand is refused with CaseRefused and its reason: an item's code, a
pallet code, a forged or malformed text, another brand's code (which reads exactly like a forged one here).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from channel import case_ranges
from channel.codes import BatchInfo, KeyFor, batch_info
from channel.errors import InvalidChannel
from codegen.codeformat import CodeError, Role, extract_code, verify_canonical


class CaseRefused(InvalidChannel):
    """A scanned text that cannot go into a shipment. `reason`: malformed, forged, other_brand, item_code,
    pallet_code (the page picks its words from it)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message, field="code")
        self.reason = reason

    def details(self) -> dict[str, Any]:
        return {"field": "code", "reason": self.reason}


@dataclass(frozen=True)
class ScannedCase:
    batch: BatchInfo
    case: int

    @property
    def items(self) -> int:
        return case_ranges.items_in(self.case, self.case, self.batch.pack_size, self.batch.quantity)


class CaseReader:
    """Reads case codes for one brand: the signature (CPU only), then the batch, looked up once per batch.
    Keys are cached per call too, so a bulk upload costs one HMAC per line and one query per batch."""

    def __init__(self, session: Session, brand_id: int, key_for: KeyFor) -> None:
        self._session, self._brand_id, self._key_for = session, brand_id, key_for
        self._keys: dict[tuple[int, int], bytes | None] = {}
        self._batches: dict[int, BatchInfo | None] = {}

    def _key(self, key_id: int, batch_id: int) -> bytes | None:
        try:
            return self._keys[key_id, batch_id]
        except KeyError:
            key = self._keys[key_id, batch_id] = self._key_for(key_id, batch_id)
            return key

    def read(self, text: str) -> ScannedCase:
        try:
            fields, _ = verify_canonical(extract_code(text), self._key)
        except CodeError as exc:
            reason = CodeError.MALFORMED if exc.reason == CodeError.UNSUPPORTED else exc.reason
            raise CaseRefused(str(exc), "other_brand" if reason == CodeError.UNKNOWN_KEY else reason) from None
        try:
            info = self._batches[fields.batch_id]
        except KeyError:
            info = self._batches[fields.batch_id] = batch_info(self._session, fields.batch_id)
        if info is None or info.brand_id != self._brand_id:
            raise CaseRefused("not a code of this brand", "other_brand")
        if fields.role in (Role.INNER, Role.OUTER):
            raise CaseRefused("an item's code: scan the case code (箱码)", "item_code")
        if fields.role is Role.PALLET:
            raise CaseRefused("pallet codes (垛码) cannot be shipped yet: scan the case codes", "pallet_code")
        cases = -(-info.quantity // info.pack_size) if info.pack_size else 0
        if fields.serial >= cases:
            raise CaseRefused("signed, but outside its batch's cases", "forged")
        return ScannedCase(info, fields.serial)

    def batch(self, batch_id: int) -> BatchInfo:
        """A batch this reader has read a case of."""
        info = self._batches[batch_id]
        assert info is not None
        return info
