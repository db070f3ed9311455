"""In a real browser at phone size (390 px): a distributor opens its 窜货 report from the /dist desk; an
inspector, whose phone shares its position (Urumqi), scans a code the way a scanner gun types it and reads
the verdict card; the brand's overview at 1280 px. Screenshots in test-artifacts/browser/diversion-*.png.

The app runs in this process behind werkzeug's server (YIMA_BROWSER_PORT picks its port; default: any free
one), on a temp SQLite file and the test Redis; Chromium is Debian's. Skipped when either is missing.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.support.channel_world import sign
from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve_app, sign_in
from tests.web.console_support import PASSWORD, add_user
from tests.web.diversion_support import PACK, DiversionWorld, diversion_world

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
URUMQI = {"latitude": 43.80, "longitude": 87.60}
DESK: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture
def site(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[str, DiversionWorld]]:
    dw = diversion_world(tmp_path)
    add_user(dw.app, "boss@a.test", "analyst", "a")
    dw.app.config["TESTING"] = False  # as served: CSRF and all
    with serve_app(dw.app, int(os.environ.get("YIMA_BROWSER_PORT", "0"))) as url:
        yield url, dw


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"diversion-{name}.png"), full_page=True)


def no_overflow(page: Any) -> None:
    """Nothing wider than the phone: no sideways scrolling of the whole page."""
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"), page.url


def test_the_report_and_the_inspectors_check_on_a_phone(site: tuple[str, DiversionWorld]) -> None:
    url, dw = site
    w = dw.world
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            phone = browser.new_context(**PHONE)
            page = phone.new_page()
            sign_in(page, url, w.users[("a", "distributor")], PASSWORD)
            page.goto(f"{url}/dist")
            page.click("text=窜货报告")
            page.wait_for_selector("#summary")
            assert page.inner_text("#diverted") == "1"
            assert "新疆维吾尔自治区 乌鲁木齐市" in page.inner_text("#regions")
            assert sign(dw.app, w.batch["a"], 10) in page.inner_text("#samples")
            assert "市级经销商 a" in page.inner_text("#children")
            no_overflow(page)
            shot(page, "report-390")
            page.click("text=按周")
            page.wait_for_selector("a.on[aria-current=page]:has-text('按周')")
            phone.close()

            inspector = browser.new_context(**PHONE, geolocation=URUMQI, permissions=["geolocation"])
            page = inspector.new_page()
            sign_in(page, url, w.users[("a", "inspector")], PASSWORD)
            page.goto(f"{url}/dist/diversion/inspect")
            page.wait_for_function("document.getElementById('lat').value !== ''")  # the phone's position
            no_overflow(page)
            shot(page, "inspect-390")
            # A scanner gun types the code and presses Enter.
            page.fill("#code", sign(dw.app, w.batch["a"], 3 * PACK + 9))
            with page.expect_navigation():
                page.press("#code", "Enter")
            card = page.inner_text("#result")
            assert page.get_attribute("#result", "data-verdict") == "diverted", card
            assert "窜货" in card and "市级经销商 a" in card and "新疆维吾尔自治区 乌鲁木齐市" in card
            no_overflow(page)
            shot(page, "inspect-diverted-390")
            page.fill("#code", sign(dw.app, w.batch["a"], 9 * PACK))  # a case never shipped
            with page.expect_navigation():
                page.press("#code", "Enter")
            assert page.get_attribute("#result", "data-verdict") == "no_record"
            shot(page, "inspect-no-record-390")
            page.goto(f"{url}/dist/diversion")
            assert "省级经销商 a" in page.inner_text("#alerts")
            no_overflow(page)
            shot(page, "overview-390")
            inspector.close()

            desk = browser.new_context(**DESK)
            page = desk.new_page()
            sign_in(page, url, w.users[("a", "inspector")], PASSWORD)
            page.goto(f"{url}/dist/diversion")
            shot(page, "overview-1280")
            desk.close()

            boss = browser.new_context(**DESK)  # the brand's dashboard: the 窜货预警 panel links to the report
            page = boss.new_page()
            sign_in(page, url, "boss@a.test", PASSWORD)
            page.goto(f"{url}/ops/dashboard/?brand=a")
            panel = page.locator("#diversion-alerts")
            assert "省级经销商 a" in panel.inner_text()
            panel.screenshot(path=str(ARTIFACTS / "diversion-dashboard-panel-1280.png"))
            with page.expect_navigation():
                panel.locator("a", has_text="省级经销商 a").click()
            assert page.inner_text("#diverted") == "1"
            boss.close()
        finally:
            browser.close()
