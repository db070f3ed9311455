"""What the fake WeChat holds: bills, money, its clock and the failures it has been told to inject.

One lock guards everything (the server is threaded). Bill lifecycles follow the fake's clock, which tests
advance (24 h expiry); rates and signatures follow real time. Terminal transitions queue a callback for
the notifier. The state can be saved to a JSON file so a `make run` restart keeps its bills.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

CHINA = timezone(timedelta(hours=8))
CONFIRM_WINDOW_S = 24 * 3600  # 商家转账 bills not confirmed within 24 h close; red packets are refunded
CODE_TTL_S = 300  # OAuth codes
TOKEN_TTL_S = 7200
TRANSFER_TERMINAL = frozenset({"SUCCESS", "FAIL", "CANCELLED"})
REDPACK_TERMINAL = frozenset({"RECEIVED", "FAILED", "REFUND"})


class Refusal(Exception):
    """A request the fake refuses as WeChat would: HTTP status, error code, message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class Clock:
    """Real time plus an offset tests can advance."""

    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base, self.offset = base, 0.0

    def now(self) -> float:
        return self._base() + self.offset

    def advance(self, seconds: float) -> float:
        self.offset += seconds
        return self.now()


@dataclass
class Faults:
    """What to inject. Counters count down per operation: create, query, cancel, sendredpack, gethbinfo."""

    system_errors: dict[str, int] = field(default_factory=dict)  # answer SYSTEM_ERROR n times, then proceed
    lost_replies: dict[str, int] = field(default_factory=dict)  # process, then drop the connection, n times
    not_found: dict[str, int] = field(default_factory=dict)  # "query": 404 for a bill that exists, n times
    reply_delay_s: float = 0.0  # create: the bill is made at once, the reply waits this long (a caller killed
    # meanwhile never records it)
    accept_async: bool = False  # create answers ACCEPTED (no package_info); the ticker then makes it confirmable
    rate_per_s: float = 100.0  # token bucket on create (商家转账: 100/s per merchant); 0 = no limit
    balance_fen: int | None = None  # None: unlimited; else NOT_ENOUGH when a bill does not fit
    user_day_count: int | None = None  # per openid per China day
    user_day_amount_fen: int | None = None
    max_amount_fen: int = 20000  # 现金营销's reported default range is 0.1–200 元
    callback_copies: int = 1  # each callback is delivered this many times (duplicates happen)
    callback_delay_s: float = 0.0  # real seconds before the first delivery
    callbacks_suppressed: bool = False  # terminal states send nothing (the engine must query)

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown fault settings: {sorted(unknown)}")
        for name, value in changes.items():
            if name in ("system_errors", "lost_replies", "not_found"):
                getattr(self, name).update({str(k): int(v) for k, v in dict(value).items()})
            else:
                setattr(self, name, value)


@dataclass
class Bill:
    kind: str  # "transfer" (商家转账) or "redpack" (现金红包)
    out_bill_no: str
    bill_id: str  # transfer_bill_no / send_listid
    openid: str
    amount_fen: int
    params: dict[str, Any]  # what a reused bill number is compared with
    notify_url: str
    state: str
    created_at: float
    updated_at: float
    fail_reason: str = ""
    package_info: str = ""

    def day(self) -> str:
        return datetime.fromtimestamp(self.created_at, CHINA).date().isoformat()


def rfc3339(at: float) -> str:
    return datetime.fromtimestamp(at, CHINA).isoformat(timespec="seconds")


