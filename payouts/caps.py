"""Limits checked before a payout is submitted: the consumer's daily count and amount, a campaign's pace.

Counted in SQL over the payouts already submitted (a bill that may pay: SUBMITTED, UNKNOWN, AWAITING_USER,
SUCCEEDED), so every worker sees the same figures; a payout over a limit stays PENDING until it lifts.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from payouts.china_time import china_date, day_bounds, next_midnight
from payouts.models import Payout
from payouts.providers.base import State
from payouts.settings import PayoutSettings, as_utc

MAY_PAY = (State.SUBMITTED, State.UNKNOWN, State.AWAITING_USER, State.SUCCEEDED)
HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Deferral:
    reason: str  # user_daily_cap, campaign_pacing
    until: datetime
    detail: str


def _serialize(session: Session, payout: Payout, settings: PayoutSettings) -> None:
    if session.get_bind().dialect.name != "postgresql":
        return
    names = []
    if settings.user_daily_count or settings.user_daily_fen:
        names.append(f"payout-cap/openid/{payout.openid}")
    if settings.campaign_fen_per_hour.get(payout.campaign_id):
        names.append(f"payout-cap/campaign/{payout.campaign_id}")
    for name in names:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": zlib.crc32(name.encode())})


def deferral(session: Session, payout: Payout, settings: PayoutSettings, now: datetime) -> Deferral | None:
    """Why this payout must wait, and until when; None when it may be submitted now.

    The check and the submit it allows must not interleave with another payout's of the same consumer or
    campaign (both would see room for one and both go): on PostgreSQL, transaction-scoped advisory locks
    on the consumer and the campaign, taken in that order; SQLite's write lock already serializes them."""
    _serialize(session, payout, settings)
    others = (Payout.id != payout.id, Payout.state.in_([str(s) for s in MAY_PAY]))
    if settings.user_daily_count or settings.user_daily_fen:
        start, end = day_bounds(china_date(now))
        count, fen = session.execute(select(func.count(), func.coalesce(func.sum(Payout.amount_fen), 0)).where(
            *others, Payout.openid == payout.openid, Payout.submitted_at >= start, Payout.submitted_at < end)).one()
        if settings.user_daily_count and count + 1 > settings.user_daily_count:
            return Deferral("user_daily_cap", next_midnight(now), f"{count} payouts today")
        if settings.user_daily_fen and fen + payout.amount_fen > settings.user_daily_fen:
            return Deferral("user_daily_cap", next_midnight(now), f"{fen} + {payout.amount_fen} fen today")
    per_hour = settings.campaign_fen_per_hour.get(payout.campaign_id)
    if per_hour:
        spent = select(func.coalesce(func.sum(Payout.amount_fen), 0), func.min(Payout.submitted_at))
        fen, oldest = session.execute(spent.where(*others, Payout.campaign_id == payout.campaign_id,
                                                  Payout.submitted_at > now - HOUR)).one()
        if fen and oldest is not None and fen + payout.amount_fen > per_hour:
            # Pays again when the oldest submit of the hour leaves the window. A payout larger than the
            # whole hourly figure still goes out alone, so it is never stuck for good.
            return Deferral("campaign_pacing", as_utc(oldest) + HOUR, f"{fen} + {payout.amount_fen} > {per_hour} fen/h")
    return None
