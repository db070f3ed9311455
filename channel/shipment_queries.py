"""Reading shipments: lists in the caller's scope (sent, received, awaiting 入库), one shipment's detail with
its case ranges and flags, the receivers the caller may ship to, and the channel record of an item or case.

Scope as in channel/shipments.py: brand staff and brand-wide seats see the whole brand; a distributor's seat
sees shipments from or to its subtree (an OPEN one only from it); a store's seats see shipments to the store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, false, or_, select
from sqlalchemy.orm import Session

from channel.codes import KeyFor, case_items, read_code
from channel.errors import InvalidChannel
from channel.models import CLERK, DISTRIBUTOR, ChannelFlag, Distributor, Shipment, ShipmentRange, Store
from channel.paths import path_of, responsible_distributor
from channel.scope import ChannelScope
from channel.shipments import acts_as_sender, get_shipment, may_receive, may_undo, visible
from codegen.models import Batch, Product

MAX_PAGE = 200
WAREHOUSE_PARTY = "warehouse"


@dataclass(frozen=True)
class Party:
    kind: str  # "warehouse", "distributor" or "store"
    id: int | None
    name: str
    code: str = ""  # a distributor's dealer number


@dataclass(frozen=True)
class RangeView:
    batch_id: int
    lot: str
    sku: str
    product: str
    first_case: int
    last_case: int
    cases: int
    first_item: int
    last_item: int


@dataclass(frozen=True)
class FlagView:
    id: int
    kind: str
    batch_id: int
    first_case: int
    last_case: int
    other_shipment_id: int | None
    created_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True)
class ShipmentView:
    id: int
    state: str
    reference: str
    sender: Party
    receiver: Party
    case_count: int
    item_count: int
    created_by: str
    created_at: datetime
    shipped_at: datetime | None
    received_at: datetime | None
    received_by: str
    undone_at: datetime | None
    undo_reason: str
    may_scan: bool = False
    may_receive: bool = False
    may_undo: bool = False
    ranges: tuple[RangeView, ...] = ()
    flags: tuple[FlagView, ...] = ()


class _Names:
    """Distributor and store names, read once per page."""

    def __init__(self, session: Session, distributor_ids: Iterable[int | None], store_ids: Iterable[int | None]):
        d_ids = {d for d in distributor_ids if d is not None}
        s_ids = {s for s in store_ids if s is not None}
        self.distributors = {d.id: d for d in session.scalars(select(Distributor).where(Distributor.id.in_(d_ids)))}
        self.stores = {s.id: s for s in session.scalars(select(Store).where(Store.id.in_(s_ids)))}

    def sender(self, distributor_id: int | None) -> Party:
        if distributor_id is None:
            return Party(WAREHOUSE_PARTY, None, "")
        d = self.distributors.get(distributor_id)
        return Party("distributor", distributor_id, d.name if d else "", d.code if d else "")

    def receiver(self, distributor_id: int | None, store_id: int | None) -> Party:
        if distributor_id is not None:
            return self.sender(distributor_id)
        st = self.stores.get(store_id or 0)
        return Party("store", store_id, st.name if st else "")


def _view(sh: Shipment, names: _Names, scope: ChannelScope, **extra: Any) -> ShipmentView:
    return ShipmentView(
        sh.id, sh.state, sh.reference, names.sender(sh.from_distributor_id),
        names.receiver(sh.to_distributor_id, sh.to_store_id), sh.case_count, sh.item_count, sh.created_by,
        sh.created_at, sh.shipped_at, sh.received_at, sh.received_by, sh.undone_at, sh.undo_reason,
        may_scan=sh.state == Shipment.OPEN and acts_as_sender(scope, sh),
        may_receive=sh.state == Shipment.SHIPPED and may_receive(scope, sh),
        may_undo=sh.state in (Shipment.OPEN, Shipment.SHIPPED) and may_undo(scope, sh), **extra)


def _views(session: Session, scope: ChannelScope, rows: list[Shipment]) -> list[ShipmentView]:
    names = _Names(session, [r.from_distributor_id for r in rows] + [r.to_distributor_id for r in rows],
                   [r.to_store_id for r in rows])
    return [_view(r, names, scope) for r in rows]


def _sent_by(scope: ChannelScope) -> Any:
    if scope.brand_wide:
        return Shipment.from_distributor_id.is_(None)
    if scope.kind == DISTRIBUTOR:
        return Shipment.from_distributor_id.in_(scope.distributor_ids or ())
    return false()


def _received_by(scope: ChannelScope) -> Any:
    if scope.store_id is not None:
        return Shipment.to_store_id == scope.store_id
    if scope.brand_wide:
        return false()  # the brand's warehouse receives nothing
    ids = scope.distributor_ids or frozenset()
    return or_(Shipment.to_distributor_id.in_(ids),
               Shipment.to_store_id.in_(select(Store.id).where(Store.distributor_id.in_(ids))))


def _in_scope(scope: ChannelScope) -> Select[Any]:
    query = select(Shipment).where(Shipment.brand_id == scope.brand_id)
    if scope.brand_wide:
        return query
    return query.where(or_(_sent_by(scope), and_(Shipment.state != Shipment.OPEN, _received_by(scope))))


def list_shipments(session: Session, scope: ChannelScope, *, direction: str = "", state: str = "",
                   limit: int = 50, before_id: int | None = None) -> list[ShipmentView]:
    """Newest first. `direction`: "sent" (from the caller's warehouse or distributors), "received" (to them),
    "" both; `state` one of Shipment.STATES or ""; page with `before_id`."""
    query = _in_scope(scope)
    if direction == "sent":
        query = query.where(_sent_by(scope))
    elif direction == "received":
        query = query.where(_received_by(scope))
    elif direction:
        raise InvalidChannel("direction is sent, received or empty", field="direction")
    if state:
        if state not in Shipment.STATES:
            raise InvalidChannel(f"state is one of {', '.join(Shipment.STATES)}", field="state")
        query = query.where(Shipment.state == state)
    if before_id is not None:
        query = query.where(Shipment.id < before_id)
    rows = list(session.scalars(query.order_by(Shipment.id.desc()).limit(max(1, min(limit, MAX_PAGE)))))
    return _views(session, scope, rows)


def inbox(session: Session, scope: ChannelScope, limit: int = 100) -> list[ShipmentView]:
    """Shipments the caller may confirm 入库 of, oldest first (brand operators: every one awaiting)."""
    query = select(Shipment).where(Shipment.brand_id == scope.brand_id, Shipment.state == Shipment.SHIPPED)
    if not scope.operates:
        if scope.kind == DISTRIBUTOR:
            query = query.where(Shipment.to_distributor_id == scope.distributor_id)
        elif scope.kind == CLERK:
            query = query.where(Shipment.to_store_id == scope.store_id)
        else:
            return []
    return _views(session, scope, list(session.scalars(query.order_by(Shipment.id).limit(min(limit, MAX_PAGE)))))


def shipment_detail(session: Session, scope: ChannelScope, shipment_id: int) -> ShipmentView:
    """One shipment with its case ranges (batch lot and product) and its flags."""
    sh = get_shipment(session, scope, shipment_id)
    ranges = tuple(
        RangeView(b, lot, sku, product, first, last, last - first + 1,
                  *_items(first, last, pack, quantity))
        for b, lot, sku, product, first, last, pack, quantity in session.execute(
            select(ShipmentRange.batch_id, Batch.lot, Product.sku, Product.name, ShipmentRange.first_case,
                   ShipmentRange.last_case, Batch.pack_size, Batch.quantity)
            .join(Batch, Batch.id == ShipmentRange.batch_id).join(Product, Product.id == Batch.product_id)
            .where(ShipmentRange.shipment_id == sh.id).order_by(ShipmentRange.batch_id, ShipmentRange.first_case)))
    flags = tuple(FlagView(f.id, f.kind, f.batch_id, f.first_case, f.last_case, f.other_shipment_id, f.created_at,
                           f.resolved_at)
                  for f in session.scalars(select(ChannelFlag).where(ChannelFlag.shipment_id == sh.id)
                                           .order_by(ChannelFlag.id)))
    names = _Names(session, [sh.from_distributor_id, sh.to_distributor_id], [sh.to_store_id])
    return _view(sh, names, scope, ranges=ranges, flags=flags)


def _items(first: int, last: int, pack: int, quantity: int) -> tuple[int, int]:
    return first * pack, min((last + 1) * pack, quantity) - 1


def receivers(session: Session, scope: ChannelScope) -> list[Party]:
    """Whom the caller may open a shipment to (empty when their seat does not ship)."""
    if scope.may_ship_from_warehouse:
        rows = session.scalars(select(Distributor).where(Distributor.brand_id == scope.brand_id,
                                                         Distributor.disabled.is_(False)).order_by(Distributor.code))
        return [Party("distributor", d.id, d.name, d.code) for d in rows]
    if scope.kind != DISTRIBUTOR:
        return []
    ids = (scope.distributor_ids or frozenset()) - {scope.distributor_id}
    out = [Party("distributor", d.id, d.name, d.code) for d in session.scalars(
        select(Distributor).where(Distributor.id.in_(ids), Distributor.disabled.is_(False))
        .order_by(Distributor.code))]
    out += [Party("store", s.id, s.name) for s in session.scalars(
        select(Store).where(Store.distributor_id.in_(scope.distributor_ids or ()), Store.disabled.is_(False))
        .order_by(Store.name, Store.id))]
    return out


@dataclass(frozen=True)
class ChannelRecord:
    """Where an item or a case went: its batch, its case, and the shipments (hops) the caller may see."""

    code: str
    role: str
    batch_id: int
    lot: str
    product: str
    case: int
    first_item: int
    last_item: int
    hops: tuple[ShipmentView, ...]
    responsible: Party | None  # the distributor whose territory the item is sold under, when the caller sees it


def channel_record(session: Session, scope: ChannelScope, text: str, key_for: KeyFor) -> ChannelRecord:
    """The channel record of an item or case code (or its scan URL): shipped to whom, when, along which path,
    oldest hop first. CodeError (not genuine, another brand's) passes through; InvalidChannel for a pallet
    code or a code of a batch packed without cases."""
    code = read_code(session, scope.brand_id, text, key_for)
    case = code.case
    if case is None:
        raise InvalidChannel("a pallet code, or a code of a batch packed without case codes: it has no channel "
                             "record", field="code")
    hops = path_of(session, scope.brand_id, code.batch.batch_id, case)
    rows = {sh.id: sh for sh in session.scalars(select(Shipment).where(Shipment.id.in_([h.shipment_id
                                                                                      for h in hops])))}
    seen = [rows[h.shipment_id] for h in hops if visible(session, scope, rows[h.shipment_id])]
    views = _views(session, scope, seen)
    responsible_id, _ = responsible_distributor(hops)
    party = None
    if responsible_id is not None and scope.sees_distributor(responsible_id):
        party = _Names(session, [responsible_id], []).sender(responsible_id)
    first, last = case_items(code.batch, case)
    return ChannelRecord(code.code, code.role.label, code.batch.batch_id, code.batch.lot, code.batch.product, case,
                         first, last, tuple(views), party)

