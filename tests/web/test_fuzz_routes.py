"""A property-based fuzz of every route of the app (issue 9): whatever the method, path segments, body and
headers, public or ops, with or without valid credentials, the answer is never a 5xx — and with Redis down,
never a 500 (503 "unavailable" is the honest answer). Real Redis test DB, temp SQLite, the real app."""

from __future__ import annotations

import base64
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import redis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.seed import DemoInfo, seed_demo
from tests.support.proxy import TcpProxy
from tests.web.conftest import make_app

TOKEN = "fuzz-token-0123456789abcdef0123456789abcd"
FIELDS = ["code", "lat", "lng", "adcode", "device_id", "member_token", "member", "tier", "tags", "new", "batch_id",
          "serial", "role", "at", "version", "status", "codes", "from", "to", "seed", "note", "name", "brand",
          "window", "budget", "prizes", "scope", "regions", "ordinal", "member_id", "joined_at", "priority"]
HUGE = [2**31, 2**63, 2**64, 10**20, 10**400, -(10**30)]
# Bounded so `make test` stays well under a minute; raise it for a longer hunt (YIMA_FUZZ_EXAMPLES=5000).
EXAMPLES = int(os.environ.get("YIMA_FUZZ_EXAMPLES", "400"))
CONVERTER = re.compile(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>")


def _settings(examples: int) -> Any:
    return settings(max_examples=examples, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                           HealthCheck.data_too_large])


def scalars(code: str) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), st.booleans(), st.integers(), st.sampled_from(HUGE), st.floats(),
                     st.text(max_size=40), st.sampled_from([code, "", "440305", "gold", "2026-01-01T00:00:00+08:00",
                                                            "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"]),
                     st.text(min_size=600, max_size=2000))


def json_values(code: str) -> st.SearchStrategy[Any]:
    objects = st.recursive(scalars(code), lambda inner: st.one_of(
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=10)), inner, max_size=6),
        st.lists(inner, max_size=5)), max_leaves=20)
    # Mostly objects whose keys are the routes' own field names, so the parsers behind them are reached.
    return st.one_of(st.dictionaries(st.sampled_from(FIELDS), objects, min_size=1, max_size=6), objects)


def segments(code: str) -> st.SearchStrategy[str]:
    """A path segment: ids real and huge, unicode, empty, very long, the demo code, percent-encoded or raw."""
    raw = st.one_of(st.sampled_from([str(h) for h in HUGE]), st.integers(min_value=-5, max_value=5).map(str),
                    st.sampled_from([code, code.lower(), "0", "1", "", "..", "%", "%00", "a" * 5000]),
                    st.text(max_size=30))
    return st.tuples(raw, st.booleans()).map(lambda t: quote(t[0], safe="") if t[1] else t[0].replace("/", ""))


