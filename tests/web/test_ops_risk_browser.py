"""The risk review in a real browser: an operator opens the queue at 1280 px, opens a flag, releases one held
award and blocks the flag; the queue, a flag, the lists and the policy on a 390 px phone. In Chinese, with no
script error, CSP violation or sideways scroll.

The app runs in-process on a real HTTP server, on SQLite and the test Redis, with a review queue written by
the domain (tests/web/risk_support.py). Screenshots go to test-artifacts/risk-console/ for a human to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from codegen.db import transaction
from risk import review
from risk.models import RiskFlag
from rules.models import Award
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
from tests.web.risk_support import MEMBER, seed_review

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
SHOTS = REPO_ROOT / "test-artifacts" / "risk-console"


@pytest.fixture
def site(tmp_path: Path, redis_client: Any) -> Iterator[tuple[str, Any, dict[str, Any]]]:
    app, _ = seeded_app(tmp_path)
    add_user(app, "ops@demo.example", "operator")
    seeded = seed_review(app, "demo")
    with transaction(app.extensions["yima.db"].sessions) as s:  # more evidence on the flag, as the observer adds
        for n, (day, near) in enumerate([("2026-12-03", 9), ("2026-12-04", 17)], start=2):
            review.raise_flag(s, app.extensions["yima.redis"], seeded["brand_id"], "m", MEMBER, "sweep",
                              f"C{n:027d}", f"{n}-demo-0", evidence={"days": {"2026-12-02": 3, "2026-12-03": 7,
                                                                             day: near}, "near_today": near})
    with serve_app(app) as url:
        yield url, app, seeded


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






def stored(app: Any, model: Any, key: Any) -> Any:
    with app.extensions["yima.db"].sessions() as s:
        row = s.get(model, key)
        s.expunge(row)
        return row


def test_an_operator_reviews_a_flag_at_1280(site: tuple[str, Any, dict[str, Any]], browser: Any) -> None:
    url, app, seeded = site
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = context.new_page()
    problems = watch_problems(page)
    signed_in(page, url, "ops@demo.example", PASSWORD)

    page.click("nav.nav >> text=风控")
    page.wait_for_url(f"{url}/ops/risk?brand=demo")
    row = page.locator("table.risk-flags tbody tr")
    assert row.count() == 1
    assert "多账号" in row.inner_text() and "会员" in row.inner_text()
    assert row.locator(".held-count").inner_text() == "2"
    no_sideways_scroll(page, 1280)
    shoot(page, "queue-1280")

    row.locator("td.subject a").click()
    page.wait_for_url(f"**/ops/risk/flags/{seeded['flag']}")
    assert page.locator("table.risk-awards tbody tr").count() == 2
    assert "扫货/连号 ×2" in page.inner_text("main") and page.locator("ul.day-bars li").count() == 3
    no_sideways_scroll(page, 1280)
    shoot(page, "flag-1280")

    first, second = seeded["awards"]
    page.locator(f"tr[data-award='{first}'] >> text=放行发奖").click()
    page.wait_for_url("**/release?flag=*")
    assert "确认放行发奖这个奖品？" in page.inner_text("main")
    shoot(page, "release-confirm-1280")
    page.fill("input[name=note]", "老客户，核实无误")
    page.click("button#confirm")
    page.wait_for_url(f"**/ops/risk/flags/{seeded['flag']}")
    assert "已放行，奖品将照常发放。" in page.inner_text("p.flash")
    assert page.locator("table.risk-awards tbody tr").count() == 1
    assert stored(app, Award, first).risk_hold == Award.RELEASED

    page.click("a#block")
    page.wait_for_url("**/block")
    assert "确认封禁这个对象？" in page.inner_text("main")
    shoot(page, "block-confirm-1280")
    page.click("button#confirm")
    page.wait_for_url(f"**/ops/risk/flags/{seeded['flag']}")
    assert page.inner_text("#flag-state") == "已封禁"
    assert "1 个扣留的奖品已驳回" in page.inner_text("p.flash")
    assert stored(app, RiskFlag, seeded["flag"]).state == RiskFlag.BLOCKED
    assert stored(app, Award, second).status == Award.VOID
    shoot(page, "flag-blocked-1280")

    page.goto(f"{url}/ops/risk?brand=demo&state=blocked")
    assert page.locator("table.risk-flags tbody tr").count() == 1
    page.goto(f"{url}/ops/risk/policy?brand=demo")
    assert page.locator("fieldset.policy-group").count() == 7
    no_sideways_scroll(page, 1280)
    shoot(page, "policy-1280")
    page.goto(f"{url}/ops/risk/lists?brand=demo")
    page.select_option("select[name=kind]", "n")
    page.fill("input[name=subject]", "10.1.2")
    page.fill("input[name=note]", "网吧刷码")
    page.click("#add-entry button[type=submit]")
    page.wait_for_url("**/ops/risk/lists?brand=demo")
    assert page.locator("table.risk-lists tbody tr").count() == 1
    shoot(page, "lists-1280")
    assert problems == []
    context.close()


def test_the_queue_on_a_phone(site: tuple[str, Any, dict[str, Any]], browser: Any) -> None:
    url, _app, seeded = site
    context = browser.new_context(**PHONE)
    page = context.new_page()
    problems = watch_problems(page)
    signed_in(page, url, "ops@demo.example", PASSWORD)

    page.click("label.nav-button")
    page.click("nav.nav >> text=风控")
    page.wait_for_url(f"{url}/ops/risk?brand=demo")
    card = page.locator("table.risk-flags tbody tr")
    assert card.count() == 1 and card.locator("text=封禁").is_visible() and card.locator("text=放行").is_visible()
    no_sideways_scroll(page, 390)
    shoot(page, "queue-390")

    page.click("#tab-holds")
    page.wait_for_url("**/ops/risk/holds?brand=demo")
    assert page.locator("table.risk-awards tbody tr").count() == 2
    no_sideways_scroll(page, 390)
    shoot(page, "holds-390")

    page.goto(f"{url}/ops/risk/flags/{seeded['flag']}")
    no_sideways_scroll(page, 390)
    shoot(page, "flag-390")
    page.goto(f"{url}/ops/risk/policy?brand=demo")
    no_sideways_scroll(page, 390)
    shoot(page, "policy-390")
    page.goto(f"{url}/ops/risk/lists?brand=demo")
    no_sideways_scroll(page, 390)
    shoot(page, "lists-390")
    assert problems == []
    context.close()
