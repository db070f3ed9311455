"""Issue 10's "Done means", end to end on what `make run` starts, in Debian Chromium.

An operator signs in with the credentials `yima run` prints, creates the Guangdong campaign of docs/rules.md
through the form (makes a mistake, sees it at its field, fixes it), simulates it, activates it, reads the
diff and publishes; a scan through the API shows up with its win on the open dashboard; an analyst sees the
same pages without a publish button and a forced POST gets 403; brand B's operator gets 404 for brand A's
campaign by page and by API (a personal token made on the account page); a POST without the CSRF token gets
400. Users and brand B are made with the CLI, as the README tells a new user to. Screenshots:
test-artifacts/console-done/.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from codegen import keys
from codegen.codeformat import Role, encode, parse
from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, REPO_ROOT, DemoUrls, YimaRun, sign_in

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

from tests.web.test_campaign_browser import NOON_TOMORROW, fill_guangdong  # noqa: E402  (after the skips: it needs playwright)

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "test-artifacts" / "console-done"
PASSWORD = "another long password"
DESK: dict[str, Any] = {"viewport": {"width": 1280, "height": 900}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}


@pytest.fixture(scope="module")
def yima() -> Iterator[tuple[YimaRun, DemoUrls]]:
    run = YimaRun()
    try:
        yield run, run.start()
    finally:
        run.stop()


def cli(run: YimaRun, *args: str, stdin: str = "") -> str:
    """A `yima`/`codegen` command against the running install's var/, as a user types it."""
    bindir = REPO_ROOT / ".venv" / "bin"
    done = subprocess.run([str(bindir / args[0]), *args[1:]], input=stdin, capture_output=True, text=True,
                          env=run.env(), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def api(site: str, method: str, path: str, token: str | None = None, body: Any = None) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(site + path, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"null")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def figure(page: Any, name: str) -> int:
    return int(page.inner_text(f'#live [data-figure="{name}"] .value').strip().replace(",", ""))


def test_done_means(yima: tuple[YimaRun, DemoUrls]) -> None:
    run, urls = yima
    site = run.site
    found = re.search(r"sign in as (\S+), password (\S+)", run.output())
    assert found, run.output()
    operator, operator_password = found.groups()
    batch_id = parse(urlsplit(urls.inner).path.rsplit("/", 1)[1])[0].batch_id
    cli(run, "yima", "user", "add", "analyst@demo.example", "--brand", "demo", "--role", "analyst",
        "--password-stdin", stdin=PASSWORD + "\n")
    cli(run, "codegen", "brand", "add", "rival", "--name", "对手饮料 Rival Drinks")
    cli(run, "yima", "user", "add", "op@rival.example", "--brand", "rival", "--role", "operator",
        "--password-stdin", stdin=PASSWORD + "\n")
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            desk = browser.new_context(**DESK)
            page = desk.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(page, site, operator, operator_password)

            # The campaign, through the form: a mistake first, shown at its field, then fixed.
            page.goto(f"{site}/ops/campaigns/new")
            fill_guangdong(page, batch_id, total="500", daily=("", ""))  # all day: the scan below is "now"
            page.click("button[value=save]")
            page.wait_for_selector("#problems")
            assert "最坏情况" in page.locator("label.invalid:has(input[name=budget_yuan]) .field-error").inner_text()
            shot(page, "1-editor-error-1280")
            page.locator(".prize-row input[name=prize_total]").fill("50")
            page.click("button[value=save]")
            page.wait_for_url(re.compile(r".*/ops/campaigns/\d+$"))
            campaign_url = page.url
            campaign_id = int(campaign_url.rsplit("/", 1)[1])

            # Simulated at noon in Nanshan: a red packet 60 %, 谢谢参与 40 %.
            page.click("text=模拟扫码")
            page.wait_for_url("**/simulate?campaign=*")
            page.fill("input[name=adcode]", "440305")
            page.fill("input[name=at]", NOON_TOMORROW)
            page.click("button:has-text('模拟')")
            page.wait_for_selector("table.verdicts")
            verdict = page.locator("table.verdicts tr.hit").inner_text()
            assert "广东首扫必中" in verdict and "60 %" in verdict and "40 %" in verdict
            shot(page, "2-simulate-1280")

            page.goto(campaign_url)
            page.click("a:has-text('激活')")
            page.click("button:has-text('确认')")
            page.wait_for_url(campaign_url)
            assert "进行中" in page.locator("h1").inner_text()

            # The diff against the live version, then publish.
            page.goto(f"{site}/ops/publish?brand=demo")
            assert page.locator("h3", has_text="广东首扫必中").is_visible()
            shot(page, "3-publish-diff-1280")
            page.fill("input[name=note]", "广东首扫必中上线")
            page.click("button:has-text('发布')")
            page.wait_for_selector(".flash.ok")
            assert "已发布版本" in page.locator(".flash.ok").inner_text()
            status, versions = api(site, "GET", "/api/v1/rules/versions", (run.var_dir / "ops_token").read_text())
            assert status == 200 and versions["versions"][0]["note"] == "广东首扫必中上线"

            # A scan through the public API, and its win on the open dashboard (no reload).
            page.goto(f"{site}/ops/dashboard/?brand=demo&days=1")
            wins_before = figure(page, "wins")
            # The campaign pays a red packet 60 % of the time and 谢谢参与 (no award) otherwise: first scans of
            # the batch's codes until one wins, so the dashboard has a win to show.
            fields = parse(urlsplit(urls.inner).path.rsplit("/", 1)[1])[0]
            batch_key = keys.load_keyring(run.var_dir / "keys.json").batch_key(fields.key_id, fields.batch_id)
            for serial in range(40):
                code = encode(batch_key, role=Role.INNER, key_id=fields.key_id, batch_id=fields.batch_id, serial=serial)
                status, scan = api(site, "POST", "/api/v1/scans", body={"code": code, "adcode": "440305"})
                assert status == 200 and scan["status"] == "first", scan
                assert scan["reward"][0]["outcome"] in ("won", "consolation"), scan
                if scan["reward"][0]["outcome"] == "won":
                    break
            else:
                raise AssertionError("no red packet in 40 first scans of a campaign that pays one 60 % of the time")
            sent = time.monotonic()
            while figure(page, "wins") == wins_before:
                assert time.monotonic() - sent < 60, (
                    page.inner_text("#live")[:300] + "\n--- yima run ---\n" + run.output()[-6000:])
                time.sleep(0.2)
            print(f"\nscan → dashboard win: {time.monotonic() - sent:.1f} s")
            shot(page, "4-dashboard-1280")

            # No CSRF token: 400, and nothing happened.
            bare = page.request.post(f"{site}/ops/publish", form={"brand": "demo", "note": "no token"})
            assert bare.status == 400
            desk.close()

            # The analyst: the same pages, no publish button; a forced POST (with a valid token) is 403.
            phone = browser.new_context(**PHONE)
            mobile = phone.new_page()
            mobile.on("pageerror", lambda exc: errors.append(str(exc)))
            sign_in(mobile, site, "analyst@demo.example", PASSWORD)
            mobile.goto(f"{site}/ops/publish?brand=demo")
            assert mobile.locator("form.publish-form").count() == 0
            assert mobile.locator("button:has-text('发布')").count() == 0
            assert mobile.evaluate("document.documentElement.scrollWidth") <= 390
            shot(mobile, "5-analyst-publish-390")
            token = re.search(r'name="csrf_token" value="([^"]+)"', mobile.content())
            assert token, "the analyst's pages carry a CSRF token (the sign-out form)"
            forced = mobile.request.post(f"{site}/ops/publish",
                                         form={"brand": "demo", "note": "forced", "csrf_token": token.group(1)})
            assert forced.status == 403
            mobile.goto(campaign_url)
            assert "广东首扫必中" in mobile.locator("h1").inner_text()
            assert mobile.locator("a:has-text('编辑'), a:has-text('激活')").count() == 0
            shot(mobile, "6-analyst-campaign-390")
            phone.close()

            # Brand B's operator: A's campaign is a 404 by page and by API.
            rival = browser.new_context(**DESK)
            other = rival.new_page()
            sign_in(other, site, "op@rival.example", PASSWORD)
            assert other.goto(campaign_url).status == 404  # type: ignore[union-attr]
            assert other.goto(f"{campaign_url}/edit").status == 404  # type: ignore[union-attr]
            other.goto(f"{site}/ops/account")
            other.fill("#token-form input[name=name]", "rival script")
            other.fill("#token-form input[name=days]", "7")
            other.click("#token-form button[type=submit]")
            secret = other.input_value("#new-token-secret")
            assert secret.startswith("yima_pat_")
            for method, path, body in (("GET", f"/api/v1/campaigns/{campaign_id}", None),
                                       ("POST", f"/api/v1/campaigns/{campaign_id}/status", {"status": "paused"})):
                status, answer = api(site, method, path, secret, body)
                assert status == 404, answer
            status, listing = api(site, "GET", "/api/v1/campaigns", secret)
            assert status == 200 and listing["campaigns"] == []
            rival.close()
        finally:
            browser.close()
    assert errors == []
