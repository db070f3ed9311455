"""出库 / 入库 on the phone pages (/dist/shipments) and through the API (/api/v1/channel), on the real app:
the scan page's htmx answers, ship, receive, undo; the bulk upload as JSON, text and CSV, a bad line refusing
the whole upload, the 8 MiB bound of that one route; scope (404 / 403) on pages and API alike."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.tokens import issue_token
from accounts.users import get_user, user_by_email
from app.openapi import OPENAPI
from app.shipments_api import BULK_MAX_BYTES
from channel.models import ChannelFlag, Shipment
from codegen.codeformat import Role
from codegen.db import transaction
from tests.support.channel_world import ChannelWorld, add_distributor, case_code, channel_world, sign
from tests.web.conftest import make_app
from tests.web.console_support import add_user, csrf_token, login

API = "/api/v1/channel"


@pytest.fixture
def world(tmp_path: Path, redis_client) -> ChannelWorld:  # type: ignore[no-untyped-def]
    return channel_world(make_app(tmp_path))


def seat_token(world: ChannelWorld, brand: str, kind: str) -> dict[str, str]:
    with transaction(world.app.extensions["yima.db"].sessions) as s:
        user = get_user(s, user_by_email(s, world.users[(brand, kind)]).id)  # type: ignore[union-attr]
        _, secret = issue_token(s, user, user.seat.brand_id, "channel", "pda", 30)  # type: ignore[union-attr]
    return {"Authorization": f"Bearer {secret}"}


def signed_in(world: ChannelWorld, brand: str, kind: str) -> FlaskClient:
    client = world.app.test_client()
    login(client, world.users[(brand, kind)])
    return client


def post(client: FlaskClient, path: str, data: dict[str, Any] | None = None, **kw: Any) -> Any:
    return client.post(path, data={**(data or {}), "csrf_token": csrf_token(client, "/dist")}, **kw)


def new_shipment(client: FlaskClient, to: str) -> int:
    resp = post(client, "/dist/shipments/new", {"to": to, "reference": "SO-9"})
    assert resp.status_code == 302, resp.get_data(as_text=True)[:800]
    return int(resp.headers["Location"].rsplit("/", 1)[1])


def hx_scan(client: FlaskClient, sid: int, code: str) -> str:
    resp = post(client, f"/dist/shipments/{sid}/scan", {"code": code}, headers={"HX-Request": "true"})
    assert resp.status_code == 200
    return resp.get_data(as_text=True)


def test_the_warehouse_scans_ships_and_the_distributor_receives(world: ChannelWorld) -> None:
    wh = signed_in(world, "a", "warehouse")
    assert "扫码出库" in wh.get("/dist").get_data(as_text=True)
    form = wh.get("/dist/shipments/new").get_data(as_text=True)
    assert "省级经销商 a" in form and "门店 a" not in form  # the warehouse ships to distributors
    sid = new_shipment(wh, f"d:{world.distributor['a']}")
    page = wh.get(f"/dist/shipments/{sid}").get_data(as_text=True)
    assert "data-scan-form" in page and "autofocus" in page and "确认出库" in page
    first = hx_scan(wh, sid, case_code(world.app, world.batch["a"], 0))
    assert re.search(r'id="tally-cases">1<', first) and "已录入" in first and "<html" not in first
    again = hx_scan(wh, sid, case_code(world.app, world.batch["a"], 0))
    assert "已扫过" in again and re.search(r'id="tally-cases">1<', again)
    item = hx_scan(wh, sid, sign(world.app, world.batch["a"], 5, Role.INNER))
    assert "这是单品码，请扫箱码" in item and re.search(r'id="tally-cases">1<', item)
    hx_scan(wh, sid, "https://q.demo.example/q/" + case_code(world.app, world.batch["a"], 1))
    plain = post(wh, f"/dist/shipments/{sid}/scan", {"code": case_code(world.app, world.batch["a"], 2)})
    assert plain.status_code == 302  # without htmx: a plain form post, then the page again
    shipped = post(wh, f"/dist/shipments/{sid}/ship", follow_redirects=True).get_data(as_text=True)
    assert "已出库：3 箱，72 件" in shipped and "待入库" in shipped
    dist = signed_in(world, "a", "distributor")
    inbox = dist.get("/dist/shipments/inbox").get_data(as_text=True)
    assert f"#{sid}" in inbox
    detail = dist.get(f"/dist/shipments/{sid}").get_data(as_text=True)
    assert "确认入库" in detail and "0–2" in detail and "LOT-a" in detail
    got = post(dist, f"/dist/shipments/{sid}/receive", follow_redirects=True).get_data(as_text=True)
    assert "已确认入库：3 箱，72 件" in got and "已入库" in got
    assert f"#{sid}" not in dist.get("/dist/shipments/inbox").get_data(as_text=True)
    refused = post(wh, f"/dist/shipments/{sid}/undo", {"reason": "wrong"}, follow_redirects=True)
    assert "已入库：不能撤销" in refused.get_data(as_text=True)
    listed = dist.get("/dist/shipments?direction=received").get_data(as_text=True)
    assert f"#{sid}" in listed
    english = dist.get(f"/dist/shipments/{sid}?lang=en").get_data(as_text=True)
    assert "Brand warehouse" in english and "Received" in english and "Case ranges" in english


def test_double_shipping_warns_on_the_scan_page_and_undo_asks_why(world: ChannelWorld) -> None:
    other = add_distributor(world.app, "a", "A-P2", "省级经销商 福建", ["35"])
    wh = signed_in(world, "a", "warehouse")
    code = case_code(world.app, world.batch["a"], 4)
    first = new_shipment(wh, f"d:{world.distributor['a']}")
    hx_scan(wh, first, code)
    post(wh, f"/dist/shipments/{first}/ship")
    second = new_shipment(wh, f"d:{other}")
    warned = hx_scan(wh, second, code)
    assert f"此箱已在出库单 #{first} 中：发往 省级经销商 a" in warned
    post(wh, f"/dist/shipments/{second}/ship")
    detail = wh.get(f"/dist/shipments/{second}").get_data(as_text=True)
    assert "重复发货" in detail and f"#{first}" in detail
    no_reason = post(wh, f"/dist/shipments/{second}/undo", {"reason": ""}, follow_redirects=True)
    assert "请填写撤销原因" in no_reason.get_data(as_text=True)
    undone = post(wh, f"/dist/shipments/{second}/undo", {"reason": "装错车"}, follow_redirects=True)
    assert "已撤销" in undone.get_data(as_text=True) and "装错车" in undone.get_data(as_text=True)


def test_pages_answer_404_outside_the_scope_and_403_where_the_seat_may_not_act(world: ChannelWorld) -> None:
    wh = signed_in(world, "a", "warehouse")
    sid = new_shipment(wh, f"d:{world.distributor['a']}")
    hx_scan(wh, sid, case_code(world.app, world.batch["a"], 0))
    post(wh, f"/dist/shipments/{sid}/ship")
    for brand, kind in [("b", "warehouse"), ("b", "distributor"), ("a", "clerk")]:
        client = signed_in(world, brand, kind)
        assert client.get(f"/dist/shipments/{sid}").status_code == 404, (brand, kind)
        assert post(client, f"/dist/shipments/{sid}/receive").status_code == 404
        assert post(client, f"/dist/shipments/{sid}/undo", {"reason": "x"}).status_code == 404
    inspector = signed_in(world, "a", "inspector")
    assert inspector.get(f"/dist/shipments/{sid}").status_code == 200
    assert post(inspector, f"/dist/shipments/{sid}/receive").status_code == 403
    assert inspector.get("/dist/shipments/new").status_code == 403
    assert post(signed_in(world, "a", "distributor"), f"/dist/shipments/{sid}/undo", {"reason": "x"}).status_code == 403
    assert wh.get("/dist/shipments/99999999999").status_code == 404
    assert post(wh, "/dist/shipments/new", {"to": f"d:{world.distributor['b']}"}).status_code == 404
    assert signed_in(world, "a", "waiter").get("/dist/shipments/new").status_code == 403


# --- the API -------------------------------------------------------------------------------------------------

def conforms(resp: Any, path: str, method: str = "get") -> Any:
    """The response's JSON, held to its OpenAPI schema (schemathesis meets these routes mostly with made-up
    brands and ids, so the bodies of real shipments are checked here)."""
    op = OPENAPI["paths"][f"/api/v1/channel{path}"][method]
    schema = op["responses"][str(resp.status_code)]["content"]["application/json"]["schema"]
    jsonschema.Draft202012Validator({**schema, "components": OPENAPI["components"]}).validate(resp.get_json())
    return resp.get_json()


def codes(world: ChannelWorld, n: int, brand: str = "a") -> list[str]:
    return [case_code(world.app, world.batch[brand], c) for c in range(n)]


def test_bulk_json_ships_and_the_receiver_confirms_through_the_api(world: ChannelWorld) -> None:
    client = world.app.test_client()
    wh, dist = seat_token(world, "a", "warehouse"), seat_token(world, "a", "distributor")
    body = {"to_distributor": world.distributor["a"], "reference": "PDA-1",
            "codes": [*reversed(codes(world, 10)), codes(world, 1)[0], ""]}
    made = client.post(f"{API}/shipments", json=body, headers=wh)
    assert made.status_code == 201, made.get_json()
    sh = conforms(made, "/shipments", "post")
    assert (sh["state"], sh["case_count"], sh["item_count"], sh["duplicates"], sh["lines"]) == (
        "shipped", 10, 240, 1, 11)
    assert [(r["first_case"], r["last_case"], r["lot"]) for r in sh["ranges"]] == [(0, 9, "LOT-a")]
    assert sh["from"]["kind"] == "warehouse" and sh["to"]["id"] == world.distributor["a"]
    listed = conforms(client.get(f"{API}/shipments?direction=received&state=shipped", headers=dist), "/shipments")
    assert [s["id"] for s in listed["shipments"]] == [sh["id"]]
    got = client.post(f"{API}/shipments/{sh['id']}/receive", headers=dist)
    assert conforms(got, "/shipments/{shipment_id}/receive", "post")["state"] == "received"
    again = client.post(f"{API}/shipments/{sh['id']}/receive", headers=dist)
    assert again.status_code == 409 and again.get_json()["error"]["reason"] == "received"
    conforms(again, "/shipments/{shipment_id}/receive", "post")
    undo = client.post(f"{API}/shipments/{sh['id']}/undo", json={"reason": "x"}, headers=wh)
    assert undo.status_code == 409 and "ship the cases back" in undo.get_json()["error"]["message"]
    path = client.get(f"{API}/items/{sign(world.app, world.batch['a'], 30, Role.INNER)}/path", headers=dist)
    record = conforms(path, "/items/{code}/path")
    assert record["case"] == 1 and [h["id"] for h in record["hops"]] == [sh["id"]]
    assert record["responsible_distributor"]["id"] == world.distributor["a"]
    assert client.get(f"{API}/items/NOTACODE/path", headers=dist).status_code == 404


def test_a_csv_upload_with_a_bad_line_is_refused_whole_and_names_the_line(world: ChannelWorld) -> None:
    client = world.app.test_client()
    wh = seat_token(world, "a", "warehouse")
    good = codes(world, 4)
    rows = ["scanned_at,code,operator", *[f"2026-12-01 10:00,{c},li" for c in good[:2]],
            "2026-12-01 10:01,NOT-A-CODE,li", f"2026-12-01 10:02,{good[2]},li",
            f"2026-12-01 10:03,{sign(world.app, world.batch['a'], 7, Role.INNER)},li"]
    url = f"{API}/shipments?to_distributor={world.distributor['a']}&reference=CSV-1"
    refused = client.post(url, data="\ufeff" + "\n".join(rows), content_type="text/csv; charset=utf-8", headers=wh)
    assert refused.status_code == 400
    error = refused.get_json()["error"]
    assert error["bad_lines"] == 2
    conforms(refused, "/shipments", "post")
    assert [(p["line"], p["reason"]) for p in error["problems"]] == [(4, "malformed"), (6, "item_code")]
    with world.app.extensions["yima.db"].sessions() as s:
        assert s.scalar(select(func.count(Shipment.id))) == 0
    fixed = [r for r in rows if "NOT-A-CODE" not in r][:-1]
    made = client.post(url, data="\n".join(fixed), content_type="text/csv", headers=wh)
    assert made.status_code == 201 and made.get_json()["case_count"] == 3
    plain = client.post(f"{API}/shipments?to_distributor={world.distributor['a']}", headers=wh,
                        data="\n".join(f"https://q.demo.example/q/{c}" for c in good[2:]) + "\n\n",
                        content_type="text/plain")
    assert plain.status_code == 201
    # Case 2 went to the same receiver twice: no flag; the warehouse's JSON upload to another one: flagged.
    other = add_distributor(world.app, "a", "A-P2", "省级经销商 福建", ["35"])
    flagged = client.post(f"{API}/shipments", json={"to_distributor": other, "codes": good[:1]}, headers=wh)
    assert [f["kind"] for f in conforms(flagged, "/shipments", "post")["flags"]] == ["double_ship"]
    undone = client.post(f"{API}/shipments/{flagged.get_json()['id']}/undo", json={"reason": "错发"}, headers=wh)
    assert conforms(undone, "/shipments/{shipment_id}/undo", "post")["flags"][0]["resolved_at"] is not None
    assert conforms(client.get(f"{API}/shipments/{made.get_json()['id']}", headers=wh),
                    "/shipments/{shipment_id}")["reference"] == "CSV-1"
    with world.app.extensions["yima.db"].sessions() as s:
        assert s.scalar(select(func.count(ChannelFlag.id))) == 1


def test_the_upload_route_alone_takes_a_big_body(world: ChannelWorld) -> None:
    client = world.app.test_client()
    wh = seat_token(world, "a", "warehouse")
    url = f"{API}/shipments?to_distributor={world.distributor['a']}"
    under = ("\n".join(codes(world, 10)) + "\n").encode()
    padded = under + b"\n" * (200 * 1024)  # 200 KiB: over the app's 64 KiB, under this route's 8 MiB
    assert client.post(url, data=padded, content_type="text/plain", headers=wh).status_code == 201
    over = client.post(url, data=b"\n" * (BULK_MAX_BYTES + 1), content_type="text/plain", headers=wh)
    assert over.status_code == 413 and over.get_json()["error"]["code"] == "request_entity_too_large"
    big_undo = client.post(f"{API}/shipments/1/undo", data=json.dumps({"reason": "x" * 70_000}),
                           content_type="application/json", headers=wh)
    assert big_undo.status_code == 413  # the other routes keep 64 KiB


def test_api_scope_and_bad_requests(world: ChannelWorld) -> None:
    client = world.app.test_client()
    wh_a, wh_b = seat_token(world, "a", "warehouse"), seat_token(world, "b", "warehouse")
    made = client.post(f"{API}/shipments", json={"to_distributor": world.distributor["a"],
                                                 "codes": codes(world, 2)}, headers=wh_a).get_json()
    sid = made["id"]
    for headers in (wh_b, seat_token(world, "b", "distributor"), seat_token(world, "a", "clerk")):
        assert client.get(f"{API}/shipments/{sid}", headers=headers).status_code == 404
        assert client.post(f"{API}/shipments/{sid}/receive", headers=headers).status_code == 404
        assert client.post(f"{API}/shipments/{sid}/undo", json={"reason": "x"}, headers=headers).status_code == 404
    assert client.get(f"{API}/shipments", headers=wh_b).get_json()["shipments"] == []
    assert client.post(f"{API}/shipments/{sid}/receive", headers=seat_token(world, "a", "inspector")).status_code == 403
    # brand b's warehouse cannot ship to a's distributor, nor ship a's codes
    assert client.post(f"{API}/shipments", json={"to_distributor": world.distributor["a"], "codes": codes(world, 1)},
                       headers=wh_b).status_code == 404
    foreign = client.post(f"{API}/shipments", json={"to_distributor": world.distributor["b"],
                                                    "codes": codes(world, 1)}, headers=wh_b)
    assert foreign.status_code == 400 and foreign.get_json()["error"]["problems"][0]["reason"] == "other_brand"
    assert client.get(f"{API}/items/{codes(world, 1)[0]}/path", headers=wh_b).status_code == 404
    # an analyst (brand staff) reads, does not ship; the platform token names the brand
    add_user(world.app, "analyst@a.test", "analyst", "a")
    for bad, status in [({"codes": codes(world, 1)}, 400), ({"to_distributor": "x", "codes": []}, 400),
                        ({"to_distributor": world.distributor["a"], "codes": "abc"}, 400),
                        ({"to_distributor": world.distributor["a"], "codes": [], "extra": 1}, 400),
                        ({"to_distributor": world.distributor["a"], "codes": []}, 400),
                        ({"to_distributor": 2**40, "codes": ["x"]}, 400)]:
        resp = client.post(f"{API}/shipments", json=bad, headers=wh_a)
        assert resp.status_code == status, (bad, resp.get_json())
    assert client.post(f"{API}/shipments", data="x", content_type="application/xml", headers=wh_a).status_code == 415
    assert client.get(f"{API}/shipments?limit=0", headers=wh_a).status_code == 400
    assert client.get(f"{API}/shipments?direction=up", headers=wh_a).status_code == 400
    assert client.get(f"{API}/shipments?bogus=1", headers=wh_a).status_code == 400
    assert client.get(f"{API}/shipments/{2**40}", headers=wh_a).status_code == 404
    assert client.post(f"{API}/shipments/{sid}/undo", json={"why": "x"}, headers=wh_a).status_code == 400
    assert client.get(f"{API}/shipments").status_code == 401
