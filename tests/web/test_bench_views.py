"""The benchmark endpoints exist only with YIMA_BENCH_ENDPOINTS=1, and answer like the real scan when on."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from app import create_app
from app.config import load_config
from app.seed import seed_demo
from codegen import keys
from tests.conftest import REDIS_TEST_URL


def test_bench_endpoints_are_off_by_default(client: FlaskClient) -> None:
    assert not load_config({}).bench_endpoints
    assert client.post("/bench/bare", json={"code": "x"}).status_code == 404
    assert client.post("/bench/sql-scan", json={"code": "x"}).status_code == 404
    assert load_config({"YIMA_BENCH_ENDPOINTS": "1"}).bench_endpoints


@pytest.fixture
def bench_app(tmp_path: Path, redis_client) -> Iterator[Flask]:  # type: ignore[no-untyped-def]
    keys.init_keyring(tmp_path / "keys.json")  # the scanner loads the key file when the app starts
    app = create_app(
        {
            "var_dir": tmp_path,
            "database_url": f"sqlite:///{tmp_path / 'bench.db'}",
            "redis_url": REDIS_TEST_URL,
            "keys_file": tmp_path / "keys.json",
            "hq_public_file": tmp_path / "hq-public.json",
            "base_url": "https://q.demo.example",
            "bench_endpoints": True,
        }
    )
    app.config["TESTING"] = True
    yield app
    app.extensions["yima.db"].engine.dispose()


def test_bench_endpoints_answer_on_sqlite(bench_app: Flask) -> None:
    from app import bench_views

    cfg = bench_app.config["YIMA"]
    info = seed_demo(cfg, bench_app.extensions["yima.db"], bench_app.extensions["yima.redis"])
    code = info.inner_url.rsplit("/", 1)[1]
    client = bench_app.test_client()

    bare = client.post("/bench/bare", json={"code": code, "device_id": "dev-1"})
    assert bare.status_code == 200 and bare.get_json()["code"] == code

    redis_client = bench_app.extensions["yima.redis"]
    calls = int(redis_client.info("commandstats").get("cmdstat_evalsha", {}).get("calls", 0))
    floor = client.post("/bench/bare-redis", json={"code": code, "device_id": "dev-1"})
    assert floor.status_code == 200 and floor.get_json() == bare.get_json()
    assert int(redis_client.info("commandstats")["cmdstat_evalsha"]["calls"]) >= calls + 1  # it went to Redis

    first = client.post("/bench/sql-scan", json={"code": code, "device_id": "dev-1", "adcode": "310101"})
    body = first.get_json()
    assert first.status_code == 200, body
    assert body["genuine"] and body["status"] == "first" and body["scan_count"] == 1
    assert body["batch"]["id"] == info.batch_id and body["region"]["adcode"] == "310101"
    assert body["first_scan"] is None

    again = client.post("/bench/sql-scan", json={"code": info.inner_url}).get_json()
    assert again["status"] == "repeat" and again["scan_count"] == 2
    assert again["first_scan"]["region"]["adcode"] == "310101" and again["event_id"] != body["event_id"]

    forged = client.post("/bench/sql-scan", json={"code": info.forged_url})
    assert forged.status_code == 404 and forged.get_json()["error"]["code"] == "not_genuine"
    assert client.post("/bench/sql-scan", json={"nope": 1}).status_code == 400

    engine = bench_app.extensions["yima.db"].engine
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(bench_views.scan_events)) == 2
        state = conn.execute(select(bench_views.code_state)).one()
    assert state.code == code and state.scan_count == 2 and state.first_adcode == "310101"
