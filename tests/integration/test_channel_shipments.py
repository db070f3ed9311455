"""出库 / 入库 in the domain (channel/shipments.py, channel/shipment_queries.py) on the real app's SQL and keys:
scanned cases collapse into runs, flags (double_ship, not_held), receive, undo, the bulk upload, the path of
an item brand → province distributor → city distributor → store, and scope (404 outside it, 403 where the
seat sees but may not act)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from accounts.models import AuditEntry
from channel.bulk_ship import BulkRejected, bulk_ship
from channel.case_reader import CaseRefused
from channel.errors import ChannelConflict, ChannelForbidden, ChannelNotFound, InvalidChannel
from channel.models import CLERK, DISTRIBUTOR, INSPECTOR, WAREHOUSE, ChannelFlag, Shipment, ShipmentRange
from channel.paths import brand_version, path_of
from channel.scope import ChannelScope, brand_scope, seat_scope
from channel.shipment_queries import channel_record, inbox, list_shipments, receivers, shipment_detail
from channel.shipments import (
    add_case,
    open_shipment,
    receive,
    remove_case,
    ship,
    undo,
)
from codegen.codeformat import CodeError, Role
from codegen.db import transaction
from codegen.models import Brand
from tests.support.channel_world import (
    ChannelWorld,
    add_distributor,
    add_store,
    case_code,
    channel_world,
    make_cased_batch,
    sign,
)
from tests.web.conftest import make_app


class World:
    """The two-brand channel world plus a second province distributor in brand a, and scopes for each party."""

    def __init__(self, w: ChannelWorld) -> None:
        self.w, self.app = w, w.app
        self.sessions = w.app.extensions["yima.db"].sessions
        self.key_for = w.app.extensions["yima.scanner"].key_for
        with self.sessions() as s:
            self.brand_id = {slug: bid for slug, bid in s.execute(select(Brand.slug, Brand.id))}
        self.p2 = add_distributor(w.app, "a", "A-P2", "省级经销商 福建", ["35"])

    def scalar(self, query: Any) -> Any:
        with self.sessions() as s:
            return s.scalar(query)

    def warehouse(self, brand: str = "a") -> ChannelScope:
        return ChannelScope(self.brand_id[brand], f"warehouse@{brand}.test", WAREHOUSE)

    def operator(self, brand: str = "a", role: str = "operator") -> ChannelScope:
        return brand_scope(self.brand_id[brand], f"{role}@{brand}.test", role=role)

    def seat(self, kind: str, brand: str = "a", *, distributor: int | None = None, store: int | None = None,
             ) -> ChannelScope:
        with self.sessions() as s:
            return seat_scope(s, brand_id=self.brand_id[brand], kind=kind, actor=f"{kind}@{brand}.test", user_id=None,
                              distributor_id=distributor, store_id=store)

    def province(self, brand: str = "a") -> ChannelScope:
        return self.seat(DISTRIBUTOR, brand, distributor=self.w.distributor[brand])

    def city(self, brand: str = "a") -> ChannelScope:
        return self.seat(DISTRIBUTOR, brand, distributor=self.w.sub_distributor[brand])

    def clerk(self, brand: str = "a") -> ChannelScope:
        return self.seat(CLERK, brand, store=self.w.store[brand])

    def case(self, n: int, brand: str = "a", batch: int | None = None) -> str:
        return case_code(self.app, batch or self.w.batch[brand], n)

    def do(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one domain call in its own transaction, as a request does."""
        with transaction(self.sessions) as s:
            return fn(s, *args, **kwargs)

    def shipped(self, scope: ChannelScope, cases: list[int], *, to_distributor: int | None = None,
                to_store: int | None = None, batch: int | None = None) -> int:
        """Open, scan `cases` and ship: the shipment's id."""
        sid = self.do(open_shipment, scope, to_distributor_id=to_distributor, to_store_id=to_store).id
        for n in cases:
            self.do(add_case, scope, sid, self.case(n, batch=batch), self.key_for)
        self.do(ship, scope, sid)
        return int(sid)

    def ranges(self, sid: int) -> list[tuple[int, int]]:
        with self.sessions() as s:
            return [(a, b) for a, b in s.execute(select(ShipmentRange.first_case, ShipmentRange.last_case)
                                                 .where(ShipmentRange.shipment_id == sid)
                                                 .order_by(ShipmentRange.first_case))]

    def flags(self, sid: int) -> list[tuple[str, int, int, int | None, bool]]:
        with self.sessions() as s:
            return [(f.kind, f.first_case, f.last_case, f.other_shipment_id, f.resolved_at is not None)
                    for f in s.scalars(select(ChannelFlag).where(ChannelFlag.shipment_id == sid)
                                       .order_by(ChannelFlag.id))]


