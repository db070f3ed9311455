"""The payouts pages of the console (/ops/payouts) through the Flask client, on payout rows written straight
into SQL: the list and its filters, one payout's history, the CSV export (formula-safe), the reconciliation
results, and who may do what: another brand's payout is 404, an analyst reads and cannot retry (403), every
form needs its CSRF token.

The retry and cancel that actually happen call the payout engine (payouts/engine.py, built alongside this);
only those tests are skipped while it is not there.
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
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, count_changes, list_changes
from codegen.db import transaction
from payouts.models import Payout
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, csrf_token, login, post_form
from tests.web.payout_support import T0, add_payout, seed_payouts

ENGINE = importlib.util.find_spec("payouts.engine") is not None
needs_engine = pytest.mark.skipif(not ENGINE, reason="payouts.engine (retry_payout, cancel_payout) is not on "
                                                     "this branch yet")


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[tuple[Flask, dict[str, Any], dict[str, Any]]]:
    app, _ = seeded_app(tmp_path)
    demo = seed_payouts(app)
    other = seed_payouts(app, "other", with_run=False)
    for role in ("admin", "operator", "analyst"):
        add_user(app, f"{role}@demo.example", role)
    add_user(app, "admin@other.example", "admin", brand="other")
    yield app, demo, other


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def audit_count(app: Flask) -> int:
    with app.extensions["yima.db"].sessions() as s:
        return count_changes(s, AuditFilter())


def test_the_list_shows_the_brands_payouts_by_state_with_failure_reasons(world: Any) -> None:
    app, _demo, other = world
    page = signed_in(app, "analyst@demo.example").get("/ops/payouts?brand=demo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count('<tr data-state="') == 12
    assert 'data-state="failed">失败 <b>3</b>' in html and 'data-state="succeeded">已到账 <b>3</b>' in html
    assert "商户运营账户余额不足" in html and "NOT_ENOUGH" in html and "用户超时未确认收款" in html
    assert "¥24.08" in html  # paid: 8.88 + 5.20 + 10.00
    assert other["bills"][0] not in html  # brand other's payouts are not here


def test_the_nav_has_the_payouts_entry(world: Any) -> None:
    app, _demo, _other = world
    html = signed_in(app, "analyst@demo.example").get("/ops/payouts?brand=demo").get_data(as_text=True)
    assert '<a href="/ops/payouts" class="on">红包发放</a>' in html


@pytest.mark.parametrize(("query", "count"), [
    ("state=failed", 3),
    ("state=succeeded", 3),
    ("state=unknown", 1),
    ("q=YdemoX0007", 1),  # a bill number's prefix
    ("q=demo-0010", 1),  # an award id's prefix
    ("q=oUpF8uMuAJO_M2pxb1Q9zNjWeS1", 2),  # an openid's prefix: ...S10, ...S11
    ("q=nothing-like-it", 0),
    ("campaign_id=2", 3),
    ("since=2026-12-02T10:10:00%2B08:00", 2),  # the last two (10:10, 10:11 China time)
    ("until=2026-12-01", 0),  # the day before, included whole: nothing yet
    ("since=2026-12-02&until=2026-12-02", 12),
])
def test_filters(world: Any, query: str, count: int) -> None:
    app, _demo, _other = world
    page = signed_in(app, "analyst@demo.example").get(f"/ops/payouts?brand=demo&{query}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count('<tr data-state="') == count, query


@pytest.mark.parametrize("query", ["state=paid", "since=yesterday", "campaign_id=-1", "before=abc"])
def test_a_wrong_filter_is_400_and_names_the_field(world: Any, query: str) -> None:
    app, _demo, _other = world
    page = signed_in(app, "analyst@demo.example").get(f"/ops/payouts?brand=demo&{query}")
    assert page.status_code == 400
    html = page.get_data(as_text=True)
    assert 'class="field-error"' in html and '<tr data-state="' not in html


def test_paging_goes_back_in_time(world: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from app import ops_payouts_views

    app, _demo, _other = world
    monkeypatch.setattr(ops_payouts_views, "PAGE", 5)
    client = signed_in(app, "analyst@demo.example")
    first = client.get("/ops/payouts?brand=demo").get_data(as_text=True)
    assert first.count('<tr data-state="') == 5 and "before=" in first
    older = first.split('href="/ops/payouts?brand=demo&amp;before=')[1].split('"')[0]
    second = client.get(f"/ops/payouts?brand=demo&before={older}").get_data(as_text=True)
    assert second.count('<tr data-state="') == 5


def test_another_brands_list_and_payout_are_404(world: Any) -> None:
    app, demo, other = world
    client = signed_in(app, "admin@demo.example")
    assert client.get("/ops/payouts?brand=other").status_code == 404
    theirs = other["ids"]["failed"][0]
    for path in (f"/ops/payouts/{theirs}", f"/ops/payouts/{theirs}/retry", f"/ops/payouts/{theirs}/cancel",
                 "/ops/payouts/999999", f"/ops/payouts/{2**40}", "/ops/payouts/export.csv?brand=other"):
        assert client.get(path).status_code == 404, path
    before = audit_count(app)
    assert post_form(client, f"/ops/payouts/{theirs}/retry", {}).status_code == 404
    assert audit_count(app) == before
    assert client.get(f"/ops/payouts/{demo['ids']['failed'][0]}").status_code == 200


def test_the_detail_shows_the_history_in_order(world: Any) -> None:
    app, demo, _other = world
    payout_id = demo["ids"]["expired"][0]
    html = signed_in(app, "analyst@demo.example").get(f"/ops/payouts/{payout_id}").get_data(as_text=True)
    timeline = html.split('<ol class="timeline">')[1].split("</ol>")[0]
    assert timeline.count("<li>") == 4  # claimed, submitted, awaiting the consumer, expired
    order = [timeline.index(word) for word in ("领取", "提交", "查询", "过期")]
    assert order == sorted(order)
    assert "用户超时未确认收款，已关闭" in html and "OVERDUE_CLOSE" in html
    assert "您的角色（分析师）只能查看。" in html and 'id="retry"' not in html  # an analyst gets no buttons


def test_an_operator_is_offered_what_the_state_allows(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    failed = client.get(f"/ops/payouts/{demo['ids']['failed'][0]}").get_data(as_text=True)
    assert 'id="retry"' in failed and 'id="cancel"' not in failed
    waiting = client.get(f"/ops/payouts/{demo['ids']['awaiting_user'][0]}").get_data(as_text=True)
    assert 'id="cancel"' in waiting and 'id="retry"' not in waiting
    paid = client.get(f"/ops/payouts/{demo['ids']['succeeded'][0]}").get_data(as_text=True)
    assert 'id="cancel"' not in paid and 'id="retry"' not in paid
    confirm = client.get(f"/ops/payouts/{demo['ids']['failed'][0]}/retry")
    assert confirm.status_code == 200 and "确认重新发放这笔发放？" in confirm.get_data(as_text=True)


def test_an_analyst_cannot_retry_or_cancel(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "analyst@demo.example")
    payout_id = demo["ids"]["failed"][0]
    before = audit_count(app)
    assert client.get(f"/ops/payouts/{payout_id}/retry").status_code == 403
    for action in ("retry", "cancel"):
        assert post_form(client, f"/ops/payouts/{payout_id}/{action}", {}).status_code == 403
    assert audit_count(app) == before
    with app.extensions["yima.db"].sessions() as s:
        assert s.get(Payout, payout_id).state == "failed"


def test_retry_and_cancel_need_the_csrf_token(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    payout_id = demo["ids"]["failed"][0]
    before = audit_count(app)
    for action in ("retry", "cancel"):
        assert client.post(f"/ops/payouts/{payout_id}/{action}", data={}).status_code == 400
        assert client.post(f"/ops/payouts/{payout_id}/{action}", data={"csrf_token": "forged"}).status_code == 400
    assert audit_count(app) == before


def test_an_overlong_note_is_refused_at_the_form(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    page = post_form(client, f"/ops/payouts/{demo['ids']['failed'][0]}/retry", {"note": "x" * 201})
    assert page.status_code == 400 and "备注最多 200 个字符" in page.get_data(as_text=True)


def rows_of(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_the_csv_export_has_the_filtered_rows_and_defuses_formulas(world: Any) -> None:
    app, demo, _other = world
    with transaction(app.extensions["yima.db"].sessions) as s:
        add_payout(s, demo["brand_id"], 90, "failed", 100, reason="PARAM_ERROR", message="+cmd|' /C calc'!A0",
                   openid='=HYPERLINK("http://evil.example","click")', at=T0, prefix="demo")
        add_payout(s, demo["brand_id"], 91, "failed", 100, reason="-2+3", message="@SUM(A1:A9)", openid="oK",
                   at=T0, prefix="demo")
    client = signed_in(app, "analyst@demo.example")
    resp = client.get("/ops/payouts/export.csv?brand=demo")
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    assert resp.headers["Content-Disposition"] == 'attachment; filename="yima-payouts-demo.csv"'
    text = resp.get_data(as_text=True)
    assert text.startswith("id,award_id,campaign_id,openid,amount_fen,amount_yuan,provider,state,")
    rows = rows_of(text)
    assert len(rows) == 14
    assert [r["id"] for r in rows] == sorted((r["id"] for r in rows), key=int)  # oldest first
    evil = next(r for r in rows if r["award_id"] == "demo-0090-aw")
    assert evil["openid"] == '\'=HYPERLINK("http://evil.example","click")'
    assert evil["message"] == "'+cmd|' /C calc'!A0"
    other = next(r for r in rows if r["award_id"] == "demo-0091-aw")
    assert other["reason"] == "'-2+3" and other["message"] == "'@SUM(A1:A9)"
    paid = next(r for r in rows if r["award_id"] == "demo-0000-aw")
    assert paid["amount_fen"] == "888" and paid["amount_yuan"] == "8.88" and paid["state"] == "succeeded"
    assert paid["created_at"] == "2026-12-02T02:00:00+00:00"
    failed = rows_of(client.get("/ops/payouts/export.csv?brand=demo&state=failed&campaign_id=1")
                     .get_data(as_text=True))
    assert {r["state"] for r in failed} == {"failed"} and len(failed) == 4
    assert 'href="/ops/payouts/export.csv?brand=demo&amp;state=failed"' in client.get(
        "/ops/payouts?brand=demo&state=failed").get_data(as_text=True)  # the link keeps the filters


def test_the_reconciliation_page_shows_a_brand_its_own_lines(world: Any) -> None:
    app, demo, _other = world
    html = signed_in(app, "analyst@demo.example").get("/ops/payouts/reconciliations").get_data(as_text=True)
    assert demo["bills"][3] in html and demo["bills"][2] in html
    assert "YUNKNOWNX0000A1" not in html  # a provider line the ledger does not know belongs to no brand
    assert "金额或状态不一致" in html and "¥6.66 · 待确认收款" in html and "¥6.66 · 已到账" in html
    theirs = signed_in(app, "admin@other.example").get("/ops/payouts/reconciliations").get_data(as_text=True)
    assert demo["bills"][3] not in theirs and "有差异" not in theirs
    add_user(app, "root@platform.example", None, platform_admin=True)
    everything = signed_in(app, "root@platform.example").get("/ops/payouts/reconciliations").get_data(as_text=True)
    assert "YUNKNOWNX0000A1" in everything


def test_the_pages_in_english(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "analyst@demo.example")
    html = client.get("/ops/payouts?brand=demo&lang=en").get_data(as_text=True)
    assert "Merchant balance too low" in html and ">Payouts</a>" in html
    detail = client.get(f"/ops/payouts/{demo['ids']['failed'][0]}").get_data(as_text=True)  # the cookie holds
    assert "History" in detail and "商户运营账户余额不足" not in detail


def test_a_user_of_several_brands_chooses_one(world: Any) -> None:
    app, _demo, _other = world
    add_user(app, "analyst@demo.example", "analyst", brand="other")
    page = signed_in(app, "analyst@demo.example").get("/ops/payouts")
    assert page.status_code == 200 and "/ops/payouts?brand=other" in page.get_data(as_text=True)


# -- the actions: they call the engine ---------------------------------------------------------------

@needs_engine
def test_an_operator_retries_a_failed_payout_and_it_is_audited(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    payout_id = demo["ids"]["failed"][0]
    done = post_form(client, f"/ops/payouts/{payout_id}/retry", {"note": "余额已充值"})
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/ops/payouts/{payout_id}")
    with app.extensions["yima.db"].sessions() as s:
        payout = s.get(Payout, payout_id)
        assert payout.state != "failed" and payout.attempt == 2
        entry = list_changes(s, AuditFilter(target=f"payout:{payout_id}"))[0]
    assert entry.action == "payout.retry" and entry.note == "余额已充值" and entry.actor.endswith(
        "operator@demo.example")
    assert entry.before["state"] == "failed" and entry.after["attempt"] == 2


@needs_engine
def test_an_operator_cancels_a_pending_payout(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    payout_id = demo["ids"]["pending"][0]
    assert post_form(client, f"/ops/payouts/{payout_id}/cancel", {}).status_code == 303
    with app.extensions["yima.db"].sessions() as s:
        assert s.get(Payout, payout_id).state == "cancelled"
        assert list_changes(s, AuditFilter(target=f"payout:{payout_id}"))[0].action == "payout.cancel"


@needs_engine
def test_retrying_a_paid_payout_is_a_conflict_and_changes_nothing(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "admin@demo.example")
    payout_id = demo["ids"]["succeeded"][0]
    before = audit_count(app)
    page = post_form(client, f"/ops/payouts/{payout_id}/retry", {})
    assert page.status_code == 409 and "当前状态不允许此操作" in page.get_data(as_text=True)
    assert audit_count(app) == before
    assert csrf_token(client, f"/ops/payouts/{payout_id}")  # the page still renders
