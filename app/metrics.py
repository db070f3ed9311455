"""Prometheus metrics of the web app (GET /metrics), who may read them, and the counters the views and the
worker feed.

Under gunicorn every worker process writes its samples into files in PROMETHEUS_MULTIPROC_DIR
(prometheus_client's multiprocess mode, chosen when prometheus_client is first imported: the gunicorn
master sets the variable before it forks its workers, app/gunicorn_conf.py), and a scrape, answered by
any one worker, adds up the files of all of them. Anywhere else (Flask's dev server, the tests, `yima
worker`) a process keeps its samples in memory and shows its own.

Every label takes values from a small fixed set: channels, outcomes, prize kinds, endpoint groups,
status codes, exception class names. No code, device, member, brand or campaign is ever a label: each
label value is a time series Prometheus keeps for its whole retention, and campaigns (like brands) only
grow over a deployment's life, thousands of them live at once. What one campaign spent is in the SQL
ledger and on the console's dashboard; here are the totals that say whether the system is healthy.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client import values as _values
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis.exceptions import RedisError
from redis.retry import Retry
from sqlalchemy import event
from sqlalchemy.engine import Engine

from app.config import Config
from codegen.errors import Kind
from rules.draw import ALREADY_WON, DrawResult
from rules.enumeration import SourceBlocked
from rules.scan import NotGenuine

# Seconds; a scan answers in about a millisecond, an ops page in tens.
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SCANS = Counter("yima_scans", "Consumer scans by channel (page, api) and outcome", ["channel", "outcome"])
DRAWS = Counter("yima_draws", "Prize draws by outcome", ["outcome"])
AWARDS = Counter("yima_awards", "Awards made (not an award shown again) by prize kind", ["kind"])
AWARD_FEN = Counter("yima_award_cash_fen", "Cash awarded, in fen (1/100 yuan)")
REQUEST_SECONDS = Histogram("yima_request_duration_seconds", "Time from the request reaching Flask to its response",
                            ["group"], buckets=LATENCY_BUCKETS)
RESPONSES = Counter("yima_responses", "HTTP responses by endpoint group and status code", ["group", "status"])
REDIS_ERRORS = Counter("yima_redis_errors", "Failed Redis attempts (connection errors, timeouts; each retry counts)",
                       ["kind"])
SQL_ERRORS = Counter("yima_sql_errors", "Errors SQL raised, by SQLAlchemy exception class", ["kind"])

# The request's endpoint → the group its latency is kept under.
_ENDPOINT_GROUPS = {"scan.scan_page": "scan_page", "api.create_scan": "scan_api", "metrics": "metrics",
                    "static": "static"}
_BLUEPRINT_GROUPS = {"health": "health", "rules_api": "ops", "audit_api": "ops", "payouts_api": "ops",
                     "risk_api": "ops", "api": "api", "bench": "bench"}


def endpoint_group(endpoint: str | None) -> str:
    if endpoint is None:
        return "unmatched"  # 404s and 405s: their paths are whatever a client sent
    group = _ENDPOINT_GROUPS.get(endpoint)
    if group is not None:
        return group
    blueprint = endpoint.rpartition(".")[0]
    if blueprint.startswith("ops_"):
        return "ops"
    return _BLUEPRINT_GROUPS.get(blueprint, "other")


# --- what the views and the worker count ---------------------------------------------------------------

_bound: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)`, kept: on the request path the lookup costs as much as the increment. The
    label values come from the small fixed sets above, so this stays small."""
    key = (metric, *labels)
    try:
        return _bound[key]
    except KeyError:
        bound = _bound[key] = metric.labels(*labels)
        return bound


def count_scan(channel: str, outcome: str, draws: Iterable[DrawResult] = ()) -> None:
    """One scan's outcome and its draws; a no-op when metrics are off."""
    if not current_app.config["YIMA"].metrics:
        return
    child(SCANS, channel, outcome).inc()
    count_draws(draws)


def count_draws(draws: Iterable[DrawResult]) -> None:
    """Draws made apart from their scan (the H5 page's draw held for the location): the scan was counted."""
    if not current_app.config["YIMA"].metrics:
        return
    for d in draws:
        child(DRAWS, d.outcome).inc()
        if d.award_id and d.outcome != ALREADY_WON:  # a fresh award, not one shown again on a rescan
            child(AWARDS, d.prize.kind if d.prize else "none").inc()
            if d.amount_fen:
                AWARD_FEN.inc(d.amount_fen)


def count_scan_refused(channel: str, exc: BaseException) -> None:
    """A scan refused with an error (the blueprint's error handler answers it): counted by what it means."""
    count_scan(channel, refusal_outcome(exc))


def refusal_outcome(exc: BaseException) -> str:
    if isinstance(exc, NotGenuine):
        return "not_genuine"
    if isinstance(exc, SourceBlocked):
        return "blocked"
    if isinstance(exc, RedisError) or getattr(exc, "kind", None) == Kind.UNAVAILABLE:
        return "unavailable"
    if getattr(exc, "kind", None) == Kind.INVALID:
        return "invalid_request"
    return "error"


