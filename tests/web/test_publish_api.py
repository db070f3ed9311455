"""The rules API per brand: publish, rollback, versions and the pending diff, with brand tokens and the
platform token; another brand is 404, an analyst 403; publish and rollback are in the audit log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, list_changes
from accounts.tokens import issue_token
from accounts.users import user_by_email
from codegen.db import transaction
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import current_version
from rules.region import default_index
from rules.snapshot import snapshot_key
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand

TOKEN = "test-ops-token"
PLATFORM = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Flask]:
    app, _info = seeded_app(tmp_path, ops_token=TOKEN)
    ensure_brand(app, "other")
    yield app


def bearer(app: Flask, email: str, role: str, brand: str) -> dict[str, str]:
    add_user(app, email, role, brand)
    with transaction(app.extensions["yima.db"].sessions) as s:
        user = user_by_email(s, email)
        assert user is not None
        _row, secret = issue_token(s, user, ensure_brand(app, brand), role, "test", 30)
    return {"Authorization": f"Bearer {secret}"}


def active_campaign(app: Flask, brand: str, name: str, **over: Any) -> int:
    doc = {"name": name, "brand": brand,
           "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-01-01T00:00:00+08:00"},
           "budget": {"total_fen": 10_000},
           "prizes": [{"kind": "points", "name": "积分", "points": 5, "weight": 0.5}], **over}
    with transaction(app.extensions["yima.db"].sessions) as s:
        row = save_campaign(s, doc, default_index())
        set_status(s, row.id, Campaign.ACTIVE, default_index())
        return row.id


def live_ids(app: Flask) -> set[int]:
    r = app.extensions["yima.redis"]
    return {c["id"] for c in json.loads(r.get(snapshot_key(current_version(r))))["campaigns"]}


def test_brand_tokens_publish_their_own_brand_only(ops: Flask) -> None:
    client: FlaskClient = ops.test_client()
    demo_op, other_op = bearer(ops, "op@demo.example", "operator", "demo"), bearer(ops, "op@other.example",
                                                                                  "operator", "other")
    mine = active_campaign(ops, "demo", "Demo spring")
    theirs = active_campaign(ops, "other", "Other spring")

    diff = client.get("/api/v1/rules/diff?brand=demo", headers=demo_op).get_json()
    assert [c["id"] for c in diff["added"]] == [mine] and diff["added"][0]["definition"]["name"] == "Demo spring"
    assert client.get("/api/v1/rules/diff?brand=other", headers=demo_op).status_code == 404
    assert client.get("/api/v1/rules/diff?brand=nope", headers=demo_op).status_code == 404
    assert client.get("/api/v1/rules/diff", headers=demo_op).status_code == 400  # a brand token names it

    res = client.post("/api/v1/rules/publish", headers=demo_op, json={"brand": "demo", "note": "spring"})
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["campaigns"] == 1 and [c["id"] for c in body["diff"]["added"]] == [mine]  # not theirs
    assert live_ids(ops) == {mine}  # the other brand's active campaign waits for its own publish
    assert client.post("/api/v1/rules/publish", headers=demo_op, json={"brand": "other"}).status_code == 404
    assert client.post("/api/v1/rules/publish", headers=demo_op, json={}).status_code == 400

    v_other = client.post("/api/v1/rules/publish", headers=other_op, json={"brand": "other"}).get_json()["version"]
    listed = client.get("/api/v1/rules/versions?brand=demo", headers=demo_op).get_json()
    assert [v["version"] for v in listed["versions"]] == [body["version"]] and listed["current"] == v_other
    assert "op@demo.example" in listed["versions"][0]["actor"]
    assert listed["versions"][0]["note"] == "spring" and listed["versions"][0]["campaigns"] == 1
    # Another brand's version id is a 404, exactly like a missing one.
    assert client.post("/api/v1/rules/rollback", headers=demo_op,
                       json={"brand": "demo", "version": v_other}).status_code == 404
    assert live_ids(ops) == {mine, theirs}


def test_rollback_by_a_brand_is_a_new_version_and_keeps_the_other_brand(ops: Flask) -> None:
    client = ops.test_client()
    demo_op = bearer(ops, "op@demo.example", "operator", "demo")
    other_op = bearer(ops, "op@other.example", "operator", "other")
    first = active_campaign(ops, "demo", "First")
    v1 = client.post("/api/v1/rules/publish", headers=demo_op, json={"brand": "demo"}).get_json()["version"]
    second = active_campaign(ops, "demo", "Second")
    client.post("/api/v1/rules/publish", headers=demo_op, json={"brand": "demo"})
    theirs = active_campaign(ops, "other", "Theirs")
    client.post("/api/v1/rules/publish", headers=other_op, json={"brand": "other"})

    res = client.post("/api/v1/rules/rollback", headers=demo_op, json={"brand": "demo", "version": v1})
    assert res.status_code == 200, res.get_json()
    body = res.get_json()
    assert body["rolled_back_to"] == v1 and body["version"] == 4 and body["campaigns"] == 2  # first + theirs
    assert [c["id"] for c in body["diff"]["removed"]] == [second]
    versions = client.get("/api/v1/rules/versions?brand=demo", headers=demo_op).get_json()
    assert versions["current"] == 4 and versions["versions"][0]["note"] == f"rollback to {v1}"

    with ops.extensions["yima.db"].sessions() as s:
        entries = list_changes(s, AuditFilter(action="rules."))
    assert [e.action for e in entries] == ["rules.rollback", "rules.publish", "rules.publish", "rules.publish"]
    assert entries[0].target == "rules_version:4" and entries[0].after["removed"][0]["id"] == second
    assert entries[1].brand_id == ensure_brand(ops, "other") and entries[1].after["added"][0]["id"] == theirs
    assert entries[3].after["added"][0]["id"] == first


def test_analysts_read_but_cannot_publish_or_roll_back(ops: Flask) -> None:
    client = ops.test_client()
    analyst = bearer(ops, "an@demo.example", "analyst", "demo")
    active_campaign(ops, "demo", "Demo")
    assert client.get("/api/v1/rules/diff?brand=demo", headers=analyst).status_code == 200
    assert client.get("/api/v1/rules/versions?brand=demo", headers=analyst).status_code == 200
    assert client.post("/api/v1/rules/publish", headers=analyst, json={"brand": "demo"}).status_code == 403
    v = client.post("/api/v1/rules/publish", headers=PLATFORM, json={"brand": "demo"}).get_json()["version"]
    assert client.post("/api/v1/rules/rollback", headers=analyst,
                       json={"brand": "demo", "version": v}).status_code == 403


def test_the_platform_token_publishes_everything_or_one_brand(ops: Flask) -> None:
    client = ops.test_client()
    demo = active_campaign(ops, "demo", "Demo")
    other = active_campaign(ops, "other", "Other")
    v1 = client.post("/api/v1/rules/publish", headers=PLATFORM, json={"brand": "other"}).get_json()
    assert [c["id"] for c in v1["diff"]["added"]] == [other] and v1["campaigns"] == 1
    v2 = client.post("/api/v1/rules/publish", headers=PLATFORM).get_json()
    assert [c["id"] for c in v2["diff"]["added"]] == [demo] and v2["campaigns"] == 2
    listed = client.get("/api/v1/rules/versions", headers=PLATFORM).get_json()["versions"]
    assert [(v["version"], v["brand_id"]) for v in listed] == [(2, None), (1, ensure_brand(ops, "other"))]
    back = client.post("/api/v1/rules/rollback", headers=PLATFORM, json={"version": 1}).get_json()
    assert back["version"] == 1 and [c["id"] for c in back["diff"]["removed"]] == [demo]
    assert client.post("/api/v1/rules/publish", headers=PLATFORM, json={"brand": 7}).status_code == 400
    assert client.post("/api/v1/rules/publish", headers=PLATFORM, json={"brand": "nope"}).status_code == 404
    assert client.post("/api/v1/rules/publish", headers=PLATFORM, json={"brand": None}).status_code == 400
    res = client.get("/api/v1/rules/diff?brand=demo&bran=x", headers=PLATFORM)
    assert res.status_code == 400 and res.get_json()["error"]["problems"][0]["field"] == "bran"
