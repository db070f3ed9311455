"""A rules version in Redis: the compiled active campaigns, JSON, under a version number.

    {rules}:snapshot:<version>   STRING  JSON {"version": n, "campaigns": [...]}
    {rules}:current              STRING  the version every app process should be using
    channel yima:rules           a message with the version on every publish or rollback

Both keys share the hash tag {rules}, so the snapshot and the pointer flip in one MULTI: a reader sees
the old version or the new one, never half of a publish.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from redis.exceptions import WatchError

from rules.campaign import CompiledCampaign, Prize
from rules.errors import Kind, RulesError
from rules.matcher import Matcher

CURRENT = "{rules}:current"
CHANNEL = "yima:rules"


def snapshot_key(version: int) -> str:
    return f"{{rules}}:snapshot:{version}"


def dump_campaign(c: CompiledCampaign) -> dict[str, Any]:
    doc = asdict(c)
    for key in ("product_ids", "batch_ids", "roles", "tiers", "tags"):
        if doc[key] is not None:
            doc[key] = sorted(doc[key])
    return doc


def load_campaign(doc: dict[str, Any]) -> CompiledCampaign:
    d = dict(doc)
    for key in ("product_ids", "batch_ids", "roles", "tiers", "tags"):
        if d[key] is not None:
            d[key] = frozenset(d[key])
    for key in ("region_include", "region_exclude"):
        d[key] = tuple(d[key])
    if "region_sources" in d:
        d["region_sources"] = tuple(d["region_sources"])
    d["serial_ranges"] = tuple(tuple(r) for r in d["serial_ranges"]) if d["serial_ranges"] is not None else None
    d["daily_minutes"] = tuple(d["daily_minutes"]) if d["daily_minutes"] is not None else None
    d["prizes"] = tuple(Prize(**p) for p in d["prizes"])
    d["consolation"] = Prize(**d["consolation"]) if d["consolation"] is not None else None
    return CompiledCampaign(**d)


class PointerMoved(RulesError):
    """`{rules}:current` changed under a publish that was built on the version it pointed at."""

    code = "conflict"
    kind = Kind.CONFLICT


def write_snapshot(redis: Any, version: int, document: dict[str, Any], *, make_current: bool = True,
                   expect_current: int | None = None) -> None:
    """Store the snapshot and (by default) point every process at it, in one MULTI.

    `expect_current`: only if the pointer still names that version (0: no pointer), checked under WATCH,
    else PointerMoved and nothing is written: a publish built on the live version never overwrites one
    that went live meanwhile.
    """
    body = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
    with redis.pipeline(transaction=True) as pipe:
        if expect_current is not None:
            pipe.watch(CURRENT)
            raw = pipe.get(CURRENT)
            if (int(raw) if raw else 0) != expect_current:
                raise PointerMoved(f"rules version {int(raw) if raw else 0} went live meanwhile")
            pipe.multi()
        pipe.set(snapshot_key(version), body)
        if make_current:
            pipe.set(CURRENT, version)
        try:
            pipe.execute()
        except WatchError:
            raise PointerMoved("another rules version went live meanwhile") from None
    if make_current:
        redis.publish(CHANNEL, version)


def matcher_from_document(document: dict[str, Any]) -> Matcher:
    return Matcher((load_campaign(c) for c in document["campaigns"]), version=int(document["version"]))


class RulesHolder:
    """The matcher an app process scans with, swapped whole when Redis points at a new version.

    `current()` is called at the start of a request: it looks at `{rules}:current` at most every
    `interval` seconds (one GET), and only when the number changed loads and compiles the snapshot.
    A request keeps the matcher it started with, so a swap never happens mid-request.
    """

    def __init__(self, redis: Any, interval: float = 0.5, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis = redis
        self._interval = interval
        self._clock = clock
        self._matcher = Matcher((), version=0)
        self._checked = -1e9

    def current(self) -> Matcher:
        now = self._clock()
        if now - self._checked >= self._interval:
            self._checked = now
            self.refresh()
        return self._matcher

    def refresh(self) -> None:
        raw = self._redis.get(CURRENT)
        version = int(raw) if raw else 0
        if version == self._matcher.version:
            return
        data = self._redis.get(snapshot_key(version)) if version else None
        if version and data is None:
            return  # pointer without snapshot: keep the last good matcher
        self._matcher = matcher_from_document(json.loads(data)) if data else Matcher((), version=0)