@pytest.fixture
def world(tmp_path: Path, redis_client) -> World:  # type: ignore[no-untyped-def]
    return World(channel_world(make_app(tmp_path)))


def test_cases_scanned_in_any_order_collapse_into_runs_and_count_their_items(world: World) -> None:
    short = make_cased_batch(world.app, "a", lot="SHORT", count=230)  # 10 cases, the last holds 14 items
    wh, p = world.warehouse(), world.w.distributor["a"]
    sid = world.do(open_shipment, wh, to_distributor_id=p, reference="SO-1").id
    outcomes = [world.do(add_case, wh, sid, text, world.key_for) for text in (
        world.case(3), world.case(1), "https://q.demo.example/Q/" + world.case(2).lower(), world.case(7),
        world.case(9, batch=short))]
    assert [o.added for o in outcomes] == [True] * 5
    assert outcomes[-1].scanned.items == 14 and outcomes[-1].totals.cases == 5
    again = world.do(add_case, wh, sid, world.case(2), world.key_for)
    assert not again.added and again.totals == outcomes[-1].totals  # idempotent
    assert world.ranges(sid) == [(1, 3), (7, 7), (9, 9)]
    world.do(add_case, wh, sid, world.case(5), world.key_for)
    world.do(add_case, wh, sid, world.case(6), world.key_for)
    world.do(add_case, wh, sid, world.case(4), world.key_for)  # joins 1-3 and 5-7
    assert world.ranges(sid) == [(1, 7), (9, 9)]
    assert world.do(remove_case, wh, sid, world.case(4), world.key_for).cases == 7
    assert world.ranges(sid) == [(1, 3), (5, 7), (9, 9)]
    shipped = world.do(ship, wh, sid).shipment
    assert (shipped.state, shipped.case_count, shipped.item_count) == ("shipped", 7, 6 * 24 + 14)
    detail = world.do(shipment_detail, wh, sid)
    assert [(r.lot, r.first_case, r.last_case, r.cases) for r in detail.ranges] == [
        ("LOT-a", 1, 3, 3), ("LOT-a", 5, 7, 3), ("SHORT", 9, 9, 1)]
    assert (detail.ranges[0].first_item, detail.ranges[0].last_item) == (24, 95)
    assert (detail.ranges[2].first_item, detail.ranges[2].last_item) == (216, 229)
    assert detail.sender.kind == "warehouse" and detail.receiver.name == "省级经销商 a"
    with pytest.raises(ChannelConflict):  # shipped: no more scans
        world.do(add_case, wh, sid, world.case(8), world.key_for)
    with world.sessions() as s:
        actions = list(s.scalars(select(AuditEntry.action).where(AuditEntry.target == f"shipment:{sid}")
                                 .order_by(AuditEntry.id)))
    assert actions[:2] == ["shipment.open", "shipment.scan"] and "shipment.unscan" in actions
    assert actions[-1] == "shipment.ship"


def test_what_is_not_a_case_code_of_the_brand_is_refused_with_its_reason(world: World) -> None:
    wh = world.warehouse()
    sid = world.do(open_shipment, wh, to_distributor_id=world.w.distributor["a"]).id
    item = sign(world.app, world.w.batch["a"], 30, Role.INNER)
    forged = world.case(1)[:-1] + ("0" if world.case(1)[-1] != "0" else "1")
    for text, reason in [(item, "item_code"), (forged, "forged"), ("hello", "malformed"),
                         (world.case(1, "b"), "other_brand"), (world.case(10), "forged")]:  # case 10 of 10
        with pytest.raises(CaseRefused) as refused:
            world.do(add_case, wh, sid, text, world.key_for)
        assert refused.value.reason == reason, text
    with pytest.raises(InvalidChannel):
        world.do(ship, wh, sid)  # nothing scanned


