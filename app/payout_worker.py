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

import contextlib
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
from app.worker import REDIS_DOWN, Backoff, _on_sigterm, _restore_sigterm, drain_redis, queue_redis, supervise

QUEUE = "yima-payouts"
SWEEP_JOB_PREFIX = "payout-sweep-"
SWEEP_SECONDS = 5.0  # one sweep job's length: a submit job queued behind it waits at most this
SWEEP_INTERVAL = 0.5  # between two sweep passes
log = logging.getLogger("yima.payouts")
DB_DOWN = (DBAPIError, PoolTimeout)


class Tally:
    """What a job's engine reported (payouts.engine.PayoutHooks), carried home in the job's result: the job
    runs in RQ's forked work horse, whose own counters die with it; the worker process counts them
    (PayoutWorker.execute_job → app/payout_metrics.py) and serves them on its /metrics."""

    MAX_LATENCIES = 10_000

    def __init__(self) -> None:
        self.transitions: dict[tuple[str, str], int] = {}
        self.errors: dict[tuple[str, str], int] = {}
        self.latencies: list[float] = []
        self._lock = threading.Lock()  # a sweep advances payouts from several threads

    def hooks(self) -> Any:
        from payouts.engine import PayoutHooks

        def transition(provider: str, state: str) -> None:
            with self._lock:
                self.transitions[provider, state] = self.transitions.get((provider, state), 0) + 1

        def error(provider: str, reason: str) -> None:
            with self._lock:
                self.errors[provider, reason] = self.errors.get((provider, reason), 0) + 1

        def latency(seconds: float) -> None:
            with self._lock:
                if len(self.latencies) < self.MAX_LATENCIES:
                    self.latencies.append(seconds)

        return PayoutHooks(transition=transition, claim_to_submit=latency, provider_error=error)

    def result(self) -> dict[str, Any]:
        return {"transitions": [[p, s, n] for (p, s), n in self.transitions.items()],
                "errors": [[p, r, n] for (p, r), n in self.errors.items()], "latencies": self.latencies}


def count_result(result: Any) -> None:
    """A finished payout job's tally into this process's payout metrics."""
    if not isinstance(result, dict):
        return
    from app.payout_metrics import count_payout_transition, count_provider_error, observe_claim_to_submit

    for provider, state, n in result.get("transitions", []):
        for _ in range(int(n)):
            count_payout_transition(provider, state)
    for provider, reason, n in result.get("errors", []):
        for _ in range(int(n)):
            count_provider_error(provider, reason)
    for seconds in result.get("latencies", []):
        observe_claim_to_submit(float(seconds))


def _engine(cfg: Config, tally: Tally) -> tuple[Any, Any]:
    db = connect_database(cfg, migrate=False)
    return db, make_payout_engine(cfg, sessions=db.sessions, redis_client=drain_redis(cfg), hooks=tally.hooks())


def submit_job(payout_id: int, backlog_seconds: float = SWEEP_SECONDS) -> dict[str, Any]:
    """One step of one payout (normally its submit), then a sweep pass, repeated for up to `backlog_seconds`
    while the token bucket holds a backlog; the payout's state afterwards, and the job's tally.

    A burst of claims queues one submit job each, ahead of the sweep job, and a forked job costs about
    0.1 s (fork, engine, keys): jobs that took only their own payout would pay a burst at ~10/s, not at the
    bucket's rate. So the job that finds a backlog paces it as the sweep does, and the jobs queued behind
    it find their payouts submitted."""
    cfg = load_config()
    with contextlib.suppress(*REDIS_DOWN):  # claims from now on queue the next job; this one sweeps the rest
        queue_redis(cfg).delete(SUBMIT_WAITING)
    tally = Tally()
    db, engine = _engine(cfg, tally)
    try:
        state = engine.advance(payout_id)
        deadline = time.monotonic() + backlog_seconds
        while time.monotonic() < deadline:
            began = time.monotonic()
            if not engine.sweep().token_limited:
                break
            time.sleep(_refill_wait(engine, began))
        return {"state": None if state is None else str(state), **tally.result()}
    finally:
        engine.close()
        db.engine.dispose()


