"""In a real browser: an operator opens the publish page, reads the diff, publishes, rolls back (through the
confirmation page); activates and voids serials of a batch. Screenshots at 1280 px and 390 px are kept in
test-artifacts/browser/ for a person to look at.

The app runs in this process behind werkzeug's server on a port of its own, on a temp SQLite file and the
test Redis; Chromium is Debian's (/usr/bin/chromium). Skipped with a reason when playwright or Chromium
is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask

from codegen.batch_state import read_batch_state
from codegen.db import transaction
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.region import default_index
from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, serve_app, sign_in
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


@pytest.fixture
def site(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[str, Flask, int]]:
    app, info = seeded_app(tmp_path)
    app.config["TESTING"] = False  # as served: CSRF and all
    add_user(app, "op@demo.example", "operator")
    with serve_app(app) as url:
        yield url, app, info.batch_id


def _campaign(app: Flask, name: str, weight: float) -> int:
    doc = {"name": name, "brand": "demo", "priority": 5,
           "window": {"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-31T00:00:00+08:00"},
           "regions": {"include": ["44"]}, "budget": {"total_fen": 50_000},
           "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": weight, "total": 50}]}
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = save_campaign(s, doc, default_index())
        set_status(s, row.id, Campaign.ACTIVE, default_index())
        return row.id


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def _fits(page: Any) -> None:
    """Nothing wider than the window but the tables, which scroll inside their own box."""
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 1, f"the page is {overflow}px wider than the window"


@pytest.fixture
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _sign_in(page: Any, base: str) -> None:
    sign_in(page, base, "op@demo.example", PASSWORD)


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_operator_reads_the_diff_publishes_and_rolls_back(site: tuple[str, Flask, int], browser: Any,
                                                         size: str) -> None:
    base, app, _batch = site
    context = browser.new_context(viewport=WIDTHS[size], locale="zh-CN")
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    _sign_in(page, base)
    first = _campaign(app, "广东首扫必中", 0.6)

    page.goto(f"{base}/ops/publish?brand=demo")
    assert page.locator("h3", has_text="广东首扫必中").is_visible()
    _fits(page)
    _shot(page, f"publish-diff-new-{size}")
    page.fill("input[name=note]", "双十二上线")
    page.click("button:has-text('发布')")
    page.wait_for_url(f"{base}/ops/publish?brand=demo")
    assert page.locator(".flash.ok").inner_text().startswith("已发布版本 1")
    assert page.locator("table.versions").inner_text().count("双十二上线") == 1

    # A change to the live campaign, and a new one: the diff names each field, before and after.
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = s.get(Campaign, first)
        assert row is not None
        doc = dict(row.definition)
        doc["prizes"] = [{**doc["prizes"][0], "weight": 0.4}]
        doc["budget"] = {"total_fen": 80_000}
    with transaction(app.extensions["yima.db"].sessions) as s:
        save_campaign(s, doc, default_index(), first, edit_version=s.get(Campaign, first).edit_version)
    _campaign(app, "深圳会员日", 0.2)
    page.goto(f"{base}/ops/publish?brand=demo")
    changed = page.locator("table.diff").inner_text()
    assert "奖品 #1 › 概率" in changed and "0.6" in changed and "0.4" in changed and "80000" in changed
    _fits(page)
    _shot(page, f"publish-diff-changed-{size}")
    page.fill("input[name=note]", "调整概率")
    page.click("button:has-text('发布')")
    page.wait_for_url(f"{base}/ops/publish?brand=demo")

    # Roll back to v1: a confirmation page, then the rollback as a new version.
    page.click("table.versions a:has-text('回滚到此版本')")
    page.wait_for_url(f"{base}/ops/publish/rollback/1?brand=demo")
    assert "深圳会员日" in page.locator("main").inner_text()  # it goes away
    _fits(page)
    _shot(page, f"publish-rollback-confirm-{size}")
    page.fill("input[name=note]", "概率调错了")
    page.click("button:has-text('确认回滚')")
    page.wait_for_url(f"{base}/ops/publish?brand=demo")
    assert "已回滚到版本 1（新版本 3）" in page.locator(".flash.ok").inner_text()
    assert "rollback to 1: 概率调错了" in page.locator("table.versions").inner_text()
    _fits(page)
    _shot(page, f"publish-versions-{size}")
    assert errors == []
    context.close()


@pytest.mark.parametrize("size", ["desktop", "phone"])
def test_operator_activates_and_voids_serials(site: tuple[str, Flask, int], browser: Any, size: str) -> None:
    base, app, batch_id = site
    context = browser.new_context(viewport=WIDTHS[size], locale="zh-CN")
    page = context.new_page()
    _sign_in(page, base)
    page.goto(f"{base}/ops/batches?brand=demo")
    _fits(page)
    _shot(page, f"batches-list-{size}")
    page.click(f"table.batches a[href='/ops/batches/{batch_id}'] >> nth=0")
    page.wait_for_url(f"{base}/ops/batches/{batch_id}")

    page.fill("#void input[name=range]", "200-299")
    page.click("#void button")  # no reason: refused at the field
    assert "请填写作废原因" in page.locator("#void").inner_text()
    assert page.locator("#void input[name=range]").input_value() == "200-299"
    page.fill("#void input[name=reason]", "卷材损坏")
    page.click("#void button")
    page.wait_for_url(f"{base}/ops/batches/{batch_id}")
    assert "已作废 200-299" in page.locator(".flash.ok").inner_text()
    page.fill("#activate input[name=range]", "0-99")
    page.click("#activate button")
    page.wait_for_url(f"{base}/ops/batches/{batch_id}")
    history = page.locator("table.history").inner_text()
    assert "卷材损坏" in history and "200-299" in history and "0-99" in history
    state = read_batch_state(app.extensions["yima.redis"], batch_id)
    assert state is not None and state[2] == [(200, 299)]  # the scan path sees the void
    _fits(page)
    _shot(page, f"batch-detail-{size}")
    context.close()
