"""窜货 through the API (/api/v1/channel/diversion, /diversion/alerts, /inspect): scoped like the pages, each
answer held to its OpenAPI schema."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import pytest

from accounts.tokens import issue_token
from accounts.users import get_user, user_by_email
from app.openapi import OPENAPI
from codegen.db import transaction
from tests.support.channel_world import sign
from tests.web.console_support import add_user
from tests.web.diversion_support import PACK, SHENZHEN, URUMQI, DiversionWorld, diversion_world

OPS_TOKEN = "diversion-ops-token-0123456789abcdef"


@pytest.fixture
def dw(tmp_path: Path, redis_client) -> DiversionWorld:  # type: ignore[no-untyped-def]
    return diversion_world(tmp_path, ops_token=OPS_TOKEN)


def token(dw: DiversionWorld, email: str, brand: str, role: str = "channel") -> dict[str, str]:
    with transaction(dw.app.extensions["yima.db"].sessions) as s:
        user = get_user(s, user_by_email(s, email).id)  # type: ignore[union-attr]
        _, secret = issue_token(s, user, dw.brand_ids[brand], role, "test", 30)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {secret}"}


def conforms(resp: Any, path: str, method: str = "get") -> dict[str, Any]:
    """The body, checked against the document's schema for its status."""
    op = OPENAPI["paths"][path][method]
    schema = op["responses"][str(resp.status_code)]["content"]["application/json"]["schema"]
    jsonschema.validate(resp.get_json(), {**schema, "components": OPENAPI["components"]},
                        format_checker=jsonschema.FormatChecker())
    return resp.get_json()  # type: ignore[no-any-return]


REPORT, ALERTS, INSPECT = "/api/v1/channel/diversion", "/api/v1/channel/diversion/alerts", "/api/v1/channel/inspect"


def test_a_distributors_token_reads_its_own_and_its_subtree(dw: DiversionWorld) -> None:
    w, client = dw.world, dw.app.test_client()
    auth = token(dw, w.users[("a", "distributor")], "a")
    overview = conforms(client.get(REPORT, headers=auth), REPORT)
    assert [d["name"] for d in overview["distributors"]] == ["省级经销商 a", "市级经销商 a"]  # one 窜货 scan each
    assert overview["no_record"] is None  # the brand's figure, not a distributor's
    own = conforms(client.get(f"{REPORT}?distributor={w.distributor['a']}&period=month", headers=auth), REPORT)
    assert own["distributor"]["diverted"] == 1 and own["items"] == 1 and own["period"] == "month"
    assert own["regions"] == [{"adcode": "650100", "province": "新疆维吾尔自治区", "city": "乌鲁木齐市", "scans": 1}]
    assert own["samples"][0]["code"] == sign(dw.app, w.batch["a"], 10)
    assert [c["id"] for c in own["children"]] == [w.sub_distributor["a"]]
    city = conforms(client.get(f"{REPORT}?distributor={w.sub_distributor['a']}", headers=auth), REPORT)
    assert (city["distributor"]["normal"], city["distributor"]["diverted"], city["distributor"]["share"]) == (1, 1, 0.5)
    assert city["regions"][0]["city"] == "深圳市"
    for other in (w.distributor["b"], w.store["a"] + 10_000):
        missing = conforms(client.get(f"{REPORT}?distributor={other}", headers=auth), REPORT)
        assert missing["error"]["code"] == "not_found"
    alerts = conforms(client.get(ALERTS, headers=auth), ALERTS)
    assert {a["name"] for a in alerts["alerts"]} == {"省级经销商 a", "市级经销商 a"}
    assert conforms(client.post(INSPECT, headers=auth, json={"code": "x"}), INSPECT, "post")["error"]["code"] == (
        "forbidden")


def test_store_seats_read_nothing(dw: DiversionWorld) -> None:
    client = dw.app.test_client()
    for kind in ("clerk", "waiter", "warehouse"):
        auth = token(dw, dw.world.users[("a", kind)], "a")
        assert client.get(REPORT, headers=auth).status_code == 403
        assert client.get(f"{REPORT}?distributor={dw.world.distributor['a']}", headers=auth).status_code == 403
        assert client.get(ALERTS, headers=auth).status_code == 403
        assert client.post(INSPECT, headers=auth, json={"code": "x"}).status_code == 403


