"""`yima worker` as a real process rides out Redis restarts and SQL outages: it never quits, and every
scan event still reaches SQL afterwards."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

from codegen.db import make_engine, make_sessionmaker
from rules.models import ScanEvent
from schema import upgrade_schema
from tests.conftest import REDIS_TEST_URL
from tests.integration.test_drain import scan_many
from tests.support.proxy import TcpProxy
from tests.support.redis_server import RedisServer

CATCH_UP = 60.0  # "did not get stuck": a drain pass takes well under a second


def sqlite_ledger(tmp_path: Path) -> tuple[str, Engine, sessionmaker[Session]]:
    """A migrated SQLite file for a worker process and the test to share: (URL, engine, sessions)."""
    url = f"sqlite:///{tmp_path / 'yima.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    return url, engine, make_sessionmaker(engine)


def start_worker(tmp_path: Path, redis_url: str, database_url: str, **extra: str) -> subprocess.Popen[bytes]:
    """`yima worker` with 2 s drain jobs, so outages also land between jobs (chaining, dequeueing)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMA_")}
    env.update(REDIS_URL=redis_url, DATABASE_URL=database_url, YIMA_VAR_DIR=str(tmp_path / "var"), **extra)
    yima = shutil.which("yima", path=os.path.dirname(sys.executable)) or "yima"
    with (tmp_path / "worker.log").open("wb") as log:  # the child keeps its own descriptor
        return subprocess.Popen([yima, "worker", "--job-seconds", "2"], env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()


def wait_for_rows(sessions, n: int, worker: subprocess.Popen[bytes], log: Path) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + CATCH_UP
    count = 0
    while time.monotonic() < deadline:
        assert worker.poll() is None, f"the worker quit (status {worker.returncode}):\n{log.read_text()[-3000:]}"
        with sessions() as s:
            count = s.scalar(select(func.count()).select_from(ScanEvent)) or 0
        if count >= n:
            assert count == n
            return
        time.sleep(0.2)
    raise AssertionError(f"{count} of {n} events in SQL after {CATCH_UP:.0f}s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


def test_the_worker_survives_redis_restarts(tmp_path: Path, private_redis: RedisServer) -> None:
    url, engine, sessions = sqlite_ledger(tmp_path)
    worker = start_worker(tmp_path, private_redis.url, url)
    log = tmp_path / "worker.log"
    try:
        client = private_redis.client()
        scan_many(client, 1, range(20))
        wait_for_rows(sessions, 20, worker, log)
        for round_ in range(3):
            # A restart without persistence: queue, consumer group and streams are gone, as after a
            # failover to an empty replica; the scan path writes the batch state again.
            private_redis.restart(down_for=0.5)
            time.sleep(3 + round_)  # the worker notices while Redis is back but empty, mid-job or between jobs
            client = private_redis.client()
            scan_many(client, 1, range(20 + 10 * round_, 30 + 10 * round_))
            wait_for_rows(sessions, 30 + 10 * round_, worker, log)
        assert worker.poll() is None
    finally:
        stop_worker(worker)
        engine.dispose()


def test_the_worker_survives_a_hung_and_a_refusing_database(tmp_path: Path, redis_client: redis.Redis,
                                                            postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxy.set_mode("refuse")  # down when the worker starts: it waits for the database, it does not exit
    worker = start_worker(tmp_path, REDIS_TEST_URL, url.set(host="127.0.0.1", port=proxy.port)
                          .render_as_string(hide_password=False), YIMA_DB_CONNECT_TIMEOUT_S="2")
    log = tmp_path / "worker.log"
    try:
        scan_many(redis_client, 1, range(10))
        time.sleep(3)
        assert worker.poll() is None, log.read_text()[-3000:]
        proxy.set_mode("pass")
        wait_for_rows(sessions, 10, worker, log)
        proxy.set_mode("blackhole")  # hangs: connections accepted, never answered
        scan_many(redis_client, 1, range(10, 20))
        time.sleep(6)  # several connect timeouts
        proxy.set_mode("refuse")
        scan_many(redis_client, 1, range(20, 30))
        time.sleep(2)
        proxy.set_mode("pass")
        wait_for_rows(sessions, 30, worker, log)
    finally:
        stop_worker(worker)
        proxy.close()
        engine.dispose()


def _children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(c) for c in (task / "children").read_text().split()]
    return found


def test_a_drain_job_killed_mid_run_is_replaced(tmp_path: Path, private_redis: RedisServer) -> None:
    url, engine, sessions = sqlite_ledger(tmp_path)
    worker = start_worker(tmp_path, private_redis.url, url)
    log = tmp_path / "worker.log"
    try:
        client = private_redis.client()
        scan_many(client, 1, range(10))
        wait_for_rows(sessions, 10, worker, log)
        for round_ in range(2):
            # The work horse (the process running the drain job) dies, e.g. OOM-killed: the job can
            # queue no successor, RQ does not retry it, and no other job may be waiting.
            deadline = time.monotonic() + CATCH_UP
            while not (horses := _children(worker.pid)):
                assert time.monotonic() < deadline, f"no drain job running:\n{log.read_text()[-3000:]}"
                time.sleep(0.1)
            client.delete("rq:queue:yima-events")
            for pid in horses:
                os.kill(pid, signal.SIGKILL)
            scan_many(client, 1, range(10 + 10 * round_, 20 + 10 * round_))
            wait_for_rows(sessions, 20 + 10 * round_, worker, log)
    finally:
        stop_worker(worker)
        engine.dispose()
