"""The risk review in the ops API (Bearer): the queue and its actions, held awards, lists and the policy; scoped
per brand (another brand's id is the same 404 as a missing one) and per role (an analyst reads, 403 on writes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from accounts.audit import AuditFilter, count_changes
from accounts.tokens import issue_token
from accounts.users import user_by_email
from codegen.db import transaction
from payouts.claims import Rail, claim_award
from risk import keys, review
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand
from tests.web.risk_support import MEMBER, seed_review

OPS_TOKEN = "risk-api-platform-token-0123456789abcd"
PLATFORM = {"Authorization": f"Bearer {OPS_TOKEN}"}


def token(app: Flask, email: str, slug: str, role: str) -> dict[str, str]:
    add_user(app, email, role, brand=slug)
    with transaction(app.extensions["yima.db"].sessions) as s:
        user = user_by_email(s, email)
        assert user is not None
        _, secret = issue_token(s, user, ensure_brand(app, slug), role, "api test", 5)
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[tuple[Flask, dict[str, Any], dict[str, Any]]]:
    app, _ = seeded_app(tmp_path, ops_token=OPS_TOKEN)
    yield app, seed_review(app, "demo"), seed_review(app, "other")
    app.extensions["yima.db"].engine.dispose()


def audit_count(app: Flask) -> int:
    with app.extensions["yima.db"].sessions() as s:
        return count_changes(s, AuditFilter())


def test_the_access_matrix(world: Any) -> None:
    app, demo, other = world
    client = app.test_client()
    heads = {(slug, role): token(app, f"{role}@{slug}.example", slug, role)
             for slug in ("demo", "other") for role in ("operator", "analyst")}
    mine, theirs = demo, other
    reads = [f"/api/v1/risk/flags/{mine['flag']}", "/api/v1/risk/flags", "/api/v1/risk/holds",
             "/api/v1/risk/lists", "/api/v1/risk/policy"]
    for role in ("operator", "analyst"):
        for path in reads:
            assert client.get(path, headers=heads["demo", role]).status_code == 200, (role, path)
        assert client.get(f"/api/v1/risk/flags/{theirs['flag']}", headers=heads["demo", role]).status_code == 404
        assert client.get("/api/v1/risk/flags?brand=other", headers=heads["demo", role]).status_code == 404
    writes = [("post", "/api/v1/risk/flags/{flag}/block", None), ("post", "/api/v1/risk/flags/{flag}/clear", None),
              ("post", "/api/v1/risk/holds/{award}/release", None), ("post", "/api/v1/risk/holds/{award}/reject", None),
              ("put", "/api/v1/risk/policy?brand={slug}", {"device_per_minute": 9}),
              ("post", "/api/v1/risk/lists?brand={slug}", {"kind": "m", "subject": MEMBER, "action": "block"})]
    before = audit_count(app)
    for method, path, body in writes:
        for target, slug in ((mine, "demo"), (theirs, "other")):
            url = path.format(flag=target["flag"], award=target["awards"][0], slug=slug)
            analyst = getattr(client, method)(url, headers=heads["demo", "analyst"], json=body)
            # Their brand: the same 404 as a missing id; the analyst's own: 403.
            assert analyst.status_code == (403 if target is mine else 404), (url, analyst.get_json())
            if target is theirs:
                crossed = getattr(client, method)(url, headers=heads["demo", "operator"], json=body)
                assert crossed.status_code == 404, url
    assert audit_count(app) == before  # nothing was done
    assert client.post(f"/api/v1/risk/holds/{mine['awards'][0]}/release",
                       headers=heads["demo", "operator"]).status_code == 200
    assert client.get("/api/v1/risk/flags").status_code == 401


def test_an_operator_works_the_queue(world: Any) -> None:
    app, demo, _other = world
    client = app.test_client()
    headers = token(app, "operator@demo.example", "demo", "operator")
    queue = client.get("/api/v1/risk/flags", headers=headers).get_json()
    assert queue["total"] == 1 and queue["flags"][0]["held"] == 2 and queue["flags"][0]["reasons"] == {"farm": 1}
    assert "events" not in queue["flags"][0]["evidence"]
    one = client.get(f"/api/v1/risk/flags/{demo['flag']}", headers=headers).get_json()
    assert sorted(a["id"] for a in one["awards"]) == sorted(demo["awards"])
    holds = client.get("/api/v1/risk/holds?limit=1", headers=headers).get_json()
    assert holds["total"] == 2 and len(holds["holds"]) == 1
    # The consumer claims one: 审核中, nothing to pay yet.
    with transaction(app.extensions["yima.db"].sessions) as s:
        claimed = claim_award(s, openid="oCLAIM", award_id=demo["awards"][0], campaign_id=demo["campaign_id"],
                              kind="cash", rail=Rail("wechat_transfer", 32))
    assert claimed.held and claimed.payout is None
    cleared = client.post(f"/api/v1/risk/flags/{demo['flag']}/clear", headers=headers, json={"note": "查过了，正常"})
    assert cleared.status_code == 200, cleared.get_json()
    body = cleared.get_json()
    assert body["state"] == "cleared" and sorted(body["affected"]) == sorted(demo["awards"])
    assert body["note"] == "查过了，正常" and body["reviewed_by"]
    again = client.post(f"/api/v1/risk/flags/{demo['flag']}/clear", headers=headers)
    assert again.status_code == 409
    assert client.get("/api/v1/risk/holds", headers=headers).get_json()["total"] == 0
    # The released claim was settled with the app's rail: its payout waits for the worker.
    with app.extensions["yima.db"].sessions() as s:
        assert review.pending_payouts(s, [demo["awards"][0]]) != []
    assert client.get("/api/v1/risk/flags?state=cleared&kind=m", headers=headers).get_json()["total"] == 1
    assert client.get("/api/v1/risk/flags?state=any", headers=headers).get_json()["total"] == 1
    redis = app.extensions["yima.redis"]
    assert redis.hget(keys.state_key("m", MEMBER), keys.review_field(demo["brand_id"])) in (b"cleared", "cleared")


def test_block_and_reject(world: Any) -> None:
    app, demo, _other = world
    client = app.test_client()
    headers = token(app, "operator@demo.example", "demo", "operator")
    rejected = client.post(f"/api/v1/risk/holds/{demo['awards'][0]}/reject", headers=headers)
    assert rejected.status_code == 200 and rejected.get_json()["status"] == "void"
    assert client.post(f"/api/v1/risk/holds/{demo['awards'][0]}/reject", headers=headers).status_code == 409
    blocked = client.post(f"/api/v1/risk/flags/{demo['flag']}/block", headers=headers).get_json()
    assert blocked["state"] == "blocked" and blocked["affected"] == [demo["awards"][1]]
    assert client.post("/api/v1/risk/holds/nope/release", headers=headers).status_code == 404


def test_lists_through_the_api(world: Any) -> None:
    app, demo, _other = world
    client = app.test_client()
    headers = token(app, "operator@demo.example", "demo", "operator")
    other_op = token(app, "operator@other.example", "other", "operator")
    later = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    made = client.post("/api/v1/risk/lists", headers=headers,
                       json={"kind": "d", "subject": "phone-1", "action": "block", "note": "刷单", "expires_at": later})
    assert made.status_code == 201, made.get_json()
    entry = made.get_json()
    assert entry["subject"] == keys.device_subject("phone-1") and entry["platform"] is False
    redis = app.extensions["yima.redis"]
    field = redis.hget(keys.state_key("d", entry["subject"]), keys.list_field(demo["brand_id"]))
    assert field in (b"block", "block")
    listed = client.get("/api/v1/risk/lists?kind=d", headers=headers).get_json()
    assert listed["total"] == 1 and listed["entries"][0]["id"] == entry["id"]
    assert client.get("/api/v1/risk/lists", headers=other_op).get_json()["total"] == 0
    assert client.delete(f"/api/v1/risk/lists/{entry['id']}", headers=other_op).status_code == 404
    for body, field_name in (({"kind": "range", "subject": "1:0-9", "action": "allow"}, "action"),
                             ({"kind": "ip", "subject": "not an ip", "action": "block"}, "subject"),
                             ({"kind": "d", "subject": "x", "action": "block", "colour": 1}, "colour"),
                             ({"kind": "d", "subject": "x", "action": "block", "expires_at": "soon"}, "expires_at")):
        refused = client.post("/api/v1/risk/lists", headers=headers, json=body)
        assert refused.status_code == 400 and refused.get_json()["error"]["field"] == field_name, body
    # The platform's list: its admins' alone.
    assert client.get("/api/v1/risk/lists?platform=true", headers=headers).status_code == 404
    assert client.post("/api/v1/risk/lists", headers=headers,
                       json={"kind": "n", "subject": "1.2.3", "action": "block", "platform": True}).status_code == 404
    platform = client.post("/api/v1/risk/lists", headers=PLATFORM,
                           json={"kind": "n", "subject": "1.2.3", "action": "block", "platform": True})
    assert platform.status_code == 201 and platform.get_json()["platform"] is True
    assert redis.hget(keys.state_key("n", "1.2.3"), "list:*") in (b"block", "block")
    assert client.delete(f"/api/v1/risk/lists/{platform.get_json()['id']}", headers=headers).status_code == 404
    assert client.delete(f"/api/v1/risk/lists/{entry['id']}", headers=headers).status_code == 200
    assert redis.hget(keys.state_key("d", entry["subject"]), keys.list_field(demo["brand_id"])) is None


def test_the_policy_through_the_api(world: Any) -> None:
    app, demo, _other = world
    client = app.test_client()
    headers = token(app, "admin@demo.example", "demo", "admin")
    shown = client.get("/api/v1/risk/policy", headers=headers).get_json()
    # the demo brand's seed pays at once (app/seed.py); everything else is the defaults
    assert shown["overrides"] == {"payout_delay_s": 0}
    assert shown["policy"] == {**shown["defaults"], "payout_delay_s": 0}
    put = client.put("/api/v1/risk/policy", headers=headers, json={"device_per_day": 20, "keep_drawable": False})
    assert put.status_code == 200, put.get_json()
    assert put.get_json()["policy"]["device_per_day"] == 20 and put.get_json()["updated_by"]
    published = app.extensions["yima.redis"].hget(keys.POLICIES_KEY, str(demo["brand_id"]))
    assert json.loads(published)["keep_drawable"] is False
    bad = client.put("/api/v1/risk/policy", headers=headers, json={"device_per_day": -1})
    assert bad.status_code == 400 and bad.get_json()["error"]["field"] == "device_per_day"
    assert client.put("/api/v1/risk/policy", headers=headers, json=[1]).status_code == 400
    assert client.get("/api/v1/risk/policy?brand=demo", headers=PLATFORM).get_json()["overrides"] == {
        "device_per_day": 20, "keep_drawable": False}


@pytest.mark.parametrize(("query", "field"), [("state=done", "state"), ("kind=zz", "kind"), ("limit=0", "limit"),
                                              ("offset=-1", "offset"), ("colour=red", "colour")])
def test_a_wrong_parameter_is_400(world: Any, query: str, field: str) -> None:
    app, _demo, _other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    resp = app.test_client().get(f"/api/v1/risk/flags?{query}", headers=headers)
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    assert error.get("field") == field or error["problems"][0]["field"] == field
