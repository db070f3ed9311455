"""Guess limits on the ops Bearer token (issue 9; the console login's: tests/web/test_console_auth.py):
lockout per source and per account, 429 with Retry-After, the right secret refused while locked, expiry,
a log line per lockout."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from tests.web.conftest import make_app

TOKEN = "limits-token-0123456789abcdef0123456789ab"
WINDOW = 2  # seconds; production default 300


@pytest.fixture
def app(tmp_path: Path, redis_client: redis.Redis) -> Iterator[Flask]:
    app = make_app(tmp_path, ops_token=TOKEN, auth_fails_source=3, auth_fails_account=5, auth_lock_seconds=WINDOW)
    yield app
    app.extensions["yima.db"].engine.dispose()


def bearer(client: FlaskClient, token: str, source: str) -> int:
    res = client.get("/api/v1/rules/versions", headers={"Authorization": f"Bearer {token}"},
                     environ_base={"REMOTE_ADDR": source})
    return res.status_code


def test_a_source_is_locked_out_after_its_failures_even_with_the_right_token(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    caplog.set_level(logging.WARNING)
    assert [bearer(client, f"wrong-{i}", "198.51.100.7") for i in range(3)] == [401, 401, 429]
    res = client.get("/api/v1/rules/versions", headers={"Authorization": f"Bearer {TOKEN}"},
                     environ_base={"REMOTE_ADDR": "198.51.100.7"})
    assert res.status_code == 429 and res.get_json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(res.headers["Retry-After"]) <= WINDOW
    # Per source: the right token from elsewhere still works.
    assert bearer(client, TOKEN, "198.51.100.8") == 200
    [line] = [r.getMessage() for r in caplog.records if "auth lockout" in r.getMessage()]
    assert "198.51.100.7" in line and "ops API" in line
    assert "wrong-" not in caplog.text and TOKEN not in caplog.text  # never the guess, never the secret


def test_a_lockout_ends_after_the_window(app: Flask) -> None:
    client = app.test_client()
    assert [bearer(client, "wrong", "198.51.100.9") for _ in range(3)][-1] == 429
    deadline = time.monotonic() + WINDOW + 5
    while bearer(client, TOKEN, "198.51.100.9") == 429:
        assert time.monotonic() < deadline, "the lockout never ended"
        time.sleep(0.2)
    assert bearer(client, TOKEN, "198.51.100.9") == 200


def test_the_account_is_locked_when_guesses_come_from_many_sources(
        app: Flask, caplog: pytest.LogCaptureFixture) -> None:
    client = app.test_client()
    caplog.set_level(logging.WARNING)
    codes = [bearer(client, "wrong", f"203.0.113.{i}") for i in range(5)]  # 1 guess each: under the source limit
    assert codes == [401, 401, 401, 401, 429]
    assert bearer(client, TOKEN, "192.0.2.1") == 429  # every Bearer attempt guesses the one ops token
    assert any("acct:ops-token" in r.getMessage() for r in caplog.records)


def test_requests_without_credentials_do_not_count(app: Flask) -> None:
    client = app.test_client()
    for _ in range(10):
        assert client.get("/api/v1/campaigns", environ_base={"REMOTE_ADDR": "198.51.100.20"}).status_code == 401
    assert bearer(client, TOKEN, "198.51.100.20") == 200


def test_the_limits_come_from_the_environment() -> None:
    from app.config import load_config

    cfg = load_config({"YIMA_AUTH_FAILS_PER_SOURCE": "4", "YIMA_AUTH_FAILS_PER_ACCOUNT": "9",
                       "YIMA_AUTH_LOCK_SECONDS": "60"})
    assert (cfg.auth_fails_source, cfg.auth_fails_account, cfg.auth_lock_seconds) == (4, 9, 60)
    default = load_config({})
    assert (default.auth_fails_source, default.auth_fails_account, default.auth_lock_seconds) == (10, 50, 300)
