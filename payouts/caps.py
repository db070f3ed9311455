"""Limits checked before a payout is submitted: the consumer's daily count and amount, a campaign's pace.

Counted in SQL over the payouts already submitted (a bill that may pay: SUBMITTED, UNKNOWN, AWAITING_USER,
SUCCEEDED), so every worker sees the same figures; a payout over a limit stays PENDING until it lifts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
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


def deferral(session: Session, payout: Payout, settings: PayoutSettings, now: datetime) -> Deferral | None:
    """Why this payout must wait, and until when; None when it may be submitted now."""
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
