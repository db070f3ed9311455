"""The operations API for campaigns and rules, through Flask on real SQL and Redis."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app.seed import DemoInfo
from rules.snapshot import CURRENT, RulesHolder, snapshot_key
from tests.web.conftest import seeded_app

TOKEN = "test-ops-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[FlaskClient, DemoInfo, Flask]]:
    # These tests replay bursts of scans from one loopback client, which the risk layer rightly takes for a
    # sweep; it has its own tests (tests/web/test_risk_scans.py).
    app, info = seeded_app(tmp_path, ops_token=TOKEN, risk=False)
    yield app.test_client(), info, app
    app.extensions["yima.db"].engine.dispose()


def guangdong(batch_id: int, **over: Any) -> dict[str, Any]:
    """The issue's example: Guangdong, batch L1, serials 0–9999, first scan wins 1–5 元, gold double, 500 元."""
    doc: dict[str, Any] = {
        "name": "广东首扫必中",
        "brand": "demo",
        "priority": 10,
        "exclusive": True,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "scope": {"batches": [batch_id], "serials": [[0, 9999]], "roles": ["inner"]},
        "regions": {"include": ["44"]},
        "members": {"tier_multipliers": {"gold": 2}},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "budget": {"total_fen": 50000},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 0.6, "total": 50}],
        "consolation": {"kind": "thanks"},
    }
    doc.update(over)
    return doc