def test_double_ship_is_warned_while_scanning_and_flagged_when_shipped(world: World) -> None:
    wh, p, p2 = world.warehouse(), world.w.distributor["a"], world.p2
    first = world.shipped(wh, [0, 1, 2, 3, 4], to_distributor=p)
    sid = world.do(open_shipment, wh, to_distributor_id=p2).id
    scanned = world.do(add_case, wh, sid, world.case(2), world.key_for)
    [warning] = scanned.warnings
    assert (warning.kind, warning.shipment_id, warning.to_distributor_id, warning.state) == ("elsewhere", first, p,
                                                                                             "shipped")
    assert warning.at is not None
    for n in (3, 4, 5):
        world.do(add_case, wh, sid, world.case(n), world.key_for)
    result = world.do(ship, wh, sid)
    assert [(f.kind, f.first_case, f.last_case, f.other_shipment_id) for f in result.flags] == [
        ("double_ship", 2, 4, first)]
    # The same cases again to the same receiver: a warning while scanning, no double_ship flag.
    again = world.shipped(wh, [0], to_distributor=p)
    assert world.flags(again) == []
    # Undoing the second shipment resolves its flag.
    world.do(undo, wh, sid, "scanned onto the wrong truck")
    assert world.flags(sid) == [("double_ship", 2, 4, first, True)]


def test_a_distributor_shipping_cases_it_never_received_is_flagged_not_held(world: World) -> None:
    wh, prov = world.warehouse(), world.province()
    city = world.w.sub_distributor["a"]
    world.shipped(wh, [0, 1, 2], to_distributor=world.w.distributor["a"])
    sid = world.do(open_shipment, prov, to_distributor_id=city).id
    held = world.do(add_case, prov, sid, world.case(1), world.key_for)
    assert held.warnings == ()
    stray = world.do(add_case, prov, sid, world.case(8), world.key_for)
    assert [w.kind for w in stray.warnings] == ["not_held"]
    world.do(add_case, prov, sid, world.case(2), world.key_for)
    world.do(add_case, prov, sid, world.case(3), world.key_for)
    result = world.do(ship, prov, sid)
    assert [(f.kind, f.first_case, f.last_case) for f in result.flags] == [("not_held", 3, 3), ("not_held", 8, 8)]


def test_receive_by_the_receiver_only_and_once(world: World) -> None:
    prov, city_id = world.province(), world.w.sub_distributor["a"]
    world.shipped(world.warehouse(), [0, 1], to_distributor=world.w.distributor["a"])
    sid = world.shipped(prov, [0, 1], to_distributor=city_id)
    assert [v.id for v in world.do(inbox, world.city())] == [sid]
    assert world.do(inbox, prov) == [v for v in world.do(inbox, prov) if v.id != sid]
    with pytest.raises(ChannelForbidden):  # the upstream distributor sees it but does not sign for it
        world.do(receive, prov, sid)
    with pytest.raises(ChannelForbidden):
        world.do(receive, world.seat(INSPECTOR), sid)
    before = world.do(brand_version, world.brand_id["a"])
    got = world.do(receive, world.city(), sid)
    assert got.state == "received" and got.received_by == "distributor@a.test"
    assert world.do(brand_version, world.brand_id["a"]) == before + 1
    with pytest.raises(ChannelConflict):
        world.do(receive, world.city(), sid)
    with pytest.raises(ChannelConflict) as refused:
        world.do(undo, prov, sid, "wrong")
    assert "ship the cases back" in str(refused.value)


