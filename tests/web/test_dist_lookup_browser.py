"""The lookup on a 390 px phone in Chromium: a store clerk opens 查码 from the desk, a scanner gun types a
code and Enter, the result card comes in without a page load (htmx) with its four sections, the box keeps
the focus with the code selected for the next scan; a forged code reads 非正品; a sub-distributor sees the
upstream hops unnamed. Nothing overflows the phone's width. Screenshots: test-artifacts/browser/lookup-*.png.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from channel.models import VoucherRedemption
from codegen.db import transaction
from payouts.models import AwardClaim
from rules.awards import AwardSink
from rules.drain import Drainer
from rules.models import Award
from rules.scan import ScanRequest
from tests.integration.test_channel_lookup import publish, ship
from tests.support.channel_world import add_seat_user, channel_world, sign
from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, serve_app, sign_in
from tests.web.conftest import make_app
from tests.web.console_support import PASSWORD

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
PORT = int(os.environ.get("YIMA_TEST_LOOKUP_PORT", "0"))  # a port of its own on a shared machine


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"lookup-{name}.png"), full_page=True)


def world_with_history(tmp_path: Path) -> tuple[Flask, dict[str, Any]]:
    """Brand a's case 1 shipped down to the store; item 30 scanned twice and won a voucher, claimed and
    redeemed at the store."""
    app = make_app(tmp_path)
    w = channel_world(app)
    batch = w.batch["a"]
    ship(app, batch, 0, 9, sender=None, to=w.distributor["a"])
    ship(app, batch, 0, 4, sender=w.distributor["a"], to=w.sub_distributor["a"], day=1)
    ship(app, batch, 1, 1, sender=w.sub_distributor["a"], store=w.store["a"], day=2)
    campaign = publish(app, batch, "voucher", "再来一瓶")
    code = sign(app, batch, 30)
    scanner = app.extensions["yima.scanner"]
    scanner.scan(ScanRequest(code, adcode="440106", device_id="phone-1"))
    scanner.scan(ScanRequest(code, adcode="440305", device_id="phone-2"))
    for sink in (None, AwardSink()):
        drainer = Drainer(app.extensions["yima.redis"], app.extensions["yima.db"].sessions, "t", sink=sink)
        while drainer.drain_once(block_ms=10).read:
            pass
    now = datetime.now(UTC)
    with transaction(app.extensions["yima.db"].sessions) as s:
        award = s.query(Award).filter_by(campaign_id=campaign).one()
        brand_id = _brand_of(s, campaign)
        s.add(AwardClaim(award_id=award.id, campaign_id=campaign, brand_id=brand_id, openid="o-1", kind="voucher",
                         claimed_at=now + timedelta(minutes=3)))
        s.add(VoucherRedemption(award_id=award.id, brand_id=brand_id, campaign_id=campaign, store_id=w.store["a"],
                                code=code, redeemed_at=now + timedelta(hours=2)))
    add_seat_user(app, "sub@a.test", "a", "distributor", distributor_id=w.sub_distributor["a"])
    return app, {"code": code, "clerk": w.users[("a", "clerk")]}


def _brand_of(s: Any, campaign_id: int) -> int:
    from rules.models import Campaign

    row = s.get(Campaign, campaign_id)
    assert row is not None
    return int(row.brand_id)


def no_overflow(page: Any) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"], f"the page is {width} px wide at 390 px"


def test_a_clerk_scans_a_code_on_a_phone(tmp_path: Path, redis_client: Any) -> None:
    app, facts = world_with_history(tmp_path)
    errors: list[str] = []
    with serve_app(app, PORT) as site, sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_context(**PHONE).new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("response", lambda r: errors.append(f"{r.status} {r.url}")
                    if r.status >= 400 and not r.url.endswith("/favicon.ico") else None)
            sign_in(page, site, facts["clerk"], PASSWORD)
            page.goto(f"{site}/dist")
            page.click("text=查码")
            page.wait_for_selector("#code")
            assert page.evaluate("document.activeElement.id") == "code"  # ready for the scanner gun
            shot(page, "1-box")

            page.keyboard.type(facts["code"])  # a scanner gun: the code's keystrokes, then Enter
            page.keyboard.press("Enter")
            page.wait_for_selector("#verdict[data-genuine=true]")
            assert page.url.endswith("/dist/lookup")  # no page load: htmx swapped the card in
            card = page.inner_text("#lookup-result")
            for words in ("正品", "产品与批次", "流向", "扫码记录", "奖品", "LOT-a", "已扫码 2 次", "市级经销商 a",
                          "门店 a", "再来一瓶", "已核销", "天河区"):
                assert words in card, words
            assert "省级经销商 a" not in card  # a store sees its own receipt only
            assert page.evaluate("document.activeElement.id") == "code"
            assert page.evaluate("window.getSelection().toString()") == facts["code"]  # the next scan replaces it
            no_overflow(page)
            shot(page, "2-genuine")

            code = facts["code"]
            page.keyboard.type(code[:-2] + ("00" if code[-2:] != "00" else "11"))
            page.keyboard.press("Enter")
            page.wait_for_selector("#verdict[data-genuine=false]")
            assert "伪造码" in page.inner_text("#verdict")
            no_overflow(page)
            shot(page, "3-forged")

            other = browser.new_context(**PHONE).new_page()
            sign_in(other, site, "sub@a.test", PASSWORD)
            other.goto(f"{site}/dist/lookup?code={code}")  # a shared link
            path = other.inner_text("#path")
            assert "其他经销商" in path and "省级经销商 a" not in path and "市级经销商 a → 门店 a" in path
            no_overflow(other)
            shot(other, "4-sub-distributor")
        finally:
            browser.close()
    assert not errors, errors
