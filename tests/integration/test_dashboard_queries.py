"""The dashboard's figures, read from rollups the real drain kept: scans, regions, wins, spend, CSV."""

from __future__ import annotations

import csv
import io

import pytest
import redis

from codegen.codeformat import Role, encode
from codegen.db import transaction
from reports.dashboard import brand_dashboard, campaign_brand, campaign_dashboard
from reports.export import dashboard_csv
from reports.forged import collect_forged
from reports.scans import Period
from rules.awards import AwardSink
from rules.draw import WON, Drawer
from rules.region import default_index
from rules.scan import NotGenuine, ScanRequest
from tests.integration.test_awards import make_campaign
from tests.integration.test_rollups import RING, T0, brand_ids, drain, event, forged_scanner, push, sessions  # noqa: F401

NOW = T0 + 150  # 16:02:30 in Shanghai


@pytest.fixture
def seeded(redis_any: redis.Redis, sessions):  # type: ignore[no-untyped-def]  # noqa: F811
    """Brand acme with one campaign (a cash prize of 10 items, points unlimited) and its scans, awards and
    forged attempts drained; brand other with one scan."""
    c = make_campaign(redis_client=redis_any, sessions=sessions, budget={"total_fen": 10_000}, prizes=[
        {"kind": "cash", "name": "一元红包", "min_fen": 100, "max_fen": 100, "weight": 0.5, "total": 10},
        {"kind": "points", "name": "积分", "points": 5, "weight": 0.5}])
    ids = f"{c.id}"
    push(redis_any, [
        event(1, "first", T0 + 5, "440305", ids, 1), event(1, "first", T0 + 6, "440306", ids, 2),
        event(1, "first", T0 + 7, "440104", ids, 3), event(1, "repeat", T0 + 65, "440305", ids, 1),
        event(1, "first", T0 + 66, "110105", "", 4), event(1, "first", T0 + 67, "", "", 5),
        event(1, "first", T0 - 86_400, "500101", "", 6),  # yesterday, Chongqing: only in the 7-day figures
        event(2, "first", T0 + 8, "310101", "", 1),
    ])
    drain(redis_any, sessions)
    drawer = Drawer(redis_any)
    draws = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=float(T0 + i))
             for i in range(1, 31)]
    drain(redis_any, sessions, AwardSink())
    scanner = forged_scanner(redis_any, lambda: float(T0 + 10))
    for _ in range(3):
        with pytest.raises(NotGenuine):
            scanner.scan(ScanRequest("X" * 28))
    with transaction(sessions) as s:
        collect_forged(s, redis_any, now=NOW)
    return c, draws


def test_brand_dashboard_figures(seeded, sessions) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, draws = seeded
    acme, other = brand_ids(sessions)
    with sessions() as s:
        d = brand_dashboard(s, acme, NOW, 1, default_index())
        week = brand_dashboard(s, acme, NOW, 7, default_index())
    assert len(d.last_hour) == 60 and d.last_hour[-1].minute == NOW - NOW % 60
    by_minute = {p.minute: p for p in d.last_hour}
    assert (by_minute[T0].counts.first, by_minute[T0 + 60].counts.first, by_minute[T0 + 60].counts.repeat) == (3, 2, 1)
    assert (d.totals.first, d.totals.repeat, d.totals.scans) == (5, 1, 6)
    assert d.totals.first_share == pytest.approx(5 / 6)
    assert week.totals.first == 6 and d.period.days == 1 and week.period.start == d.period.start - 6 * 86400
    assert d.by_hour_of_day[16].first == 5 and sum(h.scans for h in d.by_hour_of_day) == 6  # 16:00 local
    assert [(p.name, p.scans) for p in d.provinces] == [("广东省", 4), ("北京市", 1), ("未知", 1)]
    assert [(p.name, p.scans, p.first) for p in d.cities] == [("深圳市", 3, 2), ("北京市", 1, 1), ("广州市", 1, 1),
                                                              ("未知", 1, 1)]
    assert "重庆市" in [p.name for p in week.cities]
    assert d.forged == 0  # "X" * 28 names no readable batch: counted under brand 0 (unknown), not acme
    won = [w for w in draws if w.outcome == WON]
    cash = sum(w.amount_fen for w in won)
    [cash_prize, points_prize] = d.prizes
    assert cash_prize.prize.name == "一元红包" and cash_prize.won == sum(1 for w in won if w.amount_fen)
    assert cash_prize.left == 10 - cash_prize.won and points_prize.left is None
    assert points_prize.points == 5 * points_prize.won and cash_prize.amount_fen == cash
    assert d.spend.budget_fen == 10_000 and d.spend.spent_fen == cash and d.spend.rate_fen_per_day == cash
    assert d.spend.projected_end == NOW + int((10_000 - cash) / cash * 86_400)
    [row] = d.campaigns
    assert row.campaign.id == c.id and row.counts.first == 3 and row.spent_fen == cash
    with sessions() as s:
        assert brand_dashboard(s, other, NOW, 1, default_index()).totals.first == 1


def test_campaign_dashboard_counts_only_its_scans(seeded, sessions) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    c, _ = seeded
    acme, _ = brand_ids(sessions)
    with sessions() as s:
        d = campaign_dashboard(s, c.id, NOW, 1, default_index())
        assert campaign_brand(s, c.id) == acme and campaign_brand(s, 999) is None
        assert campaign_dashboard(s, 999, NOW, 1, default_index()) is None
        with pytest.raises(ValueError, match="days"):
            campaign_dashboard(s, c.id, NOW, 3, default_index())
    assert d is not None and d.campaign is not None and d.campaign.id == c.id
    assert (d.totals.first, d.totals.repeat) == (3, 1) and d.campaigns == []
    assert [p.name for p in d.cities] == ["深圳市", "广州市"]


def test_forged_attempts_of_a_known_batch_reach_its_brand(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    acme, _ = brand_ids(sessions)
    scanner = forged_scanner(redis_any, lambda: float(T0 + 10))
    genuine = encode(RING.batch_key(1, 1), role=Role.INNER, key_id=1, batch_id=1, serial=5)
    for _ in range(4):
        with pytest.raises(NotGenuine):
            scanner.scan(ScanRequest(genuine[:-2] + ("00" if genuine[-2:] != "00" else "11")))
    with transaction(sessions) as s:
        collect_forged(s, redis_any, now=NOW)
    with sessions() as s:
        d = brand_dashboard(s, acme, NOW, 1, default_index())
    assert d.forged == 4 and d.last_hour_forged == 4 and {p.minute: p.forged for p in d.last_hour}[T0] == 4


def test_csv_holds_the_same_figures(seeded, sessions) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    acme, _ = brand_ids(sessions)
    with sessions() as s:
        d = brand_dashboard(s, acme, NOW, 1, default_index())
    text = dashboard_csv(d)
    assert text.startswith("\ufefffigure,bucket,label,series,value\r\n")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))[1:]
    assert ["totals", "2027-01-15/2027-01-15", "", "first", "5"] in rows
    assert ["totals", "2027-01-15/2027-01-15", "", "first_share", "0.8333"] in rows
    assert ["scans_per_minute", "2027-01-15T16:00+08:00", "", "first", "3"] in rows
    assert ["top_cities", "440300", "深圳市", "scans", "3"] in rows
    assert ["spend", "", "", "spent_fen", str(d.spend.spent_fen)] in rows
    assert sum(1 for r in rows if r[0] == "scans_per_minute") == 60 * 5
    assert Period.last_days(NOW, 1).start == T0 - 16 * 3600  # local midnight
