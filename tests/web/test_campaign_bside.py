"""An operator sets up B-side campaigns in the console's editor (rules/campaign_fields.py B_AUDIENCES): the
audience picker offers them, a case campaign is saved with its case role, and a wrong role is shown at its
field in Chinese."""

from __future__ import annotations

from typing import Any

from app.seed import DEMO_BRAND
from tests.web.test_campaign_pages import NEW, campaigns, console, post_editor, problems_on, signed_in

__all__ = ["console"]  # the fixture, used by name

WINDOW = {"start": "2026-12-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00"}


def open_case_campaign(**over: Any) -> dict[str, Any]:
    return {"name": "开箱有礼", "brand": DEMO_BRAND, "window": WINDOW, "scope": {"roles": ["case"]},
            "members": {"audience": "store_open_case"}, "caps": {"per_member_daily": 50, "one_per_code": True},
            "budget": {"total_fen": 100_000}, "prizes": [{"kind": "cash", "name": "开箱红包", "min_fen": 50,
                                                            "max_fen": 50, "weight": 1.0}], **over}


def test_an_operator_sets_up_a_store_open_case_campaign(console) -> None:  # type: ignore[no-untyped-def]
    app, _info = console
    client = signed_in(app)
    editor = client.get(NEW).get_data(as_text=True)
    for audience in ("store_open_case", "waiter_open_bottle", "store_sell_through"):
        assert f'value="{audience}"' in editor
    assert 'name="roles" value="case"' in editor and "B 端（门店 / 服务员）" in editor
    resp = post_editor(client, NEW, open_case_campaign(), extra=[("then", "save")])
    assert resp.status_code == 303, resp.get_data(as_text=True)[:2000]
    [row] = campaigns(app)
    assert row.definition["members"] == {"audience": "store_open_case"}
    assert row.definition["scope"]["roles"] == ["case"] and row.definition["prizes"][0]["min_fen"] == 50
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "门店开箱扫码（B 端）" in page and "箱码" in page


def test_a_wrong_role_shows_at_its_field(console) -> None:  # type: ignore[no-untyped-def]
    app, _info = console
    resp = post_editor(signed_in(app), NEW, open_case_campaign(scope={"roles": ["inner"]}), extra=[("then", "save")])
    page = resp.get_data(as_text=True)
    assert resp.status_code == 400 and "scope.roles" in problems_on(page) and "开箱扫码活动只能选择箱码" in page
    assert campaigns(app) == []
