"""Payout rows for the console and API tests, written straight into SQL (the engine is not needed to read
them): a mix of states, failures with WeChat's reasons, each payout's history, and a reconciliation run."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import Flask

from codegen.db import transaction
from payouts.models import Payout, PayoutEvent, Reconciliation
from payouts.providers.base import bill_number
from tests.web.console_support import ensure_brand

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # 10:00 China time
# (state, amount_fen, reason, message, campaign offset) for one brand's payouts, oldest first
MIX: list[tuple[str, int, str, str, int]] = [
    ("succeeded", 888, "", "", 0),
    ("succeeded", 520, "", "", 0),
    ("succeeded", 1000, "", "", 1),
    ("awaiting_user", 666, "", "", 0),
    ("submitted", 300, "", "", 0),
    ("pending", 200, "", "", 1),
    ("unknown", 1200, "SYSTEM_ERROR", "系统繁忙，请稍后重试", 0),
    ("failed", 500, "NOT_ENOUGH", "商户运营账户资金不足", 0),
    ("failed", 500, "NOT_ENOUGH", "商户运营账户资金不足", 1),
    ("failed", 188, "DAY_RECEIVED_COUNT_EXCEED", "用户当日收款次数超限", 0),
    ("expired", 1888, "OVERDUE_CLOSE", "超过24小时未确认收款", 0),
    ("cancelled", 100, "", "operator", 0),
]
_PATH = {"succeeded": ["submitted", "awaiting_user", "succeeded"], "awaiting_user": ["submitted", "awaiting_user"],
         "submitted": ["submitted"], "pending": [], "unknown": ["unknown"], "failed": ["submitted", "failed"],
         "expired": ["submitted", "awaiting_user", "expired"], "cancelled": ["submitted", "awaiting_user",
                                                                          "cancelled"]}
_SOURCE = {"submitted": "submit", "awaiting_user": "query", "succeeded": "callback", "failed": "callback",
           "expired": "expiry", "cancelled": "operator", "unknown": "submit"}


def add_payout(s: Any, brand_id: int, n: int, state: str, fen: int, *, reason: str = "", message: str = "",
               campaign_id: int = 1, openid: str = "", at: datetime = T0, prefix: str = "") -> Payout:
    award_id = f"{prefix or brand_id}-{n:04d}-aw"
    p = Payout(award_id=award_id, campaign_id=campaign_id, brand_id=brand_id,
               openid=openid or f"oUpF8uMuAJO_M2pxb1Q9zNjWeS{n:02d}", amount_fen=fen, provider="wechat_transfer",
               state=state, attempt=1, bill_no=bill_number(award_id, 1, 32), reason=reason, message=message,
               created_at=at, updated_at=at + timedelta(minutes=5),
               submitted_at=at + timedelta(seconds=2) if state != "pending" else None,
               finished_at=at + timedelta(minutes=5) if state in ("succeeded", "failed", "expired", "cancelled")
               else None)
    s.add(p)
    s.flush()
    previous = "pending"
    s.add(PayoutEvent(payout_id=p.id, at=at, source="claim", from_state="", to_state="pending", bill_no=p.bill_no))
    for i, step in enumerate(_PATH[state], start=1):
        last = i == len(_PATH[state])
        s.add(PayoutEvent(payout_id=p.id, at=at + timedelta(seconds=2 * i), source=_SOURCE[step],
                          from_state=previous, to_state=step, bill_no=p.bill_no, reason=reason if last else "",
                          detail=message if last else ""))
        previous = step
    return p


def seed_payouts(app: Flask, slug: str = "demo", *, campaign_id: int = 1, with_run: bool = True) -> dict[str, Any]:
    """The MIX for brand `slug` (a minute apart), and one reconciliation run naming two of its bills and one
    bill nobody knows. Returns {"brand_id", "ids": {state: [ids]}, "bills": [...], "run": id}."""
    brand_id = ensure_brand(app, slug)
    ids: dict[str, list[int]] = {}
    bills = []
    with transaction(app.extensions["yima.db"].sessions) as s:
        for n, (state, fen, reason, message, offset) in enumerate(MIX):
            p = add_payout(s, brand_id, n, state, fen, reason=reason, message=message,
                           campaign_id=campaign_id + offset, at=T0 + timedelta(minutes=n), prefix=slug)
            ids.setdefault(state, []).append(p.id)
            bills.append(p.bill_no)
        run = None
        if with_run:
            row = Reconciliation(day=date(2026, 12, 2), provider="wechat_transfer", ran_at=T0 + timedelta(days=1),
                                 matched=3, missing=1, extra=1, mismatched=1, details=[
                                     {"bill_no": bills[3], "what": "mismatched",
                                      "ledger": {"amount_fen": 666, "state": "awaiting_user"},
                                      "provider": {"amount_fen": 666, "state": "succeeded"}},
                                     {"bill_no": bills[2], "what": "extra",
                                      "ledger": {"amount_fen": 1000, "state": "succeeded"}, "provider": None},
                                     {"bill_no": "YUNKNOWNX0000A1", "what": "missing", "ledger": None,
                                      "provider": {"amount_fen": 5000, "state": "succeeded"}}])
            s.add(row)
            s.flush()
            run = row.id
    return {"brand_id": brand_id, "ids": ids, "bills": bills, "run": run}
