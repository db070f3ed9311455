"""The settlement pages (/dist/settlement) and the API (/api/v1/channel): a redeemed voucher on the store's
ledger, the brand operator closing the period and settling the statement, the CSV, the reconciliation; and
the access matrix (another brand's or another distributor's statement is a 404; a seat that may not act,
a 403)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient

from tests.support.channel_world import ChannelWorld, add_distributor, add_seat_user, add_store, channel_world
from tests.support.voucher_world import api_token, brand_staff, publish_voucher_campaign, token, win_voucher
from tests.web.conftest import make_app
from tests.web.console_support import login
from tests.web.test_dist_redeem import clerk, confirm, csrf, text
from tests.web.test_receipts import drain

TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date().isoformat()


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[ChannelWorld]:
    w = channel_world(make_app(tmp_path))
    publish_voucher_campaign(w.app, "a", w.batch["a"])
    yield w


def redeemed(world: ChannelWorld, serial: int, email: str = "clerk@a.test") -> str:
    award_id = win_voucher(world, world.app.test_client(), "a", serial)
    drain(world.app)
    assert confirm(clerk(world.app, email), f"/dist/redeem/v/{token(world.app, award_id)}").status_code == 200
    return award_id


def operator(world: ChannelWorld, brand: str = "a", role: str = "operator") -> FlaskClient:
    client = world.app.test_client()
    login(client, brand_staff(world.app, brand, role))
    assert client.get(f"/dist?brand={brand}").status_code == 200
    return client


def close_today(client: FlaskClient) -> Any:
    page = text(client.get("/dist/settlement"))
    return client.post("/dist/settlement/close", data={"csrf_token": csrf(page), "period_start": TODAY,
                                                        "period_end": TODAY})


def test_the_ledger_the_statement_settled_and_its_csv(world: ChannelWorld) -> None:
    award_id = redeemed(world, 3)
    store = clerk(world.app)
    ledger = text(store.get("/dist/settlement"))
    assert 'id="owed">¥5.50' in ledger and f'data-source="{award_id}"' in ledger and "close-period" not in ledger

    boss = operator(world)
    closed = close_today(boss)
    assert closed.status_code == 302 and "/dist/settlement/statements/" in closed.headers["Location"]
    sid = int(closed.headers["Location"].rsplit("/", 1)[1])
    page = text(boss.get(f"/dist/settlement/statements/{sid}"))
    assert "门店 a" in page and "¥5.50" in page and f'data-source="{award_id}"' in page and "待结算" in page
    assert 'id="settle-button"' in page
    assert text(store.get("/dist/settlement")).count(f"/dist/settlement/statements/{sid}") == 1
    assert 'id="settle-button"' not in text(store.get(f"/dist/settlement/statements/{sid}"))

    settled = boss.post(f"/dist/settlement/statements/{sid}/settle", data={"csrf_token": csrf(page)})
    assert settled.status_code == 302
    after = text(boss.get(f"/dist/settlement/statements/{sid}"))
    assert "已结清" in after and 'id="settle-button"' not in after and "¥5.50" in after
    assert boss.post(f"/dist/settlement/statements/{sid}/settle", data={"csrf_token": csrf(page)}).status_code == 409

    exported = store.get(f"/dist/settlement/statements/{sid}.csv")
    assert exported.status_code == 200 and exported.mimetype == "text/csv"
    assert f"yima-statement-{sid}-{TODAY}-{TODAY}.csv" in exported.headers["Content-Disposition"]
    body = exported.get_data().decode("utf-8")
    assert body.startswith("\ufeff")
    table = list(csv.reader(io.StringIO(body[1:])))
    assert table[1][1] == "门店 a" and table[1][5] == award_id and table[-1][-1] == "5.50"

    summary = text(boss.get("/dist/settlement"))
    assert 'id="reconciliation"' in summary and "一致" in summary and 'id="recon-redeemed">1<' in summary


def test_a_clerk_may_not_close_or_settle(world: ChannelWorld) -> None:
    redeemed(world, 4)
    boss = operator(world)
    sid = int(close_today(boss).headers["Location"].rsplit("/", 1)[1])
    store = clerk(world.app)
    token_ = csrf(text(store.get("/dist/settlement")))
    assert store.post("/dist/settlement/close", data={"csrf_token": token_, "period_start": TODAY,
                                                      "period_end": TODAY}).status_code == 403
    assert store.post(f"/dist/settlement/statements/{sid}/settle", data={"csrf_token": token_}).status_code == 403
    analyst = operator(world, role="analyst")
    page = text(analyst.get("/dist/settlement"))
    assert "close-period" not in page and 'id="reconciliation"' in page
    assert analyst.post(f"/dist/settlement/statements/{sid}/settle", data={"csrf_token": csrf(page)}).status_code == 403


def test_other_brands_and_distributors_get_404(world: ChannelWorld) -> None:
    redeemed(world, 5)
    sid = int(close_today(operator(world)).headers["Location"].rsplit("/", 1)[1])
    other = add_distributor(world.app, "a", "A-P2", "另一经销商", ["45"])
    add_seat_user(world.app, "distributor2@a.test", "a", "distributor", distributor_id=other)
    elsewhere = add_store(world.app, "a", other, "别的门店")
    add_seat_user(world.app, "clerk3@a.test", "a", "clerk", store_id=elsewhere)
    for email in ("distributor@b.test", "clerk@b.test", "distributor2@a.test", "clerk3@a.test"):
        client = clerk(world.app, email)
        page = text(client.get("/dist/settlement"))
        for path in (f"/dist/settlement/statements/{sid}", f"/dist/settlement/statements/{sid}.csv"):
            assert client.get(path).status_code == 404, (email, path)
        assert client.post(f"/dist/settlement/statements/{sid}/settle",
                           data={"csrf_token": csrf(page)}).status_code == 404, email
    b_staff = operator(world, "b")
    assert b_staff.get(f"/dist/settlement/statements/{sid}").status_code == 404
    assert clerk(world.app, "distributor@a.test").get(f"/dist/settlement/statements/{sid}").status_code == 200
    waiter = clerk(world.app, "waiter@a.test")
    assert waiter.get("/dist/settlement").status_code == 403


def test_the_api_redeems_closes_settles_exports_and_reconciles(world: ChannelWorld) -> None:
    app = world.app
    client = app.test_client()
    award_id = win_voucher(world, client, "a", 6)
    drain(app)
    seat = api_token(app, "clerk@a.test", "a", "channel")
    url = f"https://q.demo.example/dist/redeem/v/{token(app, award_id)}"
    made = client.post("/api/v1/channel/redemptions", json={"token": url}, headers=seat)
    assert made.status_code == 201, made.get_json()
    assert made.get_json() | {"redeemed_at": "", "ledger_line_id": 0} == {
        "award_id": award_id, "store_id": world.store["a"], "store": "门店 a", "redeemed_at": "",
        "face_fen": 500, "rebate_fen": 50, "total_fen": 550, "ledger_line_id": 0}
    again = client.post("/api/v1/channel/redemptions", json={"token": url}, headers=seat)
    assert again.status_code == 409
    error = again.get_json()["error"]
    assert (error["code"], error["reason"], error["store"]) == ("redeem_refused", "redeemed", "门店 a")
    assert error["at"] == made.get_json()["redeemed_at"]
    listed = client.get("/api/v1/channel/redemptions", headers=seat).get_json()
    assert [r["award_id"] for r in listed["redemptions"]] == [award_id] and listed["next_before"] is None

    brand = api_token(app, brand_staff(app, "a"), "a", "operator")
    closed = client.post("/api/v1/channel/statements", json={"period_start": TODAY, "period_end": TODAY},
                         headers=brand)
    assert closed.status_code == 200, closed.get_json()
    [st] = closed.get_json()["statements"]
    assert (st["store"], st["lines"], st["total_fen"], st["state"]) == ("门店 a", 1, 550, "pending")
    assert client.post("/api/v1/channel/statements", json={"period_start": TODAY, "period_end": TODAY},
                       headers=brand).get_json()["statements"] == []  # idempotent
    one = client.get(f"/api/v1/channel/statements/{st['id']}", headers=seat).get_json()
    assert [i["source"] for i in one["items"]] == [award_id] and one["items"][0]["code"]
    assert client.get("/api/v1/channel/statements", headers=seat).get_json()["statements"][0]["id"] == st["id"]
    assert client.post(f"/api/v1/channel/statements/{st['id']}/settle", headers=seat).status_code == 403
    settled = client.post(f"/api/v1/channel/statements/{st['id']}/settle", headers=brand)
    assert settled.status_code == 200 and settled.get_json()["state"] == "settled"
    assert client.post(f"/api/v1/channel/statements/{st['id']}/settle", headers=brand).status_code == 409
    exported = client.get(f"/api/v1/channel/statements/{st['id']}.csv", headers=brand)
    assert exported.status_code == 200 and exported.get_data().startswith("\ufeff".encode())
    recon = client.get("/api/v1/channel/reconciliation", headers=brand).get_json()
    assert recon["ok"] and (recon["redemptions"], recon["settled_fen"]) == (1, 550)
    assert client.get("/api/v1/channel/reconciliation", headers=seat).status_code == 403

    other = api_token(app, brand_staff(app, "b"), "b", "operator")
    b_seat = api_token(app, "distributor@b.test", "b", "channel")
    for headers in (other, b_seat):
        for method, path in (("get", f"/api/v1/channel/statements/{st['id']}"),
                             ("get", f"/api/v1/channel/statements/{st['id']}.csv"),
                             ("post", f"/api/v1/channel/statements/{st['id']}/settle")):
            assert getattr(client, method)(path, headers=headers).status_code == 404, (path, headers)
        assert client.post("/api/v1/channel/redemptions", json={"token": url}, headers=headers).status_code == 404
    assert client.post("/api/v1/channel/redemptions", json={"token": url},
                       headers=api_token(app, "clerk@b.test", "b", "channel")).status_code == 404
    for bad in ({}, {"token": 5}, {"token": "x", "store": 1}, [1]):
        assert client.post("/api/v1/channel/redemptions", json=bad, headers=seat).status_code == 400, bad
    assert client.post("/api/v1/channel/statements", json={"period_start": "2027-3-1", "period_end": TODAY},
                       headers=brand).status_code == 400
    assert client.get("/api/v1/channel/statements?state=paid", headers=brand).status_code == 400
    assert client.get("/api/v1/channel/redemptions?before=nope", headers=seat).status_code == 400
