"""Where an item went: the live shipments holding its case, in shipping order (its channel path).

`ChannelIndex` holds one brand's live ranges (shipped or received, not undone) in memory, cut into
elementary segments so that each case of a batch maps, by one binary search, to the shipments covering it.
The 窜货 judge keeps one per brand and reloads it when the brand's `ChannelVersion` moves; the lookup
builds the path of one case straight from SQL (`path_of`).
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from channel.models import ChannelVersion, Shipment, ShipmentRange


@dataclass(frozen=True, slots=True)
class Hop:
    """One shipment on an item's path."""

    shipment_id: int
    from_distributor_id: int | None  # None: the brand's warehouse
    to_distributor_id: int | None
    to_store_id: int | None
    state: str
    shipped_at: datetime | None
    received_at: datetime | None


def responsible_distributor(hops: tuple[Hop, ...] | list[Hop]) -> tuple[int | None, Hop | None]:
    """The distributor whose territory the item is sold under, and the hop that put it there: the last
    distributor it was shipped to, or, when it went on to a store, the distributor that supplied the store."""
    for hop in reversed(hops):
        if hop.to_distributor_id is not None:
            return hop.to_distributor_id, hop
        if hop.from_distributor_id is not None:
            return hop.from_distributor_id, hop
    return None, None


def _order(hop: Hop) -> tuple[datetime, int]:
    return (hop.shipped_at or datetime.min, hop.shipment_id)


def _live_hops(session: Session, brand_id: int, shipment_ids: set[int] | None = None) -> dict[int, Hop]:
    query = select(Shipment.id, Shipment.from_distributor_id, Shipment.to_distributor_id, Shipment.to_store_id,
                   Shipment.state, Shipment.shipped_at, Shipment.received_at).where(
        Shipment.brand_id == brand_id, Shipment.state.in_(Shipment.LIVE))
    if shipment_ids is not None:
        query = query.where(Shipment.id.in_(shipment_ids))
    return {row[0]: Hop(*row) for row in session.execute(query)}


def path_of(session: Session, brand_id: int, batch_id: int, case: int) -> list[Hop]:
    """The live shipments holding case `case` of the batch, oldest first (one indexed query)."""
    ids = set(session.scalars(select(ShipmentRange.shipment_id).where(
        ShipmentRange.batch_id == batch_id, ShipmentRange.brand_id == brand_id,
        ShipmentRange.first_case <= case, ShipmentRange.last_case >= case)))
    if not ids:
        return []
    return sorted(_live_hops(session, brand_id, ids).values(), key=_order)


def brand_version(session: Session, brand_id: int) -> int:
    return session.scalar(select(ChannelVersion.version).where(ChannelVersion.brand_id == brand_id)) or 0


def bump_version(session: Session, brand_id: int) -> None:
    """Call in the transaction of every change to a brand's shipments (create, ship, receive, undo). The row
    stays locked until commit: a brand's shipment changes commit one after the other."""
    bump = update(ChannelVersion).where(ChannelVersion.brand_id == brand_id).values(version=ChannelVersion.version + 1)
    if session.execute(bump).rowcount:  # type: ignore[attr-defined]
        return
    try:  # the brand's first change; another transaction may be making the row at the same moment
        with session.begin_nested():
            session.add(ChannelVersion(brand_id=brand_id, version=1))
    except IntegrityError:  # it did, and has committed (the insert waited for it): count this change too
        session.execute(bump)


class _BatchSegments:
    """One batch's case axis cut where any live range starts or ends: starts[i] .. starts[i+1]-1 are covered
    by exactly the hops in covers[i] (oldest first)."""

    __slots__ = ("covers", "starts")

    def __init__(self, ranges: list[tuple[int, int, Hop]]) -> None:
        cuts = sorted({first for first, _, _ in ranges} | {last + 1 for _, last, _ in ranges})
        at = {c: i for i, c in enumerate(cuts)}
        adds: list[list[Hop]] = [[] for _ in cuts]
        drops: list[list[Hop]] = [[] for _ in cuts]
        for first, last, hop in ranges:
            adds[at[first]].append(hop)
            drops[at[last + 1]].append(hop)
        live: dict[int, Hop] = {}
        self.starts = cuts
        self.covers: list[tuple[Hop, ...]] = []
        for i in range(len(cuts)):
            for hop in drops[i]:
                live.pop(hop.shipment_id, None)
            for hop in adds[i]:
                live[hop.shipment_id] = hop
            self.covers.append(tuple(sorted(live.values(), key=_order)))

    def hops(self, case: int) -> tuple[Hop, ...]:
        i = bisect.bisect_right(self.starts, case) - 1
        return self.covers[i] if i >= 0 else ()


class ChannelIndex:
    """One brand's live channel in memory: (batch, case) → hops, oldest first."""

    def __init__(self, brand_id: int, version: int, batches: dict[int, _BatchSegments]) -> None:
        self.brand_id, self.version, self._batches = brand_id, version, batches

    @classmethod
    def load(cls, session: Session, brand_id: int) -> ChannelIndex:
        version = brand_version(session, brand_id)
        hops = _live_hops(session, brand_id)
        per_batch: dict[int, list[tuple[int, int, Hop]]] = {}
        if hops:
            rows = session.execute(select(ShipmentRange.batch_id, ShipmentRange.first_case, ShipmentRange.last_case,
                                          ShipmentRange.shipment_id).where(ShipmentRange.brand_id == brand_id))
            for batch_id, first, last, shipment_id in rows:
                hop = hops.get(shipment_id)
                if hop is not None:
                    per_batch.setdefault(batch_id, []).append((first, last, hop))
        return cls(brand_id, version, {b: _BatchSegments(r) for b, r in per_batch.items()})

    def hops(self, batch_id: int, case: int) -> tuple[Hop, ...]:
        segments = self._batches.get(batch_id)
        return segments.hops(case) if segments is not None else ()
