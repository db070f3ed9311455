"""The risk review pages of the console (/ops/risk) through the Flask client, on a review queue written by the
domain (tests/web/risk_support.py: a member flagged for a farm, holding two cash awards): the queue, a flag's
evidence, the held awards, the block / allow lists and the policy form; what each role may do (an analyst
reads, a forced POST is 403), another brand's ids (404), the CSRF token every form needs, and the audit entry
each action leaves.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, count_changes, list_changes
from risk import policy_store
from risk.models import RiskFlag, RiskListEntry
from rules.models import Award
from tests.web.conftest import seeded_app
from tests.web.console_support import add_user, login, post_form
from tests.web.risk_support import MEMBER, seed_review


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> Iterator[tuple[Flask, dict[str, Any], dict[str, Any]]]:
    app, _ = seeded_app(tmp_path)
    demo = seed_review(app, "demo")
    other = seed_review(app, "other")
    for role in ("admin", "operator", "analyst"):
        add_user(app, f"{role}@demo.example", role)
    add_user(app, "admin@other.example", "admin", brand="other")
    yield app, demo, other


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def audit(app: Flask, action: str = "risk") -> list[Any]:
    with app.extensions["yima.db"].sessions() as s:
        return list_changes(s, AuditFilter(action=action), limit=100)


def audit_count(app: Flask) -> int:
    with app.extensions["yima.db"].sessions() as s:
        return count_changes(s, AuditFilter())


def award(app: Flask, award_id: str) -> Award:
    with app.extensions["yima.db"].sessions() as s:
        found = s.get(Award, award_id)
        assert found is not None
        s.expunge(found)
        return found


def flag_state(app: Flask, flag_id: int) -> str:
    with app.extensions["yima.db"].sessions() as s:
        return s.get(RiskFlag, flag_id).state


# --- reading --------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("who", ["operator", "analyst"])
def test_the_queue_shows_the_brands_flags(world: Any, who: str) -> None:
    app, demo, other = world
    page = signed_in(app, f"{who}@demo.example").get("/ops/risk?brand=demo")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert html.count("<tr data-flag=") == 1 and f'data-flag="{demo["flag"]}"' in html
    assert f'data-flag="{other["flag"]}"' not in html  # brand other's flag is not here
    assert "会员" in html and f"{MEMBER[:8]}…{MEMBER[-4:]}" in html  # the kind and a shortened subject
    assert "多账号" in html and "×1" in html  # the rule word in Chinese with its count
    assert '<b class="held-count">2</b>' in html
    assert "2027-01-01" not in html  # the flag's times are now's, in China time, not the awards'
    assert '<a href="/ops/risk" class="on">风控</a>' in html  # the nav's entry, lit
    buttons = f'/ops/risk/flags/{demo["flag"]}/block'
    assert (buttons in html) is (who == "operator")  # an analyst gets no buttons
    assert ("您的角色（分析师）只能查看。" in html) is (who == "analyst")


@pytest.mark.parametrize(("query", "rows"), [
    ("state=open", 1), ("state=blocked", 0), ("state=cleared", 0), ("state=any", 1),
    ("kind=m", 1), ("kind=d", 0), ("state=any&kind=range", 0),
])
def test_the_queue_filters(world: Any, query: str, rows: int) -> None:
    app, _demo, _other = world
    page = signed_in(app, "analyst@demo.example").get(f"/ops/risk?brand=demo&{query}")
    assert page.status_code == 200
    assert page.get_data(as_text=True).count("<tr data-flag=") == rows, query


@pytest.mark.parametrize("query", ["state=closed", "kind=x", "offset=-1", "limit=0", "offset=99999999999"])
def test_a_wrong_filter_is_400_not_a_crash(world: Any, query: str) -> None:
    app, _demo, _other = world
    assert signed_in(app, "analyst@demo.example").get(f"/ops/risk?brand=demo&{query}").status_code == 400


def test_the_flag_page_shows_its_evidence_and_held_awards(world: Any) -> None:
    app, demo, _other = world
    html = signed_in(app, "analyst@demo.example").get(f"/ops/risk/flags/{demo['flag']}").get_data(as_text=True)
    assert "多账号" in html and MEMBER in html and "<code>C1</code>" in html  # reasons, subject, sample code
    assert html.count("<tr data-award=") == 2 and html.count("¥1.00") == 2
    assert all(f'data-award="{a}"' in html for a in demo["awards"])
    assert "/release" not in html and 'id="block"' not in html  # an analyst reads only


def test_the_held_awards_tab_lists_the_brands_held_awards(world: Any) -> None:
    app, demo, other = world
    html = signed_in(app, "operator@demo.example").get("/ops/risk/holds?brand=demo").get_data(as_text=True)
    assert html.count("<tr data-award=") == 2 and other["awards"][0] not in html
    assert f"/ops/risk/holds/{demo['awards'][0]}/release" in html and "放行发奖" in html and "驳回" in html


def test_pages_read_in_english(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    assert "Account farm" in client.get("/ops/risk?brand=demo&lang=en").get_data(as_text=True)
    assert "Held awards" in client.get(f"/ops/risk/flags/{demo['flag']}").get_data(as_text=True)
    assert "Velocity" in client.get("/ops/risk/policy?brand=demo").get_data(as_text=True)


# --- acting ---------------------------------------------------------------------------------------------------

def test_an_operator_releases_one_award_then_blocks_the_flag(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    first, second = demo["awards"]
    confirm = client.get(f"/ops/risk/holds/{first}/release?flag={demo['flag']}")
    assert confirm.status_code == 200 and "确认放行发奖这个奖品？" in confirm.get_data(as_text=True)
    done = post_form(client, f"/ops/risk/holds/{first}/release", {"flag": str(demo["flag"]), "note": "老客户"})
    assert done.status_code == 303 and done.headers["Location"] == f"/ops/risk/flags/{demo['flag']}"
    assert award(app, first).risk_hold == Award.RELEASED
    [entry] = audit(app, "risk.award.release")
    assert entry.actor.endswith("operator@demo.example") and entry.target == f"award:{first}"
    assert entry.brand_id == demo["brand_id"] and entry.note == "老客户"

    page = client.get(f"/ops/risk/flags/{demo['flag']}").get_data(as_text=True)
    assert "已放行，奖品将照常发放。" in page and page.count("<tr data-award=") == 1

    done = post_form(client, f"/ops/risk/flags/{demo['flag']}/block", {"note": "刷单"})
    assert done.status_code == 303
    assert flag_state(app, demo["flag"]) == RiskFlag.BLOCKED
    assert award(app, second).status == Award.VOID and award(app, first).status == Award.VALID
    [entry] = audit(app, "risk.flag.block")
    assert entry.after["rejected"] == [second] and entry.actor.endswith("operator@demo.example")
    page = client.get(f"/ops/risk/flags/{demo['flag']}").get_data(as_text=True)
    assert "已封禁，1 个扣留的奖品已驳回" in page and 'id="block"' not in page and 'id="clear"' in page

    again = post_form(client, f"/ops/risk/flags/{demo['flag']}/block", {})
    assert again.status_code == 409 and "已经审核过了" in again.get_data(as_text=True)


def test_clearing_a_flag_releases_its_awards(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "admin@demo.example")
    confirm = client.get(f"/ops/risk/flags/{demo['flag']}/clear").get_data(as_text=True)
    assert "确认放行这个对象？" in confirm and "2 个奖品（现金 ¥2.00）" in confirm
    assert post_form(client, f"/ops/risk/flags/{demo['flag']}/clear", {}).status_code == 303
    assert flag_state(app, demo["flag"]) == RiskFlag.CLEARED
    assert {award(app, a).risk_hold for a in demo["awards"]} == {Award.RELEASED}
    [entry] = audit(app, "risk.flag.clear")
    assert entry.after["released_count"] == 2


def test_rejecting_one_award_from_the_held_list(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    done = post_form(client, f"/ops/risk/holds/{demo['awards'][1]}/reject", {})
    assert done.status_code == 303 and done.headers["Location"] == "/ops/risk/holds?brand=demo"
    assert award(app, demo["awards"][1]).status == Award.VOID
    assert len(audit(app, "risk.award.reject")) == 1
    again = post_form(client, f"/ops/risk/holds/{demo['awards'][1]}/reject", {})
    assert again.status_code == 409  # not held any more: said, not a crash


def test_an_overlong_note_is_refused_at_the_form(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    page = post_form(client, f"/ops/risk/flags/{demo['flag']}/block", {"note": "x" * 501})
    assert page.status_code == 400 and "备注最多 500 个字符" in page.get_data(as_text=True)
    assert flag_state(app, demo["flag"]) == RiskFlag.OPEN


# --- who may ----------------------------------------------------------------------------------------------------

def test_an_analyst_cannot_act(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "analyst@demo.example")
    entry = add_entry(app, demo["brand_id"])
    before = audit_count(app)
    assert client.get(f"/ops/risk/flags/{demo['flag']}/block").status_code == 403
    assert client.get(f"/ops/risk/holds/{demo['awards'][0]}/release").status_code == 403
    for path, data in [(f"/ops/risk/flags/{demo['flag']}/block", {}), (f"/ops/risk/flags/{demo['flag']}/clear", {}),
                       (f"/ops/risk/holds/{demo['awards'][0]}/release", {}),
                       (f"/ops/risk/holds/{demo['awards'][0]}/reject", {}),
                       ("/ops/risk/lists", {"brand": "demo", "kind": "m", "subject": "d" * 32, "action": "block"}),
                       (f"/ops/risk/lists/{entry}/remove", {}),
                       ("/ops/risk/policy", {"brand": "demo", "device_per_minute": "9"})]:
        assert post_form(client, path, data).status_code == 403, path
    assert audit_count(app) == before
    assert flag_state(app, demo["flag"]) == RiskFlag.OPEN
    page = client.get("/ops/risk/policy?brand=demo").get_data(as_text=True)
    assert 'id="save-policy"' not in page and "disabled" in page


def test_another_brands_ids_are_404(world: Any) -> None:
    app, _demo, other = world
    client = signed_in(app, "admin@demo.example")
    theirs = other["flag"]
    entry = add_entry(app, other["brand_id"])
    for path in (f"/ops/risk/flags/{theirs}", f"/ops/risk/flags/{theirs}/block", f"/ops/risk/flags/{theirs}/clear",
                 f"/ops/risk/holds/{other['awards'][0]}/release", "/ops/risk?brand=other",
                 "/ops/risk/holds?brand=other",
                 "/ops/risk/lists?brand=other", "/ops/risk/policy?brand=other", "/ops/risk/flags/999999",
                 f"/ops/risk/flags/{2**40}", "/ops/risk/holds/nothing/release", f"/ops/risk/holds/{'x' * 60}/reject"):
        assert client.get(path).status_code == 404, path
    before = audit_count(app)
    for path in (f"/ops/risk/flags/{theirs}/block", f"/ops/risk/holds/{other['awards'][0]}/reject",
                 f"/ops/risk/lists/{entry}/remove", f"/ops/risk/lists/{2**40}/remove"):
        assert post_form(client, path, {}).status_code == 404, path
    assert post_form(client, "/ops/risk/policy", {"brand": "other", "device_per_minute": "9"}).status_code == 404
    assert audit_count(app) == before
    assert flag_state(app, theirs) == RiskFlag.OPEN


def test_every_form_needs_the_csrf_token(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    entry = add_entry(app, demo["brand_id"])
    before = audit_count(app)
    for path in (f"/ops/risk/flags/{demo['flag']}/block", f"/ops/risk/holds/{demo['awards'][0]}/release",
                 "/ops/risk/lists", f"/ops/risk/lists/{entry}/remove", "/ops/risk/policy"):
        assert client.post(path, data={"brand": "demo"}).status_code == 400, path
        assert client.post(path, data={"brand": "demo", "csrf_token": "forged"}).status_code == 400, path
    assert audit_count(app) == before


# --- lists ------------------------------------------------------------------------------------------------------

def add_entry(app: Flask, brand_id: int) -> int:
    from codegen.db import transaction
    from risk import lists

    with transaction(app.extensions["yima.db"].sessions) as s:
        return lists.add_entry(s, app.extensions["yima.redis"], brand_id=brand_id, kind="m", subject="e" * 32,
                               action="allow", actor="test").id


def entries(app: Flask, brand_id: int) -> list[tuple[str, str, str]]:
    with app.extensions["yima.db"].sessions() as s:
        return [(e.kind, e.subject, e.action) for e in s.query(RiskListEntry).filter_by(brand_id=brand_id)]


def test_an_operator_adds_and_removes_list_entries(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    done = post_form(client, "/ops/risk/lists", {"brand": "demo", "kind": "n", "subject": "10.1.2", "action": "block",
                                                 "note": "网吧"})
    assert done.status_code == 303
    assert entries(app, demo["brand_id"]) == [("n", "10.1.2", "block")]
    [entry] = audit(app, "risk.list.add")
    assert entry.actor.endswith("operator@demo.example")
    page = client.get("/ops/risk/lists?brand=demo").get_data(as_text=True)
    assert "10.1.2" in page and "网吧" in page and "黑名单" in page
    entry_id = int(page.split('<tr data-entry="')[1].split('"')[0])
    assert post_form(client, f"/ops/risk/lists/{entry_id}/remove", {}).status_code == 303
    assert entries(app, demo["brand_id"]) == [] and len(audit(app, "risk.list.remove")) == 1


def test_a_wrong_list_subject_is_shown_on_its_field_and_nothing_is_added(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    before = audit_count(app)
    page = post_form(client, "/ops/risk/lists", {"brand": "demo", "kind": "m", "subject": "not-a-ref",
                                                 "action": "block"})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and 'data-field="subject"' in html and "32 hex digits" in html
    assert 'value="not-a-ref"' in html  # the form kept what was typed
    page = post_form(client, "/ops/risk/lists", {"brand": "demo", "kind": "zz", "subject": "x", "action": "block"})
    assert page.status_code == 400 and 'data-field="kind"' in page.get_data(as_text=True)
    assert entries(app, demo["brand_id"]) == [] and audit_count(app) == before


# --- the policy ---------------------------------------------------------------------------------------------

def overrides(app: Flask, brand_id: int) -> dict[str, Any]:
    with app.extensions["yima.db"].sessions() as s:
        return policy_store.get_policy(s, brand_id).overrides


def test_the_policy_form_shows_the_defaults_and_saves_overrides(world: Any) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    html = client.get("/ops/risk/policy?brand=demo").get_data(as_text=True)
    for group in ("频率", "多账号", "扫货", "未上市", "定位", "发奖"):
        assert f"<legend>{group}</legend>" in html
    assert 'placeholder="6"' in html and "默认 10 分钟" in html  # device_per_minute, payout_delay_s
    done = post_form(client, "/ops/risk/policy", {"brand": "demo", "device_per_minute": "10",
                                                  "payout_delay_s": "0", "keep_drawable": "off",
                                                  "tainted_code": "block", "sweep_near": ""})
    assert done.status_code == 303
    assert overrides(app, demo["brand_id"]) == {"device_per_minute": 10, "payout_delay_s": 0,
                                                "keep_drawable": False, "tainted_code": "block"}
    entry = audit(app, "risk.policy")[0]  # the newest (the demo's seed set the payout delay before)
    assert entry.actor.endswith("operator@demo.example") and entry.after["device_per_minute"] == 10
    html = client.get("/ops/risk/policy?brand=demo").get_data(as_text=True)
    assert 'value="10"' in html and "风控策略已保存" in html and html.count("已自定义") == 4


@pytest.mark.parametrize(("field", "value", "words"), [
    ("sweep_window_s", "0", "须在 1 到 86400 之间"),  # the domain's range, on the field
    ("sweep_same_case", "99", "须在 0 到 15 之间"),
    ("device_per_minute", "abc", "须为不小于 0 的整数"),  # the form's own check
    ("device_per_minute", "-3", "须为不小于 0 的整数"),
    ("enabled", "maybe", "请选择开或关"),
    ("tainted_code", "explode", "请从列表中选择"),
])
def test_a_wrong_policy_value_keeps_the_form_and_saves_nothing(world: Any, field: str, value: str,
                                                               words: str) -> None:
    app, demo, _other = world
    client = signed_in(app, "operator@demo.example")
    before, stored = audit_count(app), overrides(app, demo["brand_id"])
    page = post_form(client, "/ops/risk/policy", {"brand": "demo", "device_per_hour": "50", field: value})
    html = page.get_data(as_text=True)
    assert page.status_code == 400 and words in html
    chunk = html.split(f'data-field="{field}"')[1].split('<div class="policy-field')[0]
    assert 'class="field-error"' in chunk  # the error sits on its field
    assert 'value="50"' in html  # the rest of what was typed is kept
    assert overrides(app, demo["brand_id"]) == stored and audit_count(app) == before
