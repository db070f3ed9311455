"""The redemption lookup (channel/lookup.py) on the real app's Redis and SQL, SQLite and PostgreSQL: each
section of the answer, the channel path as each seat may see it, another brand's code, forged and
malformed codes, a case code, scans before and after the drain, and the answer with Redis down."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from channel.lookup import FORGED, MALFORMED, NOT_ON_SALE, NOT_THIS_BRAND, ON_SALE, RECENT, VOID, lookup_code
from channel.models import Shipment, ShipmentRange, VoucherRedemption
from channel.scope import ChannelScope, brand_scope, seat_scope
from codegen import batches, keys
from codegen.codeformat import Role, encode
from codegen.db import transaction
from codegen.models import Batch, Brand
from payouts.models import AwardClaim, Payout
from rules.awards import AwardSink
from rules.campaign_store import save_campaign, set_status
from rules.drain import Drainer
from rules.models import Award, Campaign
from rules.publish import publish_rules
from rules.region import default_index
from rules.scan import ScanRequest
from tests.support.channel_world import ChannelWorld, add_distributor, add_store, channel_world, make_cased_batch, sign
from tests.web.conftest import make_app

T0 = datetime(2026, 11, 21, 2, 0, tzinfo=UTC)
DEAD_REDIS_PORT = 52499  # nothing listens there (helper C's port range)


@dataclass
class Lookups:
    world: ChannelWorld
    other_province: int  # a second province distributor of brand a, outside the first's subtree
    other_store: int  # a store it supplies

    @property
    def app(self) -> Flask:
        return self.world.app

    def scope(self, kind: str = "brand", brand: str = "a", *, distributor_id: int | None = None,
              store_id: int | None = None) -> ChannelScope:
        with self.app.extensions["yima.db"].sessions() as s:
            bid = s.scalar(select(Brand.id).where(Brand.slug == brand))
            assert bid is not None
            if kind == "brand":
                return brand_scope(bid, "test", role="analyst")
            return seat_scope(s, brand_id=bid, kind=kind, actor="test", user_id=None,
                              distributor_id=distributor_id, store_id=store_id)

    def look(self, text: str, scope: ChannelScope | None = None, *, redis_client: Any = "app") -> Any:
        ext = self.app.extensions
        client = ext["yima.redis"] if redis_client == "app" else redis_client
        with ext["yima.db"].sessions() as s:
            return lookup_code(s, scope or self.scope(), text, ext["yima.scanner"].key_for, redis=client)

    def scan(self, code: str, **req: Any) -> None:
        self.app.extensions["yima.scanner"].scan(ScanRequest(code, **req))

    def drain(self) -> None:
        r, sessions = self.app.extensions["yima.redis"], self.app.extensions["yima.db"].sessions
        for sink in (None, AwardSink()):
            drainer = Drainer(r, sessions, "test", sink=sink)
            while drainer.drain_once(block_ms=10).read:
                pass


@pytest.fixture
def lookups(tmp_path: Path, redis_client: redis.Redis, database_url: str) -> Iterator[Lookups]:
    app = make_app(tmp_path, database_url=database_url)
    w = channel_world(app)
    other = add_distributor(app, "a", "A-P2", "省级经销商 a2", ["45"])
    yield Lookups(w, other, add_store(app, "a", other, "门店 a2", "450102"))


def ship(app: Flask, batch_id: int, first: int, last: int, *, sender: int | None, to: int | None = None,
         store: int | None = None, received: bool = True, day: int = 0) -> int:
    """A shipment of cases [first, last] as the shipping pages leave it (shipped, maybe received)."""
    with transaction(app.extensions["yima.db"].sessions) as s:
        batch = s.get(Batch, batch_id)
        assert batch is not None
        brand_id = batch.product.brand_id
        at = T0 + timedelta(days=day)
        row = Shipment(brand_id=brand_id, from_distributor_id=sender, to_distributor_id=to, to_store_id=store,
                       state=Shipment.RECEIVED if received else Shipment.SHIPPED, case_count=last - first + 1,
                       item_count=(last - first + 1) * batch.pack_size, created_by="test", shipped_at=at,
                       received_at=at + timedelta(hours=20) if received else None)
        s.add(row)
        s.flush()
        s.add(ShipmentRange(shipment_id=row.id, brand_id=brand_id, batch_id=batch_id, first_case=first,
                            last_case=last))
        return row.id


def publish(app: Flask, batch_id: int, kind: str, name: str, **prize: Any) -> int:
    doc = {"name": f"{name} 活动", "brand": "a",
           "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
           "scope": {"batches": [batch_id], "roles": ["inner"]}, "budget": {"total_fen": 100_000},
           "prizes": [{"kind": kind, "name": name, "weight": 1.0, "total": 100, **prize}]}
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = save_campaign(s, doc, default_index())
        set_status(s, row.id, Campaign.ACTIVE, default_index())
        publish_rules(s, app.extensions["yima.redis"], default_index(), note="test")
        return row.id


# --- genuine or not ---------------------------------------------------------------------------------------


def test_a_genuine_item_code_shows_its_product_batch_sale_state_and_case(lookups: Lookups) -> None:
    w = lookups.world
    code = sign(lookups.app, w.batch["a"], 30)
    found = lookups.look(f"https://q.demo.example/q/{code.lower()}?from=wechat")  # a scan URL, any case
    assert found.genuine and found.reason == "" and found.code == code
    assert (found.role, found.serial, found.sale) == ("inner", 30, ON_SALE)
    assert found.product.sku == "SKU-a" and found.product.name == "产品 a 500ml" and found.product.brand
    b = found.batch
    assert (b.id, b.lot, str(b.production_date), b.factory, b.line) == (w.batch["a"], "LOT-a", "2026-11-20",
                                                                        "Test Factory", "1")
    assert (b.quantity, b.pack_size, b.activated) == (240, 24, 240)
    assert (found.case.case, found.case.first_item, found.case.last_item) == (1, 24, 47)
    assert found.case.items_scanned is None  # counted for a case code only
    assert found.path == () and found.awards == () and found.scans.count == 0 and found.scans.live


@pytest.mark.parametrize("text", ["", "hello", "1" * 27, "https://evil.example/x/ABC", "Ü" * 28, "x" * 600])
def test_a_malformed_text_reads_as_malformed(lookups: Lookups, text: str) -> None:
    found = lookups.look(text)
    assert not found.genuine and found.reason == MALFORMED and found.product is None


def test_another_brands_code_and_a_made_up_batch_read_as_not_this_brand(lookups: Lookups) -> None:
    w = lookups.world
    theirs = sign(lookups.app, w.batch["b"], 3)
    assert lookups.look(theirs, lookups.scope(brand="b")).genuine  # genuine for brand b's staff
    found = lookups.look(theirs)  # brand a's staff
    assert (found.genuine, found.reason, found.product, found.scans) == (False, NOT_THIS_BRAND, None, None)
    ring = keys.load_keyring(lookups.app.config["YIMA"].keys_file)
    nobody = encode(ring.batch_key(ring.current, 99_999), role=Role.INNER, key_id=ring.current, batch_id=99_999,
                    serial=1)
    assert lookups.look(nobody).reason == NOT_THIS_BRAND


def test_a_forged_code_of_the_brands_batch_reads_as_forged(lookups: Lookups) -> None:
    w = lookups.world
    code = sign(lookups.app, w.batch["a"], 7)
    tampered = code[:-1] + ("A" if code[-1] != "A" else "B")
    assert lookups.look(tampered).reason == FORGED
    beyond = sign(lookups.app, w.batch["a"], 240)  # signed with the batch's key, but never printed
    assert lookups.look(beyond).reason == FORGED
    # Brand b's staff learn nothing more of brand a's forgery than of its genuine codes.
    assert lookups.look(tampered, lookups.scope(brand="b")).reason == NOT_THIS_BRAND


def test_void_and_not_yet_on_sale(lookups: Lookups) -> None:
    w, app = lookups.world, lookups.app
    with transaction(app.extensions["yima.db"].sessions) as s:
        batches.void(s, app.extensions["yima.redis"], w.batch["a"], "0-23", "召回 recall")
    found = lookups.look(sign(app, w.batch["a"], 5))
    assert (found.sale, found.void_reason, found.batch.activated) == (VOID, "召回 recall", 216)
    assert lookups.look(sign(app, w.batch["a"], 0, Role.CASE)).sale == VOID  # case 0 holds items 0-23
    assert lookups.look(sign(app, w.batch["a"], 5, Role.CASE)).sale == ON_SALE  # case 5, items 120-143
    fresh = make_cased_batch(app, "a", lot="NEW", activate=False)
    found = lookups.look(sign(app, fresh, 5))
    assert found.genuine and found.sale == NOT_ON_SALE and found.batch.activated == 0


# --- the channel path, per seat --------------------------------------------------------------------------


def test_the_path_is_redacted_to_each_seats_scope(lookups: Lookups) -> None:
    w, app = lookups.world, lookups.app
    batch, province, city, store = w.batch["a"], w.distributor["a"], w.sub_distributor["a"], w.store["a"]
    s1 = ship(app, batch, 0, 9, sender=None, to=province)
    s2 = ship(app, batch, 0, 4, sender=province, to=city, day=2)
    s3 = ship(app, batch, 1, 1, sender=city, store=store, received=False, day=4)
    ship(app, batch, 5, 9, sender=province, to=lookups.other_province, day=3)  # not case 1's
    code = sign(app, batch, 30)  # case 1

    brand = lookups.look(code)
    assert [h.shipment_id for h in brand.path] == [s1, s2, s3]
    assert [(h.sender.name, h.receiver.name) for h in brand.path] == [
        (None, "省级经销商 a"), ("省级经销商 a", "市级经销商 a"), ("市级经销商 a", "门店 a")]
    assert brand.path[0].sender.kind == "warehouse" and brand.path[2].receiver.kind == "store"
    assert brand.path[2].state == "shipped" and brand.path[2].received_at is None
    assert brand.path[0].received_at == T0 + timedelta(hours=20)
    assert lookups.look(code, lookups.scope("inspector")).path == brand.path  # brand-wide seats see all

    own = lookups.look(code, lookups.scope("distributor", distributor_id=province))  # its subtree: all three
    assert [(h.sender.name, h.receiver.name) for h in own.path] == [(p.sender.name, p.receiver.name)
                                                                    for p in brand.path]

    sub = lookups.look(code, lookups.scope("distributor", distributor_id=city))
    assert [(h.sender.name, h.receiver.name) for h in sub.path] == [
        (None, None), (None, "市级经销商 a"), ("市级经销商 a", "门店 a")]
    assert sub.path[0].shipment_id is None and sub.path[0].receiver.id is None  # not its own: unnamed
    assert sub.path[1].shipment_id == s2 and sub.hidden_hops == 0

    other = lookups.look(code, lookups.scope("distributor", distributor_id=lookups.other_province))
    assert all(h.receiver.name is None and h.shipment_id is None for h in other.path)
    assert all(h.sender.name is None for h in other.path[1:])

    clerk = lookups.look(code, lookups.scope("clerk", store_id=store))
    assert [(h.shipment_id, h.sender.name, h.receiver.name) for h in clerk.path] == [(s3, "市级经销商 a", "门店 a")]
    assert clerk.hidden_hops == 2
    assert lookups.look(code, lookups.scope("waiter", store_id=lookups.other_store)).path == ()


def test_an_undone_shipment_is_not_on_the_path(lookups: Lookups) -> None:
    w, app = lookups.world, lookups.app
    ship(app, w.batch["a"], 0, 9, sender=None, to=w.distributor["a"])
    undone = ship(app, w.batch["a"], 0, 9, sender=None, to=lookups.other_province, received=False, day=1)
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = s.get(Shipment, undone)
        assert row is not None
        row.state = Shipment.UNDONE
    assert [h.receiver.name for h in lookups.look(sign(app, w.batch["a"], 3)).path] == ["省级经销商 a"]


# --- scans ------------------------------------------------------------------------------------------------


def test_scans_show_from_redis_at_once_and_from_the_history_after_the_drain(lookups: Lookups) -> None:
    w = lookups.world
    code = sign(lookups.app, w.batch["a"], 30)
    lookups.scan(code, adcode="440106", device_id="phone-1")  # Guangzhou, Tianhe: the phone's location
    lookups.scan(code, ip="61.139.2.69", device_id="phone-2")  # Chengdu, by its address
    before = lookups.look(code).scans
    assert (before.count, before.pending, before.live, before.recent) == (2, 2, True, ())
    assert before.first_place is not None and before.first_place.adcode == "440106"
    assert "广州" in before.first_place.name and before.first_at is not None

    lookups.drain()
    after = lookups.look(code).scans
    assert (after.count, after.attempts, after.pending, after.live) == (2, 2, 0, True)
    assert [s.kind for s in after.recent] == ["repeat", "first"]  # newest first
    assert [s.source for s in after.recent] == ["ip", "gps"]
    assert "成都" in after.recent[0].place.name and after.first_place.adcode == "440106"  # type: ignore[union-attr]
    assert after.first_at == after.recent[1].at and after.last_at == after.recent[0].at

    # Redis down: the stored history, marked as such; the lookup still answers.
    dead = redis.Redis(port=DEAD_REDIS_PORT, socket_connect_timeout=0.2, socket_timeout=0.2)
    offline = lookups.look(code, redis_client=dead)
    assert offline.genuine and (offline.scans.count, offline.scans.live, offline.scans.pending) == (2, False, 0)
    dead.close()


def test_a_code_scanned_more_often_than_listed_counts_all_and_keeps_its_first(lookups: Lookups) -> None:
    w = lookups.world
    code = sign(lookups.app, w.batch["a"], 31)
    for n in range(RECENT + 3):
        lookups.scan(code, adcode="440106" if n == 0 else "330106", device_id=f"phone-{n}")
    lookups.drain()
    scans = lookups.look(code).scans
    assert (scans.count, scans.attempts, len(scans.recent)) == (RECENT + 3, RECENT + 3, RECENT)
    assert scans.first_place is not None and scans.first_place.adcode == "440106"
    assert all(s.kind == "repeat" for s in scans.recent)


def test_a_scan_while_not_on_sale_is_an_attempt_not_a_scan(lookups: Lookups) -> None:
    app = lookups.app
    fresh = make_cased_batch(app, "a", lot="LATER", activate=False)
    with app.extensions["yima.db"].sessions() as s:  # in Redis as made, nothing activated yet
        batches.sync_batch(app.extensions["yima.redis"], batches.get_batch(s, fresh))
    code = sign(app, fresh, 2)
    lookups.scan(code, adcode="440106")
    lookups.drain()
    scans = lookups.look(code).scans
    assert (scans.count, scans.attempts, scans.first_at) == (0, 1, None)
    assert [s.kind for s in scans.recent] == ["not_on_sale"]


# --- a case code --------------------------------------------------------------------------------------------


def test_a_case_code_shows_its_items_and_how_many_were_scanned(lookups: Lookups) -> None:
    w, app = lookups.world, lookups.app
    batch = w.batch["a"]
    for serial in (24, 30, 47):  # three items of case 1
        lookups.scan(sign(app, batch, serial), adcode="440106")
    lookups.scan(sign(app, batch, 33, Role.OUTER), adcode="440106")  # a fourth, by its outer code
    lookups.scan(sign(app, batch, 30, Role.OUTER), adcode="440106")  # the same item again: still one
    lookups.scan(sign(app, batch, 48), adcode="440106")  # case 2's
    ship(app, batch, 1, 1, sender=None, to=w.distributor["a"])
    case_code = sign(app, batch, 1, Role.CASE)
    found = lookups.look(case_code)
    assert found.genuine and found.role == "case" and found.serial == 1
    assert (found.case.case, found.case.first_item, found.case.last_item) == (1, 24, 47)
    assert found.case.items_scanned == 4 and found.scans.count == 0
    assert [h.receiver.name for h in found.path] == ["省级经销商 a"]
    lookups.drain()
    dead = redis.Redis(port=DEAD_REDIS_PORT, socket_connect_timeout=0.2, socket_timeout=0.2)
    assert lookups.look(case_code, redis_client=dead).case.items_scanned == 4  # the same count from SQL
    dead.close()
    last = lookups.look(sign(app, batch, 9, Role.CASE))  # the last case of 240 items by 24
    assert (last.case.first_item, last.case.last_item, last.case.items_scanned) == (216, 239, 0)


def test_a_batch_without_cases_has_no_path(lookups: Lookups) -> None:
    app = lookups.app
    loose = make_cased_batch(app, "a", lot="LOOSE", pack=0)
    found = lookups.look(sign(app, loose, 3))
    assert found.genuine and found.case is None and found.path == ()


# --- prizes -----------------------------------------------------------------------------------------------


def test_prizes_show_what_was_won_claimed_paid_and_redeemed(lookups: Lookups) -> None:
    w, app = lookups.world, lookups.app
    batch, store = w.batch["a"], w.store["a"]
    cash = publish(app, batch, "cash", "开盖红包", min_fen=188, max_fen=188)
    voucher = publish(app, batch, "voucher", "再来一瓶")
    code = sign(app, batch, 40)
    lookups.scan(code, adcode="440106", device_id="phone-1")
    lookups.drain()
    won = lookups.look(code).awards
    assert sorted((a.campaign_id, a.kind, a.prize, a.amount_fen, a.valid) for a in won) == [
        (cash, "cash", "开盖红包", 188, True), (voucher, "voucher", "再来一瓶", 0, True)]
    by_kind = {a.kind: a for a in won}
    assert by_kind["cash"].campaign == "开盖红包 活动" and by_kind["cash"].claimed_at is None
    assert by_kind["cash"].payout_state is None and by_kind["voucher"].redeemed_at is None

    at = T0 + timedelta(days=5)
    with transaction(app.extensions["yima.db"].sessions) as s:
        brand_id = s.get(Campaign, cash).brand_id  # type: ignore[union-attr]
        for award in (by_kind["cash"], by_kind["voucher"]):
            s.add(AwardClaim(award_id=award.award_id, campaign_id=award.campaign_id, brand_id=brand_id,
                             openid="o-consumer", kind=award.kind, claimed_at=at))
        s.add(Payout(award_id=by_kind["cash"].award_id, campaign_id=cash, brand_id=brand_id, openid="o-consumer",
                     amount_fen=188, provider="fake", state="succeeded", bill_no="B1"))
        s.add(VoucherRedemption(award_id=by_kind["voucher"].award_id, brand_id=brand_id, campaign_id=voucher,
                                store_id=store, code=code, redeemed_at=at + timedelta(hours=1)))
    after = {a.kind: a for a in lookups.look(code).awards}
    assert after["cash"].claimed_at == at and after["cash"].payout_state == "succeeded"
    assert after["voucher"].claimed_at == at and after["voucher"].redeemed_at == at + timedelta(hours=1)
    assert after["voucher"].redeemed_store is not None and after["voucher"].redeemed_store.name == "门店 a"
    clerk = {a.kind: a for a in lookups.look(code, lookups.scope("clerk", store_id=store)).awards}
    assert clerk["voucher"].redeemed_store.name == "门店 a"  # type: ignore[union-attr]
    elsewhere = lookups.look(code, lookups.scope("clerk", store_id=lookups.other_store)).awards
    assert {a.kind: a for a in elsewhere}["voucher"].redeemed_store.name is None  # type: ignore[union-attr]
    assert lookups.look(code, lookups.scope("distributor", distributor_id=lookups.other_province)).awards[0].award_id
    # An award the ledger voided shows as void, with the reason.
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = s.get(Award, by_kind["cash"].award_id)
        assert row is not None
        row.status, row.void_reason = Award.VOID, "budget exceeded"
    void = {a.kind: a for a in lookups.look(code).awards}["cash"]
    assert (void.valid, void.void_reason) == (False, "budget exceeded")
