"""The two things an operator does to a payout, retry and cancel, for the console and the ops API alike.

Each calls the engine (payouts.engine.retry_payout / cancel_payout) and records the change in the audit log
in the same transaction, so a refused action (PayoutConflict, 409) leaves neither. The caller has already
checked the role: operators and admins act, analysts read.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.audit import record_change
from accounts.roles import Principal
from app.errors import RequestError
from codegen.db import transaction
from codegen.errors import Kind
from payouts.models import Payout
from payouts.providers.base import State

ACTIONS = ("retry", "cancel")


class EngineMissing(RequestError):
    """This build has the payouts' read side without the engine (payouts/engine.py): nothing can act."""

    code = "payouts_unavailable"
    kind = Kind.UNAVAILABLE


def _snapshot(p: Payout) -> dict[str, Any]:
    return {"state": p.state, "attempt": p.attempt, "bill_no": p.bill_no, "reason": p.reason}


def act_on_payout(sessions: Any, who: Principal, payout_id: int, action: str, note: str = "", *,
                  enqueue_submit: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Retry or cancel the payout as `who`; the payout's state after, as the audit entry has it.
    `enqueue_submit` (app.payout_services.PayoutServices.enqueue_submit, when the app has it): a retried
    payout back in PENDING is queued at once, as the claim page's retry does; else the worker's sweep
    submits it."""
    try:
        from payouts import engine  # imported here: the read side works while the engine is being built
    except ImportError as exc:
        raise EngineMissing("the payout engine is not installed; retry and cancel are unavailable") from exc
    assert action in ACTIONS
    do = engine.retry_payout if action == "retry" else engine.cancel_payout
    with transaction(sessions) as s:
        payout = s.get(Payout, payout_id)
        assert payout is not None  # the caller found it in the caller's brand
        before = _snapshot(payout)
        do(s, payout_id, who.actor)
        s.flush()
        s.refresh(payout)
        after = _snapshot(payout)
        record_change(s, who.actor, f"payout.{action}", f"payout:{payout_id}", brand_id=payout.brand_id,
                      before=before, after=after, note=note)
    if enqueue_submit is not None and action == "retry" and after["state"] == State.PENDING:
        enqueue_submit(payout_id)
    return after


def submit_queue(extensions: dict[str, Any]) -> Callable[[int], None] | None:
    """The app's payout queue (extensions["yima.payouts"].enqueue_submit), if this app has one."""
    services = extensions.get("yima.payouts")
    return getattr(services, "enqueue_submit", None)
