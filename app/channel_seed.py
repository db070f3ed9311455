"""The demo channel for `make run`: in the demo brand, a two-tier distributor in Guangdong and one in
Xinjiang, a registered store in Guangzhou, the channel policy, and a user for each channel seat, all
sharing one random demo password kept in var/demo_channel_password (0600). Created once, idempotently,
through the same domain functions the console uses (so each row is audited, by "seed").
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.users import find_brand, user_by_email
from app.config import Config
from app.runtime import Database
from app.seed import DEMO_BRAND
from app.varfiles import create_once
from channel import directory, staff
from channel.models import CLERK, DISTRIBUTOR, INSPECTOR, WAITER, WAREHOUSE, Distributor, Store
from channel.scope import ChannelScope, brand_scope
from codegen.db import transaction

DISTRIBUTORS = (  # code, name, territory, parent's code
    ("GD-001", "华南总经销", ["44"], None),
    ("GZ-001", "广州经销商", ["4401"], "GD-001"),
    ("XJ-001", "新疆经销商", ["65"], None),
)
STORE = ("天河便利店", "440106", "GZ-001", "天河路 385 号")
SEATS = (  # e-mail, name, kind, where (a distributor's code, or the store)
    ("warehouse@demo.yima", "演示仓库 Demo warehouse", WAREHOUSE, None),
    ("inspector@demo.yima", "演示稽查 Demo inspector", INSPECTOR, None),
    ("gd@demo.yima", "华南总经销 GD-001", DISTRIBUTOR, "GD-001"),
    ("clerk@demo.yima", "天河便利店 核销员", CLERK, STORE[0]),
    ("waiter@demo.yima", "天河便利店 导购", WAITER, STORE[0]),
)


def password_path(cfg: Config) -> Path:
    """Where the demo seats' password is kept (0600, like the demo operator's)."""
    return cfg.var_dir / "demo_channel_password"


@dataclass(frozen=True)
class DemoChannel:
    password: str
    seats: tuple[tuple[str, str, str], ...]  # (e-mail, kind, where)


def _distributor(session: Session, brand_id: int, code: str) -> Distributor | None:
    return session.scalar(select(Distributor).where(Distributor.brand_id == brand_id, Distributor.code == code))


def _build(session: Session, scope: ChannelScope) -> None:
    for code, name, territory, parent in DISTRIBUTORS:
        if _distributor(session, scope.brand_id, code) is None:
            above = _distributor(session, scope.brand_id, parent) if parent else None
            directory.create_distributor(session, scope, code=code, name=name, territory=territory,
                                         parent_id=above.id if above else None)
    name, adcode, supplier, address = STORE
    if session.scalar(select(Store.id).where(Store.brand_id == scope.brand_id, Store.name == name)) is None:
        by = _distributor(session, scope.brand_id, supplier)
        assert by is not None
        directory.create_store(session, scope, name=name, adcode=adcode, distributor_id=by.id, address=address,
                               lat=23.1335, lng=113.3305, registered=True)
    if directory.get_policy(session, scope.brand_id).updated_at is None:
        directory.set_policy(session, scope, require_registration=True, voucher_face_fen=500, redeem_rebate_fen=50)


def seed_demo_channel(cfg: Config, db: Database) -> DemoChannel:
    """The demo brand's channel and its seat users (once); the demo brand must exist (app.seed.seed_demo)."""
    password = create_once(password_path(cfg), lambda: secrets.token_urlsafe(12).encode())
    with transaction(db.sessions) as session:
        brand = find_brand(session, DEMO_BRAND)
        scope = brand_scope(brand.id, "seed", role="admin")
        _build(session, scope)
        store_id = session.scalar(select(Store.id).where(Store.brand_id == brand.id, Store.name == STORE[0]))
        for email, name, kind, where in SEATS:
            if user_by_email(session, email) is not None:
                continue
            distributor = _distributor(session, brand.id, where) if kind == DISTRIBUTOR and where else None
            staff.add_staff(session, scope, email=email, name=name, password=password, kind=kind,
                            distributor_id=distributor.id if distributor else None,
                            store_id=store_id if kind in (CLERK, WAITER) else None)
    return DemoChannel(password, tuple((email, kind, where or "") for email, _, kind, where in SEATS))
