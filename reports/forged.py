"""Forged attempts: invalid codes counted per minute and claimed batch in Redis, collected into SQL.

An invalid code never reaches the event stream (it is not a scan of any item), so the scan path counts
it beside the enumeration guard's own count, sent together with it: one more command on a path that
already pays a round trip, nothing on an honest scan. The batch a forged code claims is not
authenticated, so the collector credits a brand only when SQL holds that batch; everything else
(no readable batch, a batch nobody created, overflow past the per-minute field cap) is "unknown",
brand 0.

Each minute's hash holds absolute counts that only grow. The worker reads the recent minutes and
writes their totals per brand into `rollup_forged_minute` keeping the larger value, so reading a minute
again, or two workers doing it at once, changes nothing; a minute older than `SETTLE_S` is final and
is not read again (the cursor). Keys `{forged:<minute>}:n` and `yima:forged:cursor` belong here.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codegen.models import Batch, Product
from reports.models import ForgedHour, ForgedMinute
from reports.rollups import hour_of, upsert
from rules.lua import LuaScript, ScriptCall

FORGED = LuaScript.of("reports", "forged.lua")
CURSOR_KEY = "yima:forged:cursor"  # the newest minute already final in SQL
FIELD_CAP = 1000  # claimed batches per minute kept apart; further ones are counted as "+" (unknown)
KEY_TTL_S = 86_400  # a worker down longer than this loses those minutes' counts
SETTLE_S = 600  # app clocks may lag the worker's this much: a minute is final once it is this old
UNREADABLE = "-"


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def forged_key(minute: int) -> str:
    return f"{{forged:{minute}}}:n"


class ForgedCounter:
    """The count of one invalid code, as a script call the caller sends with its own (no round trip of
    its own); the reply is the minute's count for that field."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock

    def count_call(self, claimed_batch: int | None) -> ScriptCall[int]:
        now = int(self._clock())
        field = UNREADABLE if claimed_batch is None else str(claimed_batch)
        return ScriptCall(FORGED, [forged_key(now - now % 60)], [field, FIELD_CAP, KEY_TTL_S], int)


@dataclass(frozen=True)
class Collected:
    minutes: int  # minutes read from Redis
    attempts: int  # invalid codes in them


def collect_forged(session: Session, redis: Any, now: float | None = None) -> Collected:
    """Write the recent minutes' forged attempts per brand into the forged rollups (see the module doc).

    Runs in the caller's transaction; the cursor moves only after that commits, so call
    `advance_cursor` with the returned minute after the commit.
    """
    at = int(time.time() if now is None else now)
    current = at - at % 60
    cursor = redis.get(CURSOR_KEY)
    first = int(cursor) + 60 if cursor else current - KEY_TTL_S
    minutes = list(range(max(first, current - KEY_TTL_S), current + 60, 60))
    pipe = redis.pipeline(transaction=False)
    for minute in minutes:
        pipe.hgetall(forged_key(minute))
    per_minute = {m: {_text(f): int(n) for f, n in h.items()}
                  for m, h in zip(minutes, pipe.execute(), strict=True) if h}
    claimed = {int(f) for h in per_minute.values() for f in h if f.isdigit()}
    brands = dict(session.execute(select(Batch.id, Product.brand_id).join(Product, Batch.product_id == Product.id)
                                  .where(Batch.id.in_(sorted(claimed)))).all()) if claimed else {}
    totals: Counter[tuple[int, int]] = Counter()
    for minute, fields in per_minute.items():
        for field, n in fields.items():
            brand = brands.get(int(field), 0) if field.isdigit() else 0
            totals[brand, minute] += n
    if totals:
        values = [{"brand_id": b, "minute": m, "attempts": n} for (b, m), n in sorted(totals.items())]
        upsert(session, ForgedMinute, ("brand_id", "minute"), values, {"attempts": "max"})
        _sum_hours(session, {(b, hour_of(m)) for b, m in totals})
    return Collected(len(minutes), sum(totals.values()))


def _sum_hours(session: Session, keys: set[tuple[int, int]]) -> None:
    """Set each (brand, hour) to the sum of its minute rows (both are absolute, so this is idempotent)."""
    values = []
    for brand, hour in sorted(keys):
        total = session.scalar(select(func.coalesce(func.sum(ForgedMinute.attempts), 0))
                               .where(ForgedMinute.brand_id == brand, ForgedMinute.minute >= hour,
                                      ForgedMinute.minute < hour + 3600))
        values.append({"brand_id": brand, "hour": hour, "attempts": int(total or 0)})
    if values:
        upsert(session, ForgedHour, ("brand_id", "hour"), values, {"attempts": "max"})


def advance_cursor(redis: Any, now: float | None = None) -> None:
    """Mark minutes older than SETTLE_S final (after the transaction holding their counts committed)."""
    at = int(time.time() if now is None else now)
    settled = at - at % 60 - SETTLE_S
    cursor = redis.get(CURSOR_KEY)
    if cursor is None or int(cursor) < settled:
        redis.set(CURSOR_KEY, settled)
