"""The 窜货 pages (/dist/diversion): who sees which report, what a report says, the inspector's check, and
the brand dashboard's 窜货预警 panel. Scans go through the real scanner, the real drain and the judge."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import AuditEntry
from tests.support.channel_world import sign
from tests.web.console_support import add_user, login, post_form
from tests.web.diversion_support import PACK, URUMQI, DiversionWorld, diversion_world, drain, scan


@pytest.fixture
def dw(tmp_path: Path, redis_client) -> DiversionWorld:  # type: ignore[no-untyped-def]
    return diversion_world(tmp_path)


def signed_in(dw: DiversionWorld, email: str):  # type: ignore[no-untyped-def]
    client = dw.app.test_client()
    login(client, email)
    return client


def test_a_distributor_sees_its_own_report_first(dw: DiversionWorld) -> None:
    client = signed_in(dw, dw.world.users[("a", "distributor")])
    page = client.get("/dist/diversion")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "省级经销商 a" in html and 'id="diverted">1<' in html
    assert "新疆维吾尔自治区 乌鲁木齐市" in html  # where its goods were found
    assert sign(dw.app, dw.world.batch["a"], 10) in html  # the sample code
    assert "市级经销商 a" in html  # its sub-distributor, with its own figure
    assert "广东省" in html  # its territory, named


def test_the_report_by_week_and_month_and_over_other_windows(dw: DiversionWorld) -> None:
    client = signed_in(dw, dw.world.users[("a", "inspector")])
    d = dw.world.sub_distributor["a"]
    for query in ("period=week", "period=month&days=90", "days=7", "since=2026-01-01&until=2026-12-31"):
        page = client.get(f"/dist/diversion/{d}?{query}")
        assert page.status_code == 200, query
    html = client.get(f"/dist/diversion/{d}?period=week").get_data(as_text=True)
    assert "广东省 深圳市" in html and "50.0%" in html  # one of its two located scans was out of territory
    for bad in ("period=year", "days=8", "since=2026-13-01", "since=2026-12-02&until=2026-12-01",
                "since=2020-01-01&until=2026-01-01"):
        assert client.get(f"/dist/diversion/{d}?{bad}").status_code == 400, bad


def test_a_distributor_sees_its_subtree_and_nothing_else(dw: DiversionWorld) -> None:
    w = dw.world
    province = signed_in(dw, w.users[("a", "distributor")])
    assert province.get(f"/dist/diversion/{w.sub_distributor['a']}").status_code == 200
    assert province.get(f"/dist/diversion/{w.distributor['b']}").status_code == 404  # another brand's
    assert province.get("/dist/diversion/999999").status_code == 404
    city = signed_in(dw, dw.city_seat)
    assert city.get(f"/dist/diversion/{w.sub_distributor['a']}").status_code == 200
    assert city.get(f"/dist/diversion/{w.distributor['a']}").status_code == 404  # its parent: not its own
    assert "省级经销商 a" not in city.get("/dist/diversion").get_data(as_text=True)


def test_another_brands_staff_get_404_and_store_seats_get_403(dw: DiversionWorld) -> None:
    w = dw.world
    assert signed_in(dw, w.users[("b", "inspector")]).get(f"/dist/diversion/{w.distributor['a']}").status_code == 404
    add_user(dw.app, "op@b.test", "operator", "b")
    b_staff = signed_in(dw, "op@b.test")
    assert b_staff.get(f"/dist/diversion/{w.distributor['a']}?brand=b").status_code == 404
    assert b_staff.get(f"/dist/diversion/{w.distributor['b']}?brand=b").status_code == 200
    assert b_staff.get(f"/dist/diversion/{w.distributor['b']}?brand=a").status_code == 404  # no place in a
    for kind in ("clerk", "waiter", "warehouse"):
        client = signed_in(dw, w.users[("a", kind)])
        for path in ("/dist/diversion", f"/dist/diversion/{w.distributor['a']}", "/dist/diversion/999999",
                     "/dist/diversion/inspect"):
            assert client.get(path).status_code == 403, (kind, path)
    distributor = signed_in(dw, w.users[("a", "distributor")])
    assert distributor.get("/dist/diversion/inspect").status_code == 403


def test_the_inspector_sees_every_distributor_and_the_alerts(dw: DiversionWorld) -> None:
    html = signed_in(dw, dw.world.users[("a", "inspector")]).get("/dist/diversion").get_data(as_text=True)
    alerts = html.split('id="alerts"')[1].split("</section>")[0]
    assert "省级经销商 a" in alerts and "市级经销商 a" in alerts and "乌鲁木齐" in alerts
    assert 'id="no-record">1<' in html  # the scan of a case never shipped
    assert "省级经销商 b" not in html


def post_inspect(client, code: str, **form: str):  # type: ignore[no-untyped-def]
    return post_form(client, "/dist/diversion/inspect", {"code": code, **form}, token_from="/dist/diversion/inspect")


def verdict_of(html: str) -> str:
    return html.split('data-verdict="')[1].split('"')[0]


def test_the_inspectors_check(dw: DiversionWorld) -> None:
    w = dw.world
    client = signed_in(dw, w.users[("a", "inspector")])
    assert client.get("/dist/diversion/inspect").status_code == 200
    code = sign(dw.app, w.batch["a"], 3 * PACK + 5)  # case 3: warehouse → province → city (Guangzhou)
    found = post_inspect(client, code, region="650100")
    html = found.get_data(as_text=True)
    assert found.status_code == 200 and verdict_of(html) == "diverted" and "窜货" in html
    assert "市级经销商 a" in html and "省级经销商 a" in html and "品牌仓库" in html  # the path
    assert verdict_of(post_inspect(client, code, lat="23.125", lng="113.28").get_data(as_text=True)) == "normal"
    # The phone's position beats the region picked.
    assert verdict_of(post_inspect(client, code, lat="23.125", lng="113.28", region="650100").get_data(
        as_text=True)) == "normal"
    assert 'selected' in client.get("/dist/diversion/inspect").get_data(as_text=True)  # the region picked is kept
    unshipped = sign(dw.app, w.batch["a"], 8 * PACK)
    assert verdict_of(post_inspect(client, unshipped, region="440300").get_data(as_text=True)) == "no_record"
    # No position, no region picked, and 127.0.0.1 places nowhere: the inspector is asked where they are.
    assert verdict_of(post_inspect(client, code).get_data(as_text=True)) == "unlocated"
    for fake in (sign(dw.app, w.batch["b"], 1), code[:-1] + ("0" if code[-1] != "0" else "1"), "hello", "x" * 600):
        assert verdict_of(post_inspect(client, fake, region="440300").get_data(as_text=True)) == "not_genuine"
    assert post_inspect(client, code, region="bogus").status_code == 400
    assert post_inspect(client, code, region="999999").status_code == 400
    with dw.app.extensions["yima.db"].sessions() as s:
        audit = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "channel.inspect")))
    assert len(audit) == 9 and audit[0].after["verdict"] == "diverted" and audit[0].brand_id == dw.brand_ids["a"]
    assert audit[0].target == f"code:{code}" and "inspector@a.test" in audit[0].actor
    english = client.get("/dist/diversion/inspect?lang=en").get_data(as_text=True)
    assert "Inspect a code" in english and "Where you are" in english
    assert "Diverted" in post_inspect(client, code, region="650100").get_data(as_text=True)


def test_the_check_needs_the_csrf_token(dw: DiversionWorld) -> None:
    client = signed_in(dw, dw.world.users[("a", "inspector")])
    refused = client.post("/dist/diversion/inspect", data={"code": sign(dw.app, dw.world.batch["a"], 1)})
    assert refused.status_code == 400


def test_a_scan_from_xinjiang_is_on_the_report_after_one_drain_pass(dw: DiversionWorld) -> None:
    w = dw.world
    client = signed_in(dw, w.users[("a", "distributor")])
    before = client.get("/dist/diversion").get_data(as_text=True)
    assert 'id="diverted">1<' in before
    scan(dw.app, w.batch["a"], 2 * PACK + 3, URUMQI)  # case 2: the province's
    assert drain(dw.app) == 1
    assert 'id="diverted">2<' in client.get("/dist/diversion").get_data(as_text=True)


def test_the_brand_dashboard_has_the_alert_panel(dw: DiversionWorld) -> None:
    add_user(dw.app, "boss@a.test", "analyst", "a")
    add_user(dw.app, "boss@b.test", "analyst", "b")
    html = signed_in(dw, "boss@a.test").get("/ops/dashboard/?brand=a").get_data(as_text=True)
    panel = html.split('id="diversion-alerts"')[1].split("</article>")[0]
    assert "窜货预警" in html and "省级经销商 a" in panel and "新疆维吾尔自治区 乌鲁木齐市" in panel
    assert f"/dist/diversion/{dw.world.distributor['a']}?brand=a" in panel
    other = signed_in(dw, "boss@b.test").get("/ops/dashboard/?brand=b").get_data(as_text=True)
    panel_b = other.split('id="diversion-alerts"')[1].split("</article>")[0]
    assert "省级经销商 b" in panel_b and "省级经销商 a" not in panel_b
    # The link works for brand staff: the dist pages take the brand from ?brand=.
    assert signed_in(dw, "boss@a.test").get(f"/dist/diversion/{dw.world.distributor['a']}?brand=a").status_code == 200
