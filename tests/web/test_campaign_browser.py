"""An operator builds the docs/rules.md Guangdong campaign in the editor, in a real Chromium.

The app runs in a thread (werkzeug's server on a port of this suite's range) on SQLite and the test Redis
DB. The operator signs in, fills every section, makes a mistake (a prize quantity the budget cannot
cover), sees it at the budget field and in the live preview, fixes it, saves, simulates a scan in
Shenzhen (the region picked province → city → district), and activates the campaign. Screenshots at
1280 and 390 px are kept in test-artifacts/campaigns/ for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, REPO_ROOT, serve_app
from tests.web.browser_support import sign_in as signed_in
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "test-artifacts" / "campaigns"
CAMPAIGN_PAGE = re.compile(r"/ops/campaigns/\d+$")
# Dates around today (Beijing time), so the campaign is live whenever the tests run.
TODAY = datetime.now(timezone(timedelta(hours=8))).date()
NOON_TOMORROW = f"{TODAY + timedelta(days=1)}T12:00"  # what the simulations ask about: inside the daily hours


@pytest.fixture
def live(tmp_path: Path, redis_client) -> Iterator[tuple[str, Any]]:  # type: ignore[no-untyped-def]
    app, info = seeded_app(tmp_path)
    add_user(app, "op@demo.example", "operator")
    add_user(app, "wang@demo.example", "operator")
    add_user(app, "op@demo.example", "operator", brand="other")  # a second brand, with no catalogue
    with serve_app(app) as url:
        yield url, info


def shot(page: Any, name: str, part: str = "") -> None:
    """The whole page (scrolled to the top, so the sticky header and preview sit where a reader sees them
    first), or one part of it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    if part:
        page.locator(part).first.screenshot(path=str(ARTIFACTS / f"{name}.png"))
        return
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page: Any, site: str, email: str = "op@demo.example") -> None:
    signed_in(page, site, email, PASSWORD)


def fill_guangdong(page: Any, batch_id: int, *, total: str, daily: tuple[str, str] = ("08:00", "22:00")) -> None:
    """The Guangdong campaign through the form; `daily` hours ("", "": all day)."""
    if page.input_value("select[name=brand]") != "demo":
        page.select_option("select[name=brand]", "demo")
    sync_api.expect(page.locator(f"#pickers input[name=batches][value='{batch_id}']")).to_have_count(1)
    page.fill("input[name=name]", "广东首扫必中")
    page.fill("input[name=priority]", "10")
    page.check("input[name=exclusive]")
    page.fill("input[name=window_start]", f"{TODAY - timedelta(days=2)}T00:00")
    page.fill("input[name=window_end]", f"{TODAY + timedelta(days=60)}T00:00")
    page.fill("input[name=daily_from]", daily[0])
    page.fill("input[name=daily_to]", daily[1])
    page.check(f"input[name=batches][value='{batch_id}']")
    page.click("button[data-list=serial-rows]")
    page.fill("input[name=serial_first]", "0")
    page.fill("input[name=serial_last]", "9999")
    page.select_option("select[data-region-level='1']", label="广东省")
    page.click("button[data-region-add=include]")
    page.click("button[data-list=mult-rows]")
    page.fill("input[name=mult_tier]", "gold")
    page.fill("input[name=mult_value]", "2")
    page.select_option("select[name=ordinal]", "first_scan")
    page.check("input[name=first_scan_wins]")
    page.fill("input[name=budget_yuan]", "500")
    row = page.locator(".prize-row").first
    row.locator("select[name=prize_kind]").select_option("cash")
    row.locator("input[name=prize_name]").fill("红包")
    row.locator("input[name=prize_min]").fill("1")
    row.locator("input[name=prize_max]").fill("5")
    row.locator("input[name=prize_percent]").fill("60")
    row.locator("input[name=prize_total]").fill(total)
    page.select_option("select[name=consolation_kind]", "thanks")
    page.fill("input[name=consolation_name]", "谢谢参与")


