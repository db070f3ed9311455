"""The live dashboard: a drained scan and its win show up; each brand sees only its own; CSV export."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from sqlalchemy import select

from app.seed import DEMO_CAMPAIGN, DemoInfo, seed_demo_campaign
from rules.awards import AwardSink
from rules.drain import Drainer
from rules.models import Campaign
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, ensure_brand, login


@pytest.fixture
def demo(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, DemoInfo, int]]:
    app, info = seeded_app(tmp_path)
    seed_demo_campaign(app.extensions["yima.db"], app.extensions["yima.redis"], info.batch_id)
    with app.extensions["yima.db"].sessions() as s:
        campaign_id = s.scalar(select(Campaign.id).where(Campaign.name == DEMO_CAMPAIGN))
    assert campaign_id is not None
    yield app, info, campaign_id


def drain(app: Flask) -> None:
    """What the worker does: scan events and awards from the streams into SQL and the rollups."""
    r, sessions = app.extensions["yima.redis"], app.extensions["yima.db"].sessions
    for sink in (None, AwardSink()):
        drainer = Drainer(r, sessions, "test", sink=sink)
        while drainer.drain_once(block_ms=10).read:
            pass


def csv_rows(body: bytes) -> list[list[str]]:
    text = body.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"))))


def test_a_drained_scan_and_its_win_appear_on_the_dashboard(demo) -> None:  # type: ignore[no-untyped-def]
    app, info, campaign_id = demo
    add_user(app, "li@demo.example", "analyst")
    client = app.test_client()
    login(client, "li@demo.example")
    before = client.get("/ops/dashboard/?brand=demo&days=1").get_data(as_text=True)
    assert "深圳市" not in before
    scan = client.post("/api/v1/scans", json={"code": info.inner_url, "adcode": "440305"}).get_json()
    [reward] = scan["reward"]
    assert reward["outcome"] in ("won", "consolation")
    prize = reward["prize"]["name"]
    drain(app)
    page = client.get("/ops/dashboard/?brand=demo&days=1")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "深圳市" in html and "广东省" in html and DEMO_CAMPAIGN in html
    assert 'hx-trigger="every 5s"' in html and "/ops/dashboard/live?brand=demo" in html
    live = client.get("/ops/dashboard/live?brand=demo&days=1").get_data(as_text=True)
    assert live.startswith('<section id="live"') and "深圳市" in live
    rows = csv_rows(client.get(f"/ops/dashboard/campaigns/{campaign_id}/export.csv?days=1").data)
    assert ["totals", rows[1][1], "", "first", "1"] in rows
    won = {r[2]: r[4] for r in rows if r[0] == "wins_by_prize" and r[3] == "won"}
    assert won[prize] == "1" and sum(int(v) for v in won.values()) == 1
    assert ["top_cities", "440300", "深圳市", "scans", "1"] in rows
    campaign_page = client.get(f"/ops/dashboard/campaigns/{campaign_id}?days=1").get_data(as_text=True)
    assert prize in campaign_page and f"/ops/dashboard/campaigns/{campaign_id}/live?days=1" in campaign_page


def test_a_brand_sees_only_its_own_dashboards(demo) -> None:  # type: ignore[no-untyped-def]
    app, _info, campaign_id = demo
    ensure_brand(app, "rival", "对手啤酒")
    add_user(app, "b@rival.example", "operator", brand="rival")
    client = app.test_client()
    login(client, "b@rival.example")
    page = client.get("/ops/dashboard/").get_data(as_text=True)
    assert "对手啤酒" in page and "演示啤酒" not in page
    for path in ("/ops/dashboard/?brand=demo", "/ops/dashboard/live?brand=demo", "/ops/dashboard/export.csv?brand=demo",
                 f"/ops/dashboard/campaigns/{campaign_id}", f"/ops/dashboard/campaigns/{campaign_id}/live",
                 f"/ops/dashboard/campaigns/{campaign_id}/export.csv", "/ops/dashboard/?brand=nobody",
                 "/ops/dashboard/campaigns/999999", f"/ops/dashboard/campaigns/{2**64}/live"):
        assert client.get(path).status_code == 404, path


def test_a_platform_admin_picks_any_brand(demo) -> None:  # type: ignore[no-untyped-def]
    app, _info, campaign_id = demo
    ensure_brand(app, "rival", "对手啤酒")
    add_user(app, "root@yima.example", None, platform_admin=True)
    client = app.test_client()
    login(client, "root@yima.example")
    page = client.get("/ops/dashboard/?brand=rival").get_data(as_text=True)
    assert '<option value="demo"' in page and '<option value="rival" selected' in page
    assert client.get(f"/ops/dashboard/campaigns/{campaign_id}").status_code == 200


def test_bad_parameters_and_visitors(demo) -> None:  # type: ignore[no-untyped-def]
    app, _info, _campaign_id = demo
    client = app.test_client()
    resp = client.get("/ops/dashboard/?brand=demo")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/ops/login")
    assert client.get("/ops/dashboard/export.csv?brand=demo").status_code == 302
    # The fragment htmx polls, after the session ended: the page itself is sent to the login form.
    resp = client.get("/ops/dashboard/campaigns/1/live?days=7&campaign_id=2&_external=1&_scheme=x",
                      headers={"HX-Request": "true"})
    assert resp.status_code == 401 and resp.data == b""
    assert resp.headers["HX-Redirect"] == "/ops/login?next=/ops/dashboard/campaigns/1?days%3D7"
    add_user(app, "nobody@demo.example", None)
    login(client, "nobody@demo.example")
    assert "您还没有任何品牌的权限" in client.get("/ops/dashboard/").get_data(as_text=True)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    login(client, "li@demo.example")
    for days in ("3", "x", "-1", "7.0"):
        assert client.get(f"/ops/dashboard/?brand=demo&days={days}").status_code == 400
    assert client.get("/ops/dashboard/?brand=demo&days=90").status_code == 200


def test_csv_export(demo) -> None:  # type: ignore[no-untyped-def]
    app, info, _campaign_id = demo
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    login(client, "li@demo.example")
    for adcode in ("440305", "440305", "110105"):
        client.post("/api/v1/scans", json={"code": info.outer_url, "adcode": adcode})
    drain(app)
    resp = client.get("/ops/dashboard/export.csv?brand=demo&days=7")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="yima-demo-7d.csv"'
    rows = csv_rows(resp.data)
    assert rows[0] == ["figure", "bucket", "label", "series", "value"]
    assert ["top_provinces", "440000", "广东省", "scans", "2"] in rows
    assert ["top_provinces", "110000", "北京市", "scans", "1"] in rows
    totals = {r[3]: r[4] for r in rows if r[0] == "totals"}
    assert (totals["first"], totals["repeat"], totals["first_share"]) == ("1", "2", "0.3333")
    assert len([r for r in rows if r[0] == "scans_per_day"]) == 7 * 4
    assert {r[2] for r in rows if r[0] == "campaigns"} == {DEMO_CAMPAIGN}
