"""The risk review on real SQL (SQLite and PostgreSQL) and real Redis: block and allow lists written through to
the keys the scan path reads, policies published, flags that hold a subject's unpaid awards, the reviewer's
actions, and the payouts honouring a hold (the real adapter against the fake WeChat server)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import redis
from sqlalchemy import select, update

from accounts.audit import AuditFilter, list_changes
from app.fake_wechat.server import FakeWechat
from codegen import batches
from codegen.batch_keys import range_block_key
from codegen.db import make_engine, make_sessionmaker, transaction
from codegen.models import Brand
from payouts.engine import due_payouts
from payouts.models import Payout
from payouts.providers.base import State
from payouts.providers.registry import make_provider
from risk import keys, lists, policy_store, review
from risk.errors import InvalidRisk, RiskConflict, RiskNotFound
from risk.models import RiskFlag, RiskListEntry
from rules.awards import AwardSink
from rules.campaign_keys import awards_key, counter_keys
from rules.models import Award, Campaign, ScanEvent
from tests.support.fake_wechat import CallbackSink
from tests.support.payout_world import World

MEMBER = "a" * 32
DEVICE = "dev-cookie-1"
ACTOR = "reviewer@acme"


@pytest.fixture
def world(database_url: str, redis_client: redis.Redis) -> Iterator[World]:
    engine = make_engine(database_url)
    w = World(make_sessionmaker(engine), redis_client)
    with transaction(w.sessions) as s:
        brand = s.get(Brand, w.brand_id)
        assert brand is not None
        batches.add_product(s, brand, "S1", "Thing", None)
        batches.create_batch(s, brand, batches.BatchRequest(sku="S1", lot="L1", count=1000), key_id=1,
                             max_count=1_000_000)
        other = batches.add_brand(s, "other", "Other", "https://q.other.example")
        s.add(Campaign(brand_id=other.id, name="other", status="active", definition={}))
        w.other_id = other.id  # type: ignore[attr-defined]
    yield w
    w.engine.close()
    engine.dispose()


def text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def state_of(r: redis.Redis, kind: str, subject: str) -> dict[str, str]:
    return {text(k): text(v) for k, v in r.hgetall(keys.state_key(kind, subject)).items()}


def award_of(w: World, member: str = "", scan_event: str = "", **facts: Any) -> str:
    award_id = w.award(**facts)
    if member or scan_event:
        with transaction(w.sessions) as s:
            s.execute(update(Award).where(Award.id == award_id).values(member=member, scan_event=scan_event))
    return award_id


def award(w: World, award_id: str) -> Award:
    with w.sessions() as s:
        a = s.get(Award, award_id)
        assert a is not None
        s.expunge(a)
        return a


def scan_event(w: World, event_id: str, serial: int, device_id: str = DEVICE) -> None:
    with transaction(w.sessions) as s:
        s.add(ScanEvent(id=event_id, batch_id=1, serial=serial, role="inner", code=f"C{serial:027d}", kind="first",
                        scan_count=1, scanned_at=w.clock(), device_id=device_id))


def raise_(w: World, kind: str, subject: str, event_id: str = "", **over: Any) -> review.Raised:
    with transaction(w.sessions) as s:
        return review.raise_flag(s, w.redis, w.brand_id, kind, subject, over.pop("reason", "farm"),
                                 over.pop("code", ""), event_id, w.clock(), over.pop("evidence", None))


# --- lists -------------------------------------------------------------------------------------------------

def test_list_entries_land_where_the_scan_path_reads_them_and_leave_when_removed(world: World) -> None:
    r = world.redis
    with transaction(world.sessions) as s:
        device = lists.add_entry(s, r, brand_id=world.brand_id, kind="d", subject=DEVICE, action="block", actor=ACTOR)
        ip = lists.add_entry(s, r, brand_id=world.brand_id, kind="ip", subject="203.0.113.9", action="allow",
                             actor=ACTOR)
        lists.add_entry(s, r, brand_id=None, kind="n", subject="198.51.100", action="block", actor="admin")
        lists.add_entry(s, r, brand_id=world.brand_id, kind="range", subject="1:100-199", action="block", actor=ACTOR)
        second = lists.add_entry(s, r, brand_id=world.brand_id, kind="range", subject="1:150-250", action="block",
                                 actor=ACTOR)
        device_id, ip_id, second_id = device.id, ip.id, second.id
    digest = keys.device_subject(DEVICE)
    assert device.subject == digest
    assert state_of(r, "d", digest) == {f"list:{world.brand_id}": "block", "keep": "1"}
    assert state_of(r, "n", "203.0.113") == {f"iplist:{world.brand_id}:203.0.113.9": "allow", "keep": "1"}
    assert state_of(r, "n", "198.51.100") == {"list:*": "block", "keep": "1"}
    assert [text(m) for m in r.zrange(range_block_key(1), 0, -1, withscores=False)] == ["100-250"]  # merged
    with transaction(world.sessions) as s:
        lists.remove_entry(s, r, device_id, brand_id=world.brand_id, actor=ACTOR)
        lists.remove_entry(s, r, ip_id, brand_id=world.brand_id, actor=ACTOR)
        lists.remove_entry(s, r, second_id, brand_id=world.brand_id, actor=ACTOR)
    assert state_of(r, "d", digest) == {}
    assert r.ttl(keys.state_key("n", "203.0.113")) in (-2,) or state_of(r, "n", "203.0.113") == {}
    assert [text(m) for m in r.zrange(range_block_key(1), 0, -1)] == ["100-199"]
    with world.sessions() as s:
        actions = [e.action for e in list_changes(s, AuditFilter(action="risk.list"))]
    assert actions.count("risk.list.add") == 5 and actions.count("risk.list.remove") == 3


@pytest.mark.parametrize(("kind", "subject", "action", "field"), [
    ("x", "a", "block", "kind"), ("d", "", "block", "subject"), ("d", "has space", "block", "subject"),
    ("m", "not-a-ref", "block", "subject"), ("n", "1.2.3.4", "block", "subject"), ("n", "1.2.300", "block", "subject"),
    ("ip", "1.2.3", "block", "subject"), ("range", "1:5-2", "block", "subject"), ("range", "1:0-9", "allow", "action"),
    ("range", "1:0-5000", "block", "subject"), ("range", "99:0-9", "block", "subject"), ("d", "abc", "maybe", "action"),
])
def test_bad_entries_are_refused_naming_the_field(world: World, kind: str, subject: str, action: str,
                                                  field: str) -> None:
    with pytest.raises(InvalidRisk) as refused, transaction(world.sessions) as s:
        lists.add_entry(s, world.redis, brand_id=world.brand_id, kind=kind, subject=subject, action=action, actor=ACTOR)
    assert refused.value.field == field


def test_another_brands_batch_and_entries_are_out_of_reach(world: World) -> None:
    other: int = world.other_id  # type: ignore[attr-defined]
    with pytest.raises(InvalidRisk), transaction(world.sessions) as s:
        lists.add_entry(s, world.redis, brand_id=other, kind="range", subject="1:0-9", action="block", actor=ACTOR)
    with transaction(world.sessions) as s:
        entry = lists.add_entry(s, world.redis, brand_id=world.brand_id, kind="m", subject=MEMBER, action="block",
                                actor=ACTOR)
    for brand_id in (other, None):
        with pytest.raises(RiskNotFound), transaction(world.sessions) as s:
            lists.remove_entry(s, world.redis, entry.id, brand_id=brand_id, actor=ACTOR)
    with world.sessions() as s:
        assert lists.list_entries(s, other).total == 0 and lists.list_entries(s, world.brand_id).total == 1


def test_sync_puts_back_what_redis_lost_and_drops_expired_entries(world: World) -> None:
    r = world.redis
    now = datetime.now(UTC)
    with transaction(world.sessions) as s:
        lists.add_entry(s, r, brand_id=world.brand_id, kind="m", subject=MEMBER, action="block", actor=ACTOR)
        lists.add_entry(s, r, brand_id=world.brand_id, kind="range", subject="1:0-9", action="block", actor=ACTOR)
        lists.add_entry(s, r, brand_id=world.brand_id, kind="d", subject=DEVICE, action="allow", actor=ACTOR,
                        expires_at=now + timedelta(minutes=5))
    r.flushdb()
    with transaction(world.sessions) as s:
        report = lists.sync_lists(s, r, now=now)
    assert report == lists.SyncReport(written=3, expired=0)
    assert state_of(r, "m", MEMBER)[f"list:{world.brand_id}"] == "block"
    assert state_of(r, "d", keys.device_subject(DEVICE))[f"list:{world.brand_id}"] == "allow"
    assert [text(m) for m in r.zrange(range_block_key(1), 0, -1)] == ["0-9"]
    with transaction(world.sessions) as s:
        again = lists.sync_lists(s, r, now=now + timedelta(minutes=6))
    assert again.expired == 1 and state_of(r, "d", keys.device_subject(DEVICE)) == {}
    with world.sessions() as s:
        assert s.scalar(select(RiskListEntry.id).where(RiskListEntry.kind == "d")) is None


# --- policies ----------------------------------------------------------------------------------------------

def test_a_policy_is_validated_stored_and_published(world: World) -> None:
    r = world.redis
    with pytest.raises(InvalidRisk) as refused, transaction(world.sessions) as s:
        policy_store.save_policy(s, r, world.brand_id, {"device_per_minute": "many"}, ACTOR)
    assert refused.value.field == "device_per_minute"
    with pytest.raises(InvalidRisk), transaction(world.sessions) as s:
        policy_store.save_policy(s, r, world.brand_id, {"colour": 1}, ACTOR)
    with transaction(world.sessions) as s:
        view = policy_store.save_policy(s, r, world.brand_id, {"device_per_minute": 3, "enabled": False}, ACTOR)
    assert view.overrides == {"device_per_minute": 3, "enabled": False}
    assert view.policy.device_per_minute == 3 and view.policy.device_per_hour == 40
    published = json.loads(r.hget(keys.POLICIES_KEY, str(world.brand_id)))  # type: ignore[arg-type]
    assert published["device_per_minute"] == 3 and published["enabled"] is False
    assert int(r.get(keys.POLICIES_VERSION_KEY)) == 1  # type: ignore[arg-type]
    r.hset(keys.POLICIES_KEY, "999", "{}")
    r.hdel(keys.POLICIES_KEY, str(world.brand_id))
    with world.sessions() as s:
        assert policy_store.publish_policies(s, r) == 1
        assert policy_store.get_policy(s, world.brand_id).overrides == view.overrides
    assert {text(k) for k in r.hkeys(keys.POLICIES_KEY)} == {str(world.brand_id)}


# --- flags and holds ---------------------------------------------------------------------------------------

def test_a_member_flag_holds_its_unpaid_awards_once_per_event(world: World) -> None:
    unpaid = award_of(world, MEMBER)
    claimed = award_of(world, MEMBER)
    paid = award_of(world, MEMBER)
    stranger = award_of(world, "b" * 32)
    world.claim(claimed, openid="o-1")  # a pending payout: not sent yet, so still holdable
    p = world.claim(paid, openid="o-2").payout
    assert p is not None and world.engine.advance(p.id) == State.AWAITING_USER
    first = raise_(world, "m", MEMBER, "1-100-0", code="CODE1")
    assert first.created and first.counted and first.held == 2
    assert [award(world, a).risk_hold for a in (unpaid, claimed, paid, stranger)] == ["held", "held", "", ""]
    again = raise_(world, "m", MEMBER, "1-100-0", code="CODE1")  # the drain delivered the event twice
    assert not again.counted and again.held == 0
    raise_(world, "m", MEMBER, "1-101-0", code="CODE2", reason="sweep")
    with world.sessions() as s:
        page = review.flag_queue(s, world.brand_id)
        [row] = page.rows
        assert (row.flag.hits, row.flag.reasons, row.flag.samples, row.held) == (
            2, {"farm": 1, "sweep": 1}, ["CODE2", "CODE1"], 2)
        assert review.flag_queue(s, world.other_id).total == 0  # type: ignore[attr-defined]
        with pytest.raises(RiskNotFound):
            review.flag_detail(s, world.other_id, row.flag.id)  # type: ignore[attr-defined]
    assert state_of(world.redis, "m", MEMBER) == {f"rev:{world.brand_id}": "flagged", "keep": "1"}


def test_a_device_flag_holds_awards_of_codes_the_device_scanned(world: World) -> None:
    mine = award_of(world, scan_event="1-1-0")  # serial 1
    later = award_of(world, scan_event="1-2-0")  # serial 2
    others = award_of(world, scan_event="1-3-1")  # serial 3: the device scanned it, another phone won it
    scan_event(world, "1-1-0", 1)
    scan_event(world, "1-3-0", 3)
    scan_event(world, "1-3-1", 3, device_id="someone-else")
    digest = keys.device_subject(DEVICE)
    assert raise_(world, "d", digest, "1-1-0").held == 1
    # The device scanned serial 2 since (its recent list, which the scan path keeps): the next flagged scan holds it.
    recent = keys.subject_keys("d", digest, minute=0, hour=0, day=0)[5]
    world.redis.lpush(recent, f"{int(world.clock().timestamp())}:1:-1:2")
    scan_event(world, "1-2-0", 2)
    assert raise_(world, "d", digest, "1-2-0").held == 1
    assert [award(world, a).risk_hold for a in (mine, later, others)] == ["held", "held", ""]
    with world.sessions() as s:
        [row] = review.flag_queue(s, world.brand_id, kind="d").rows
        assert row.held == 2
        assert {h.award.id for h in review.flag_detail(s, world.brand_id, row.flag.id).awards} == {mine, later}


def test_block_rejects_the_held_awards_and_gives_their_budget_back(world: World) -> None:
    r = world.redis
    spent, _day, qty, _qty_day = counter_keys(world.campaign_id, "")
    r.set(spent, 500)
    r.hset(qty, "0", 5)
    a, b = award_of(world, MEMBER), award_of(world, MEMBER)
    pending = world.claim(b, openid="o-1").payout  # made before the flag: cancelled with the rejection
    flag_id = raise_(world, "m", MEMBER, "1-1-0").flag_id
    with pytest.raises(RiskNotFound), transaction(world.sessions) as s:
        review.block_flag(s, r, world.other_id, flag_id, ACTOR)  # type: ignore[attr-defined]
    with transaction(world.sessions) as s:
        done = review.block_flag(s, r, world.brand_id, flag_id, ACTOR, note="farm")
        assert sorted(done.awards) == sorted([a, b]) and done.flag.state == RiskFlag.BLOCKED
    for award_id in (a, b):
        got = award(world, award_id)
        assert (got.status, got.void_reason) == ("void", "risk: rejected by review")
    assert int(r.get(spent)) == 300 and int(r.hget(qty, "0")) == 3  # type: ignore[arg-type]
    assert pending is not None and world.payout_by_id(pending.id).state == State.CANCELLED
    assert state_of(r, "m", MEMBER)[f"rev:{world.brand_id}"] == "blocked"
    with pytest.raises(RiskConflict), transaction(world.sessions) as s:
        review.block_flag(s, r, world.brand_id, flag_id, ACTOR)
    raise_(world, "m", MEMBER, "1-2-0")  # more evidence on a blocked subject: Redis keeps saying blocked
    assert state_of(r, "m", MEMBER)[f"rev:{world.brand_id}"] == "blocked"
    with world.sessions() as s:
        [entry] = list_changes(s, AuditFilter(action="risk.flag"))
        assert (entry.actor, entry.target, entry.after["rejected_count"]) == (ACTOR, f"risk_flag:{flag_id}", 2)


def test_clear_releases_the_held_awards_and_settles_their_claims(world: World) -> None:
    a = award_of(world, MEMBER)
    flag_id = raise_(world, "m", MEMBER, "1-1-0").flag_id
    result = world.claim(a, openid="o-1")
    assert result.held and result.payout is None  # 审核中: recorded, nothing to pay yet
    with transaction(world.sessions) as s:
        done = review.clear_flag(s, world.redis, world.brand_id, flag_id, ACTOR, rail=world.rail)
        assert done.awards == [a]
    assert award(world, a).risk_hold == "released"
    assert world.payout(a).state == State.PENDING
    assert state_of(world.redis, "m", MEMBER)[f"rev:{world.brand_id}"] == "cleared"
    b = award_of(world, MEMBER)
    raise_(world, "m", MEMBER, "1-2-0")  # a cleared subject's prizes are not held again
    assert award(world, b).risk_hold == ""


def test_the_direct_award_actions_and_their_scope(world: World) -> None:
    a, b, free = award_of(world, MEMBER), award_of(world, MEMBER), award_of(world)
    raise_(world, "m", MEMBER, "1-1-0")
    with world.sessions() as s:
        page = review.held_awards(s, world.brand_id)
        assert page.total == 2 and {h.award.id for h in page.rows} == {a, b}
        assert review.held_awards(s, world.other_id).total == 0  # type: ignore[attr-defined]
    for brand_id, award_id, error in ((world.other_id, a, RiskNotFound),  # type: ignore[attr-defined]
                                      (world.brand_id, "1-nope", RiskNotFound), (world.brand_id, free, RiskConflict)):
        with pytest.raises(error), transaction(world.sessions) as s:
            review.release_award(s, brand_id, award_id, ACTOR)
    with transaction(world.sessions) as s:
        review.release_award(s, world.brand_id, a, ACTOR)
        review.reject_award(s, world.redis, world.brand_id, b, ACTOR)
    assert award(world, a).risk_hold == "released" and award(world, b).status == "void"
    with pytest.raises(RiskConflict), transaction(world.sessions) as s:
        review.release_award(s, world.brand_id, a, ACTOR)
    with world.sessions() as s:
        actions = sorted(e.action for e in list_changes(s, AuditFilter(action="risk.award")))
    assert actions == ["risk.award.reject", "risk.award.release"]


def test_the_award_stream_marks_what_the_draw_held() -> None:
    stream = awards_key(7)
    base = {"code": "C" * 28, "batch": "1", "role": "inner", "serial": "5", "prize": "0", "kind": "cash",
            "amount_fen": "100", "points": "0", "ts": "1800000000"}
    assert AwardSink().row(stream, "1-0", {**base, "held": "1"})["risk_hold"] == "held"
    assert AwardSink().row(stream, "1-0", {k.encode(): v.encode() for k, v in base.items()})["risk_hold"] == ""


def test_a_held_award_drained_into_the_ledger_stays_held(world: World) -> None:
    sink = AwardSink()
    stream = awards_key(world.campaign_id)
    row = sink.row(stream, "1800000000000-0", {"code": "C" * 28, "batch": "1", "role": "inner", "serial": "5",
                                                "prize": "0", "kind": "cash", "amount_fen": "100", "points": "0",
                                                "ts": "1800000000", "held": "1"})
    with transaction(world.sessions) as s:
        assert sink.store(s, [row]) == 1
    assert award(world, row["id"]).risk_hold == "held"


# --- payouts honour a hold (the real adapter, the fake WeChat server over HTTP) --------------------------------

PROMPT = {"query_after_s": 0.0, "unclear_retry_s": 0.0, "callback_grace_s": 0.0}


@pytest.fixture
def paying(world: World, fake_wechat: FakeWechat, callback_sink: CallbackSink) -> World:
    world.clock.now = datetime.now(UTC)
    world.engine.close()
    world.provider = make_provider("fake", fake_wechat.credentials(callback_sink.url, timeout_s=2.0))  # type: ignore[assignment]
    world.restart(**PROMPT)
    return world


def bills(fake: FakeWechat) -> set[str]:
    return {b["out_bill_no"] for b in fake.bills()}


def test_a_held_award_is_not_paid_until_released(paying: World, fake_wechat: FakeWechat) -> None:
    w = paying
    held = award_of(w, MEMBER)
    raise_(w, "m", MEMBER, "1-1-0")
    result = w.claim(held, openid="oHELD")
    assert result.held and result.payout is None
    for _ in range(3):
        w.engine.sweep()
    with w.sessions() as s:
        assert s.scalar(select(Payout.id).where(Payout.award_id == held)) is None
    assert bills(fake_wechat) == set()
    with transaction(w.sessions) as s:
        review.release_award(s, w.brand_id, held, ACTOR)  # no rail here: the worker's claim sweep settles it
    w.clock.advance(2)
    w.engine.sweep()
    w.engine.sweep()
    p = w.payout(held)
    assert p.state == State.AWAITING_USER and bills(fake_wechat) == {p.bill_no}


def test_a_hold_after_the_payout_was_made_stops_its_submit(paying: World, fake_wechat: FakeWechat) -> None:
    w = paying
    late = award_of(w, MEMBER)
    payout = w.claim(late, openid="oLATE").payout
    assert payout is not None and payout.state == State.PENDING
    raise_(w, "m", MEMBER, "1-1-0")  # the observer flags the member before the worker submits
    for _ in range(3):
        w.engine.sweep()
    with w.sessions() as s:
        assert payout.id not in due_payouts(s, w.clock())
    assert w.engine.advance(payout.id) == State.PENDING  # a queued submit job is refused too
    assert w.payout(late).state == State.PENDING and bills(fake_wechat) == set()
    with transaction(w.sessions) as s:
        review.release_award(s, w.brand_id, late, ACTOR, rail=w.rail)
    w.engine.sweep()
    assert w.payout(late).state == State.AWAITING_USER and bills(fake_wechat) == {w.payout(late).bill_no}


def test_a_rejected_award_is_void_and_never_paid(paying: World, fake_wechat: FakeWechat) -> None:
    w = paying
    rejected, fine = award_of(w, MEMBER), award_of(w)
    raise_(w, "m", MEMBER, "1-1-0")
    w.claim(rejected, openid="oREJ")
    with transaction(w.sessions) as s:
        review.reject_award(s, w.redis, w.brand_id, rejected, ACTOR)
    assert w.claim(fine, openid="oFINE").payout is not None
    for _ in range(3):
        w.engine.sweep()
    assert award(w, rejected).status == "void"
    with w.sessions() as s:
        assert s.scalar(select(Payout.id).where(Payout.award_id == rejected)) is None
    assert bills(fake_wechat) == {w.payout(fine).bill_no}