def test_undo_takes_a_shipment_out_of_the_channel(world: World) -> None:
    wh, p = world.warehouse(), world.w.distributor["a"]
    sid = world.shipped(wh, [4, 5], to_distributor=p)
    with pytest.raises(InvalidChannel):
        world.do(undo, wh, sid, "  ")
    with pytest.raises(ChannelForbidden):  # the receiver cannot undo the sender's shipment
        world.do(undo, world.province(), sid, "mine")
    world.do(undo, wh, sid, "wrong distributor")
    with world.sessions() as s:
        assert path_of(s, world.brand_id["a"], world.w.batch["a"], 4) == []
        assert s.get(Shipment, sid).undo_reason == "wrong distributor"  # type: ignore[union-attr]
    with pytest.raises(ChannelConflict):
        world.do(undo, wh, sid, "again")
    # A shipment whose cases the receiver already shipped on cannot be undone before that one is.
    first = world.shipped(wh, [6, 7], to_distributor=p)
    onward = world.shipped(world.province(), [7], to_distributor=world.w.sub_distributor["a"])
    with pytest.raises(ChannelConflict) as refused:
        world.do(undo, world.operator(), first, "wrong")
    assert f"shipment {onward}" in str(refused.value)
    world.do(undo, world.province(), onward, "back")
    assert world.do(undo, world.operator(), first, "wrong").state == "undone"
    # An OPEN shipment is dropped the same way.
    draft = world.do(open_shipment, wh, to_distributor_id=p).id
    assert world.do(undo, wh, draft, "not needed").state == "undone"


def test_an_items_path_runs_brand_province_city_store(world: World) -> None:
    w = world.w
    world.shipped(world.warehouse(), [2], to_distributor=w.distributor["a"])
    world.shipped(world.province(), [2], to_distributor=w.sub_distributor["a"])
    to_store = world.shipped(world.city(), [2], to_store=w.store["a"])
    world.do(receive, world.clerk(), to_store)
    item = sign(world.app, w.batch["a"], 2 * 24 + 5, Role.INNER)  # an item of case 2
    record = world.do(channel_record, world.operator(), item, world.key_for)
    assert (record.case, record.first_item, record.last_item, record.role) == (2, 48, 71, "inner")
    assert [(h.sender.kind, h.receiver.kind, h.receiver.id) for h in record.hops] == [
        ("warehouse", "distributor", w.distributor["a"]), ("distributor", "distributor", w.sub_distributor["a"]),
        ("distributor", "store", w.store["a"])]
    assert record.hops[-1].state == "received" and record.responsible is not None
    assert record.responsible.id == w.sub_distributor["a"]
    # Each party sees the hops of its own part of the channel.
    assert len(world.do(channel_record, world.province(), item, world.key_for).hops) == 3
    assert len(world.do(channel_record, world.city(), item, world.key_for).hops) == 2
    clerk = world.do(channel_record, world.clerk(), item, world.key_for)
    assert [h.id for h in clerk.hops] == [to_store] and clerk.responsible is None
    with pytest.raises(CodeError):  # brand b reads a's code as not genuine
        world.do(channel_record, world.operator("b"), item, world.key_for)