def test_every_route_needs_the_ops_token(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    routes = [("get", "/api/v1/campaigns"), ("post", "/api/v1/campaigns"), ("post", "/api/v1/rules/publish"),
              ("post", "/api/v1/rules/rollback"), ("post", "/api/v1/simulate"), ("get", "/api/v1/rules/versions")]
    for method, url in routes:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            res = getattr(client, method)(url, headers=headers, json={})
            assert res.status_code == 401 and res.get_json()["error"]["code"] == "unauthorized"
            assert "Bearer" in res.headers["WWW-Authenticate"]


def test_create_simulate_activate_publish(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, app = ops
    res = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH)
    assert res.status_code == 201, res.get_json()
    campaign = res.get_json()
    assert campaign["status"] == "draft" and campaign["edit_version"] == 1

    sim = client.post("/api/v1/simulate", headers=AUTH, json={
        "code": info.inner_url, "adcode": "440305", "member": {"tier": "gold"}}).get_json()
    [verdict] = sim["campaigns"]
    assert verdict["matched"] and verdict["status"] == "draft" and sim["consumed"] is False
    assert verdict["prizes"][0]["min_fen"] == 200 and verdict["prizes"][0]["max_fen"] == 1000  # gold doubles
    assert verdict["needs"] == ["first scan of the code"]
    # 首扫必中: a red packet 60 % of the time, else the consolation; never nothing.
    assert (verdict["win_probability"], verdict["consolation_probability"], verdict["miss_probability"]) == (
        0.6, 0.4, 0.0)
    assert verdict["prizes"][0]["probability"] == 0.6 and verdict["consolation"]["probability"] == 0.4
    elsewhere = client.post("/api/v1/simulate", headers=AUTH, json={
        "batch_id": info.batch_id, "serial": 5, "adcode": "110101"}).get_json()
    assert elsewhere["campaigns"][0]["reason"] == "outside the campaign's regions"
    outer = client.post("/api/v1/simulate", headers=AUTH, json={"code": info.outer_url, "adcode": "440305"})
    assert outer.get_json()["campaigns"][0]["matched"] is False

    # Publishing takes only active campaigns.
    first = client.post("/api/v1/rules/publish", headers=AUTH).get_json()
    assert (first["version"], first["campaigns"], first["diff"]["added"]) == (1, 0, [])
    assert client.post(f"/api/v1/campaigns/{campaign['id']}/status", json={"status": "active"},
                       headers=AUTH).status_code == 200
    second = client.post("/api/v1/rules/publish", json={"note": "go"}, headers=AUTH).get_json()
    assert (second["version"], second["campaigns"], [c["id"] for c in second["diff"]["added"]]) == (
        2, 1, [campaign["id"]])
    versions = client.get("/api/v1/rules/versions", headers=AUTH).get_json()
    assert versions["current"] == 2 and [v["version"] for v in versions["versions"]] == [2, 1]

    r = app.extensions["yima.redis"]
    snapshot = json.loads(r.get(snapshot_key(2)))
    assert [c["id"] for c in snapshot["campaigns"]] == [campaign["id"]]


def test_invalid_campaigns_list_every_problem(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    bad = guangdong(info.batch_id)
    bad["scope"]["batches"] = [999]
    bad["regions"] = {"include": ["99"]}
    res = client.post("/api/v1/campaigns", json=bad, headers=AUTH)
    body = res.get_json()["error"]
    assert res.status_code == 400 and body["code"] == "invalid_campaign"
    fields = {p["field"] for p in body["problems"]}
    assert {"scope.batches", "regions.include"} <= fields
    over = guangdong(info.batch_id, budget={"total_fen": 20000})
    problems = client.post("/api/v1/campaigns", json=over, headers=AUTH).get_json()["error"]["problems"]
    assert problems[0]["field"] == "budget.total_fen" and "worst case" in problems[0]["message"]
    assert client.post("/api/v1/campaigns", data="nope", headers=AUTH).status_code == 400


def test_overlapping_exclusive_campaigns_cannot_both_be_live(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    first = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()
    assert client.post(f"/api/v1/campaigns/{first['id']}/status", json={"status": "active"},
                       headers=AUTH).status_code == 200
    # A draft may overlap (a clone, next month's variant being prepared); it cannot go live.
    again = client.post("/api/v1/campaigns", json=guangdong(info.batch_id, name="again"), headers=AUTH)
    assert again.status_code == 201
    res = client.post(f"/api/v1/campaigns/{again.get_json()['id']}/status", json={"status": "active"}, headers=AUTH)
    overlap = f"overlaps exclusive campaign {first['id']} ('广东首扫必中') in scope and time"
    assert res.status_code == 400
    assert res.get_json()["error"]["problems"] == [{"field": "exclusive", "message": overlap}]
    # Nor can a live one be edited into an overlap.
    later = guangdong(info.batch_id, name="next year",
                      window={"start": "2031-01-01T00:00:00+08:00", "end": "2032-01-01T00:00:00+08:00"})
    later_id = client.post("/api/v1/campaigns", json=later, headers=AUTH).get_json()["id"]
    assert client.post(f"/api/v1/campaigns/{later_id}/status", json={"status": "active"},
                       headers=AUTH).status_code == 200
    moved = client.put(f"/api/v1/campaigns/{later_id}", headers=AUTH,
                       json={**guangdong(info.batch_id, name="next year"), "edit_version": 1})
    assert moved.status_code == 400 and moved.get_json()["error"]["problems"][0]["field"] == "exclusive"
    stackable = guangdong(info.batch_id, name="stackable", exclusive=False)
    sid = client.post("/api/v1/campaigns", json=stackable, headers=AUTH).get_json()["id"]
    assert client.post(f"/api/v1/campaigns/{sid}/status", json={"status": "active"}, headers=AUTH).status_code == 200


def test_edit_delete_and_status_rules(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    cid = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()["id"]
    edited = client.put(f"/api/v1/campaigns/{cid}", json={**guangdong(info.batch_id, name="renamed"),
                                                          "edit_version": 1}, headers=AUTH)
    assert edited.get_json()["name"] == "renamed" and edited.get_json()["edit_version"] == 2
    assert client.get(f"/api/v1/campaigns/{cid}", headers=AUTH).get_json()["name"] == "renamed"
    assert client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "bogus"}, headers=AUTH).status_code == 400
    client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "active"}, headers=AUTH)
    assert client.delete(f"/api/v1/campaigns/{cid}", headers=AUTH).status_code == 409
    client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "ended"}, headers=AUTH)
    again = client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "active"}, headers=AUTH)
    assert again.status_code == 409
    assert client.get("/api/v1/campaigns/999", headers=AUTH).status_code == 404
    draft = client.post("/api/v1/campaigns", json=guangdong(info.batch_id, name="d2", exclusive=False),
                        headers=AUTH).get_json()["id"]
    assert client.delete(f"/api/v1/campaigns/{draft}", headers=AUTH).status_code == 204


