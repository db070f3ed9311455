"""What an operator does to payouts from the console or `yima payouts`: list them, retry a dead one,
cancel one the consumer has not confirmed.

A cancel asks the provider unless the payout was never submitted. Without a provider at hand (the web
layer, inside its audit transaction) the cancel is recorded as requested (reason `cancel_requested`) and
the worker's next step asks the provider; a payout that might still be in flight is only called cancelled
once the provider says so, or says twice over that it holds no such bill.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from payouts.callbacks import apply_report
from payouts.errors import InvalidPayout, PayoutConflict, PayoutNotFound
from payouts.models import Payout, PayoutEvent
from payouts.providers.base import TERMINAL, Answer, Provider, ProviderReply, State
from payouts.settings import utc_clock
from payouts.transitions import lock_payout, move, note, reissue

RETRYABLE = (State.FAILED, State.EXPIRED, State.CANCELLED)
CANCEL_REQUESTED = "cancel_requested"
CANCEL_RETRY = timedelta(seconds=5)


def cancel_payout(session: Session, payout_id: int, actor: str, *, provider: Provider | None = None,
                  now: datetime | None = None) -> State:
    """Cancel the payout (PayoutConflict once it is terminal); its state afterwards."""
    now = now or utc_clock()
    payout = lock_payout(session, Payout.id == payout_id)
    if payout is None:
        raise PayoutNotFound(f"no payout {payout_id}")
    state = State(payout.state)
    if state in TERMINAL:
        raise PayoutConflict(f"payout {payout_id} is already {state}")
    if state == State.PENDING and payout.submitted_at is None:
        move(session, payout, State.CANCELLED, source="operator", now=now, reason="cancelled", detail=f"by {actor}")
        return State.CANCELLED
    note(session, payout, source="operator", now=now, reason=CANCEL_REQUESTED, detail=f"by {actor[:60]}")
    payout.next_at = now
    if provider is not None:
        try:
            reply = provider.cancel(payout.bill_no)
        except Exception as exc:
            reply = ProviderReply(Answer.UNCLEAR, reason=exc.__class__.__name__)
        apply_cancel_reply(session, payout, reply, now=now)
    return State(payout.state)


def apply_cancel_reply(session: Session, payout: Payout, reply: ProviderReply, *, now: datetime) -> None:
    """What the provider said to a cancel. No bill: a PENDING payout (nothing in flight) is cancelled; a
    SUBMITTED/UNKNOWN one goes back to PENDING, still to be cancelled, so a submit still on its way has
    landed by the time the provider is asked again."""
    state = State(payout.state)
    if reply.answer == Answer.NOT_FOUND and state == State.PENDING:
        move(session, payout, State.CANCELLED, source="operator", now=now, reason="cancelled",
             detail="no bill at the provider")
    elif reply.answer == Answer.NOT_FOUND and state in (State.SUBMITTED, State.UNKNOWN):
        move(session, payout, State.PENDING, source="operator", now=now, reason=CANCEL_REQUESTED)
        payout.next_at = now + CANCEL_RETRY
    elif reply.answer == Answer.STATE and reply.state is not None:
        apply_report(session, payout, reply.state, source="operator", now=now, reason=reply.reason or "cancelled",
                     provider_bill_id=reply.provider_bill_id)
    if State(payout.state) not in TERMINAL:  # CANCELING, or no clear answer: ask again
        payout.reason = CANCEL_REQUESTED
        payout.next_at = now + CANCEL_RETRY


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