def test_an_operator_builds_simulates_and_activates_the_guangdong_campaign(live) -> None:  # type: ignore[no-untyped-def]
    site, info = live
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                       timezone_id="Asia/Shanghai")
            page = desk.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, site)
            page.goto(f"{site}/ops/campaigns/")
            page.click("text=新建活动")
            page.wait_for_url("**/ops/campaigns/new**")
            fill_guangdong(page, info.batch_id, total="500")  # the mistake: 500 × 5 元 × 2 > 500 元
            chip = page.locator("#chips-include .chip")
            assert chip.count() == 1 and "广东省" in chip.inner_text()
            # The live preview sees it before saving.
            worst = page.locator("[data-figure=worst]")
            sync_api.expect(worst).to_have_text("5,000.00")
            assert "超出预算" in page.locator("#preview").inner_text()
            shot(page, "1280-editor-preview-warns")

            page.click("button[value=save]")
            page.wait_for_selector("#problems")
            budget_error = page.locator("label.invalid:has(input[name=budget_yuan]) .field-error")
            assert "最坏情况" in budget_error.inner_text()
            assert page.input_value("input[name=name]") == "广东首扫必中"  # nothing typed is lost
            assert page.locator("#chips-include .chip").count() == 1
            assert page.locator(".prize-row input[name=prize_total]").input_value() == "500"
            shot(page, "1280-editor-error-at-field")
            shot(page, "1280-editor-budget-error", "fieldset:has(input[name=budget_yuan])")

            page.locator(".prize-row input[name=prize_total]").fill("50")
            sync_api.expect(page.locator("[data-figure=worst]")).to_have_text("500.00")
            page.click("button[value=save]")
            page.wait_for_url("**/ops/campaigns/*")
            assert "广东首扫必中" in page.locator("h1").inner_text() and "草稿" in page.locator("h1").inner_text()
            shot(page, "1280-campaign-view")
            campaign_url = page.url

            page.click("text=模拟扫码")
            page.wait_for_url("**/simulate?campaign=*")
            page.select_option("select[data-region-level='1']", label="广东省")
            page.wait_for_selector("select[data-region-level='2']:not([disabled]) >> option:has-text('深圳市')",
                                   state="attached")
            page.select_option("select[data-region-level='2']", label="深圳市")
            page.wait_for_selector("select[data-region-level='3']:not([disabled]) >> option:has-text('南山区')",
                                   state="attached")
            page.select_option("select[data-region-level='3']", label="南山区")
            assert page.input_value("input[name=adcode]") == "440305"
            page.fill("input[name=at]", NOON_TOMORROW)
            page.click("button:has-text('模拟')")
            page.wait_for_selector("table.verdicts")
            verdict = page.locator("table.verdicts tr.hit").inner_text()
            assert "广东首扫必中" in verdict and "60 %" in verdict and "40 %" in verdict
            shot(page, "1280-simulate")

            page.goto(campaign_url)
            page.click("a:has-text('激活')")
            page.wait_for_selector("text=确认激活活动？")
            page.click("button:has-text('确认')")
            page.wait_for_url(campaign_url)
            assert "进行中" in page.locator("h1").inner_text()
            shot(page, "1280-activated")

            phone = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=2,
                                        is_mobile=True, has_touch=True, locale="zh-CN")
            mobile = phone.new_page()
            mobile.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(mobile, site)
            mobile.goto(f"{site}/ops/campaigns/new")
            fill_guangdong(mobile, info.batch_id, total="500")
            mobile.click("button[value=save]")
            mobile.wait_for_selector("#problems")
            width = mobile.evaluate("document.documentElement.scrollWidth")
            assert width <= 390, f"the editor is {width} px wide on a 390 px phone"
            shot(mobile, "390-editor-error")
            shot(mobile, "390-editor-problems", "#problems")
            shot(mobile, "390-editor-budget-error", "fieldset:has(input[name=budget_yuan])")
            shot(mobile, "390-editor-prizes", "fieldset:has(> #prize-rows)")
            shot(mobile, "390-editor-preview", "#preview")
            mobile.goto(campaign_url)
            assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
            shot(mobile, "390-campaign-view")
            mobile.goto(f"{site}/ops/campaigns/")
            shot(mobile, "390-list")
        finally:
            browser.close()
    assert errors == []


def test_two_operators_edit_the_same_campaign_and_the_second_sees_the_conflict(live) -> None:  # type: ignore[no-untyped-def]
    site, info = live
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            first = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN").new_page()
            first.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(first, site)
            first.goto(f"{site}/ops/campaigns/new")
            first.select_option("select[name=brand]", "other")  # the pickers follow the brand
            sync_api.expect(first.locator("#pickers")).to_contain_text("此品牌还没有批次")
            first.select_option("select[name=brand]", "demo")
            sync_api.expect(first.locator(f"#pickers input[name=batches][value='{info.batch_id}']")).to_have_count(1)
            fill_guangdong(first, info.batch_id, total="50")
            first.click("button[value=save]")
            first.wait_for_url("**/ops/campaigns/*")
            edit_url = first.url + "/edit"
            second = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                         locale="zh-CN").new_page()
            second.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(second, site, "wang@demo.example")
            first.goto(edit_url)
            second.goto(edit_url)
            second.fill("input[name=budget_yuan]", "800")
            second.click("button[value=save]")
            second.wait_for_url(CAMPAIGN_PAGE)
            first.fill("input[name=name]", "广东首扫必中（李的修改）")
            first.click("button[value=save]")
            first.wait_for_selector("#conflict")
            conflict = first.locator("#conflict").inner_text()
            assert "wang@demo.example" in conflict and "budget.total_fen" in conflict
            assert first.input_value("input[name=name]") == "广东首扫必中（李的修改）"
            shot(first, "1280-edit-conflict")
            shot(first, "1280-edit-conflict-box", "#conflict")
            first.click("button[value=save]")  # knowingly keep mine
            first.wait_for_url(CAMPAIGN_PAGE)
            assert "李的修改" in first.locator("h1").inner_text()
            first.goto(f"{site}/ops/campaigns/?lang=en")
            shot(first, "1280-list-english")
        finally:
            browser.close()
    assert errors == []
