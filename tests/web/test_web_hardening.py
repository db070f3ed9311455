"""Issue 9 (web layer): bad input is a 4xx, redirects stay on our host, security headers, 405 with Allow,
and Redis down is a 503 on the ops API and the batch page — each through Flask on real SQL and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from app.seed import DemoInfo, seed_demo
from tests.support.proxy import TcpProxy
from tests.web.conftest import make_app, seeded_app
from tests.web.console_support import post_form

TOKEN = "hardening-token-0123456789abcdef0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def ops(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[FlaskClient, DemoInfo, Flask]]:
    app, info = seeded_app(tmp_path, ops_token=TOKEN)
    yield app.test_client(), info, app
    app.extensions["yima.db"].engine.dispose()


@pytest.fixture
def ops_sql(tmp_path: Path, redis_client: redis.Redis,
            database_url: str) -> Iterator[tuple[FlaskClient, DemoInfo, Flask]]:
    """`ops` on SQLite and on PostgreSQL: each overflows differently (OverflowError / "integer out of range")."""
    app, info = seeded_app(tmp_path, ops_token=TOKEN, database_url=database_url)
    yield app.test_client(), info, app
    app.extensions["yima.db"].engine.dispose()


def assert_json_error(res, status: int, code: str | None = None) -> dict:  # type: ignore[no-untyped-def]
    assert res.status_code == status, (res.status_code, res.get_data(as_text=True)[:300])
    body = res.get_json()
    assert set(body) == {"error"} and isinstance(body["error"]["message"], str), body
    if code:
        assert body["error"]["code"] == code, body
    return body["error"]


# --- 5xx on bad input -----------------------------------------------------------------------------------

def test_a_400_digit_latitude_is_a_400_not_an_overflow(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    code = info.inner_url.rsplit("/", 1)[1]
    for lat in ("1" + "0" * 400, "-1" + "0" * 400, "1e400", "NaN", "Infinity"):
        body = f'{{"code": "{code}", "lat": {lat}, "lng": 113.9}}'
        res = client.post("/api/v1/scans", data=body, content_type="application/json")
        assert "lat must be between" in assert_json_error(res, 400, "invalid_request")["message"]


@pytest.mark.parametrize(("method", "path"), [
    ("get", "/api/v1/campaigns/99999999999999999999"),
    ("get", "/api/v1/campaigns/9223372036854775808"),
    ("put", "/api/v1/campaigns/2147483648"),
    ("delete", "/api/v1/campaigns/99999999999999999999"),
    ("post", "/api/v1/campaigns/99999999999999999999/backtest"),
    ("post", "/api/v1/campaigns/99999999999999999999/status"),
    ("post", "/api/v1/campaigns/1/prizes/99999999999999999999/coupons"),
    ("post", "/api/v1/campaigns/99999999999999999999/prizes/0/coupons"),
])
def test_ids_beyond_sql_integers_are_404(ops_sql, method: str, path: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops_sql
    res = getattr(client, method)(path, headers=AUTH, json={"status": "active", "codes": ["A1"]})
    assert_json_error(res, 404, "not_found")


def test_rollback_to_a_version_beyond_64_bits_is_404(ops_sql) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops_sql
    for version in (9223372036854775808, 10**40, 2**31, -1, 0):
        res = client.post("/api/v1/rules/rollback", headers=AUTH, json={"version": version})
        assert_json_error(res, 404, "not_found")


@pytest.mark.parametrize(("body", "field"), [
    ({"member": {"tags": None}}, "member.tags"),
    ({"member": {"tags": [1]}}, "member.tags"),
    ({"member": {"tier": [1]}}, "member.tier"),
    ({"member": {"new": "yes"}}, "member.new"),
    ({"member": {"vip": True}}, "member.vip"),
    ({"member": 5}, "member"),
    ({"member": []}, "member"),
    ({"batch_id": 10**30}, "batch_id"),
    ({"batch_id": -1}, "batch_id"),
    ({"serial": 10**30}, "serial"),
    ({"serial": 1.5}, "serial"),
    ({"role": "case"}, "role"),
    ({"adcode": 440305}, "adcode"),
    ({"at": 17}, "at"),
    ({"at": "not a time"}, "at"),
    ({"code": 12}, "code"),
])
def test_simulate_refuses_malformed_fields_with_the_problem_list(ops_sql, body: dict, field: str) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops_sql
    doc = {"batch_id": info.batch_id, "serial": 5, **body}
    error = assert_json_error(client.post("/api/v1/simulate", headers=AUTH, json=doc), 400, "invalid_campaign")
    assert field in [p["field"] for p in error["problems"]], error


# --- Redis down: 503, like scans ---------------------------------------------------------------------------

@pytest.fixture
def redis_down(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[FlaskClient, DemoInfo, TcpProxy]]:
    from tests.conftest import REDIS_TEST_URL

    url = redis.connection.parse_url(REDIS_TEST_URL)
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    app = make_app(tmp_path, ops_token=TOKEN, redis_url=f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}",
                   redis_timeout=0.5)
    info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])
    client = app.test_client()
    res = client.post("/api/v1/campaigns", headers=AUTH, json={
        "name": "c", "brand": "demo",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 100}, "prizes": [{"kind": "coupon", "name": "券", "weight": 1}]})
    assert res.status_code == 201, res.get_json()
    proxy.set_mode("refuse")
    yield client, info, proxy
    proxy.close()
    app.extensions["yima.db"].engine.dispose()


def test_every_ops_route_is_503_json_while_redis_is_down(redis_down) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = redis_down
    calls = [("get", "/api/v1/campaigns", None), ("post", "/api/v1/rules/publish", {}),
             ("post", "/api/v1/rules/rollback", {"version": 1}), ("get", "/api/v1/rules/versions", None),
             ("post", "/api/v1/simulate", {"batch_id": info.batch_id}),
             ("post", "/api/v1/simulate", {"code": info.inner_url}),
             ("post", "/api/v1/campaigns/1/prizes/0/coupons", {"codes": ["A1"]}),
             ("post", "/api/v1/members/tokens", {"member_id": "m1"}),
             ("post", "/api/v1/scans", {"code": info.inner_url})]
    for method, path, body in calls:
        res = getattr(client, method)(path, headers=AUTH, json=body)
        assert_json_error(res, 503, "unavailable")
    # The login's guess limiter needs Redis too: no console login without it, and a page, not a traceback.
    res = post_form(client, "/ops/login", {"email": "op@demo.example", "password": "guess"}, token_from="/ops/login")
    assert res.status_code == 503 and "text/html" in res.content_type


# --- Host header injection -------------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "target"), [
    ("get", "/q//abc", "/q/abc"),
    ("get", "/Q//abc?lang=en", "/Q/abc?lang=en"),
    ("get", "/api//v1/openapi.json", "/api/v1/openapi.json"),
    ("post", "/api//v1/scans", "/api/v1/scans"),
    ("get", "/static//h5.css", "/static/h5.css"),
])
def test_redirects_never_point_at_the_host_header(ops, method: str, path: str, target: str) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    for host in ("evil.example", "evil.example:8443", "q.demo.example.evil.example"):
        res = getattr(client, method)(path, headers={"Host": host})
        assert res.status_code in (301, 308), res.status_code
        assert res.headers["Location"] == target, res.headers["Location"]
        assert "evil" not in res.get_data(as_text=True)


def test_a_redirect_on_the_configured_host_may_stay_absolute(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    res = client.get("/q//abc", base_url="https://q.demo.example")
    assert res.headers["Location"] in ("https://q.demo.example/q/abc", "/q/abc")


# --- Security headers and cookies ---------------------------------------------------------------------------

def test_every_response_carries_the_security_headers(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    code = info.inner_url.rsplit("/", 1)[1]
    responses = [client.get(f"/q/{code}"), client.get("/q/FORGED"), client.get("/"), client.get("/ops/login"),
                 client.get("/static/h5.css"), client.post("/api/v1/scans", json={}), client.get("/nothing"),
                 client.get("/api/v1/campaigns"), client.get("/q//abc"), client.get("/healthz")]
    for res in responses:
        res.close()
        csp = res.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert res.headers["X-Content-Type-Options"] == "nosniff"
        assert res.headers["X-Frame-Options"] == "DENY"
        assert res.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
        assert "Strict-Transport-Security" not in res.headers  # plain HTTP: HSTS would be ignored, or worse


def test_hsts_and_secure_cookies_over_https(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    code = info.inner_url.rsplit("/", 1)[1]
    res = client.get(f"/q/{code}?lang=en", base_url="https://q.demo.example")
    assert res.headers["Strict-Transport-Security"].startswith("max-age=")
    cookies = res.headers.getlist("Set-Cookie")
    assert len(cookies) == 2 and all("; Secure" in c for c in cookies), cookies
    plain = client.get(f"/q/{code}?lang=en").headers.getlist("Set-Cookie")
    assert len(plain) == 2 and not any("Secure" in c for c in plain), plain


def test_https_behind_the_trusted_proxy_counts_as_https(tmp_path: Path, redis_client: redis.Redis) -> None:
    app = make_app(tmp_path, ops_token=TOKEN, trusted_proxies=1)
    try:
        info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])
        code = info.inner_url.rsplit("/", 1)[1]
        client = app.test_client()
        res = client.get(f"/q/{code}", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"})
        assert "Strict-Transport-Security" in res.headers
        assert "; Secure" in res.headers["Set-Cookie"]
    finally:
        app.extensions["yima.db"].engine.dispose()


def test_x_forwarded_proto_is_ignored_without_a_trusted_proxy(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    res = client.get("/q/FORGED", headers={"X-Forwarded-Proto": "https"})
    assert "Strict-Transport-Security" not in res.headers and "Secure" not in res.headers["Set-Cookie"]


def test_templates_hold_no_inline_script_or_style() -> None:
    """The CSP allows no inline script or style; this keeps the templates honest about it."""
    import re

    root = Path(__file__).resolve().parents[2] / "app" / "templates"
    for path in root.rglob("*.html"):
        text = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)|<style|\sstyle=|\son[a-z]+=|javascript:", text, re.I), path


# --- 405 carries Allow -------------------------------------------------------------------------------------

def test_405_replies_carry_allow(ops) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops
    res = client.delete("/api/v1/scans")
    assert_json_error(res, 405, "method_not_allowed")
    assert set(res.headers["Allow"].split(", ")) == {"POST", "OPTIONS"}
    res = client.patch("/api/v1/campaigns/1", headers=AUTH)
    assert set(res.headers["Allow"].split(", ")) >= {"GET", "PUT", "DELETE"}
    res = client.post("/q/ABC")
    assert res.status_code == 405 and "GET" in res.headers["Allow"] and "text/html" in res.content_type
    assert res.headers["Content-Type"].count("charset") == 1  # the page's own type, not the exception's


def test_publish_refuses_a_note_it_would_have_cut(ops) -> None:  # type: ignore[no-untyped-def]
    """Found by schemathesis: a 201-character note was cut to 200 and published."""
    client, _, _ = ops
    for body in ({"note": "n" * 201}, {"note": 5}, None, [1]):
        res = client.post("/api/v1/rules/publish", headers=AUTH, data=json.dumps(body),
                          content_type="application/json")
        assert_json_error(res, 400, "invalid_campaign")
    assert client.post("/api/v1/rules/publish", headers=AUTH).status_code == 200  # the body is optional
    res = client.post("/api/v1/rules/publish", headers=AUTH, json={"note": "n" * 200})
    assert res.status_code == 200
    assert client.get("/api/v1/rules/versions", headers=AUTH).get_json()["versions"][0]["note"] == "n" * 200


def test_campaign_batch_ids_beyond_the_code_format_are_a_400(ops_sql) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = ops_sql
    for batch in (1 << 28, 1 << 40, 10**30):
        res = client.post("/api/v1/campaigns", headers=AUTH, json={
            "name": "c", "brand": "demo", "scope": {"batches": [batch]},
            "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
            "budget": {"total_fen": 100}, "prizes": [{"kind": "coupon", "name": "券", "weight": 1}]})
        error = assert_json_error(res, 400, "invalid_campaign")
        assert [p["field"] for p in error["problems"]] == ["scope.batches"], error


def test_simulate_refuses_a_time_outside_the_calendar_in_utc(ops) -> None:  # type: ignore[no-untyped-def]
    client, info, _ = ops
    for at in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"):
        res = client.post("/api/v1/simulate", headers=AUTH, json={"batch_id": info.batch_id, "at": at})
        assert [p["field"] for p in assert_json_error(res, 400, "invalid_campaign")["problems"]] == ["at"]


def test_nul_characters_are_refused_before_postgresql_sees_them(ops_sql) -> None:  # type: ignore[no-untyped-def]
    """Found by the route fuzz: PostgreSQL text cannot hold NUL, and a campaign named "a\\x00" was a 500."""
    client, _, _ = ops_sql
    doc = {"name": "a\x00", "brand": "demo", "budget": {"total_fen": 100},
           "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
           "prizes": [{"kind": "coupon", "name": "券\x00", "weight": 1, "x\x00": 1}]}
    error = assert_json_error(client.post("/api/v1/campaigns", headers=AUTH, json=doc), 400, "invalid_campaign")
    assert [p["field"] for p in error["problems"]] == ["name", "prizes[0].name", "prizes[0].x\x00"], error
    res = client.post("/api/v1/rules/publish", headers=AUTH, json={"note": "\x00"})
    assert assert_json_error(res, 400, "invalid_campaign")["problems"][0]["field"] == "note"
    assert client.get("/api/v1/rules/versions", headers=AUTH).get_json()["versions"] == []


@pytest.mark.parametrize(("path", "body", "field"), [
    ("/api/v1/campaigns/1/backtest", {"from": "2026-01-01", "to": "2026-02-01T00:00:00Z"}, "from"),
    ("/api/v1/campaigns/1/backtest", {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:00"}, "to"),
    ("/api/v1/members/tokens", {"member_id": "m1", "joined_at": "2026-01-01"}, "joined_at"),
    ("/api/v1/members/tokens", {"member_id": "m1", "joined_at": "0001-01-01T00:00:00+14:00"}, "joined_at"),
    ("/api/v1/simulate", {"batch_id": 1, "at": "2026-06-01T12:00:00"}, "at"),
    ("/api/v1/simulate", {"batch_id": 1, "at": "2026-06-01T12:00+08:00"}, "at"),
    ("/api/v1/rules/rollback", {"version": 1, "verison": 2}, "verison"),
    ("/api/v1/campaigns/1/status", {"status": "active", "force": True}, "force"),
    ("/api/v1/members/tokens", {"member_id": "m1", "tiers": ["gold"]}, "tiers"),
    ("/api/v1/simulate", {"batch_id": 1, "members": {}}, "members"),
])
def test_times_need_their_offset_and_misspelt_fields_are_refused(ops, path: str, body: dict,  # type: ignore[no-untyped-def]
                                                                 field: str) -> None:
    """Found by schemathesis: a bare date or naive time was accepted (read as UTC here, server time there), and
    an unknown field silently ignored, where the document says date-time and lists the fields."""
    client, _, _ = ops
    client.post("/api/v1/campaigns", headers=AUTH, json={
        "name": "c", "brand": "demo", "budget": {"total_fen": 100},
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "prizes": [{"kind": "coupon", "name": "券", "weight": 1}]})
    error = assert_json_error(client.post(path, headers=AUTH, json=body), 400, "invalid_campaign")
    assert field in [p["field"] for p in error["problems"]], error
