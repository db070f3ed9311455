"""What an operator does to payouts from the console or `yima payouts`: list them, retry a dead one.

Cancelling needs the provider, so it is the engine's (`PayoutEngine.cancel_payout`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from payouts.errors import InvalidPayout, PayoutConflict, PayoutNotFound
from payouts.models import Payout, PayoutEvent
from payouts.providers.base import State
from payouts.settings import utc_clock
from payouts.transitions import lock_payout, reissue

RETRYABLE = (State.FAILED, State.EXPIRED, State.CANCELLED)


def retry_payout(session: Session, payout_id: int, actor: str, *, bill_no_length: int | None = None,
                 now: datetime | None = None) -> Payout:
    """A new attempt of a FAILED, EXPIRED or CANCELLED payout under a new bill number (PENDING, due now).
    Anything else may still pay under its current bill: PayoutConflict."""
    payout = lock_payout(session, Payout.id == payout_id)
    if payout is None:
        raise PayoutNotFound(f"no payout {payout_id}")
    if payout.state not in RETRYABLE:
        raise PayoutConflict(f"payout {payout_id} is {payout.state}: only a failed, expired or cancelled payout "
                             "is retried")
    reissue(session, payout, source="operator", now=now or utc_clock(), bill_no_length=bill_no_length,
            detail=f"by {actor[:60]};")
    return payout


def list_payouts(session: Session, *, state: str | None = None, brand_id: int | None = None,
                 limit: int = 100) -> list[Payout]:
    """Payouts newest first, optionally of one state or one brand."""
    query = select(Payout)
    if state:
        try:
            query = query.where(Payout.state == str(State(state)))
        except ValueError:
            raise InvalidPayout(f"unknown state {state!r}; one of {', '.join(s.value for s in State)}") from None
    if brand_id is not None:
        query = query.where(Payout.brand_id == brand_id)
    return list(session.scalars(query.order_by(Payout.id.desc()).limit(max(1, min(limit, 10_000)))))


def payout_history(session: Session, payout_id: int) -> list[PayoutEvent]:
    """Every state change of one payout, oldest first."""
    return list(session.scalars(select(PayoutEvent).where(PayoutEvent.payout_id == payout_id).order_by(PayoutEvent.id)))
