"""The risk layer in the real app (YIMA_RISK on), through the scan API and the H5 page, on a real Redis and
SQL: each decision changes the draw as docs/risk.md says, the decision lands on the drained event, and a held
award reaches the ledger held."""

from __future__ import annotations

import json
from datetime import UTC, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.runtime import member_secret
from app.scan_views import DEVICE_COOKIE
from app.seed import demo_campaign, seed_demo
from codegen import keys
from codegen.batch_keys import batch_keys
from codegen.codeformat import Role, encode
from codegen.db import transaction
from payouts.claims import Rail, settle
from payouts.models import AwardClaim
from risk import keys as risk_keys
from risk.models import RiskFlag
from risk.observer import RiskObserver
from risk.policy import RiskPolicy
from rules.awards import AwardSink
from rules.campaign_store import save_campaign, set_status
from rules.drain import Drainer, ScanEventSink
from rules.members import Member, issue_member_token
from rules.models import Award, ScanEvent
from rules.publish import publish_rules
from rules.region import default_index
from tests.web.conftest import make_app


@pytest.fixture
def world(tmp_path: Path, redis_client: redis.Redis) -> dict[str, Any]:
    app = make_app(tmp_path, risk=True, scan_limit_ip=0, scan_limit_device=0)
    db = app.extensions["yima.db"]
    info = seed_demo(app.config["YIMA"], db, redis_client)
    doc = demo_campaign(info.batch_id)
    doc.update(prizes=[{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 100, "weight": 1.0}],
               consolation=None)
    with transaction(db.sessions) as s:
        row = save_campaign(s, {k: v for k, v in doc.items() if v is not None}, default_index())
        set_status(s, row.id, "active", default_index())
        publish_rules(s, redis_client, default_index(), note="risk test")
    brand_id = int(redis_client.hget(batch_keys(info.batch_id)[0], "brand_id") or 0)
    publish_policy(redis_client, brand_id)  # the defaults (the demo brand's own policy pays at once)
    ring = keys.load_keyring(tmp_path / "keys.json")
    key = ring.batch_key(ring.current, info.batch_id)
    return {"app": app, "redis": redis_client, "batch": info.batch_id, "brand": brand_id,
            "code": lambda serial: encode(key, role=Role.INNER, key_id=ring.current, batch_id=info.batch_id,
                                          serial=serial)}


def scan(app: Flask, code: str, device: str, ip: str = "203.0.113.7", **body: Any) -> dict[str, Any]:
    res = app.test_client().post("/api/v1/scans", json={"code": code, "device_id": device, **body},
                                 environ_base={"REMOTE_ADDR": ip})
    assert res.status_code == 200, res.get_data(as_text=True)
    return res.get_json()  # type: ignore[no-any-return]


def won(reply: dict[str, Any]) -> bool:
    return any(r["outcome"] == "won" for r in reply["reward"] or [])


def publish_policy(r: redis.Redis, brand_id: int, **doc: Any) -> None:
    r.hset(risk_keys.POLICIES_KEY, str(brand_id), json.dumps(doc))


def drain(w: dict[str, Any]) -> None:
    app = w["app"]
    # awards first, as the worker's passes may land them: the observer then holds a flagged subject's awards
    for sink in (AwardSink(), ScanEventSink(observers=[RiskObserver(w["redis"])])):
        drainer = Drainer(w["redis"], app.extensions["yima.db"].sessions, "t", sink=sink)
        while drainer.drain_once(block_ms=10).read:
            pass


def test_an_honest_scan_is_allowed_and_wins(world: dict[str, Any]) -> None:
    reply = scan(world["app"], world["code"](1), "phone-a")
    assert reply["risk"] == "allow" and won(reply)
    assert world["redis"].exists(risk_keys.state_key(risk_keys.DEVICE, risk_keys.device_subject("phone-a")))
    # its cash is not paid before the policy's payout delay: time for the drain's flags to hold it
    drain(world)
    with world["app"].extensions["yima.db"].sessions() as s:
        award = s.scalars(select(Award).where(Award.serial == 1)).one()
        assert award.pay_after is not None and award.scan_event.startswith(f"{world['batch']}-")
        assert (award.pay_after - award.awarded_at).total_seconds() == RiskPolicy().payout_delay_s
        claim = AwardClaim(award_id=award.id, campaign_id=award.campaign_id, brand_id=world["brand"],
                           openid="o-1", kind="cash", claimed_at=award.awarded_at)
        s.add(claim)
        won_at = award.awarded_at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
        payout = settle(s, claim, award, Rail("fake", 32), won_at)
        assert payout is not None
        assert payout.next_at.replace(tzinfo=UTC) == won_at + timedelta(seconds=RiskPolicy().payout_delay_s)


def test_a_sweep_of_one_case_gets_no_prize_and_leaves_the_codes_to_their_owners(world: dict[str, Any]) -> None:
    app, code = world["app"], world["code"]
    replies = [scan(app, code(serial), "warehouse-phone") for serial in range(24, 30)]  # case 1
    assert [r["risk"] for r in replies] == ["allow"] * 4 + ["no_prize"] * 2
    assert all(won(r) for r in replies[:4]) and not any(r["reward"] for r in replies[4:])
    # the swept codes were withheld, not spent: their buyers' scans are still first scans, and win
    owner = scan(app, code(28), "buyer-phone", ip="198.51.100.9")
    assert owner["status"] == "first" and owner["risk"] == "allow" and won(owner)
    drain(world)
    with app.extensions["yima.db"].sessions() as s:
        events = s.scalars(select(ScanEvent).where(ScanEvent.serial.in_([28, 29])).order_by(ScanEvent.id)).all()
    kinds = sorted((e.serial, e.kind, e.risk, e.risk_reasons) for e in events)
    assert kinds == [(28, "first", "allow", ""), (28, "withheld", "no_prize", "sweep:d"),
                     (29, "withheld", "no_prize", "sweep:d")]
    # the sweeper's device is in the review queue, and the four prizes it won before the rule caught it are
    # held (the payout waits RiskPolicy.payout_delay_s, so they are held before any money leaves)
    with app.extensions["yima.db"].sessions() as s:
        flags = s.scalars(select(RiskFlag)).all()
        swept = s.scalars(select(Award).where(Award.serial.in_(range(24, 30)))).all()
    assert [(f.kind, f.subject, f.reasons) for f in flags] == [
        ("d", risk_keys.device_subject("warehouse-phone"), {"sweep": 2})]
    assert sorted((a.serial, a.risk_hold) for a in swept) == [(24, "held"), (25, "held"), (26, "held"),
                                                            (27, "held"), (28, "")]


