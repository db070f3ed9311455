"""出库 then 入库 on a 390 px phone in Chromium: the warehouse clerk opens a shipment to the Guangdong distributor,
scans three case codes with the keyboard as a scanner gun does (each typed then Enter, without waiting for the
answer), ships; the distributor signs in and confirms receipt. One more look at 1280 px.

The app runs in process on a real HTTP server (a port of this helper's range), on SQLite and the test Redis,
with the channel world of tests/support/channel_world.py. Screenshots: test-artifacts/browser/dist-ship-*.png.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.channel_world import ChannelWorld, case_code, channel_world
from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve_app, sign_in
from tests.web.conftest import make_app
from tests.web.console_support import PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow


@contextlib.contextmanager
def serve(app: Any) -> Iterator[str]:
    """The app on a loopback port the OS picks (werkzeug exits, not raises, on a taken port)."""
    with serve_app(app) as site:
        yield site


@pytest.fixture
def site(tmp_path: Path, redis_client: Any) -> Iterator[tuple[str, ChannelWorld]]:
    world = channel_world(make_app(tmp_path))
    with serve(world.app) as url:
        yield url, world


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
    page.screenshot(path=str(ARTIFACTS / f"dist-ship-{name}.png"), full_page=True)


def watch(page: Any) -> list[str]:
    """Script errors, CSP violations and failed requests the page meets (the browser's own favicon.ico aside;
    a failed load shows once, as its response)."""
    problems: list[str] = []
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda resp: problems.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and not resp.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    return problems


def no_sideways_scroll(page: Any, width: int) -> None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"


def test_a_warehouse_clerk_ships_three_cases_and_the_distributor_receives(
        site: tuple[str, ChannelWorld], browser: Any) -> None:
    url, world = site
    codes = [case_code(world.app, world.batch["a"], n) for n in (3, 4, 5)]

    clerk = browser.new_context(**PHONE)
    page = clerk.new_page()
    problems = watch(page)
    sign_in(page, url, "warehouse@a.test", PASSWORD)
    page.goto(f"{url}/dist")
    shoot(page, "1-desk")
    page.click("text=扫码出库")
    page.select_option("#to", label="省级经销商 a（A-P1）")
    page.fill("#reference", "SO-20261204")
    shoot(page, "2-new")
    with page.expect_navigation():
        page.click("text=开始扫码")
    scan_box = page.locator("#scan-code")
    assert scan_box.evaluate("el => el === document.activeElement"), "the scan box has the focus"
    for code in codes:  # a scanner gun: the code's keystrokes, then Enter, back to back
        page.keyboard.type(code)
        page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#tally-cases')?.textContent.trim() === '3'")
    assert scan_box.input_value() == ""
    assert scan_box.evaluate("el => el === document.activeElement")
    assert "240" not in page.inner_text("#scan-result") and "72" in page.inner_text("#tally-items")
    assert "3–5" in page.inner_text("#scan-result")  # one run of three cases
    no_sideways_scroll(page, 390)
    shoot(page, "3-scanned")
    page.keyboard.type(codes[1])  # the same case again: said, not counted
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-last.warn")
    assert page.inner_text("#tally-cases").strip() == "3"
    page.keyboard.type("https://q.demo.example/q/NOT-A-CODE")  # a stray label: refused, said inline
    page.keyboard.press("Enter")
    page.wait_for_selector("#scan-problem")
    assert "无法识别" in page.inner_text("#scan-problem") and page.inner_text("#tally-cases").strip() == "3"
    shoot(page, "3b-refused")
    with page.expect_navigation():
        page.click("text=确认出库")
    assert "已出库：3 箱，72 件" in page.inner_text("main")
    no_sideways_scroll(page, 390)
    shoot(page, "4-shipped")
    assert problems == []

    dist = browser.new_context(**PHONE)
    page = dist.new_page()
    problems = watch(page)
    sign_in(page, url, "distributor@a.test", PASSWORD)
    page.goto(f"{url}/dist")
    page.click("text=确认入库")
    shoot(page, "5-inbox")
    with page.expect_navigation():
        page.click("#inbox a")
    assert "品牌仓库" in page.inner_text("main") and "SO-20261204" in page.inner_text("main")
    shoot(page, "6-to-receive")
    with page.expect_navigation():
        page.click("#receive-form button")
    main = page.inner_text("main")
    assert "已确认入库：3 箱，72 件" in main and "已入库" in main
    no_sideways_scroll(page, 390)
    shoot(page, "7-received")
    assert problems == []

    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN", timezone_id="Asia/Shanghai")
    page = desk.new_page()
    sign_in(page, url, "warehouse@a.test", PASSWORD)
    page.goto(f"{url}/dist/shipments")
    assert "已入库" in page.inner_text("main")
    no_sideways_scroll(page, 1280)
    shoot(page, "8-list-1280")
