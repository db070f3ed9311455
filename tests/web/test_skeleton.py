from __future__ import annotations

import time

import redis
from flask import Flask
from flask.testing import FlaskClient
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import create_engine

from app.runtime import Database
from app.seed import seed_demo
from codegen import codeformat, keys


def test_healthz_reports_redis_and_sql_separately(client: FlaskClient) -> None:
    res = client.get("/healthz")
    assert res.status_code == 200
    body = res.get_json()
    assert body["status"] == "ok" and body["redis"]["ok"] and body["database"]["ok"]


def test_healthz_is_503_quickly_when_redis_is_down(app: Flask, client: FlaskClient) -> None:
    # No retries: redis-py's default back-off would outlast /healthz's 1 s and read "timeout" instead.
    app.extensions["yima.redis"] = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.05,
                                               retry=Retry(NoBackoff(), 0))
    start = time.monotonic()
    res = client.get("/healthz")
    elapsed = time.monotonic() - start
    body = res.get_json()
    assert res.status_code == 503 and body["status"] == "degraded"
    assert body["redis"] == {"ok": False, "error": "ConnectionError"} and body["database"]["ok"]
    assert elapsed < 5  # a hang would be a bug; the benchmarked budget lives in the scan issue


def test_healthz_is_degraded_but_ready_when_the_database_is_down(app: Flask, client: FlaskClient) -> None:
    app.extensions["yima.db"] = Database(create_engine("postgresql+psycopg://nobody@127.0.0.1:1/x",
                                                       connect_args={"connect_timeout": 1}))
    res = client.get("/healthz")
    body = res.get_json()
    assert body["database"]["ok"] is False and body["redis"]["ok"] is True
    # Scans never touch SQL: the replica stays in the load balancer and says what is wrong.
    assert res.status_code == 200 and body["status"] == "degraded" and body["problems"] == ["database"]


def test_the_root_leads_to_the_console(client: FlaskClient) -> None:
    res = client.get("/")
    assert res.status_code == 302 and res.headers["Location"].endswith("/ops/")
    assert "WWW-Authenticate" not in res.headers  # the old HTTP-Basic page is gone


def test_seed_demo_is_idempotent_and_activates_the_batch(app: Flask) -> None:
    cfg = app.config["YIMA"]
    info = seed_demo(cfg, app.extensions["yima.db"], app.extensions["yima.redis"])
    again = seed_demo(cfg, app.extensions["yima.db"], app.extensions["yima.redis"])
    assert again == info  # idempotent

    ring = keys.load_keyring(cfg.keys_file)
    code = info.inner_url.rsplit("/", 1)[1]
    assert info.inner_url.startswith("HTTPS://Q.DEMO.EXAMPLE/Q/")
    fields = codeformat.verify(code, ring.batch_key)
    assert fields.batch_id == info.batch_id and fields.role is codeformat.Role.INNER
    assert app.extensions["yima.redis"].hget(f"{{b:{info.batch_id}}}:meta", "status") == b"active"


def test_unknown_pages_get_a_page_or_json_never_a_traceback(client: FlaskClient) -> None:
    res = client.get("/no/such/page")
    assert res.status_code == 404 and "Not Found" in res.get_data(as_text=True)
    res = client.get("/api/v1/nothing")
    assert res.status_code == 404 and res.get_json()["error"]["code"] == "not_found"
