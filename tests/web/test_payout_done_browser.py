"""Issue 12's "Done means", end to end on what `make run` starts, in Debian Chromium at phone size.

A newcomer opens the demo inner codes `yima run` prints on a 390 px phone that shares its location (the demo
campaign is mainland China only, so the page asks first), wins a red packet, taps 领取, passes WeChat's
OAuth (the fake WeChat server `yima run` starts stands in for WeChat), claims, confirms receipt on the fake's
confirm page (WeChat's 确认收款 sheet) and sees 已到账; the operator then finds the payout, paid, in the
console's payouts view. Everything in between is real: the payout worker process, the 商家转账 adapter over
HTTP, signed and encrypted callbacks. Screenshots: test-artifacts/payout-done/.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, REPO_ROOT, DemoUrls, YimaRun, sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "test-artifacts" / "payout-done"
SHENZHEN = {"latitude": 22.543, "longitude": 114.058}
DESK: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="module")
def yima() -> Iterator[tuple[YimaRun, DemoUrls]]:
    run = YimaRun()
    try:
        yield run, run.start()
    finally:
        run.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def wait_text(page: Any, selector: str, text: str, run: YimaRun, seconds: float = 60) -> str:
    """Wait until `selector` shows `text` (the page polls the payout's state itself); on a timeout, what
    the page and `yima run` said."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if page.locator(selector).count() and text in (shown := page.inner_text(selector)):
            return shown
        time.sleep(0.25)
    raise AssertionError(f"{selector} never showed {text!r}; page:\n{page.inner_text('body')[:1500]}\n"
                         f"--- yima run ---\n{run.output()[-6000:]}")


def test_a_newcomer_wins_claims_confirms_and_is_paid(yima: tuple[YimaRun, DemoUrls]) -> None:
    run, urls = yima
    assert "fake WeChat" in run.output(), run.output()
    assert len(urls.more_inner) == 4, urls
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            phone = browser.new_context(**PHONE, geolocation=SHENZHEN, permissions=["geolocation"])
            page = phone.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))

            # 1. Scan: the page shows authenticity, asks for the location, then draws. The demo pays a red
            # packet 70 % of the time (5 points otherwise): the printed codes, in turn, until one pays cash.
            for n, url in enumerate((urls.inner, *urls.more_inner)):
                page.goto(url)
                page.wait_for_selector("#reward .prize-title", timeout=20_000)
                reward = page.inner_text("#reward")
                assert "恭喜您获得" in reward, reward
                if "现金红包" in reward:
                    break
                shot(page, f"1-scan-{n}-points")
            else:
                raise AssertionError("no red packet in the five demo codes (the campaign pays one 70 % of the time)")
            assert page.inner_text("#verdict h1").strip() == "正品验证通过"
            amount = re.search(r"¥(\d+\.\d\d)", reward)
            assert amount, reward
            shot(page, "1-won")

            # 2. 领取: WeChat's OAuth (the fake's authorize answers at once, as snsapi_base does), then the claim.
            with page.expect_navigation(url=re.compile(r"/claim/")):
                page.click("a.claim-link")
            page.wait_for_selector("#claim-button")
            assert f"{amount.group(1)} 元" in page.inner_text("#claim-value")
            shot(page, "2-claim")
            page.click("#claim-button")

            # 3. The payout worker submits the 商家转账 bill: the page (polling) offers 确认收款.
            wait_text(page, "#claim-state", "待确认收款", run)
            page.wait_for_selector("#confirm-button")
            shot(page, "3-awaiting-confirmation")

            # 4. The fake's confirm page stands in for WeChat's sheet; confirming comes back to the claim page.
            page.click("#confirm-button")
            page.wait_for_selector('[data-testid="confirm"]')
            assert f"¥{amount.group(1)}" in page.inner_text('[data-testid="amount"]')
            shot(page, "4-wechat-confirm")
            with page.expect_navigation(url=re.compile(r"/claim/")):
                page.click('[data-testid="confirm"]')

            # 5. The signed callback (or the worker's query) lands: 已到账.
            paid = wait_text(page, "#claim-state", "已到账", run)
            assert "红包已转入您的微信零钱" in paid, paid
            shot(page, "5-paid")
            assert errors == [], errors
            phone.close()

            # 6. The operator sees it in the console's payouts view, paid.
            found = re.search(r"sign in as (\S+), password (\S+)", run.output())
            assert found, run.output()
            desk = browser.new_context(**DESK)
            ops = desk.new_page()
            sign_in(ops, run.site, *found.groups())
            ops.goto(f"{run.site}/ops/payouts?brand=demo")
            row = ops.locator('tr[data-state="succeeded"]')
            assert row.count() >= 1, ops.inner_text("main")[:2000]
            assert f"{amount.group(1)}" in row.first.inner_text(), row.first.inner_text()
            shot(ops, "6-ops-payouts-1280")
            desk.close()
        finally:
            browser.close()
