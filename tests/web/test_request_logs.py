"""Request ids (echoed, validated, in every log line of the request) and log lines without secrets, through
the real app on real Redis. The gunicorn side (access lines, two workers) is in
tests/integration/test_gunicorn_observability.py."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from app.logging_setup import HIDDEN, configure, redact, sane_request_id
from tests.conftest import REDIS_TEST_URL
from tests.support.proxy import TcpProxy
from tests.web.conftest import make_app, seeded_app


@pytest.fixture
def json_logs(tmp_path: Path) -> Iterator[None]:
    root = logging.getLogger()
    level = root.level
    cfg = make_app(tmp_path / "cfg", with_keys=False).config["YIMA"]
    handler = configure(dataclasses.replace(cfg, log_format="json"))
    yield
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.mark.parametrize(("sent", "kept"), [
    ("lb-0a1b2c3d", True),
    ("4bf92f3577b34da6a3ce929d0e0e4736", True),
    ("a" * 64, True),
    ("a" * 65, False),
    ("", False),
    ("two words", False),
    ("line\nbreak", False),
    ("ünïcode", False),
    ("-leading-dash", False),
])
def test_incoming_request_ids_are_kept_only_when_sane(tmp_path: Path, redis_client: redis.Redis, sent: str,
                                                      kept: bool) -> None:
    assert (sane_request_id(sent) == sent) is kept
    app = make_app(tmp_path)
    headers = {"X-Request-ID": sent} if "\n" not in sent and sent.isascii() else {}
    res = app.test_client().get("/livez", headers=headers)
    echoed = res.headers["X-Request-ID"]
    if kept:
        assert echoed == sent
    else:
        assert echoed != sent and len(echoed) == 32 and int(echoed, 16) >= 0


def test_every_request_gets_its_own_id(tmp_path: Path, redis_client: redis.Redis) -> None:
    client = make_app(tmp_path).test_client()
    ids = {client.get(path).headers["X-Request-ID"] for path in ("/livez", "/livez", "/nope", "/api/v1/openapi.json")}
    assert len(ids) == 4


def test_a_log_line_written_during_a_request_is_json_with_its_id_and_no_code(
        tmp_path: Path, redis_client: redis.Redis, json_logs: None, capfd: pytest.CaptureFixture[str]) -> None:
    url = redis.connection.parse_url(REDIS_TEST_URL)
    proxy = TcpProxy(url.get("host", "127.0.0.1"), int(url.get("port", 6379)))
    try:
        app, info = seeded_app(tmp_path, redis_url=f"redis://127.0.0.1:{proxy.port}/{url.get('db', 0)}",
                               redis_timeout=0.1)
        code = info.inner_url.rsplit("/", 1)[1]
        app.extensions["yima.scanner"].identify(code)
        capfd.readouterr()
        proxy.set_mode("refuse")
        client = app.test_client()
        res = client.get(f"/q/{code}", headers={"X-Request-ID": "req-page-1"})
        assert res.status_code == 503
        res = client.post("/api/v1/scans", json={"code": code, "member_token": "m" * 40},
                          headers={"X-Request-ID": "req-api-1", "Authorization": "Bearer s3cr3t-t0ken-value"})
        assert res.status_code in (400, 503) and res.headers["X-Request-ID"] == "req-api-1"
        # A line logged by any module while a request runs, naming the code the way errors.py names paths.
        with app.test_request_context(f"/q/{code}"):
            app.preprocess_request()
            app.logger.warning("Redis unavailable on /q/%s (code=%s)", code, code)
    finally:
        proxy.close()
    err = capfd.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    page = [e for e in lines if e.get("request_id") == "req-page-1"]
    assert page and page[0]["level"] == "warning" and page[0]["msg"] == "scan page unavailable: ConnectionError"
    assert any(e["msg"].startswith("Redis unavailable on /q/" + code[:4] + "***") for e in lines)
    assert code not in err and code.lower() not in err
    assert "s3cr3t" not in err and "m" * 40 not in err


def test_redact_hides_codes_tokens_and_secret_fields() -> None:
    code = "18800001000000VX5E4YHKGN541P"
    assert redact(f"GET /q/{code}?v=abc") == "GET /q/1880***?v=abc"
    assert redact(f"https://q.example/Q/{code.lower()}") == "https://q.example/Q/1880***"
    assert redact(f"scanned {code} twice") == f"scanned {HIDDEN} twice"
    assert redact("Authorization: Bearer abc.def-ghi") == f"Authorization: {HIDDEN}"
    assert redact("sent bearer abc.def-ghi along") == f"sent bearer {HIDDEN} along"
    assert redact('{"member_token": "xyz", "password": "hunter2"}') == (
        f'{{"member_token": "{HIDDEN}", "password": "{HIDDEN}"}}')
    assert redact("token=abc&receipt=def") == f"token={HIDDEN}&receipt={HIDDEN}"
    # What is not secret stays readable.
    for plain in ("status 503 on /api/v1/scans", "request_id=4bf92f3577b34da6a3ce929d0e0e4736",
                  "campaign 12: Redis had lost awards", "status_code=200"):
        assert redact(plain) == plain
