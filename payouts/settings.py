"""How the payout engine paces and schedules: one frozen value, built by the app layer from its config.

Every figure is a policy a merchant may need to change (the rail's rate, the consumer caps a brand
promises, how long a consumer has to confirm), so none is hard-coded in the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

Clock = Callable[[], datetime]  # aware UTC "now": injected so tests never wait on the wall clock


def utc_clock() -> datetime:
    return datetime.now(UTC)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands timestamps back naive (they are UTC): make them comparable with aware ones."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True)
class PayoutSettings:
    merchant: str = "default"  # the merchant id (mchid): names the token bucket and the pause flag
    # Submits per second, and how many may go back to back after an idle spell. A provider counts its limit
    # over any one-second window, in which a bucket lets through up to burst + rate: keep their sum at the
    # rail's limit (商家转账 100/s: 95 + 5; legacy red packets 1,800/min: 28 + 2).
    rate_per_s: float = 95.0
    burst: int = 5
    user_daily_count: int = 10  # payouts submitted to one openid per China-time day; 0: no cap
    user_daily_fen: int = 20_000  # fen submitted to one openid per China-time day; 0: no cap
    # Budget pacing: campaign id -> fen submitted per rolling hour at most (so a budget lasts its window).
    campaign_fen_per_hour: Mapping[int, int] = field(default_factory=dict)
    on_expiry: Literal["reissue", "release"] = "reissue"  # an unconfirmed bill the provider closed
    query_after_s: float = 5.0  # SUBMITTED: the first query this long after the submit
    unclear_retry_s: float = 2.0  # UNKNOWN: the query after an unclear answer
    retry_later_s: float = 1.0  # RETRY_LATER without the provider's own wait
    callback_grace_s: float = 300.0  # AWAITING_USER: query when no callback came within this (and again)
    confirm_window_s: float = 86_400.0  # the provider closes an unconfirmed bill after this (商家转账 24 h)
    sweep_limit: int = 200  # payouts advanced per sweep pass
    concurrency: int = 8  # payouts a sweep advances at once (each waits on its provider call, not on CPU)
    remark: str = "扫码活动奖励"  # shown to the consumer with the transfer (≤ 32 characters)
