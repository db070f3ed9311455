"""The console's campaign pages through Flask on real SQL and Redis: the editor's errors at their fields,
save / activate, conflicts, double submits, scoping and roles, the audit log, simulate and backtest."""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from accounts.models import AuditEntry
from app.campaign_form import definition_to_form, form_items
from app.seed import DemoInfo
from codegen.db import transaction
from rules.backtest import backtest
from rules.campaign_store import compile_row
from rules.models import Campaign, ScanEvent
from rules.region import default_index
from tests.unit.test_campaign_form import docs_example
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, csrf_token, login

NEW = "/ops/campaigns/new"


@pytest.fixture
def console(tmp_path: Path, redis_client) -> tuple[Flask, DemoInfo]:  # type: ignore[no-untyped-def]
    app, info = seeded_app(tmp_path)
    add_user(app, "op@demo.example", "operator")
    return app, info


def signed_in(app: Flask, email: str = "op@demo.example") -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def guangdong(info: DemoInfo, **over: Any) -> dict[str, Any]:
    doc = docs_example()
    doc["scope"]["batches"] = [info.batch_id]
    doc.update(over)
    return doc


def post_editor(client: FlaskClient, path: str, doc: dict[str, Any], *, extra: Sequence[tuple[str, str]] = (),
                token_from: str = NEW, **fields: str) -> Any:
    """Post the editor as a browser would: the form of `doc`, with `fields` replaced."""
    page = client.get(token_from).get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    items = [(k, fields.get(k, v)) for k, v in form_items(definition_to_form(doc))]
    nonce = re.search(r'name="nonce" value="([^"]+)"', page)
    items += [("csrf_token", token), *extra]
    if nonce and not any(k == "nonce" for k, _ in extra):
        items.append(("nonce", nonce.group(1)))
    return client.post(path, data=_multi(items))


def _multi(items: Sequence[tuple[str, str]]) -> MultiDict[str, str]:
    return MultiDict(items)


def campaigns(app: Flask) -> list[Campaign]:
    with app.extensions["yima.db"].sessions() as s:
        rows = list(s.scalars(select(Campaign).order_by(Campaign.id)))
        s.expunge_all()
        return rows


def audit(app: Flask) -> list[AuditEntry]:
    with app.extensions["yima.db"].sessions() as s:
        rows = list(s.scalars(select(AuditEntry).where(AuditEntry.action.startswith("campaign"))
                              .order_by(AuditEntry.id)))
        s.expunge_all()
        return rows


def problems_on(page: str) -> set[str]:
    return set(re.findall(r'data-problem="([^"]+)"', page))


