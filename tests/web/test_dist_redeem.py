"""核销 on the phone pages, with vouchers won on the real scan page and drained into SQL: the consumer's QR
(scan page and claim page), the clerk's voucher page and 确认核销, the refusals in words, and who sees what
(a seat of another brand gets 404, a seat that may not redeem 403)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.channel_world import ChannelWorld, add_seat_user, add_store, channel_world, sign
from tests.support.voucher_world import publish_voucher_campaign, token, win_voucher
from tests.web.conftest import make_app
from tests.web.console_support import login
from tests.web.test_receipts import drain


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[ChannelWorld]:
    w = channel_world(make_app(tmp_path))
    publish_voucher_campaign(w.app, "a", w.batch["a"])
    publish_voucher_campaign(w.app, "b", w.batch["b"])
    yield w


def clerk(app: Flask, email: str = "clerk@a.test") -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:1500]
    return found.group(1)


def confirm(client: FlaskClient, path: str) -> Any:
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True))})


def text(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def _code(world: ChannelWorld, serial: int) -> str:
    return sign(world.app, world.batch["a"], serial)


def test_a_consumer_shows_the_qr_and_a_clerk_redeems_it_once(world: ChannelWorld) -> None:
    app, phone = world.app, world.app.test_client()
    award_id = win_voucher(world, phone, "a", 3)
    scan = text(phone.get(f"/q/{_code(world, 3)}"))  # the same phone again: the prize and its QR are shown
    assert "到店出示此码核销" in scan and '<svg xmlns="http://www.w3.org/2000/svg" class="voucher-qr"' in scan
    path = f"/dist/redeem/v/{token(app, award_id)}"
    assert f'hx-get="{path}/panel?lang=zh"' in scan and 'hx-trigger="load, every 5s"' in scan
    assert "style=" not in scan.split('id="reward"', 1)[1]  # nothing the CSP would refuse
    # The voucher is the winning phone's: another phone scanning the same cap gets no QR.
    assert "voucher-qr" not in text(app.test_client().get(f"/q/{_code(world, 3)}"))
    drain(app)

    panel = text(phone.get(f"{path}/panel"))
    assert 'data-state="redeemable"' in panel and 'hx-trigger="every 5s"' in panel and "voucher-qr" in panel
    claim = text(phone.get(f"/claim/{award_id}"))
    assert "到店出示此码核销" in claim and 'data-state="redeemable"' in claim

    desk = clerk(app)
    page = text(desk.get(path))
    assert "再来一瓶" in page and "¥5.00" in page and _code(world, 3) in page and 'id="confirm-redeem"' in page
    done = confirm(desk, path)
    assert done.status_code == 200 and "核销成功" in text(done) and "+¥5.50" in text(done)
    assert 'id="confirm-redeem"' not in text(desk.get(path))

    again = desk.post(path, data={"csrf_token": csrf(page)})
    assert again.status_code == 409
    assert re.search(r"已被核销：门店 a \d{4}-\d\d-\d\d \d\d:\d\d", text(again)), text(again)[:1500]

    after = text(phone.get(f"{path}/panel"))
    assert re.search(r"已于 \d{4}-\d\d-\d\d \d\d:\d\d 在 门店 a 核销", after) and "hx-get" not in after
    assert "voucher-qr" not in after
    assert "已于" in text(phone.get(f"/claim/{award_id}"))
    english = text(phone.get(f"{path}/panel?lang=en"))
    assert "Redeemed at 门店 a on" in english


def test_a_second_store_is_told_where_and_when(world: ChannelWorld) -> None:
    app = world.app
    other = add_store(app, "a", world.sub_distributor["a"], "门店 乙")
    add_seat_user(app, "clerk2@a.test", "a", "clerk", store_id=other)
    award_id = win_voucher(world, app.test_client(), "a", 4)
    drain(app)
    path = f"/dist/redeem/v/{token(app, award_id)}"
    first, second = clerk(app), clerk(app, "clerk2@a.test")
    page = text(second.get(path))  # opened before the first store redeems
    assert confirm(first, path).status_code == 200
    refused = second.post(path, data={"csrf_token": csrf(page)})
    assert refused.status_code == 409 and 'data-reason="redeemed"' in text(refused)
    assert "已被核销：门店 a" in text(refused) and "不能再次核销" in text(refused)


def test_an_award_still_on_its_way_to_sql_says_try_again(world: ChannelWorld) -> None:
    app = world.app
    award_id = win_voucher(world, app.test_client(), "a", 5)  # not drained yet
    path = f"/dist/redeem/v/{token(app, award_id)}"
    desk = clerk(app)
    assert "入账中" in text(desk.get(path))
    refused = desk.post(path, data={"csrf_token": csrf(text(desk.get("/dist/redeem")))})
    assert refused.status_code == 409 and "请几秒后再试" in text(refused) and "再试一次" in text(refused)
    drain(app)
    assert "核销成功" in text(confirm(desk, path))


def test_an_unregistered_store_is_told_to_scan_a_case_first(world: ChannelWorld) -> None:
    app = world.app
    fresh = add_store(app, "a", world.sub_distributor["a"], "新店", registered=False)
    add_seat_user(app, "new@a.test", "a", "clerk", store_id=fresh)
    award_id = win_voucher(world, app.test_client(), "a", 6)
    drain(app)
    refused = confirm(clerk(app, "new@a.test"), f"/dist/redeem/v/{token(app, award_id)}")
    assert refused.status_code == 409 and "本店尚未登记" in text(refused) and "开箱" in text(refused)


def test_who_sees_and_who_redeems(world: ChannelWorld) -> None:
    app = world.app
    award_id = win_voucher(world, app.test_client(), "a", 7)
    drain(app)
    path = f"/dist/redeem/v/{token(app, award_id)}"
    for email in ("distributor@a.test", "waiter@a.test", "inspector@a.test"):
        desk = clerk(app, email)
        page = text(desk.get(path))
        assert "再来一瓶" in page and 'id="confirm-redeem"' not in page and "只读" in page
        assert desk.post(path, data={"csrf_token": csrf(page)}).status_code == 403
    for email in ("clerk@b.test", "distributor@b.test"):
        desk = clerk(app, email)
        assert desk.get(path).status_code == 404
        assert desk.post(path, data={"csrf_token": csrf(text(desk.get("/dist/redeem")))}).status_code == 404
    forged = path[:-1] + ("A" if path[-1] != "A" else "B")
    assert clerk(app).get(forged).status_code == 404 and app.test_client().get(forged).status_code == 404
    assert app.test_client().get(f"{forged}/panel").status_code == 404

    anonymous = app.test_client().get(path)  # the consumer opens their own QR
    assert anonymous.status_code == 200 and "请到门店出示此码" in text(anonymous)
    assert "/ops/login?next=" in text(anonymous) and 'id="confirm-redeem"' not in text(anonymous)
    assert app.test_client().post(path).status_code in (302, 400)  # no redemption without a signed-in clerk


def test_the_scan_box_takes_a_url_or_a_token(world: ChannelWorld) -> None:
    app = world.app
    desk = clerk(app)
    page = text(desk.get("/dist/redeem"))
    assert "data-scan-form" in page and 'name="q"' in page and "dist_scan.js" in page
    tok = token(app, f"{world.batch['a']}-1773108000000-1")
    for typed in (tok, f"https://q.demo.example/dist/redeem/v/{tok}", f"  {tok}  "):
        resp = desk.get("/dist/redeem/go", query_string={"q": typed})
        assert resp.status_code == 302 and resp.headers["Location"].endswith(f"/dist/redeem/v/{tok}")
    assert desk.get("/dist/redeem/go?q=").headers["Location"].endswith("/dist/redeem")
    assert app.test_client().get("/dist/redeem").status_code == 302  # sign in first
