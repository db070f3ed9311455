"""Headquarters side of the catalogue: brands, products, batches, activation and voiding.

SQL is the source of truth; every change is mirrored into Redis (`batch_state`) before the SQL
transaction commits, so a failed Redis write changes nothing and a lost Redis is rebuilt by `sync_batch`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen import ranges as rng
from codegen.batch_state import write_batch_state
from codegen.codeformat import MAX_BATCH_ID, MAX_SERIAL
from codegen.errors import CodegenError, Kind
from codegen.gtin import GtinError, normalise_gtin
from codegen.keys import Keyring
from codegen.models import Batch, BatchRange, Brand, Product
from codegen.ticket import BatchTicket

_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")
_LOT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class CatalogError(CodegenError):
    """An operator's request that cannot be carried out; the message says why."""

    code = "invalid_catalog_request"
    kind = Kind.INVALID


def validate_base_url(url: str) -> str:
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise CatalogError(f"base URL {url!r} must look like https://brand.example (no query)")
    return url.strip().rstrip("/")


def add_brand(session: Session, slug: str, name: str, base_url: str) -> Brand:
    if not _SLUG.match(slug):
        raise CatalogError(f"brand slug {slug!r} must be lower-case letters, digits and '-', at most 40")
    if session.scalar(select(Brand).where(Brand.slug == slug)) is not None:
        raise CatalogError(f"brand {slug!r} already exists")
    brand = Brand(slug=slug, name=name.strip() or slug, base_url=validate_base_url(base_url))
    session.add(brand)
    session.flush()
    return brand


def resolve_brand(session: Session, slug: str | None) -> Brand:
    """The named brand, or the only brand when none is named."""
    if slug:
        brand = session.scalar(select(Brand).where(Brand.slug == slug))
        if brand is None:
            raise CatalogError(f"unknown brand {slug!r}")
        return brand
    brands = session.scalars(select(Brand).limit(2)).all()
    if not brands:
        raise CatalogError("no brand yet: run `codegen brand add SLUG --name NAME --base-url URL`")
    if len(brands) > 1:
        raise CatalogError("several brands exist: name one with --brand")
    return brands[0]


def add_product(session: Session, brand: Brand, sku: str, name: str, gtin: str | None) -> Product:
    sku = sku.strip()
    if not sku or len(sku) > 64 or not sku.isprintable():
        raise CatalogError("SKU must be 1-64 printable characters")
    if not name.strip():
        raise CatalogError("product name must not be empty")
    try:
        gtin14 = normalise_gtin(gtin) if gtin else None
    except GtinError as exc:
        raise CatalogError(str(exc)) from None
    exists = select(Product).where(Product.brand_id == brand.id, Product.sku == sku)
    if session.scalar(exists) is not None:
        raise CatalogError(f"product {sku!r} already exists for brand {brand.slug!r}")
    product = Product(brand=brand, sku=sku, name=name.strip(), gtin=gtin14)
    session.add(product)
    session.flush()
    return product


def find_product(session: Session, brand: Brand, sku: str) -> Product:
    product = session.scalar(select(Product).where(Product.brand_id == brand.id, Product.sku == sku))
    if product is None:
        raise CatalogError(f"unknown SKU {sku!r} for brand {brand.slug!r}: add it with `codegen product add`")
    return product


@dataclass(frozen=True)
class BatchRequest:
    sku: str
    lot: str
    count: int
    pack: int = 0
    factory: str = ""
    line: str = ""
    production_date: date | None = None


def create_batch(session: Session, brand: Brand, req: BatchRequest, *, key_id: int, max_count: int) -> Batch:
    """Register a batch (flushed, not committed): validates everything an operator can get wrong."""
    if req.count <= 0:
        raise CatalogError(f"count must be at least 1, not {req.count}")
    limit = min(max_count, MAX_SERIAL + 1)
    if req.count > limit:
        raise CatalogError(f"count {req.count:,} is above the limit of {limit:,} codes per batch")
    if req.pack < 0 or req.pack > req.count:
        raise CatalogError(f"pack must be between 0 (no case codes) and the count, not {req.pack}")
    if not _LOT.match(req.lot):
        raise CatalogError(f"lot {req.lot!r} must be 1-64 letters, digits, '.', '_' or '-'")
    product = find_product(session, brand, req.sku)
    if session.scalar(select(Batch).where(Batch.product_id == product.id, Batch.lot == req.lot)) is not None:
        raise CatalogError(f"lot {req.lot!r} already exists for {req.sku!r}")
    batch = Batch(
        product=product,
        lot=req.lot,
        factory=req.factory,
        line=req.line,
        production_date=req.production_date,
        quantity=req.count,
        pack_size=req.pack,
        key_id=key_id,
        status=Batch.CREATED,
    )
    session.add(batch)
    session.flush()
    if batch.id > MAX_BATCH_ID:
        raise CatalogError(f"batch id {batch.id} exceeds the code format's {MAX_BATCH_ID}")
    return batch


