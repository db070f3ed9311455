"""A brand admin in a real browser: signs in, adds a user, creates an API token (shown once), revokes it,
meets the last-admin rule at the form, reads the audit log; at 1280 px and on a 390 px phone.

The app runs in-process on a real HTTP server (werkzeug, a port of this helper's range), on SQLite and the
test Redis. Screenshots go to test-artifacts/console-accounts/ for a human to look at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, REPO_ROOT, serve_app
from tests.web.browser_support import sign_in as signed_in
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
SHOTS = REPO_ROOT / "test-artifacts" / "console-accounts"
@pytest.fixture
def site(tmp_path: Path, redis_client) -> Iterator[str]:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "boss@demo.example", "admin")
    add_user(app, "li@demo.example", "operator")
    with serve_app(app) as url:
        yield url


@pytest.fixture
def browser() -> Iterator[object]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def shoot(page: object, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]


def sign_in(page: object, site: str, email: str) -> None:
    signed_in(page, site, email, PASSWORD)


def no_sideways_scroll(page: object, width: int) -> None:
    scroll = page.evaluate("() => document.documentElement.scrollWidth")  # type: ignore[attr-defined]
    assert scroll <= width, f"{page.url} scrolls sideways at {width} px ({scroll} px wide)"  # type: ignore[attr-defined]


def test_a_brand_admin_adds_a_user_and_a_token(site: str, browser: object) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")  # type: ignore[attr-defined]
    page = context.new_page()
    problems: list[str] = []
    # A document answering 4xx on purpose (the 409 of the last-admin rule) is logged as a failed load; the
    # rest (CSP violations, script errors, a missing asset) is a problem.
    page.on("console", lambda msg: problems.append(msg.text)
            if msg.type == "error" and not msg.text.startswith("Failed to load resource") else None)
    page.on("response", lambda resp: problems.append(f"{resp.status} {resp.url}")
            if resp.status >= 400 and resp.request.resource_type != "document"
            and not resp.url.endswith("/favicon.ico") else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    sign_in(page, site, "boss@demo.example")

    page.click("nav >> text=账户与令牌")
    page.wait_for_url(f"{site}/ops/admin")
    assert page.locator("table.members tbody tr").count() == 2
    shoot(page, "admin-1280")

    # a new user, with a one-time password shown once
    page.fill("#add-user input[name=email]", "wang.fang@demo.example")
    page.fill("#add-user input[name=name]", "王芳")
    page.select_option("#add-user select[name=role]", "analyst")
    page.click("#add-user button[type=submit]")
    password = page.input_value("#new-user-password")
    assert len(password) >= 16
    assert page.locator("table.members tbody tr").count() == 3
    shoot(page, "admin-user-added-1280")

    # a token for the admin's own scripts; its secret shown once, with a copy button
    page.fill("#token-form input[name=name]", "会员系统对接")
    page.select_option("#token-form select[name=role]", "operator")
    page.fill("#token-form input[name=days]", "30")
    page.click("#token-form button[type=submit]")
    secret = page.input_value("#new-token-secret")
    assert re.fullmatch(r"yima_pat_[A-Za-z0-9_-]{40,}", secret)
    page.click("button[data-copy=new-token-secret]")
    shoot(page, "admin-token-created-1280")
    page.goto(f"{site}/ops/admin")
    assert secret not in page.content() and "会员系统对接" in page.content()

    # revoking asks first
    row = page.locator("table.tokens tbody tr", has_text="会员系统对接")
    row.locator("summary").click()
    shoot(page, "admin-token-revoke-confirm-1280")
    row.locator("button.danger").click()
    page.wait_for_url(re.compile(r".*/ops/admin\?brand=demo#tokens$"))
    assert "已吊销" in page.locator("table.tokens tbody tr", has_text="会员系统对接").inner_text()

    # the brand keeps an admin: the error shows at the admin's own row
    me = page.locator("table.members tbody tr", has_text="boss@demo.example")
    me.locator("select[name=role]").select_option("operator")
    me.locator("button", has_text="保存").click()
    me = page.locator("table.members tbody tr", has_text="boss@demo.example")
    assert "每个品牌至少保留一名管理员" in me.inner_text()
    shoot(page, "admin-last-admin-error-1280")

    page.click("nav >> text=审计日志")
    page.wait_for_url(f"{site}/ops/audit")
    text = page.inner_text("main")
    for action in ("user.create", "token.create", "token.revoke"):
        assert action in text
    shoot(page, "audit-1280")
    assert problems == [], "\n".join(problems)
    context.close()

    # the same pages on a phone
    phone = browser.new_context(**PHONE)  # type: ignore[attr-defined]
    page = phone.new_page()
    sign_in(page, site, "boss@demo.example")
    for path, name in (("/ops/admin", "admin-390"), ("/ops/account", "account-390"), ("/ops/audit", "audit-390")):
        page.goto(site + path)
        no_sideways_scroll(page, 390)
        shoot(page, name)
    phone.close()
