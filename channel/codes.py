"""Reading a code in the channel: verify its signature, find its batch (SQL) and place it in its case.

Used by shipping (case codes), the lookup, 核销 and the B-side scans. A code another brand issued reads as
not genuine here (CodeError), exactly like a forged one: a brand's staff learn nothing of another brand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen.codeformat import CodeError, CodeFields, Role, extract_code, verify_canonical
from codegen.models import Batch, Product

KeyFor = Callable[[int, int], bytes | None]


@dataclass(frozen=True)
class BatchInfo:
    batch_id: int
    brand_id: int
    product_id: int
    sku: str
    product: str
    lot: str
    production_date: date | None
    quantity: int
    pack_size: int  # items per case; 0: the batch has no case codes


@dataclass(frozen=True)
class ChannelCode:
    code: str  # canonical text
    fields: CodeFields
    batch: BatchInfo

    @property
    def role(self) -> Role:
        return self.fields.role

    @property
    def case(self) -> int | None:
        """The case serial this code belongs to (a case code: its own serial); None without cases."""
        if self.fields.role is Role.CASE:
            return self.fields.serial
        if self.fields.role in (Role.INNER, Role.OUTER) and self.batch.pack_size:
            return self.fields.serial // self.batch.pack_size
        return None


def batch_info(session: Session, batch_id: int) -> BatchInfo | None:
    row = session.execute(
        select(Batch.id, Product.brand_id, Product.id, Product.sku, Product.name, Batch.lot, Batch.production_date,
               Batch.quantity, Batch.pack_size).join(Product, Product.id == Batch.product_id)
        .where(Batch.id == batch_id)).first()
    return None if row is None else BatchInfo(*row)


def read_code(session: Session, brand_id: int, text: str, key_for: KeyFor) -> ChannelCode:
    """The verified code in `text` (a bare code or a scan URL) of a batch of `brand_id`; CodeError when it is
    malformed, forged, or another brand's. ScanUnavailable from `key_for` (no key file) passes through."""
    fields, canonical = verify_canonical(extract_code(text), key_for)
    info = batch_info(session, fields.batch_id)
    if info is None or info.brand_id != brand_id:
        raise CodeError(CodeError.UNKNOWN_KEY, "not a code of this brand")
    if fields.serial >= _serials(info, fields.role):
        raise CodeError(CodeError.FORGED, "serial outside its batch")  # signed, but never printed
    return ChannelCode(canonical, fields, info)


def _serials(info: BatchInfo, role: Role) -> int:
    if role is Role.CASE:
        return -(-info.quantity // info.pack_size) if info.pack_size else 0
    if role is Role.PALLET:
        return 0  # pallets are not generated yet
    return info.quantity


def printed(info: BatchInfo, fields: CodeFields) -> bool:
    """Whether the batch holds this serial of this role (a signed serial outside it was never printed)."""
    return fields.serial < _serials(info, fields.role)


def case_items(info: BatchInfo, case: int) -> tuple[int, int]:
    """The first and last item serial of case `case` (inclusive)."""
    first = case * info.pack_size
    return first, min(first + info.pack_size, info.quantity) - 1
