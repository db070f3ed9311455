"""`yima payouts reconcile`: the provider's bill of a China-time day against the ledger's payouts.

Missing: the provider paid a bill the ledger does not hold as succeeded (or does not know at all): money
left that the ledger cannot account for. Extra: the ledger says succeeded, the provider's bill has no such
payment. Mismatched: both know the bill, but the amounts or the states differ.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from payouts.china_time import day_bounds
from payouts.models import Payout, PayoutEvent, Reconciliation
from payouts.providers.base import BillLine, Provider, State
from payouts.settings import utc_clock


@dataclass
class ReconcileReport:
    day: date
    matched: int = 0
    missing: list[dict[str, Any]] = field(default_factory=list)
    extra: list[dict[str, Any]] = field(default_factory=list)
    mismatched: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None  # the stored Reconciliation row

    @property
    def clean(self) -> bool:
        return not (self.missing or self.extra or self.mismatched)


def _outcome(state: State) -> str:
    """What both sides must agree on: paid, not paid (failed, cancelled, expired: the rails name a closed
    unconfirmed bill differently), or still open."""
    if state == State.SUCCEEDED:
        return "paid"
    return "unpaid" if state in (State.FAILED, State.CANCELLED, State.EXPIRED) else "open"


def _ledger(p: Payout | None) -> dict[str, Any] | None:
    return None if p is None else {"payout_id": p.id, "state": p.state, "amount_fen": p.amount_fen}


def _provider(line: BillLine | None) -> dict[str, Any] | None:
    return None if line is None else {"state": str(line.state), "amount_fen": line.amount_fen,
                                      "provider_bill_id": line.provider_bill_id}


def reconcile_day(session: Session, provider: Provider, day: date) -> ReconcileReport:
    """Compare and store the result (a Reconciliation row whose details list every difference)."""
    lines = {line.bill_no: line for line in provider.bill(day)}
    start, end = day_bounds(day)
    of_day = session.scalars(select(Payout).where(or_(
        (Payout.submitted_at >= start) & (Payout.submitted_at < end),
        (Payout.finished_at >= start) & (Payout.finished_at < end)))).all()
    ledger = {p.bill_no: p for p in of_day}
    unseen = [b for b in lines if b not in ledger]
    superseded: set[str] = set()
    if unseen:  # bills of the day whose payout the ledger dates otherwise (submitted late the day before)
        ledger.update({p.bill_no: p for p in session.scalars(select(Payout).where(Payout.bill_no.in_(unseen)))})
        # An earlier attempt's bill, replaced after it failed or expired, lives on in the payout's history.
        superseded = set(session.scalars(select(PayoutEvent.bill_no).where(PayoutEvent.bill_no.in_(unseen))))
    report = ReconcileReport(day)
    for bill_no in sorted(set(lines) | set(ledger)):
        line, payout = lines.get(bill_no), ledger.get(bill_no)
        entry = {"bill_no": bill_no, "ledger": _ledger(payout), "provider": _provider(line)}
        if line is None:
            if payout is not None and payout.state == State.SUCCEEDED:
                report.extra.append({**entry, "what": "extra"})
            continue
        if payout is None and bill_no in superseded and line.state != State.SUCCEEDED:
            report.matched += 1
        elif payout is None or (line.state == State.SUCCEEDED and payout.state != State.SUCCEEDED):
            report.missing.append({**entry, "what": "missing"})
        elif line.amount_fen != payout.amount_fen or _outcome(line.state) != _outcome(State(payout.state)):
            report.mismatched.append({**entry, "what": "mismatched"})
        else:
            report.matched += 1
    row = Reconciliation(day=day, provider=provider.name, ran_at=utc_clock(), matched=report.matched,
                         missing=len(report.missing), extra=len(report.extra), mismatched=len(report.mismatched),
                         details=report.missing + report.extra + report.mismatched)
    session.add(row)
    session.flush()
    report.id = row.id
    return report
