"""Signed award receipts: a winner told "you won" keeps the prize when Redis loses its last writes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.seed import DemoInfo, seed_demo_campaign
from codegen.codeformat import Role, encode
from codegen.keys import load_keyring
from rules.awards import AwardSink
from rules.campaign_keys import awards_key, drawn_key, memo_key
from rules.drain import Drainer
from rules.models import Award
from tests.web.conftest import seeded_app


@pytest.fixture
def demo(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, DemoInfo]]:
    app, info = seeded_app(tmp_path)
    seed_demo_campaign(app.extensions["yima.db"], app.extensions["yima.redis"], info.batch_id)
    yield app, info
    app.extensions["yima.db"].engine.dispose()


def code(app: Flask, info: DemoInfo, serial: int) -> str:
    key = load_keyring(app.config["YIMA"].keys_file).batch_key(1, info.batch_id)
    return encode(key, role=Role.INNER, key_id=1, batch_id=info.batch_id, serial=serial)


def lose_last_writes(r: redis.Redis, info: DemoInfo, cid: int, serial: int, reward: dict[str, Any], text: str) -> None:
    """What an AOF `everysec` power loss does to the last second: the scan and its award never happened."""
    tag = f"{{b:{info.batch_id}}}"
    r.setbit(f"{tag}:seen:inner", serial, 0)
    r.hdel(f"{tag}:first:inner:{serial // 128}", str(serial % 128))
    r.delete(memo_key(cid, text))
    r.setbit(drawn_key(cid, info.batch_id, "inner"), serial, 0)
    r.xdel(awards_key(cid), reward["award_id"].split("-", 1)[1])
    r.hincrby(f"{{c:{cid}}}:qty", reward_index(reward), -1)
    r.decrby(f"{{c:{cid}}}:spent", reward["amount_fen"])


def reward_index(reward: dict[str, Any]) -> int:
    return 0 if reward["prize"]["kind"] == "cash" else -1


def drain(app: Flask) -> list[Award]:
    db = app.extensions["yima.db"]
    drainer = Drainer(app.extensions["yima.redis"], db.sessions, "t", sink=AwardSink())
    while drainer.drain_once(block_ms=10).read:
        pass
    with db.sessions() as s:
        return list(s.scalars(select(Award).order_by(Award.id)))


def test_a_receipt_restores_an_award_redis_lost_and_the_code_never_draws_again(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client, r = app.test_client(), app.extensions["yima.redis"]
    text = code(app, info, 5)
    first = client.post("/api/v1/scans", json={"code": text, "device_id": "phone-a"}).get_json()
    won = first["reward"][0]
    assert won["awarded"] and won["receipt"] and won["award_id"].startswith(f"{won['campaign_id']}-")
    cid = won["campaign_id"]
    lose_last_writes(r, info, cid, 5, won, text)
    assert drain(app) == []  # the award never reached SQL: only the phone's receipt knows of it

    again = client.post("/api/v1/scans", json={"code": text, "device_id": "phone-a",
                                               "receipts": [won["receipt"]]}).get_json()
    back = again["reward"][0]
    assert back["outcome"] == "already_won" and back["award_id"] == won["award_id"]
    assert (back["amount_fen"], back["points"]) == (won["amount_fen"], won["points"])
    # Another phone, no receipt: the code is won, it does not draw again.
    other = client.post("/api/v1/scans", json={"code": text, "device_id": "phone-b"}).get_json()
    assert other["reward"] is None or other["reward"][0]["outcome"] == "already_won"
    client.post("/api/v1/scans", json={"code": text, "device_id": "phone-a", "receipts": [won["receipt"]]})
    rows = drain(app)
    assert [(a.id, a.status, a.amount_fen, a.points) for a in rows] == [
        (won["award_id"], "valid", won["amount_fen"], won["points"])]


def test_a_restored_award_is_still_under_the_sql_guards(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client, r = app.test_client(), app.extensions["yima.redis"]
    text = code(app, info, 6)
    won = client.post("/api/v1/scans", json={"code": text, "device_id": "phone-a"}).get_json()["reward"][0]
    cid = won["campaign_id"]
    lose_last_writes(r, info, cid, 6, won, text)
    # Meanwhile the same code was awarded again (Redis had forgotten it), and that award reached SQL first.
    redraw = client.post("/api/v1/scans", json={"code": text, "device_id": "phone-b"}).get_json()["reward"][0]
    assert redraw["awarded"]
    drain(app)
    r.delete(memo_key(cid, text))  # and Redis loses that one's memo too
    client.post("/api/v1/scans", json={"code": text, "device_id": "phone-a", "receipts": [won["receipt"]]})
    rows = {a.id: a for a in drain(app)}
    assert rows[redraw["award_id"]].status == "valid"
    assert rows[won["award_id"]].status == "void" and "already awarded" in rows[won["award_id"]].void_reason


def test_forged_receipts_are_refused_and_others_codes_ignored(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = app.test_client()
    won = client.post("/api/v1/scans", json={"code": code(app, info, 7)}).get_json()["reward"][0]
    body, mac = won["receipt"].split(".")
    forged = body[:-2] + ("A" if body[-2] != "A" else "B") + body[-1] + "." + mac
    for bad in (forged, "x.y", "no-dot", "a" * 601):
        res = client.post("/api/v1/scans", json={"code": code(app, info, 8), "receipts": [bad]})
        assert res.status_code == 400 and res.get_json()["error"]["code"] in ("invalid_receipt", "invalid_request")
    for bad in ("nope", ["x"] * 6, [1]):
        res = client.post("/api/v1/scans", json={"code": code(app, info, 8), "receipts": bad})
        assert res.status_code == 400 and res.get_json()["error"]["code"] == "invalid_request"
    # A genuine receipt of another code restores nothing here: code 9 draws on its own.
    res = client.post("/api/v1/scans", json={"code": code(app, info, 9), "receipts": [won["receipt"]]})
    assert res.status_code == 200 and res.get_json()["reward"][0]["award_id"] != won["award_id"]


def test_the_h5_page_keeps_the_receipt_and_a_reload_restores_the_award(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client, r = app.test_client(), app.extensions["yima.redis"]
    text = code(app, info, 10)
    page = client.get(f"/q/{text}")
    assert page.status_code == 200 and "中奖凭证号" in page.get_data(as_text=True)
    kept_code, _, receipt = client.get_cookie("yima_rc").value.partition(":")
    assert kept_code == text
    won = client.post("/api/v1/scans", json={"code": text, "receipts": [receipt]}).get_json()["reward"][0]
    assert won["outcome"] == "already_won"
    lose_last_writes(r, info, won["campaign_id"], 10, won, text)
    page = client.get(f"/q/{text}").get_data(as_text=True)
    assert "此码已中奖" in page and won["award_id"] in page
    assert [a.id for a in drain(app)] == [won["award_id"]]


def test_a_refused_receipt_spends_nothing(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = app.test_client()
    won = client.post("/api/v1/scans", json={"code": code(app, info, 11)}).get_json()["reward"][0]
    body, mac = won["receipt"].split(".")
    forged = f"{body}.{'A' if mac[0] != 'A' else 'B'}{mac[1:]}"
    res = client.post("/api/v1/scans", json={"code": code(app, info, 12), "receipts": [forged]})
    assert res.status_code == 400
    again = client.post("/api/v1/scans", json={"code": code(app, info, 12)}).get_json()
    assert again["status"] == "first" and again["reward"][0]["awarded"]  # its first scan is still to come
