"""Signals the drain observer (risk.observer) computes off the hot path, in memory, from the scan events it
sees: what the hot path's window (16 recent scans, 10 minutes, risk/subject.lua) cannot see.

- `NearSerials` — a slow sweep: per device, today's scans of a serial within `distance` of a serial the
  device scanned earlier today in the same batch. An insider scanning one code a minute all day never
  shows in a 10-minute window; here the count grows all day.
- `OutOfMarket` — goods scanned far from their market: a device or network scanning ≥ `codes` distinct
  codes of one batch within an hour from provinces other than the one the batch is mostly scanned in (as
  seen so far, once it has `min_batch_scans` located scans). Scans in the batch's market cost a counter.

Both are keyed by the event's own time (a backlog drained late is judged in the day and hour it was
scanned); a newer day (hour) starts afresh and events of an older one are not counted (a batch's market
is kept across hours). State is bounded: at most `max_keys` (subject, batch) entries of `max_serials`
serials each, least recently used dropped first, and 10,000 batches' province counts. Rescanning a serial
already seen is not counted again, so an event seen twice counts once.

Limits, by construction: the state is one observer's, in one process. A drain job is one RQ work horse
(app/worker.py) that lives for its `seconds` and starts empty; several drain workers share the streams
(one consumer group), each seeing a part of a device's scans. So the windows are "today / this hour, as
far as this drain job has seen". A store shared across jobs (Redis, under the subject's tag) would make
them whole.
"""

from __future__ import annotations

import bisect
from collections import Counter, OrderedDict
from typing import Any

MAX_KEYS = 200_000
MAX_SERIALS = 512


def _entry(lru: OrderedDict[Any, Any], key: Any, make: Any, limit: int) -> Any:
    """The entry of `key` in an LRU (made when absent, the least recently used dropped past `limit`)."""
    found = lru.get(key)
    if found is None:
        found = lru[key] = make()
        if len(lru) > limit:
            lru.popitem(last=False)
    else:
        lru.move_to_end(key)
    return found


def _add(serials: list[int], serial: int, limit: int) -> int:
    """Insert a serial into a sorted list (unless it holds `limit`); its index, or -1 when already there."""
    i = bisect.bisect_left(serials, serial)
    if i < len(serials) and serials[i] == serial:
        return -1
    if len(serials) < limit:
        serials.insert(i, serial)
    return i


class NearSerials:
    """Per device and day: how many of its scans had a serial within `distance` of one scanned before."""

    def __init__(self, distance: int = 8, max_keys: int = MAX_KEYS, max_serials: int = MAX_SERIALS) -> None:
        self.distance, self.max_keys, self.max_serials = distance, max_keys, max_serials
        self.day = -1
        self._seen: OrderedDict[tuple[str, int], list[int]] = OrderedDict()  # (device, batch) → serials today
        self._near: OrderedDict[str, int] = OrderedDict()  # device → near scans today

    def see(self, day: int, device: str, batch_id: int, serial: int) -> int:
        """Count one scan; the device's near scans today when this one is near (0 when it is not, when it
        was seen already, or when its day is over)."""
        if day != self.day:
            if day < self.day:
                return 0
            self.day = day
            self._seen.clear()
            self._near.clear()
        serials: list[int] = _entry(self._seen, (device, batch_id), list, self.max_keys)
        i = bisect.bisect_left(serials, serial)
        if i < len(serials) and serials[i] == serial:
            return 0  # a repeat of the same code (or the same event again): not a step of a sweep
        near = (i > 0 and serial - serials[i - 1] <= self.distance) or \
               (i < len(serials) and serials[i] - serial <= self.distance)
        if len(serials) < self.max_serials:
            serials.insert(i, serial)
        if not near:
            return 0
        count = self._near.pop(device, 0) + 1
        self._near[device] = count
        if len(self._near) > self.max_keys:
            self._near.popitem(last=False)
        return count


class OutOfMarket:
    """Per batch, the province most of its scans come from (its market); per subject, batch and hour, the
    distinct codes of the batch it scanned from another province."""

    def __init__(self, codes: int = 20, min_batch_scans: int = 50, max_keys: int = MAX_KEYS,
                 max_serials: int = MAX_SERIALS) -> None:
        self.codes, self.min_batch_scans = codes, min_batch_scans
        self.max_keys, self.max_serials = max_keys, max_serials
        self.hour = -1
        self._seen: OrderedDict[tuple[str, str, int], list[int]] = OrderedDict()  # (kind, subject, batch) → serials
        self._batches: OrderedDict[int, Counter[str]] = OrderedDict()  # batch → province → located scans
        self._market: dict[int, str] = {}  # batch → its most frequent province so far
        self._max_batches = 10_000

    def see(self, hour: int, batch_id: int, serial: int, province: str,
            subjects: list[tuple[str, str]]) -> list[tuple[str, str, int, str]]:
        """Count one located scan of the batch by these subjects ((kind, id) pairs); those now out of the
        batch's market with ≥ `codes` distinct codes this hour: (kind, id, codes, the batch's province)."""
        counts = self._batches.get(batch_id)
        if counts is None:
            counts = self._batches[batch_id] = Counter()
            if len(self._batches) > self._max_batches:  # batches are few; the oldest seen goes first
                self._market.pop(self._batches.popitem(last=False)[0], None)
        counts[province] += 1
        market = self._market.get(batch_id)
        if market is None or (market != province and counts[province] > counts[market]):
            market = self._market[batch_id] = province
        if hour != self.hour:
            if hour < self.hour:
                return []
            self.hour = hour
            self._seen.clear()
        if province == market or counts.total() < self.min_batch_scans:
            return []
        out = []
        for kind, subject in subjects:
            serials: list[int] = _entry(self._seen, (kind, subject, batch_id), list, self.max_keys)
            if _add(serials, serial, self.max_serials) >= 0 and len(serials) >= self.codes:
                out.append((kind, subject, len(serials), market))
        return out
