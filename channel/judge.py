"""窜货 judgement off the hot path: every consumer scan the drain stores is placed in the channel and judged.

The drain (rules/drain.py) calls `ChannelJudge.observe` inside its transaction with the scan events it
really inserted, so each scan is judged exactly once: a redelivered stream entry never reaches the judge
twice, and a transaction that rolls back takes the verdicts with it. For each inner / outer code scanned:

    batch → brand and pack size (cached) → case = serial // pack → the brand's live shipments holding the
    case (`ChannelIndex`, in memory) → the responsible distributor → its territory (adcode prefixes) →
    normal / diverted (窜货) / no_record (无出库记录) / unlocated (the scan has no region)

Verdicts are counted per (brand, distributor, China's day, adcode, verdict) in `channel_judgements_daily`;
a diverted scan also gets its own `diversion_events` row (the report's samples, first and last seen). The
consumer is never touched: the scan and its draw were decided long before, and a verdict flags the
distributor only.

The judge keeps its caches across passes. A brand's index is reloaded when its `ChannelVersion` moved (one
query per pass for the brands in it); territories and stores' suppliers are read again with it, and at the
latest every `refresh_s` seconds (a territory edit need not bump the version).
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, cast

from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from channel.models import ChannelJudgementDaily, ChannelVersion, Distributor, DiversionEvent, Store
from channel.paths import ChannelIndex, Hop, responsible_distributor
from codegen.db import pg_unnest_insert
from codegen.models import Batch, Product
from reports.rollups import REPORT_UTC_OFFSET_S, upsert_add

NORMAL, DIVERTED, NO_RECORD, UNLOCATED = ChannelJudgementDaily.VERDICTS
CONSUMER_ROLES = frozenset({"inner", "outer"})  # a case or pallet code is the channel's own scan, not a sale
DAILY_KEYS = ("brand_id", "distributor_id", "day", "adcode", "verdict")
REFRESH_S = 30.0
CHINA = timezone(timedelta(seconds=REPORT_UTC_OFFSET_S))  # the reports' days (reports/rollups.py)


def china_day(at: datetime) -> date:
    """The calendar day in China (UTC+8, no daylight saving) holding the instant `at`."""
    if at.tzinfo is None:  # SQLite hands back naive datetimes: they are UTC
        at = at.replace(tzinfo=UTC)
    return at.astimezone(CHINA).date()


def known_prefix(adcode: str) -> str:
    """The part of a 6-digit adcode that says something: "440000" is only Guangdong ("44"), "440100"
    only Guangzhou ("4401"); a district code is whole."""
    if adcode.endswith("0000"):
        return adcode[:2]
    if adcode.endswith("00"):
        return adcode[:4]
    return adcode


def inside_territory(adcode: str, territory: Sequence[str]) -> bool:
    """Whether a scan at `adcode` is inside a territory of adcode prefixes. A scan known only coarser than
    a prefix (Guangzhou, against a territory of one Guangzhou district) cannot be told outside: it counts
    as inside, so no distributor is flagged without evidence. An empty territory sets no limit."""
    if not territory:
        return True
    known = known_prefix(adcode)
    return any(known.startswith(p) or p.startswith(known) for p in territory)


def responsible(hops: tuple[Hop, ...] | list[Hop],
                supplier_of: Callable[[int], int | None]) -> tuple[int | None, Hop | None]:
    """The distributor whose territory the item is sold under (channel.paths.responsible_distributor), and
    for an item the brand's warehouse shipped straight to a store, that store's supplier."""
    distributor_id, hop = responsible_distributor(hops)
    if distributor_id is None and hops and hops[-1].to_store_id is not None:
        return supplier_of(hops[-1].to_store_id), hops[-1]
    return distributor_id, hop


@dataclass(frozen=True, slots=True)
class Verdict:
    verdict: str
    distributor_id: int  # 0: no outbound record
    shipment_id: int | None  # the hop that put the item in the distributor's hands


@dataclass
class JudgeStats:
    judged: int = 0
    diverted: int = 0
    reloads: int = 0


class _Brand:
    """One brand's channel as the judge holds it."""

    __slots__ = ("index", "inside", "loaded_at", "suppliers", "territories")

    def __init__(self, index: ChannelIndex, territories: dict[int, tuple[str, ...]], loaded_at: float) -> None:
        self.index, self.territories, self.loaded_at = index, territories, loaded_at
        self.suppliers: dict[int, int | None] = {}
        self.inside: dict[tuple[int, str], bool] = {}


