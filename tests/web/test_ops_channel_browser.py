"""The console's channel pages in a real browser, at 1280 px and on a 390 px phone: the demo channel
`yima run` seeds, the distributor tree with its territories by name, a distributor's page, a new store
refused at its field (outside its supplier's territory) then created, the store list, the staff page
with a seat added and its one-time password, the policy.

The app runs in-process on a real HTTP server (a port from this helper's range), on SQLite and the test
Redis. Screenshots: test-artifacts/browser/ops-channel-*.png, for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.channel_seed import seed_demo_channel
from channel import directory
from channel.scope import brand_scope
from codegen.db import transaction
from tests.web.browser_support import (
    ARTIFACTS,
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    no_sideways_scroll,
    serve_app,
    sign_in,
    watch_problems,
)
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user, ensure_brand

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow


@pytest.fixture
def site(tmp_path: Path, redis_client: Any) -> Iterator[str]:
    app, _ = seeded_app(tmp_path)
    seed_demo_channel(app.config["YIMA"], app.extensions["yima.db"])
    add_user(app, "boss@demo.example", "operator")
    scope = brand_scope(ensure_brand(app, "demo"), "test", role="admin")
    with transaction(app.extensions["yima.db"].sessions) as s:  # a channel with a little more in it
        by_code = {d.code: d.id for d in directory.list_distributors(s, scope)}
        sz = directory.create_distributor(s, scope, code="SZ-001", name="深圳经销商", territory=["4403"],
                                          parent_id=by_code["GD-001"], contact="陈经理 13800138000")
        directory.create_distributor(s, scope, code="GZ-002", name="广州天河二级分销", territory=["440106", "440104"],
                                     parent_id=by_code["GZ-001"])
        directory.create_store(s, scope, name="南山便利店", adcode="440305", distributor_id=sz.id)
        directory.create_store(s, scope, name="乌鲁木齐天山超市", adcode="650102", distributor_id=by_code["XJ-001"],
                               registered=True)
    with serve_app(app) as url:  # a port the OS picks: never one another run holds
        yield url


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shoot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"ops-channel-{name}.png"), full_page=True)






@pytest.mark.parametrize("size", ["1280", "390"])
def test_the_channel_in_the_console(site: str, browser: Any, size: str) -> None:
    width = int(size)
    context = browser.new_context(**PHONE) if size == "390" else \
        browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = context.new_page()
    problems = watch_problems(page)
    sign_in(page, site, "boss@demo.example", PASSWORD)

    if size == "390":
        page.click("label.nav-button")
    page.click("nav.nav >> text=渠道")
    page.wait_for_url(f"{site}/ops/channel/distributors?brand=demo")
    rows = page.locator("table.channel-list tbody tr")
    assert rows.count() == 5
    assert [t.strip() for t in page.locator("table.channel-list td.name code").all_inner_texts()] == [
        "GD-001", "GZ-001", "GZ-002", "SZ-001", "XJ-001"]
    assert "广东省 广州市" in rows.nth(1).inner_text() and "三级" in rows.nth(2).inner_text()
    no_sideways_scroll(page, width)
    shoot(page, f"distributors-{size}")

    page.click("table.channel-list >> text=广州经销商")
    page.wait_for_url("**/ops/channel/distributors/*")
    facts = page.inner_text("dl.facts")
    assert "二级" in facts and "GD-001 华南总经销" in facts and "广东省 广州市" in facts
    assert "天河便利店" in page.inner_text("#stores") and "广州天河二级分销" in page.inner_text("main")
    no_sideways_scroll(page, width)
    shoot(page, f"distributor-{size}")

    page.click("text=+ 新建门店")
    page.wait_for_url("**/ops/channel/stores/new?**")
    page.fill("input[name=name]", "越秀路口店")
    page.fill("input[name=adcode]", "440305")  # 南山, Shenzhen: outside GZ-001's 广州
    page.fill("input[name=address]", "中山五路 1 号")
    page.click("button[type=submit].primary")
    error = page.inner_text("label.invalid .field-error")
    assert error == "广东省 深圳市 南山区 不在经销商 GZ-001 广州经销商 的区域内", error
    assert page.input_value("input[name=name]") == "越秀路口店"  # what was typed stays
    no_sideways_scroll(page, width)
    shoot(page, f"store-refused-{size}")
    page.fill("input[name=adcode]", "440104")
    page.fill("input[name=lat]", "23.1291")
    page.fill("input[name=lng]", "113.2644")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/ops/channel/stores/*")
    facts = page.inner_text("dl.facts")
    assert "广东省 广州市 越秀区" in facts and "GZ-001 广州经销商" in facts and "23.12910" in facts
    no_sideways_scroll(page, width)
    shoot(page, f"store-{size}")

    page.click("nav.channel-tabs >> text=门店")
    page.wait_for_url("**/ops/channel/stores?brand=demo")
    assert page.locator("table.channel-list tbody tr").count() == 4
    no_sideways_scroll(page, width)
    shoot(page, f"stores-{size}")

    page.click("nav.channel-tabs >> text=渠道人员")
    page.fill("#add-staff input[name=email]", f"li.{size}@demo.yima")
    page.fill("#add-staff input[name=name]", "李导购")
    page.select_option("#seat-kind", "waiter")
    assert "irrelevant" in (page.locator("label[data-seat=distributor]").get_attribute("class") or "")
    page.select_option("#add-staff select[name=store_id]", label="越秀路口店 · 广东省 广州市 越秀区")
    page.click("#add-staff button[type=submit]")
    assert "已添加 " in page.inner_text("section.secret")
    assert len(page.input_value("#new-seat-password")) >= 16
    assert f"li.{size}@demo.yima" in page.inner_text("table.channel-list")
    no_sideways_scroll(page, width)
    shoot(page, f"staff-{size}")

    page.click("nav.channel-tabs >> text=核销政策")
    assert "¥5.00" in page.inner_text(".figures") and "¥0.50" in page.inner_text(".figures")
    no_sideways_scroll(page, width)
    shoot(page, f"policy-{size}")
    assert problems == []
    context.close()
