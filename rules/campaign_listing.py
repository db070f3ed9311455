"""What the console's campaign pages read: campaigns of the brands a caller may see, a brand's catalogue
(the SKUs and batches its scope can name), the brands themselves. Read-only queries, scoped by brand ids
(None: every brand, for a platform admin)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen.models import Batch, Brand, Product
from rules.models import Campaign


@dataclass(frozen=True)
class BatchChoice:
    id: int
    lot: str
    sku: str
    quantity: int
    status: str


@dataclass(frozen=True)
class Catalogue:
    products: list[tuple[str, str]]  # (sku, name)
    batches: list[BatchChoice]


def brands(session: Session, brand_ids: Collection[int] | None) -> list[Brand]:
    query = select(Brand).order_by(Brand.name)
    if brand_ids is not None:
        query = query.where(Brand.id.in_(brand_ids))
    return list(session.scalars(query))


def brand_by_slug(session: Session, slug: str) -> Brand | None:
    return session.scalar(select(Brand).where(Brand.slug == slug)) if slug else None


def campaigns(session: Session, brand_ids: Collection[int] | None, *, status: str = "") -> list[tuple[Campaign, Brand]]:
    """Newest first, each with its brand."""
    query = select(Campaign, Brand).join(Brand, Brand.id == Campaign.brand_id).order_by(Campaign.id.desc())
    if brand_ids is not None:
        query = query.where(Campaign.brand_id.in_(brand_ids))
    if status:
        query = query.where(Campaign.status == status)
    return [(c, b) for c, b in session.execute(query).all()]


def catalogue(session: Session, brand_id: int | None) -> Catalogue:
    if brand_id is None:
        return Catalogue([], [])
    products = session.execute(select(Product.sku, Product.name).where(Product.brand_id == brand_id)
                               .order_by(Product.sku)).all()
    rows = session.execute(select(Batch, Product.sku).join(Product).where(Product.brand_id == brand_id)
                           .order_by(Batch.id.desc()).limit(500)).all()
    return Catalogue([(sku, name) for sku, name in products],
                     [BatchChoice(b.id, b.lot, sku, b.quantity, b.status) for b, sku in rows])


def batch_brand(session: Session, batch_id: int) -> int | None:
    """The brand a batch belongs to, None for no such batch."""
    return session.scalar(select(Product.brand_id).join(Batch).where(Batch.id == batch_id))