class CountingRetry(Retry):
    """The client's own retry policy, counting every failed attempt into yima_redis_errors_total."""

    @classmethod
    def around(cls, retry: Retry) -> CountingRetry:
        counting = cls.__new__(cls)
        counting.__dict__.update(vars(retry))  # the same back-off, attempts and errors, whatever their fields
        return counting

    def call_with_retry(self, do: Any, fail: Any, is_retryable: Any = None, with_failure_count: bool = False) -> Any:
        def counted(error: Exception, *more: Any) -> Any:
            REDIS_ERRORS.labels(error.__class__.__name__).inc()
            return fail(error, *more)

        return super().call_with_retry(do, counted, is_retryable, with_failure_count)


def count_redis_errors(client: Any) -> None:
    """Count the client's failed attempts (its pool's connections and any made later take the policy).

    A Redis Cluster client retries inside its own command loop, with no policy to hook: there the count
    stays 0, and failures show as `unavailable` scans and 503s."""
    retry = client.get_retry() if hasattr(client, "get_retry") else None
    if isinstance(retry, Retry) and not isinstance(retry, CountingRetry):
        client.set_retry(CountingRetry.around(retry))


def count_sql_errors(engine: Engine) -> None:
    def on_error(context: Any) -> None:
        error = context.sqlalchemy_exception or context.original_exception
        SQL_ERRORS.labels(error.__class__.__name__).inc()

    if not event.contains(engine, "handle_error", on_error):
        event.listen(engine, "handle_error", on_error)


# --- exposition and access -----------------------------------------------------------------------------


def multiprocess_mode() -> bool:
    """Whether this process writes its samples to PROMETHEUS_MULTIPROC_DIR (fixed at prometheus_client's
    import)."""
    return _values.ValueClass is not _values.MutexValue


def check_mode(cfg: Config) -> None:
    """A process told to share its samples must really write them to the directory, or scrapes miss it."""
    if cfg.metrics_dir is not None and not multiprocess_mode():
        raise RuntimeError("PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported (gunicorn's "
                           "preload_app?): this process's metrics would be missing from every scrape")


def exposition(metrics_dir: Path | None, extra: Iterable[Collector] = ()) -> bytes:
    """The text a scrape gets: every process's files in multiprocess mode, else this process's registry."""
    if metrics_dir is None:
        registry = REGISTRY
    else:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=str(metrics_dir))
    output = generate_latest(registry)
    if extra:
        own = CollectorRegistry()
        for collector in extra:
            own.register(collector)
        output += generate_latest(own)
    return output


def may_read(cfg: Config, remote_addr: str, authorization: str, proxied: bool = False) -> bool:
    """From an allowed network (YIMA_METRICS_ALLOW), or with the metrics token (YIMA_METRICS_TOKEN).

    `proxied`: the request names a forwarded client that YIMA_TRUSTED_PROXIES does not let us read, so its
    peer is a proxy we do not know (an ingress, on an address inside the allowed networks, passing on a
    public client's request): only the token opens it. Prometheus scrapes a pod directly."""
    scheme, _, token = authorization.partition(" ")
    if cfg.metrics_token and scheme.lower() == "bearer" and hmac.compare_digest(
            token.strip().encode(), cfg.metrics_token.encode()):
        return True
    if proxied:
        return False
    try:
        addr = ipaddress.ip_address(remote_addr)
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    return any(addr in network for network in cfg.metrics_allow)


DENIED = (b"/metrics is served to the networks in YIMA_METRICS_ALLOW, or with YIMA_METRICS_TOKEN as a Bearer "
          b"token\n")


def metrics_view() -> Response:
    cfg: Config = current_app.config["YIMA"]
    if not cfg.metrics:
        return Response(b"metrics are off (YIMA_METRICS=0)\n", 404, mimetype="text/plain")
    proxied = not cfg.trusted_proxies and ("X-Forwarded-For" in request.headers or "Forwarded" in request.headers)
    if not may_read(cfg, request.remote_addr or "", request.headers.get("Authorization", ""), proxied):
        return Response(DENIED, 403, mimetype="text/plain")
    collectors = current_app.extensions.get("yima.metrics.collectors", ())  # read from SQL/Redis at scrape
    resp = Response(exposition(cfg.metrics_dir, collectors), content_type=CONTENT_TYPE_LATEST)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _start_clock() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        group = endpoint_group(request.endpoint)
        child(REQUEST_SECONDS, group).observe(time.perf_counter() - started)
        child(RESPONSES, group, str(response.status_code)).inc()
    return response


def init_app(app: Flask) -> None:
    """GET /metrics, request timing and the Redis and SQL error counts. Call it before anything that opens
    Redis connections of its own (the scanner), so they take the counting retry policy."""
    cfg: Config = app.config["YIMA"]
    app.add_url_rule("/metrics", "metrics", metrics_view)
    if not cfg.metrics:
        return
    check_mode(cfg)
    count_redis_errors(app.extensions["yima.redis"])
    count_sql_errors(app.extensions["yima.db"].engine)
    # Registered before every other extension's hooks: the clock starts first and stops last.
    app.before_request(_start_clock)
    app.after_request(_observe)
