"""The event-drain worker: an RQ worker whose job drains the scan-event streams into SQL.

`yima worker` starts an RQ worker on the queue "yima-events" and makes sure a drain job is queued. The
job drains for `seconds`, then queues its successor unless another one is already waiting, so each
worker keeps one drain chain going and a killed worker's chain is replaced when it restarts. Several
workers drain in parallel through the same consumer group.

Nothing a dependency does makes the process quit: the job waits out a database or Redis outage with
back-off, and when the RQ worker itself gives up (RQ quits on most Redis errors, and a Redis restarted
without its data has lost the queued job too) a new one is started, after back-off, with a drain job
queued again. Only SIGTERM/SIGINT stop it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import redis
from redis.cluster import RedisCluster
from rq import Queue, Worker
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.config import Config, load_config
from app.runtime import connect_database, connect_redis_url, queue_url, redis_url
from app.worker_metrics import count_job, serve_metrics
from channel.bside_ledger import credit_bside_awards
from channel.judge import ChannelJudge
from channel.ladder import Month, ladder_bonuses, ladder_brands
from channel.sell_through import SellThrough
from reports.forged import advance_cursor, collect_forged
from reports.rollups import prune_rollups
from risk.observer import RiskObserver
from rules.awards import AwardSink, repair_published
from rules.drain import DatabaseUnavailable, Drainer, DrainSettings, ScanEventSink, ScanObserver
from rules.partitions import ensure_partitions

QUEUE = "yima-events"
IDLE_RESTART_S = 10  # an RQ worker idle this long has no drain job: it is restarted, which queues one
REPAIR_EVERY_S = 5.0  # how often Redis' campaign counters are checked against the SQL ledger (and forged
# attempts collected into the report rollups)
PRUNE_EVERY_S = 600.0  # how often minute rollups past their retention are deleted
PRUNED_KEY = "yima:rollups:pruned"  # present while the last prune is recent
PARTITIONS_KEY = "yima:events:partitions-checked"  # present while the last partition check is recent
LADDER_KEY = "yima:channel:ladder-paid:{month}"  # present once the waiters' ladder of that month is paid
log = logging.getLogger("yima.worker")
REDIS_DOWN = (redis.ConnectionError, redis.TimeoutError)  # BusyLoadingError (AOF replay) is a ConnectionError


class Backoff:
    """Doubling waits between retries, reset by a success."""

    def __init__(self, first: float = 0.2, cap: float = 5.0) -> None:
        self.first, self.cap, self.next = first, cap, first

    def step(self) -> float:
        delay, self.next = self.next, min(self.next * 2, self.cap)
        return delay

    def reset(self) -> None:
        self.next = self.first


def drain_redis(cfg: Config) -> redis.Redis | RedisCluster:
    # Blocking stream reads wait up to a second: this client's timeout must exceed that.
    return connect_redis_url(redis_url(cfg), socket_timeout=10, socket_connect_timeout=5)


def queue_redis(cfg: Config) -> redis.Redis:
    """RQ's connection (app.runtime.queue_url): never a cluster."""
    return redis.Redis.from_url(queue_url(cfg), socket_timeout=10, socket_connect_timeout=5)


def consumer_name() -> str:
    """Stable for one worker process (its horses share it), unique across hosts and workers."""
    return f"{socket.gethostname()}-{os.getppid()}"


def drain_job(seconds: float = 30.0, chain: bool = True, consumer: str | None = None,
              batch_size: int = 1000, claim_idle_ms: int = 30_000) -> dict[str, int]:
    cfg = load_config()
    r = drain_redis(cfg)
    db = connect_database(cfg, migrate=False)
    settings = DrainSettings(count=batch_size, claim_idle_ms=claim_idle_ms)
    name = consumer or consumer_name()
    # Scan events and awards: the same machinery, two families of streams. The 窜货 judge, the stores'
    # 动销返利 (SellThrough) and the risk layer's flags (RiskObserver, with the risk layer on) see the scan
    # events each pass stores, in its transaction; built once per job, they keep their caches across passes.
    observers: list[ScanObserver] = [ChannelJudge(), SellThrough(r)]
    if cfg.risk:
        observers.append(RiskObserver(r))
    scans = ScanEventSink(observers=observers)
    # Awards first: a flag the risk observer raises on this pass's scan events then holds the subject's awards
    # that landed with them (a sweep's first prizes, drawn before the rule caught it).
    drainers = [Drainer(r, db.sessions, name, settings, AwardSink()), Drainer(r, db.sessions, name, settings, scans)]
    totals = {"read": 0, "stored": 0, "acked": 0, "dead": 0, "db_outages": 0, "redis_outages": 0}
    deadline = time.monotonic() + seconds
    next_repair = time.monotonic()
    backoff = Backoff()
    # A warm shutdown (SIGTERM) waits for this job: finish the current pass and return within a second.
    stopping = threading.Event()
    previous = _on_sigterm(stopping.set)
    try:
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                passes = [d.drain_once(block_ms=500) for d in drainers]
                if time.monotonic() >= next_repair:
                    repair_lost_counters(db, r)
                    credit_bside(db, r)
                    collect_forged_attempts(db, r)
                    make_coming_partitions(db, r)
                    next_repair = time.monotonic() + REPAIR_EVERY_S
            except (DatabaseUnavailable, *REDIS_DOWN) as exc:
                what = "database" if isinstance(exc, DatabaseUnavailable) else "redis"
                totals["db_outages" if what == "database" else "redis_outages"] += 1
                delay = backoff.step()
                log.warning("%s unavailable (%s); events stay in Redis, retrying in %.1fs", what, exc, delay)
                stopping.wait(min(delay, max(0.0, deadline - time.monotonic())))
                continue
            backoff.reset()
            for stats in passes:
                for key in ("read", "stored", "acked", "dead"):
                    totals[key] += getattr(stats, key)
    finally:
        _restore_sigterm(previous)
        db.engine.dispose()
        if chain:
            _queue_successor(queue_redis(cfg), seconds)
    return totals


