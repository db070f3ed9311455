"""Pacing of submits per merchant: a token bucket and the rail's pause flag, both in Redis.

Owns the key family `{pay:<merchant>}` (tests/unit/test_key_slots.py): every payout worker of a merchant
shares one bucket, so the merchant's rate limit (商家转账 100/s) holds across workers and a burst of
claims turns into a steady stream of submits instead of a FREQUENCY_LIMITED storm. The pause flag stops
every submit on the merchant after an answer such as NOT_ENOUGH (the account is empty) until an operator
resumes the rail; queries, callbacks and cancels go on meanwhile.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rules.lua import LuaScript, ScriptCall, ScriptCaller

TAKE = LuaScript.of("payouts", "token_bucket.lua")


def _tag(merchant: str) -> str:
    # A merchant id is alphanumeric; braces would move the hash tag, so none get into a key.
    return "{pay:" + merchant.replace("{", "").replace("}", "") + "}"


def bucket_key(merchant: str) -> str:
    return f"{_tag(merchant)}:bucket"


def paused_key(merchant: str) -> str:
    return f"{_tag(merchant)}:paused"


def take_call(merchant: str, rate_per_s: float, burst: int, now: datetime) -> ScriptCall[float]:
    return ScriptCall(TAKE, [bucket_key(merchant)], [repr(float(rate_per_s)), max(1, burst),
                                                     repr(now.timestamp())], lambda r: float(r))


class TokenBucket:
    """One merchant's submit tokens: `take(now)` is 0.0 when a submit may go now, else the seconds to wait."""

    def __init__(self, redis: Any, merchant: str, rate_per_s: float, burst: int) -> None:
        if rate_per_s <= 0:
            raise ValueError("rate_per_s must be positive")
        self._caller = ScriptCaller(redis)
        self.merchant, self.rate_per_s, self.burst = merchant, rate_per_s, burst

    def take(self, now: datetime) -> float:
        return self._caller.run(take_call(self.merchant, self.rate_per_s, self.burst, now))

    def close(self) -> None:
        self._caller.close()


def pause_rail(redis: Any, merchant: str, reason: str) -> None:
    """Stop submits on this merchant until `resume_rail` (kept without expiry: a person must look)."""
    redis.set(paused_key(merchant), reason or "paused")


def rail_paused(redis: Any, merchant: str) -> str | None:
    """Why submits on this merchant are paused, or None."""
    value = redis.get(paused_key(merchant))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


def resume_rail(redis: Any, merchant: str) -> bool:
    """Let submits go again; True when the rail was paused."""
    return bool(redis.delete(paused_key(merchant)))
