"""A batch as the scan path sees it in Redis, written from SQL (the source of truth).

Its keys (codegen/batch_keys.py) share the hash tag {b:<id>}. `:active` and `:void` hold merged serial
ranges; void wins over active. A script checks a serial s with ZREVRANGEBYSCORE key s -inf LIMIT 0 1
and compares s with "last".
The three keys are replaced in one MULTI/EXEC, so a reader never sees half an update.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from codegen.batch_keys import EVENT_STREAMS, batch_keys, events_key
from codegen.ranges import Range

__all__ = ["EVENT_STREAMS", "batch_keys", "events_key", "read_batch_state", "write_batch_state"]


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
