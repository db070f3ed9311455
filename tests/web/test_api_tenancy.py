"""The ops API acts for the caller's brands only, lets analysts read but not write, and audits every write.

(Routes that take an id are covered for every role of two brands by test_tenancy_matrix.py; this file
covers the rest: listing, creating, simulating, member tokens, publish, and what the audit log records.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, list_changes
from accounts.tokens import issue_token
from accounts.users import user_by_email
from codegen import batches, keys
from codegen.db import transaction
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand
from tests.web.test_rules_api import guangdong


class Api:
    """The test client with one personal token per (brand, role)."""

    def __init__(self, app: Flask, batch: dict[str, int]) -> None:
        self.app, self.batch, self.client = app, batch, app.test_client()
        self._tokens: dict[tuple[str, str], str] = {}

    def token(self, brand: str, role: str) -> dict[str, str]:
        if (brand, role) not in self._tokens:
            email = f"{role}@{brand}.example"
            add_user(self.app, email, role, brand=brand)
            with transaction(self.app.extensions["yima.db"].sessions) as s:
                user = user_by_email(s, email)
                assert user is not None
                _, self._tokens[(brand, role)] = issue_token(s, user, ensure_brand(self.app, brand), role, "t", 5)
        return {"Authorization": f"Bearer {self._tokens[(brand, role)]}"}

    def as_(self, brand: str, role: str) -> FlaskClient:
        return _Bound(self.client, self.token(brand, role))  # type: ignore[return-value]

    def audit(self, prefix: str = "") -> list[Any]:
        with self.app.extensions["yima.db"].sessions() as s:
            return list(reversed(list_changes(s, AuditFilter(action=prefix))))


class _Bound:
    def __init__(self, client: FlaskClient, headers: dict[str, str]) -> None:
        self.client, self.headers = client, headers

    def __getattr__(self, method: str) -> Any:
        return lambda url, **kw: getattr(self.client, method)(url, headers=self.headers, **kw)


@pytest.fixture
def api(tmp_path: Path, redis_client) -> Iterator[Api]:  # type: ignore[no-untyped-def]
    app, info = seeded_app(tmp_path, ops_token="test-ops-token")
    ring, _ = keys.init_keyring(tmp_path / "keys.json")
    with transaction(app.extensions["yima.db"].sessions) as s:
        brand = batches.add_brand(s, "other", "Other Beer", "https://other.example")
        batches.add_product(s, brand, "OTHER-1", "Other lager", "6901234567908")
        other = batches.create_batch(s, brand, batches.BatchRequest(sku="OTHER-1", lot="O1", count=100, pack=10,
                                                                    production_date=date(2026, 11, 1)),
                                     key_id=ring.current, max_count=10_000)
        other_batch = other.id
    yield Api(app, {"demo": info.batch_id, "other": other_batch})


def other_doc(api: Api, **over: Any) -> dict[str, Any]:
    return guangdong(api.batch["other"], **{"brand": "other", "name": "别家活动", "regions": {"include": ["11"]},
                                            **over})


def test_listing_shows_only_the_callers_brands(api: Api) -> None:
    demo = api.as_("demo", "operator").post("/api/v1/campaigns", json=guangdong(api.batch["demo"])).get_json()["id"]
    other = api.as_("other", "operator").post("/api/v1/campaigns", json=other_doc(api)).get_json()["id"]
    assert [c["id"] for c in api.as_("demo", "analyst").get("/api/v1/campaigns").get_json()["campaigns"]] == [demo]
    assert [c["id"] for c in api.as_("other", "analyst").get("/api/v1/campaigns").get_json()["campaigns"]] == [other]
    everything = api.client.get("/api/v1/campaigns", headers={"Authorization": "Bearer test-ops-token"})
    assert [c["id"] for c in everything.get_json()["campaigns"]] == [demo, other]


def test_creating_in_another_brand_reads_exactly_like_an_unknown_brand(api: Api) -> None:
    demo_op = api.as_("demo", "operator")
    for broken in ({}, {"budget": {"total_fen": -1}}):  # alone, and with another problem beside it
        theirs = demo_op.post("/api/v1/campaigns", json=other_doc(api, **broken))
        unknown = demo_op.post("/api/v1/campaigns", json=other_doc(api, brand="no-such-brand", **broken))
        assert theirs.status_code == unknown.status_code == 400
        mine, ghost = theirs.get_json()["error"], unknown.get_json()["error"]
        assert str(mine).replace("'other'", "X") == str(ghost).replace("'no-such-brand'", "X")
        if not broken:  # the batch is not looked up in a brand the caller may not use either
            assert mine["problems"] == [{"field": "brand", "message": "unknown brand 'other'"},
                                        {"field": "scope.batches",
                                         "message": f"unknown batch {api.batch['other']} for brand 'other'"}]
    # moving one's own campaign into another brand is refused the same way
    cid = demo_op.post("/api/v1/campaigns", json=guangdong(api.batch["demo"])).get_json()["id"]
    moved = demo_op.put(f"/api/v1/campaigns/{cid}", json={**other_doc(api), "edit_version": 1})
    assert moved.status_code == 400 and moved.get_json()["error"]["problems"][0] == {
        "field": "brand", "message": "unknown brand 'other'"}
    assert [e.action for e in api.audit()] == ["campaign.create"]


def test_analysts_read_but_every_write_is_403(api: Api) -> None:
    cid = api.as_("demo", "operator").post("/api/v1/campaigns", json=guangdong(api.batch["demo"])).get_json()["id"]
    analyst = api.as_("demo", "analyst")
    assert analyst.get("/api/v1/campaigns").status_code == 200
    assert analyst.get(f"/api/v1/campaigns/{cid}").status_code == 200
    assert analyst.post("/api/v1/simulate", json={"batch_id": api.batch["demo"], "serial": 1}).status_code == 200
    assert analyst.post(f"/api/v1/campaigns/{cid}/backtest", json={
        "from": "2026-01-01T00:00:00+08:00", "to": "2026-01-02T00:00:00+08:00"}).status_code == 200
    assert analyst.get("/api/v1/rules/versions?brand=demo").status_code == 200
    writes = [("post", "/api/v1/campaigns", guangdong(api.batch["demo"], name="x")),
              ("put", f"/api/v1/campaigns/{cid}", {**guangdong(api.batch["demo"], name="x"), "edit_version": 1}),
              ("post", f"/api/v1/campaigns/{cid}/clone", {}),
              ("delete", f"/api/v1/campaigns/{cid}", None),
              ("post", f"/api/v1/campaigns/{cid}/status", {"status": "active"}),
              ("post", f"/api/v1/campaigns/{cid}/prizes/0/coupons", {"codes": ["A1"]}),
              ("post", "/api/v1/members/tokens", {"member_id": "m1"}),
              ("post", "/api/v1/rules/publish", {"brand": "demo"}),
              ("post", "/api/v1/rules/rollback", {"brand": "demo", "version": 1})]
    for method, url, body in writes:
        resp = getattr(analyst, method)(url, json=body)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden", (method, url)
    assert [e.action for e in api.audit()] == ["campaign.create"]


def test_member_tokens_need_operate_in_some_brand(api: Api) -> None:
    assert api.as_("demo", "operator").post("/api/v1/members/tokens", json={"member_id": "m1"}).status_code == 201
    assert api.as_("demo", "analyst").post("/api/v1/members/tokens", json={"member_id": "m1"}).status_code == 403


def test_simulate_sees_only_the_callers_batches_and_campaigns(api: Api) -> None:
    api.as_("demo", "operator").post("/api/v1/campaigns", json=guangdong(api.batch["demo"]))
    api.as_("other", "operator").post("/api/v1/campaigns", json=other_doc(api))
    other = api.as_("other", "analyst")
    resp = other.post("/api/v1/simulate", json={"batch_id": api.batch["demo"], "serial": 1})
    missing = other.post("/api/v1/simulate", json={"batch_id": 99999, "serial": 1})
    assert resp.status_code == missing.status_code == 400
    assert resp.get_json()["error"]["problems"] == [{"field": "batch_id",
                                                      "message": f"unknown batch {api.batch['demo']}"}]
    names = [c["name"] for c in other.post("/api/v1/simulate", json={
        "batch_id": api.batch["other"], "serial": 1}).get_json()["campaigns"]]
    assert names == ["别家活动"]


def test_every_write_is_audited_with_before_and_after(api: Api) -> None:
    op = api.as_("demo", "operator")
    doc = guangdong(api.batch["demo"], prizes=[{"kind": "coupon", "name": "券", "weight": 0.5}],
                    budget={"total_fen": 100})
    cid = op.post("/api/v1/campaigns", json=doc).get_json()["id"]
    assert op.put(f"/api/v1/campaigns/{cid}", json={**doc, "name": "改名", "edit_version": 1}).status_code == 200
    assert op.post(f"/api/v1/campaigns/{cid}/prizes/0/coupons", json={"codes": ["C1", "C2"]}).status_code == 201
    assert op.post(f"/api/v1/campaigns/{cid}/status", json={"status": "ended"}).status_code == 200
    draft = op.post("/api/v1/campaigns", json={**doc, "name": "草稿", "exclusive": False}).get_json()["id"]
    assert op.delete(f"/api/v1/campaigns/{draft}").status_code == 204
    op.post("/api/v1/members/tokens", json={"member_id": "m1"})  # issuing a member token is not a change
    entries = api.audit()
    assert [(e.action, e.target) for e in entries] == [
        ("campaign.create", f"campaign:{cid}"), ("campaign.update", f"campaign:{cid}"),
        ("campaign.coupons", f"campaign:{cid}"), ("campaign.status", f"campaign:{cid}"),
        ("campaign.create", f"campaign:{draft}"), ("campaign.delete", f"campaign:{draft}")]
    create, update, coupons, status, _, delete = entries
    assert all(e.actor.startswith("token:") and e.actor.endswith("operator@demo.example")
               and e.brand_id == ensure_brand(api.app, "demo") for e in entries)
    assert create.before is None and create.after["definition"]["name"] == "广东首扫必中"
    assert update.before["name"] == "广东首扫必中" and update.after["name"] == "改名"
    assert update.before["edit_version"] == 1 and update.after["edit_version"] == 2
    assert coupons.after == {"prize": 0, "added": 2, "duplicates": 0, "pool_size": 2}
    assert "C1" not in str(coupons.after)  # the codes themselves stay out of the log
    assert status.before == {"status": "draft"} and status.after == {"status": "ended"}  # as the console records it
    assert delete.before["name"] == "草稿" and delete.after is None


def test_a_refused_write_leaves_no_audit_entry(api: Api) -> None:
    op = api.as_("demo", "operator")
    assert op.post("/api/v1/campaigns", json=guangdong(api.batch["demo"], name="")).status_code == 400
    cid = op.post("/api/v1/campaigns", json=guangdong(api.batch["demo"])).get_json()["id"]
    op.post(f"/api/v1/campaigns/{cid}/status", json={"status": "ended"})
    for version in (1, 7):  # ended; and a stale edit_version
        edit = {**guangdong(api.batch["demo"]), "edit_version": version}
        assert op.put(f"/api/v1/campaigns/{cid}", json=edit).status_code == 409
    assert [e.action for e in api.audit()] == ["campaign.create", "campaign.status"]
