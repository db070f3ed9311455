"""What the scan path recorded, as drained from the Redis streams into SQL."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, Index, Integer, String, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base, utcnow


class ScanEvent(Base):
    """One scan. `id` is "<batch>-<stream entry id>", so draining the same entry twice inserts once.

    On PostgreSQL the table is partitioned by month of `scanned_at` (rules/partitions.py), and a
    partitioned table's primary key must hold the partition key: hence (id, scanned_at). It is as strict
    as `id` alone: one stream entry always gives the same `scanned_at` (its own `ts` field), so a
    redelivered entry meets its stored row in the same partition and is skipped. SQLite has the same key
    on a plain table.
    """

    __tablename__ = "scan_events"
    __table_args__ = (
        Index("ix_scan_events_batch_serial", "batch_id", "role", "serial"),
        {"postgresql_partition_by": "RANGE (scanned_at)"},
    )

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(28))
    kind: Mapped[str] = mapped_column(String(16))  # first | repeat | not_on_sale | void
    scan_count: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True, index=True)
    adcode: Mapped[str | None] = mapped_column(String(6))
    ip: Mapped[str] = mapped_column(String(45), default="")
    device_id: Mapped[str] = mapped_column(String(64), default="")
    member: Mapped[str] = mapped_column(String(64), default="")
    rules_version: Mapped[int | None] = mapped_column(Integer)  # the rules the app matched this scan with
    campaigns: Mapped[str] = mapped_column(String(200), default="")  # matched campaign ids, comma-separated
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # Where `adcode` came from: gps (the phone), ip (the client address), none; NULL before migration 0013.
    region_source: Mapped[str | None] = mapped_column(String(4))
    # The risk layer's decision (risk.policy: allow, hold, challenge, no_prize, block) and the rules that made
    # it ("sweep:d,velocity:n"); NULL before migration 0016.
    risk: Mapped[str | None] = mapped_column(String(10))
    risk_reasons: Mapped[str] = mapped_column(String(200), default="", server_default="")


class ScanEventArchive(Base):
    """A month of scan events written out by `yima events archive` (rules/partitions.py), and when its
    partition was dropped. Rows of a dropped month live on only in the archive file and the rollups."""

    __tablename__ = "scan_event_archives"

    partition: Mapped[str] = mapped_column(String(63), primary_key=True)
    lower_bound: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # None: from the beginning
    upper_bound: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rows: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))  # of the compressed file
    file: Mapped[str] = mapped_column(String(1000))
    archived_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    dropped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Campaign(Base):
    """A campaign as its operator wrote it: the definition JSON (see rules/campaign.py) is the truth."""

    __tablename__ = "campaigns"

    DRAFT, ACTIVE, PAUSED, ENDED = "draft", "active", "paused", "ended"
    STATUSES = (DRAFT, ACTIVE, PAUSED, ENDED)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(ForeignKey("brands.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(16), default=DRAFT)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)
    edit_version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class RulesVersion(Base):
    """One publish: the compiled snapshot of every live campaign, kept so any version can come back.

    `brand_id` is the brand whose operator published (None: a platform-wide publish); the snapshot still
    holds every brand's live campaigns, since the scan path loads one snapshot. `definitions` keeps each
    live campaign as its operator wrote it ({"<id>": {brand_id, name, status, edit_version, definition}}),
    so the next publish can show its diff field by field; None on versions made before it was recorded.
    """

    __tablename__ = "rules_versions"

    version: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    campaign_count: Mapped[int] = mapped_column(Integer)
    snapshot: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str] = mapped_column(String(200), default="")
    brand_id: Mapped[int | None] = mapped_column(ForeignKey("brands.id"), index=True)
    definitions: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    actor: Mapped[str] = mapped_column(String(300), default="")


class Award(Base):
    """An award the draw granted in Redis, as the SQL ledger accepted it.

    SQL is the last guard before value leaves: at most one valid award per (campaign, claim) — the claim is
    the code for one-draw-per-code campaigns — and never more than the campaign's budget. An award Redis
    granted that SQL refuses (e.g. Redis lost the claim in a failover and granted it again) is stored as
    void with the reason: never paid.
    """

    __tablename__ = "awards"
    __table_args__ = (
        Index("uq_awards_valid_claim", "campaign_id", "claim", unique=True,
              sqlite_where=text("status = 'valid'"), postgresql_where=text("status = 'valid'")),
        Index("ix_awards_batch_serial", "batch_id", "serial"),  # the channel's code lookup (migration 0014)
    )

    VALID, VOID = "valid", "void"

    id: Mapped[str] = mapped_column(String(48), primary_key=True)  # "<campaign>-<stream entry id>"
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    claim: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(28))
    batch_id: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))
    serial: Mapped[int] = mapped_column(Integer)
    prize_index: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(16))
    amount_fen: Mapped[int] = mapped_column(Integer, default=0)
    points: Mapped[int] = mapped_column(Integer, default=0)
    coupon: Mapped[str] = mapped_column(String(64), default="")
    rules_version: Mapped[int] = mapped_column(Integer, default=0)
    member: Mapped[str] = mapped_column(String(64), default="")
    awarded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(8), default=VALID)
    void_reason: Mapped[str] = mapped_column(String(200), default="")
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    # The risk layer's hold: "" (none), "held" (never paid until reviewed), "released" (reviewed, paid as
    # usual). A rejected hold voids the award (status void, void_reason "risk: …").
    risk_hold: Mapped[str] = mapped_column(String(8), default="", server_default="")
    # The scan event that drew it ("<batch>-<stream entry>", ScanEvent.id; "" before migration 0016): whose
    # phone won it, for holding a flagged device's awards and nobody else's.
    scan_event: Mapped[str] = mapped_column(String(48), default="", server_default="")
    # Not paid before this (the risk layer's payout delay, so flags raised off the hot path can hold it first).
    pay_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    HELD, RELEASED = "held", "released"


class CouponCode(Base):
    """An uploaded coupon code of one coupon prize; handed out by the draw from a Redis list."""

    __tablename__ = "coupon_codes"
    __table_args__ = (UniqueConstraint("campaign_id", "code"),)

    AVAILABLE, ASSIGNED = "available", "assigned"

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    prize_index: Mapped[int] = mapped_column(Integer)
    code: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default=AVAILABLE)
    award_id: Mapped[str | None] = mapped_column(String(48))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class IdempotencyKey(Base):
    """A create request's Idempotency-Key (the API header, or a web form's nonce) and what it created.

    A repeat of the same request under the same key within a day gets the same campaign back instead of a
    second one; the same key with another request is refused. `owner` is who sent it, so two callers'
    keys never meet. `request_hash` is the SHA-256 of the request (what it asks for and its body).
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("owner", "key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    owner: Mapped[str] = mapped_column(String(64), default="")
    key: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[int | None] = mapped_column(Integer)  # None while the create is under way
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
