"""Awards from Redis into the SQL ledger: SQL refuses what Redis should not have granted; reconcile."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from rules.awards import AwardSink, reconcile, register_award_streams, repair_counters, repair_published
from rules.campaign_store import compile_row, save_campaign, set_status
from rules.drain import Drainer
from rules.draw import WON, Drawer, campaign_day, open_counters
from rules.models import Award
from rules.region import default_index
from schema import upgrade_schema

NOW = 1_800_000_000.0


def definition(**over: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "name": "ledger", "brand": "acme",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 100_000},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 300, "weight": 0.7}],
    }
    doc.update(over)
    return doc


def seed_catalogue(s: Session, count: int = 100_000) -> None:
    """Brand "acme", product S1 and batch 1 (lot L1) of `count` items: what the campaigns here refer to."""
    brand = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
    batches.add_product(s, brand, "S1", "Thing", None)
    batches.create_batch(s, brand, batches.BatchRequest(sku="S1", lot="L1", count=count), key_id=1,
                         max_count=1_000_000)


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        seed_catalogue(s)
    yield factory
    engine.dispose()


def make_campaign(sessions, redis_client: redis.Redis, **over: Any):  # type: ignore[no-untyped-def]
    with transaction(sessions) as s:
        row = save_campaign(s, definition(**over), default_index())
        set_status(s, row.id, "active", default_index())
        compiled = compile_row(s, row, default_index())
    register_award_streams(redis_client, [compiled.id])
    open_counters(redis_client, compiled.id)
    return compiled


def drain_all(redis_client: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    drainer = Drainer(redis_client, sessions, "t", sink=AwardSink())
    while drainer.drain_once(block_ms=10).read:
        pass


def ledger(sessions) -> list[Award]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return list(s.scalars(select(Award).order_by(Award.id)))


def test_awards_land_once_and_reconcile_clean(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any)
    drawer = Drawer(redis_any)
    won = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW) for i in range(60)]
    drain_all(redis_any, sessions)
    drain_all(redis_any, sessions)  # nothing twice
    rows = ledger(sessions)
    assert len(rows) == sum(w.outcome == WON for w in won) and all(r.status == "valid" for r in rows)
    assert sum(r.amount_fen for r in rows) == sum(w.amount_fen for w in won)
    with transaction(sessions) as s:
        assert reconcile(s, redis_any) == []


def test_sql_voids_an_award_redis_granted_twice_after_losing_the_claim(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}])
    drawer = Drawer(redis_any)
    code = "C" + "0" * 27
    assert drawer.draw(c, code=code, batch_id=1, role="inner", serial=0, now=NOW).outcome == WON
    # A failover loses the claim (bitmap and memo), as asynchronous replication can: Redis grants again.
    redis_any.delete(f"{{c:{c.id}}}:drawn:1:inner", f"{{c:{c.id}}}:award:{code}")
    assert drawer.draw(c, code=code, batch_id=1, role="inner", serial=0, now=NOW).outcome == WON
    drain_all(redis_any, sessions)
    rows = ledger(sessions)
    assert [r.status for r in rows] == ["valid", "void"]
    assert "already awarded" in rows[1].void_reason
    with transaction(sessions) as s:
        diffs = reconcile(s, redis_any)
        assert {(d.what, d.redis, d.sql) for d in diffs} == {("spent", 200, 100), ("qty:0", 2, 1)}
    with transaction(sessions) as s:
        reconcile(s, redis_any, rebuild=True)
    with transaction(sessions) as s:
        assert reconcile(s, redis_any) == []


def test_sql_voids_awards_over_the_budget(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, budget={"total_fen": 1000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}])
    drawer = Drawer(redis_any)
    for i in range(10):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    redis_any.set(f"{{c:{c.id}}}:spent", 0)  # Redis lost its spent counter: it pays 10 more
    for i in range(10, 20):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    drain_all(redis_any, sessions)
    rows = ledger(sessions)
    valid = [r for r in rows if r.status == "valid"]
    assert len(rows) == 20 and sum(r.amount_fen for r in valid) == 1000
    assert all(r.void_reason.startswith("over budget") for r in rows if r.status == "void")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), budget=st.integers(100, 5_000), total=st.integers(1, 30),
       weight=st.floats(0.1, 1.0), scans=st.lists(st.integers(0, 60), min_size=1, max_size=120))
def test_random_campaigns_and_scans_never_exceed_limits(redis_any, sessions, seed, budget, total, weight, scans):  # type: ignore[no-untyped-def]
    """Random campaign, random interleaved scans (codes repeat): no limit exceeded, no code paid twice,
    and after draining the Redis ledger equals the SQL ledger."""
    redis_any.flushdb()
    with transaction(sessions) as s:
        s.query(Award).delete()
    rnd = random.Random(seed)
    c = make_campaign(sessions, redis_any, name=f"r{seed}-{rnd.random()}", budget={"total_fen": budget + 20_000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": weight, "total": total},
                              {"kind": "points", "points": 5, "weight": 1.0 - weight}])
    drawer = Drawer(redis_any)
    for i in scans:
        drawer.draw(c, code=f"R{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    drain_all(redis_any, sessions)
    rows = [r for r in ledger(sessions) if r.campaign_id == c.id]
    cash = [r for r in rows if r.kind == "cash"]
    assert all(r.status == "valid" for r in rows)
    assert len(cash) <= total and sum(r.amount_fen for r in cash) <= budget + 20_000
    assert len({r.code for r in rows}) == len(rows)  # no code rewarded twice
    assert len(rows) <= len(set(scans))
    with transaction(sessions) as s:
        assert reconcile(s, redis_any) == []


def test_publish_initialises_counters_a_wiped_redis_lost(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    from rules.publish import publish_rules

    c = make_campaign(sessions, redis_any, prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}])
    drawer = Drawer(redis_any)
    for i in range(5):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    drain_all(redis_any, sessions)
    redis_any.flushdb()  # Redis comes back empty
    with transaction(sessions) as s:
        publish_rules(s, redis_any, default_index())
    assert redis_any.get(f"{{c:{c.id}}}:spent") == b"500" and redis_any.hget(f"{{c:{c.id}}}:qty", 0) == b"5"
    redis_any.set(f"{{c:{c.id}}}:spent", 700)  # not yet drained awards: a publish must not lower it
    with transaction(sessions) as s:
        publish_rules(s, redis_any, default_index())
    assert redis_any.get(f"{{c:{c.id}}}:spent") == b"700"


def test_coupon_pool_hands_out_each_code_once(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    from rules.coupons import upload_coupons
    from rules.models import CouponCode

    c = make_campaign(sessions, redis_any, prizes=[{"kind": "coupon", "name": "满20减5", "weight": 1.0}],
                      consolation={"kind": "thanks"})
    with transaction(sessions) as s:
        first = upload_coupons(s, redis_any, c.id, 0, ["A1", "A2", "A3", "A2"])
        again = upload_coupons(s, redis_any, c.id, 0, ["A3", "A4"])
    assert (first.added, first.duplicates, first.pool_size) == (3, 1, 3)
    assert (again.added, again.duplicates, again.pool_size) == (1, 1, 4)
    drawer = Drawer(redis_any)
    results = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW) for i in range(6)]
    assert [r.coupon for r in results] == ["A1", "A2", "A3", "A4", "", ""]
    assert [r.outcome for r in results[-2:]] == ["consolation", "consolation"]  # the pool ran dry
    rescan = drawer.draw(c, code=f"C{0:027d}", batch_id=1, role="inner", serial=0, now=NOW)
    assert rescan.outcome == "already_won" and rescan.coupon == "A1"
    drain_all(redis_any, sessions)
    with sessions() as s:
        assigned = {code: award for code, award in s.execute(
            select(CouponCode.code, CouponCode.award_id).where(CouponCode.status == "assigned"))}
    assert set(assigned) == {"A1", "A2", "A3", "A4"} and all(assigned.values())
    assert {r.coupon for r in ledger(sessions)} == {"A1", "A2", "A3", "A4"}
    with pytest.raises(Exception, match="not 1-64 printable"), transaction(sessions) as s:
        upload_coupons(s, redis_any, c.id, 0, ["ok", "has space"])
    with pytest.raises(Exception, match="is not a coupon"), transaction(sessions) as s:
        upload_coupons(s, redis_any, c.id, 5, ["X"])


def test_sql_refuses_awards_beyond_a_prizes_total_after_redis_lost_counts(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, budget={"total_fen": 1_000_000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "total": 50}])
    drawer = Drawer(redis_any)
    for i in range(50):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    # An older AOF comes back: the prize's count is 20 lower than what was given, so Redis grants 20 more.
    redis_any.hincrby(f"{{c:{c.id}}}:qty", 0, -20)
    won = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW) for i in range(50, 80)]
    assert sum(w.outcome == WON for w in won) == 20
    drain_all(redis_any, sessions)
    rows = ledger(sessions)
    assert len(rows) == 70 and sum(r.status == "valid" for r in rows) == 50
    assert {r.void_reason for r in rows if r.status == "void"} == {"prize 0 is out: 50 of 50 given"}


def test_sql_refuses_awards_beyond_a_prizes_daily_quantity(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, budget={"total_fen": 1_000_000, "daily_fen": 2_000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 0.5, "daily": 10},
                              {"kind": "points", "points": 5, "weight": 0.5, "daily": 3}])
    drawer = Drawer(redis_any)
    day = f"{{c:{c.id}}}:qty:" + campaign_day(c, NOW)
    for i in range(60):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
        redis_any.delete(day, f"{{c:{c.id}}}:spent:" + campaign_day(c, NOW))  # Redis keeps losing today's counts
    tomorrow = NOW + 86_400
    for i in range(60, 70):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=tomorrow)
    drain_all(redis_any, sessions)
    rows = ledger(sessions)
    valid = [r for r in rows if r.status == "valid"]
    first_day = [r for r in valid if r.awarded_at.timestamp() < NOW + 3600]
    assert sum(r.kind == "cash" for r in first_day) == 10 and sum(r.kind == "points" for r in first_day) == 3
    reasons = {r.void_reason.split(":")[0] for r in rows if r.status == "void"}
    assert reasons == {"prize 0 is out today", "prize 1 is out today"}
    assert any(r.awarded_at.timestamp() >= tomorrow - 1 for r in valid)  # a new day counts afresh


def test_sql_refuses_cash_beyond_the_daily_budget(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, budget={"total_fen": 1_000_000, "daily_fen": 1_000},
                      prizes=[{"kind": "cash", "min_fen": 300, "max_fen": 300, "weight": 1.0}])
    drawer = Drawer(redis_any)
    for i in range(8):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
        redis_any.delete(f"{{c:{c.id}}}:spent:" + campaign_day(c, NOW))
    drain_all(redis_any, sessions)
    rows = ledger(sessions)
    assert len(rows) == 8 and sum(r.amount_fen for r in rows if r.status == "valid") == 900
    assert all(r.void_reason.startswith("over the daily budget: 900 + 300 > 1000") for r in rows[3:])


def test_a_campaign_whose_counters_redis_lost_stops_drawing_until_repaired(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, prizes=[
        {"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "total": 10}])
    drawer = Drawer(redis_any)
    for i in range(6):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW)
    drain_all(redis_any, sessions)
    for key in redis_any.scan_iter(f"{{c:{c.id}}}:*"):  # the campaign's keys are gone (a wipe, a bad restore)
        if not key.endswith(b":awards"):
            redis_any.delete(key)
    lost = drawer.draw(c, code=f"C{0:027d}", batch_id=1, role="inner", serial=0, now=NOW)
    assert lost.outcome == "unavailable" and redis_any.getbit(f"{{c:{c.id}}}:drawn:1:inner", 0) == 0
    with transaction(sessions) as s:
        [repair] = repair_published(s, redis_any)
    assert (repair.campaign_id, repair.memos) == (c.id, 6)
    assert redis_any.get(f"{{c:{c.id}}}:spent") == b"600" and redis_any.hget(f"{{c:{c.id}}}:qty", "0") == b"6"
    # The codes SQL holds awards for answer "already won"; the pool has 4 left, not 10.
    again = drawer.draw(c, code=f"C{0:027d}", batch_id=1, role="inner", serial=0, now=NOW)
    assert again.outcome == "already_won" and again.award_id
    fresh = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW).outcome
             for i in range(6, 12)]
    assert fresh.count(WON) == 4
    with transaction(sessions) as s:
        assert repair_published(s, redis_any) == []  # nothing lost: nothing to do


def test_repair_raises_counters_an_older_aof_lowered_never_lowers(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, budget={"total_fen": 100_000, "daily_fen": 50_000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}])
    drawer = Drawer(redis_any)
    now = time.time()
    for i in range(5):
        drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=now)
    drain_all(redis_any, sessions)
    today = campaign_day(c, now)
    redis_any.set(f"{{c:{c.id}}}:spent", 200)  # an older AOF: two awards behind
    redis_any.delete(f"{{c:{c.id}}}:spent:{today}")
    redis_any.hset(f"{{c:{c.id}}}:qty:{today}", "0", 9)  # more than SQL knows (undrained): must stay
    with transaction(sessions) as s:
        [repair] = repair_counters(s, redis_any, [c.id], now=now)
    assert repair.raised == 2  # spent and spent today; qty today stays above SQL
    assert redis_any.get(f"{{c:{c.id}}}:spent") == b"500"
    assert redis_any.get(f"{{c:{c.id}}}:spent:{today}") == b"500"
    assert redis_any.hget(f"{{c:{c.id}}}:qty:{today}", "0") == b"9"
    assert 0 < redis_any.ttl(f"{{c:{c.id}}}:spent:{today}") <= 172_800


def test_a_campaign_stored_before_newer_validation_rules_keeps_its_awards(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    """A live campaign whose stored definition breaks only rules added since it was published (here an
    unknown field, once silently ignored) is still read by the ledger: its winners' awards stay valid, not
    voided as "unknown campaign"; a publish reports it until someone edits it."""
    from rules.campaign import InvalidCampaign
    from rules.campaign_store import compile_row, get_campaign

    c = make_campaign(sessions, redis_any, prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}])
    with transaction(sessions) as s:
        row = get_campaign(s, c.id)
        row.definition = {**row.definition, "limits": {"per_member": 1}}  # as a client once sent it
    assert Drawer(redis_any).draw(c, code="C" + "0" * 27, batch_id=1, role="inner", serial=0, now=NOW).outcome == WON
    drain_all(redis_any, sessions)
    assert [(r.status, r.void_reason) for r in ledger(sessions)] == [("valid", "")]
    with sessions() as s, pytest.raises(InvalidCampaign, match="limits: unknown field"):
        compile_row(s, get_campaign(s, c.id), default_index())
