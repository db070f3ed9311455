"""Signing in to the console: passwords, sessions, CSRF, lockout, and what a role sees."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from accounts.models import User
from codegen.db import transaction
from tests.web.conftest import seeded_app
from tests.web.console_support import PASSWORD, add_user, csrf_token, login


def test_a_visitor_is_sent_to_the_login_page(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    resp = app.test_client().get("/ops/")
    assert resp.status_code == 302
    assert resp.headers["Location"].startswith("/ops/login?next=/ops/")


def test_an_operator_signs_in_and_sees_their_brand(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    resp = login(client, "LI@demo.example")  # e-mail addresses are case-insensitive
    assert resp.headers["Location"] == "/ops/"
    cookie = resp.headers["Set-Cookie"]
    assert "yima_session=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over HTTPS the cookie is Secure (next test)
    page = client.get("/ops/").get_data(as_text=True)
    assert "演示啤酒" in page and "运营" in page


def test_the_session_cookie_is_secure_over_https(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    page = client.get("/ops/login", base_url="https://localhost")
    token = page.get_data(as_text=True).split('name="csrf_token" value="')[1].split('"')[0]
    resp = client.post("/ops/login", base_url="https://localhost", headers={"Referer": "https://localhost/ops/login"},
                       data={"email": "li@demo.example", "password": PASSWORD, "csrf_token": token})
    assert resp.status_code == 302
    assert "Secure" in resp.headers["Set-Cookie"]


def test_wrong_password_is_refused_and_the_password_is_stored_hashed(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    resp = client.post("/ops/login", data={"email": "li@demo.example", "password": "wrong password!",
                                           "csrf_token": csrf_token(client)})
    assert resp.status_code == 401
    assert "邮箱或密码不正确" in resp.get_data(as_text=True)
    with transaction(app.extensions["yima.db"].sessions) as s:
        stored = s.query(User).one().password_hash
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_a_login_post_without_the_csrf_token_gets_400(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    resp = client.post("/ops/login", data={"email": "li@demo.example", "password": PASSWORD})
    assert resp.status_code == 400
    assert "CSRF" in resp.get_data(as_text=True)
    assert client.get("/ops/").status_code == 302  # not signed in


def test_repeated_wrong_passwords_lock_the_account_even_for_the_right_one(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path, login_fails_account=3, auth_fails_source=0)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    statuses = [client.post("/ops/login", data={"email": "li@demo.example", "password": f"wrong guess {i}",
                                                "csrf_token": csrf_token(client)}).status_code for i in range(3)]
    assert statuses == [401, 401, 429]
    resp = client.post("/ops/login", data={"email": "li@demo.example", "password": PASSWORD,
                                           "csrf_token": csrf_token(client)})
    assert resp.status_code == 429 and int(resp.headers["Retry-After"]) > 0
    assert client.get("/ops/").status_code == 302


def test_a_password_change_ends_other_sessions(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    login(client, "li@demo.example")
    assert client.get("/ops/").status_code == 200
    with transaction(app.extensions["yima.db"].sessions) as s:
        s.execute(text("UPDATE users SET session_epoch = session_epoch + 1"))
    assert client.get("/ops/").status_code == 302


def test_logout_needs_the_csrf_token_and_ends_the_session(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    login(client, "li@demo.example")
    assert client.post("/ops/logout").status_code == 400
    assert client.get("/ops/").status_code == 200
    assert client.post("/ops/logout", data={"csrf_token": csrf_token(client, "/ops/")}).status_code == 302
    assert client.get("/ops/").status_code == 302


def test_next_never_leaves_the_site(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        resp = client.post("/ops/login", data={"email": "li@demo.example", "password": PASSWORD, "next": target,
                                               "csrf_token": csrf_token(client)})
        assert resp.headers["Location"] == "/ops/", target
        client.post("/ops/logout", data={"csrf_token": csrf_token(client, "/ops/")})


def test_a_user_without_brands_sees_none(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "nobody@demo.example", None)
    add_user(app, "other@b.example", "admin", brand="brand-b")
    client = app.test_client()
    login(client, "nobody@demo.example")
    page = client.get("/ops/").get_data(as_text=True)
    assert "您还没有任何品牌的权限" in page and "演示啤酒" not in page and "brand-b" not in page


def test_the_language_switch_holds_for_the_next_console_pages(tmp_path: Path, redis_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = seeded_app(tmp_path)
    add_user(app, "li@demo.example", "operator")
    client = app.test_client()
    login(client, "li@demo.example")
    assert "我的品牌" in client.get("/ops/").get_data(as_text=True)
    assert "My brands" in client.get("/ops/?lang=en").get_data(as_text=True)
    assert "My brands" in client.get("/ops/").get_data(as_text=True)  # no ?lang: the cookie remembers
    assert "我的品牌" in client.get("/ops/?lang=zh").get_data(as_text=True)
    assert "我的品牌" in client.get("/ops/").get_data(as_text=True)