class FakeState:
    def __init__(self, clock: Clock, save_file: Path | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.faults = Faults()
        self.bills: dict[tuple[str, str], Bill] = {}
        self.codes: dict[str, tuple[str, float]] = {}  # OAuth code → (openid, expires_at)
        self.tokens: dict[str, float] = {}  # MP access tokens → expires_at
        self.downloads: dict[str, bytes] = {}  # fund flow bill token → CSV
        self.deliveries: list[dict[str, Any]] = []  # every callback attempt, for tests and ops
        self.outbox: list[Bill] = []  # terminal bills whose callback the notifier has not taken yet
        self.dirty = False
        self._save_file = save_file
        self._bucket = (self.faults.rate_per_s, time.monotonic())
        self._seq = 0
        if save_file is not None and save_file.exists():
            self._load(save_file)

    # -- injected failures ------------------------------------------------------------------------

    def take_fault(self, kind: str, op: str) -> bool:
        """True (and one fewer left) when `op` should fail with `kind` ("system_errors", "lost_replies")."""
        with self.lock:
            counters: dict[str, int] = getattr(self.faults, kind)
            if counters.get(op, 0) > 0:
                counters[op] -= 1
                return True
            return False

    def take_token(self) -> bool:
        """One token from the create bucket (burst = one second's worth)."""
        with self.lock:
            rate = float(self.faults.rate_per_s)
            if rate <= 0:
                return True
            tokens, last = self._bucket
            now = time.monotonic()
            tokens = min(rate, tokens + (now - last) * rate)
            ok = tokens >= 1
            self._bucket = (tokens - 1 if ok else tokens, now)
            return ok

    # -- bills ----------------------------------------------------------------------------------

    def find(self, kind: str, out_bill_no: str) -> Bill | None:
        with self.lock:
            bill = self.bills.get((kind, out_bill_no))
            if bill is not None:
                self._expire_if_due(bill)
            return bill

    def find_by_package(self, package_info: str) -> Bill | None:
        with self.lock:
            for bill in self.bills.values():
                if bill.package_info and bill.package_info == package_info:
                    self._expire_if_due(bill)
                    return bill
            return None

    def open_bill(self, kind: str, out_bill_no: str, openid: str, amount_fen: int, params: dict[str, Any],
                  notify_url: str = "") -> Bill:
        """A new bill after every check passed (the caller holds the lock): money is taken now; a per-user
        cap makes the bill FAIL at once (商家转账) or is refused by the caller (红包)."""
        now = self.clock.now()
        self._seq += 1
        prefix = "1330" if kind == "transfer" else "1000"
        bill_id = f"{prefix}{datetime.fromtimestamp(now, CHINA):%Y%m%d}{self._seq:010d}{secrets.randbelow(10**6):06d}"
        state = ("ACCEPTED" if self.faults.accept_async else "WAIT_USER_CONFIRM") if kind == "transfer" else "SENT"
        bill = Bill(kind, out_bill_no, bill_id, openid, amount_fen, params, notify_url, state, now, now,
                    package_info=secrets.token_urlsafe(36) if kind == "transfer" else "")
        if self.faults.balance_fen is not None:
            self.faults.balance_fen -= amount_fen
        self.bills[(kind, out_bill_no)] = bill
        self.dirty = True
        return bill

    def user_cap_reason(self, openid: str, amount_fen: int) -> str:
        """DAY_RECEIVED_COUNT_EXCEED / DAY_RECEIVED_QUOTA_EXCEED when one more bill breaks a daily cap."""
        today = datetime.fromtimestamp(self.clock.now(), CHINA).date().isoformat()
        mine = [b for b in self.bills.values() if b.openid == openid and b.day() == today
                and b.state not in ("FAIL", "CANCELLED", "FAILED", "REFUND")]
        if self.faults.user_day_count is not None and len(mine) >= self.faults.user_day_count:
            return "DAY_RECEIVED_COUNT_EXCEED"
        cap = self.faults.user_day_amount_fen
        if cap is not None and sum(b.amount_fen for b in mine) + amount_fen > cap:
            return "DAY_RECEIVED_QUOTA_EXCEED"
        return ""

    def finish(self, bill: Bill, state: str, reason: str = "") -> None:
        """Move a bill to a terminal state: money back when it did not pay, a callback queued."""
        with self.lock:
            if bill.state in TRANSFER_TERMINAL | REDPACK_TERMINAL:
                return
            bill.state, bill.fail_reason, bill.updated_at = state, reason, self.clock.now()
            if state in ("FAIL", "CANCELLED", "FAILED", "REFUND") and self.faults.balance_fen is not None:
                self.faults.balance_fen += bill.amount_fen
            if bill.kind == "transfer" and bill.notify_url and not self.faults.callbacks_suppressed:
                self.outbox.append(bill)
            self.dirty = True

    def confirm(self, bill: Bill) -> bool:
        """The consumer accepts: 商家转账 WAIT_USER_CONFIRM → SUCCESS, 红包 SENT → RECEIVED."""
        with self.lock:
            self._expire_if_due(bill)
            if bill.state not in ("WAIT_USER_CONFIRM", "SENT"):
                return False
            self.finish(bill, "SUCCESS" if bill.kind == "transfer" else "RECEIVED")
            return True

    def sweep(self) -> None:
        with self.lock:
            for bill in self.bills.values():
                if bill.state == "ACCEPTED":
                    bill.state, bill.updated_at, self.dirty = "WAIT_USER_CONFIRM", self.clock.now(), True
                self._expire_if_due(bill)

    def _expire_if_due(self, bill: Bill) -> None:
        if bill.state in ("WAIT_USER_CONFIRM", "SENT") and self.clock.now() >= bill.created_at + CONFIRM_WINDOW_S:
            self.finish(bill, "FAIL", "OVERDUE_CLOSE") if bill.kind == "transfer" else self.finish(bill, "REFUND")

    def listing(self) -> list[dict[str, Any]]:
        with self.lock:
            self.sweep()
            return [asdict(b) for b in self.bills.values()]

    def reset(self) -> None:
        with self.lock:
            self.bills.clear()
            self.outbox.clear()
            self.deliveries.clear()
            self.faults = Faults()
            self.clock.offset = 0.0
            self.dirty = True

    # -- persistence ----------------------------------------------------------------------------

    def save(self) -> None:
        if self._save_file is None:
            return
        with self.lock:
            if not self.dirty:
                return
            data = {"bills": [asdict(b) for b in self.bills.values()], "seq": self._seq}
            self.dirty = False
        tmp = self._save_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False))
        tmp.replace(self._save_file)

    def _load(self, path: Path) -> None:
        data = json.loads(path.read_text())
        for raw in data.get("bills", []):
            bill = Bill(**raw)
            self.bills[(bill.kind, bill.out_bill_no)] = bill
        self._seq = int(data.get("seq", 0))
