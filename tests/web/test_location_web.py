"""The H5 page's location step through Flask, on real Redis and SQL: a Guangdong-only campaign."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.seed import DEMO_BRAND, DemoInfo
from app.wechat_jssdk import JsapiTickets, ticket_key
from codegen.db import transaction
from payouts.wechat_crypto import jsapi_signature
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import publish_rules
from rules.region import default_index
from tests.web.browser_support import WECHAT_UA
from tests.web.conftest import seeded_app

GUANGZHOU_IP, CHENGDU_IP = "202.96.128.86", "61.139.2.69"
SHENZHEN = {"lat": "22.54", "lng": "114.06"}


def guangdong_campaign(batch_id: int, **regions: Any) -> dict[str, Any]:
    return {
        "name": "广东首扫红包", "brand": DEMO_BRAND,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
        "scope": {"batches": [batch_id], "roles": ["inner"]},
        "regions": {"include": ["44"], **regions},
        "ordinal": {"kind": "first_scan"},
        "budget": {"total_fen": 100_000},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 188, "max_fen": 188, "weight": 1.0, "total": 100}],
    }


def publish(app: Flask, doc: dict[str, Any]) -> None:
    with transaction(app.extensions["yima.db"].sessions) as session:
        row = save_campaign(session, doc, default_index())
        set_status(session, row.id, Campaign.ACTIVE, default_index())
        publish_rules(session, app.extensions["yima.redis"], default_index(), note="test")


@pytest.fixture
def demo(tmp_path: Path, redis_client: Any) -> Iterator[tuple[Flask, DemoInfo]]:
    app, info = seeded_app(tmp_path)
    publish(app, guangdong_campaign(info.batch_id))
    yield app, info


def path(url: str) -> str:
    return "/q/" + url.rsplit("/", 1)[1]


def phone(app: Flask, ip: str, **headers: str) -> FlaskClient:
    client = app.test_client()
    client.environ_base.update({"REMOTE_ADDR": ip, **{f"HTTP_{k.upper()}": v for k, v in headers.items()}})
    return client


def ticket_of(page: str) -> str:
    found = re.search(r'name="ticket" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


def test_the_first_scan_is_held_asks_for_location_and_wins_in_guangdong(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = phone(app, CHENGDU_IP)
    page = client.get(path(info.inner_url)).get_data(as_text=True)
    assert "首次扫码" in page and "本活动仅限广东省参与" in page and "此码暂无进行中的活动" not in page
    assert 'id="locate-form"' in page and "scan_location.js" in page
    ticket = ticket_of(page)

    refused = client.post(path(info.inner_url) + "/draw", data={"ticket": ticket})
    text = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "活动仅限广东省参与" in text and "按网络判断：成都市" in text
    assert "此码未被消耗" in text and ticket_of(text) == ticket

    won = client.post(path(info.inner_url) + "/draw", data={"ticket": ticket, **SHENZHEN})
    text = won.get_data(as_text=True)
    assert won.status_code == 200 and "恭喜您获得" in text and "¥1.88" in text
    assert any(c.startswith("yima_rc=") for c in won.headers.getlist("Set-Cookie"))

    # Another phone: the truth, never "no campaign"; and the ticket is not its own.
    other = phone(app, GUANGZHOU_IP)
    page = other.get(path(info.inner_url)).get_data(as_text=True)
    assert "此码已中奖，奖品已被抽取" in page and "此码暂无进行中的活动" not in page
    stolen = other.post(path(info.inner_url) + "/draw", data={"ticket": ticket, **SHENZHEN})
    assert stolen.status_code == 400 and "抽奖凭证已失效" in stolen.get_data(as_text=True)


def test_an_address_in_guangdong_draws_at_once(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    page = phone(app, GUANGZHOU_IP).get(path(info.inner_url)).get_data(as_text=True)
    assert "恭喜您获得" in page and 'id="locate-form"' not in page and "scan_location.js" not in page


def test_a_page_without_a_region_limited_campaign_has_no_location_step(tmp_path: Path, redis_client: Any) -> None:
    app, info = seeded_app(tmp_path)
    page = phone(app, CHENGDU_IP).get(path(info.inner_url)).get_data(as_text=True)
    assert "首次扫码" in page and "此码暂无进行中的活动" in page and "locate" not in page


def test_the_draw_post_needs_no_csrf_token_but_refuses_junk(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = phone(app, CHENGDU_IP)
    assert client.post(path(info.inner_url) + "/draw", data={"ticket": "x.y"}).status_code == 400
    assert client.post(path(info.inner_url) + "/draw", data={}).status_code == 400
    assert client.post("/q/" + "A" * 28 + "/draw", data={"ticket": "x.y"}).status_code in (400, 404)
    page = client.get(path(info.inner_url)).get_data(as_text=True)
    bad = client.post(path(info.inner_url) + "/draw", data={"ticket": ticket_of(page), "lat": "nan", "lng": "1e999"})
    assert bad.status_code == 200 and "活动仅限广东省参与" in bad.get_data(as_text=True)


def test_inside_wechat_the_page_carries_a_signed_wx_config(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    fetched: list[int] = []

    def fetch() -> tuple[str, int]:
        fetched.append(1)
        return "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg", 7200

    app.extensions["yima.jssdk"] = JsapiTickets(app.extensions["yima.redis"], "wx0123456789abcdef", fetch)
    client = phone(app, CHENGDU_IP, user_agent=WECHAT_UA)
    page = client.get(path(info.inner_url)).get_data(as_text=True)
    found = re.search(r'data-wx="([^"]+)"', page)
    assert found
    config = json.loads(found.group(1).replace("&#34;", '"').replace("&quot;", '"'))
    url = "http://localhost" + path(info.inner_url)
    assert config["appId"] == "wx0123456789abcdef" and config["jsApiList"] == ["getLocation"]
    assert config["signature"] == jsapi_signature(
        "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
        config["nonceStr"], config["timestamp"], url)
    phone(app, CHENGDU_IP, user_agent=WECHAT_UA).get(path(info.inner_url))
    assert fetched == [1]  # the ticket is cached in Redis, a little shorter than WeChat keeps it
    assert 7200 - 300 - 5 <= app.extensions["yima.redis"].ttl(ticket_key("wx0123456789abcdef")) <= 7200 - 300
    plain = phone(app, CHENGDU_IP).get(path(info.inner_url)).get_data(as_text=True)
    assert "data-wx" not in plain


def test_switching_language_keeps_the_location_step_and_never_rescans(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = phone(app, CHENGDU_IP)
    page = client.get(path(info.inner_url)).get_data(as_text=True)
    switch = re.search(r'id="lang-switch" href="([^"]+)"|href="([^"]+)" id="lang-switch"', page)
    assert switch
    href = (switch.group(1) or switch.group(2)).replace("&amp;", "&")
    english = client.get(path(info.inner_url) + href).get_data(as_text=True)
    assert "open in 广东省 only" in english and ticket_of(english) == ticket_of(page)
    assert "First scan" in english  # the same scan shown again, not a second one

    refused = client.post(path(info.inner_url) + "/draw", data={"ticket": ticket_of(page)}).get_data(as_text=True)
    # The switch on the answer to the post leads back to the code's page (the post's own URL takes no GET).
    assert re.search(r'href="/[qQ]/[0-9A-Z]+\?lang=(zh|en)" id="lang-switch"', refused), refused


def test_the_api_places_a_scan_by_its_address_unless_the_app_sends_a_location(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    client = phone(app, GUANGZHOU_IP)
    code = info.inner_url.rsplit("/", 1)[1]
    by_ip = client.post("/api/v1/scans", json={"code": code, "device_id": "app-1"}).get_json()
    assert by_ip["region_source"] == "ip" and by_ip["region"]["city"] == "广州市"
    assert [r["outcome"] for r in by_ip["reward"]] == ["won"]  # the campaign takes IP regions by default
    by_app = client.post("/api/v1/scans", json={"code": code, "device_id": "app-1", "adcode": "510104"}).get_json()
    assert by_app["region_source"] == "gps" and by_app["region"]["province"] == "四川省"
    nowhere = phone(app, "10.1.2.3").post("/api/v1/scans", json={"code": code}).get_json()
    assert nowhere["region_source"] == "none" and nowhere["region"] is None


def test_without_the_mp_api_the_page_goes_without_wx_config_and_stops_asking(demo) -> None:  # type: ignore[no-untyped-def]
    app, info = demo
    calls: list[int] = []

    def down() -> tuple[str, int]:
        calls.append(1)
        raise OSError("MP API unreachable")

    app.extensions["yima.jssdk"] = JsapiTickets(app.extensions["yima.redis"], "wx0123456789abcdef", down)
    client = phone(app, CHENGDU_IP, user_agent=WECHAT_UA)
    for _ in range(3):  # the first scan, then rescans from the same phone: each holds the draw again
        page = client.get(path(info.inner_url)).get_data(as_text=True)
        assert 'id="locate-form"' in page and "data-wx" not in page
    assert calls == [1]  # one failed fetch, then a pause


def test_the_jssdk_is_set_up_only_with_the_accounts_appid_and_secret(tmp_path: Path, redis_client: Any) -> None:
    from app.config import PayoutConfig

    bare, _ = seeded_app(tmp_path / "a")
    assert "yima.jssdk" not in bare.extensions
    configured, _ = seeded_app(tmp_path / "b", payouts=PayoutConfig(appid="wx0123456789abcdef", app_secret="s" * 32))
    assert configured.extensions["yima.jssdk"].appid == "wx0123456789abcdef"


def test_a_draw_held_for_location_pays_after_the_risk_policys_delay(demo) -> None:  # type: ignore[no-untyped-def]
    """The located draw is the scan's own draw: under the risk layer its cash waits the brand's payout delay
    like any other (the demo brand's own policy pays at once, so the defaults are published here)."""
    from sqlalchemy import select

    from risk import keys as risk_keys
    from risk.policy import RiskPolicy
    from rules.awards import AwardSink
    from rules.drain import Drainer
    from rules.models import Award

    app, info = demo
    redis = app.extensions["yima.redis"]
    brand_id = int(redis.hget(f"{{b:{info.batch_id}}}:meta", "brand_id"))
    redis.hset(risk_keys.POLICIES_KEY, str(brand_id), "{}")
    client = phone(app, CHENGDU_IP)
    ticket = ticket_of(client.get(path(info.inner_url)).get_data(as_text=True))
    won = client.post(path(info.inner_url) + "/draw", data={"ticket": ticket, **SHENZHEN})
    assert "恭喜您获得" in won.get_data(as_text=True)
    drainer = Drainer(redis, app.extensions["yima.db"].sessions, "t", sink=AwardSink())
    while drainer.drain_once(block_ms=0).read:
        pass
    with app.extensions["yima.db"].sessions() as s:
        award = s.scalars(select(Award)).one()
    assert award.pay_after is not None
    assert (award.pay_after - award.awarded_at).total_seconds() == RiskPolicy().payout_delay_s
