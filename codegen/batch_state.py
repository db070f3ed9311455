"""A batch as the scan path sees it in Redis, written from SQL (the source of truth).

Keys share the hash tag {b:<id>} so a scan script touching one batch stays in one Cluster slot:

    {b:<id>}:meta    HASH  key_id, brand, product, sku, lot, production_date, quantity, pack, status
    {b:<id>}:active  ZSET  member "first-last" scored by first: merged serial ranges on sale
    {b:<id>}:void    ZSET  same shape: voided ranges (damaged rolls, recalls); void wins over active
    {b:<id>}:events  STREAM scan events (written by rules/scan.lua), listed in the set yima:event-streams

A script checks a serial s with ZREVRANGEBYSCORE key s -inf LIMIT 0 1 and compares s with "last".
The three keys are replaced in one MULTI/EXEC, so a reader never sees half an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codegen.ranges import Range

# Every batch's event stream is listed here so the drainer finds it (a plain key: its own slot).
EVENT_STREAMS = "yima:event-streams"


def batch_keys(batch_id: int) -> tuple[str, str, str]:
    tag = f"{{b:{batch_id}}}"
    return f"{tag}:meta", f"{tag}:active", f"{tag}:void"


def events_key(batch_id: int) -> str:
    """The batch's scan-event stream (the outbox the scan script appends to)."""
    return f"{{b:{batch_id}}}:events"


def write_batch_state(
    redis: Any,
    batch_id: int,
    meta: Mapping[str, str | int],
    active: Iterable[Range],
    void: Iterable[Range],
) -> None:
    """Replace the batch's Redis state atomically. `active` and `void` must already be merged."""
    meta_key, active_key, void_key = batch_keys(batch_id)
    pipe = redis.pipeline(transaction=True)
    pipe.delete(meta_key, active_key, void_key)
    pipe.hset(meta_key, mapping={k: str(v) for k, v in meta.items()})
    for key, ranges in ((active_key, active), (void_key, void)):
        members = {f"{a}-{b}": a for a, b in ranges}
        if members:
            pipe.zadd(key, members)
    pipe.execute()
    redis.sadd(EVENT_STREAMS, events_key(batch_id))


def read_batch_state(redis: Any, batch_id: int) -> tuple[dict[str, str], list[Range], list[Range]] | None:
    """The batch's Redis state, or None if Redis holds no such batch."""
    meta_key, active_key, void_key = batch_keys(batch_id)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(meta_key)
    pipe.zrange(active_key, 0, -1)
    pipe.zrange(void_key, 0, -1)
    meta, active, void = pipe.execute()
    if not meta:
        return None

    def _text(value: bytes | str) -> str:
        return value.decode() if isinstance(value, bytes) else value

    def _ranges(members: list[bytes | str]) -> list[Range]:
        out = []
        for member in members:
            first, _, last = _text(member).partition("-")
            out.append((int(first), int(last)))
        return sorted(out)

    return {_text(k): _text(v) for k, v in meta.items()}, _ranges(active), _ranges(void)
