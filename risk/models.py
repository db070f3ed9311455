"""The risk layer's tables: flags raised on subjects (the review queue, with evidence), the brands' block and
allow lists, and each brand's policy overrides. Held awards are marked on the award itself
(rules.models.Award.risk_hold), and each scan's decision on its event (ScanEvent.risk, risk_reasons).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base, utcnow

# Subjects a flag or a list entry is about: the hot path's kinds (risk.keys) plus an address, and a range of
# codes of one batch ("<batch>:<first>-<last>").
SUBJECT_DEVICE, SUBJECT_MEMBER, SUBJECT_NETWORK, SUBJECT_POINT = "d", "m", "n", "p"
SUBJECT_IP, SUBJECT_RANGE = "ip", "range"
FLAG_SUBJECTS = (SUBJECT_DEVICE, SUBJECT_MEMBER, SUBJECT_NETWORK, SUBJECT_POINT, SUBJECT_RANGE)
LIST_SUBJECTS = (SUBJECT_DEVICE, SUBJECT_MEMBER, SUBJECT_NETWORK, SUBJECT_IP, SUBJECT_RANGE)


class RiskFlag(Base):
    """One subject in one brand's review queue. Raised once per (brand, kind, subject); later evidence adds
    to it (`hits`, `reasons`, `samples`). States: open (prizes of the subject held) → blocked | cleared."""

    __tablename__ = "risk_flags"
    __table_args__ = (
        UniqueConstraint("brand_id", "kind", "subject"),
        Index("ix_risk_flags_brand_state", "brand_id", "state", "last_at"),
    )

    OPEN, BLOCKED, CLEARED = "open", "blocked", "cleared"
    STATES = (OPEN, BLOCKED, CLEARED)

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(8))  # FLAG_SUBJECTS
    subject: Mapped[str] = mapped_column(String(64))  # device digest, member ref, network, point, range
    state: Mapped[str] = mapped_column(String(8), default=OPEN)
    reasons: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # rule word → times seen
    hits: Mapped[int] = mapped_column(Integer, default=0)  # flagged scans
    samples: Mapped[list[str]] = mapped_column(JSON, default=list)  # a few codes it scanned (newest first)
    evidence: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # figures: per-day counts, places
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    first_event: Mapped[str] = mapped_column(String(48), default="")  # the scan event that raised it
    reviewed_by: Mapped[str] = mapped_column(String(200), default="")
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(String(500), default="")


class RiskListEntry(Base):
    """A brand's (or, with brand_id None, the platform's) block or allow entry on a subject."""

    __tablename__ = "risk_lists"
    __table_args__ = (UniqueConstraint("brand_id", "kind", "subject"),)

    BLOCK, ALLOW = "block", "allow"

    id: Mapped[int] = mapped_column(primary_key=True)
    brand_id: Mapped[int | None] = mapped_column(Integer, index=True)
    kind: Mapped[str] = mapped_column(String(8))  # LIST_SUBJECTS
    subject: Mapped[str] = mapped_column(String(64))  # as in RiskFlag; "ip": the address; "range": batch:a-b
    action: Mapped[str] = mapped_column(String(8))  # BLOCK / ALLOW
    note: Mapped[str] = mapped_column(String(500), default="")
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RiskPolicyRow(Base):
    """A brand's policy overrides (risk.policy.RiskPolicy fields); absent fields take the defaults."""

    __tablename__ = "risk_policies"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    doc: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)
    updated_by: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
