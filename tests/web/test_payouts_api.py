"""The payouts in the ops API (Bearer): list and filters, one payout with its history, the CSV export, the
reconciliation runs, retry and cancel; scoped per brand (another brand's id is the same 404 as a missing
one) and per role (an analyst's token reads only). Also the payout metrics on /metrics.

Retry and cancel that actually happen call payouts.engine; only those tests skip while it is not there.
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from accounts.audit import AuditFilter, count_changes, list_changes
from accounts.tokens import issue_token
from accounts.users import user_by_email
from app import payout_metrics
from codegen.db import transaction
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand
from tests.web.payout_support import seed_payouts

OPS_TOKEN = "payouts-api-platform-token-0123456789"
ENGINE = importlib.util.find_spec("payouts.engine") is not None
needs_engine = pytest.mark.skipif(not ENGINE, reason="payouts.engine (retry_payout, cancel_payout) is not on "
                                                     "this branch yet")


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
    yield app, seed_payouts(app), seed_payouts(app, "other", with_run=False)


def audit_count(app: Flask) -> int:
    with app.extensions["yima.db"].sessions() as s:
        return count_changes(s, AuditFilter())


def test_a_brands_token_lists_its_payouts_newest_first_and_pages(world: Any) -> None:
    app, demo, other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    client = app.test_client()
    first = client.get("/api/v1/payouts?limit=5", headers=headers)
    assert first.status_code == 200, first.get_json()
    body = first.get_json()
    ids = [p["id"] for p in body["payouts"]]
    assert ids == sorted(ids, reverse=True) and len(ids) == 5 and body["next_before_id"] == ids[-1]
    seen = list(ids)
    while body["next_before_id"]:
        body = client.get(f"/api/v1/payouts?limit=5&before_id={body['next_before_id']}", headers=headers).get_json()
        seen += [p["id"] for p in body["payouts"]]
    assert sorted(seen) == sorted(i for ids in demo["ids"].values() for i in ids)
    assert not set(seen) & {i for ids in other["ids"].values() for i in ids}
    one = first.get_json()["payouts"][0]
    assert set(one) >= {"award_id", "openid", "amount_fen", "state", "bill_no", "reason", "created_at"}
    assert one["created_at"].endswith("+00:00")


@pytest.mark.parametrize(("query", "count"), [
    ("state=failed", 3), ("q=YdemoX0007", 1), ("campaign_id=2", 3), ("since=2026-12-02T10:10:00%2B08:00", 2),
    ("until=2026-12-01", 0), ("brand=demo&state=expired", 1),
])
def test_filters(world: Any, query: str, count: int) -> None:
    app, _demo, _other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    resp = app.test_client().get(f"/api/v1/payouts?{query}", headers=headers)
    assert resp.status_code == 200, resp.get_json()
    assert len(resp.get_json()["payouts"]) == count


@pytest.mark.parametrize(("query", "field"), [
    ("state=paid", "state"), ("state=", "state"), ("limit=0", "limit"), ("limit=201", "limit"),
    ("before_id=x", "before_id"), ("since=2026-12-02 10:00", "since"), ("campaign_id=", "campaign_id"),
    ("colour=red", "colour"),
])
def test_a_wrong_parameter_is_400_naming_it(world: Any, query: str, field: str) -> None:
    app, _demo, _other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    resp = app.test_client().get(f"/api/v1/payouts?{query}", headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["error"]["problems"][0]["field"] == field


def test_brands_the_caller_cannot_see(world: Any) -> None:
    app, _demo, _other = world
    client = app.test_client()
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    assert client.get("/api/v1/payouts?brand=other", headers=headers).status_code == 404
    assert client.get("/api/v1/payouts?brand=nope", headers=headers).status_code == 404
    platform = {"Authorization": f"Bearer {OPS_TOKEN}"}
    several = client.get("/api/v1/payouts", headers=platform)  # the platform token must name the brand
    assert several.status_code == 400 and several.get_json()["error"]["problems"][0]["field"] == "brand"
    assert len(client.get("/api/v1/payouts?brand=other", headers=platform).get_json()["payouts"]) == 12
    assert client.get("/api/v1/payouts").status_code == 401


def test_one_payout_with_its_history_and_another_brands_reads_as_missing(world: Any) -> None:
    app, demo, other = world
    client = app.test_client()
    headers = token(app, "admin@demo.example", "demo", "admin")
    mine = client.get(f"/api/v1/payouts/{demo['ids']['failed'][0]}", headers=headers).get_json()
    assert mine["state"] == "failed" and mine["reason"] == "NOT_ENOUGH"
    assert [e["to_state"] for e in mine["events"]] == ["pending", "submitted", "failed"]
    assert mine["events"][-1]["source"] == "callback" and mine["events"][-1]["reason"] == "NOT_ENOUGH"
    theirs_id = other["ids"]["failed"][0]
    for suffix, method in (("", "GET"), ("/retry", "POST"), ("/cancel", "POST")):
        theirs = client.open(f"/api/v1/payouts/{theirs_id}{suffix}", method=method, headers=headers)
        missing = client.open(f"/api/v1/payouts/{10**6}{suffix}", method=method, headers=headers)
        assert theirs.status_code == missing.status_code == 404, suffix
        assert theirs.get_json()["error"]["message"].replace(str(theirs_id), "N") == \
            missing.get_json()["error"]["message"].replace(str(10**6), "N")
    assert client.get(f"/api/v1/payouts/{2**40}", headers=headers).status_code == 404


def test_an_analysts_token_cannot_retry_or_cancel(world: Any) -> None:
    app, demo, _other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    before = audit_count(app)
    for action in ("retry", "cancel"):
        resp = app.test_client().post(f"/api/v1/payouts/{demo['ids']['failed'][0]}/{action}", headers=headers)
        assert resp.status_code == 403 and resp.get_json()["error"]["code"] == "forbidden"
    assert audit_count(app) == before


def test_the_csv_export(world: Any) -> None:
    app, _demo, _other = world
    headers = token(app, "analyst@demo.example", "demo", "analyst")
    resp = app.test_client().get("/api/v1/payouts.csv?state=failed", headers=headers)
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert len(rows) == 3 and {r["state"] for r in rows} == {"failed"}
    assert app.test_client().get("/api/v1/payouts.csv?limit=5", headers=headers).status_code == 400


def test_reconciliations_for_a_brand_and_for_the_platform(world: Any) -> None:
    app, demo, _other = world
    client = app.test_client()
    brand = client.get("/api/v1/reconciliations", headers=token(app, "analyst@demo.example", "demo", "analyst"))
    run = brand.get_json()["reconciliations"][0]
    assert run["matched"] is None and (run["missing"], run["extra"], run["mismatched"]) == (0, 1, 1)
    assert {d["bill_no"] for d in run["details"]} == {demo["bills"][2], demo["bills"][3]}
    whole = client.get("/api/v1/reconciliations", headers={"Authorization": f"Bearer {OPS_TOKEN}"}).get_json()
    run = whole["reconciliations"][0]
    assert (run["matched"], run["missing"], run["extra"], run["mismatched"]) == (3, 1, 1, 1)
    assert run["day"] == "2026-12-02" and len(run["details"]) == 3
    other = client.get("/api/v1/reconciliations", headers=token(app, "admin@other.example", "other", "admin"))
    assert other.get_json()["reconciliations"][0]["details"] == []


@needs_engine
def test_an_operator_retries_through_the_api_and_it_is_audited(world: Any) -> None:
    app, demo, _other = world
    payout_id = demo["ids"]["failed"][0]
    resp = app.test_client().post(f"/api/v1/payouts/{payout_id}/retry",
                                  headers=token(app, "operator@demo.example", "demo", "operator"))
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json()["attempt"] == 2 and resp.get_json()["state"] != "failed"
    with app.extensions["yima.db"].sessions() as s:
        assert list_changes(s, AuditFilter(target=f"payout:{payout_id}"))[0].action == "payout.retry"


@needs_engine
def test_cancelling_a_paid_payout_is_409(world: Any) -> None:
    app, demo, _other = world
    before = audit_count(app)
    resp = app.test_client().post(f"/api/v1/payouts/{demo['ids']['succeeded'][0]}/cancel",
                                  headers=token(app, "operator@demo.example", "demo", "operator"))
    assert resp.status_code == 409 and resp.get_json()["error"]["code"] == "payout_conflict"
    assert audit_count(app) == before


# -- metrics --------------------------------------------------------------------------------------------

def scrape(app: Flask) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    res = app.test_client().get("/metrics")
    assert res.status_code == 200
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(res.get_data(as_text=True)) for s in family.samples}


def test_the_payout_metrics(world: Any) -> None:
    app, _demo, _other = world
    before = scrape(app)
    payout_metrics.count_payout_transition("wechat_transfer", "succeeded")
    payout_metrics.count_payout_transition("wechat_transfer", "succeeded")
    payout_metrics.count_payout_transition("somebody's rail", "made-up")
    payout_metrics.observe_claim_to_submit(0.3)
    payout_metrics.count_provider_error("wechat_transfer", "frequency_limited")
    payout_metrics.count_provider_error("wechat_transfer", "a code nobody has seen <script>")
    after = scrape(app)

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("yima_payouts_total", provider="wechat_transfer", state="succeeded") == 2
    assert delta("yima_payouts_total", provider="other", state="other") == 1
    assert delta("yima_payout_submit_seconds_count") == 1
    assert delta("yima_payout_submit_seconds_bucket", le="0.5") == 1
    assert delta("yima_payout_provider_errors_total", provider="wechat_transfer", reason="FREQUENCY_LIMITED") == 1
    assert delta("yima_payout_provider_errors_total", provider="wechat_transfer", reason="other") == 1
    # the open payouts, read from SQL at the scrape: both brands together (no brand label)
    assert after[("yima_payouts_open", frozenset({("state", "unknown")}))] == 2
    assert after[("yima_payouts_open", frozenset({("state", "awaiting_user")}))] == 2
    assert after[("yima_payouts_open", frozenset({("state", "pending")}))] == 2
    assert after[("yima_payouts_oldest_open_age_seconds", frozenset({("state", "unknown")}))] > 0
    assert after[("yima_payouts_open_up", frozenset())] == 1