def test_a_subject_under_review_wins_held_and_the_ledger_holds_the_award(world: dict[str, Any]) -> None:
    r, brand = world["redis"], world["brand"]
    r.hset(risk_keys.state_key(risk_keys.DEVICE, risk_keys.device_subject("flagged-phone")),
           risk_keys.review_field(brand), "flagged")
    reply = scan(world["app"], world["code"](40), "flagged-phone")
    assert reply["risk"] == "hold" and won(reply)
    assert reply["reward"][0]["held"] is True
    drain(world)
    with world["app"].extensions["yima.db"].sessions() as s:
        award = s.scalars(select(Award).where(Award.serial == 40)).one()
    assert award.risk_hold == Award.HELD and award.status == Award.VALID


def test_a_blocked_device_is_told_the_code_is_genuine_and_nothing_is_drawn(world: dict[str, Any]) -> None:
    r, brand, app = world["redis"], world["brand"], world["app"]
    device = "b" * 32  # the page's device cookie shape
    r.hset(risk_keys.state_key(risk_keys.DEVICE, risk_keys.device_subject(device)),
           risk_keys.list_field(brand), "block")
    client = app.test_client()
    client.set_cookie(DEVICE_COOKIE, device)
    page = client.get(f"/q/{world['code'](50)}", environ_base={"REMOTE_ADDR": "203.0.113.8"},
                      headers={"Accept-Language": "zh-CN"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and 'id="risk-notice"' in text and "活动奖励已暂停" in text
    # the code stays drawable: another phone's scan is its first, and wins
    assert won(scan(app, world["code"](50), "other-phone"))


def test_a_busy_address_challenges_new_phones_only(world: dict[str, Any]) -> None:
    app, r, brand, code = world["app"], world["redis"], world["brand"], world["code"]
    publish_policy(r, brand, ip_per_minute=3, new_device_s=3600)
    # a phone the layer has known for a day
    r.hset(risk_keys.state_key(risk_keys.DEVICE, risk_keys.device_subject("regular")), "first", 1)
    first = [scan(app, code(60 + i), f"new-{i}", ip="100.64.1.1")["risk"] for i in range(3)]
    assert first == ["allow"] * 3
    assert scan(app, code(70), "new-9", ip="100.64.1.1")["risk"] == "challenge"
    assert scan(app, code(71), "regular", ip="100.64.1.1")["risk"] == "allow"


def test_with_the_layer_off_nothing_is_counted(tmp_path: Path, redis_client: redis.Redis) -> None:
    app = make_app(tmp_path, scan_limit_ip=0, scan_limit_device=0, risk=False)
    info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], redis_client)
    ring = keys.load_keyring(tmp_path / "keys.json")
    code = encode(ring.batch_key(ring.current, info.batch_id), role=Role.INNER, key_id=ring.current,
                  batch_id=info.batch_id, serial=3)
    assert scan(app, code, "phone")["risk"] == "allow"
    assert not list(redis_client.scan_iter(match="{r:*"))


def test_a_code_capped_for_one_member_does_not_pass_to_the_next_account_on_the_phone(
        tmp_path: Path, redis_client: redis.Redis) -> None:
    app = make_app(tmp_path, risk=True, scan_limit_ip=0, scan_limit_device=0)
    db = app.extensions["yima.db"]
    info = seed_demo(app.config["YIMA"], db, redis_client)
    doc = demo_campaign(info.batch_id)
    doc.update(prizes=[{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 100, "weight": 1.0}],
               consolation=None, caps={"per_member": 1}, members={"audience": "members"})
    with transaction(db.sessions) as s:
        row = save_campaign(s, {k: v for k, v in doc.items() if v is not None}, default_index())
        set_status(s, row.id, "active", default_index())
        publish_rules(s, redis_client, default_index(), note="cap test")
    ring = keys.load_keyring(tmp_path / "keys.json")

    def code(serial: int) -> str:
        return encode(ring.batch_key(ring.current, info.batch_id), role=Role.INNER, key_id=ring.current,
                      batch_id=info.batch_id, serial=serial)

    secret = member_secret(app.config["YIMA"])
    tokens = [issue_member_token(secret, Member(f"acct-{i}", None, frozenset(), joined_at=0)) for i in range(3)]
    assert won(scan(app, code(1), "shared-phone", member_token=tokens[0]))
    capped = scan(app, code(2), "shared-phone", member_token=tokens[0])
    assert [r["outcome"] for r in capped["reward"]] == ["capped"]
    passed_on = scan(app, code(2), "shared-phone", member_token=tokens[1])
    assert (passed_on["risk"], passed_on["reward"]) == ("no_prize", None)
    # the same account on its own phone is a real second person with that bottle: it wins
    elsewhere = scan(app, code(2), "own-phone", member_token=tokens[2], ip="198.51.100.20")
    assert elsewhere["status"] == "repeat" and elsewhere["risk"] == "allow"
