"""The channel's tables: distributors and stores, shipments (出库 / 入库) of case ranges, flags, the 窜货
verdicts drained from the scan stream, voucher redemptions (核销) and the store reimbursement ledger.

Items are never stored one by one: a shipment holds ranges of case serials of one batch, and an item's
case is `serial // pack_size` (codegen: case c holds items [c·pack, (c+1)·pack)).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, DateTime, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base, utcnow

# Who a channel seat is (accounts.models.ChannelSeat.kind), brand-wide or bound to a distributor / store.
WAREHOUSE, INSPECTOR, DISTRIBUTOR, CLERK, WAITER = "warehouse", "inspector", "distributor", "clerk", "waiter"
SEAT_KINDS = (WAREHOUSE, INSPECTOR, DISTRIBUTOR, CLERK, WAITER)
BRAND_WIDE_SEATS = (WAREHOUSE, INSPECTOR)
STORE_SEATS = (CLERK, WAITER)


class Distributor(Base):
    """A distributor (经销商) of one brand. `territory` lists GB/T 2260 adcode prefixes (2, 4 or 6 digits:
    province, city, district) where its goods may be sold; `parent_id` makes multi-tier channels."""

    __tablename__ = "distributors"
    __table_args__ = (UniqueConstraint("brand_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))  # the brand's own dealer number, e.g. "GD-001"
    name: Mapped[str] = mapped_column(String(200))
    territory: Mapped[list[str]] = mapped_column(JSON, default=list)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    contact: Mapped[str] = mapped_column(String(100), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Store(Base):
    """A store (终端门店) supplied by one distributor. It may redeem vouchers once it qualifies (per the
    brand's policy: `registered_at` set by its staff scanning a case code it received)."""

    __tablename__ = "stores"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    distributor_id: Mapped[int] = mapped_column(ForeignKey("distributors.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    adcode: Mapped[str] = mapped_column(String(6))
    address: Mapped[str] = mapped_column(String(200), default="")
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    registered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    registered_case: Mapped[str] = mapped_column(String(28), default="")
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelPolicy(Base):
    """A brand's channel rules: whether a store must register (scan a case code) before it may redeem, and
    what the brand reimburses per redeemed voucher (its face value) plus the store's 核销 rebate."""

    __tablename__ = "channel_policies"

    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), primary_key=True)
    require_registration: Mapped[bool] = mapped_column(Boolean, default=True)
    voucher_face_fen: Mapped[int] = mapped_column(Integer, default=0)
    redeem_rebate_fen: Mapped[int] = mapped_column(Integer, default=0)
    # The waiters' monthly ladder (migration 0015): [[bottles, fen], ...], cumulative thresholds; a waiter
    # is paid the bonus of the highest one reached in a month (channel/ladder.py). [] = no ladder.
    waiter_ladder: Mapped[list[list[int]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Shipment(Base):
    """One 出库 order: cases from the brand's warehouse (`from_distributor_id` None) or a distributor, to a
    distributor or a store. OPEN while being scanned, SHIPPED when sent, RECEIVED when the receiver confirms
    入库, UNDONE when the shipper takes a mistaken shipment back (its ranges then count for nothing)."""

    __tablename__ = "shipments"
    __table_args__ = (Index("ix_shipments_brand_created", "brand_id", "created_at"),)

    OPEN, SHIPPED, RECEIVED, UNDONE = "open", "shipped", "received", "undone"
    STATES = (OPEN, SHIPPED, RECEIVED, UNDONE)
    LIVE = (SHIPPED, RECEIVED)  # the states whose ranges place items in the channel

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"))
    from_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    to_distributor_id: Mapped[int | None] = mapped_column(ForeignKey("distributors.id"), index=True)
    to_store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), index=True)
    reference: Mapped[str] = mapped_column(String(64), default="")  # the shipper's order number
    state: Mapped[str] = mapped_column(String(12), default=OPEN)
    case_count: Mapped[int] = mapped_column(Integer, default=0)
    item_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[str] = mapped_column(String(300), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    shipped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_by: Mapped[str] = mapped_column(String(300), default="")
    undone_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    undo_reason: Mapped[str] = mapped_column(String(200), default="")


class ShipmentRange(Base):
    """Consecutive case serials [first_case, last_case] of one batch in one shipment (a scanned run of
    cases collapses into one row; 100,000 cases in order are one row)."""

    __tablename__ = "shipment_ranges"
    __table_args__ = (Index("ix_shipment_ranges_batch_case", "batch_id", "first_case"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    first_case: Mapped[int] = mapped_column(Integer)
    last_case: Mapped[int] = mapped_column(Integer)


class ChannelFlag(Base):
    """Something in the channel a person should look at: the same cases shipped twice to two receivers
    (`double_ship`), or shipped by a party that never received them (`not_held`)."""

    __tablename__ = "channel_flags"

    DOUBLE_SHIP, NOT_HELD = "double_ship", "not_held"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    batch_id: Mapped[int] = mapped_column(Integer)
    first_case: Mapped[int] = mapped_column(Integer)
    last_case: Mapped[int] = mapped_column(Integer)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"), index=True)
    other_shipment_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ChannelVersion(Base):
    """Bumped in the same transaction as every shipment change of a brand: the 窜货 judge reloads its
    in-memory index of the brand's shipped ranges when the version it holds is older."""

    __tablename__ = "channel_versions"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, default=0)


class DiversionEvent(Base):
    """A consumer scan judged 窜货: its region is outside the territory of the distributor the item was
    shipped to. One row per scan event (the judge runs inside the drain's transaction, so exactly once)."""

    __tablename__ = "diversion_events"
    __table_args__ = (Index("ix_diversion_distributor_at", "distributor_id", "scanned_at"),
                      Index("ix_diversion_brand_at", "brand_id", "scanned_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    scan_event_id: Mapped[str] = mapped_column(String(48), unique=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    distributor_id: Mapped[int] = mapped_column(Integer)
    shipment_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(28))
    adcode: Mapped[str] = mapped_column(String(6))
    region_source: Mapped[str] = mapped_column(String(4), default="")
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    judged_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ChannelJudgementDaily(Base):
    """Consumer scans per (brand, distributor, day, region, verdict): normal / diverted (窜货) / no_record
    (无出库记录, distributor_id 0) / unlocated (no region to judge). Added to in the drain's transaction."""

    __tablename__ = "channel_judgements_daily"

    NORMAL, DIVERTED, NO_RECORD, UNLOCATED = "normal", "diverted", "no_record", "unlocated"
    VERDICTS = (NORMAL, DIVERTED, NO_RECORD, UNLOCATED)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    distributor_id: Mapped[int] = mapped_column(Integer, primary_key=True)  # 0: no outbound record
    day: Mapped[date] = mapped_column(Date, primary_key=True)  # China's calendar day
    adcode: Mapped[str] = mapped_column(String(6), primary_key=True)  # "" when unlocated
    verdict: Mapped[str] = mapped_column(String(12), primary_key=True)
    scans: Mapped[int] = mapped_column(Integer, default=0)


class VoucherRedemption(Base):
    """A voucher award (再来一瓶 / 一元乐享) redeemed at a store: once, ever (the primary key)."""

    __tablename__ = "voucher_redemptions"
    __table_args__ = (Index("ix_voucher_redemptions_store_at", "store_id", "redeemed_at"),)

    award_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    campaign_id: Mapped[int] = mapped_column(Integer)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    staff_user_id: Mapped[int | None] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(28))
    redeemed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class BsideScan(Base):
    """A B-side scan accepted (migration 0015): a case opened by its store's staff (开箱, role case) or a cap
    opened by a waiter (开瓶, role inner). Once per code, ever (the unique key): a second scan of the case or
    the cap finds the first. A waiter's month (bottles opened) and the ladder count these rows; the draws
    they made are in Redis and the awards ledger, like every other draw."""

    __tablename__ = "bside_scans"
    __table_args__ = (UniqueConstraint("batch_id", "role", "serial"),
                      Index("ix_bside_scans_store_at", "store_id", "at"))

    OPEN_CASE, OPEN_BOTTLE = "open_case", "open_bottle"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(12))
    batch_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))
    serial: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(28))
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    user_id: Mapped[int | None] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class StoreLedgerLine(Base):
    """What the brand owes a store: one line per redemption (face value + 核销 rebate) or B-side reward
    (开箱 / 开瓶 / 动销返利 / a monthly ladder bonus). `source` is unique: the redeemed award's id, or the
    B-side award's id, or "ladder:<store>:<user>:<yyyymm>", so no line is ever written twice."""

    __tablename__ = "store_ledger"
    __table_args__ = (Index("ix_store_ledger_store_at", "store_id", "at"),)

    REDEMPTION, OPEN_CASE, OPEN_BOTTLE, SELL_THROUGH, LADDER = (
        "redemption", "open_case", "open_bottle", "sell_through", "ladder")
    KINDS = (REDEMPTION, OPEN_CASE, OPEN_BOTTLE, SELL_THROUGH, LADDER)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"))
    staff_user_id: Mapped[int | None] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(64), unique=True)
    face_fen: Mapped[int] = mapped_column(Integer, default=0)
    rebate_fen: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    statement_id: Mapped[int | None] = mapped_column(ForeignKey("store_statements.id"), index=True)


class StoreStatement(Base):
    """A store's settlement statement for one period: the ledger lines in it, PENDING until the brand marks
    it SETTLED (paid). A line belongs to at most one statement."""

    __tablename__ = "store_statements"
    __table_args__ = (UniqueConstraint("store_id", "period_start", "period_end"),)

    PENDING, SETTLED = "pending", "settled"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)  # inclusive
    state: Mapped[str] = mapped_column(String(10), default=PENDING)
    lines: Mapped[int] = mapped_column(Integer, default=0)
    face_fen: Mapped[int] = mapped_column(Integer, default=0)
    rebate_fen: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    created_by: Mapped[str] = mapped_column(String(300), default="")
    settled_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    settled_by: Mapped[str] = mapped_column(String(300), default="")

    @property
    def total_fen(self) -> int:
        return self.face_fen + self.rebate_fen

