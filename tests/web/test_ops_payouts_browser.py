"""Payouts in the console in a real browser, at 1280 px and on a 390 px phone: the list with its state chips
and failure reasons, a filter, a failed payout's history and the retry confirmation, the reconciliation
results, in Chinese (and the list once in English).

The app runs in-process on a real HTTP server, on SQLite and the test Redis, with payout rows written straight
into SQL (tests/web/payout_support.py). Screenshots go to test-artifacts/console-payouts/ for a human to look
at. Nothing here needs the payout engine: the retry is looked at, not confirmed.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.web.browser_support import (
    CHROMIUM,
    CHROMIUM_ARGS,
    PHONE,
    REPO_ROOT,
    no_sideways_scroll,
    serve_app,
    watch_problems,
)
from tests.web.browser_support import sign_in as signed_in
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user
from tests.web.payout_support import seed_payouts

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
SHOTS = REPO_ROOT / "test-artifacts" / "console-payouts"


@pytest.fixture
def site(tmp_path: Path, redis_client: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    app, _ = seeded_app(tmp_path)
    add_user(app, "boss@demo.example", "admin")
    seeded = seed_payouts(app)
    with serve_app(app) as url:
        yield url, seeded


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shoot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)






@pytest.mark.parametrize("size", ["1280", "390"])
def test_payouts_in_the_console(site: tuple[str, dict[str, Any]], browser: Any, size: str) -> None:
    url, _seeded = site
    context = browser.new_context(**PHONE) if size == "390" else \
        browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    width = 390 if size == "390" else 1280
    page = context.new_page()
    problems = watch_problems(page)
    signed_in(page, url, "boss@demo.example", PASSWORD)

    if size == "390":
        page.click("label.nav-button")
    page.click("nav.nav >> text=红包发放")
    page.wait_for_url(f"{url}/ops/payouts?brand=demo")
    assert page.locator("table.payouts tbody tr").count() == 12
    counts = {state: page.inner_text(f"nav.chips a[data-state={state}] b") for state in ("failed", "succeeded",
                                                                                         "awaiting_user")}
    assert counts == {"failed": "3", "succeeded": "3", "awaiting_user": "1"}, counts
    failures = page.inner_text("section.failures")
    assert "商户运营账户余额不足" in failures and "NOT_ENOUGH" in failures and "用户超时未确认收款" in failures
    no_sideways_scroll(page, width)
    shoot(page, f"payouts-{size}")

    page.click("nav.chips >> text=失败")
    page.wait_for_url("**state=failed**")
    assert page.locator("table.payouts tbody tr").count() == 3
    shoot(page, f"payouts-failed-{size}")

    page.locator("table.payouts tbody tr", has_text="NOT_ENOUGH").first.locator("td.amount a").click()
    page.wait_for_url("**/ops/payouts/*")
    assert "商户运营账户余额不足" in page.inner_text("#reason")
    assert page.locator("ol.timeline li").count() == 3
    no_sideways_scroll(page, width)
    shoot(page, f"payout-detail-{size}")

    page.click("a#retry")
    page.wait_for_url("**/retry")
    assert "确认重新发放这笔发放" in page.inner_text("main")
    no_sideways_scroll(page, width)
    shoot(page, f"payout-retry-confirm-{size}")

    page.goto(f"{url}/ops/payouts/reconciliations")
    assert page.locator("section.run").count() == 1
    assert "金额或状态不一致" in page.inner_text("section.run")
    no_sideways_scroll(page, width)
    shoot(page, f"payout-reconciliations-{size}")

    page.goto(f"{url}/ops/payouts?brand=demo&lang=en")
    assert "Merchant balance too low" in page.inner_text("section.failures")
    no_sideways_scroll(page, width)
    shoot(page, f"payouts-en-{size}")
    assert problems == []
    context.close()