def repair_lost_counters(db: Any, r: redis.Redis | RedisCluster) -> None:
    """Raise every published campaign's Redis counters that fell below the SQL ledger (rules/awards.py)."""
    try:
        with db.sessions() as session, session.begin():
            repair_published(session, r)
    except (DBAPIError, PoolTimeout) as exc:
        raise DatabaseUnavailable(exc.__class__.__name__) from exc


def credit_bside(db: Any, r: redis.Redis | RedisCluster) -> None:
    """B-side awards into the store and points ledgers (channel/bside_ledger.py), and, once a month has ended,
    the waiters' ladder of that month (channel/ladder.py; again until one pass succeeds, then marked done)."""
    month = Month.of(datetime.now(UTC)).previous()
    paid = LADDER_KEY.format(month=month.tag)
    try:
        with db.sessions() as session, session.begin():
            credit_bside_awards(session)
        if not r.exists(paid):
            with db.sessions() as session, session.begin():
                for brand_id in ladder_brands(session):
                    ladder_bonuses(session, brand_id, month)
            r.set(paid, 1, ex=62 * 86400)
    except (DBAPIError, PoolTimeout) as exc:
        raise DatabaseUnavailable(exc.__class__.__name__) from exc


def collect_forged_attempts(db: Any, r: redis.Redis | RedisCluster) -> None:
    """Forged attempts counted in Redis into the report rollups (reports/forged.py); every PRUNE_EVERY_S
    (one worker of all, whichever sets the key first), minute rollups past their retention are dropped."""
    prune = bool(r.set(PRUNED_KEY, 1, nx=True, ex=int(PRUNE_EVERY_S)))
    try:
        with db.sessions() as session, session.begin():
            collect_forged(session, r)
            if prune:
                prune_rollups(session, time.time())
    except (DBAPIError, PoolTimeout) as exc:
        raise DatabaseUnavailable(exc.__class__.__name__) from exc
    advance_cursor(r)


def make_coming_partitions(db: Any, r: redis.Redis | RedisCluster) -> None:
    """This month's and the next months' scan_events partitions (PostgreSQL; rules/partitions.py), checked
    every PRUNE_EVERY_S by one worker of all. An event of a month without one still lands, in the
    default partition, and moves to its month's partition when that is made."""
    if db.engine.dialect.name != "postgresql" or not r.set(PARTITIONS_KEY, 1, nx=True, ex=int(PRUNE_EVERY_S)):
        return
    try:
        with db.sessions() as session, session.begin():
            made = ensure_partitions(session, datetime.now(UTC))
    except (DBAPIError, PoolTimeout) as exc:
        # Not the drain's business: its events land in the default partition meanwhile. Tried again later.
        log.error("scan_events partitions not checked: %s", exc)
        return
    if made:
        log.info("scan_events partitions made: %s", ", ".join(made))


def _queue_successor(q: redis.Redis, seconds: float, attempts: int = 6) -> None:
    """Keep the chain going through a short Redis outage; past it the worker's restart queues one."""
    backoff = Backoff(0.5, 5.0)
    for attempt in range(attempts):
        try:
            queue = Queue(QUEUE, connection=q)
            if queue.count == 0:
                enqueue_drain(queue, seconds)
            return
        except REDIS_DOWN as exc:
            if attempt == attempts - 1:
                log.error("could not queue the next drain job (%s); the worker will queue one", exc)
                return
            time.sleep(backoff.step())


def _on_sigterm(callback: Any) -> Any:
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, lambda _signum, _frame: callback())


