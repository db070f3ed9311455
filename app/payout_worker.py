"""The payout worker: an RQ worker on the queue "yima-payouts" that moves payouts forward.

Two jobs. `submit_job` advances one payout at once: the web layer queues it right after a claim
(`enqueue_submit`), so a consumer's red packet does not wait for the next sweep. `sweep_job` runs
`PayoutEngine.sweep` every `interval` seconds for `seconds`, then queues its successor unless one is
already queued: the chain that submits what the caps and the token bucket held back, queries bills whose
answer was unclear or whose callback is late, applies expiry, and settles claims whose award reached SQL
after the claim. The jobs are short, so a submit job never waits long behind a sweep on a single worker.

As `yima worker` (app/worker.py), nothing a dependency does makes the process quit: a job waits out a
database or Redis outage with back-off, a worker RQ gave up on is restarted with a sweep job queued
again. Only SIGTERM/SIGINT stop it. Every step is idempotent (payouts/engine.py), so a job killed midway,
or two workers on the same payout, never send a second bill.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from typing import Any

from rq import Queue, Worker
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.config import Config, load_config
from app.payout_wiring import make_payout_engine
from app.runtime import connect_database
from app.worker import (
    REDIS_DOWN,
    Backoff,
    _on_sigterm,
    _reap_horse,
    _restore_sigterm,
    _wait_for_database,
    drain_redis,
    queue_redis,
)

QUEUE = "yima-payouts"
SWEEP_JOB_PREFIX = "payout-sweep-"
SWEEP_SECONDS = 5.0  # one sweep job's length: a submit job queued behind it waits at most this
SWEEP_INTERVAL = 0.5  # between two sweep passes
IDLE_RESTART_S = 10
log = logging.getLogger("yima.payouts")
DB_DOWN = (DBAPIError, PoolTimeout)


def _engine(cfg: Config) -> tuple[Any, Any]:
    from app.payout_metrics import count_payout_transition, count_provider_error, observe_claim_to_submit
    from payouts.engine import PayoutHooks

    db = connect_database(cfg, migrate=False)
    hooks = PayoutHooks(transition=count_payout_transition, claim_to_submit=observe_claim_to_submit,
                        provider_error=count_provider_error)
    return db, make_payout_engine(cfg, sessions=db.sessions, redis_client=drain_redis(cfg), hooks=hooks)


def submit_job(payout_id: int) -> str | None:
    """One step of one payout (normally its submit); what state it is in afterwards."""
    cfg = load_config()
    db, engine = _engine(cfg)
    try:
        state = engine.advance(payout_id)
        return None if state is None else str(state)
    finally:
        engine.close()
        db.engine.dispose()


def sweep_job(seconds: float = SWEEP_SECONDS, interval: float = SWEEP_INTERVAL, chain: bool = True) -> dict[str, int]:
    cfg = load_config()
    totals = {"passes": 0, "advanced": 0, "settled": 0, "db_outages": 0, "redis_outages": 0}
    stopping = threading.Event()
    previous = _on_sigterm(stopping.set)
    db, engine = _engine(cfg)
    backoff = Backoff()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not stopping.is_set():
            try:
                report = engine.sweep()
            except (*DB_DOWN, *REDIS_DOWN) as exc:
                what = "redis" if isinstance(exc, REDIS_DOWN) else "database"
                totals["db_outages" if what == "database" else "redis_outages"] += 1
                delay = backoff.step()
                log.warning("%s unavailable (%s); payouts wait, retrying in %.1fs", what, exc.__class__.__name__, delay)
                stopping.wait(min(delay, max(0.0, deadline - time.monotonic())))
                continue
            backoff.reset()
            totals["passes"] += 1
            totals["advanced"] += report.advanced
            totals["settled"] += report.settled_claims
            if report.token_limited:  # a backlog paced by the bucket: come back as it refills
                stopping.wait(min(interval, engine.refill_s))
            elif report.advanced < engine.settings.sweep_limit:  # a full pass: go again at once
                stopping.wait(interval)
    finally:
        _restore_sigterm(previous)
        engine.close()
        db.engine.dispose()
        if chain:
            _queue_successor(queue_redis(cfg), seconds)
    return totals


def sweep_queued(queue: Queue) -> bool:
    return any(job_id.startswith(SWEEP_JOB_PREFIX) for job_id in queue.get_job_ids())


def enqueue_sweep(queue: Queue, seconds: float = SWEEP_SECONDS) -> Any:
    return queue.enqueue(sweep_job, kwargs={"seconds": seconds}, job_id=f"{SWEEP_JOB_PREFIX}{uuid.uuid4().hex}",
                         job_timeout=int(seconds) + 120, result_ttl=60, failure_ttl=86400,
                         description="advance due payouts")


def enqueue_submit(queue: Queue, payout_id: int) -> Any:
    """Queue the submit of a payout just created by a claim (ahead of any sweep job waiting)."""
    return queue.enqueue(submit_job, args=(payout_id,), job_timeout=60, result_ttl=60, failure_ttl=86400,
                         at_front=True, description=f"submit payout {payout_id}")


def _queue_successor(q: Any, seconds: float, attempts: int = 6) -> None:
    backoff = Backoff(0.5, 5.0)
    for attempt in range(attempts):
        try:
            queue = Queue(QUEUE, connection=q)
            if not sweep_queued(queue):
                enqueue_sweep(queue, seconds)
            return
        except REDIS_DOWN as exc:
            if attempt == attempts - 1:
                log.error("could not queue the next sweep job (%s); the worker will queue one", exc)
                return
            time.sleep(backoff.step())


class PayoutWorker(Worker):
    """An RQ worker whose warm shutdown reaches the running sweep job (as app.worker.DrainWorker)."""

    stopping: threading.Event | None = None

    def handle_warm_shutdown_request(self) -> None:
        import contextlib
        import os
        import signal

        if self.stopping is not None:
            self.stopping.set()
        super().handle_warm_shutdown_request()
        if self.horse_pid:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.horse_pid, signal.SIGTERM)


def run_payout_worker(cfg: Config | None = None, seconds: float = SWEEP_SECONDS) -> None:
    """Run until SIGTERM/SIGINT, restarting the RQ worker whenever Redis or anything else makes it quit."""
    import signal

    cfg = cfg or load_config()
    stopping = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda _signum, _frame: stopping.set())
    _wait_for_database(cfg, stopping)
    q = queue_redis(cfg)
    backoff = Backoff(0.5, 10.0)
    while not stopping.is_set():
        started = time.monotonic()
        worker: PayoutWorker | None = None
        try:
            queue = Queue(QUEUE, connection=q)
            if not sweep_queued(queue):
                enqueue_sweep(queue, seconds)
            worker = PayoutWorker([queue], connection=q)
            worker.stopping = stopping
            worker.work(logging_level="INFO", max_idle_time=IDLE_RESTART_S)
            why = "it was idle without a sweep job" if time.monotonic() - started >= IDLE_RESTART_S else "it quit"
        except REDIS_DOWN as exc:
            why = f"Redis unavailable ({exc})"
        except Exception as exc:  # whatever else stopped it, a restart is better than an exit
            log.exception("the payout RQ worker failed")
            why = exc.__class__.__name__
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda _signum, _frame: stopping.set())
            if worker is not None:
                _reap_horse(worker)  # type: ignore[arg-type]
        if stopping.is_set():
            break
        if time.monotonic() - started > 60:
            backoff.reset()
        delay = backoff.step()
        log.warning("restarting the payout RQ worker in %.1fs: %s", delay, why)
        stopping.wait(delay)
