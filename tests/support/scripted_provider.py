"""An in-process payout provider for the engine's tests: a real implementation of the Provider protocol.

It keeps its bills in a dict, is idempotent per bill number as WeChat is (the same number and parameters
answer the bill's state; other parameters answer "unclear"), and can be told what the next submits and
queries say: a lost request, a lost reply, FREQUENCY_LIMITED, NOT_ENOUGH, a refusal, or a crash right after
the bill was made (`Killed`, which no engine code catches: the stand-in for kill -9). Consumers confirm
and bills expire only when a test says so, on the test's clock.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from payouts.china_time import china_date
from payouts.providers.base import Answer, BillLine, CallbackEvent, ProviderReply, State, TransferOrder


class Killed(BaseException):
    """The process died here (BaseException: the engine's `except Exception` does not see it)."""


@dataclass
class Bill:
    order: TransferOrder
    state: State
    provider_bill_id: str
    created_at: datetime
    reason: str = ""


class ScriptedProvider:
    name = "wechat_transfer"
    bill_no_length = 32
    min_fen = 10
    max_fen = 20_000

    def __init__(self, clock: Callable[[], datetime], *, confirm: bool = True) -> None:
        self.clock = clock
        self.confirm_needed = confirm  # 商家转账: the consumer confirms; False: paid at once
        self.bills: dict[str, Bill] = {}
        self.submits: list[str] = []  # every submit call's bill number, in order
        self.queries: list[str] = []
        self.submit_script: deque[str] = deque()
        self.per_second: int | None = None  # the merchant's rate limit, as WeChat counts it: any 1 s window
        self.frequency_limited = 0  # submits refused by that limit
        self._accepted_at: deque[datetime] = deque()
        self.query_script: deque[str] = deque()

    # --- the protocol ---------------------------------------------------------------------------------

    def submit(self, order: TransferOrder) -> ProviderReply:
        self.submits.append(order.bill_no)
        step = self.submit_script.popleft() if self.submit_script else "ok"
        if self.per_second is not None:
            now = self.clock()
            while self._accepted_at and now - self._accepted_at[0] >= timedelta(seconds=1):
                self._accepted_at.popleft()
            if len(self._accepted_at) >= self.per_second:
                self.frequency_limited += 1
                step = "frequency_limited"
            else:
                self._accepted_at.append(now)
        if step == "frequency_limited":
            return ProviderReply(Answer.RETRY_LATER, reason="FREQUENCY_LIMITED", retry_after=1.0)
        if step == "not_enough":
            return ProviderReply(Answer.RETRY_LATER, reason="NOT_ENOUGH", retry_after=60.0, pause_rail=True)
        if step == "rejected":
            return ProviderReply(Answer.REJECTED, reason="PARAM_ERROR", message="参数错误")
        if step == "lost_request":
            return ProviderReply(Answer.UNCLEAR, reason="Timeout")
        existing = self.bills.get(order.bill_no)
        if existing is not None:
            if existing.order != order:
                return ProviderReply(Answer.UNCLEAR, reason="INVALID_REQUEST", message="单号已存在但信息不一致")
            return self._reply(existing)
        state = State.AWAITING_USER if self.confirm_needed else State.SUCCEEDED
        bill = Bill(order, state, f"T{len(self.bills) + 1:09d}", self.clock())
        self.bills[order.bill_no] = bill
        if step == "lost_reply":
            return ProviderReply(Answer.UNCLEAR, reason="Timeout")
        if step == "die":
            raise Killed(order.bill_no)
        return self._reply(bill)

    def query(self, bill_no: str) -> ProviderReply:
        self.queries.append(bill_no)
        if self.query_script and self.query_script.popleft() == "unclear":
            return ProviderReply(Answer.UNCLEAR, reason="SYSTEM_ERROR")
        bill = self.bills.get(bill_no)
        return ProviderReply(Answer.NOT_FOUND) if bill is None else self._reply(bill)

    def cancel(self, bill_no: str) -> ProviderReply:
        bill = self.bills.get(bill_no)
        if bill is None:
            return ProviderReply(Answer.NOT_FOUND)
        if bill.state in (State.SUBMITTED, State.AWAITING_USER):
            bill.state = State.CANCELLED
        return self._reply(bill)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        doc = json.loads(body)
        return CallbackEvent(doc["bill_no"], State(doc["state"]), doc.get("provider_bill_id", ""),
                             doc.get("reason", ""), doc.get("amount_fen"))

    def bill(self, day: date) -> list[BillLine]:
        return [BillLine(no, b.provider_bill_id, b.order.amount_fen, b.state, b.created_at)
                for no, b in self.bills.items() if china_date(b.created_at) == day]

    def confirm_params(self, package_info: str) -> dict[str, str]:
        return {"mchId": "1900000001", "appId": "wx0000000000000001", "package": package_info}

    # --- what the consumer and time do ----------------------------------------------------------------

    def confirm(self, bill_no: str) -> CallbackEvent:
        """The consumer confirms on WeChat's page: paid; the callback the provider then sends."""
        bill = self.bills[bill_no]
        assert bill.state == State.AWAITING_USER, bill.state
        bill.state = State.SUCCEEDED
        return self.callback(bill_no)

    def expire(self, window: timedelta = timedelta(hours=24)) -> list[CallbackEvent]:
        """Close every bill left unconfirmed past the window (fail_reason OVERDUE_CLOSE); their callbacks."""
        closed = []
        for no, bill in self.bills.items():
            if bill.state == State.AWAITING_USER and self.clock() - bill.created_at >= window:
                bill.state, bill.reason = State.FAILED, "OVERDUE_CLOSE"
                closed.append(self.callback(no))
        return closed

    def callback(self, bill_no: str) -> CallbackEvent:
        bill = self.bills[bill_no]
        return CallbackEvent(bill_no, bill.state, bill.provider_bill_id, bill.reason, bill.order.amount_fen)

    def _reply(self, bill: Bill) -> ProviderReply:
        package = f"pkg-{bill.provider_bill_id}" if bill.state == State.AWAITING_USER else ""
        return ProviderReply(Answer.STATE, state=bill.state, provider_bill_id=bill.provider_bill_id,
                             package_info=package, reason=bill.reason, amount_fen=bill.order.amount_fen)