def test_scope_hides_other_brands_and_other_distributors(world: World) -> None:
    w = world.w
    sid = world.shipped(world.warehouse(), [1], to_distributor=w.distributor["a"])
    draft = world.do(open_shipment, world.warehouse(), to_distributor_id=w.distributor["a"]).id
    sibling = world.seat(DISTRIBUTOR, distributor=world.p2)
    for scope, shipment in [(world.operator("b"), sid), (world.warehouse("b"), sid), (sibling, sid),
                            (world.city(), sid), (world.clerk(), sid), (world.province(), draft)]:
        with pytest.raises(ChannelNotFound):
            world.do(shipment_detail, scope, shipment)
        with pytest.raises(ChannelNotFound):
            world.do(receive, scope, shipment)
    assert world.do(shipment_detail, world.province(), sid).may_receive
    with pytest.raises(ChannelNotFound):  # brand b's warehouse cannot name brand a's distributor
        world.do(open_shipment, world.warehouse("b"), to_distributor_id=w.distributor["a"])
    with pytest.raises(ChannelNotFound):  # a city distributor cannot ship up or sideways
        world.do(open_shipment, world.city(), to_distributor_id=w.distributor["a"])
    with pytest.raises(InvalidChannel):  # the warehouse supplies distributors, not stores
        world.do(open_shipment, world.warehouse(), to_store_id=w.store["a"])
    for scope in (world.seat(INSPECTOR), world.clerk(), world.operator(role="analyst")):
        with pytest.raises(ChannelForbidden):
            world.do(open_shipment, scope, to_distributor_id=w.distributor["a"])
    other_store = add_store(world.app, "a", world.p2, "福建门店", "350102")
    assert {(p.kind, p.id) for p in world.do(receivers, world.province())} == {
        ("distributor", w.sub_distributor["a"]), ("store", w.store["a"])}
    with pytest.raises(ChannelNotFound):
        world.do(open_shipment, world.province(), to_store_id=other_store)
    assert [v.id for v in world.do(list_shipments, world.province())] == [sid]
    assert [v.id for v in world.do(list_shipments, world.province(), direction="sent")] == []
    assert [v.id for v in world.do(list_shipments, world.warehouse(), direction="sent")] == [draft, sid]
    assert world.do(list_shipments, world.operator("b")) == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_bulk_ship_is_all_or_nothing(tmp_path: Path, redis_client, database: str, request) -> None:  # type: ignore[no-untyped-def]
    over = {} if database == "sqlite" else {"database_url": request.getfixturevalue("postgres_url")}
    world = World(channel_world(make_app(tmp_path, **over), brands=("a",)))
    big = make_cased_batch(world.app, "a", lot="BIG", count=24 * 500)
    codes = [world.case(n, batch=big) for n in range(500)]
    random.Random(7).shuffle(codes)
    lines = list(enumerate([*codes, codes[3], world.case(0)], start=1))
    wh, p = world.warehouse(), world.w.distributor["a"]
    bad = list(enumerate([*codes[:10], sign(world.app, big, 3, Role.INNER), "nonsense", *codes[10:]], start=1))
    with pytest.raises(BulkRejected) as refused:
        world.do(bulk_ship, wh, world.key_for, lines=bad, to_distributor_id=p)
    assert refused.value.total == 2
    assert [(x["line"], x["reason"]) for x in refused.value.details()["problems"]] == [(11, "item_code"),
                                                                                      (12, "malformed")]
    assert world.scalar(select(func.count(Shipment.id))) == 0  # nothing half-written
    result = world.do(bulk_ship, wh, world.key_for, lines=lines, to_distributor_id=p, reference="PDA-7")
    sid = result.shipment.id
    assert (result.shipment.state, result.shipment.case_count, result.shipment.item_count, result.duplicates) == (
        "shipped", 501, 501 * 24, 1)
    with world.sessions() as s:
        assert [(r.batch_id, r.first_case, r.last_case) for r in s.scalars(
            select(ShipmentRange).where(ShipmentRange.shipment_id == sid).order_by(ShipmentRange.batch_id))] == [
            (world.w.batch["a"], 0, 0), (big, 0, 499)]
    again = world.do(bulk_ship, wh, world.key_for, lines=lines[:20], to_distributor_id=world.p2)
    assert {f.kind for f in again.flags} == {"double_ship"}
    assert sum(f.last_case - f.first_case + 1 for f in again.flags) == 20
    with pytest.raises(InvalidChannel):
        world.do(bulk_ship, wh, world.key_for, lines=[], to_distributor_id=p)


def test_two_uploads_of_the_same_cases_at_once_are_flagged_on_postgresql(tmp_path: Path, redis_client,  # type: ignore[no-untyped-def]
                                                                          postgres_url: str) -> None:
    """The second upload waits for the first one's commit (the brand's channel version row is locked first),
    so its flag query sees the first one's cases: the double shipment is flagged even when both were made at
    the same moment."""
    world = World(channel_world(make_app(tmp_path, database_url=postgres_url), brands=("a",)))
    lines = [(n + 1, world.case(n)) for n in range(5)]
    first_shipped = threading.Event()
    errors: list[BaseException] = []

    def first() -> None:
        try:
            with transaction(world.sessions) as s:
                bulk_ship(s, world.warehouse(), world.key_for, lines=lines, to_distributor_id=world.w.distributor["a"])
                first_shipped.set()
                time.sleep(0.5)  # still uncommitted while the second upload runs
        except BaseException as exc:  # reported below
            errors.append(exc)
            first_shipped.set()

    thread = threading.Thread(target=first)
    thread.start()
    first_shipped.wait(30)
    second = world.do(bulk_ship, world.warehouse(), world.key_for, lines=lines, to_distributor_id=world.p2)
    thread.join(30)
    assert errors == []
    assert [(f.kind, f.first_case, f.last_case) for f in second.flags] == [("double_ship", 0, 4)]
