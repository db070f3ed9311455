"""The payout engine: moves each payout one idempotent step at a time, the provider called outside locks.

`advance(payout_id)` takes the payout's row lock, decides the step, and for a submit commits SUBMITTED
before the provider is called: a worker killed after the call leaves SUBMITTED, which the sweep queries,
so a bill is never sent twice under two numbers and never forgotten. A query or submit reply is applied in
a second transaction through the same monotonic rules as a callback (payouts/callbacks.py), so a reply
that raced a callback cannot undo it. `sweep()` is what the worker runs every second or so.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, exists, select, update
from sqlalchemy.orm import Session, sessionmaker

from payouts.callbacks import apply_callback, apply_report, awaiting_next_at
from payouts.caps import deferral
from payouts.claims import Rail, settle_claims
from payouts.models import Payout
from payouts.operations import CANCEL_REQUESTED, apply_cancel_reply, cancel_payout, retry_payout
from payouts.orders import transfer_order
from payouts.pacing import TokenBucket, pause_rail, rail_paused, resume_rail
from payouts.providers.base import TERMINAL, Answer, Provider, ProviderReply, State
from payouts.settings import Clock, PayoutSettings, as_utc, utc_clock
from payouts.transitions import lock_payout, move, note, reissue
from rules.awards import release_award
from rules.models import Award

# The web layer's entry points live beside the engine's: one import for the claim page, the callback
# handler and the operator's actions.
__all__ = ["PayoutEngine", "PayoutHooks", "SweepReport", "apply_callback", "cancel_payout", "due_payouts",
           "retry_payout"]
log = logging.getLogger(__name__)
DUE = (State.PENDING, State.SUBMITTED, State.UNKNOWN, State.AWAITING_USER, State.EXPIRED)
PAUSED_RECHECK = timedelta(seconds=30)
SETTLE_EVERY = timedelta(seconds=1)


def _ignore(*_args: Any) -> None:
    return None


@dataclass(frozen=True)
class PayoutHooks:
    """What the caller counts (the worker hands in app/payout_metrics.py's functions; this package never
    imports app/): a state entered, the claim → first submit time, a provider answer that is not a state."""

    transition: Callable[[str, str], None] = _ignore  # (provider, state)
    claim_to_submit: Callable[[float], None] = _ignore  # seconds
    provider_error: Callable[[str, str], None] = _ignore  # (provider, reason)


@dataclass(frozen=True)
class SweepReport:
    settled_claims: int
    advanced: int
    token_limited: bool = False  # submits were left for want of a token: sweep again after `refill_s`


def due_payouts(session: Session, now: datetime, limit: int = 200) -> list[int]:
    """Ids of payouts whose next step is due, oldest first; on PostgreSQL rows another worker is advancing
    right now are skipped rather than waited for."""
    return [payout_id for payout_id, _state in _due(session, now, limit)]


def _held() -> Any:
    """A pending payout whose award the risk layer holds (held after the payout was made): not sent until a
    reviewer releases the award. A bill already sent is followed up whatever happens to its award."""
    return and_(Payout.state == str(State.PENDING),
                exists().where(Award.id == Payout.award_id, Award.risk_hold == Award.HELD))


def _due(session: Session, now: datetime, limit: int) -> list[tuple[int, str]]:
    query = (select(Payout.id, Payout.state).where(Payout.state.in_([str(s) for s in DUE]), Payout.next_at <= now,
                                                   ~_held())
             .order_by(Payout.next_at).limit(limit))
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [(payout_id, state) for payout_id, state in session.execute(query)]


def _unclear(exc: Exception) -> ProviderReply:
    return ProviderReply(Answer.UNCLEAR, reason=exc.__class__.__name__, message=str(exc)[:200])


class PayoutEngine:
    def __init__(self, sessions: sessionmaker[Session], redis: Any, provider: Provider,
                 settings: PayoutSettings | None = None, clock: Clock = utc_clock,
                 hooks: PayoutHooks | None = None) -> None:
        self.sessions, self.redis, self.provider = sessions, redis, provider
        self.hooks = hooks or PayoutHooks()
        self.settings = settings or PayoutSettings()
        self.clock = clock
        self.rail = Rail(provider.name, provider.bill_no_length)
        self.bucket = TokenBucket(redis, self.settings.merchant, self.settings.rate_per_s, self.settings.burst)
        self._no_token_until = datetime.min.replace(tzinfo=UTC)  # the bucket said "empty" until then
        self._settle_at = datetime.min.replace(tzinfo=UTC)

    def close(self) -> None:
        self.bucket.close()

    # --- the worker's steps ---------------------------------------------------------------------------

    def sweep(self, now: datetime | None = None) -> SweepReport:
        """Settle claims whose award has reached SQL, then advance every due payout once."""
        now = now or self.clock()
        settled = 0
        if now >= self._settle_at:  # a scan of recent claims: once a second is enough for a lagging drain
            with self.sessions() as session, session.begin():
                settled = settle_claims(session, self.rail, now=now)
            self._settle_at = now + SETTLE_EVERY
        with self.sessions() as session, session.begin():
            due = _due(session, now, self.settings.sweep_limit)
        if len(due) <= 1 or self.settings.concurrency <= 1:
            for payout_id, state in due:
                self._step(payout_id, state)
        else:
            # A provider call takes a network round trip: advance several payouts at once so the rate the
            # bucket allows is reached. An error (the database went away) is raised once all have ended.
            with ThreadPoolExecutor(min(self.settings.concurrency, len(due)), "payout-sweep") as pool:
                futures = [pool.submit(self._step, payout_id, state) for payout_id, state in due]
            for future in futures:
                future.result()
        return SweepReport(settled, len(due), token_limited=self._no_token_until > now)

    @property
    def refill_s(self) -> float:
        """How long after a token-limited sweep the next should run: while the bucket refills by burst - 1
        tokens, so a pass never finds it overflowing (tokens beyond the burst are lost, and the rate with
        them) and each pass has several submits to make."""
        return max(0.005, (max(self.settings.burst, 2) - 1) / self.settings.rate_per_s)

    def _step(self, payout_id: int, state: str) -> None:
        if state == State.PENDING and self._no_token_until > self.clock():
            return  # the bucket is empty: this pass leaves the rest of the submits to the next
        self.advance(payout_id)

    def advance(self, payout_id: int) -> State | None:
        """One step of one payout if it is due (else nothing); its state afterwards (None: no such payout)."""
        now = self.clock()
        with self.sessions() as session, session.begin():
            payout = lock_payout(session, Payout.id == payout_id)
            if payout is None:
                return None
            state = State(payout.state)
            if state in TERMINAL and not (state == State.EXPIRED and payout.next_at is not None):
                return state
            if payout.next_at is None or as_utc(payout.next_at) > now:
                return state
            if state == State.EXPIRED:
                self._after_expiry(session, payout, now)
                return State(payout.state)
            order = None
            if payout.reason == CANCEL_REQUESTED and not (state == State.PENDING and payout.submitted_at is None):
                action = "cancel"  # an operator asked for it: the provider is asked, not sent anything
                payout.next_at = now + timedelta(seconds=self.settings.unclear_retry_s)
            elif state == State.PENDING:
                if payout.reason == CANCEL_REQUESTED:  # never submitted: nothing to ask anyone
                    move(session, payout, State.CANCELLED, source="operator", now=now, reason="cancelled")
                    return State.CANCELLED
                if session.scalar(select(Award.risk_hold).where(Award.id == payout.award_id)) == Award.HELD:
                    note(session, payout, source="submit", now=now, reason="risk_held",
                         detail="the award is held by risk review; sent once a reviewer releases it")
                    return state  # the due query skips it until then (a queued submit job lands here)
                action, order = "submit", self._begin_submit(session, payout, now)
                if order is None:
                    return State(payout.state)
            else:  # SUBMITTED, UNKNOWN, AWAITING_USER: ask the provider; look again soon whatever happens
                action = "query"
                payout.next_at = now + timedelta(seconds=self.settings.unclear_retry_s)
            bill_no = payout.bill_no
        # The transaction is committed: a kill from here on leaves SUBMITTED (or the query's lease).
        try:
            if order is not None:
                reply = self.provider.submit(order)
            else:
                reply = self.provider.cancel(bill_no) if action == "cancel" else self.provider.query(bill_no)
        except Exception as exc:  # an adapter answers, but a bug or a dropped socket must not lose the step
            log.warning("payout %s: provider %s failed (%s)", payout_id, action, exc)
            reply = _unclear(exc)
        return self._record(payout_id, bill_no, reply, action)

    def _begin_submit(self, session: Session, payout: Payout, now: datetime) -> Any:
        """Caps, pause, a token; then SUBMITTED, committed by the caller before the provider call. None when
        the payout has to wait (its next_at says until when)."""
        paused = rail_paused(self.redis, self.settings.merchant)
        if paused is not None:
            note(session, payout, source="submit", now=now, reason="rail_paused", detail=paused)
            payout.next_at = now + PAUSED_RECHECK
            return None
        wait = deferral(session, payout, self.settings, now)
        if wait is not None:
            note(session, payout, source="cap", now=now, reason=wait.reason, detail=wait.detail)
            payout.next_at = wait.until
            return None
        seconds = self.bucket.take(now)
        if seconds > 0:
            payout.next_at = self._no_token_until = now + timedelta(seconds=seconds)
            return None
        if payout.attempt == 1 and payout.submitted_at is None:
            self.hooks.claim_to_submit(max(0.0, (now - as_utc(payout.created_at)).total_seconds()))
        move(session, payout, State.SUBMITTED, source="submit", now=now, detail=f"attempt {payout.attempt}")
        self.hooks.transition(self.provider.name, State.SUBMITTED.value)
        payout.submitted_at = now
        payout.reason = ""
        payout.next_at = now + timedelta(seconds=self.settings.query_after_s)
        return transfer_order(session, payout, self.settings)

    def _record(self, payout_id: int, bill_no: str, reply: ProviderReply, source: str) -> State | None:
        now = self.clock()
        with self.sessions() as session, session.begin():
            payout = lock_payout(session, Payout.id == payout_id)
            if payout is None or payout.bill_no != bill_no:
                return None if payout is None else State(payout.state)  # an operator reissued meanwhile
            current = State(payout.state)
            if reply.answer != Answer.STATE:
                self.hooks.provider_error(self.provider.name, reply.reason or reply.answer.value)
            if source == "cancel":
                if current not in TERMINAL:
                    apply_cancel_reply(session, payout, reply, now=now)
            elif reply.answer == Answer.STATE and reply.state is not None:
                moved = apply_report(session, payout, reply.state, source=source, now=now, settings=self.settings,
                                     provider_bill_id=reply.provider_bill_id, package_info=reply.package_info,
                                     reason=reply.reason, message=reply.message, amount_fen=reply.amount_fen)
                if not moved and current == State.AWAITING_USER:  # still unconfirmed: look again later
                    payout.next_at = awaiting_next_at(payout, now, self.settings)
                elif not moved and current not in TERMINAL:
                    payout.next_at = now + timedelta(seconds=self.settings.query_after_s)
                if State(payout.state) == State.EXPIRED and payout.next_at is not None:
                    self._after_expiry(session, payout, now)
            elif reply.answer == Answer.NOT_FOUND and current in (State.SUBMITTED, State.UNKNOWN):
                # The provider never accepted this bill: send it again, under the same number.
                move(session, payout, State.PENDING, source=source, now=now, reason="not_found")
                payout.next_at = now
            elif reply.answer == Answer.RETRY_LATER and source == "submit" and current == State.SUBMITTED:
                move(session, payout, State.PENDING, source=source, now=now, reason=reply.reason, detail=reply.message)
                payout.next_at = now + timedelta(seconds=reply.retry_after or self.settings.retry_later_s)
                if reply.pause_rail:
                    pause_rail(self.redis, self.settings.merchant, reply.reason)
                    log.error("payouts paused on merchant %s: %s (resume with `yima payouts resume-rail`)",
                              self.settings.merchant, reply.reason)
            elif reply.answer == Answer.REJECTED and source == "submit" and current == State.SUBMITTED:
                move(session, payout, State.FAILED, source=source, now=now, reason=reply.reason, detail=reply.message)
                payout.message = reply.message[:200]
            elif current == State.SUBMITTED and source == "submit":  # UNCLEAR: the bill may exist; query it
                move(session, payout, State.UNKNOWN, source=source, now=now, reason=reply.reason, detail=reply.message)
                payout.next_at = now + timedelta(seconds=self.settings.unclear_retry_s)
            elif current not in TERMINAL:  # an unclear query, a stale reply: keep the state, ask again soon
                wait = reply.retry_after or self.settings.unclear_retry_s
                payout.next_at = now + timedelta(seconds=wait)
            if payout.state != current:
                self.hooks.transition(self.provider.name, payout.state)
            return State(payout.state)

    def _after_expiry(self, session: Session, payout: Payout, now: datetime) -> None:
        """The provider closed the bill unconfirmed (the money went back): a new bill, or the award's cash
        released (recorded; nothing more is sent for it)."""
        if self.settings.on_expiry == "reissue":
            reissue(session, payout, source="expiry", now=now, bill_no_length=self.provider.bill_no_length)
        else:
            released = release_award(session, self.redis, payout.award_id,
                                     f"payout {payout.id}: bill {payout.bill_no} closed unconfirmed; budget released")
            note(session, payout, source="expiry", now=now, reason="released",
                 detail="unconfirmed bill closed by the provider; the award is void and its cash back in the "
                        "campaign's budget" if released else "unconfirmed bill closed by the provider; not paid")
            payout.next_at = None

    # --- operator steps -------------------------------------------------------------------------------

    def cancel_payout(self, payout_id: int, actor: str) -> State:
        """Cancel a payout the consumer has not confirmed, asking the provider now (see
        payouts.operations.cancel_payout); the row stays locked meanwhile, so no submit slips in."""
        with self.sessions() as session, session.begin():
            return cancel_payout(session, payout_id, actor, provider=self.provider, now=self.clock())

    def resume_rail(self) -> int:
        """Let submits go again after a pause; the payouts held by it are due at once. Their count."""
        resume_rail(self.redis, self.settings.merchant)
        now = self.clock()
        with self.sessions() as session, session.begin():
            result = session.execute(update(Payout).where(Payout.state == str(State.PENDING),
                                                          Payout.reason == "rail_paused").values(next_at=now))
            return int(getattr(result, "rowcount", 0) or 0)
