"""Issue 13's "done means", on `yima run` (gunicorn, the drain worker with the 窜货 judge, the demo channel) in
Chromium at phone size (390 px):

1. the warehouse clerk ships two case codes to the Guangdong distributor (华南总经销 GD-001), typing them as a
   scanner gun does; the distributor confirms 入库;
2. a consumer in Xinjiang (the client address, through X-Forwarded-For from a trusted proxy, is in Urumqi)
   scans an item of one of those cases and wins 再来一瓶; the distributor's 窜货 report shows the scan from
   Xinjiang within 10 s;
3. a consumer in Guangzhou scans another item of the same case and wins 再来一瓶; the store clerk looks the
   code up, reads the redemption QR off the consumer's page (decoded with zbarimg, as a phone's camera would)
   and redeems it; a second redemption of it (a second tab that had it open) is refused clearly;
4. the brand operator closes the day's period and the statement shows the redemption.

Screenshots: test-artifacts/channel-done/.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from collections.abc import Iterator
from typing import Any

import pytest

from app.seed import DEMO_OPERATOR
from codegen import keys
from codegen.codeformat import Role, encode, parse
from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, REPO_ROOT, DemoUrls, YimaRun, sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "test-artifacts" / "channel-done"
URUMQI_IP = "124.117.66.1"  # rules/data/ipregion_v4.bin.gz places it in 650100 (乌鲁木齐市)
GUANGZHOU_IP = "14.215.177.38"  # 440100 (广州市)
STAFF_PHONE: dict[str, Any] = {**PHONE, "user_agent": None}  # staff use their phone's own browser
CASES = (20, 21)  # the demo batch packs 24 a case: items 480-527, in the 再来一瓶 campaign's serials
XINJIANG_ITEM, GUANGZHOU_ITEM = 500, 501  # both in case 20


class ProxiedRun(YimaRun):
    """`yima run` behind one trusted proxy: the client address comes from X-Forwarded-For."""

    def env(self) -> dict[str, str]:
        return {**super().env(), "YIMA_TRUSTED_PROXIES": "1"}


@pytest.fixture(scope="module")
def yima() -> Iterator[tuple[YimaRun, DemoUrls]]:
    run = ProxiedRun()
    try:
        yield run, run.start()
    finally:
        run.stop()


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def code_of(run: YimaRun, urls: DemoUrls, serial: int, role: Role) -> str:
    fields, _ = parse(urls.inner.rsplit("/", 1)[1])
    key = keys.load_keyring(run.var_dir / "keys.json").batch_key(fields.key_id, fields.batch_id)
    return encode(key, role=role, key_id=fields.key_id, batch_id=fields.batch_id, serial=serial)


def wait_for(page: Any, selector: str, text: str, run: YimaRun, seconds: float = 30, reload: bool = False) -> float:
    """Seconds until `selector` shows `text` (reloading the page each second when asked); on a timeout, what
    the page and `yima run` said."""
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        if page.locator(selector).count() and text in page.inner_text(selector):
            return time.monotonic() - began
        time.sleep(1.0 if reload else 0.25)
        if reload:
            page.reload()
    raise AssertionError(f"{selector} never showed {text!r}; page:\n{page.inner_text('body')[:2000]}\n"
                         f"--- yima run ---\n{run.output()[-5000:]}")


def staff_page(browser: Any, site: str, email: str, password: str) -> Any:
    context = browser.new_context(**STAFF_PHONE, extra_http_headers={"X-Forwarded-For": GUANGZHOU_IP})
    page = context.new_page()
    sign_in(page, site, email, password)
    return page


def consumer_page(browser: Any, ip: str) -> Any:
    return browser.new_context(**PHONE, extra_http_headers={"X-Forwarded-For": ip}).new_page()


def test_ship_divert_lookup_redeem_settle(yima: tuple[YimaRun, DemoUrls], tmp_path: Any) -> None:
    run, urls = yima
    site = run.site
    seat_password = (run.var_dir / "demo_channel_password").read_text().strip()
    operator_password = (run.var_dir / "demo_password").read_text().strip()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            # 1. 出库 to the Guangdong distributor, by the warehouse clerk's phone.
            clerk = staff_page(browser, site, "warehouse@demo.yima", seat_password)
            assert clerk.url.endswith("/dist"), clerk.url
            shot(clerk, "01-warehouse-desk")
            clerk.click("text=扫码出库")
            option = clerk.locator("#to option", has_text="GD-001").first.get_attribute("value")
            clerk.select_option("#to", option)
            with clerk.expect_navigation():
                clerk.click("#new-shipment button[type=submit]")
            for n, case in enumerate(CASES, start=1):
                clerk.fill("#scan-code", code_of(run, urls, case, Role.CASE))
                clerk.press("#scan-code", "Enter")
                wait_for(clerk, "#tally-cases", str(n), run)
            shot(clerk, "02-warehouse-scanned")
            with clerk.expect_navigation():
                clerk.click("#ship-form button[type=submit]")
            assert "48" in clerk.inner_text(".ship-count"), clerk.inner_text("main")  # 2 cases × 24 items
            shipment_url = clerk.url
            shot(clerk, "03-warehouse-shipped")

            # 入库 by the distributor.
            gd = staff_page(browser, site, "gd@demo.yima", seat_password)
            gd.goto(shipment_url)
            with gd.expect_navigation():
                gd.click("#receive-form button[type=submit]")
            assert "入库" in gd.inner_text("main")
            shot(gd, "04-distributor-received")

            # 2. A consumer in Xinjiang scans an item of the shipped case: 窜货 on GD-001's report.
            xinjiang = consumer_page(browser, URUMQI_IP)
            xinjiang.goto(f"{site}/q/{code_of(run, urls, XINJIANG_ITEM, Role.INNER)}")
            assert "再来一瓶" in xinjiang.inner_text("main"), xinjiang.inner_text("main")
            scanned = time.monotonic()
            shot(xinjiang, "05-consumer-xinjiang")
            gd.goto(f"{site}/dist/diversion")
            wait_for(gd, "main", "新疆", run, seconds=10 - (time.monotonic() - scanned), reload=True)
            assert time.monotonic() - scanned <= 10
            shot(gd, "06-distributor-diversion-report")

            # 3. A consumer in Guangzhou wins 再来一瓶 on another item of the case; the store redeems it.
            guangzhou = consumer_page(browser, GUANGZHOU_IP)
            item = code_of(run, urls, GUANGZHOU_ITEM, Role.INNER)
            guangzhou.goto(f"{site}/q/{item}")
            guangzhou.wait_for_selector(".voucher-qr-box svg")
            shot(guangzhou, "07-consumer-voucher-qr")
            qr_png = tmp_path / "voucher-qr.png"
            guangzhou.locator(".voucher-qr-box").screenshot(path=str(qr_png))
            zbarimg = shutil.which("zbarimg")
            assert zbarimg, "zbarimg (zbar-tools) reads the QR as the clerk's phone would"
            redeem_url = subprocess.run([zbarimg, "--raw", "-q", str(qr_png)], capture_output=True, text=True,
                                        check=True).stdout.strip()
            assert "/dist/redeem/v/" in redeem_url, redeem_url

            store = staff_page(browser, site, "clerk@demo.yima", seat_password)
            store.goto(f"{site}/dist/lookup")
            store.fill("#code", item)
            store.press("#code", "Enter")
            wait_for(store, "#verdict", "正品", run)
            wait_for(store, "#prizes", "再来一瓶", run)
            assert "广州" in store.inner_text("#scans"), store.inner_text("#scans")  # first scan: its city
            # The case went to GD-001, not to this store: a store sees only its own receipts.
            assert "未发往本门店" in store.inner_text("#path"), store.inner_text("#path")
            shot(store, "08-clerk-lookup")

            path = redeem_url[redeem_url.index("/dist/redeem/v/"):]
            second_tab = store.context.new_page()
            second_tab.goto(f"{site}{path}")  # open before the redemption: its button is still there
            store.goto(f"{site}{path}")
            shot(store, "09-clerk-voucher")
            with store.expect_navigation():
                store.click("#confirm-redeem")
            wait_for(store, "#redeem-verdict", "核销", run)
            shot(store, "10-clerk-redeemed")
            with second_tab.expect_navigation():
                second_tab.click("#confirm-redeem")
            refused = second_tab.inner_text("#redeem-verdict")
            assert "已" in refused and "核销" in refused, refused
            assert second_tab.locator("#redeem-verdict").get_attribute("data-reason") == "redeemed"
            shot(second_tab, "11-second-redemption-refused")
            wait_for(guangzhou, "main", "核销", run, seconds=15)  # the consumer's page polls its state
            shot(guangzhou, "12-consumer-redeemed")

            # 4. The brand operator closes today's period: the statement shows the redemption.
            desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN",
                                       timezone_id="Asia/Shanghai").new_page()
            sign_in(desk, site, DEMO_OPERATOR, operator_password)
            desk.goto(f"{site}/dist/settlement?brand=demo")
            with desk.expect_navigation():
                desk.click("#close-button")
            if desk.locator("#statement").count() == 0:
                desk.click("#statements a")
            assert desk.inner_text("#statement-lines").strip() == "1", desk.inner_text("main")
            assert "5.50" in desk.inner_text("#statement-total"), desk.inner_text("#statement-total")
            shot(desk, "13-operator-statement")
        finally:
            browser.close()
