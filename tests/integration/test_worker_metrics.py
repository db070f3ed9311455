"""`yima worker`'s /metrics over real HTTP, on real Redis and SQL: the drain backlog and its age, what a
drain job run by the real (forking) RQ worker did, and who may read it."""

from __future__ import annotations

import dataclasses
import ipaddress
import secrets
import signal
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families
from rq import Queue

from app.config import Config, load_config
from app.worker import QUEUE, DrainWorker, drain_job
from app.worker_metrics import serve_metrics
from codegen.batch_state import events_key, write_batch_state
from codegen.db import make_engine
from schema import upgrade_schema
from tests.conftest import REDIS_TEST_URL
from tests.integration.test_drain import META, scan_many

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def _free_port() -> int:
    for port in range(18300, 18400):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 18300-18399")


def _get(port: int, path: str = "/metrics", token: str = "") -> tuple[int, str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers=headers),
                                    timeout=10) as res:
            return res.status, res.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _samples(text: str) -> Samples:
    return {(s.name, frozenset(s.labels.items())): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def _config(tmp_path: Path, sqlite_url: str) -> Config:
    return load_config({"YIMA_VAR_DIR": str(tmp_path), "REDIS_URL": REDIS_TEST_URL, "DATABASE_URL": sqlite_url,
                        "HOST": "127.0.0.1", "YIMA_WORKER_METRICS_PORT": str(_free_port())})


def test_backlog_age_and_a_real_drain_jobs_counts(redis_client: redis.Redis, sqlite_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("DATABASE_URL", sqlite_url), ("REDIS_URL", REDIS_TEST_URL), ("YIMA_VAR_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)  # the drain job (in RQ's work horse) reads its config
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    engine.dispose()
    cfg = _config(tmp_path, sqlite_url)
    scan_many(redis_client, 3, range(25))
    seconds, micros = redis_client.time()  # and one event two minutes old, in another batch's stream
    write_batch_state(redis_client, 4, META, active=[(0, 99)], void=[])
    redis_client.xadd(events_key(4), {"kind": "first", "batch": "4", "serial": "1", "role": "inner", "code": "X",
                                      "ts": str(seconds - 120), "count": "1"},
                      id=f"{seconds * 1000 + micros // 1000 - 120_000}-0")
    server = serve_metrics(cfg, redis_client)
    assert server is not None
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        status, text = _get(cfg.worker_metrics_port)
        assert status == 200
        before = _samples(text)
        assert before[("yima_drain_backlog_events", frozenset({("family", "scan_events")}))] == 26
        assert before[("yima_drain_oldest_event_age_seconds", frozenset({("family", "scan_events")}))] >= 120
        assert before[("yima_drain_backlog_events", frozenset({("family", "awards")}))] == 0
        assert before[("yima_drain_lag_up", frozenset())] == 1

        queue = Queue(QUEUE, connection=redis_client)
        queue.enqueue(drain_job, kwargs={"seconds": 1.5, "chain": False})
        DrainWorker([queue], connection=redis_client).work(burst=True)  # forks its work horse, as deployed
        after = _samples(_get(cfg.worker_metrics_port)[1])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        server.shutdown()
        server.server_close()

    def delta(name: str, **labels: str) -> float:
        key = (name, frozenset(labels.items()))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert delta("yima_drain_jobs_total", result="finished") == 1
    assert delta("yima_drain_events_total", result="stored") == 26
    assert after[("yima_drain_backlog_events", frozenset({("family", "scan_events")}))] == 0
    assert after[("yima_drain_oldest_event_age_seconds", frozenset({("family", "scan_events")}))] == 0


def test_worker_metrics_access_and_a_redis_outage(redis_client: redis.Redis, sqlite_url: str, tmp_path: Path) -> None:
    token = secrets.token_urlsafe(32)
    cfg = dataclasses.replace(_config(tmp_path, sqlite_url), metrics_allow=(ipaddress.ip_network("10.0.0.0/8"),),
                              metrics_token=token)
    dead = redis.Redis(host="127.0.0.1", port=_free_port(), socket_connect_timeout=0.2)  # nothing listens there
    server = serve_metrics(cfg, dead)
    assert server is not None
    try:
        port = cfg.worker_metrics_port
        assert _get(port)[0] == 403  # loopback is not in the allowed networks
        assert _get(port, token="wrong")[0] == 403
        assert _get(port, "/other", token=token)[0] == 404
        status, text = _get(port, token=token)
        samples = _samples(text)
        assert status == 200 and samples[("yima_drain_lag_up", frozenset())] == 0
        assert not any(name == "yima_drain_backlog_events" for name, _ in samples)
        # A second worker on the same port does not stop the first one, nor itself.
        assert serve_metrics(cfg, dead) is None
    finally:
        server.shutdown()
        server.server_close()
        dead.close()
