"""A waiter's 开瓶 page in Debian Chromium at phone size (390 × 844): from the desk's tile, a scanner gun's code
and Enter, the answer card (won, scanned before, the wrong code), the month with the ladder, nothing wider
than the phone. Screenshots: test-artifacts/browser/bside-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from channel.bside import open_bottle
from channel.bside_ledger import credit_bside_awards
from channel.ladder import set_waiter_ladder
from channel.scope import brand_scope
from codegen.db import transaction
from rules.awards import AwardSink
from rules.drain import Drainer
from tests.support.bside_world import b_campaign, bside_rules, publish, seat_of, sessions, ship_cases
from tests.support.channel_world import case_code, channel_world, sign
from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve_app, sign_in
from tests.web.conftest import make_app
from tests.web.console_support import PASSWORD, add_user

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

@contextmanager
def served(app: Any) -> Iterator[str]:
    """The app on a loopback port the OS picks (werkzeug exits, not raises, on a taken port)."""
    with serve_app(app) as site:
        yield site


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"bside-{name}.png"), full_page=True)


def no_wider_than_the_phone(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page is {width} px wide"


def test_a_waiter_opens_bottles_on_a_phone(tmp_path: Path, redis_client: Any) -> None:
    app = make_app(tmp_path)
    world = channel_world(app, brands=("a",))
    publish(app, b_campaign("store_open_case"),
            b_campaign("waiter_open_bottle", prizes=[{"kind": "cash", "name": "开瓶奖励", "min_fen": 200,
                                                      "max_fen": 200, "weight": 1.0}]))
    ship_cases(app, "a", world.batch["a"], 0, 4, to_store=world.store["a"], from_distributor=world.sub_distributor["a"])
    waiter = seat_of(app, "waiter@a.test")
    with transaction(sessions(app)) as s:
        set_waiter_ladder(s, brand_scope(waiter.brand_id, "op@a.test", role="operator"),
                          [[50, 5000], [100, 15000], [200, 40000]])
        for serial in range(100, 137):  # earlier this month: 37 bottles
            open_bottle(s, waiter, sign(app, world.batch["a"], serial), bside_rules(app))
    Drainer(app.extensions["yima.redis"], sessions(app), "t", sink=AwardSink()).drain_once(block_ms=0)
    with transaction(sessions(app)) as s:
        credit_bside_awards(s)

    with served(app) as site, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(**PHONE).new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, site, "waiter@a.test", PASSWORD)
            page.goto(f"{site}/dist")
            shot(page, "1-desk")
            with page.expect_navigation():
                page.click("text=开瓶扫码")
            assert page.url.endswith("/dist/scan/bottle")
            assert page.evaluate("document.activeElement.id") == "code"  # ready for the scanner gun
            month = page.inner_text("#month")
            assert "37" in month and "¥74" in month and "再开 13 瓶，达到 50 瓶档：奖励 ¥50" in month, month
            shot(page, "2-bottle-page")
            no_wider_than_the_phone(page)

            cap = sign(app, world.batch["a"], 7)
            page.keyboard.type(cap)  # a scanner gun types the code, then Enter
            with page.expect_navigation():
                page.keyboard.press("Enter")
            result = page.inner_text("#result")
            assert "中奖了" in result and "现金 ¥2（记入门店结算）" in result, result
            assert "38" in page.inner_text("#bottles")
            assert page.evaluate("document.activeElement.id") == "code"
            shot(page, "3-won")
            no_wider_than_the_phone(page)

            page.fill("#code", f"https://a.example/q/{cap}")  # the same cap again, pasted as its URL
            with page.expect_navigation():
                page.click("#scan-form button[type=submit]")
            assert "这个瓶盖已扫过" in page.inner_text("#result")
            shot(page, "4-scanned-before")

            page.fill("#code", case_code(app, world.batch["a"], 0))
            with page.expect_navigation():
                page.keyboard.press("Enter")
            assert "这不是瓶盖内码" in page.inner_text("#result")
            shot(page, "5-wrong-code")
            no_wider_than_the_phone(page)

            page.goto(f"{site}/dist/scan/bottle?lang=en")
            assert "12 more to reach 50 bottles" in page.inner_text("#month")
            shot(page, "6-english")

            desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
            desk.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(desk, site, "clerk@a.test", PASSWORD)
            desk.goto(f"{site}/dist/scan/case")
            desk.fill("#code", case_code(app, world.batch["a"], 1))
            with desk.expect_navigation():
                desk.keyboard.press("Enter")
            assert "中奖了" in desk.inner_text("#result") and "#month" not in desk.content()
            shot(desk, "7-case-at-1280")
            assert not errors, errors
        finally:
            browser.close()


def test_choosing_a_b_side_audience_ticks_its_code_roles(tmp_path: Path, redis_client: Any) -> None:
    app = make_app(tmp_path)
    channel_world(app, brands=("a",))
    add_user(app, "op@a.test", "operator", "a")
    with served(app) as site, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
            sign_in(page, site, "op@a.test", PASSWORD)
            page.goto(f"{site}/ops/campaigns/new?brand=a")

            def roles() -> list[str]:
                return page.eval_on_selector_all("input[name=roles]:checked", "boxes => boxes.map(b => b.value)")

            assert roles() == ["inner"]
            page.select_option("select[name=audience]", "store_open_case")
            assert roles() == ["case"]
            shot(page, "8-editor-open-case")
            page.select_option("select[name=audience]", "waiter_open_bottle")
            assert roles() == ["inner"]
            page.select_option("select[name=audience]", "store_open_case")
            page.select_option("select[name=audience]", "members")
            assert roles() == ["inner"]
        finally:
            browser.close()
