"""The catalogue: brands, products and production batches with their activated and voided ranges."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, DateTime, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from codegen.db import Base, utcnow


class Brand(Base):
    __tablename__ = "brands"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    base_url: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    products: Mapped[list[Product]] = relationship(back_populates="brand")


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (UniqueConstraint("brand_id", "sku"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    sku: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    gtin: Mapped[str | None] = mapped_column(String(14))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    brand: Mapped[Brand] = relationship(back_populates="products")
    batches: Mapped[list[Batch]] = relationship(back_populates="product")


class Batch(Base):
    """A production run. Its codes are not rows: they are derived from (key id, batch id, serial)."""

    __tablename__ = "batches"
    __table_args__ = (
        UniqueConstraint("product_id", "lot"),
        CheckConstraint("quantity > 0", name="quantity_positive"),
        CheckConstraint("pack_size >= 0", name="pack_size_nonnegative"),
    )

    CREATED = "created"
    ACTIVE = "active"  # some or all serials are on sale

    id: Mapped[int] = mapped_column(primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    lot: Mapped[str] = mapped_column(String(64))
    factory: Mapped[str] = mapped_column(String(100), default="")
    line: Mapped[str] = mapped_column(String(100), default="")
    production_date: Mapped[date | None] = mapped_column(Date)
    quantity: Mapped[int] = mapped_column(Integer)
    pack_size: Mapped[int] = mapped_column(Integer, default=0)
    key_id: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16), default=CREATED)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    product: Mapped[Product] = relationship(back_populates="batches")
    ranges: Mapped[list[BatchRange]] = relationship(
        back_populates="batch", order_by="BatchRange.id", cascade="all, delete-orphan"
    )


class BatchRange(Base):
    """One activation or voiding of a serial range, kept as history; the effective state is derived."""

    __tablename__ = "batch_ranges"
    __table_args__ = (CheckConstraint("first_serial >= 0 AND last_serial >= first_serial", name="ordered"),)

    ACTIVATE = "activate"
    VOID = "void"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batches.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))
    first_serial: Mapped[int] = mapped_column(Integer)
    last_serial: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    batch: Mapped[Batch] = relationship(back_populates="ranges")