def _restore_sigterm(previous: Any) -> None:
    if previous is not None and threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, previous)


def enqueue_drain(queue: Queue, seconds: float = 30.0) -> Any:
    return queue.enqueue(drain_job, kwargs={"seconds": seconds}, job_timeout=int(seconds) + 120,
                         result_ttl=600, failure_ttl=86400, description="drain scan events into SQL")


class DrainWorker(Worker):
    """An RQ worker whose warm shutdown reaches the running drain job, and is remembered by `run_worker`.

    RQ runs each job in a forked work horse in its own process group, and a warm shutdown waits for it;
    forwarding SIGTERM lets the drain job finish its pass and return within a second instead of
    draining on for the rest of its 30 s.
    """

    stopping: threading.Event | None = None

    def execute_job(self, job: Any, queue: Queue) -> None:
        super().execute_job(job, queue)
        try:  # the job ran in the work horse: what it did comes back through its result
            count_job(job.get_status(refresh=True), job.return_value(refresh=True))
        except redis.RedisError as exc:
            log.warning("drain job %s: result not read for the metrics (%s)", job.id, exc.__class__.__name__)

    def handle_warm_shutdown_request(self) -> None:
        if self.stopping is not None:
            self.stopping.set()
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)


def _reap_horse(worker: Worker, timeout: float = 15.0) -> None:
    """After the RQ worker gave up mid-job, let its work horse finish (it stops within a second)."""
    pid = worker.horse_pid
    if not pid:
        return
    try:
        if os.waitpid(pid, os.WNOHANG) != (0, 0):
            return  # it had already ended
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if os.waitpid(pid, os.WNOHANG) != (0, 0):
                return
            time.sleep(0.1)
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ChildProcessError, ProcessLookupError):  # not (or no longer) our child
        return


def _wait_for_database(cfg: Config, stopping: threading.Event) -> None:
    """Migrate before draining into the tables; a database that is down at start is waited for."""
    backoff = Backoff(0.5, 10.0)
    while not stopping.is_set():
        try:
            connect_database(cfg).engine.dispose()
            return
        except (DBAPIError, PoolTimeout) as exc:
            delay = backoff.step()
            log.warning("database unavailable at start (%s); retrying in %.1fs", exc.__class__.__name__, delay)
            stopping.wait(delay)


def run_worker(cfg: Config | None = None, seconds: float = 30.0) -> None:
    """Run until SIGTERM/SIGINT, restarting the RQ worker whenever Redis or anything else makes it quit."""
    cfg = cfg or load_config()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):  # until RQ installs its own (and again between workers)
        signal.signal(sig, lambda _signum, _frame: stopping.set())
    # The backlog is read from the data Redis (a cluster, maybe), not RQ's.
    metrics = serve_metrics(cfg, drain_redis(cfg)) if cfg.worker_metrics_port else None
    try:
        _run_workers(cfg, stopping, seconds)
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()


def _run_workers(cfg: Config, stopping: threading.Event, seconds: float) -> None:
    def seed(queue: Queue) -> None:
        if queue.count == 0:
            enqueue_drain(queue, seconds)

    supervise(cfg, stopping, QUEUE, DrainWorker, seed, "the RQ worker", "a drain job")


def supervise(cfg: Config, stopping: threading.Event, queue_name: str, worker_class: type[Worker],
              seed: Callable[[Queue], None], label: str, job: str) -> None:
    """Run RQ workers of `worker_class` on `queue_name` until `stopping`, restarting one whenever Redis or
    anything else makes it quit; `seed` queues the job that keeps the queue busy (a drain, a sweep)."""
    _wait_for_database(cfg, stopping)
    q = queue_redis(cfg)
    backoff = Backoff(0.5, 10.0)
    while not stopping.is_set():
        started = time.monotonic()
        worker: Worker | None = None
        try:
            queue = Queue(queue_name, connection=q)
            seed(queue)
            worker = worker_class([queue], connection=q)
            worker.stopping = stopping  # type: ignore[attr-defined]
            worker.work(logging_level="INFO", max_idle_time=IDLE_RESTART_S)
            why = f"it was idle without {job}" if time.monotonic() - started >= IDLE_RESTART_S else "it quit"
        except REDIS_DOWN as exc:
            why = f"Redis unavailable ({exc})"
        except Exception as exc:  # whatever else stopped it, a restart is better than an exit
            log.exception("%s failed", label)
            why = exc.__class__.__name__
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda _signum, _frame: stopping.set())
            if worker is not None:
                _reap_horse(worker)
        if stopping.is_set():
            break
        if time.monotonic() - started > 60:
            backoff.reset()
        delay = backoff.step()
        log.warning("restarting %s in %.1fs: %s", label, delay, why)
        stopping.wait(delay)
