"""Location before the draw in Debian Chromium, phone-sized (390 px), on a Guangdong-only 首扫 campaign.

The app is served by werkzeug on a port of this test's own; the client address comes through
X-Forwarded-For (YIMA_TRUSTED_PROXIES=1), set to a Chengdu address so the IP places every phone outside
Guangdong and only the location decides. (a) A phone that shares a location in Guangzhou wins. (b) A phone
that refuses is told the campaign's region, that nothing was drawn and the code is not spent; (c) the same
phone then allows location, taps retry and wins. Screenshots: test-artifacts/location/.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from app.seed import DemoInfo
from codegen import keys
from codegen.codeformat import Role, encode, parse
from tests.web.browser_support import CHROMIUM, CHROMIUM_ARGS, PHONE, REPO_ROOT, serve_app
from tests.web.conftest import seeded_app
from tests.web.test_location_web import CHENGDU_IP, guangdong_campaign, publish

sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright")
if not CHROMIUM.exists():
    pytest.skip(f"the browser test needs Chromium at {CHROMIUM}", allow_module_level=True)

pytestmark = pytest.mark.slow
ARTIFACTS = REPO_ROOT / "test-artifacts" / "location"
GUANGZHOU = {"latitude": 23.1291, "longitude": 113.2644}


def second_code(info: DemoInfo, keys_file: Path) -> str:
    """Another inner code of the demo batch (the demo URL is serial 0)."""
    fields, _ = parse(info.inner_url.rsplit("/", 1)[1])
    key = keys.load_keyring(keys_file).batch_key(fields.key_id, fields.batch_id)
    return encode(key, role=Role.INNER, key_id=fields.key_id, batch_id=fields.batch_id, serial=1)


@pytest.fixture
def site(tmp_path: Path, redis_client: Any) -> Iterator[tuple[str, DemoInfo, str]]:
    app, info = seeded_app(tmp_path, trusted_proxies=1)
    publish(app, guangdong_campaign(info.batch_id))
    with serve_app(app) as url:  # a port the OS picks: werkzeug exits, not raises, on a taken one
        yield url, info, second_code(info, tmp_path / "keys.json")


def local(site: str, url: str) -> str:
    return site + "/q/" + url.rsplit("/", 1)[-1]


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_location_granted_wins_refused_is_not_spent_and_a_retry_wins(site: tuple[str, DemoInfo, str]) -> None:
    base, info, other_code = site
    headers = {"X-Forwarded-For": CHENGDU_IP}
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            # (a) location granted, in Guangzhou: the held draw is made and wins.
            granted = browser.new_context(**PHONE, geolocation=GUANGZHOU, permissions=["geolocation"],
                                          extra_http_headers=headers)
            page = granted.new_page()
            page.goto(local(base, info.inner_url))
            page.wait_for_selector("#reward .outcome-won", timeout=15_000)
            text = page.inner_text("#reward")
            assert "恭喜您获得" in text and "¥1.88" in text, text
            assert "首次扫码" in page.inner_text("#scan-state")
            shot(page, "a-granted-wins")
            granted.close()

            # (b) location refused, the address in Chengdu: told truthfully, nothing drawn, not spent.
            refused = browser.new_context(**PHONE, extra_http_headers=headers)
            page = refused.new_page()
            page.goto(local(base, other_code))
            page.wait_for_selector("#locate-outside", timeout=15_000)
            text = page.inner_text("#reward")
            assert "活动仅限广东省参与" in text and "按网络判断：成都市" in text and "此码未被消耗" in text, text
            assert "恭喜" not in text
            shot(page, "b-refused-not-spent")

            # (c) the same phone allows location and taps retry: it wins.
            refused.grant_permissions(["geolocation"], origin=base)
            refused.set_geolocation(GUANGZHOU)
            page.click("#locate-button")
            page.wait_for_selector("#reward .outcome-won", timeout=15_000)
            text = page.inner_text("#reward")
            assert "恭喜您获得" in text and "¥1.88" in text, text
            shot(page, "c-retry-wins")

            # And a reload from the first phone's code on this phone hears the truth, not "no campaign".
            page.goto(local(base, info.inner_url))
            text = page.inner_text("#reward")
            assert "此码已中奖，奖品已被抽取" in text and "暂无进行中的活动" not in text, text
            assert "广州市" in page.inner_text("#scan-state")  # the first scan's place, by its phone's location
            shot(page, "d-other-phone-told-won")
            refused.close()
        finally:
            browser.close()
