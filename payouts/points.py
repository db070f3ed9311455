"""The member points ledger: append-only credits and debits, each row carrying the balance after it."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from payouts.models import PointsEntry
from payouts.settings import as_utc, utc_clock
from payouts.sql_insert import insert_once


@dataclass(frozen=True)
class PointsLine:
    delta: int
    balance: int
    reason: str
    award_id: str | None
    at: datetime


def _lock_member(session: Session, brand_id: int, member: str) -> None:
    """Serialize a member's ledger writes (the running balance reads the last row): a transaction-scoped
    advisory lock on PostgreSQL; SQLite has one writer at a time anyway."""
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"points/{brand_id}/{member}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def points_balance(session: Session, brand_id: int, member: str) -> int:
    of_member = (PointsEntry.brand_id == brand_id, PointsEntry.member == member)
    last = session.scalar(select(PointsEntry.balance).where(*of_member).order_by(PointsEntry.id.desc()).limit(1))
    return int(last or 0)


def points_history(session: Session, brand_id: int, member: str, *, limit: int = 50,
                   before_id: int | None = None) -> list[PointsLine]:
    """The member's ledger, newest first; `before_id` pages back."""
    query = select(PointsEntry).where(PointsEntry.brand_id == brand_id, PointsEntry.member == member)
    if before_id is not None:
        query = query.where(PointsEntry.id < before_id)
    rows = session.scalars(query.order_by(PointsEntry.id.desc()).limit(max(1, min(limit, 500))))
    return [PointsLine(r.delta, r.balance, r.reason, r.award_id, as_utc(r.at)) for r in rows]


def credit_points(session: Session, *, brand_id: int, member: str, delta: int, award_id: str | None,
                  reason: str, now: datetime | None = None) -> bool:
    """Add `delta` to the member's balance; an award credits once (False when it already had)."""
    _lock_member(session, brand_id, member)
    balance = points_balance(session, brand_id, member) + delta
    return insert_once(session, PointsEntry, {"brand_id": brand_id, "member": member, "delta": delta,
                                              "balance": balance, "award_id": award_id, "reason": reason[:64],
                                              "at": now or utc_clock()})
