"""B-side tests' world on top of tests/support/channel_world.py: cases shipped straight in SQL, B-side
campaigns published through the real rules store, the scope of a seat, the rules as a B-side scan reads them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Flask
from sqlalchemy import select

from accounts.models import ChannelSeat
from accounts.users import user_by_email
from channel.bside import BsideRules
from channel.models import Shipment, ShipmentRange
from channel.paths import bump_version
from channel.scope import ChannelScope, seat_scope
from codegen.db import transaction
from codegen.models import Brand
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import publish_rules
from rules.region import default_index
from rules.snapshot import RulesHolder

WINDOW = {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"}


def sessions(app: Flask) -> Any:
    return app.extensions["yima.db"].sessions


def ship_cases(app: Flask, brand: str, batch_id: int, first_case: int, last_case: int, *,
               to_store: int | None = None, to_distributor: int | None = None,
               from_distributor: int | None = None, state: str = Shipment.SHIPPED) -> int:
    """A shipment of cases [first_case, last_case] of the batch, made straight in SQL (its ChannelVersion bumped)."""
    with transaction(sessions(app)) as s:
        brand_id = s.scalar(select(Brand.id).where(Brand.slug == brand))
        assert brand_id is not None
        now = datetime.now(UTC)
        shipment = Shipment(brand_id=brand_id, from_distributor_id=from_distributor, to_distributor_id=to_distributor,
                            to_store_id=to_store, state=state, case_count=last_case - first_case + 1,
                            shipped_at=now if state != Shipment.OPEN else None)
        s.add(shipment)
        s.flush()
        s.add(ShipmentRange(shipment_id=shipment.id, brand_id=brand_id, batch_id=batch_id, first_case=first_case,
                            last_case=last_case))
        bump_version(s, brand_id)
        return shipment.id


def b_campaign(audience: str, brand: str = "a", **over: Any) -> dict[str, Any]:
    """A B-side campaign paying 5 元 on every draw (roles: the audience's default)."""
    return {"name": f"B {audience}", "brand": brand, "window": WINDOW, "members": {"audience": audience},
            "budget": {"total_fen": 1_000_000},
            "prizes": [{"kind": "cash", "name": "奖励", "min_fen": 500, "max_fen": 500, "weight": 1.0}], **over}


def consumer_campaign(brand: str = "a") -> dict[str, Any]:
    """A consumer campaign: the code's first scan wins 1.88 元."""
    return {"name": "消费者首扫", "brand": brand, "window": WINDOW, "ordinal": {"kind": "first_scan"},
            "budget": {"total_fen": 1_000_000},
            "prizes": [{"kind": "cash", "name": "红包", "min_fen": 188, "max_fen": 188, "weight": 1.0}]}


def publish(app: Flask, *docs: dict[str, Any]) -> list[int]:
    """Create, activate and publish the campaigns (every brand's); their ids."""
    ids = []
    with transaction(sessions(app)) as s:
        for doc in docs:
            row = save_campaign(s, doc, default_index())
            set_status(s, row.id, Campaign.ACTIVE, default_index())
            ids.append(row.id)
        publish_rules(s, app.extensions["yima.redis"], default_index(), note="test")
    return ids


def bside_rules(app: Flask) -> BsideRules:
    """The rules as a B-side scan reads them, always the current version (no polling interval)."""
    redis = app.extensions["yima.redis"]
    return BsideRules(redis, RulesHolder(redis, interval=0).current, app.extensions["yima.scanner"].key_for)


def seat_of(app: Flask, email: str) -> ChannelScope:
    """The channel scope of a seat holder, as app/channel_access.py builds it."""
    with sessions(app)() as s:
        user = user_by_email(s, email)
        assert user is not None
        seat = s.get(ChannelSeat, user.id)
        assert seat is not None
        return seat_scope(s, brand_id=seat.brand_id, kind=seat.kind, actor=email, user_id=user.id,
                          distributor_id=seat.distributor_id, store_id=seat.store_id)
