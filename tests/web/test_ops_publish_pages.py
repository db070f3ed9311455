"""The publish page: the pending diff, publish with a note, versions, rollback behind a confirmation step;
analysts read only (a forced POST is 403), another brand is 404, every form needs its CSRF token."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from accounts.audit import AuditFilter, list_changes
from codegen.db import transaction
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import current_version
from rules.region import default_index
from rules.snapshot import snapshot_key
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand, login, post_form

PAGE = "/ops/publish?brand=demo"


@pytest.fixture
def console(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Flask]:
    app, _info = seeded_app(tmp_path)
    add_user(app, "op@demo.example", "operator")
    add_user(app, "an@demo.example", "analyst")
    add_user(app, "op@other.example", "operator", "other")
    yield app


def campaign(app: Flask, brand: str, name: str, *, active: bool = True, **over: Any) -> int:
    doc = {"name": name, "brand": brand,
           "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-01-01T00:00:00+08:00"},
           "budget": {"total_fen": 10_000},
           "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 200, "weight": 0.5}], **over}
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = save_campaign(s, doc, default_index())
        if active:
            set_status(s, row.id, Campaign.ACTIVE, default_index())
        return row.id


def edit(app: Flask, campaign_id: int, brand: str, name: str, **over: Any) -> None:
    doc = {"name": name, "brand": brand,
           "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-01-01T00:00:00+08:00"},
           "budget": {"total_fen": 10_000},
           "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 200, "weight": 0.5}], **over}
    with transaction(app.extensions["yima.db"].sessions) as s:
        save_campaign(s, doc, default_index(), campaign_id, edit_version=s.get(Campaign, campaign_id).edit_version)


def live_ids(app: Flask) -> set[int]:
    r = app.extensions["yima.redis"]
    raw = r.get(snapshot_key(current_version(r)))
    return {c["id"] for c in json.loads(raw)["campaigns"]} if raw else set()


def text(res: Any) -> str:
    return str(res.get_data(as_text=True))


def test_an_operator_reads_the_diff_publishes_and_rolls_back(console: Flask) -> None:
    client = console.test_client()
    login(client, "op@demo.example")
    spring = campaign(console, "demo", "春季活动")
    other = campaign(console, "other", "别家的活动")  # another brand's: never on this page, never published here

    page = text(client.get(PAGE))
    assert "春季活动" in page and "别家的活动" not in page and "新增" in page and "尚未发布过" in page
    res = post_form(client, "/ops/publish", {"brand": "demo", "note": "春季上线"}, token_from=PAGE)
    assert res.status_code == 303
    after = text(client.get(res.headers["Location"]))
    assert "已发布版本 1" in after and "春季上线" in after and "与线上版本一致" in after
    assert live_ids(console) == {spring}

    edit(console, spring, "demo", "春季活动", budget={"total_fen": 20_000},
         prizes=[{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 200, "weight": 0.25}])
    page = text(client.get(PAGE))
    assert "预算 › 总额（分）" in page and "10000" in page and "20000" in page
    assert "奖品 #1 › 概率" in page and "0.5" in page and "0.25" in page
    assert "prizes.0.weight" in page  # the exact path too
    post_form(client, "/ops/publish", {"brand": "demo", "note": "加预算"}, token_from=PAGE)

    # Roll back to v1: a confirmation page first (works without JS), then the POST.
    confirm = client.get("/ops/publish/rollback/1?brand=demo")
    assert confirm.status_code == 200
    body = text(confirm)
    assert "确认回滚" in body and "20000" in body and "10000" in body
    res = post_form(client, "/ops/publish/rollback/1", {"brand": "demo", "note": "预算有误"},
                    token_from="/ops/publish/rollback/1?brand=demo")
    assert res.status_code == 303
    page = text(client.get(PAGE))
    assert "已回滚到版本 1（新版本 3）" in page and "rollback to 1: 预算有误" in page
    assert live_ids(console) == {spring} and other not in live_ids(console)
    with console.extensions["yima.db"].sessions() as s:
        actions = [(e.action, e.actor) for e in list_changes(s, AuditFilter(action="rules."))]
    assert [a for a, _ in actions] == ["rules.rollback", "rules.publish", "rules.publish"]
    assert all("op@demo.example" in who for _, who in actions)


def test_an_analyst_sees_the_diff_but_cannot_publish(console: Flask) -> None:
    client = console.test_client()
    campaign(console, "demo", "春季活动")
    login(client, "an@demo.example")
    page = text(client.get(PAGE))
    assert "春季活动" in page and "只能查看" in page
    assert 'action="/ops/publish"' not in page and "回滚到此版本" not in page
    assert post_form(client, "/ops/publish", {"brand": "demo"}, token_from=PAGE).status_code == 403
    assert client.get("/ops/publish/rollback/1?brand=demo").status_code == 403
    assert post_form(client, "/ops/publish/rollback/1", {"brand": "demo"}, token_from=PAGE).status_code == 403
    assert current_version(console.extensions["yima.redis"]) == 0


def test_another_brand_is_404_and_forms_need_csrf(console: Flask) -> None:
    client = console.test_client()
    login(client, "op@other.example")
    assert client.get(PAGE).status_code == 404
    assert client.get("/ops/publish?brand=nope").status_code == 404
    assert post_form(client, "/ops/publish", {"brand": "demo"}).status_code == 404
    assert client.get("/ops/publish").headers["Location"].endswith("/ops/publish?brand=other")  # the only brand
    assert client.post("/ops/publish", data={"brand": "other"}).status_code == 400  # no CSRF token
    assert current_version(console.extensions["yima.redis"]) == 0
    demo_client = console.test_client()
    login(demo_client, "op@demo.example")
    post_form(demo_client, "/ops/publish", {"brand": "demo"}, token_from=PAGE)
    # demo's version reads as missing for another brand, exactly like a version that does not exist
    assert client.get("/ops/publish/rollback/1?brand=other").status_code == 404
    assert client.get("/ops/publish/rollback/99?brand=other").status_code == 404
    res = post_form(client, "/ops/publish/rollback/1", {"brand": "other"}, token_from="/ops/publish?brand=other")
    assert res.status_code == 404 and current_version(console.extensions["yima.redis"]) == 1


def test_bad_input_is_shown_on_the_page_not_a_500(console: Flask) -> None:
    client = console.test_client()
    login(client, "op@demo.example")
    broken = campaign(console, "demo", "坏活动")
    with transaction(console.extensions["yima.db"].sessions) as s:
        row = s.get(Campaign, broken)
        assert row is not None
        row.definition = {**row.definition, "budget": {"total_fen": -5}}
    res = post_form(client, "/ops/publish", {"brand": "demo", "note": "试试"}, token_from=PAGE)
    assert res.status_code == 400
    assert "无法发布" in text(res) and f"campaign {broken}" in text(res) and 'value="试试"' in text(res)
    res = post_form(client, "/ops/publish", {"brand": "demo", "note": "x" * 201}, token_from=PAGE)
    assert res.status_code == 400 and "最多 200 个字符" in text(res)
    assert current_version(console.extensions["yima.redis"]) == 0


def test_a_user_of_several_brands_chooses_one(console: Flask) -> None:
    add_user(console, "op@demo.example", "operator", "other")
    client = console.test_client()
    login(client, "op@demo.example")
    page = text(client.get("/ops/publish"))
    assert "选择品牌" in page and "/ops/publish?brand=demo" in page and "/ops/publish?brand=other" in page
    assert ensure_brand(console, "other")


def test_the_pages_read_in_english_too(console: Flask) -> None:
    client = console.test_client()
    login(client, "op@demo.example")
    spring = campaign(console, "demo", "Spring")
    post_form(client, "/ops/publish", {"brand": "demo"}, token_from=PAGE)
    edit(console, spring, "demo", "Spring", budget={"total_fen": 20_000})
    page = text(client.get(PAGE + "&lang=en"))
    assert "Pending changes" in page and "Budget › Total (fen)" in page and "¥200.00 (20000 fen)" in page
    assert "Versions" in page and "live" in page
    confirm = text(client.get("/ops/publish/rollback/1?brand=demo&lang=en"))
    assert "Confirm rollback" in confirm
