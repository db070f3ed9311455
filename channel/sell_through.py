"""BC一体化 动销返利: a consumer's first scan of an item from a case a store received draws, for that store, in
the brand's store_sell_through campaigns.

`SellThrough` observes the consumer scan rows the drain stores (rules/drain.py: ScanEventSink calls each
observer with the rows it really inserted, inside the drain's transaction). Nothing runs on the consumer's
scan path: the rebate is drawn off it, from the event stream, seconds later. For each first scan (kind
"first") of an item whose case's channel path ends at a store (a live shipment to it, channel/paths.py),
the item's code draws in the matching campaigns with member "store:<id>" and the store's adcode as region,
at the scan's own time (a backlog drained late still draws in the campaign window the scan fell in).

Redelivery is harmless: the draw is once per code per campaign (its drawn bitmap and the winner's memo), and
its replay guard is keyed by the scan event, so a row observed twice (a transaction rolled back after the
draw, then the entry delivered again) never draws twice. A draw that finds the campaign's counters gone
("unavailable", until the worker restores them from SQL) is logged and not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from channel.bside import store_member
from channel.codes import BatchInfo, batch_info
from channel.models import Store
from channel.paths import ChannelIndex, brand_version
from rules.campaign_fields import STORE_SELL_THROUGH
from rules.draw import UNAVAILABLE, DrawResult, draw_call
from rules.lua import ScriptCall, ScriptCaller
from rules.matcher import STORE, Matcher, ScanContext
from rules.snapshot import RulesHolder

log = logging.getLogger(__name__)

FIRST = "first"  # rules/scan_script.py: the status (and event kind) of a code's first scan on sale


class SellThrough:
    """The drain's observer for 动销返利. Holds each brand's channel index, reloaded when the brand's
    shipments change (ChannelVersion), and the rules (`rules`, default: a RulesHolder on `redis`)."""

    def __init__(self, redis: Any, rules: Callable[[], Matcher] | None = None) -> None:
        self._redis = redis
        self._rules = rules or RulesHolder(redis).current
        self._indexes: dict[int, ChannelIndex] = {}

    def observe(self, session: Session, rows: Sequence[dict[str, Any]]) -> None:
        """The drain's observer call (rules/drain.py ScanObserver): `draw` for these rows."""
        self.draw(session, rows)

    def draw(self, session: Session, rows: Sequence[dict[str, Any]]) -> list[DrawResult]:
        """Draw for the store of every first scan among `rows`; the draws made."""
        firsts = [r for r in rows if r.get("kind") == FIRST]
        matcher = self._rules()
        if not firsts or not matcher.has_side(STORE_SELL_THROUGH):
            return []
        batches: dict[int, BatchInfo | None] = {}
        stores: dict[int, Store | None] = {}
        fresh: set[int] = set()
        calls: list[ScriptCall[DrawResult]] = []
        for row in firsts:
            batch_id = int(row["batch_id"])
            if batch_id not in batches:
                batches[batch_id] = batch_info(session, batch_id)
            info = batches[batch_id]
            if info is None or not info.pack_size:
                continue  # no cases, no channel path
            now = _seconds(row["scanned_at"])
            serial, role = int(row["serial"]), str(row["role"])
            ctx = ScanContext(brand_id=info.brand_id, product_id=info.product_id, batch_id=batch_id, serial=serial,
                              role=role, now=now, region_source=STORE, bside=STORE_SELL_THROUGH)
            if not matcher.candidates(ctx):
                continue
            store = self._store_of(session, info, serial, stores, fresh)
            if store is None:
                continue
            ctx = ScanContext(brand_id=info.brand_id, product_id=info.product_id, batch_id=batch_id, serial=serial,
                              role=role, now=now, adcode=store.adcode, region_source=STORE, bside=STORE_SELL_THROUGH)
            calls += [draw_call(c, code=str(row["code"]), batch_id=batch_id, role=role, serial=serial,
                                member=store_member(store.id), rules_version=matcher.version,
                                scan_event=str(row["id"]), scan_id=f"st-{row['id']}", now=now)
                      for c in matcher.match(ctx)]
        if not calls:
            return []
        caller = ScriptCaller(self._redis)
        try:
            results: list[DrawResult] = caller.run_all(calls)
        finally:
            caller.close()
        for result in results:
            if result.outcome == UNAVAILABLE:
                log.warning("sell-through campaign %s: counters unavailable, a rebate was not drawn",
                            result.campaign_id)
        return results

    def _store_of(self, session: Session, info: BatchInfo, serial: int, stores: dict[int, Store | None],
                  fresh: set[int]) -> Store | None:
        """The store the item's case was shipped to last (its path ends there), if it did; None otherwise."""
        hops = self._index(session, info.brand_id, fresh).hops(info.batch_id, serial // info.pack_size)
        if not hops or hops[-1].to_store_id is None:
            return None
        store_id = hops[-1].to_store_id
        if store_id not in stores:
            store = session.get(Store, store_id)
            stores[store_id] = store if store is not None and not store.disabled else None
        return stores[store_id]

    def _index(self, session: Session, brand_id: int, fresh: set[int]) -> ChannelIndex:
        """The brand's channel index, its version checked once per observed batch of rows."""
        index = self._indexes.get(brand_id)
        if brand_id not in fresh:
            fresh.add(brand_id)
            if index is None or index.version != brand_version(session, brand_id):
                index = self._indexes[brand_id] = ChannelIndex.load(session, brand_id)
        assert index is not None
        return index


def _seconds(at: Any) -> float:
    if isinstance(at, datetime):
        return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()
    return float(at)
