"""The event-drain worker: an RQ worker whose job drains the scan-event streams into SQL.

`yima worker` starts an RQ worker on the queue "yima-events" and makes sure a drain job is queued. The
job drains for `seconds`, then queues its successor unless another one is already waiting, so each
worker keeps one drain chain going and a killed worker's chain is replaced when it restarts. Several
workers drain in parallel through the same consumer group.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import threading
import time
from typing import Any

import redis
from rq import Queue, Worker

from app.config import Config, load_config
from app.runtime import connect_database, redis_url
from rules.awards import AwardSink
from rules.drain import DatabaseUnavailable, Drainer, DrainSettings

QUEUE = "yima-events"
log = logging.getLogger("yima.worker")


def drain_redis(cfg: Config) -> redis.Redis:
    # Blocking stream reads wait up to a second: this client's timeout must exceed that.
    return redis.Redis.from_url(redis_url(cfg), socket_timeout=10, socket_connect_timeout=5)


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
    # Scan events and awards: the same machinery, two families of streams.
    drainers = [Drainer(r, db.sessions, name, settings), Drainer(r, db.sessions, name, settings, AwardSink())]
    totals = {"read": 0, "stored": 0, "acked": 0, "dead": 0, "db_outages": 0}
    deadline = time.monotonic() + seconds
    backoff = 0.2
    # A warm shutdown (SIGTERM) waits for this job: finish the current pass and return within a second.
    stopping = threading.Event()
    previous = _on_sigterm(stopping.set)
    try:
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                passes = [d.drain_once(block_ms=500) for d in drainers]
            except DatabaseUnavailable as exc:
                totals["db_outages"] += 1
                log.warning("database unavailable (%s); events stay in Redis, retrying in %.1fs", exc, backoff)
                time.sleep(min(backoff, max(0.0, deadline - time.monotonic())))
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.2
            for stats in passes:
                for key in ("read", "stored", "acked", "dead"):
                    totals[key] += getattr(stats, key)
    finally:
        _restore_sigterm(previous)
        db.engine.dispose()
        if chain:
            queue = Queue(QUEUE, connection=r)
            if queue.count == 0:
                enqueue_drain(queue, seconds)
    return totals


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
    """An RQ worker whose warm shutdown reaches the running drain job.

    RQ runs each job in a forked work horse in its own process group, and a warm shutdown waits for it;
    forwarding SIGTERM lets the drain job finish its pass and return within a second instead of
    draining on for the rest of its 30 s.
    """

    def handle_warm_shutdown_request(self) -> None:
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)


def run_worker(cfg: Config | None = None, seconds: float = 30.0) -> None:
    cfg = cfg or load_config()
    connect_database(cfg).engine.dispose()  # migrate before draining into the tables
    r = drain_redis(cfg)
    queue = Queue(QUEUE, connection=r)
    if queue.count == 0:
        enqueue_drain(queue, seconds)
    DrainWorker([queue], connection=r).work(logging_level="INFO")