def sweep_job(seconds: float = SWEEP_SECONDS, interval: float = SWEEP_INTERVAL, chain: bool = True) -> dict[str, Any]:
    cfg = load_config()
    tally = Tally()
    totals: dict[str, Any] = {"passes": 0, "advanced": 0, "settled": 0, "db_outages": 0, "redis_outages": 0}
    stopping = threading.Event()
    previous = _on_sigterm(stopping.set)
    db, engine = _engine(cfg, tally)
    backoff = Backoff()
    deadline = time.monotonic() + seconds
    try:
        while time.monotonic() < deadline and not stopping.is_set():
            began = time.monotonic()
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
                stopping.wait(min(interval, _refill_wait(engine, began)))
            elif report.advanced < engine.settings.sweep_limit:  # a full pass: go again at once
                stopping.wait(interval)
    finally:
        _restore_sigterm(previous)
        engine.close()
        db.engine.dispose()
        if chain:
            _queue_successor(queue_redis(cfg), seconds)
    return {**totals, **tally.result()}


def _refill_wait(engine: Any, pass_began: float) -> float:
    """How long to wait after a token-limited pass that began at `pass_began`: `engine.refill_s` counted
    from the pass's start, not its end. The bucket refills while the pass runs, and it holds only `burst`
    tokens: waiting the whole refill_s after a pass that took tens of ms lets tokens overflow, and the rate
    with them (1,800/min with a burst of 2 leaves 71 ms between passes)."""
    return max(0.0, engine.refill_s - (time.monotonic() - pass_began))


def sweep_queued(queue: Queue) -> bool:
    return any(job_id.startswith(SWEEP_JOB_PREFIX) for job_id in queue.get_job_ids())


def enqueue_sweep(queue: Queue, seconds: float = SWEEP_SECONDS) -> Any:
    return queue.enqueue(sweep_job, kwargs={"seconds": seconds}, job_id=f"{SWEEP_JOB_PREFIX}{uuid.uuid4().hex}",
                         job_timeout=int(seconds) + 120, result_ttl=60, failure_ttl=86400,
                         description="advance due payouts")


SUBMIT_WAITING = "yima:payouts:submit-waiting"  # in RQ's own Redis: a submit job is queued, not started yet
SUBMIT_WAITING_S = 30  # a job the worker never got to (it was down) stops holding the next claim back


def enqueue_submit(queue: Queue, payout_id: int) -> Any:
    """Queue a submit job for a payout just created by a claim (ahead of any sweep job waiting); None when one
    is already waiting: that job, when it starts, advances every due payout (this one too), so a burst of
    claims queues a handful of jobs, not one forked job per claim."""
    if not queue.connection.set(SUBMIT_WAITING, payout_id, nx=True, ex=SUBMIT_WAITING_S):
        return None
    return queue.enqueue(submit_job, args=(payout_id,), job_timeout=60, result_ttl=600, failure_ttl=86400,
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

    def execute_job(self, job: Any, queue: Queue) -> None:
        super().execute_job(job, queue)
        try:  # the job ran in the work horse: what it counted comes back through its result
            count_result(job.return_value(refresh=True))
        except Exception as exc:
            log.warning("payout job %s: result not read for the metrics (%s)", job.id, exc.__class__.__name__)

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
    metrics = _serve_metrics(cfg) if cfg.worker_metrics_port else None
    try:
        _run_workers(cfg, stopping, seconds)
    finally:
        if metrics is not None:
            metrics.shutdown()
            metrics.server_close()


def _serve_metrics(cfg: Config) -> Any:
    """This worker's payout counters on its own /metrics port (the same access rule as the app's)."""
    from wsgiref.simple_server import make_server

    from app.worker_metrics import _QuietHandler, _Server, metrics_app

    try:
        server = make_server(cfg.host, cfg.worker_metrics_port, metrics_app(cfg, []), server_class=_Server,
                             handler_class=_QuietHandler)
    except OSError as exc:
        log.error("payout worker metrics not served on %s:%s: %s", cfg.host, cfg.worker_metrics_port, exc)
        return None
    threading.Thread(target=server.serve_forever, name="payout-metrics", daemon=True).start()
    return server


def _run_workers(cfg: Config, stopping: threading.Event, seconds: float) -> None:
    def seed(queue: Queue) -> None:
        if not sweep_queued(queue):
            enqueue_sweep(queue, seconds)

    supervise(cfg, stopping, QUEUE, PayoutWorker, seed, "the payout RQ worker", "a sweep job")
