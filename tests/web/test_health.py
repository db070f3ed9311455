"""/healthz answers in bounded time whatever PostgreSQL does, and a hung database never starves scans."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy.engine import make_url

from app.config import load_config
from app.runtime import connect_database, connect_redis
from app.seed import seed_demo
from codegen.batch_state import events_key, write_batch_state
from tests.conftest import REDIS_TEST_URL
from tests.support.proxy import TcpProxy
from tests.support.redis_server import free_port
from tests.web.conftest import make_app

HANG = 5.0  # "did not hang": the configured answer time is 1 s


@pytest.fixture
def pg_proxy(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


@pytest.fixture
def pg_app(tmp_path: Path, redis_client: redis.Redis, pg_proxy: tuple[str, TcpProxy]) -> Iterator[Flask]:
    app = make_app(tmp_path, database_url=pg_proxy[0])
    yield app
    app.extensions["yima.db"].engine.dispose()


def timed_get(app: Flask, path: str) -> tuple[float, int, dict[str, Any]]:
    started = time.monotonic()
    res = app.test_client().get(path)
    return time.monotonic() - started, res.status_code, res.get_json()


# blackhole: connections are cut and new ones never answered; stall: open connections stop answering
# mid-statement too (the proxy SIGSTOPped), which no connect or statement timeout covers.
HANGS = ["blackhole", "stall"]


@pytest.mark.parametrize("hang", HANGS)
def test_healthz_answers_while_postgresql_hangs_and_names_the_database(pg_app: Flask, hang: str,
                                                                        pg_proxy: tuple[str, TcpProxy]) -> None:
    elapsed, status, body = timed_get(pg_app, "/healthz")
    assert status == 200 and body["status"] == "ok" and body["database"]["ok"], body
    pg_proxy[1].set_mode(hang)
    for _ in range(3):  # the first finds it hung; the next ones find that probe still waiting
        elapsed, status, body = timed_get(pg_app, "/healthz")
        assert elapsed < HANG, f"/healthz took {elapsed:.1f}s while PostgreSQL hung"
        # Scans do not need SQL: the replica stays ready (200) and says what is wrong.
        assert status == 200 and body["status"] == "degraded" and body["problems"] == ["database"], body
        assert body["database"]["ok"] is False and body["redis"]["ok"] is True
    pg_proxy[1].set_mode("pass")
    deadline = time.monotonic() + 30  # a hung connect gives up after the 5 s connect timeout
    while time.monotonic() < deadline and not body["database"]["ok"]:
        time.sleep(0.2)
        body = timed_get(pg_app, "/healthz")[2]
    assert body["database"]["ok"] and body["status"] == "ok", body


def test_healthz_reports_the_drain_lag_and_is_degraded_when_it_falls_behind(tmp_path: Path,
                                                                            redis_client: redis.Redis) -> None:
    app = make_app(tmp_path, drain_lag_max_s=60)
    body = timed_get(app, "/healthz")[2]
    assert body["events"]["ok"] and body["events"]["backlog"] == 0 and body["events"]["oldest_age_s"] is None
    seconds, _micros = redis_client.time()
    meta = {"key_id": 1, "brand": "acme", "sku": "S", "product": "P", "gtin": "", "lot": "L", "factory": "",
            "line": "", "production_date": "", "quantity": 100, "pack": 0, "status": "active"}
    write_batch_state(redis_client, 7, meta, active=[(0, 99)], void=[])
    # An event 90 s old that no worker has drained (stream ids are Redis' millisecond clock).
    redis_client.xadd(events_key(7), {"kind": "first", "batch": "7"}, id=f"{seconds * 1000 - 90_000}-0")
    redis_client.xadd(events_key(7), {"kind": "repeat", "batch": "7"})
    _elapsed, status, body = timed_get(app, "/healthz")
    assert status == 200 and body["status"] == "degraded" and body["problems"] == ["events"], body
    assert body["events"]["backlog"] == 2 and body["events"]["oldest_age_s"] >= 90
    assert "drain behind" in body["events"]["error"]
    assert timed_get(app, "/livez")[1:] == (200, {"status": "alive"})
    app.extensions["yima.db"].engine.dispose()


def test_livez_does_not_depend_on_redis_or_sql(pg_app: Flask, pg_proxy: tuple[str, TcpProxy]) -> None:
    pg_proxy[1].set_mode("blackhole")
    pg_app.extensions["yima.redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05)
    _elapsed, status, body = timed_get(pg_app, "/livez")
    assert (status, body) == (200, {"status": "alive"})
    elapsed, status, body = timed_get(pg_app, "/healthz")
    assert status == 503 and elapsed < HANG and set(body["problems"]) == {"redis", "database", "events"}


# --- gunicorn as shipped ---------------------------------------------------------------------------------


def _get(url: str, timeout: float) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read() or b"{}")


def _post_scan(site: str, code: str, timeout: float) -> int:
    req = urllib.request.Request(f"{site}/api/v1/scans", data=json.dumps({"code": code}).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return int(resp.status)
    except urllib.error.HTTPError as exc:
        with exc:
            return int(exc.code)


@pytest.mark.parametrize("hang", HANGS)
def test_gunicorn_keeps_answering_scans_while_healthz_is_polled_and_postgresql_hangs(
    tmp_path: Path, redis_client: redis.Redis, pg_proxy: tuple[str, TcpProxy], hang: str
) -> None:
    db_url, proxy = pg_proxy
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMA_")}
    env.update(YIMA_VAR_DIR=str(tmp_path), DATABASE_URL=db_url, REDIS_URL=REDIS_TEST_URL, PORT=str(port),
               YIMA_REDIS_TIMEOUT_MS="1000", YIMA_SCAN_LIMIT_IP="0", YIMA_SCAN_LIMIT_DEVICE="0")
    cfg = load_config(env)
    db = connect_database(cfg)
    info = seed_demo(cfg, db, connect_redis(cfg))
    db.engine.dispose()
    gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
    server = subprocess.Popen([gunicorn, "--config", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{port}",
                               "app:create_app()"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    site = f"http://127.0.0.1:{port}"
    polls: list[tuple[float, int, dict[str, Any]]] = []
    stop = threading.Event()

    def poll_health() -> None:  # harder than any probe: k8s asks every 5 s, this every 0.2 s
        while not stop.is_set():
            started = time.monotonic()
            try:
                status, body = _get(f"{site}/healthz", timeout=30)
            except OSError as exc:
                status, body = 0, {"error": repr(exc)}
            polls.append((time.monotonic() - started, status, body))
            time.sleep(0.2)

    poller = threading.Thread(target=poll_health, daemon=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{site}/healthz", timeout=2)[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline and server.poll() is None, "gunicorn did not come up"
            time.sleep(0.2)
        proxy.set_mode(hang)
        poller.start()
        answered = []
        until = time.monotonic() + 12  # past the 5 s connect timeout, so hung probes pile up if they can
        while time.monotonic() < until:
            started = time.monotonic()
            try:
                status = _post_scan(site, info.inner_url, timeout=HANG)
            except OSError as exc:
                status = repr(exc)  # type: ignore[assignment]
            answered.append((status, round(time.monotonic() - started, 2)))
        stop.set()
        poller.join(timeout=40)
        assert len(answered) >= 10 and all(status == 200 for status, _ in answered), answered
        assert polls and all(elapsed < HANG for elapsed, _, _ in polls), [p[:2] for p in polls]
        assert all(status == 200 and body["database"]["ok"] is False for _, status, body in polls), polls
    finally:
        stop.set()
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, 9)
            server.wait()


@pytest.mark.parametrize("outage", ["refuse", "blackhole"])
def test_the_app_starts_and_serves_scans_while_postgresql_is_down(tmp_path: Path, redis_client: redis.Redis,
                                                                   pg_proxy: tuple[str, TcpProxy], outage: str) -> None:
    # A gunicorn worker booting during an outage (a restart, a worker replaced after its timeout) must not
    # fail: gunicorn stops the whole server when a worker cannot boot.
    seeded = make_app(tmp_path, database_url=pg_proxy[0])
    info = seed_demo(seeded.config["YIMA"], seeded.extensions["yima.db"], seeded.extensions["yima.redis"])
    seeded.extensions["yima.db"].engine.dispose()
    pg_proxy[1].set_mode(outage)
    app = make_app(tmp_path, with_keys=False, database_url=pg_proxy[0], db_connect_timeout=2)
    client = app.test_client()
    assert client.post("/api/v1/scans", json={"code": info.inner_url}).status_code == 200
    body = client.get("/healthz").get_json()
    assert body["database"]["ok"] is False and body["redis"]["ok"] is True
    app.extensions["yima.db"].engine.dispose()
