"""A real gunicorn with two workers, as deployed: /metrics adds up both workers' samples (and keeps a dead
worker's), every log line is one JSON object with the request id, and no code or token reaches the logs."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.parser import text_string_to_metric_families

from app.config import load_config
from app.runtime import connect_database, connect_redis
from app.seed import seed_demo
from codegen import keys
from codegen.codeformat import Role, encode
from tests.conftest import REDIS_TEST_URL

PORTS = range(18300, 18400)
TOKEN = "Bearer tok-" + "Zq8" * 12  # an Authorization header that must never be logged


def _free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port in 18300-18399")


def _get(url: str, data: bytes | None = None,
         headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    req = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.status, res.read(), dict(res.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


class Server:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out = open(tmp / "gunicorn.log", "wb")  # noqa: SIM115 (closed in stop)
        self.log = tmp / "gunicorn.log"
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        self.proc = subprocess.Popen(
            [gunicorn, "--config", "python:app.gunicorn_conf", "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
             "app:create_app()"], env=env, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log.read_text()
            try:
                if _get(self.base + "/livez")[0] == 200 and len(self.workers()) == 2:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("gunicorn did not come up:\n" + self.log.read_text())

    def workers(self) -> set[int]:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children").read_text().split()
        return {int(pid) for pid in children}

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.out.close()


@pytest.fixture
def served(tmp_path: Path, redis_client: redis.Redis) -> Iterator[tuple[Server, list[str], Path]]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "YIMA_VAR_DIR": str(tmp_path),
        "REDIS_URL": REDIS_TEST_URL,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'yima.db'}",
        "YIMA_LOG_FORMAT": "json",
        "YIMA_REDIS_TIMEOUT_MS": "1000",
        "YIMA_SCAN_LIMIT_IP": "0",
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    cfg = load_config(env)
    db = connect_database(cfg)
    info = seed_demo(cfg, db, connect_redis(cfg))
    db.engine.dispose()
    ring = keys.load_keyring(cfg.keys_file)
    batch_key = ring.batch_key(ring.current, info.batch_id)
    codes = [encode(batch_key, role=Role.INNER, key_id=ring.current, batch_id=info.batch_id, serial=serial)
             for serial in range(200)]
    # A previous run's file in the directory: gunicorn must start from zero.
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_999999.db").write_bytes(b"\0" * 16)
    server = Server(tmp_path, env)
    try:
        yield server, codes, tmp_path / "metrics"
    finally:
        server.stop()


def _scans_total(text: str) -> float:
    return sum(s.value for f in text_string_to_metric_families(text) for s in f.samples if s.name == "yima_scans_total")


def _scans_in_files(files: list[str]) -> float:
    metrics = MultiProcessCollector.merge(files, accumulate=True)
    return sum(s.value for m in metrics for s in m.samples if s.name == "yima_scans_total")


@pytest.mark.slow
def test_two_workers_one_sum_json_logs_and_no_secrets(served: tuple[Server, list[str], Path]) -> None:
    server, codes, metrics_dir = served
    assert not (metrics_dir / "counter_999999.db").exists()
    sent = 0
    lock = threading.Lock()

    def scan(code: str) -> None:
        nonlocal sent
        body = json.dumps({"code": code}).encode()
        status, _, _ = _get(server.base + "/api/v1/scans", body, {"Content-Type": "application/json",
                                                                  "Authorization": TOKEN})
        assert status == 200
        with lock:
            sent += 1

    # Until both workers have served scans (concurrent clients: a busy sync worker leaves the next one
    # to the other), within the codes we have.
    pending = iter(codes[:190])
    workers = server.workers()
    while True:
        batch = [threading.Thread(target=scan, args=(next(pending),)) for _ in range(6)]
        for t in batch:
            t.start()
        for t in batch:
            t.join()
        per_worker = [_scans_in_files([str(f) for f in metrics_dir.glob(f"*_{pid}.db")]) for pid in workers]
        if all(per_worker) or sent >= 180:
            break
    assert all(per_worker), f"one worker served every scan: {per_worker}"
    assert sum(per_worker) == sent

    for _ in range(4):  # whichever worker answers, it reports both workers' scans
        status, body, _ = _get(server.base + "/metrics")
        assert status == 200 and _scans_total(body.decode()) == sent

    # A worker that exits keeps its counts in the sum; the master forks a replacement.
    gone = min(workers)
    os.kill(gone, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while (gone in server.workers() or len(server.workers()) < 2) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert gone not in server.workers() and len(server.workers()) == 2
    assert _scans_total(_get(server.base + "/metrics")[1].decode()) == sent

    # A request id sent is echoed and logged; a bad one is replaced; a page scan's code stays out of logs.
    status, _, headers = _get(server.base + "/q/" + codes[195], headers={"X-Request-ID": "lb-7f3a.1:x"})
    assert status == 200 and headers["X-Request-ID"] == "lb-7f3a.1:x"
    _, _, headers = _get(server.base + "/livez", headers={"X-Request-ID": "bad id\twith spaces"})
    generated = headers["X-Request-ID"]
    assert len(generated) == 32 and generated != "bad id\twith spaces"
    server.stop()

    lines = [line for line in server.log.read_text("utf-8").splitlines() if line.strip()]
    entries = [json.loads(line) for line in lines]  # every line is one JSON object
    access = [e for e in entries if e["logger"] == "gunicorn.access"]
    assert len(access) >= sent + 6
    assert all(len(e["request_id"]) >= 1 and e["request_id"] != "-" for e in access)
    assert {"lb-7f3a.1:x", generated} <= {e["request_id"] for e in access}
    page = next(e for e in access if e["request_id"] == "lb-7f3a.1:x")
    assert page["status"] == 200 and page["path"] == "/q/" + codes[195][:4] + "***"
    assert any(e["logger"] == "gunicorn.error" for e in entries)  # gunicorn's own lines, in the same shape
    text = server.log.read_text("utf-8")
    assert "Zq8Zq8" not in text and "Bearer tok" not in text
    for code in [*codes[:sent], codes[195]]:
        assert code not in text and code.lower() not in text