def test_publish_refuses_when_an_active_campaign_became_invalid(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, app = ops
    cid = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()["id"]
    client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "active"}, headers=AUTH)
    assert client.post("/api/v1/rules/publish", headers=AUTH).status_code == 200
    # Someone edits the stored definition behind the API's back: the next publish must refuse, whole.
    from rules.models import Campaign

    with app.extensions["yima.db"].sessions() as s, s.begin():
        row = s.get(Campaign, cid)
        broken = copy.deepcopy(row.definition)
        broken["prizes"][0]["weight"] = 7
        row.definition = broken
    res = client.post("/api/v1/rules/publish", headers=AUTH)
    assert res.status_code == 400 and res.get_json()["error"]["problems"][0]["field"] == f"campaign {cid}"
    assert app.extensions["yima.redis"].get(CURRENT) == b"1"  # the published version is untouched


def test_rollback_and_hot_swap_between_requests(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, app = ops
    r = app.extensions["yima.redis"]
    clock = [0.0]
    holder = RulesHolder(r, interval=0.5, clock=lambda: clock[0])
    assert holder.current().version == 0
    cid = client.post("/api/v1/campaigns", json=guangdong(info.batch_id), headers=AUTH).get_json()["id"]
    client.post("/api/v1/rules/publish", headers=AUTH)  # v1: empty
    client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "active"}, headers=AUTH)
    client.post("/api/v1/rules/publish", headers=AUTH)  # v2: the campaign
    before = holder.current()
    assert before.version == 0  # not yet time to look again
    clock[0] += 0.6
    after = holder.current()
    assert after.version == 2 and [c.id for c in after.campaigns] == [cid]
    assert before.version == 0 and before.campaigns == ()  # a request holding the old matcher keeps it
    assert client.post("/api/v1/rules/rollback", json={"version": 1}, headers=AUTH).get_json()["version"] == 1
    clock[0] += 0.6
    assert holder.current().version == 1 and holder.current().campaigns == ()
    assert client.post("/api/v1/rules/rollback", json={"version": 42}, headers=AUTH).status_code == 404
    assert client.post("/api/v1/rules/rollback", json={"version": "2"}, headers=AUTH).status_code == 400
    r.delete(snapshot_key(2))  # Redis lost a snapshot: SQL still has it
    assert client.post("/api/v1/rules/rollback", json={"version": 2}, headers=AUTH).status_code == 200
    clock[0] += 0.6
    assert holder.current().version == 2