def test_the_platform_token_names_the_brand_and_brand_tokens_stay_in_theirs(dw: DiversionWorld) -> None:
    w, client = dw.world, dw.app.test_client()
    ops = {"Authorization": f"Bearer {OPS_TOKEN}"}
    assert client.get(REPORT, headers=ops).status_code == 404  # which brand?
    brand_a = conforms(client.get(f"{REPORT}?brand=a", headers=ops), REPORT)
    assert brand_a["no_record"] == 1 and len(brand_a["distributors"]) == 2
    assert client.get(f"{REPORT}?brand=a&distributor={w.distributor['b']}", headers=ops).status_code == 404
    add_user(dw.app, "analyst@b.test", "analyst", "b")
    b_token = token(dw, "analyst@b.test", "b", role="analyst")
    assert client.get(f"{REPORT}?distributor={w.distributor['a']}", headers=b_token).status_code == 404
    assert client.get(f"{REPORT}?brand=a", headers=b_token).status_code == 404
    only_b = conforms(client.get(ALERTS, headers=b_token), ALERTS)
    assert [a["name"] for a in only_b["alerts"]] == ["省级经销商 b"]
    assert client.get(REPORT, headers={"Authorization": "Bearer nope"}).status_code == 401


def test_bad_parameters_are_400(dw: DiversionWorld) -> None:
    auth = token(dw, dw.world.users[("a", "inspector")], "a")
    for query in ("distributor=0", "distributor=x", "since=2026-13-01", "since=2026-12-02&until=2026-12-01",
                  "period=year", "since=1999-12-31", "since=20261201", "since=2024-01-01&until=2026-01-01"):
        resp = dw.app.test_client().get(f"{REPORT}?{query}", headers=auth)
        assert resp.status_code == 400 and conforms(resp, REPORT)["error"]["code"] == "invalid_channel", query
    for days in ("0", "91", "x"):
        assert dw.app.test_client().get(f"{ALERTS}?days={days}", headers=auth).status_code == 400


def test_the_inspectors_check(dw: DiversionWorld) -> None:
    w, client = dw.world, dw.app.test_client()
    auth = token(dw, w.users[("a", "inspector")], "a")
    code = sign(dw.app, w.batch["a"], 3 * PACK + 7)
    found = conforms(client.post(INSPECT, headers=auth, json={"code": code, "adcode": SHENZHEN}), INSPECT, "post")
    assert (found["verdict"], found["genuine"]) == ("diverted", True)
    assert found["distributor"]["id"] == w.sub_distributor["a"]
    assert [(p["from"]["kind"], p["to"]["id"]) for p in found["path"]] == [
        ("warehouse", w.distributor["a"]), ("distributor", w.sub_distributor["a"])]
    assert found["territory"] == ["4401"] and found["region"]["city"] == "深圳市" and found["case"] == 3
    url = f"https://q.demo.example/q/{code}"
    assert conforms(client.post(INSPECT, headers=auth, json={"code": url, "adcode": "440106"}), INSPECT,
                    "post")["verdict"] == "normal"
    unlocated = conforms(client.post(INSPECT, headers=auth, json={"code": code}), INSPECT, "post")
    assert (unlocated["verdict"], unlocated["region_source"]) == ("unlocated", "none")  # 127.0.0.1 places nowhere
    fake = conforms(client.post(INSPECT, headers=auth, json={"code": sign(dw.app, w.batch["b"], 3), "adcode": URUMQI}),
                    INSPECT, "post")
    assert (fake["verdict"], fake["genuine"], fake["distributor"]) == ("not_genuine", False, None)
    for bad in ({"code": ""}, {"code": code, "adcode": "44"}, {"code": code, "adcode": ""},
                {"code": code, "adcode": None}, {"code": code, "adcode": "000000"},
                {"code": code, "extra": 1}, {"code": 5}, [code], {"code": "a" * 513}):
        resp = client.post(INSPECT, headers=auth, json=bad)
        assert resp.status_code == 400, bad
        conforms(resp, INSPECT, "post")
    assert client.post(INSPECT, headers=auth, data="not json", content_type="application/json").status_code == 400
