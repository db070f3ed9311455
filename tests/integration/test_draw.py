"""The prize draw against a real Redis: limits hold under concurrency, retries and rescans."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import redis

from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.campaign_keys import awards_key
from rules.draw import ALREADY_DRAWN, ALREADY_WON, CAPPED, CONSOLATION, DRAW, LOST, WON, Drawer, open_counters
from tests.conftest import REDIS_TEST_URL

NOW = 1_800_000_000.0  # 2027-01-15, inside the window below


def campaign(cid: int = 1, **over: Any) -> CompiledCampaign:
    doc: dict[str, Any] = {
        "name": "t", "brand": "demo",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 10_000_000},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "total": 100}],
    }
    doc.update(over)
    return compile_campaign(cid, 1, parse_definition(doc), brand_id=1, product_ids=None)


@pytest.fixture(autouse=True)
def opened(redis_client: redis.Redis) -> None:
    """The campaigns of these tests have empty ledgers: open their counters, as a publish would."""
    for cid in range(1, 6):
        open_counters(redis_client, cid)


def code(i: int) -> str:
    return f"CODE{i:024d}"


def draw(drawer: Drawer, c: CompiledCampaign, i: int, **kw: Any):  # type: ignore[no-untyped-def]
    return drawer.draw(c, code=code(i), batch_id=7, role="inner", serial=i, now=kw.pop("now", NOW), **kw)


def test_fifty_parallel_clients_on_a_pool_of_100_prizes_get_exactly_100(redis_client: redis.Redis) -> None:
    c = campaign(consolation={"kind": "thanks"})
    outcomes: list[str] = []
    lock = threading.Lock()

    def client(worker: int) -> None:
        own = redis.Redis.from_url(REDIS_TEST_URL)
        drawer = Drawer(own)
        for i in range(worker, 1000, 50):
            result = draw(drawer, c, i)
            with lock:
                outcomes.append(result.outcome)
        own.close()

    threads = [threading.Thread(target=client, args=(w,)) for w in range(50)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(outcomes) == 1000
    assert outcomes.count(WON) == 100 and outcomes.count(CONSOLATION) == 900
    assert redis_client.hget("{c:1}:qty", 0) == b"100"
    assert redis_client.get("{c:1}:spent") == b"10000"
    assert redis_client.xlen(awards_key(1)) == 100


def test_the_budget_is_never_overspent_by_random_amounts(redis_client: redis.Redis) -> None:
    c = campaign(budget={"total_fen": 30_000},
                 prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 1.0}])
    drawer = Drawer(redis_client)
    results = [draw(drawer, c, i) for i in range(200)]
    paid = sum(r.amount_fen for r in results if r.outcome == WON)
    assert paid == int(redis_client.get("{c:1}:spent")) <= 30_000
    assert paid > 30_000 - 500  # it stopped only when the next prize could not fit
    assert all(100 <= r.amount_fen <= 500 for r in results if r.outcome == WON)
    assert results[-1].outcome == LOST  # no consolation configured
    stream_total = sum(int(e[1][b"amount_fen"]) for e in redis_client.xrange(awards_key(1)))
    assert stream_total == paid  # every award is in the outbox


def test_one_draw_per_code_and_a_rescan_shows_the_same_award(redis_client: redis.Redis) -> None:
    c = campaign(prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.5}],
                 consolation={"kind": "thanks"})
    drawer = Drawer(redis_client)
    first = [draw(drawer, c, i) for i in range(40)]
    again = [draw(drawer, c, i) for i in range(40)]
    for a, b in zip(first, again, strict=True):
        if a.outcome == WON:
            assert b.outcome == ALREADY_WON and b.amount_fen == a.amount_fen and b.prize == a.prize
        else:
            assert b.outcome == ALREADY_DRAWN
    assert redis_client.xlen(awards_key(1)) == sum(r.outcome == WON for r in first)


def test_a_timed_out_and_retried_draw_awards_once(redis_client: redis.Redis, lossy_redis) -> None:  # type: ignore[no-untyped-def]
    client, proxy = lossy_redis
    drawer = Drawer(client)
    c = campaign()
    client.script_load(DRAW.source)
    proxy.drop_next_reply()
    result = draw(drawer, c, 1, scan_id="retry-me")
    assert proxy.dropped_replies == 1
    assert result.outcome == WON and result.amount_fen == 100
    assert redis_client.xlen(awards_key(1)) == 1 and redis_client.get("{c:1}:spent") == b"100"


def test_member_caps(redis_client: redis.Redis) -> None:
    c = campaign(members={"audience": "members"}, caps={"per_member": 3, "per_member_daily": 2})
    drawer = Drawer(redis_client)
    day1 = [draw(drawer, c, i, member="m1").outcome for i in range(3)]
    assert day1 == [WON, WON, CAPPED]
    assert draw(drawer, c, 10, member="m2").outcome == WON  # another member is not capped
    day2 = [draw(drawer, c, i, member="m1", now=NOW + 86_400).outcome for i in range(20, 23)]
    assert day2 == [WON, CAPPED, CAPPED]  # daily cap resets, the campaign cap (3) does not


def test_every_nth_scan_wins(redis_client: redis.Redis) -> None:
    c = campaign(ordinal={"kind": "every_nth", "n": 3}, caps={"one_per_code": False})
    drawer = Drawer(redis_client)
    assert [draw(drawer, c, i).outcome for i in range(7)] == [LOST, LOST, WON, LOST, LOST, WON, LOST]


def test_gold_members_get_double(redis_client: redis.Redis) -> None:
    c = campaign(members={"tier_multipliers": {"gold": 2}})
    drawer = Drawer(redis_client)
    assert draw(drawer, c, 1, tier="gold").amount_fen == 200
    assert draw(drawer, c, 2, tier="silver").amount_fen == 100


def test_an_exhausted_prize_falls_back_to_the_next_then_the_consolation(redis_client: redis.Redis) -> None:
    c = campaign(prizes=[
        {"kind": "cash", "min_fen": 500, "max_fen": 500, "weight": 1.0, "total": 2},
        {"kind": "points", "points": 10, "weight": 0.0, "total": 1},
    ], consolation={"kind": "points", "points": 1})
    drawer = Drawer(redis_client)
    results = [draw(drawer, c, i) for i in range(5)]
    assert [(r.outcome, r.amount_fen, r.points) for r in results] == [
        (WON, 500, 0), (WON, 500, 0), (WON, 0, 10), (CONSOLATION, 0, 1), (CONSOLATION, 0, 1)]
    assert all(r.awarded for r in results)


def test_daily_quantity_and_daily_budget_reset_the_next_day(redis_client: redis.Redis) -> None:
    c = campaign(budget={"total_fen": 1000, "daily_fen": 300},
                 prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "daily": 2}])
    drawer = Drawer(redis_client)
    assert [draw(drawer, c, i).outcome for i in range(3)] == [WON, WON, LOST]  # daily quantity 2
    later = [draw(drawer, c, i, now=NOW + 86_400).outcome for i in range(10, 13)]
    assert later == [WON, WON, LOST]
