"""The audit log page and GET /api/v1/audit: scoped to the caller's brands, filtered, paged, readable."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from accounts.audit import record_change
from accounts.tokens import issue_token
from accounts.users import user_by_email
from codegen.db import transaction
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand, login

PLATFORM = {"Authorization": "Bearer test-ops-token"}


@pytest.fixture
def site(tmp_path: Path, redis_client) -> tuple[Flask, dict[str, int]]:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path, ops_token="test-ops-token")
    ids = {"demo": ensure_brand(app, "demo"), "other": ensure_brand(app, "other")}
    add_user(app, "an@demo.example", "analyst")
    add_user(app, "an@other.example", "analyst", brand="other")
    with transaction(app.extensions["yima.db"].sessions) as s:
        record_change(s, "user:1 li@demo.example", "campaign.update", "campaign:7", brand_id=ids["demo"],
                      before={"name": "春节", "budget": {"total_fen": 50000}, "regions": ["44"]},
                      after={"name": "春节", "budget": {"total_fen": 80000}, "regions": ["44", "45"], "priority": 3})
        record_change(s, "user:2 wang@other.example", "campaign.create", "campaign:8", brand_id=ids["other"],
                      after={"name": "other brand's secret plan"})
        record_change(s, "cli", "user.create", "user:9", brand_id=None, after={"email": "root@yima.example"})
    return app, ids


def page(app: Flask, email: str, query: str = "") -> Any:
    client = app.test_client()
    login(client, email)
    return client.get("/ops/audit" + query)


def token_for(app: Flask, email: str, brand: str) -> dict[str, str]:
    with transaction(app.extensions["yima.db"].sessions) as s:
        user = user_by_email(s, email)
        assert user is not None
        _, secret = issue_token(s, user, ensure_brand(app, brand), "analyst", "audit reader", 5)
    return {"Authorization": f"Bearer {secret}"}


def test_a_user_sees_only_their_brands_entries(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    html = page(app, "an@demo.example").get_data(as_text=True)
    assert "campaign:7" in html and "campaign:8" not in html and "secret plan" not in html
    assert "root@yima.example" not in html  # platform-wide entries: platform admins only
    other = page(app, "an@other.example").get_data(as_text=True)
    assert "campaign:8" in other and "campaign:7" not in other


def test_the_platform_admin_sees_everything_including_platform_entries(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    add_user(app, "root@yima.example", None, platform_admin=True)
    html = page(app, "root@yima.example").get_data(as_text=True)
    assert all(t in html for t in ("campaign:7", "campaign:8", "user:9"))
    assert html.index("user:9") < html.index("campaign:8") < html.index("campaign:7")  # newest first


def test_before_and_after_are_shown_field_by_field(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    html = page(app, "an@demo.example").get_data(as_text=True)
    entry = html[html.index("campaign:7"):]
    entry = entry[:entry.index("</article>")]
    assert re.search(r'class="path">budget.total_fen</td>\s*<td><span class="old">50000</span>\s*→\s*'
                     r'<span class="new">80000</span>', entry)
    assert '["44","45"]' in entry.replace("&#34;", '"') and "priority" in entry
    assert "春节" not in entry  # unchanged fields are not repeated


@pytest.mark.parametrize("query, shown, hidden", [
    ("?action=campaign.up", ["campaign:7"], []),
    ("?action=user", [], ["campaign:7"]),
    ("?actor=li@", ["campaign:7"], []),
    ("?actor=nobody", [], ["campaign:7"]),
    ("?target=campaign:7", ["campaign:7"], []),
    ("?target=campaign:70", [], ["campaign:7"]),
    ("?brand=demo", ["campaign:7"], []),
])
def test_filters(site, query, shown, hidden) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    html = page(app, "an@demo.example", query).get_data(as_text=True)
    for target in shown:
        assert f">{target}</a>" in html
    for target in hidden:
        assert f">{target}</a>" not in html


def test_date_range_is_in_china_days(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    for since, until, expect in ((today, today, True), (today + timedelta(days=1), None, False),
                                 (None, today - timedelta(days=1), False)):
        query = "?" + "&".join(f"{k}={v}" for k, v in (("since", since), ("until", until)) if v)
        assert (">campaign:7</a>" in page(app, "an@demo.example", query).get_data(as_text=True)) is expect, query


def test_bad_filters_show_an_error_and_no_entries(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    for query in ("?brand=other", "?brand=nope", "?since=yesterday", "?until=2026-13-01",
                  "?before=abc"):
        resp = page(app, "an@demo.example", query)
        html = resp.get_data(as_text=True)
        assert resp.status_code == 400 and 'class="field-error"' in html and ">campaign:7</a>" not in html, query


def test_paging_newest_first(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    with transaction(app.extensions["yima.db"].sessions) as s:
        for i in range(60):
            record_change(s, "script", "batch.activate", f"batch:{i}", brand_id=ids["demo"], after={"n": i})
    client = app.test_client()
    login(client, "an@demo.example")
    first = client.get("/ops/audit?action=batch").get_data(as_text=True)
    assert ">batch:59</a>" in first and ">batch:10</a>" in first and ">batch:9</a>" not in first
    older = re.search(r'href="(/ops/audit\?[^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")  # type: ignore[union-attr]
    assert "action=batch" in older
    second = client.get(older).get_data(as_text=True)
    assert ">batch:9</a>" in second and ">batch:0</a>" in second and ">batch:10</a>" not in second
    assert "更早" not in second


def test_the_api_is_scoped_to_the_token(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = app.test_client()
    demo = client.get("/api/v1/audit", headers=token_for(app, "an@demo.example", "demo")).get_json()
    assert [e["target"] for e in demo["entries"]] == ["campaign:7"]
    assert demo["entries"][0]["brand"] == "demo" and demo["entries"][0]["after"]["budget"] == {"total_fen": 80000}
    everything = client.get("/api/v1/audit", headers=PLATFORM).get_json()
    assert [e["target"] for e in everything["entries"]] == ["user:9", "campaign:8", "campaign:7"]
    assert everything["entries"][0]["brand"] is None


def test_the_api_filters_pages_and_refuses_bad_input(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = app.test_client()
    first = client.get("/api/v1/audit?limit=2", headers=PLATFORM).get_json()
    assert len(first["entries"]) == 2 and first["next_before_id"] == first["entries"][-1]["id"]
    rest = client.get(f"/api/v1/audit?limit=2&before_id={first['next_before_id']}", headers=PLATFORM).get_json()
    assert [e["target"] for e in rest["entries"]] == ["campaign:7"] and rest["next_before_id"] is None
    only = client.get("/api/v1/audit?action=campaign&actor=wang", headers=PLATFORM).get_json()
    assert [e["target"] for e in only["entries"]] == ["campaign:8"]
    demo_token = token_for(app, "an@demo.example", "demo")
    for query, field in (("brand=other", "brand"), ("brand=nope", "brand"), ("limit=0", "limit"),
                         ("limit=x", "limit"), ("since=2026-12-02T08:00:00", "since"), ("colour=red", "colour"),
                         ("before_id=-1", "before_id")):
        resp = client.get(f"/api/v1/audit?{query}", headers=demo_token)
        body = resp.get_json()
        assert resp.status_code == 400 and body["error"]["problems"][0]["field"] == field, query
    # another brand reads exactly like a brand that does not exist
    forbidden = client.get("/api/v1/audit?brand=other", headers=demo_token).get_json()["error"]
    unknown = client.get("/api/v1/audit?brand=nope", headers=demo_token).get_json()["error"]
    assert forbidden["message"].replace("other", "X") == unknown["message"].replace("nope", "X")
    assert client.get("/api/v1/audit").status_code == 401
