"""The payouts tables: claims, payouts and their history, the member points ledger, reconciliation runs."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Date, DateTime, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base, utcnow


class AwardClaim(Base):
    """A consumer's 领取 of an award: binds the award to one WeChat openid, once (the primary key)."""

    __tablename__ = "award_claims"

    award_id: Mapped[str] = mapped_column(String(48), primary_key=True)
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # the prize kind: cash, points, coupon, voucher, physical
    claimed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, index=True)


class Payout(Base):
    """One valid cash award on its way to a consumer: a state machine (payouts.providers.base.State).

    `bill_no` is deterministic (the award id and `attempt`); it changes only after a definitive FAILED,
    CANCELLED or a closed expiry, when `attempt` is raised. `next_at` is when the worker looks at it next
    (a token, a query, a cap lifting tomorrow); None once it is terminal.
    """

    __tablename__ = "payouts"
    __table_args__ = (Index("ix_payouts_due", "state", "next_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    award_id: Mapped[str] = mapped_column(String(48), unique=True)  # one payout per award, ever
    campaign_id: Mapped[int] = mapped_column(Integer, index=True)
    brand_id: Mapped[int] = mapped_column(Integer, index=True)
    openid: Mapped[str] = mapped_column(String(64), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(24))
    state: Mapped[str] = mapped_column(String(16))
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    bill_no: Mapped[str] = mapped_column(String(32), unique=True)
    provider_bill_id: Mapped[str] = mapped_column(String(64), default="")
    package_info: Mapped[str] = mapped_column(Text, default="")
    reason: Mapped[str] = mapped_column(String(64), default="")  # the last provider code / fail_reason
    message: Mapped[str] = mapped_column(String(200), default="")
    client_ip: Mapped[str] = mapped_column(String(45), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    next_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class PayoutEvent(Base):
    """Every state change of a payout and what caused it (append-only: the ops view's history)."""

    __tablename__ = "payout_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    payout_id: Mapped[int] = mapped_column(ForeignKey("payouts.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    source: Mapped[str] = mapped_column(String(16))  # submit, query, callback, operator, expiry, cap
    from_state: Mapped[str] = mapped_column(String(16))
    to_state: Mapped[str] = mapped_column(String(16))
    bill_no: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(200), default="")


class PointsEntry(Base):
    """The member points ledger: one row per change, the running balance on each (append-only)."""

    __tablename__ = "points_ledger"
    __table_args__ = (Index("ix_points_ledger_member", "brand_id", "member", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    brand_id: Mapped[int] = mapped_column(Integer)
    member: Mapped[str] = mapped_column(String(64))  # the consumer's openid
    delta: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    award_id: Mapped[str | None] = mapped_column(String(48), unique=True, nullable=True)  # one credit per award
    reason: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Reconciliation(Base):
    """One `yima payouts reconcile` run: the provider's bill of a day against the ledger."""

    __tablename__ = "payout_reconciliations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    day: Mapped[date] = mapped_column(Date, index=True)
    provider: Mapped[str] = mapped_column(String(24))
    ran_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    matched: Mapped[int] = mapped_column(Integer, default=0)
    missing: Mapped[int] = mapped_column(Integer, default=0)  # paid at the provider, not in the ledger
    extra: Mapped[int] = mapped_column(Integer, default=0)  # succeeded in the ledger, not in the provider's bill
    mismatched: Mapped[int] = mapped_column(Integer, default=0)  # in both, amounts or states differ
    details: Mapped[Any] = mapped_column(JSON, default=list)  # [{bill_no, what, ledger, provider}]
