"""What Redis knows of a code right now, for the lookup: the scan path writes it before the event stream is
drained into SQL (about a second later, or an hour later while the database is down).

One pipelined round trip over keys of the code's batch (one Cluster slot, codegen/batch_keys.py): its
"scanned on sale" bit, its repeat count and its first scan's details as rules/scan.lua wrote them; for a
case code, also the "scanned" bits of its items. Read-only: a lookup never spends a code's first scan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from codegen.batch_keys import FIRST_BUCKET, first_key, repeats_key, seen_key

ITEM_ROLES = ("inner", "outer")  # an item counts as scanned when either of its codes was


@dataclass(frozen=True, slots=True)
class LiveScans:
    count: int  # scans on sale so far, the first included (0: never scanned on sale)
    first_at: datetime | None
    first_adcode: str
    items_scanned: int | None = None  # a case code: how many of its items were scanned (inner or outer)


def read_live(redis: Any, batch_id: int, role: str, serial: int,
              items: tuple[int, int] | None = None) -> LiveScans:
    """The code's scan state in Redis; `items` (first, last item serial) for a case code. RedisError passes
    through: the caller answers from SQL alone."""
    pipe = redis.pipeline(transaction=False)
    pipe.getbit(seen_key(batch_id, role), serial)
    pipe.hget(repeats_key(batch_id), f"{role}:{serial}")
    pipe.hget(first_key(batch_id, role, serial), serial % FIRST_BUCKET)
    if items is not None:
        for item_role in ITEM_ROLES:
            pipe.getrange(seen_key(batch_id, item_role), items[0] // 8, items[1] // 8)
    seen, repeats, first, *bitmaps = pipe.execute()
    count = (1 + int(repeats or 0)) if seen else 0
    first_at, first_adcode = None, ""
    if first:
        ts, _, rest = _text(first).partition(",")
        first_adcode = rest.partition(",")[0]
        first_at = datetime.fromtimestamp(int(ts), UTC) if ts.isdigit() else None
    scanned = _bits_set(bitmaps, items) if items is not None else None
    return LiveScans(count, first_at, first_adcode, scanned)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _bits_set(bitmaps: list[bytes], items: tuple[int, int]) -> int:
    """Items in [first, last] whose bit is set in any of the bitmaps (GETRANGE answered whole bytes)."""
    first, last = items
    merged = 0
    width = (last // 8 - first // 8 + 1) * 8
    for raw in bitmaps:
        data = raw if isinstance(raw, bytes) else _text(raw).encode("latin-1")
        merged |= int.from_bytes(data.ljust(width // 8, b"\0"), "big")
    # Bit 0 of the range is the most significant bit of the first byte (Redis numbers bits that way).
    shift = width - 1 - (last - first // 8 * 8)
    mask = (1 << (last - first + 1)) - 1
    return ((merged >> shift) & mask).bit_count()
