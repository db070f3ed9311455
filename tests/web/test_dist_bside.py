"""The B-side scan pages (/dist/scan/case, /dist/scan/bottle) through Flask on real Redis and SQL: the answer
card for each outcome, the waiter's month with the ladder, and who may open what (a seat of another brand
reads another brand's code as not genuine; a seat without the right is refused)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from channel.bside_ledger import credit_bside_awards
from channel.ladder import set_waiter_ladder
from channel.models import Store
from channel.scope import brand_scope
from codegen.db import transaction
from rules.awards import AwardSink
from rules.drain import Drainer
from tests.support.bside_world import b_campaign, publish, seat_of, sessions, ship_cases
from tests.support.channel_world import ChannelWorld, case_code, channel_world, sign
from tests.web.conftest import make_app
from tests.web.console_support import add_user, login, post_form


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> ChannelWorld:
    w = channel_world(make_app(tmp_path))
    publish(w.app, b_campaign("store_open_case"), b_campaign("waiter_open_bottle", caps={"per_member_daily": 1}))
    ship_cases(w.app, "a", w.batch["a"], 0, 4, to_store=w.store["a"], from_distributor=w.sub_distributor["a"])
    return w


def signed_in(world: ChannelWorld, email: str) -> FlaskClient:
    client = world.app.test_client()
    login(client, email)
    return client


def scan(client: FlaskClient, path: str, code: str) -> tuple[int, str]:
    resp = post_form(client, path, {"code": code}, token_from=path)
    return resp.status_code, resp.get_data(as_text=True)


def test_a_clerk_opens_a_case_once_and_registers_the_store(world: ChannelWorld) -> None:
    with transaction(sessions(world.app)) as s:
        s.get(Store, world.store["a"]).registered_at = None  # type: ignore[union-attr]
    clerk = signed_in(world, "clerk@a.test")
    home = clerk.get("/dist").get_data(as_text=True)
    assert "/dist/scan/case" in home and "/dist/scan/bottle" not in home
    page = clerk.get("/dist/scan/case").get_data(as_text=True)
    assert "data-scan-form" in page and 'name="csrf_token"' in page and "autofocus" in page
    code = case_code(world.app, world.batch["a"], 2)
    status, body = scan(clerk, "/dist/scan/case", code)
    assert status == 200 and "中奖了" in body and "现金 ¥5（记入门店结算）" in body and "门店登记完成" in body
    status, body = scan(clerk, "/dist/scan/case", f"https://a.example/q/{code.lower()}")  # a pasted URL
    assert status == 200 and "这箱已扫过" in body and "现金 ¥5" in body and "门店登记完成" not in body


@pytest.mark.parametrize("code, status, words", [
    (lambda w: case_code(w.app, w.batch["a"], 7), 409, "不是发给本店的货"),
    (lambda w: sign(w.app, w.batch["a"], 3), 400, "这不是箱码"),
    (lambda w: "NOT-A-CODE", 404, "不是本品牌的真码"),
    (lambda w: case_code(w.app, w.batch["b"], 0), 404, "不是本品牌的真码"),
    (lambda w: "   ", 400, "请扫码或输入码"),
])
def test_a_case_scan_that_draws_nothing_says_why(world: ChannelWorld, code: Any, status: int, words: str) -> None:
    got, body = scan(signed_in(world, "clerk@a.test"), "/dist/scan/case", code(world))
    assert got == status and words in body and "本次未记录" in body


def test_a_waiter_sees_the_cap_and_the_month_with_the_ladder(world: ChannelWorld) -> None:
    operator = brand_scope(seat_of(world.app, "waiter@a.test").brand_id, "op@a.test", role="operator")
    with transaction(sessions(world.app)) as s:
        set_waiter_ladder(s, operator, [[50, 5000], [100, 15000], [200, 40000]])
    waiter = signed_in(world, "waiter@a.test")
    page = waiter.get("/dist/scan/bottle").get_data(as_text=True)
    assert "再开 50 瓶，达到 50 瓶档：奖励 ¥50" in page and 'id="bottles">0<' in page
    status, body = scan(waiter, "/dist/scan/bottle", sign(world.app, world.batch["a"], 30))
    assert status == 200 and "中奖了" in body and 'id="bottles">1<' in body
    status, body = scan(waiter, "/dist/scan/bottle", sign(world.app, world.batch["a"], 31))
    assert status == 200 and "今日奖励已达上限" in body and 'id="bottles">2<' in body
    Drainer(world.app.extensions["yima.redis"], sessions(world.app), "t", sink=AwardSink()).drain_once(block_ms=0)
    with transaction(sessions(world.app)) as s:
        credit_bside_awards(s)
    page = waiter.get("/dist/scan/bottle?lang=en").get_data(as_text=True)
    assert 'id="cash">¥5<' in page and "48 more to reach 50 bottles: ¥50 bonus" in page
    status, body = scan(waiter, "/dist/scan/bottle", case_code(world.app, world.batch["a"], 0))
    assert status == 400 and "under the cap" in body


def test_who_may_open_what(world: ChannelWorld) -> None:
    add_user(world.app, "op@a.test", "operator", "a")
    assert signed_in(world, "clerk@a.test").get("/dist/scan/bottle").status_code == 403
    assert signed_in(world, "op@a.test").get("/dist/scan/case").status_code == 403
    assert signed_in(world, "distributor@a.test").get("/dist/scan/case").status_code == 403
    anonymous = world.app.test_client().get("/dist/scan/case")
    assert anonymous.status_code in (302, 401)
    # Brand b's waiter: brand a's cap reads as not genuine (another brand's code tells nothing)
    status, body = scan(signed_in(world, "waiter@b.test"), "/dist/scan/bottle", sign(world.app, world.batch["a"], 40))
    assert status == 404 and "不是本品牌的真码" in body
