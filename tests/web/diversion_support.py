"""A channel with 窜货 in it, for the pages, API and browser tests: the two-brand world (tests/support/
channel_world.py), shipments made straight in SQL, consumer scans through the app's real scanner, and the
real Drainer with the judge storing them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from flask import Flask

from channel.judge import ChannelJudge
from channel.models import Shipment, ShipmentRange
from channel.paths import bump_version
from codegen.db import transaction
from rules.drain import Drainer, ScanEventSink
from rules.scan import ScanRequest
from tests.support.channel_world import ChannelWorld, add_seat_user, channel_world, sign
from tests.web.conftest import make_app

URUMQI, SHENZHEN, GUANGZHOU, HANGZHOU = "650102", "440305", "440106", "330106"
PACK = 24  # channel_world's batches: 240 items, 24 to a case


def ship(app: Flask, brand_id: int, batch_id: int, first: int, last: int, *, frm: int | None = None,
         to: int | None = None, store: int | None = None) -> int:
    with transaction(app.extensions["yima.db"].sessions) as s:
        sh = Shipment(brand_id=brand_id, from_distributor_id=frm, to_distributor_id=to, to_store_id=store,
                      state=Shipment.SHIPPED, shipped_at=datetime.now(UTC), case_count=last - first + 1)
        s.add(sh)
        s.flush()
        s.add(ShipmentRange(shipment_id=sh.id, brand_id=brand_id, batch_id=batch_id, first_case=first,
                            last_case=last))
        bump_version(s, brand_id)
        return sh.id


def scan(app: Flask, brand_batch: int, serial: int, adcode: str | None) -> None:
    app.extensions["yima.scanner"].scan(ScanRequest(sign(app, brand_batch, serial), ip="127.0.0.1", adcode=adcode))


def drain(app: Flask, judge: ChannelJudge | None = None) -> int:
    drainer = Drainer(app.extensions["yima.redis"], app.extensions["yima.db"].sessions, "test",
                      sink=ScanEventSink(observers=[judge or ChannelJudge()]))
    stored = 0
    while (stats := drainer.drain_once(block_ms=10)).read:
        stored += stats.stored
    return stored


@dataclass
class DiversionWorld:
    world: ChannelWorld
    brand_ids: dict[str, int] = field(default_factory=dict)
    city_seat: str = "city@a.test"  # a seat of brand a's city (sub-)distributor

    @property
    def app(self) -> Flask:
        return self.world.app


def brand_id(app: Flask, slug: str) -> int:
    from tests.web.console_support import ensure_brand

    return ensure_brand(app, slug)


def diversion_world(tmp_path, **over: object) -> DiversionWorld:  # type: ignore[no-untyped-def]
    """Brand a: cases 0-4 to the province distributor (Guangdong), 3-4 on to the city one (Guangzhou); scans:
    case 0 in Urumqi (窜货 of the province), case 3 in Shenzhen (窜货 of the city) and in Guangzhou (normal),
    case 8 (never shipped). Brand b: cases 0-9 to its province distributor (Zhejiang), one scan in Urumqi."""
    app = make_app(tmp_path, **over)
    w = DiversionWorld(channel_world(app))
    for slug in ("a", "b"):
        w.brand_ids[slug] = brand_id(app, slug)
    a, b = w.world, w.brand_ids
    ship(app, b["a"], a.batch["a"], 0, 4, to=a.distributor["a"])
    ship(app, b["a"], a.batch["a"], 3, 4, frm=a.distributor["a"], to=a.sub_distributor["a"])
    ship(app, b["b"], a.batch["b"], 0, 9, to=a.distributor["b"])
    add_seat_user(app, w.city_seat, "a", "distributor", distributor_id=a.sub_distributor["a"])
    scan(app, a.batch["a"], 10, URUMQI)
    scan(app, a.batch["a"], 3 * PACK + 1, SHENZHEN)
    scan(app, a.batch["a"], 3 * PACK + 2, GUANGZHOU)
    scan(app, a.batch["a"], 8 * PACK, URUMQI)
    scan(app, a.batch["b"], 5, URUMQI)
    drain(app)
    return w
