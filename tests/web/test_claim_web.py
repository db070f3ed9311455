"""领取 on the H5 page, against the fake WeChat server over HTTP: OAuth, the claim, the payout's states, the
refusals (another phone, another WeChat account, a void award) and WeChat's callbacks at /wechat/pay/notify."""

from __future__ import annotations

import dataclasses
import re
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select, update

from app.config import PayoutConfig
from app.fake_wechat.notifier import callback_body, signed_headers
from app.fake_wechat.server import FakeWechat
from app.fake_wechat.state import Bill
from app.payout_wiring import make_payout_engine
from app.runtime import ops_token
from app.seed import DemoInfo, seed_demo_campaign
from codegen.codeformat import Role, encode
from codegen.keys import load_keyring
from payouts.models import Payout, PayoutEvent, PointsEntry
from payouts.wechat_crypto import load_private_key
from rules.models import Award
from tests.support.fake_wechat import free_port
from tests.web.conftest import seeded_app
from tests.web.test_receipts import drain


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[tuple[Flask, DemoInfo, FakeWechat]]:
    """The demo (first scan always wins: a red packet 30 %, else 5 points) paying through a fake WeChat whose
    keys live in the app's var dir, as under `yima run`."""
    with FakeWechat(tmp_path, port=free_port(), persist=False) as fake:
        port = int(fake.base_url.rsplit(":", 1)[1])
        # `win` scans run after run of codes from one phone until one pays cash: the risk layer would (rightly)
        # stop that sweep; claims are what this file tests (the layer's own tests: test_risk_scans.py).
        app, info = seeded_app(tmp_path, payouts=dataclasses.replace(PayoutConfig(), fake_port=port), risk=False)
        seed_demo_campaign(app.extensions["yima.db"], app.extensions["yima.redis"], info.batch_id)
        yield app, info, fake


def code(app: Flask, info: DemoInfo, serial: int) -> str:
    key = load_keyring(app.config["YIMA"].keys_file).batch_key(1, info.batch_id)
    return encode(key, role=Role.INNER, key_id=1, batch_id=info.batch_id, serial=serial)


def win(app: Flask, info: DemoInfo, client: FlaskClient, kind: str, first: int = 0) -> tuple[str, str]:
    """Scan fresh demo codes from serial `first` on the page with `client` until one wins `kind`; (claim path,
    award id). The win is the phone's newest, so its receipt is among the few its cookie keeps."""
    for serial in range(first, first + 60):
        html = client.get(f"/q/{code(app, info, serial)}").get_data(as_text=True)
        link = re.search(r'href="(/claim/([^"]+))"', html)
        if link and (("现金红包" in html) == (kind == "cash")):
            return link.group(1), link.group(2)
    raise AssertionError(f"no {kind} prize in 60 first scans")


