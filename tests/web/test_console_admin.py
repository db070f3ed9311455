"""The users & tokens pages through the real app: what a brand admin and a plain user can do, errors at
their form, secrets shown once, and the audit entries the changes leave."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from accounts.audit import AuditFilter, list_changes
from codegen.db import transaction
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user, csrf_token, login, post_form

_SECRET = re.compile(r'id="new-token-secret"[^>]*value="(yima_pat_[^"]+)"')
_ONE_TIME = re.compile(r'id="new-user-password"[^>]*value="([^"]+)"')


@pytest.fixture
def site(tmp_path: Path, redis_client) -> tuple[Flask, dict[str, int]]:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path, ops_token="test-ops-token")
    ids = {"admin": add_user(app, "boss@demo.example", "admin"), "op": add_user(app, "op@demo.example", "operator"),
           "analyst": add_user(app, "an@demo.example", "analyst"),
           "other": add_user(app, "boss@other.example", "admin", brand="other")}
    return app, ids


def signed_in(app: Flask, email: str) -> FlaskClient:
    client = app.test_client()
    login(client, email)
    return client


def actions(app: Flask, prefix: str = "") -> list[str]:
    with app.extensions["yima.db"].sessions() as s:
        return [e.action for e in reversed(list_changes(s, AuditFilter(action=prefix)))]


def test_the_admin_page_lists_the_brands_users_with_their_roles(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    page = signed_in(app, "boss@demo.example").get("/ops/admin")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    for email in ("boss@demo.example", "op@demo.example", "an@demo.example"):
        assert email in html
    assert "boss@other.example" not in html
    assert 'href="/ops/admin"' in html  # the nav shows the page


def test_adding_a_new_user_shows_a_one_time_password_that_signs_in(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = signed_in(app, "boss@demo.example")
    resp = post_form(client, "/ops/admin/demo/users", {"email": "new@demo.example", "name": "小新", "role": "analyst"},
                     token_from="/ops/admin")
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    password = _ONE_TIME.search(resp.get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    newcomer = app.test_client()
    login(newcomer, "new@demo.example", password)
    assert "演示啤酒" in newcomer.get("/ops/").get_data(as_text=True)
    assert actions(app, "user.create") == ["user.create"]
    assert _ONE_TIME.search(client.get("/ops/admin").get_data(as_text=True)) is None  # shown once


def test_bad_input_is_shown_at_the_field(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = signed_in(app, "boss@demo.example")
    resp = post_form(client, "/ops/admin/demo/users", {"email": "not-an-address", "role": "analyst"},
                     token_from="/ops/admin")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 400
    assert re.search(r'<label class="invalid">邮箱\s*<input type="email" name="email" value="not-an-address"', html)
    assert "邮箱格式不正确" in html
    resp = post_form(client, "/ops/admin/demo/users?lang=en", {"email": "x@demo.example", "role": "analyst",
                                                                "password": "short"}, token_from="/ops/admin")
    assert resp.status_code == 400 and "must be 10-200 characters" in resp.get_data(as_text=True)
    assert actions(app) == []


def test_the_last_admin_cannot_step_down_and_the_error_shows_at_their_row(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    client = signed_in(app, "boss@demo.example")
    resp = post_form(client, f"/ops/admin/demo/users/{ids['admin']}/role", {"role": "operator"},
                     token_from="/ops/admin")
    html = resp.get_data(as_text=True)
    assert resp.status_code == 409
    row = html[html.index(f'id="user-{ids["admin"]}"'):]
    row = row[:row.index("</tr>")]
    assert "每个品牌至少保留一名管理员" in row and 'role="alert"' in row
    for path in (f"/ops/admin/demo/users/{ids['admin']}/remove", f"/ops/admin/demo/users/{ids['admin']}/disable"):
        assert post_form(client, path, {}, token_from="/ops/admin").status_code == 409
    assert actions(app) == []


def test_role_change_remove_disable_enable_each_audited(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    client = signed_in(app, "boss@demo.example")
    op = f"/ops/admin/demo/users/{ids['op']}"
    resp = post_form(client, f"{op}/role", {"role": "analyst"}, token_from="/ops/admin")
    assert resp.status_code == 303 and resp.headers["Location"].endswith(f"/ops/admin?brand=demo#user-{ids['op']}")
    assert post_form(client, f"{op}/disable", {}, token_from="/ops/admin").status_code == 303
    victim = app.test_client()
    assert victim.post("/ops/login", data={"email": "op@demo.example", "password": PASSWORD,
                                           "csrf_token": csrf_token(victim)}).status_code == 401
    assert post_form(client, f"{op}/enable", {}, token_from="/ops/admin").status_code == 303
    login(victim, "op@demo.example")
    assert post_form(client, f"{op}/remove", {}, token_from="/ops/admin").status_code == 303
    assert "op@demo.example" not in client.get("/ops/admin").get_data(as_text=True)
    assert actions(app) == ["user.role", "user.disable", "user.enable", "user.remove"]


def test_other_users_and_brands_read_as_missing(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    client = signed_in(app, "boss@other.example")
    assert client.get("/ops/admin?brand=demo").status_code == 404
    assert post_form(client, f"/ops/admin/demo/users/{ids['op']}/role", {"role": "admin"}).status_code == 404
    # their own brand in the URL, another brand's user id
    assert post_form(client, f"/ops/admin/other/users/{ids['op']}/role", {"role": "admin"}).status_code == 404
    assert post_form(client, "/ops/admin/nope/users", {"email": "x@y.example", "role": "admin"}).status_code == 404
    assert actions(app) == []


def test_an_operator_manages_only_their_own_account(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    client = signed_in(app, "op@demo.example")
    resp = client.get("/ops/admin")
    assert resp.status_code == 302 and resp.headers["Location"].endswith("/ops/account")
    assert client.get("/ops/admin?brand=demo").status_code == 403
    assert post_form(client, f"/ops/admin/demo/users/{ids['analyst']}/role", {"role": "admin"}).status_code == 403
    assert post_form(client, "/ops/admin/demo/users", {"email": "x@demo.example", "role": "admin"}).status_code == 403
    assert actions(app) == []


def test_a_token_is_created_shown_once_works_and_is_revoked(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = signed_in(app, "op@demo.example")
    resp = post_form(client, "/ops/tokens", {"brand": "demo", "role": "operator", "name": "部署脚本", "days": "30",
                                             "back": "account"}, token_from="/ops/account")
    assert resp.status_code == 201 and resp.headers["Cache-Control"] == "no-store"
    html = resp.get_data(as_text=True)
    secret = _SECRET.search(html).group(1)  # type: ignore[union-attr]
    assert "只显示这一次" in html
    api = app.test_client()
    assert api.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = client.get("/ops/account").get_data(as_text=True)
    assert secret not in listed and secret[:15] in listed and "部署脚本" in listed
    token_id = int(re.search(r'id="token-(\d+)"', listed).group(1))  # type: ignore[union-attr]
    resp = post_form(client, f"/ops/tokens/{token_id}/revoke", {"back": "account"}, token_from="/ops/account")
    assert resp.status_code == 303
    assert api.get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert "已吊销" in client.get("/ops/account").get_data(as_text=True)
    assert actions(app, "token") == ["token.create", "token.revoke"]


def test_token_form_errors_and_role_ceiling(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = signed_in(app, "an@demo.example")
    resp = post_form(client, "/ops/tokens", {"brand": "demo", "role": "operator", "name": "x", "days": "30",
                                             "back": "account"}, token_from="/ops/account")
    assert resp.status_code == 400 and "令牌的角色不能高于您在该品牌的角色" in resp.get_data(as_text=True)
    resp = post_form(client, "/ops/tokens", {"brand": "demo", "role": "analyst", "name": "x", "days": "9999",
                                             "back": "account"}, token_from="/ops/account")
    assert resp.status_code == 400 and "有效期须为 1–366 天" in resp.get_data(as_text=True)
    resp = post_form(client, "/ops/tokens", {"brand": "other", "role": "analyst", "name": "x", "days": "3",
                                             "back": "account"}, token_from="/ops/account")
    assert resp.status_code == 404
    assert actions(app) == []


def test_analysts_see_only_their_own_tokens_and_admins_all_of_the_brands(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    names = {}
    for email, name in (("op@demo.example", "op-token"), ("an@demo.example", "an-token"),
                        ("boss@other.example", "other-token")):
        client = signed_in(app, email)
        brand = "other" if "other" in email else "demo"
        resp = post_form(client, "/ops/tokens", {"brand": brand, "role": "analyst", "name": name, "days": "5",
                                                 "back": "account"}, token_from="/ops/account")
        assert resp.status_code == 201
        names[email] = client
    analyst_page = names["an@demo.example"].get("/ops/account").get_data(as_text=True)
    assert "an-token" in analyst_page and "op-token" not in analyst_page
    admin_page = signed_in(app, "boss@demo.example").get("/ops/admin").get_data(as_text=True)
    assert "an-token" in admin_page and "op-token" in admin_page and "other-token" not in admin_page
    # the analyst cannot revoke the operator's token (same brand: 403); the other brand's admin gets 404
    with app.extensions["yima.db"].sessions() as s:
        from accounts.models import ApiToken

        op_token = s.query(ApiToken).filter_by(name="op-token").one().id
    assert post_form(names["an@demo.example"], f"/ops/tokens/{op_token}/revoke", {}).status_code == 403
    assert post_form(names["boss@other.example"], f"/ops/tokens/{op_token}/revoke", {}).status_code == 404
    admin = signed_in(app, "boss@demo.example")
    assert post_form(admin, f"/ops/tokens/{op_token}/revoke", {"back": "admin", "brand": "demo"}).status_code == 303


def test_changing_ones_password_ends_the_other_sessions_but_not_this_one(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    here, elsewhere = signed_in(app, "op@demo.example"), signed_in(app, "op@demo.example")
    resp = post_form(here, "/ops/account/password", {"current_password": "wrong password here",
                                                     "new_password": "a new passphrase", "confirm": "a new passphrase"},
                     token_from="/ops/account")
    assert resp.status_code == 400 and "当前密码不正确" in resp.get_data(as_text=True)
    resp = post_form(here, "/ops/account/password", {"current_password": PASSWORD, "new_password": "a new passphrase",
                                                     "confirm": "another one"}, token_from="/ops/account")
    assert resp.status_code == 400 and "两次输入的新密码不一致" in resp.get_data(as_text=True)
    resp = post_form(here, "/ops/account/password", {"current_password": PASSWORD, "new_password": "a new passphrase",
                                                     "confirm": "a new passphrase"}, token_from="/ops/account")
    assert resp.status_code == 200 and "密码已修改" in resp.get_data(as_text=True)
    assert here.get("/ops/account").status_code == 200
    assert elsewhere.get("/ops/account").status_code == 302  # signed out
    fresh = app.test_client()
    login(fresh, "op@demo.example", "a new passphrase")
    assert actions(app) == ["user.password"]


def test_forms_without_the_csrf_token_are_refused(site) -> None:  # type: ignore[no-untyped-def]
    app, ids = site
    client = signed_in(app, "boss@demo.example")
    for path, data in ((f"/ops/admin/demo/users/{ids['op']}/role", {"role": "admin"}),
                       ("/ops/tokens", {"brand": "demo", "role": "admin", "name": "x", "days": "3"}),
                       ("/ops/account/password", {"current_password": PASSWORD, "new_password": "x" * 12})):
        assert client.post(path, data=data).status_code == 400
    assert actions(app) == []


def test_a_visitor_is_sent_to_login(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = app.test_client()
    for path in ("/ops/admin", "/ops/account", "/ops/audit"):
        resp = client.get(path)
        assert resp.status_code == 302 and "/ops/login" in resp.headers["Location"]


def test_the_platform_admin_manages_every_brand(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    add_user(app, "root@yima.example", None, platform_admin=True)
    client = signed_in(app, "root@yima.example")
    page = client.get("/ops/admin?brand=other").get_data(as_text=True)
    assert "boss@other.example" in page and 'id="brand-pick"' in page
    resp = post_form(client, "/ops/admin/other/users", {"email": "two@other.example", "role": "admin",
                                                        "password": "a strong passphrase"}, token_from="/ops/admin")
    assert resp.status_code == 201
    with transaction(app.extensions["yima.db"].sessions) as s:
        [entry] = list_changes(s, AuditFilter(action="user.create"))
        assert entry.actor.endswith("root@yima.example")


def test_a_token_made_by_a_non_admin_shows_its_secret_whatever_page_the_form_named(site) -> None:  # type: ignore[no-untyped-def]
    app, _ = site
    client = signed_in(app, "op@demo.example")
    resp = post_form(client, "/ops/tokens", {"brand": "demo", "role": "analyst", "name": "x", "days": "3",
                                             "back": "admin"}, token_from="/ops/account")
    assert resp.status_code == 201 and _SECRET.search(resp.get_data(as_text=True))