class ChannelJudge:
    """The drain's observer (rules.drain.ScanObserver). One per drain job: its caches live across passes."""

    def __init__(self, refresh_s: float = REFRESH_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.refresh_s, self.clock = refresh_s, clock
        self._batches: dict[int, tuple[int, int]] = {}  # batch → (brand, pack size); a batch never changes
        self._brands: dict[int, _Brand] = {}
        self.stats = JudgeStats()

    def observe(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Judge these newly stored scan events and write the verdicts in the caller's transaction."""
        scans = [r for r in rows if r["role"] in CONSUMER_ROLES]
        if not scans:
            return
        batches = self._batch_facts(session, {r["batch_id"] for r in scans})
        self._refresh(session, {brand for brand, _ in batches.values()})
        daily: dict[tuple[Any, ...], int] = defaultdict(int)
        days: dict[datetime, date] = {}  # a pass's scans share a few seconds
        diverted: list[dict[str, Any]] = []
        now = datetime.now(UTC)
        for r in scans:
            facts = batches.get(r["batch_id"])
            if facts is None:
                continue  # a batch SQL does not hold (yet): nobody to judge it against
            brand_id, pack = facts
            adcode = r["adcode"] or ""
            v = self.judge(session, brand_id, r["batch_id"], r["serial"] // pack if pack else None, adcode)
            at = r["scanned_at"]
            day = days.get(at) or days.setdefault(at, china_day(at))
            daily[brand_id, v.distributor_id, day, adcode, v.verdict] += 1
            if v.verdict == DIVERTED:
                diverted.append({"scan_event_id": r["id"], "brand_id": brand_id, "distributor_id": v.distributor_id,
                                 "shipment_id": v.shipment_id, "batch_id": r["batch_id"], "serial": r["serial"],
                                 "code": r["code"], "adcode": adcode, "region_source": r.get("region_source") or "",
                                 "scanned_at": at, "judged_at": now})
        upsert_add(session, ChannelJudgementDaily, DAILY_KEYS, ("scans",), {k: {"scans": n} for k, n in daily.items()})
        _insert_once(session, diverted)
        self.stats.judged += sum(daily.values())
        self.stats.diverted += len(diverted)

    def judge(self, session: Session, brand_id: int, batch_id: int, case: int | None, adcode: str) -> Verdict:
        """The verdict on one scan of an item of `case` (None: its batch has no cases) at `adcode` ("": not
        located), from the brand's channel as loaded (`_refresh` first)."""
        brand = self._brands[brand_id]
        hops = brand.index.hops(batch_id, case) if case is not None else ()
        distributor_id, hop = responsible_distributor(hops)
        if distributor_id is None and hops and hops[-1].to_store_id is not None:  # warehouse → store
            distributor_id, hop = self._supplier(session, brand, hops[-1].to_store_id), hops[-1]
        if distributor_id is None or hop is None:
            return Verdict(NO_RECORD, 0, None)
        if not adcode:
            return Verdict(UNLOCATED, distributor_id, hop.shipment_id)
        key = (distributor_id, adcode)
        inside = brand.inside.get(key)
        if inside is None:
            inside = brand.inside[key] = inside_territory(adcode, brand.territories.get(distributor_id, ()))
        return Verdict(NORMAL if inside else DIVERTED, distributor_id, hop.shipment_id)

    def _batch_facts(self, session: Session, batch_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
        wanted = set(batch_ids)
        missing = wanted - self._batches.keys()
        if missing:
            for batch_id, brand_id, pack in session.execute(
                    select(Batch.id, Product.brand_id, Batch.pack_size).join(Product, Batch.product_id == Product.id)
                    .where(Batch.id.in_(sorted(missing)))):
                self._batches[batch_id] = (brand_id, pack or 0)
        return {b: self._batches[b] for b in wanted if b in self._batches}

    def _refresh(self, session: Session, brand_ids: set[int]) -> None:
        """Reload the brands whose channel moved since they were loaded (one query for all of them), and
        the territories of those loaded more than `refresh_s` ago."""
        if not brand_ids:
            return
        query = select(ChannelVersion.brand_id, ChannelVersion.version).where(
            ChannelVersion.brand_id.in_(sorted(brand_ids)))
        versions: dict[int, int] = {b: v for b, v in session.execute(query)}
        now = self.clock()
        for brand_id in brand_ids:
            held = self._brands.get(brand_id)
            if held is None or held.index.version != versions.get(brand_id, 0):
                self._brands[brand_id] = _Brand(ChannelIndex.load(session, brand_id),
                                                _territories(session, brand_id), now)
                self.stats.reloads += 1
            elif now - held.loaded_at >= self.refresh_s:
                self._brands[brand_id] = _Brand(held.index, _territories(session, brand_id), now)

    def _supplier(self, session: Session, brand: _Brand, store_id: int) -> int | None:
        if store_id not in brand.suppliers:
            brand.suppliers[store_id] = session.scalar(select(Store.distributor_id).where(Store.id == store_id))
        return brand.suppliers[store_id]


def _territories(session: Session, brand_id: int) -> dict[int, tuple[str, ...]]:
    return {d: tuple(t or ()) for d, t in session.execute(
        select(Distributor.id, Distributor.territory).where(Distributor.brand_id == brand_id))}


def _insert_once(session: Session, rows: list[dict[str, Any]]) -> None:
    """Insert diversion events, skipping any scan already judged (UNIQUE scan_event_id)."""
    if not rows:
        return
    table = cast(Table, DiversionEvent.__table__)
    dialect = session.get_bind().dialect.name
    stmt: Any
    if dialect == "postgresql":  # one statement of a list per column, as the rollups do
        columns = tuple(rows[0])
        sql = pg_unnest_insert(table.name, columns, "ON CONFLICT (scan_event_id) DO NOTHING")
        session.execute(text(sql), {c: [r[c] for r in rows] for c in columns})
        return
    if dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["scan_event_id"])
    else:
        known = set(session.scalars(select(table.c.scan_event_id)
                                    .where(table.c.scan_event_id.in_([r["scan_event_id"] for r in rows]))))
        rows = [r for r in rows if r["scan_event_id"] not in known]
        stmt = insert(table)
    if rows:
        session.execute(stmt, rows)
