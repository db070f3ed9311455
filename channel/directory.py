"""The channel directory of a brand: its distributors (territories, tiers), its stores, and its channel policy.

Every function takes the caller's `ChannelScope`. Reading follows the scope (brand staff and the brand-wide
seats see every distributor and store; a distributor's staff its own subtree and the stores those supply;
a store's staff their own store); an id outside it is ChannelNotFound, exactly like a missing one. Only
brand operators and admins (`scope.may_manage`) write: a distributor's staff do not create
sub-distributors, because a territory is what the brand grants and its contract with each tier is the
brand's. Every write is recorded in the audit log in the caller's transaction.

Two rules keep the 窜货 judgement meaningful: a sub-distributor's territory lies inside its parent's, and
a store lies inside the territory of the distributor that supplies it (else every scan of its goods would
read as diverted). Both are checked whichever side changes.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel.errors import ChannelConflict, ChannelNotFound, InvalidChannel
from channel.models import ChannelPolicy, Distributor, Store
from channel.scope import ChannelScope, get_distributor, get_store, subtree
from channel.territory import check_store_adcode, check_territory, covers, place_name, territory_names


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


UNSET: Any = _Unset()  # "leave as it is", where None is a value (no parent, no position)

CODE = re.compile(r"[^\s]{1,40}")
ID_MAX = (1 << 31) - 1  # ids are SQL INTEGER: a larger one names nothing (and PostgreSQL would refuse it)
MAX_FEN = 1_000_000  # 10,000 元: above any one voucher's face value or rebate


def text(value: object, field: str, limit: int, *, required: bool = True) -> str:
    """A one-line text field: a string of at most `limit` characters and no control characters, stripped."""
    if not isinstance(value, str):
        raise InvalidChannel(f"{field}: must be text", field)
    if len(value) > limit:  # as sent: the API's documented maxLength counts what was sent
        raise InvalidChannel(f"{field}: at most {limit} characters", field)
    value = value.strip()
    if required and not value:
        raise InvalidChannel(f"{field}: required", field)
    if any(unicodedata.category(c) == "Cc" for c in value):
        raise InvalidChannel(f"{field}: must not contain control characters", field)
    return value


def whole(value: object) -> int | None:
    """A whole number as an int (JSON's 5.0 is 5, as JSON Schema counts it); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) else None


def as_id(value: object) -> int | None:
    """The value as a row's id (1 .. SQL INTEGER's maximum), or None when it cannot be one."""
    number = whole(value)
    return number if number is not None and 0 < number <= ID_MAX else None


def _flag(value: object, field: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidChannel(f"{field}: must be true or false", field)
    return value


# -- distributors ------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class DistributorView:
    id: int
    code: str
    name: str
    territory: list[str]
    territory_names: list[str]
    parent_id: int | None  # None also when the parent is outside the caller's scope
    parent_label: str
    tier: int  # 1: supplied by the brand; 2: by a tier-1 distributor; ...
    contact: str
    disabled: bool
    stores: int
    created_at: datetime

    def audited(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "territory": self.territory, "parent_id": self.parent_id,
                "contact": self.contact, "disabled": self.disabled}


def _brand_distributors(session: Session, brand_id: int) -> dict[int, Distributor]:
    return {d.id: d for d in session.scalars(select(Distributor).where(Distributor.brand_id == brand_id))}


def _tier(rows: dict[int, Distributor], d: Distributor) -> int:
    tier, seen, parent = 1, {d.id}, d.parent_id
    while parent is not None and parent in rows and parent not in seen:
        seen.add(parent)
        tier, parent = tier + 1, rows[parent].parent_id
    return tier


def _view(scope: ChannelScope, rows: dict[int, Distributor], d: Distributor, stores: int) -> DistributorView:
    parent = rows.get(d.parent_id) if d.parent_id is not None and scope.sees_distributor(d.parent_id) else None
    return DistributorView(d.id, d.code, d.name, list(d.territory), territory_names(list(d.territory)),
                           parent.id if parent else None, f"{parent.code} {parent.name}" if parent else "",
                           _tier(rows, d), d.contact, d.disabled, stores, d.created_at)


def _store_counts(session: Session, brand_id: int) -> dict[int, int]:
    return dict(session.execute(select(Store.distributor_id, func.count(Store.id))
                                .where(Store.brand_id == brand_id).group_by(Store.distributor_id)).all())


def list_distributors(session: Session, scope: ChannelScope) -> list[DistributorView]:
    """The distributors the caller sees, as a tree: each one followed by its sub-distributors (by code)."""
    rows = _brand_distributors(session, scope.brand_id)
    counts = _store_counts(session, scope.brand_id)
    visible = {i: d for i, d in rows.items() if scope.sees_distributor(i)}
    children: dict[int | None, list[Distributor]] = {}
    for d in visible.values():
        children.setdefault(d.parent_id if d.parent_id in visible else None, []).append(d)
    ordered: list[DistributorView] = []
    todo = sorted(children.get(None, []), key=lambda d: d.code, reverse=True)
    while todo:
        d = todo.pop()
        ordered.append(_view(scope, rows, d, counts.get(d.id, 0)))
        todo += sorted(children.get(d.id, []), key=lambda c: c.code, reverse=True)
    return ordered


def distributor_view(session: Session, scope: ChannelScope, distributor_id: int) -> DistributorView:
    d = get_distributor(session, scope, distributor_id)
    return _view(scope, _brand_distributors(session, scope.brand_id), d,
                 _store_counts(session, scope.brand_id).get(d.id, 0))


def _check_parent(session: Session, scope: ChannelScope, d: Distributor | None, parent_id: object,
                  territory: list[str]) -> int | None:
    if parent_id is None:
        return None
    wanted = as_id(parent_id)
    if wanted is None:
        raise InvalidChannel("parent_id: a distributor id, or null", "parent_id")
    try:
        parent = get_distributor(session, scope, wanted)
    except ChannelNotFound:
        raise InvalidChannel(f"parent_id: no distributor {parent_id}", "parent_id") from None
    if d is not None and parent.id in subtree(session, scope.brand_id, d.id):
        raise InvalidChannel("parent_id: a distributor cannot sit under itself or its own sub-distributors",
                             "parent_id")
    outside = [p for p in territory if not covers(list(parent.territory), p)]
    if outside:
        raise InvalidChannel(f"territory: {place_name(outside[0])} is outside the territory of {parent.code} "
                             f"{parent.name}", "territory")
    return parent.id


def _check_below(session: Session, d: Distributor, territory: list[str]) -> None:
    """A narrower territory must still hold the distributor's sub-distributors and stores."""
    for child in session.scalars(select(Distributor).where(Distributor.parent_id == d.id)):
        outside = [p for p in child.territory if not covers(territory, p)]
        if outside:
            raise InvalidChannel(f"territory: sub-distributor {child.code} {child.name} sells in "
                                 f"{place_name(outside[0])}; narrow its territory first", "territory")
    for store in session.scalars(select(Store).where(Store.distributor_id == d.id)):
        if not covers(territory, store.adcode):
            raise InvalidChannel(f"territory: store {store.name} is in {place_name(store.adcode)}; move it to "
                                 "another distributor first", "territory")


def _check_code(session: Session, brand_id: int, code: object, own_id: int | None = None) -> str:
    code = text(code, "code", 40)
    if not CODE.fullmatch(code):
        raise InvalidChannel("code: at most 40 characters, no spaces (the brand's dealer number)", "code")
    taken = session.scalar(select(Distributor.id).where(Distributor.brand_id == brand_id, Distributor.code == code))
    if taken is not None and taken != own_id:
        raise ChannelConflict(f"code: the brand has a distributor {code} already")
    return code


def create_distributor(session: Session, scope: ChannelScope, *, code: object, name: object, territory: object,
                       parent_id: object = None, contact: object = "") -> DistributorView:
    """A new distributor of the scope's brand (audited: distributor.create)."""
    scope.require(scope.may_manage, "manage distributors")
    d = Distributor(brand_id=scope.brand_id, code=_check_code(session, scope.brand_id, code),
                    name=text(name, "name", 200), contact=text(contact, "contact", 100, required=False))
    d.territory = check_territory(territory)
    d.parent_id = _check_parent(session, scope, None, parent_id, d.territory)
    session.add(d)
    session.flush()
    view = distributor_view(session, scope, d.id)
    record_change(session, scope.actor, "distributor.create", f"distributor:{d.id}", brand_id=scope.brand_id,
                  after=view.audited())
    return view


def update_distributor(session: Session, scope: ChannelScope, distributor_id: int, *, code: object = UNSET,
                       name: object = UNSET, territory: object = UNSET, parent_id: object = UNSET,
                       contact: object = UNSET, disabled: object = UNSET) -> DistributorView:
    """Change the fields given (UNSET: unchanged); audited as distributor.update with before and after."""
    d = get_distributor(session, scope, distributor_id)
    scope.require(scope.may_manage, "manage distributors")
    before = distributor_view(session, scope, d.id)
    if code is not UNSET:
        d.code = _check_code(session, scope.brand_id, code, d.id)
    if name is not UNSET:
        d.name = text(name, "name", 200)
    if contact is not UNSET:
        d.contact = text(contact, "contact", 100, required=False)
    if disabled is not UNSET:
        d.disabled = _flag(disabled, "disabled")
    new_territory = check_territory(territory) if territory is not UNSET else list(d.territory)
    new_parent = d.parent_id if parent_id is UNSET else parent_id
    if territory is not UNSET or parent_id is not UNSET:
        d.parent_id = _check_parent(session, scope, d, new_parent, new_territory)
        _check_below(session, d, new_territory)
        d.territory = new_territory
    session.flush()
    after = distributor_view(session, scope, d.id)
    if after.audited() != before.audited():
        record_change(session, scope.actor, "distributor.update", f"distributor:{d.id}", brand_id=scope.brand_id,
                      before=before.audited(), after=after.audited())
    return after


# -- stores ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class StoreView:
    id: int
    name: str
    adcode: str
    place: str  # "广东省 广州市 天河区"
    address: str
    lat: float | None
    lng: float | None
    distributor_id: int
    distributor_label: str  # "" when the supplier is outside the caller's scope (a store's own staff)
    registered_at: datetime | None
    registered_case: str
    disabled: bool
    created_at: datetime

    def audited(self) -> dict[str, Any]:
        return {"name": self.name, "adcode": self.adcode, "address": self.address, "lat": self.lat, "lng": self.lng,
                "distributor_id": self.distributor_id, "registered": self.registered_at is not None,
                "disabled": self.disabled}


def _store_view(scope: ChannelScope, s: Store, supplier: Distributor | None) -> StoreView:
    label = f"{supplier.code} {supplier.name}" if supplier is not None and scope.sees_distributor(supplier.id) else ""
    return StoreView(s.id, s.name, s.adcode, place_name(s.adcode), s.address, s.lat, s.lng, s.distributor_id, label,
                     s.registered_at, s.registered_case, s.disabled, s.created_at)


def list_stores(session: Session, scope: ChannelScope, *, distributor_id: int | None = None) -> list[StoreView]:
    """The stores the caller sees (only those `distributor_id` supplies, when given), by name."""
    query = select(Store).where(Store.brand_id == scope.brand_id).order_by(Store.name, Store.id)
    if distributor_id is not None:
        query = query.where(Store.distributor_id == get_distributor(session, scope, distributor_id).id)
    rows = _brand_distributors(session, scope.brand_id)
    return [_store_view(scope, s, rows.get(s.distributor_id)) for s in session.scalars(query) if scope.sees_store(s)]


def store_view(session: Session, scope: ChannelScope, store_id: int) -> StoreView:
    s = get_store(session, scope, store_id)
    return _store_view(scope, s, session.get(Distributor, s.distributor_id))


def _coordinate(value: object, field: str, bound: float) -> float | None:
    if value is None:
        return None
    number = value if isinstance(value, int | float) and not isinstance(value, bool) else math.nan
    if not -bound <= number <= bound:  # an int of any size compares; NaN and infinities fail
        raise InvalidChannel(f"{field}: a number from -{bound:g} to {bound:g}", field)
    return float(number)


def _check_position(lat: object, lng: object) -> tuple[float | None, float | None]:
    checked = _coordinate(lat, "lat", 90), _coordinate(lng, "lng", 180)
    if (checked[0] is None) != (checked[1] is None):
        raise InvalidChannel("lat: give both lat and lng, or neither", "lat")
    return checked


def _supplier(session: Session, scope: ChannelScope, distributor_id: object, adcode: str) -> Distributor:
    wanted = as_id(distributor_id)
    if wanted is None:
        raise InvalidChannel("distributor_id: the id of the distributor that supplies the store", "distributor_id")
    try:
        supplier = get_distributor(session, scope, wanted)
    except ChannelNotFound:
        raise InvalidChannel(f"distributor_id: no distributor {distributor_id}", "distributor_id") from None
    if not covers(list(supplier.territory), adcode):
        raise InvalidChannel(f"adcode: {place_name(adcode)} is outside the territory of {supplier.code} "
                             f"{supplier.name}", "adcode")
    return supplier


def _registered(store: Store, registered: object) -> None:
    if _flag(registered, "registered") and store.registered_at is None:
        store.registered_at, store.registered_case = datetime.now(UTC), ""  # by the brand, no case scanned
    elif not registered:
        store.registered_at, store.registered_case = None, ""


def create_store(session: Session, scope: ChannelScope, *, name: object, adcode: object, distributor_id: object,
                 address: object = "", lat: object = None, lng: object = None,
                 registered: object = False) -> StoreView:
    """A new store supplied by `distributor_id` (audited: store.create). `registered` qualifies it to redeem
    at once, as the brand's say-so, instead of its staff scanning a case code it received."""
    scope.require(scope.may_manage, "manage stores")
    place = check_store_adcode(adcode)
    supplier = _supplier(session, scope, distributor_id, place)
    position = _check_position(lat, lng)
    s = Store(brand_id=scope.brand_id, distributor_id=supplier.id, name=text(name, "name", 200), adcode=place,
              address=text(address, "address", 200, required=False), lat=position[0], lng=position[1])
    _registered(s, registered)
    session.add(s)
    session.flush()
    view = _store_view(scope, s, supplier)
    record_change(session, scope.actor, "store.create", f"store:{s.id}", brand_id=scope.brand_id, after=view.audited())
    return view


def update_store(session: Session, scope: ChannelScope, store_id: int, *, name: object = UNSET,
                 adcode: object = UNSET, distributor_id: object = UNSET, address: object = UNSET,
                 lat: object = UNSET, lng: object = UNSET, registered: object = UNSET,
                 disabled: object = UNSET) -> StoreView:
    """Change the fields given (UNSET: unchanged); audited as store.update with before and after."""
    s = get_store(session, scope, store_id)
    scope.require(scope.may_manage, "manage stores")
    before = store_view(session, scope, s.id)
    if name is not UNSET:
        s.name = text(name, "name", 200)
    if address is not UNSET:
        s.address = text(address, "address", 200, required=False)
    if adcode is not UNSET or distributor_id is not UNSET:
        place = check_store_adcode(adcode) if adcode is not UNSET else s.adcode
        s.distributor_id = _supplier(session, scope, s.distributor_id if distributor_id is UNSET else distributor_id,
                                     place).id
        s.adcode = place
    if lat is not UNSET or lng is not UNSET:
        s.lat, s.lng = _check_position(s.lat if lat is UNSET else lat, s.lng if lng is UNSET else lng)
    if registered is not UNSET:
        _registered(s, registered)
    if disabled is not UNSET:
        s.disabled = _flag(disabled, "disabled")
    session.flush()
    after = store_view(session, scope, s.id)
    if after.audited() != before.audited():
        record_change(session, scope.actor, "store.update", f"store:{s.id}", brand_id=scope.brand_id,
                      before=before.audited(), after=after.audited())
    return after


# -- the brand's channel policy ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Policy:
    require_registration: bool = True  # a store scans a case code it received before it may redeem
    voucher_face_fen: int = 0  # what the brand reimburses per redeemed voucher
    redeem_rebate_fen: int = 0  # the store's 核销 reward on top
    updated_at: datetime | None = None  # None: never set, these are the defaults

    def audited(self) -> dict[str, Any]:
        return {"require_registration": self.require_registration, "voucher_face_fen": self.voucher_face_fen,
                "redeem_rebate_fen": self.redeem_rebate_fen}


def get_policy(session: Session, brand_id: int) -> Policy:
    """The brand's channel policy; the defaults when it never set one."""
    row = session.get(ChannelPolicy, brand_id)
    if row is None:
        return Policy()
    return Policy(row.require_registration, row.voucher_face_fen, row.redeem_rebate_fen, row.updated_at)


def _fen(value: object, field: str) -> int:
    fen = whole(value)
    if fen is None or not 0 <= fen <= MAX_FEN:
        raise InvalidChannel(f"{field}: whole fen from 0 to {MAX_FEN} (1 元 = 100 fen)", field)
    return fen


def set_policy(session: Session, scope: ChannelScope, *, require_registration: object, voucher_face_fen: object,
               redeem_rebate_fen: object) -> Policy:
    """Replace the brand's channel policy (audited: channel_policy.set)."""
    scope.require(scope.may_manage, "set the channel policy")
    wanted = Policy(_flag(require_registration, "require_registration"), _fen(voucher_face_fen, "voucher_face_fen"),
                    _fen(redeem_rebate_fen, "redeem_rebate_fen"))
    before = get_policy(session, scope.brand_id)
    if before.updated_at is not None and before.audited() == wanted.audited():
        return before
    row = session.get(ChannelPolicy, scope.brand_id) or ChannelPolicy(brand_id=scope.brand_id)
    row.require_registration, row.voucher_face_fen, row.redeem_rebate_fen = (
        wanted.require_registration, wanted.voucher_face_fen, wanted.redeem_rebate_fen)
    row.updated_at = datetime.now(UTC)
    session.add(row)
    session.flush()
    record_change(session, scope.actor, "channel_policy.set", f"channel_policy:{scope.brand_id}",
                  brand_id=scope.brand_id, before=before.audited() if before.updated_at else None,
                  after=wanted.audited())
    return get_policy(session, scope.brand_id)