@st.composite
def requests(draw: st.DrawFn, app: Flask, code: str) -> dict[str, Any]:
    rule = draw(st.sampled_from(sorted(app.url_map.iter_rules(), key=lambda r: r.rule)))
    path = CONVERTER.sub(lambda m: draw(segments(code)), rule.rule)
    if draw(st.booleans()):
        path = path.replace("/", draw(st.sampled_from(["//", "/./", "/"])), draw(st.integers(0, 2)))
    methods = sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
    method = draw(st.sampled_from(methods) if methods and draw(st.integers(0, 4)) else
                  st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]))
    # Valid credentials half of the time: most routes are behind them.
    auth = draw(st.sampled_from(["bearer", "bearer", "bearer", "basic", "none", "bearer-wrong", "basic-wrong",
                                 "garbage"]))
    headers = {
        "none": {}, "bearer": {"Authorization": f"Bearer {TOKEN}"}, "bearer-wrong": {"Authorization": "Bearer x"},
        "basic": {"Authorization": "Basic " + base64.b64encode(f"ops:{TOKEN}".encode()).decode()},
        "basic-wrong": {"Authorization": "Basic " + base64.b64encode("ops:é".encode()).decode()},
        # Any bytes a client could send in one header line (HTTP has no newline inside a value).
        "garbage": {"Authorization": draw(st.text(st.characters(blacklist_categories=["Cc", "Cs"]), max_size=40)
                                          .map(lambda t: t.encode().decode("latin-1")))},
    }[auth]
    if draw(st.booleans()):
        headers["Host"] = draw(st.sampled_from(["evil.example", "evil.example:8443", "localhost", "[::1]:80"]))
    kind = draw(st.sampled_from(["json", "json-raw", "bytes", "form", "none"]))
    body: dict[str, Any] = {}
    if kind == "json":
        body["json"] = draw(json_values(code))
    elif kind == "json-raw":
        body["data"] = draw(st.sampled_from(['{"lat": 1' + "0" * 400 + "}", "[", "NaN", '{"a": Infinity}',
                                             '{"version": 9223372036854775808}', '"\\ud800"', "1e999"]))
        body["content_type"] = "application/json"
    elif kind == "bytes":
        body["data"] = draw(st.binary(max_size=200))
        body["content_type"] = draw(st.sampled_from([
            "application/json", "text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
            "application/json; charset=latin-1", "x"]))
    elif kind == "form":
        body["data"] = draw(st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=20), max_size=4))
    query = draw(st.sampled_from(["", "?lang=en", "?lang=xx&v=abc", "?v=" + "x" * 700, "?%ff=%fe"]))
    return {"method": method, "path": path + query, "headers": headers, **body}


def _send(app: Flask, req: dict[str, Any]) -> Any:
    req = dict(req)
    return app.test_client().open(req.pop("path"), method=req.pop("method"), **req)


@pytest.fixture
def demo(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Flask, DemoInfo]]:
    # The guess limiter is off so that valid credentials keep reaching the routes behind them; its
    # lockouts are 429s, covered by tests/web/test_auth_limits.py.
    app = make_app(tmp_path, ops_token=TOKEN, auth_fails_source=0, auth_fails_account=0)
    info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])
    yield app, info
    app.extensions["yima.db"].engine.dispose()


def test_no_route_answers_5xx_to_anything(demo: tuple[Flask, DemoInfo]) -> None:
    app, info = demo
    code = info.inner_url.rsplit("/", 1)[1]

    @_settings(EXAMPLES)
    @given(req=requests(app, code))
    def run(req: dict[str, Any]) -> None:
        res = _send(app, req)
        detail = (req["method"], req["path"][:200], res.status_code, res.get_data(as_text=True)[:300])
        res.close()
        assert res.status_code < 500, detail
        assert "evil" not in res.headers.get("Location", ""), detail
        if req["path"].startswith("/api/") and req["method"] not in ("HEAD", "OPTIONS"):
            assert res.is_json or res.status_code in (204, 301, 308), detail
            if res.status_code >= 400:
                assert set(json.loads(res.get_data())) == {"error"}, detail

    run()


def test_no_route_answers_500_while_redis_is_down(tmp_path: Path, redis_client: redis.Redis) -> None:
    from tests.conftest import REDIS_TEST_URL

    url = redis.connection.parse_url(REDIS_TEST_URL)
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    app = make_app(tmp_path, ops_token=TOKEN, redis_url=f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}",
                   redis_timeout=0.2)
    try:
        info = seed_demo(app.config["YIMA"], app.extensions["yima.db"], app.extensions["yima.redis"])
        proxy.set_mode("refuse")
        code = info.inner_url.rsplit("/", 1)[1]

        @_settings(max(EXAMPLES // 4, 50))
        @given(req=requests(app, code))
        def run(req: dict[str, Any]) -> None:
            res = _send(app, req)
            detail = (req["method"], req["path"][:200], res.status_code, res.get_data(as_text=True)[:300])
            res.close()
            assert res.status_code < 500 or res.status_code == 503, detail

        run()
    finally:
        proxy.close()
        app.extensions["yima.db"].engine.dispose()
