"""The console's channel pages (/ops/channel) and the directory API (/api/v1/channel) on the real app: an
operator builds a channel through the forms, refusals come back at the form in Chinese, an analyst reads
and gets 403 on a forced POST, channel staff get no console, and a seat added here signs in and works."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, count_changes, list_changes
from accounts.tokens import issue_token
from accounts.users import user_by_email
from channel.directory import get_policy
from codegen.db import transaction
from tests.conftest import REDIS_TEST_URL
from tests.support.channel_world import ChannelWorld, channel_world
from tests.web import conftest as web_conftest
from tests.web.conftest import make_app
from tests.web.console_support import PASSWORD, add_user, csrf_token, ensure_brand, login

FIELD_ERROR = re.compile(r'class="field-error"[^>]*>([^<]+)<')


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChannelWorld]:
    """One channel for the module (each test makes what it changes under names of its own)."""
    r = redis.Redis.from_url(REDIS_TEST_URL)
    r.flushdb()
    app = make_app(tmp_path_factory.mktemp("ops-channel"))
    web_conftest._APPS.remove(app)  # module-scoped: closed below, not after the first test
    w = channel_world(app)
    add_user(app, "op@a.test", "operator", "a")
    add_user(app, "analyst@a.test", "analyst", "a")
    add_user(app, "op@b.test", "operator", "b")
    yield w
    app.extensions["yima.scanner"].close()
    app.extensions["yima.redis"].close()
    app.extensions["yima.db"].engine.dispose()
    r.flushdb()
    r.close()


def signed_in(world: ChannelWorld, email: str) -> tuple[FlaskClient, str]:
    client = world.app.test_client()
    login(client, email)
    home = "/dist" if client.get("/ops/").status_code == 302 else "/ops/"  # channel staff have no console
    return client, csrf_token(client, home)


def audit_count(world: ChannelWorld) -> int:
    with world.app.extensions["yima.db"].sessions() as s:
        return count_changes(s, AuditFilter())


def page(resp: Any) -> str:
    return str(resp.get_data(as_text=True))


def test_the_distributor_list_shows_the_tree_with_place_names(world: ChannelWorld) -> None:
    client, _ = signed_in(world, "analyst@a.test")
    body = page(client.get("/ops/channel/distributors?brand=a"))
    assert "省级经销商 a" in body and "广东省" in body and "广东省 广州市" in body
    assert 'class="tier-2"' in body and "二级" in body
    assert "渠道" in body  # the console's nav has the room
    assert "新建经销商" not in body  # an analyst reads only
    assert client.get("/ops/channel").headers["Location"].endswith("/ops/channel/distributors")


def test_an_operator_builds_a_channel_through_the_forms(world: ChannelWorld) -> None:
    client, token = signed_in(world, "op@a.test")
    before = audit_count(world)
    made = client.post("/ops/channel/distributors", data={
        "csrf_token": token, "brand": "a", "code": "SZ-001", "name": "深圳经销商", "territory": "440300，440104",
        "parent_id": str(world.distributor["a"]), "contact": "张三 13800000000"})
    assert made.status_code == 303, page(made)[:500]
    detail = client.get(made.headers["Location"])
    assert detail.status_code == 200
    assert "深圳经销商" in page(detail) and "广东省 深圳市" in page(detail) and "广东省 广州市 越秀区" in page(detail)
    distributor_id = int(made.headers["Location"].rsplit("/", 1)[1])
    store = client.post("/ops/channel/stores", data={
        "csrf_token": token, "brand": "a", "name": "福田店", "adcode": "440304", "distributor_id": str(distributor_id),
        "address": "福华路 1 号", "lat": "22.54", "lng": "114.05", "registered": "1"})
    assert store.status_code == 303, page(store)[:500]
    shown = page(client.get(store.headers["Location"]))
    assert "福田店" in shown and "广东省 深圳市 福田区" in shown and "已登记" in shown and "由品牌登记" in shown
    renamed = client.post(f"/ops/channel/distributors/{distributor_id}", data={
        "csrf_token": token, "code": "SZ-001", "name": "深圳总经销", "territory": "4403 440104",
        "parent_id": str(world.distributor["a"]), "contact": ""})
    assert renamed.status_code == 303 and "saved=1" in renamed.headers["Location"]
    assert "深圳总经销" in page(client.get(renamed.headers["Location"]))
    with world.app.extensions["yima.db"].sessions() as s:
        actions = [e.action for e in list_changes(s, AuditFilter(), limit=3)]
    assert actions == ["distributor.update", "store.create", "distributor.create"]
    assert audit_count(world) == before + 3


@pytest.mark.parametrize("fields, status, words", [
    ({"territory": "4501"}, 400, "广西壮族自治区 南宁市 不在上级经销商 A-P1 省级经销商 a 的区域内"),
    ({"territory": "99"}, 400, "“99”不是有效的省（2 位）、市（4 位）或区县（6 位）代码"),
    ({"territory": ""}, 400, "请至少填写一个省、市或区县代码"),
    ({"code": "A-P1"}, 409, "本品牌已有编号为 A-P1 的经销商"),
    ({"code": "A P1"}, 400, "编号最多 40 个字符，不含空格"),
    ({"name": "  "}, 400, "请填写名称"),
    ({"parent_id": "abc"}, 400, "请选择上级经销商"),
])
def test_a_refused_distributor_comes_back_at_its_field(world: ChannelWorld, fields: dict[str, str], status: int,
                                                       words: str) -> None:
    client, token = signed_in(world, "op@a.test")
    before = audit_count(world)
    data = {"csrf_token": token, "brand": "a", "code": "NEW-1", "name": "新经销商", "territory": "4403",
            "parent_id": str(world.distributor["a"]), **fields}
    resp = client.post("/ops/channel/distributors", data=data)
    assert resp.status_code == status
    assert FIELD_ERROR.findall(page(resp)) == [words]
    assert f'value="{data["name"]}"' in page(resp) or not data["name"].strip()  # the form keeps what was typed
    assert audit_count(world) == before


def test_a_store_outside_its_suppliers_territory_is_refused_in_words(world: ChannelWorld) -> None:
    client, token = signed_in(world, "op@a.test")
    resp = client.post("/ops/channel/stores", data={
        "csrf_token": token, "brand": "a", "name": "杭州店", "adcode": "330106",
        "distributor_id": str(world.sub_distributor["a"])})
    assert resp.status_code == 400
    assert FIELD_ERROR.findall(page(resp)) == ["浙江省 杭州市 西湖区 不在经销商 A-C1 市级经销商 a 的区域内"]
    resp = client.post("/ops/channel/stores", data={
        "csrf_token": token, "brand": "a", "name": "x", "adcode": "440100", "lat": "north",
        "distributor_id": str(world.sub_distributor["a"])})
    assert FIELD_ERROR.findall(page(resp)) == ["440100 是省或市的代码：请填写区县代码"]


def test_an_analyst_reads_and_a_forced_post_is_403(world: ChannelWorld) -> None:
    client, token = signed_in(world, "analyst@a.test")
    before = audit_count(world)
    detail = client.get(f"/ops/channel/distributors/{world.distributor['a']}")
    assert detail.status_code == 200 and 'name="territory"' not in page(detail)
    assert client.get(f"/ops/channel/stores/{world.store['a']}").status_code == 200
    posts = [("/ops/channel/distributors", {"brand": "a", "code": "X", "name": "x", "territory": "44"}),
             (f"/ops/channel/distributors/{world.distributor['a']}", {"code": "A-P1", "name": "x", "territory": "44"}),
             ("/ops/channel/stores", {"brand": "a", "name": "x", "adcode": "440106",
                                      "distributor_id": str(world.sub_distributor["a"])}),
             (f"/ops/channel/stores/{world.store['a']}", {"name": "x", "adcode": "440106",
                                                          "distributor_id": str(world.sub_distributor["a"])}),
             ("/ops/channel/staff", {"brand": "a", "email": "x@a.test", "kind": "warehouse"}),
             ("/ops/channel/policy", {"brand": "a", "voucher_face": "1"})]
    for url, data in posts:
        assert client.post(url, data={**data, "csrf_token": token}).status_code == 403, url
    assert audit_count(world) == before


def test_other_brands_and_channel_staff_get_404(world: ChannelWorld) -> None:
    client, _ = signed_in(world, "op@b.test")
    assert client.get(f"/ops/channel/distributors/{world.distributor['a']}").status_code == 404
    assert client.get(f"/ops/channel/stores/{world.store['a']}").status_code == 404
    assert client.get("/ops/channel/distributors/99999").status_code == 404
    assert client.get(f"/ops/channel/stores/{2**40}").status_code == 404
    assert client.get("/ops/channel/staff?brand=a").status_code == 404
    seat, _ = signed_in(world, world.users[("a", "distributor")])
    for url in ("/ops/channel/distributors?brand=a", f"/ops/channel/distributors/{world.distributor['a']}",
                "/ops/channel/policy?brand=a"):
        assert seat.get(url).status_code == 404, url


def test_a_seat_added_here_signs_in_at_its_desk_and_can_be_switched_off(world: ChannelWorld) -> None:
    client, token = signed_in(world, "op@a.test")
    added = client.post("/ops/channel/staff", data={
        "csrf_token": token, "brand": "a", "email": "li@a.test", "name": "小李", "kind": "clerk",
        "store_id": str(world.store["a"]), "distributor_id": str(world.distributor["a"])})  # the other is ignored
    assert added.status_code == 201 and added.headers["Cache-Control"] == "no-store"
    password = re.search(r'id="new-seat-password" class="mono" value="([^"]+)"', page(added))
    assert password is not None
    clerk = world.app.test_client()
    login(clerk, "li@a.test", password.group(1))
    assert clerk.get("/ops/").headers["Location"].endswith("/dist")
    assert "门店核销员" in page(clerk.get("/dist"))
    with world.app.extensions["yima.db"].sessions() as s:
        user = user_by_email(s, "li@a.test")
        assert user is not None and user.seat is not None and user.seat.store_id == world.store["a"]
        user_id = user.id
    off = client.post(f"/ops/channel/staff/{user_id}/disable", data={"csrf_token": token, "brand": "a"})
    assert off.status_code == 303
    assert clerk.get("/dist").status_code == 302  # the session ended: back to the login page
    listed = page(client.get("/ops/channel/staff?brand=a"))
    assert "li@a.test" in listed and "已停用" in listed
    taken = client.post("/ops/channel/staff", data={"csrf_token": token, "brand": "a", "email": "li@a.test",
                                                     "kind": "warehouse", "password": PASSWORD})
    assert taken.status_code == 409 and FIELD_ERROR.findall(page(taken)) == ["该邮箱已有账户"]


def test_a_seat_token_for_a_scanner_gun_is_shown_once_and_acts_as_the_seat(world: ChannelWorld) -> None:
    client, token = signed_in(world, "op@a.test")
    with world.app.extensions["yima.db"].sessions() as s:
        clerk = user_by_email(s, world.users[("a", "clerk")])
        assert clerk is not None
        clerk_id = clerk.id
    made = client.post(f"/ops/channel/staff/{clerk_id}/token", data={"csrf_token": token, "brand": "a",
                                                                     "name": "收银台扫码枪", "days": "90"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    secret = re.search(r'id="new-token-secret" class="mono" value="([^"]+)"', page(made))
    assert secret is not None
    api = world.app.test_client()
    stores = api.get("/api/v1/channel/stores", headers={"Authorization": f"Bearer {secret.group(1)}"})
    assert stores.status_code == 200 and [s["id"] for s in stores.get_json()["stores"]] == [world.store["a"]]
    assert "yima_pat_" not in page(client.get("/ops/channel/staff?brand=a"))  # never shown again
    bad = client.post(f"/ops/channel/staff/{clerk_id}/token", data={"csrf_token": token, "brand": "a",
                                                                    "name": "x", "days": "9999"})
    assert bad.status_code == 400 and "有效期须为 1–366 天" in page(bad)


def test_the_policy_form_takes_yuan(world: ChannelWorld) -> None:
    client, token = signed_in(world, "op@a.test")
    saved = client.post("/ops/channel/policy", data={"csrf_token": token, "brand": "a", "voucher_face": "3.5",
                                                     "redeem_rebate": "0.3"})
    assert saved.status_code == 303
    with world.app.extensions["yima.db"].sessions() as s:
        policy = get_policy(s, ensure_brand(world.app, "a"))
    assert (policy.require_registration, policy.voucher_face_fen, policy.redeem_rebate_fen) == (False, 350, 30)
    shown = page(client.get(saved.headers["Location"]))
    assert "¥3.50" in shown and "已保存" in shown
    for typed in ("abc", "0.001", "-1", "20000", "1e400"):
        bad = client.post("/ops/channel/policy", data={"csrf_token": token, "brand": "a", "voucher_face": typed})
        assert bad.status_code == 400, typed
        assert FIELD_ERROR.findall(page(bad)) == ["金额须在 0 到 10,000 元之间，最多两位小数"], typed


def test_the_api_builds_and_reads_the_same_directory(world: ChannelWorld) -> None:
    with transaction(world.app.extensions["yima.db"].sessions) as s:
        op = user_by_email(s, "op@a.test")
        analyst = user_by_email(s, "analyst@a.test")
        assert op is not None and analyst is not None
        _, op_token = issue_token(s, op, op.memberships[0].brand_id, "operator", "t", 5)
        _, analyst_token = issue_token(s, analyst, analyst.memberships[0].brand_id, "analyst", "t", 5)
    api = world.app.test_client()
    as_op = {"Authorization": f"Bearer {op_token}"}
    made = api.post("/api/v1/channel/distributors", headers=as_op, json={
        "code": "FS-001", "name": "佛山经销商", "territory": ["4406"], "parent_id": world.distributor["a"]})
    assert made.status_code == 201, made.get_json()
    got = made.get_json()
    assert (got["tier"], got["territory_names"], got["stores"]) == (2, ["广东省 佛山市"], 0)
    patched = api.patch(f"/api/v1/channel/distributors/{got['id']}", headers=as_op, json={"contact": "王五"})
    assert patched.get_json()["contact"] == "王五" and patched.get_json()["territory"] == ["4406"]
    store = api.post("/api/v1/channel/stores", headers=as_op, json={
        "name": "禅城店", "adcode": "440604", "distributor_id": got["id"], "lat": 23.0, "lng": 113.1})
    assert store.status_code == 201 and store.get_json()["place"] == "广东省 佛山市 禅城区"
    seat = api.post("/api/v1/channel/staff", headers=as_op, json={"email": "fs@a.test", "kind": "distributor",
                                                                 "distributor_id": got["id"]})
    assert seat.status_code == 201 and len(seat.get_json()["password"]) >= 16
    assert seat.headers["Cache-Control"] == "no-store"
    policy = api.put("/api/v1/channel/policy", headers=as_op, json={
        "require_registration": False, "voucher_face_fen": 600, "redeem_rebate_fen": 60})
    assert policy.status_code == 200 and policy.get_json()["updated_at"]
    refused = api.post("/api/v1/channel/stores", headers=as_op, json={
        "name": "x", "adcode": "650102", "distributor_id": got["id"], "colour": "red"})
    assert refused.status_code == 400 and refused.get_json()["error"]["field"] == "colour"
    outside = api.post("/api/v1/channel/stores", headers=as_op, json={
        "name": "x", "adcode": "650102", "distributor_id": got["id"]})
    assert outside.status_code == 400 and outside.get_json()["error"]["field"] == "adcode"
    as_analyst = {"Authorization": f"Bearer {analyst_token}"}
    listed = api.get("/api/v1/channel/distributors", headers=as_analyst).get_json()["distributors"]
    assert "FS-001" in [d["code"] for d in listed if d["parent_id"] == world.distributor["a"]]
    assert api.patch(f"/api/v1/channel/stores/{world.store['a']}", headers=as_analyst,
                     json={"name": "mine"}).status_code == 403
    assert api.get(f"/api/v1/channel/stores?distributor={got['id']}", headers=as_analyst).get_json()["stores"][0][
        "name"] == "禅城店"
    assert api.get("/api/v1/channel/stores?distributor=x", headers=as_analyst).status_code == 400
    assert api.get(f"/api/v1/channel/stores/{2**40}", headers=as_analyst).status_code == 404
