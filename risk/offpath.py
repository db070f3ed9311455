"""Signals the drain observer (risk.observer) computes off the hot path, in memory, from the scan events it
sees: what the hot path's window (16 recent scans, 10 minutes, risk/subject.lua) cannot see.

- `NearSerials` — a slow sweep: per device, today's scans of a serial within `distance` of a serial the
  device scanned earlier today in the same batch. An insider scanning one code a minute all day never
  shows in a 10-minute window; here the count grows all day.
- `OutOfMarket` — goods scanned far from their market: a device or network scanning ≥ `codes` distinct
  codes of one batch within an hour, from a province other than where the batch is mostly scanned
  (everybody else's scans of it, as seen so far).

Both are keyed by the event's own time (a backlog drained late is judged in the day and hour it was
scanned); a newer day (hour) starts afresh and events of an older one are not counted. State is bounded:
at most `max_keys` (device, batch) entries and `max_serials` serials each, least recently used dropped
first. Rescanning a serial already seen is not counted again, so an event seen twice counts once.

Limits, by construction: the state is one observer's, in one process. A drain job is one RQ work horse
(app/worker.py) that lives for its `seconds` and starts empty; several drain workers share the streams
(one consumer group), each seeing a part of a device's scans. So the windows are "today / this hour, as
far as this drain job has seen". A store shared across jobs (Redis, under the subject's tag) would make
them whole; see the observer's docstring.
"""

from __future__ import annotations

import bisect
from collections import Counter, OrderedDict
from dataclasses import dataclass, field

MAX_KEYS = 200_000
MAX_SERIALS = 512


class _Lru(OrderedDict[tuple[str, ...], "_Entry"]):
    """Entries in order of last use; the oldest dropped past `limit`."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def entry(self, key: tuple[str, ...]) -> _Entry:
        found = self.get(key)
        if found is None:
            found = self[key] = _Entry()
            if len(self) > self.limit:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return found


@dataclass(slots=True)
class _Entry:
    serials: list[int] = field(default_factory=list)  # sorted
    places: Counter[str] = field(default_factory=Counter)  # province → scans (OutOfMarket)


class NearSerials:
    """Per device and day: how many of its scans had a serial within `distance` of one scanned before."""

    def __init__(self, distance: int = 8, max_keys: int = MAX_KEYS, max_serials: int = MAX_SERIALS) -> None:
        self.distance, self.max_serials = distance, max_serials
        self.day = -1
        self._seen = _Lru(max_keys)  # (device, batch) → serials today
        self._near: OrderedDict[str, int] = OrderedDict()  # device → near scans today
        self._max_keys = max_keys

    def see(self, day: int, device: str, batch_id: int, serial: int) -> int:
        """Count one scan; the device's near scans today when this one is near (0 when it is not, when it
        was seen already, or when its day is over)."""
        if day != self.day:
            if day < self.day:
                return 0
            self.day = day
            self._seen.clear()
            self._near.clear()
        serials = self._seen.entry((device, str(batch_id))).serials
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
        if len(self._near) > self._max_keys:
            self._near.popitem(last=False)
        return count


class OutOfMarket:
    """Per subject, batch and hour: distinct codes scanned, and whether they were scanned away from the
    batch's main province."""

    def __init__(self, codes: int = 20, min_batch_scans: int = 50, max_keys: int = MAX_KEYS,
                 max_serials: int = MAX_SERIALS) -> None:
        self.codes, self.min_batch_scans, self.max_serials = codes, min_batch_scans, max_serials
        self.hour = -1
        self._seen = _Lru(max_keys)  # (kind, subject, batch) → serials and provinces this hour
        self._batches: OrderedDict[int, Counter[str]] = OrderedDict()  # batch → province → located scans
        self._max_batches = 10_000

    def place(self, batch_id: int, province: str) -> None:
        """Count one located scan of the batch (every subject's: the batch's market)."""
        counts = self._batches.get(batch_id)
        if counts is None:
            counts = self._batches[batch_id] = Counter()
            if len(self._batches) > self._max_batches:  # batches are few; the oldest seen goes first
                self._batches.popitem(last=False)
        counts[province] += 1

    def see(self, hour: int, kind: str, subject: str, batch_id: int, serial: int,
            province: str) -> tuple[int, str, str] | None:
        """Count one located scan by a subject (call `place` for it first); (distinct codes this hour, the
        subject's province, the batch's) when the subject is out of the batch's market with ≥ `codes`."""
        if hour != self.hour:
            if hour < self.hour:
                return None
            self.hour = hour
            self._seen.clear()
        entry = self._seen.entry((kind, subject, str(batch_id)))
        serials = entry.serials
        i = bisect.bisect_left(serials, serial)
        if i < len(serials) and serials[i] == serial:
            return None
        if len(serials) < self.max_serials:
            serials.insert(i, serial)
        entry.places[province] += 1
        if len(serials) < self.codes:
            return None
        batch = self._batches.get(batch_id)
        if batch is None:
            return None
        others = batch - entry.places  # the batch's market without this subject's own scans
        if sum(others.values()) < self.min_batch_scans:
            return None
        market = others.most_common(1)[0][0]
        mine = entry.places.most_common(1)[0][0]
        return (len(serials), mine, market) if mine != market else None