def make_ticket(batch: Batch, keyring: Keyring) -> BatchTicket:
    product = batch.product
    return BatchTicket(
        batch_id=batch.id,
        key_id=batch.key_id,
        brand=product.brand.slug,
        sku=product.sku,
        product_name=product.name,
        gtin=product.gtin,
        lot=batch.lot,
        factory=batch.factory,
        line=batch.line,
        production_date=batch.production_date.isoformat() if batch.production_date else None,
        count=batch.quantity,
        pack=batch.pack_size,
        base_url=product.brand.base_url,
        batch_key=keyring.batch_key(batch.key_id, batch.id),
    )


def get_batch(session: Session, batch_id: int) -> Batch:
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise CatalogError(f"unknown batch {batch_id}")
    return batch


def find_batch_id(session: Session, lot: str, sku: str | None = None, brand_slug: str | None = None) -> int:
    """The id of the batch with this production lot (narrowed by SKU and brand when several share it)."""
    query = select(Batch.id).join(Product).where(Batch.lot == lot)
    if sku:
        query = query.where(Product.sku == sku)
    if brand_slug:
        query = query.join(Brand).where(Brand.slug == brand_slug)
    found = session.scalars(query.limit(2)).all()
    if not found:
        raise CatalogError(f"no batch has lot {lot!r}" + (f" for SKU {sku!r}" if sku else ""))
    if len(found) > 1:
        raise CatalogError(f"several batches have lot {lot!r}: add --sku (and --brand), or use --batch ID")
    return found[0]


def effective_ranges(batch: Batch) -> tuple[list[rng.Range], list[rng.Range]]:
    """(active, void), each merged. A voided serial stays void even if activated again later."""
    active = [(r.first_serial, r.last_serial) for r in batch.ranges if r.kind == BatchRange.ACTIVATE]
    void = [(r.first_serial, r.last_serial) for r in batch.ranges if r.kind == BatchRange.VOID]
    return rng.merge(active), rng.merge(void)


def sync_batch(redis: Any, batch: Batch) -> None:
    """Write the batch's state from SQL into Redis (also the repair path after Redis lost it)."""
    active, void = effective_ranges(batch)
    product = batch.product
    meta: dict[str, str | int] = {
        "key_id": batch.key_id,
        "brand": product.brand.slug,
        "brand_id": product.brand_id,
        "brand_name": product.brand.name,
        "product_id": product.id,
        "sku": product.sku,
        "product": product.name,
        "gtin": product.gtin or "",
        "lot": batch.lot,
        "factory": batch.factory,
        "line": batch.line,
        "production_date": batch.production_date.isoformat() if batch.production_date else "",
        "quantity": batch.quantity,
        "pack": batch.pack_size,
        "status": batch.status,
    }
    write_batch_state(redis, batch.id, meta, active, void)


def _add_range(session: Session, batch: Batch, kind: str, first: int, last: int, reason: str) -> None:
    batch.ranges.append(BatchRange(kind=kind, first_serial=first, last_serial=last, reason=reason[:200]))
    session.flush()


def activate(session: Session, redis: Any, batch_id: int, text_range: str | None) -> Batch:
    """Put a serial range (or the whole batch) on sale: SQL history row + Redis state."""
    batch = get_batch(session, batch_id)
    first, last = rng.parse_range(text_range, batch.quantity) if text_range else (0, batch.quantity - 1)
    _add_range(session, batch, BatchRange.ACTIVATE, first, last, "")
    batch.status = Batch.ACTIVE
    sync_batch(redis, batch)
    return batch


def void(session: Session, redis: Any, batch_id: int, text_range: str, reason: str) -> Batch:
    """Void a serial range for good (damaged roll, recall): its codes stop earning anything."""
    batch = get_batch(session, batch_id)
    first, last = rng.parse_range(text_range, batch.quantity)
    _add_range(session, batch, BatchRange.VOID, first, last, reason)
    sync_batch(redis, batch)
    return batch


def list_batches(session: Session, limit: int = 200, *, brand_id: int | None = None) -> list[Batch]:
    """Newest first; only the brand's when `brand_id` is given."""
    query = select(Batch).order_by(Batch.id.desc()).limit(limit)
    if brand_id is not None:
        query = query.join(Product).where(Product.brand_id == brand_id)
    return list(session.scalars(query))
