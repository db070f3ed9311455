"""The lookup's phone page (/dist/lookup) and API (/api/v1/channel/codes/<code>, /api/v1/channel/lookup): every
seat and brand staff look their brand's codes up, each sees the path as its scope allows, another brand's
code reads as not genuine, and no input, however mangled, gets a 5xx."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jsonschema
import pytest
from flask.testing import FlaskClient

from accounts.tokens import issue_token
from accounts.users import get_user, user_by_email
from app.openapi import OPENAPI
from codegen.codeformat import Role
from codegen.db import transaction
from rules.scan import ScanRequest
from tests.integration.test_channel_lookup import ship
from tests.support.channel_world import ChannelWorld, add_seat_user, channel_world, sign
from tests.web.conftest import make_app
from tests.web.console_support import add_user, csrf_token, login

OPS_TOKEN = "lookup-ops-token-0123456789abcdef01234567"
SCHEMA = {"$ref": "#/components/schemas/CodeLookup", "components": OPENAPI["components"]}
JUNK = ["", " ", "x", "%", "../../etc/passwd", "<script>alert(1)</script>", "ÄÖÜ" * 10, "1" * 28, "Z" * 28,
        "https://q.example/q/", "https://q.example/q/" + "A" * 28, "\u202e" * 30, "x" * 513, "y" * 5000,
        "'; DROP TABLE scan_events; --", "0" * 27 + "\u0660"]


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> ChannelWorld:
    w = channel_world(make_app(tmp_path, ops_token=OPS_TOKEN))
    batch = w.batch["a"]
    ship(w.app, batch, 0, 9, sender=None, to=w.distributor["a"])
    ship(w.app, batch, 0, 4, sender=w.distributor["a"], to=w.sub_distributor["a"], day=1)
    ship(w.app, batch, 1, 1, sender=w.sub_distributor["a"], store=w.store["a"], day=2)
    return w


def signed_in(world: ChannelWorld, kind: str, brand: str = "a") -> FlaskClient:
    client = world.app.test_client()
    login(client, world.users[(brand, kind)])
    return client


def seat_token(world: ChannelWorld, kind: str, brand: str = "a") -> dict[str, str]:
    with transaction(world.app.extensions["yima.db"].sessions) as s:
        user = get_user(s, user_by_email(s, world.users[(brand, kind)]).id)  # type: ignore[union-attr]
        _, secret = issue_token(s, user, user.seat.brand_id, "channel", "pda", 30)  # type: ignore[union-attr]
    return {"Authorization": f"Bearer {secret}"}


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


# --- the page ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["warehouse", "inspector", "distributor", "clerk", "waiter"])
def test_every_seat_looks_a_code_up_and_the_desk_links_here(world: ChannelWorld, kind: str) -> None:
    client = signed_in(world, kind)
    assert 'href="/dist/lookup"' in client.get("/dist").get_data(as_text=True)
    box = client.get("/dist/lookup").get_data(as_text=True)
    assert 'name="code"' in box and "autofocus" in box and "data-scan-form" in box and "hx-post" in box
    page = client.get("/dist/lookup", query_string={"code": sign(world.app, world.batch["a"], 30)})
    assert page.status_code == 200
    body = text_of(page.get_data(as_text=True))
    assert "正品" in body and "非正品" not in body
    for section in ("产品与批次", "流向", "扫码记录", "奖品"):
        assert section in body, section
    assert "LOT-a" in body and "Test Factory" in body and "2026-11-20" in body


def test_brand_staff_look_up_and_see_every_hop_by_name(world: ChannelWorld) -> None:
    add_user(world.app, "analyst@a.test", "analyst", "a")
    client = world.app.test_client()
    login(client, "analyst@a.test")
    body = text_of(client.get("/dist/lookup", query_string={"code": sign(world.app, world.batch["a"], 30)})
                   .get_data(as_text=True))
    for hop in ("品牌仓库 → 省级经销商 a", "省级经销商 a → 市级经销商 a", "市级经销商 a → 门店 a"):
        assert hop in body, hop


def test_a_sub_distributor_sees_the_upstream_hops_unnamed_and_a_store_its_own_receipt(world: ChannelWorld) -> None:
    code = sign(world.app, world.batch["a"], 30)
    add_seat_user(world.app, "sub@a.test", "a", "distributor", distributor_id=world.sub_distributor["a"])
    client = world.app.test_client()
    login(client, "sub@a.test")
    body = text_of(client.get("/dist/lookup", query_string={"code": code}).get_data(as_text=True))
    assert "品牌仓库 → 其他经销商" in body and "其他经销商 → 市级经销商 a" in body
    assert "省级经销商 a" not in body
    clerk = text_of(signed_in(world, "clerk").get("/dist/lookup", query_string={"code": code}).get_data(as_text=True))
    assert "市级经销商 a → 门店 a" in clerk and "省级经销商 a" not in clerk and "另有 2 段流转不对门店显示" in clerk
    elsewhere = text_of(signed_in(world, "clerk").get("/dist/lookup", query_string={
        "code": sign(world.app, world.batch["a"], 100)}).get_data(as_text=True))  # case 4: not to this store
    assert "此箱未发往本门店" in elsewhere and "没有出库记录" not in elsewhere and "另有 2 段流转" in elsewhere


def test_the_box_posts_and_htmx_gets_only_the_result_card(world: ChannelWorld) -> None:
    client = signed_in(world, "clerk")
    token = csrf_token(client, "/dist/lookup")
    code = sign(world.app, world.batch["a"], 30)
    card = client.post("/dist/lookup", data={"code": f"https://q.demo.example/q/{code}", "csrf_token": token},
                       headers={"HX-Request": "true"})
    html = card.get_data(as_text=True)
    assert card.status_code == 200 and "<html" not in html and 'id="verdict"' in html and "正品" in html
    full = client.post("/dist/lookup", data={"code": code, "csrf_token": token})  # without JavaScript
    assert full.status_code == 200 and "<html" in full.get_data(as_text=True)
    assert 'data-genuine="true"' in full.get_data(as_text=True)
    empty = client.post("/dist/lookup", data={"code": "  ", "csrf_token": token}, headers={"HX-Request": "true"})
    assert "请先扫描或输入一个码" in empty.get_data(as_text=True)
    assert client.post("/dist/lookup", data={"code": code}).status_code == 400  # no CSRF token


def test_the_page_shows_scans_and_prizes_and_speaks_english(world: ChannelWorld) -> None:
    code = sign(world.app, world.batch["a"], 30)
    world.app.extensions["yima.scanner"].scan(ScanRequest(code, adcode="440106", device_id="p1"))
    client = signed_in(world, "distributor")
    body = text_of(client.get("/dist/lookup", query_string={"code": code}).get_data(as_text=True))
    assert "已扫码 1 次" in body and "天河区" in body and "尚未写入记录" in body
    english = text_of(client.get("/dist/lookup", query_string={"code": code, "lang": "en"}).get_data(as_text=True))
    assert "Genuine" in english and "Channel path" in english and "scanned 1×" in english


def test_another_brands_code_and_a_forgery_read_as_not_genuine(world: ChannelWorld) -> None:
    client = signed_in(world, "clerk")
    theirs = sign(world.app, world.batch["b"], 3)
    body = text_of(client.get("/dist/lookup", query_string={"code": theirs}).get_data(as_text=True))
    assert "非正品" in body and "不是本品牌的码" in body and "LOT-b" not in body
    mine = sign(world.app, world.batch["a"], 3)
    forged = mine[:-2] + ("00" if mine[-2:] != "00" else "11")
    body = text_of(client.get("/dist/lookup", query_string={"code": forged}).get_data(as_text=True))
    assert "非正品" in body and "伪造码" in body


def test_the_page_needs_a_sign_in_and_answers_junk_without_a_5xx(world: ChannelWorld) -> None:
    anonymous = world.app.test_client().get("/dist/lookup?code=x")
    assert anonymous.status_code == 302 and "/ops/login" in anonymous.headers["Location"]
    client = signed_in(world, "waiter")
    token = csrf_token(client, "/dist/lookup")
    for junk in JUNK:
        got = client.get("/dist/lookup", query_string={"code": junk})
        assert got.status_code == 200, (junk, got.status_code)
        posted = client.post("/dist/lookup", data={"code": junk, "csrf_token": token}, headers={"HX-Request": "1"})
        assert posted.status_code == 200, (junk, posted.status_code)


# --- the API ----------------------------------------------------------------------------------------------


def test_a_seat_token_looks_up_by_path_and_by_body(world: ChannelWorld) -> None:
    client = world.app.test_client()
    auth = seat_token(world, "distributor")
    code = sign(world.app, world.batch["a"], 30)
    by_path = client.get(f"/api/v1/channel/codes/{code}", headers=auth)
    assert by_path.status_code == 200
    doc = by_path.get_json()
    jsonschema.validate(doc, SCHEMA)
    assert doc["genuine"] and doc["reason"] is None and doc["code"] == code and doc["batch"]["lot"] == "LOT-a"
    assert [(h["sender"]["name"], h["receiver"]["name"]) for h in doc["path"]] == [
        (None, "省级经销商 a"), ("省级经销商 a", "市级经销商 a"), ("市级经销商 a", "门店 a")]
    assert doc["path"][0]["sender"]["kind"] == "warehouse" and doc["scans"]["live"] is True
    by_body = client.post("/api/v1/channel/lookup", headers=auth, json={"code": f"https://q.demo.example/q/{code}"})
    assert by_body.status_code == 200 and by_body.get_json() == doc
    case = client.get(f"/api/v1/channel/codes/{sign(world.app, world.batch['a'], 1, Role.CASE)}", headers=auth)
    jsonschema.validate(case.get_json(), SCHEMA)
    assert case.get_json()["role"] == "case" and case.get_json()["case"]["items_scanned"] == 0


def test_the_api_is_scoped_to_the_tokens_brand(world: ChannelWorld) -> None:
    client = world.app.test_client()
    code = sign(world.app, world.batch["a"], 30)
    theirs = client.get(f"/api/v1/channel/codes/{code}", headers=seat_token(world, "clerk", "b"))
    assert theirs.status_code == 200
    assert theirs.get_json()["genuine"] is False and theirs.get_json()["reason"] == "not_this_brand"
    assert theirs.get_json()["product"] is None and theirs.get_json()["path"] == []
    jsonschema.validate(theirs.get_json(), SCHEMA)
    clerk = client.get(f"/api/v1/channel/codes/{code}", headers=seat_token(world, "clerk")).get_json()
    assert len(clerk["path"]) == 1 and clerk["hidden_hops"] == 2
    platform = {"Authorization": f"Bearer {OPS_TOKEN}"}
    assert client.get(f"/api/v1/channel/codes/{code}", headers=platform).status_code == 404  # which brand?
    assert client.get(f"/api/v1/channel/codes/{code}?brand=a", headers=platform).get_json()["genuine"] is True
    assert client.get(f"/api/v1/channel/codes/{code}?brand=b", headers=platform).get_json()["genuine"] is False
    assert client.get(f"/api/v1/channel/codes/{code}?brand=nope", headers=platform).status_code == 404
    assert client.get(f"/api/v1/channel/codes/{code}").status_code == 401
    add_user(world.app, "op@b.test", "operator", "b")
    with transaction(world.app.extensions["yima.db"].sessions) as s:
        user = get_user(s, user_by_email(s, "op@b.test").id)  # type: ignore[union-attr]
        _, secret = issue_token(s, user, user.memberships[0].brand_id, "analyst", "erp", 30)
    assert client.get(f"/api/v1/channel/codes/{code}", headers={"Authorization": f"Bearer {secret}"}
                      ).get_json()["reason"] == "not_this_brand"
    assert client.get(f"/api/v1/channel/codes/{code}?brand=a", headers={"Authorization": f"Bearer {secret}"}
                      ).status_code == 404


def test_the_api_refuses_bad_bodies_and_answers_junk_without_a_5xx(world: ChannelWorld) -> None:
    client = world.app.test_client()
    auth = seat_token(world, "inspector")
    for body in (None, [], "code", {"code": 5}, {"code": ""}, {"code": "x" * 513}, {"code": "x", "more": 1}):
        got = client.post("/api/v1/channel/lookup", headers=auth, json=body)
        assert got.status_code == 400 and got.get_json()["error"]["code"], body
    assert client.post("/api/v1/channel/lookup", headers=auth, data="{", content_type="application/json"
                       ).status_code == 400
    for junk in JUNK:
        posted = client.post("/api/v1/channel/lookup", headers=auth, json={"code": junk})
        assert posted.status_code in (200, 400), (junk, posted.status_code)
        if posted.status_code == 200:
            jsonschema.validate(posted.get_json(), SCHEMA)
            assert posted.get_json()["genuine"] is False
        if junk.strip():
            got = client.get(f"/api/v1/channel/codes/{quote(junk, safe='')}", headers=auth)
            assert got.status_code in (200, 404), (junk, got.status_code)