def test_done_means_create_simulate_publish_scan_and_win(ops) -> None:  # type: ignore[no-untyped-def]
    """The issue's walkthrough through the API alone, ending with scans that respect every limit."""
    client, info, app = ops
    doc = guangdong(info.batch_id, prizes=[
        {"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 1.0, "total": 3}])
    cid = client.post("/api/v1/campaigns", json=doc, headers=AUTH).get_json()["id"]
    assert client.post("/api/v1/simulate", headers=AUTH, json={
        "code": info.inner_url, "adcode": "440106"}).get_json()["campaigns"][0]["matched"]
    client.post(f"/api/v1/campaigns/{cid}/status", json={"status": "active"}, headers=AUTH)
    version = client.post("/api/v1/rules/publish", headers=AUTH).get_json()["version"]

    from codegen.codeformat import Role, encode
    from codegen.keys import load_keyring
    from rules.campaign_keys import awards_key

    ring = load_keyring(app.config["YIMA"].keys_file)
    key = ring.batch_key(1, info.batch_id)

    def url(serial: int, role: Role = Role.INNER) -> str:
        return f"https://q.demo.example/q/{encode(key, role=role, key_id=1, batch_id=info.batch_id, serial=serial)}"

    import time

    time.sleep(0.6)  # the app's rules holder looks for a new version at most every 0.5 s
    results = [client.post("/api/v1/scans", json={"code": url(s), "adcode": "440106"}).get_json()
               for s in range(5)]
    rewards = [r["reward"][0] for r in results]
    assert [r["outcome"] for r in rewards] == ["won", "won", "won", "consolation", "consolation"]
    assert all(100 <= r["amount_fen"] <= 500 for r in rewards[:3]) and results[0]["rules_version"] == version
    again = client.post("/api/v1/scans", json={"code": url(0), "adcode": "440106"}).get_json()
    assert again["status"] == "repeat" and again["reward"] is None  # first-scan campaign: repeats draw nothing
    beijing = client.post("/api/v1/scans", json={"code": url(10), "adcode": "110101"}).get_json()
    assert beijing["reward"] is None  # outside Guangdong
    outer = client.post("/api/v1/scans", json={"code": url(11, Role.OUTER), "adcode": "440106"}).get_json()
    assert outer["reward"] is None  # outer codes never draw in an inner-code campaign
    r = app.extensions["yima.redis"]
    assert r.xlen(awards_key(cid)) == 3
    assert int(r.get(f"{{c:{cid}}}:spent")) == sum(x["amount_fen"] for x in rewards[:3]) <= 50000

    # Gold members double: a member token from the membership API, then a scan with it.
    token = client.post("/api/v1/members/tokens", headers=AUTH,
                        json={"member_id": "wx-1", "tier": "gold"}).get_json()["member_token"]
    r.hset(f"{{c:{cid}}}:qty", 0, 0)  # refill the pool for this check (counters are Redis' own)
    gold = client.post("/api/v1/scans", json={"code": url(30), "adcode": "440106", "member_token": token}).get_json()
    assert gold["reward"][0]["outcome"] == "won" and 200 <= gold["reward"][0]["amount_fen"] <= 1000
    assert gold["reward"][0]["amount_fen"] % 2 == 0  # doubled
    bad = client.post("/api/v1/scans", json={"code": url(31), "member_token": token[:-3] + "xyz"})
    assert bad.status_code == 400 and bad.get_json()["error"]["code"] == "invalid_member_token"

    page = client.get(url(20).replace("https://q.demo.example", "") + "?adcode=440106")
    assert page.status_code == 200  # the H5 page has no location yet: the Guangdong draw waits for one
    html = page.get_data(as_text=True)
    assert 'id="locate-needed"' in html and "广东省" in html and "此码暂无进行中的活动" not in html, html


def test_backtest_replays_stored_scans_against_a_draft(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, app = ops
    from codegen.codeformat import Role, encode
    from codegen.keys import load_keyring
    from rules.drain import Drainer

    key = load_keyring(app.config["YIMA"].keys_file).batch_key(1, info.batch_id)
    for serial in range(40):  # scans before any campaign existed: 40 first scans, 10 repeats
        code = encode(key, role=Role.INNER, key_id=1, batch_id=info.batch_id, serial=serial)
        client.post("/api/v1/scans", json={"code": code, "adcode": "440305" if serial % 2 else "110101"})
        if serial < 10:
            client.post("/api/v1/scans", json={"code": code, "adcode": "440305"})
    drainer = Drainer(app.extensions["yima.redis"], app.extensions["yima.db"].sessions, "t")
    while drainer.drain_once(block_ms=10).read:
        pass
    doc = guangdong(info.batch_id, prizes=[
        {"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 1.0, "total": 15}],
        budget={"total_fen": 15000})
    cid = client.post("/api/v1/campaigns", json=doc, headers=AUTH).get_json()["id"]
    body = {"from": "2020-01-01T00:00:00+00:00", "to": "2099-01-01T00:00:00+00:00", "seed": 7}
    report = client.post(f"/api/v1/campaigns/{cid}/backtest", json=body, headers=AUTH).get_json()
    assert report["scans"] == 50
    assert report["draws"] == 20  # first scans in Guangdong (odd serials); repeats never draw here
    assert report["awards"] == 15 and report["by_prize"] == [{"index": 0, "name": "红包", "awards": 15}]
    assert 1500 <= report["cost_fen"] <= 7500 and report["expected_awards"] == 20
    again = client.post(f"/api/v1/campaigns/{cid}/backtest", json=body, headers=AUTH).get_json()
    assert again == report  # seeded: the same request, the same report
    assert app.extensions["yima.redis"].exists(f"{{c:{cid}}}:spent") == 0  # consumed nothing
    bad = client.post(f"/api/v1/campaigns/{cid}/backtest", json={"from": "x"}, headers=AUTH)
    assert bad.status_code == 400
