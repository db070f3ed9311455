"""`yima worker`'s own /metrics, on YIMA_WORKER_METRICS_PORT: how far the drain is behind, and what its jobs
did.

The worker process serves it from a thread (the same access rule as the app's /metrics: YIMA_METRICS_ALLOW
or YIMA_METRICS_TOKEN). The backlog and the age of the oldest undrained event are read from Redis at
scrape time (rules.drain.drain_lag, a handful of commands in one round trip), so every worker shows the
same figures, as the app's /healthz does. The drain itself runs in RQ's forked work horse, one per job:
what a job did (events stored, dead-lettered, outages met) reaches these counters when the job ends, from
its result, so they move every job (30 s by default), not every pass.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CONTENT_TYPE_LATEST, Counter
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from redis.exceptions import RedisError

from app.config import Config
from app.metrics import REDIS_ERRORS, exposition, may_read
from codegen.batch_state import EVENT_STREAMS
from rules.awards import AWARD_STREAMS
from rules.drain import drain_lag

log = logging.getLogger("yima.worker")

DRAIN_EVENTS = Counter("yima_drain_events", "Stream entries the drain handled, by result (stored: new rows in "
                       "SQL; dead_lettered: malformed, moved aside)", ["result"])
DRAIN_OUTAGES = Counter("yima_drain_outages", "Drain passes that found a dependency down", ["dependency"])
DRAIN_JOBS = Counter("yima_drain_jobs", "Drain jobs that ended, by result", ["result"])
FAMILIES = (("scan_events", EVENT_STREAMS), ("awards", AWARD_STREAMS))


class DrainLagCollector(Collector):
    def __init__(self, redis: Any) -> None:
        self.redis = redis

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (GaugeMetricFamily("yima_drain_backlog_events", "Stream entries not yet stored in SQL",
                                  labels=["family"]),
                GaugeMetricFamily("yima_drain_oldest_event_age_seconds",
                                  "How long the oldest entry not yet in SQL has waited (0: none waits)",
                                  labels=["family"]),
                GaugeMetricFamily("yima_drain_lag_up", "1 when this scrape could read the backlog from Redis"))

    def describe(self) -> Iterator[Metric]:
        """The families, without reading Redis (a registry asks this when the collector is registered)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        backlog, age, up = self._families()
        try:
            for family, registry in FAMILIES:
                lag = drain_lag(self.redis, (registry,))
                backlog.add_metric([family], lag.backlog)
                age.add_metric([family], lag.oldest_age_s or 0.0)
        except RedisError as exc:
            REDIS_ERRORS.labels(exc.__class__.__name__).inc()
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (backlog, age, up)


def count_job(status: Any, totals: Any) -> None:
    """One drain job's end: its status ("finished", "failed", …) and, when it finished, its totals."""
    DRAIN_JOBS.labels(str(getattr(status, "value", status))).inc()  # RQ's JobStatus is an Enum
    if not isinstance(totals, dict):
        return
    DRAIN_EVENTS.labels("stored").inc(int(totals.get("stored", 0)))
    DRAIN_EVENTS.labels("dead_lettered").inc(int(totals.get("dead", 0)))
    DRAIN_OUTAGES.labels("database").inc(int(totals.get("db_outages", 0)))
    DRAIN_OUTAGES.labels("redis").inc(int(totals.get("redis_outages", 0)))


def metrics_app(cfg: Config, collectors: Iterable[Collector]) -> Any:
    """A WSGI app answering GET /metrics only, to the readers YIMA_METRICS_ALLOW/YIMA_METRICS_TOKEN let in."""
    extra = tuple(collectors)

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "text/plain")])
            return [b"only /metrics here\n"]
        proxied = "HTTP_X_FORWARDED_FOR" in environ or "HTTP_FORWARDED" in environ
        if not may_read(cfg, environ.get("REMOTE_ADDR", ""), environ.get("HTTP_AUTHORIZATION", ""), proxied):
            start_response("403 Forbidden", [("Content-Type", "text/plain")])
            return [b"/metrics is served to YIMA_METRICS_ALLOW networks or with YIMA_METRICS_TOKEN\n"]
        body = exposition(cfg.metrics_dir, extra)
        start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a hung scrape never holds the worker's exit


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape is noise


def serve_metrics(cfg: Config, redis: Any, port: int | None = None) -> WSGIServer | None:
    """Serve /metrics from a daemon thread; None (logged, the worker goes on) when the port is taken."""
    port = cfg.worker_metrics_port if port is None else port
    try:
        server = make_server(cfg.host, port, metrics_app(cfg, [DrainLagCollector(redis)]),
                             server_class=_Server, handler_class=_QuietHandler)
    except OSError as exc:
        log.error("worker metrics not served on %s:%s: %s", cfg.host, port, exc)
        return None
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    log.info("worker metrics on http://%s:%s/metrics", cfg.host, server.server_port)
    return server
