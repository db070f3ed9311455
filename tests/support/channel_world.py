"""A channel to test against: brands with a cased batch, distributors (with territories and tiers), stores,
and users holding channel seats, made straight in SQL; codes signed with the app's keyring.

Every channel test builds its world with these, on the real app (tests/web/conftest.make_app) and its
real SQLite / Redis, so the rows look exactly like the ones the pages and the API make.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask import Flask

from accounts.models import ChannelSeat
from accounts.users import create_user, user_by_email
from channel.models import ChannelPolicy, Distributor, Store
from codegen import batches, keys
from codegen.codeformat import Role, encode
from codegen.db import transaction
from codegen.models import Batch, Brand
from tests.web.console_support import PASSWORD, ensure_brand


def _sessions(app: Flask):  # type: ignore[no-untyped-def]
    return app.extensions["yima.db"].sessions


def make_cased_batch(app: Flask, brand: str = "demo", *, lot: str = "CH-LOT", count: int = 240, pack: int = 24,
                     activate: bool = True) -> int:
    """A batch of `count` items packed `pack` to a case (so count/pack case codes), activated in Redis."""
    brand_id = ensure_brand(app, brand)
    ring, _ = keys.init_keyring(app.config["YIMA"].keys_file)
    with transaction(_sessions(app)) as s:
        b = s.get(Brand, brand_id)
        assert b is not None
        sku = f"SKU-{brand}"
        try:
            batches.find_product(s, b, sku)
        except Exception:
            batches.add_product(s, b, sku, f"产品 {brand} 500ml", None)
        batch = batches.create_batch(s, b, batches.BatchRequest(
            sku=sku, lot=lot, count=count, pack=pack, factory="Test Factory", line="1",
            production_date=date(2026, 11, 20)), key_id=ring.current, max_count=10_000_000)
        if activate:
            batches.activate(s, app.extensions["yima.redis"], batch.id, None)
        return batch.id


def sign(app: Flask, batch_id: int, serial: int, role: Role = Role.INNER) -> str:
    """The canonical text of one code of the batch."""
    ring = keys.load_keyring(app.config["YIMA"].keys_file)
    with _sessions(app)() as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        key_id = batch.key_id
    return encode(ring.batch_key(key_id, batch_id), role=role, key_id=key_id, batch_id=batch_id, serial=serial)


def case_code(app: Flask, batch_id: int, case: int) -> str:
    return sign(app, batch_id, case, Role.CASE)


def add_distributor(app: Flask, brand: str, code: str, name: str, territory: list[str],
                    parent_id: int | None = None) -> int:
    brand_id = ensure_brand(app, brand)
    with transaction(_sessions(app)) as s:
        d = Distributor(brand_id=brand_id, code=code, name=name, territory=territory, parent_id=parent_id)
        s.add(d)
        s.flush()
        return d.id


def add_store(app: Flask, brand: str, distributor_id: int, name: str, adcode: str = "440106", *,
              registered: bool = True) -> int:
    brand_id = ensure_brand(app, brand)
    with transaction(_sessions(app)) as s:
        from datetime import UTC, datetime

        st = Store(brand_id=brand_id, distributor_id=distributor_id, name=name, adcode=adcode,
                   registered_at=datetime.now(UTC) if registered else None)
        s.add(st)
        s.flush()
        return st.id


def set_policy(app: Flask, brand: str, *, require_registration: bool = True, face_fen: int = 500,
               rebate_fen: int = 50) -> None:
    brand_id = ensure_brand(app, brand)
    with transaction(_sessions(app)) as s:
        row = s.get(ChannelPolicy, brand_id) or ChannelPolicy(brand_id=brand_id)
        row.require_registration, row.voucher_face_fen, row.redeem_rebate_fen = (
            require_registration, face_fen, rebate_fen)
        s.add(row)


def add_seat_user(app: Flask, email: str, brand: str, kind: str, *, distributor_id: int | None = None,
                  store_id: int | None = None, password: str = PASSWORD) -> int:
    """A user with a channel seat (and no console role) in `brand`."""
    brand_id = ensure_brand(app, brand)
    with transaction(_sessions(app)) as s:
        user = user_by_email(s, email) or create_user(s, email, password)
        seat = s.get(ChannelSeat, user.id) or ChannelSeat(user_id=user.id)
        seat.brand_id, seat.kind, seat.distributor_id, seat.store_id = brand_id, kind, distributor_id, store_id
        s.add(seat)
        s.flush()
        return user.id


@dataclass
class ChannelWorld:
    """Two brands ("a", "b"), each with: a cased batch; a province distributor (Guangdong for a, Zhejiang
    for b) with a sub-distributor (Guangzhou / Hangzhou); a store under the sub-distributor; and a user for
    every seat (email "<kind>@<brand>.test"; password console_support.PASSWORD)."""

    app: Flask
    batch: dict[str, int] = field(default_factory=dict)
    distributor: dict[str, int] = field(default_factory=dict)
    sub_distributor: dict[str, int] = field(default_factory=dict)
    store: dict[str, int] = field(default_factory=dict)
    users: dict[tuple[str, str], str] = field(default_factory=dict)  # (brand, kind) → email


TERRITORY = {"a": (["44"], ["4401"], "440106"), "b": (["33"], ["3301"], "330106")}


def channel_world(app: Flask, brands: tuple[str, ...] = ("a", "b")) -> ChannelWorld:
    w = ChannelWorld(app)
    for brand in brands:
        province, city, store_adcode = TERRITORY.get(brand, (["11"], ["1101"], "110101"))
        w.batch[brand] = make_cased_batch(app, brand, lot=f"LOT-{brand}")
        w.distributor[brand] = add_distributor(app, brand, f"{brand.upper()}-P1", f"省级经销商 {brand}", province)
        w.sub_distributor[brand] = add_distributor(app, brand, f"{brand.upper()}-C1", f"市级经销商 {brand}", city,
                                                   parent_id=w.distributor[brand])
        w.store[brand] = add_store(app, brand, w.sub_distributor[brand], f"门店 {brand}", store_adcode)
        set_policy(app, brand)
        for kind in ("warehouse", "inspector", "distributor", "clerk", "waiter"):
            email = f"{kind}@{brand}.test"
            add_seat_user(app, email, brand, kind,
                          distributor_id=w.distributor[brand] if kind == "distributor" else None,
                          store_id=w.store[brand] if kind in ("clerk", "waiter") else None)
            w.users[(brand, kind)] = email
    return w