def sign_in_wechat(client: FlaskClient, path: str) -> FlaskClient:
    """Follow the claim page to WeChat's OAuth (the fake answers at once, a new openid per browser) and back."""
    resp = client.get(path)
    assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
    authorize = resp.headers["Location"].split("#", 1)[0]
    assert "/connect/oauth2/authorize?" in authorize and "scope=snsapi_base" in authorize

    class Stop(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    try:
        urllib.request.build_opener(Stop).open(authorize, timeout=5)
        raise AssertionError("the fake's authorize did not redirect")
    except urllib.error.HTTPError as exc:
        back = exc.headers["Location"]
        exc.close()
    parts = urlsplit(back)
    resp = client.get(f"{parts.path}?{parts.query}")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/claim/"), resp.status_code
    return client


def csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html[:1000]
    return found.group(1)


def csrf_for(app: Flask, client: FlaskClient) -> str:
    """A valid CSRF token for `client`'s session, as flask-wtf makes one (for a form the page does not offer)."""
    raw = "t" * 40
    with client.session_transaction() as session:
        session["csrf_token"] = raw
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(raw)


def claim(client: FlaskClient, path: str, **extra: str) -> Any:
    page = client.get(path + (f"?r={extra['r']}" if "r" in extra else ""))
    assert page.status_code == 200, page.get_data(as_text=True)[:800]
    return client.post(path, data={"csrf_token": csrf(page.get_data(as_text=True)), **extra})


def test_a_cash_prize_is_claimed_paid_and_confirmed(world: tuple[Flask, DemoInfo, FakeWechat]) -> None:
    app, info, fake = world
    phone = app.test_client()
    path, award_id = win(app, info, phone, "cash")
    drain(app)
    sign_in_wechat(phone, path)
    resp = claim(phone, path)
    assert resp.status_code == 303
    page = phone.get(path).get_data(as_text=True)
    assert "处理中" in page and 'hx-trigger="every 2s"' in page  # the page polls while the payout moves

    engine = make_payout_engine(app.config["YIMA"], sessions=app.extensions["yima.db"].sessions,
                                redis_client=app.extensions["yima.redis"],
                                provider=app.extensions["yima.payouts"].provider)
    try:
        engine.sweep()
        with app.extensions["yima.db"].sessions() as s:
            payout = s.scalars(select(Payout).where(Payout.award_id == award_id)).one()
        assert payout.state == "awaiting_user" and payout.package_info
        state = phone.get(path + "/state").get_data(as_text=True)
        assert "待确认收款" in state and 'id="confirm-button"' in state
        assert f"{fake.base_url}/fake/confirm?package=" in state  # the fake's page stands in for WeChat's sheet
        assert [b["out_bill_no"] for b in fake.bills()] == [payout.bill_no]

        # The consumer confirms; WeChat's callback (replayed here from the fake's record, signed afresh).
        assert fake.confirm(payout.bill_no)
        keys = fake.keys
        body = callback_body(Bill(**fake.bill(payout.bill_no)), keys.mchid, keys.apiv3_key)
        key = load_private_key(keys.platform_key_file)
        notify = app.test_client()

        tampered = body.replace('"ciphertext": "', '"ciphertext": "A')
        assert tampered != body
        refused = notify.post("/wechat/pay/notify", data=tampered, content_type="application/json",
                              headers=signed_headers(key, keys.platform_key_id, body))
        assert refused.status_code == 401 and refused.get_json()["code"] == "FAIL"
        for _ in range(2):  # WeChat sends duplicates: one state change
            ok = notify.post("/wechat/pay/notify", data=body, content_type="application/json",
                             headers=signed_headers(key, keys.platform_key_id, body))
            assert ok.status_code == 200 and ok.get_json()["code"] == "SUCCESS"
        with app.extensions["yima.db"].sessions() as s:
            events = s.scalars(select(PayoutEvent.to_state).where(PayoutEvent.payout_id == payout.id)).all()
        assert events.count("succeeded") == 1, events
        paid = phone.get(path).get_data(as_text=True)
        assert "已到账" in paid and "every 2s" not in paid
    finally:
        engine.close()


def test_another_phone_or_another_wechat_account_cannot_claim(world: tuple[Flask, DemoInfo, FakeWechat]) -> None:
    app, info, _fake = world
    phone = app.test_client()
    path, _award_id = win(app, info, phone, "cash")
    drain(app)

    # Another phone, without the receipt the winner's cookie holds.
    thief = app.test_client()
    resp = thief.get(path)
    assert resp.status_code == 403 and "请用扫码中奖的手机领取" in resp.get_data(as_text=True)
    assert thief.post(path, data={}).status_code in (400, 403)  # no CSRF token, no receipt

    # The winner claims; the claim link carrying the receipt (for opening in WeChat) then reaches another
    # WeChat account: refused, truthfully.
    sign_in_wechat(phone, path)
    assert claim(phone, path).status_code == 303
    cookie = phone.get_cookie("yima_rc")
    assert cookie is not None
    token = cookie.value.split("~")[0].split(":", 1)[1]  # "CODE:receipt" entries, newest first
    other = app.test_client()
    sign_in_wechat(other, f"{path}?r={token}")
    page = other.get(f"{path}?r={token}").get_data(as_text=True)
    assert "此奖品已被领取" in page and 'id="claim-button"' not in page
    resp = other.post(path, data={"csrf_token": csrf_for(app, other), "r": token})  # forced anyway
    assert resp.status_code == 409 and "已被其他微信账户领取" in resp.get_data(as_text=True)
    with app.extensions["yima.db"].sessions() as s:
        assert s.scalar(select(Payout.openid)) is not None
        assert len(s.scalars(select(Payout)).all()) == 1


def test_a_void_award_is_refused_and_points_reach_the_ledger(world: tuple[Flask, DemoInfo, FakeWechat]) -> None:
    app, info, _fake = world
    phone, other_phone = app.test_client(), app.test_client()
    cash_path, cash_id = win(app, info, phone, "cash")
    points_path, points_id = win(app, info, other_phone, "points", first=100)
    drain(app)
    with app.extensions["yima.db"].sessions.begin() as s:
        s.execute(update(Award).where(Award.id == cash_id).values(status=Award.VOID, void_reason="test: over budget"))
    sign_in_wechat(phone, cash_path)
    resp = claim(phone, cash_path)
    assert resp.status_code == 409 and "不予发放" in resp.get_data(as_text=True)

    sign_in_wechat(other_phone, points_path)
    assert claim(other_phone, points_path).status_code == 303
    page = other_phone.get(points_path).get_data(as_text=True)
    assert "积分已到账" in page and "当前积分余额：5" in page
    with app.extensions["yima.db"].sessions() as s:
        assert s.scalars(select(Payout)).all() == []
        entry = s.scalars(select(PointsEntry)).one()
    assert (entry.award_id, entry.delta, entry.balance) == (points_id, 5, 5)

    # The ledger in the ops API: balance and history of that member (the consumer's openid).
    token = {"Authorization": f"Bearer {ops_token(app.config['YIMA'])}"}
    api = app.test_client()
    body = api.get(f"/api/v1/points?brand=demo&member={entry.member}", headers=token).get_json()
    assert body["balance"] == 5 and [(h["delta"], h["award_id"]) for h in body["history"]] == [(5, points_id)]
    assert api.get("/api/v1/points?brand=demo&member=bad%00id", headers=token).status_code == 400
    assert api.get(f"/api/v1/points?brand=demo&member={entry.member}").status_code == 401
