"""A new user's first five minutes, in a real browser.

`yima run` (what `make run` starts) is launched on the embedded defaults — a fresh var dir, no REDIS_URL,
no DATABASE_URL — and the three demo URLs it prints are opened, as printed, in a phone-sized headless
Chromium that looks like WeChat's in-app browser. Each page must be the right one, fit the phone's width,
and load everything from the app itself (no CDN). Full-page screenshots are kept in
test-artifacts/browser/ for a human to look at.

Needs `playwright` (the Python package) and Chromium at /usr/bin/chromium (Debian's `chromium`);
skipped with a reason when either is missing. CI installs both.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest

from tests.web.browser_support import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, PHONE, DemoUrls, YimaRun

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the browser test needs playwright: pip install playwright"
)
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}: apt-get install chromium", allow_module_level=True)

pytestmark = pytest.mark.slow

WIDTH = PHONE["viewport"]["width"]


@dataclass
class Traffic:
    """Everything the browser fetched, seen from the context (all pages)."""

    requests: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    bad_assets: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # errors and warnings, CSP violations among them

    def foreign(self) -> list[str]:
        out = []
        for url in self.requests:
            parts = urlsplit(url)
            if parts.scheme in ("data", "blob", "about"):
                continue
            if parts.scheme not in ("http", "https", "ws", "wss") or parts.hostname != "127.0.0.1":
                out.append(url)
        return out


@pytest.fixture(scope="module")
def yima() -> Iterator[tuple[YimaRun, DemoUrls]]:
    run = YimaRun()
    try:
        urls = run.start()
        print(f"\n`yima run` up in {run.startup_seconds:.1f}s on {run.site} (var dir {run.var_dir})")
        yield run, urls
    finally:
        run.stop()
        print(f"\n`yima run` stopped in {run.stop_seconds:.1f}s; " + "; ".join(run.stop_report))


@pytest.fixture
def phone() -> Iterator[tuple[sync_api.Page, Traffic]]:
    traffic = Traffic()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # The `yima run` demo campaign is mainland China only: the phone shares its location (Shenzhen).
            context = browser.new_context(**PHONE, geolocation={"latitude": 22.543, "longitude": 114.058},
                                          permissions=["geolocation"])
            context.on("request", lambda req: traffic.requests.append(req.url))
            context.on("requestfailed", lambda req: traffic.failed.append(f"{req.url}: {req.failure}"))

            def on_response(resp: sync_api.Response) -> None:
                if resp.request.resource_type != "document" and resp.status >= 400:
                    traffic.bad_assets.append(f"{resp.status} {resp.url}")

            context.on("response", on_response)
            page = context.new_page()
            page.on("pageerror", lambda exc: traffic.page_errors.append(str(exc)))
            page.on("console", lambda msg: traffic.console.append(f"{msg.type}: {msg.text}")
                    if msg.type in ("error", "warning") else None)
            yield page, traffic
            context.close()
        finally:
            browser.close()


def shoot(page: sync_api.Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def check_phone_layout(page: sync_api.Page, name: str) -> None:
    """The page is laid out for the phone (viewport meta honoured), with its stylesheet, and no sideways scroll."""
    metrics = page.evaluate(
        """() => ({
            inner: window.innerWidth,
            scroll: document.documentElement.scrollWidth,
            bodyScroll: document.body.scrollWidth,
            bg: getComputedStyle(document.body).backgroundColor,
        })"""
    )
    assert metrics["inner"] == WIDTH, f"{name}: layout viewport is {metrics['inner']}px, not the phone's {WIDTH}px"
    assert metrics["scroll"] <= WIDTH and metrics["bodyScroll"] <= WIDTH, f"{name}: scrolls sideways: {metrics}"
    assert metrics["bg"] == "rgb(244, 245, 247)", f"{name}: h5.css not applied (body background {metrics['bg']})"


def open_page(page: sync_api.Page, url: str, status: int, name: str) -> str:
    resp = page.goto(url, wait_until="load")
    assert resp is not None, f"{name}: no response for {url}"
    assert resp.status == status, f"{name}: {url} answered {resp.status}, expected {status}:\n{page.content()[:2000]}"
    return finish(page, name)


def finish(page: sync_api.Page, name: str) -> str:
    check_phone_layout(page, name)
    shoot(page, name)
    return page.inner_text("body")


def verdict(page: sync_api.Page) -> str:
    return page.inner_text("#verdict h1").strip()


def test_new_user_opens_the_printed_urls(yima: tuple[YimaRun, DemoUrls], phone: tuple[sync_api.Page, Traffic]) -> None:
    run, urls = yima
    page, traffic = phone

    # `make run` on a clean machine: embedded Redis on a socket in the var dir, SQLite beside it.
    banner = run.output()
    assert f"unix://{run.var_dir}/redis.sock" in banner, banner
    assert f"sqlite:///{run.var_dir}/yima.db" in banner, banner
    for url in (urls.inner, urls.outer, urls.forged):
        assert urlsplit(url).hostname == "127.0.0.1" and urlsplit(url).port == run.port, url

    # Every page is served with the Content-Security-Policy under test.
    csp = page.request.get(urls.forged).headers.get("content-security-policy", "")
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp, csp

    # 1. The inner (under-cap) code, as printed (upper case, /Q/): genuine, first scan, reward, trace facts.
    resp = page.goto(urls.inner, wait_until="load")
    assert resp is not None and resp.status == 200, resp
    # The draw waits for the phone's location (the demo is mainland China only), then fills the reward card.
    page.wait_for_selector("#reward .prize-title", timeout=15_000)
    text = finish(page, "inner-first")
    assert page.title() == "扫码验真"
    assert page.get_attribute("html", "lang") == "zh-CN"
    assert verdict(page) == "正品验证通过"
    assert "首次扫码" in page.inner_text("#scan-state")
    assert "已被扫描" not in text
    assert page.is_visible("#reward"), "the inner code's page has no reward section"
    reward = page.inner_text("#reward")
    # The seeded demo campaign: the first scan always wins, a red packet or 5 points.
    assert "扫码有礼" in reward and "恭喜您获得" in reward, reward
    assert "现金红包 ¥" in reward or "5 积分" in reward, reward
    facts = page.inner_text("#facts")
    for fact in ("溯源信息", "演示拉格", "DEMO-L1", "盖内码（兑奖码）"):
        assert fact in facts, f"inner page trace facts lack {fact!r}: {facts!r}"
    assert "Demo Factory" not in facts and "流水号" not in facts, "the inner page leaks the factory or serial"

    # 2. Reload: the same code scanned again.
    resp = page.reload(wait_until="load")
    assert resp is not None and resp.status == 200
    finish(page, "inner-repeat")
    assert verdict(page) == "正品验证通过"
    state = page.inner_text("#scan-state")
    assert "该码已被扫描 2 次" in state, state
    assert "首次扫描：" in state, state  # when (and where) it was first scanned
    assert "首次扫码" not in state
    assert "首次扫描就是用这台手机完成的" in state, state  # our own reload: no tamper warning
    assert "此码已中奖" in page.inner_text("#reward")  # the same prize again, not a second one
    assert "商品可能被调换" not in state

    # 3. The outer (label) code: genuine, trace facts with the code type, no reward section.
    open_page(page, urls.outer, 200, "outer")
    assert verdict(page) == "正品验证通过"
    facts = page.inner_text("#facts")
    for fact in ("演示拉格", "DEMO-L1", "防伪溯源码", "Demo Factory", "流水号"):
        assert fact in facts, f"outer page trace facts lack {fact!r}: {facts!r}"
    assert page.locator("#reward").count() == 0, "the outer code's page shows a reward section"

    # 4. The forged code: 404, not genuine, with the report hint; nothing else.
    text = open_page(page, urls.forged, 404, "forged")
    assert verdict(page) == "非正品码"
    assert "联系品牌客服举报" in text, text
    assert page.locator("#reward").count() == 0 and page.locator("#facts").count() == 0

    # 5. The inner code typed or decoded in lower case (/q/…): still the same genuine code.
    lower = f"{run.site}/q/{urlsplit(urls.inner).path.rsplit('/', 1)[1].lower()}"
    open_page(page, lower, 200, "inner-lowercase")
    assert verdict(page) == "正品验证通过"
    assert "该码已被扫描 3 次" in page.inner_text("#scan-state")

    # 6. The language switch: English now, and still English on the next page load (cookie).
    switch = page.locator("#lang-switch")
    assert switch.inner_text().strip() == "English"
    with page.expect_navigation(wait_until="load"):
        switch.click()
    assert "lang=en" in urlsplit(page.url).query, page.url
    finish(page, "inner-lowercase-en")
    assert page.get_attribute("html", "lang") == "en"
    assert verdict(page) == "Genuine product"
    # Switching language re-renders what was shown; it is not one more scan.
    assert "This code has been scanned 3 times" in page.inner_text("#scan-state")
    assert "The first scan was made with this phone." in page.inner_text("#scan-state")
    assert page.locator("#lang-switch").inner_text().strip() == "中文"
    cookies = {c["name"]: c["value"] for c in page.context.cookies()}
    assert cookies.get("yima_lang") == "en", cookies

    text = open_page(page, urls.forged, 404, "forged-en")
    assert verdict(page) == "Not a genuine code"
    assert "report it to the brand" in text, text

    text = open_page(page, urls.inner, 200, "inner-en")
    assert verdict(page) == "Genuine product"
    assert "This code has been scanned 4 times" in page.inner_text("#scan-state")
    assert "Rewards" in page.inner_text("#reward")
    assert "This code has already won" in page.inner_text("#reward")
    assert "Under-cap reward code" in page.inner_text("#facts")

    # Everything came from the app: no CDN, no font service, no analytics; no broken asset, no script error.
    assert traffic.requests, "the browser recorded no requests"
    assert traffic.foreign() == [], f"requests to hosts other than 127.0.0.1: {traffic.foreign()}"
    assert traffic.failed == [], traffic.failed
    assert traffic.bad_assets == [], traffic.bad_assets
    assert traffic.page_errors == [], traffic.page_errors
    # The Content-Security-Policy allows no inline script or style: the pages must not need any. (The
    # forged-code pages answer 404 on purpose; Chromium logs each such document load as an error.)
    expected = "error: Failed to load resource: the server responded with a status of 404"
    assert [m for m in traffic.console if not m.startswith(expected)] == [], traffic.console