def test_the_docs_campaign_is_created_through_the_form(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    resp = post_editor(client, NEW, guangdong(info), extra=[("then", "save")])
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    [row] = campaigns(app)
    assert row.status == "draft" and row.name == "广东首扫必中"
    assert row.definition["budget"] == {"total_fen": 50000}
    assert row.definition["prizes"][0] == {"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500,
                                           "weight": 0.6, "total": 50}
    assert row.definition["window"]["start"] == "2026-12-01T00:00:00+08:00"
    [entry] = audit(app)
    assert entry.action == "campaign.create" and entry.target == f"campaign:{row.id}"
    assert entry.actor.endswith("op@demo.example") and entry.after["definition"] == row.definition
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "广东首扫必中" in page and "广东省" in page and "500" in page
    assert f"/ops/audit?brand=demo&amp;target=campaign:{row.id}" in page  # its full audit trail


def test_every_problem_shows_at_its_field_and_nothing_typed_is_lost(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    doc = guangdong(info)
    doc["scope"]["batches"] = [info.batch_id + 1000]  # unknown batch: a catalogue problem
    doc["regions"] = {"include": ["99"]}  # unknown region
    doc["prizes"].append({"kind": "points", "name": "积分", "points": 10, "weight": 0.6})  # 120 % in all
    resp = post_editor(client, NEW, doc, budget_yuan="5OO", window_end="2026-11-01T00:00")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert {"scope.batches", "regions.include", "prizes", "budget.total_fen", "window.end"} <= problems_on(page)
    assert 'value="5OO"' in page and 'value="2026-11-01T00:00"' in page  # as typed
    assert 'value="广东首扫必中"' in page and 'name="region_include" value="99"' in page
    assert campaigns(app) == []
    resp = post_editor(client, NEW, guangdong(info), prize_percent="abc")  # a single row's field
    assert "prizes[0].weight" in problems_on(resp.get_data(as_text=True))


def test_save_and_activate_then_pause_and_end_with_confirmation(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    resp = post_editor(client, NEW, guangdong(info), extra=[("then", "activate")])
    [row] = campaigns(app)
    assert resp.status_code == 303 and row.status == "active"
    confirm = client.get(f"/ops/campaigns/{row.id}/status/paused")
    assert confirm.status_code == 200 and "确认暂停活动" in confirm.get_data(as_text=True)
    token = csrf_token(client, f"/ops/campaigns/{row.id}/status/paused")
    assert client.post(f"/ops/campaigns/{row.id}/status/paused", data={"csrf_token": token}).status_code == 303
    assert campaigns(app)[0].status == "paused"
    client.post(f"/ops/campaigns/{row.id}/status/ended", data={"csrf_token": token})
    assert campaigns(app)[0].status == "ended"
    assert [(e.action, (e.after or {}).get("status")) for e in audit(app)] == [
        ("campaign.create", "draft"), ("campaign.status", "active"), ("campaign.status", "paused"),
        ("campaign.status", "ended")]
    assert client.post(f"/ops/campaigns/{row.id}/status/bogus", data={"csrf_token": token}).status_code == 404


def test_a_double_submit_creates_one_campaign(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    page = client.get(NEW).get_data(as_text=True)
    nonce = re.search(r'name="nonce" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    first = post_editor(client, NEW, guangdong(info), extra=[("nonce", nonce)])
    second = post_editor(client, NEW, guangdong(info), extra=[("nonce", nonce)])
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert len(campaigns(app)) == 1 and len(audit(app)) == 1
    other = post_editor(client, NEW, guangdong(info))  # a fresh form: a new campaign
    assert other.status_code == 303 and len(campaigns(app)) == 2


def test_an_edit_made_on_an_old_version_is_a_conflict_not_an_overwrite(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    add_user(app, "wang@demo.example", "operator")
    li, wang = signed_in(app), signed_in(app, "wang@demo.example")
    post_editor(li, NEW, guangdong(info))
    [row] = campaigns(app)
    edit = f"/ops/campaigns/{row.id}/edit"
    assert 'name="edit_version" value="1"' in li.get(edit).get_data(as_text=True)
    # Both open the editor at version 1; Wang saves first.
    assert post_editor(wang, edit, guangdong(info), token_from=edit, extra=[("edit_version", "1")],
                       budget_yuan="800").status_code == 303
    resp = post_editor(li, edit, guangdong(info), token_from=edit, extra=[("edit_version", "1")], name="李的版本")
    page = resp.get_data(as_text=True)
    assert resp.status_code == 409
    assert "保存冲突" in page and "wang@demo.example" in page and "budget.total_fen" in page
    assert 'value="李的版本"' in page  # Li's input is kept
    assert 'name="edit_version" value="2"' in page  # saving again now means: keep mine, knowingly
    [now] = campaigns(app)
    assert now.name == "广东首扫必中" and now.definition["budget"]["total_fen"] == 80000 and now.edit_version == 2
    again = post_editor(li, edit, guangdong(info), token_from=edit, extra=[("edit_version", "2")], name="李的版本")
    assert again.status_code == 303 and campaigns(app)[0].name == "李的版本"
    updates = [e for e in audit(app) if e.action == "campaign.update"]
    assert updates[-1].before["name"] == "广东首扫必中" and updates[-1].after["name"] == "李的版本"


def test_another_brands_campaign_is_404_and_an_analyst_only_reads(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    post_editor(signed_in(app), NEW, guangdong(info))
    [row] = campaigns(app)
    add_user(app, "b@other.example", "operator", brand="other")
    add_user(app, "ana@demo.example", "analyst")
    outsider, analyst = signed_in(app, "b@other.example"), signed_in(app, "ana@demo.example")
    base = f"/ops/campaigns/{row.id}"
    for path in (base, f"{base}/edit", f"{base}/backtest", f"{base}/status/active", f"{base}/delete",
                 "/ops/campaigns/?brand=demo", f"/ops/campaigns/simulate?campaign={row.id}"):
        assert outsider.get(path).status_code == 404, path
    assert "广东首扫必中" not in outsider.get("/ops/campaigns/").get_data(as_text=True)
    token = csrf_token(outsider, "/ops/")
    for path in (f"{base}/edit", f"{base}/status/active", f"{base}/clone", f"{base}/delete"):
        assert outsider.post(path, data={"csrf_token": token}).status_code == 404, path
    # Another brand's slug in the form reads as an unknown brand.
    resp = post_editor(outsider, NEW, guangdong(info, brand="demo"), brand="demo")
    assert resp.status_code == 400 and "brand" in problems_on(resp.get_data(as_text=True))

    view = analyst.get(base).get_data(as_text=True)
    assert "广东首扫必中" in view and f"{base}/edit\">编辑" not in view and "status/active" not in view
    form = analyst.get(f"{base}/edit").get_data(as_text=True)
    assert "<fieldset class=\"plain\" disabled>" in form and 'value="activate"' not in form
    token = csrf_token(analyst, base)
    for path in (f"{base}/edit", f"{base}/status/active", f"{base}/clone", f"{base}/delete"):
        assert analyst.post(path, data={"csrf_token": token}).status_code == 403, path
    assert analyst.get(NEW).status_code == 403
    assert campaigns(app)[0].status == "draft" and len(campaigns(app)) == 1


def test_a_post_without_the_csrf_token_is_refused(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    items = form_items(definition_to_form(guangdong(info)))
    assert client.post(NEW, data=_multi(items)).status_code == 400
    assert campaigns(app) == []


def test_clone_and_delete_a_draft(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    post_editor(client, NEW, guangdong(info))
    [row] = campaigns(app)
    token = csrf_token(client, f"/ops/campaigns/{row.id}")
    resp = client.post(f"/ops/campaigns/{row.id}/clone", data={"csrf_token": token, "nonce": "n1"})
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/edit")
    client.post(f"/ops/campaigns/{row.id}/clone", data={"csrf_token": token, "nonce": "n1"})  # double click
    original, copy = campaigns(app)
    assert copy.name == "广东首扫必中 (副本)" and copy.status == "draft"
    assert client.post(f"/ops/campaigns/{copy.id}/delete", data={"csrf_token": token}).status_code == 303
    assert [c.id for c in campaigns(app)] == [original.id]
    assert [e.action for e in audit(app)] == ["campaign.create", "campaign.clone", "campaign.delete"]


def test_the_preview_reports_worst_case_expected_cost_and_real_odds(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    items = form_items(definition_to_form(guangdong(info)))
    resp = client.post("/ops/campaigns/preview", data=_multi([*items, ("csrf_token", csrf_token(client, NEW))]))
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200
    figures = dict(re.findall(r'data-figure="(\w+)">([^<]+)<', page))
    # 50 red packets of at most 5 元 × 2 (gold) = 500 元; 0.6 × 3 元 mean × 1,000 = 1,800 元.
    assert figures["worst"].strip() == "500.00" and figures["per1000"].strip() == "1,800.00"
    assert figures["win"].strip() == "60 %" and figures["consolation"].strip() == "40 %"
    over = [(k, "1000" if k == "prize_total" else v) for k, v in items]
    page = client.post("/ops/campaigns/preview", data=_multi([*over, ("csrf_token", csrf_token(client, NEW))]))
    assert "超出预算" in page.get_data(as_text=True)


def test_simulate_and_backtest_from_the_editor(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    post_editor(client, NEW, guangdong(info))
    [row] = campaigns(app)
    prefilled = client.get(f"/ops/campaigns/simulate?campaign={row.id}").get_data(as_text=True)
    assert f'<option value="{info.batch_id}" selected' in prefilled and 'name="adcode" value="44"' in prefilled
    token = csrf_token(client, "/ops/campaigns/simulate")
    sim = {"csrf_token": token, "batch_id": str(info.batch_id), "serial": "5", "role": "inner",
           "adcode": "440305", "at": "2026-12-10T12:00"}
    page = client.post("/ops/campaigns/simulate", data=sim).get_data(as_text=True)
    assert "✓ 命中" in page and "60 %" in page and "40 %" in page  # the consolation's real odds
    assert "码的首次扫码" in page  # what it needs
    gold = client.post("/ops/campaigns/simulate", data={**sim, "member": "1", "tier": "gold"}).get_data(as_text=True)
    assert "2.00–10.00 元" in gold and "1.00–5.00 元" in page  # the gold multiplier doubles the red packet
    night = client.post("/ops/campaigns/simulate", data={**sim, "at": "2026-12-10T23:00"}).get_data(as_text=True)
    assert "不在每日时段内" in night
    beijing = client.post("/ops/campaigns/simulate", data={**sim, "adcode": "110101"}).get_data(as_text=True)
    assert "不在活动地区内" in beijing
    by_code = client.post("/ops/campaigns/simulate", data={**sim, "code": info.inner_url}).get_data(as_text=True)
    assert "✓ 命中" in by_code and "序号 0" in by_code
    bad = client.post("/ops/campaigns/simulate", data={**sim, "batch_id": "99999", "adcode": "99"})
    assert bad.status_code == 400 and {"batch_id", "adcode"} <= problems_on(bad.get_data(as_text=True))

    backtest = f"/ops/campaigns/{row.id}/backtest"
    resp = client.post(backtest, data={"csrf_token": token, "from": "2026-11-01T00:00", "to": "2026-12-31T00:00",
                                       "seed": "7"})
    page = resp.get_data(as_text=True)
    assert resp.status_code == 200 and "期间扫码" in page and "没有发出任何奖品" in page
    wrong = client.post(backtest, data={"csrf_token": token, "from": "2026-12-31T00:00", "to": "2026-11-01T00:00"})
    assert wrong.status_code == 400 and "结束时间早于开始时间" in wrong.get_data(as_text=True)


def test_the_region_picker_serves_the_bundled_tree(console) -> None:  # type: ignore[no-untyped-def]
    app, _ = console
    client = signed_in(app)
    provinces = client.get("/ops/campaigns/regions").get_json()
    assert {"prefix": "44", "name": "广东省", "has_children": True} in provinces and len(provinces) == 34
    shenzhen = client.get("/ops/campaigns/regions?parent=4403").get_json()
    assert {"prefix": "440305", "name": "南山区", "has_children": False} in shenzhen
    assert client.get("/ops/campaigns/regions?parent=x").status_code == 404
    assert app.test_client().get("/ops/campaigns/regions").status_code == 302  # signed-in users only


def test_changed_by_an_ended_campaign_or_a_missing_id(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    assert client.get("/ops/campaigns/424242").status_code == 404
    assert client.get(f"/ops/campaigns/{1 << 40}/edit").status_code == 404
    post_editor(client, NEW, guangdong(info))
    [row] = campaigns(app)
    with transaction(app.extensions["yima.db"].sessions) as s:
        s.get(Campaign, row.id).status = "ended"  # type: ignore[union-attr]
    edit = f"/ops/campaigns/{row.id}/edit"
    resp = post_editor(client, edit, guangdong(info), token_from=edit, extra=[("edit_version", "1")])
    assert resp.status_code == 409 and "活动已结束" in resp.get_data(as_text=True)


_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)
_FIELDS = ["name", "brand", "priority", "window_start", "window_end", "timezone", "daily_from", "daily_to",
           "products", "batches", "serial_first", "serial_last", "roles", "region_include", "region_exclude",
           "audience", "tiers", "tags", "mult_tier", "mult_value", "ordinal", "nth", "first_scan_wins",
           "per_member_daily", "per_member", "one_per_code", "budget_yuan", "daily_budget_yuan", "prize_kind",
           "prize_name", "prize_min", "prize_max", "prize_points", "prize_percent", "prize_total", "prize_daily",
           "consolation_kind", "consolation_name", "consolation_points", "edit_version", "then", "nonce"]


def test_any_posted_form_gets_a_page_never_a_500(tmp_path: Path, redis_client, database_url: str) -> None:  # type: ignore[no-untyped-def]
    """Garbage in every field of the editor, the preview and simulate: a form error or a saved draft."""
    app, info = seeded_app(tmp_path, database_url=database_url)
    add_user(app, "op@demo.example", "operator")
    client = signed_in(app)
    token = csrf_token(client, NEW)
    base = form_items(definition_to_form(guangdong(info)))

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(st.lists(st.tuples(st.sampled_from(_FIELDS), _TEXT), max_size=8), st.booleans())
    @example([("name", "广东\x00首扫"), ("prize_name", "\x00")], True)
    @example([("batch_id", "99999999999999999999"), ("adcode", "٤٤"), ("serial", "²")], True)
    def post(changes: list[tuple[str, str]], keep: bool) -> None:
        changed = {k for k, _ in changes}
        items = [(k, v) for k, v in base if keep and k not in changed] + changes + [("csrf_token", token)]
        for path in (NEW, "/ops/campaigns/preview", "/ops/campaigns/simulate"):
            resp = client.post(path, data=_multi(items))
            assert resp.status_code in (200, 303, 400, 409), (path, resp.status_code, items)

    post()


def test_a_backtest_over_stored_scans_shows_what_the_campaign_would_have_paid(console) -> None:  # type: ignore[no-untyped-def]
    app, info = console
    client = signed_in(app)
    post_editor(client, NEW, guangdong(info))
    [row] = campaigns(app)
    noon = datetime(2026, 12, 10, 4, 0, tzinfo=UTC)  # 12:00 in Beijing, inside the daily hours
    with transaction(app.extensions["yima.db"].sessions) as s:
        for serial in range(120):  # 120 first scans in Nanshan, as the drain stores them
            s.add(ScanEvent(id=f"{info.batch_id}-{serial}-0", batch_id=info.batch_id, serial=serial, role="inner",
                            code=f"C{serial}", kind="first", scan_count=1, scanned_at=noon + timedelta(minutes=serial),
                            adcode="440305" if serial < 100 else "110101"))
    token = csrf_token(client, f"/ops/campaigns/{row.id}/backtest")
    page = client.post(f"/ops/campaigns/{row.id}/backtest", data={
        "csrf_token": token, "from": "2026-12-01T00:00", "to": "2026-12-31T00:00", "seed": "3"}).get_data(as_text=True)
    with app.extensions["yima.db"].sessions() as s:
        compiled = compile_row(s, s.get(Campaign, row.id), default_index())
        beijing_days = datetime(2026, 11, 30, 16, tzinfo=UTC), datetime(2026, 12, 30, 16, tzinfo=UTC)
        report = backtest(s, compiled, *beijing_days, 3)
    assert (report.scans, report.matched, report.draws) == (120, 100, 100)  # Beijing is outside Guangdong
    assert 40 <= report.awards <= 50  # 60 % of 100 draws, capped by the 50 red packets
    figures = re.findall(r'<div class="value">([^<]+)', page)
    assert figures[:4] == ["120", "100", "100", str(report.awards)]
    assert f"{report.cost_fen / 100:,.2f}" in page and "红包" in page
