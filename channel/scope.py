"""Who is acting in the channel and what they may see: a `ChannelScope`, built once per request.

- Brand staff (a console role in the brand; a platform admin) see the whole brand. Operators and admins
  also act for the brand: ship from its warehouse, manage distributors and stores, settle statements.
- A warehouse seat ships from the brand's warehouse; an inspector (稽查) looks codes up brand-wide.
- A distributor's staff see their distributor and every sub-distributor under it (multi-tier channels),
  the stores those supply, and the shipments from or to any of them.
- A store's clerk (核销员) and waiter (导购) see their own store.

Every domain function that reads or changes the channel takes the scope and answers ChannelNotFound for an
object outside it, exactly as for one that does not exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from channel.errors import ChannelForbidden, ChannelNotFound
from channel.models import (
    BRAND_WIDE_SEATS,
    CLERK,
    DISTRIBUTOR,
    INSPECTOR,
    SEAT_KINDS,
    STORE_SEATS,
    WAITER,
    WAREHOUSE,
    Distributor,
    Store,
)

BRAND = "brand"  # the scope of brand staff (a console role), not a seat
# Console roles that act for the brand in the channel (the rest only read).
OPERATING_ROLES = ("operator", "admin")


@dataclass(frozen=True)
class ChannelScope:
    brand_id: int
    actor: str  # how the audit log and the rows' created_by name the caller
    kind: str  # BRAND or a seat kind (channel.models.SEAT_KINDS)
    user_id: int | None = None
    operates: bool = False  # brand staff who act for the brand (operator, admin, platform admin)
    distributor_id: int | None = None  # a distributor seat's own distributor; a store seat's supplier
    store_id: int | None = None  # a store seat's store
    # The distributors this caller sees: None = every one of the brand; else own + descendants (a store
    # seat sees none: its supplier is only named on its shipments).
    distributor_ids: frozenset[int] | None = None

    @property
    def brand_wide(self) -> bool:
        return self.kind in (BRAND, *BRAND_WIDE_SEATS)

    @property
    def may_ship_from_warehouse(self) -> bool:
        return self.operates or self.kind == WAREHOUSE

    @property
    def may_redeem(self) -> bool:
        return self.kind == CLERK

    @property
    def may_manage(self) -> bool:
        """Create and edit distributors, stores, staff seats and the channel policy; settle statements."""
        return self.operates

    def sees_distributor(self, distributor_id: int | None) -> bool:
        if distributor_id is None:  # the brand's warehouse
            return self.brand_wide
        return self.distributor_ids is None or distributor_id in self.distributor_ids

    def sees_store(self, store: Store) -> bool:
        if store.brand_id != self.brand_id:
            return False
        if self.kind in STORE_SEATS:
            return store.id == self.store_id
        return self.sees_distributor(store.distributor_id)

    def require(self, allowed: bool, what: str) -> None:
        """ChannelForbidden unless `allowed`: the caller sees the object, their seat may not do `what`."""
        if not allowed:
            raise ChannelForbidden(f"your seat ({self.kind}) may not {what}")


def brand_scope(brand_id: int, actor: str, *, role: str | None, user_id: int | None = None) -> ChannelScope:
    """The scope of brand staff: `role` is their console role in the brand ("admin" for a platform admin)."""
    if role is None:
        raise ChannelNotFound("no such brand")
    return ChannelScope(brand_id, actor, BRAND, user_id=user_id, operates=role in OPERATING_ROLES)


def seat_scope(session: Session, *, brand_id: int, kind: str, actor: str, user_id: int | None,
               distributor_id: int | None = None, store_id: int | None = None) -> ChannelScope:
    """The scope of a channel seat; ChannelNotFound when its distributor or store is gone or disabled."""
    if kind not in SEAT_KINDS:
        raise ChannelNotFound(f"unknown seat kind {kind!r}")
    if kind in (WAREHOUSE, INSPECTOR):
        return ChannelScope(brand_id, actor, kind, user_id=user_id)
    if kind == DISTRIBUTOR:
        own = session.get(Distributor, distributor_id) if distributor_id else None
        if own is None or own.brand_id != brand_id or own.disabled:
            raise ChannelNotFound("this seat's distributor no longer exists")
        return ChannelScope(brand_id, actor, kind, user_id=user_id, distributor_id=own.id,
                            distributor_ids=frozenset(subtree(session, brand_id, own.id)))
    store = session.get(Store, store_id) if store_id else None
    if store is None or store.brand_id != brand_id or store.disabled or kind not in (CLERK, WAITER):
        raise ChannelNotFound("this seat's store no longer exists")
    return ChannelScope(brand_id, actor, kind, user_id=user_id, distributor_id=store.distributor_id,
                        store_id=store.id, distributor_ids=frozenset())


def subtree(session: Session, brand_id: int, root: int) -> set[int]:
    """`root` and every distributor under it (its sub-distributors, theirs, ...)."""
    children: dict[int, list[int]] = {}
    for did, parent in session.execute(select(Distributor.id, Distributor.parent_id)
                                       .where(Distributor.brand_id == brand_id)):
        if parent is not None:
            children.setdefault(parent, []).append(did)
    found, todo = {root}, [root]
    while todo:
        for child in children.get(todo.pop(), ()):
            if child not in found:  # a cycle is refused on write; never loop on one anyway
                found.add(child)
                todo.append(child)
    return found


def get_distributor(session: Session, scope: ChannelScope, distributor_id: int) -> Distributor:
    d = session.get(Distributor, distributor_id)
    if d is None or d.brand_id != scope.brand_id or not scope.sees_distributor(d.id):
        raise ChannelNotFound(f"no distributor {distributor_id}")
    return d


def get_store(session: Session, scope: ChannelScope, store_id: int) -> Store:
    s = session.get(Store, store_id)
    if s is None or not scope.sees_store(s):
        raise ChannelNotFound(f"no store {store_id}")
    return s
