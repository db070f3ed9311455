"""Applying what the provider reports about a bill (a callback, a query, a submit's reply) to its payout.

A callback must be answered within 5 s and may arrive twice, before the query that would have found the
same thing, or after it: one indexed lookup by bill number under a row lock, the monotonic check of
`transitions.may_apply`, one update. A duplicate or stale report changes nothing and says so (False).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from payouts.models import Payout
from payouts.providers.base import TERMINAL, CallbackEvent, State
from payouts.settings import PayoutSettings, as_utc, utc_clock
from payouts.transitions import lock_payout, may_apply, move, outcome

log = logging.getLogger(__name__)
DEFAULT = PayoutSettings()


def awaiting_next_at(payout: Payout, now: datetime, settings: PayoutSettings) -> datetime:
    """When to query a bill the consumer has not confirmed: after the callback's grace (a lost callback is
    made up), and right after the provider's confirm window closes (its expiry is found promptly)."""
    later = now + timedelta(seconds=settings.callback_grace_s)
    if payout.submitted_at is None:
        return later
    closes = as_utc(payout.submitted_at) + timedelta(seconds=settings.confirm_window_s + settings.query_after_s)
    return min(later, closes) if closes > now else later


def apply_report(session: Session, payout: Payout, state: State, *, source: str, now: datetime,
                 settings: PayoutSettings = DEFAULT, provider_bill_id: str = "", package_info: str = "",
                 reason: str = "", message: str = "", amount_fen: int | None = None) -> bool:
    """Move `payout` to the reported state when the state machine allows it; True when it moved.

    An EXPIRED payout is left due (next_at = now): the engine then applies the expiry policy (reissue or
    release), which needs settings a callback handler does not carry."""
    target = outcome(state, reason)
    current = State(payout.state)
    if provider_bill_id and not payout.provider_bill_id:
        payout.provider_bill_id = provider_bill_id[:64]
    if target == current == State.AWAITING_USER and package_info:
        payout.package_info = package_info  # a query may hand a fresh one; the page re-reads it
    if not may_apply(current, target):
        return False
    detail = message
    if amount_fen is not None and amount_fen != payout.amount_fen:
        detail = f"the provider holds {amount_fen} fen, the ledger {payout.amount_fen}; {message}"
        log.error("payout %s: bill %s amount differs (%s)", payout.id, payout.bill_no, detail)
    move(session, payout, target, source=source, now=now, reason=reason, detail=detail)
    if message:
        payout.message = message[:200]
    if target == State.AWAITING_USER:
        payout.package_info = package_info
        payout.next_at = awaiting_next_at(payout, now, settings)
    elif target in (State.SUBMITTED, State.UNKNOWN):
        wait = settings.query_after_s if target == State.SUBMITTED else settings.unclear_retry_s
        payout.next_at = now + timedelta(seconds=wait)
    elif target == State.EXPIRED:
        payout.next_at = now  # the engine's sweep applies the expiry policy
    elif target in TERMINAL:
        payout.next_at = None
    return True


def apply_callback(session: Session, event: CallbackEvent, *, now: datetime | None = None) -> bool:
    """Apply a verified provider callback; False when it changed nothing (a duplicate, stale, or a bill
    this ledger does not know: logged, and answered as received so the provider stops repeating it)."""
    payout = lock_payout(session, Payout.bill_no == event.bill_no)
    if payout is None:
        log.warning("callback for unknown bill %s (state %s)", event.bill_no, event.state)
        return False
    return apply_report(session, payout, event.state, source="callback", now=now or utc_clock(),
                        provider_bill_id=event.provider_bill_id, reason=event.reason, amount_fen=event.amount_fen)
