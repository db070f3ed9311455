"""The payout state machine's rules: which reported state may move a payout, and how a move is recorded.

Replies arrive late, twice and out of order (a query answered before a callback, a callback repeated by
the provider), so every report goes through `may_apply`: states only move forward (PENDING, then
SUBMITTED/UNKNOWN, then AWAITING_USER, then a terminal state), a terminal payout never moves again, and
AWAITING_USER never goes back to SUBMITTED. The engine's own steps back to PENDING (not accepted, retry
later; the provider has no such bill, submit it again) are explicit and never come from a report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from payouts.models import Payout, PayoutEvent
from payouts.providers.base import TERMINAL, State, bill_number

RANK = {State.PENDING: 0, State.SUBMITTED: 1, State.UNKNOWN: 1, State.AWAITING_USER: 2,
        **{s: 3 for s in TERMINAL}}
CLOSED_UNCONFIRMED = frozenset({"OVERDUE_CLOSE"})  # fail_reason of a bill closed because nobody confirmed
BILL_NO_LENGTH = {"wechat_transfer": 32, "wechat_redpack": 28}  # a rail not listed gets the shortest


def lock_payout(session: Session, *where: ColumnElement[bool]) -> Payout | None:
    """The payout matching `where`, locked until the transaction ends: SELECT … FOR UPDATE on PostgreSQL;
    on SQLite (no row locks) a no-op write first, which takes the database's write lock, so two steps on
    payouts never interleave there either (SQLite serializes writers anyway)."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(Payout).where(*where).values(attempt=Payout.attempt))
    return session.scalars(select(Payout).where(*where).with_for_update()).first()


def outcome(state: State, reason: str = "") -> State:
    """A reported state in the engine's terms: a bill closed because the consumer never confirmed it is
    EXPIRED (the money went back), whatever the rail calls it."""
    if state in (State.FAILED, State.CANCELLED) and reason in CLOSED_UNCONFIRMED:
        return State.EXPIRED
    return state


def may_apply(current: State, reported: State) -> bool:
    """Whether a provider's report (a reply, a query, a callback) may move a payout from `current`."""
    if current in TERMINAL or reported == current or reported == State.PENDING:
        return False
    return RANK[reported] >= RANK[current]


def move(session: Session, payout: Payout, to: State, *, source: str, now: datetime, reason: str = "",
         detail: str = "") -> None:
    """Set the payout's state and append its PayoutEvent (the ops view's history)."""
    session.add(PayoutEvent(payout_id=payout.id, at=now, source=source, from_state=payout.state, to_state=str(to),
                    bill_no=payout.bill_no, reason=reason[:64], detail=detail[:200]))
    payout.state = str(to)
    payout.updated_at = now
    if reason:
        payout.reason = reason[:64]
    if to in TERMINAL:
        payout.finished_at = now
        payout.next_at = None


def note(session: Session, payout: Payout, *, source: str, now: datetime, reason: str, detail: str = "") -> None:
    """A deferral or a decision that leaves the state as it is (a cap, a released budget): recorded once
    per reason, so a payout waiting out a cap does not write an event every sweep."""
    if payout.reason == reason[:64] and source != "expiry":
        return
    session.add(PayoutEvent(payout_id=payout.id, at=now, source=source, from_state=payout.state,
                                        to_state=payout.state, bill_no=payout.bill_no, reason=reason[:64],
                                        detail=detail[:200]))
    payout.reason = reason[:64]
    payout.updated_at = now


def reissue(session: Session, payout: Payout, *, source: str, now: datetime, bill_no_length: int | None = None,
            detail: str = "") -> None:
    """A new attempt under a new bill number, back to PENDING. Only after the old bill is definitively
    dead (FAILED, CANCELLED, or EXPIRED: closed by the provider); never after an unclear answer."""
    if payout.state not in (State.FAILED, State.EXPIRED, State.CANCELLED):
        raise ValueError(f"payout {payout.id} is {payout.state}: its bill may still pay")
    length = bill_no_length or BILL_NO_LENGTH.get(payout.provider, min(BILL_NO_LENGTH.values()))
    old = payout.bill_no
    payout.attempt += 1
    payout.bill_no = bill_number(payout.award_id, payout.attempt, length)
    session.add(PayoutEvent(
        payout_id=payout.id, at=now, source=source, from_state=payout.state, to_state=str(State.PENDING),
        bill_no=payout.bill_no, reason="reissued", detail=f"{detail} bill {old} -> {payout.bill_no}".strip()[:200]))
    payout.state = str(State.PENDING)
    payout.provider_bill_id = payout.package_info = ""
    payout.reason = "reissued"
    payout.message = ""
    payout.submitted_at = payout.finished_at = None
    payout.updated_at = now
    payout.next_at = now
