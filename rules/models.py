"""What the scan path recorded, as drained from the Redis streams into SQL."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base, utcnow


class ScanEvent(Base):
    """One scan. `id` is "<batch>-<stream entry id>", so draining the same entry twice inserts once."""

    __tablename__ = "scan_events"
    __table_args__ = (Index("ix_scan_events_batch_serial", "batch_id", "role", "serial"),)

    id: Mapped[str] = mapped_column(String(48), primary_key=True)
    batch_id: Mapped[int] = mapped_column(Integer)
    serial: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(8))
    code: Mapped[str] = mapped_column(String(28))
    kind: Mapped[str] = mapped_column(String(16))  # first | repeat | not_on_sale | void
    scan_count: Mapped[int] = mapped_column(Integer)
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    adcode: Mapped[str | None] = mapped_column(String(6))
    ip: Mapped[str] = mapped_column(String(45), default="")
    device_id: Mapped[str] = mapped_column(String(64), default="")
    member: Mapped[str] = mapped_column(String(64), default="")
    ingested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
