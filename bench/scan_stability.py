"""Failure checks for each app server under load: a worker killed, Redis refusing connections, SIGTERM.

What a server must survive before it can be shipped: the failures tests/integration/test_run_supervisor.py
and tests/web/test_health.py hold gunicorn to, here under load and for every server of --servers, side by
side. Each check drives POST /api/v1/scans with the bench's scan bodies and records every request's time,
status and latency (bench/scan_load.py's timeline), so what happened before, during and after the event
can be told apart.

    worker killed  SIGKILL to one worker at AT s of an open-loop run at RATE/s: the others keep answering,
                   and the server starts a new worker (how long until its pid appears is reported).
    Redis outage   Redis refuses connections from AT s for OUTAGE s (a TCP proxy in front of it,
                   tests/support/proxy.py), open loop at RATE/s: scans answer 503 during the outage (any
                   other failure, a 500 or a dropped connection, is counted) and 200 again after it; the
                   time from Redis' return to the last failed request is the recovery time.
    SIGTERM        SIGTERM to the server's main process at AT s of an open-loop run at RATE/s: requests
                   sent before it (in flight, or waiting in the listen backlog) should still be answered;
                   every process must exit, with status 0, within gunicorn_conf's graceful_timeout.
                   Requests sent after it are refused (a load balancer stops routing to a stopping node
                   first); they are reported, not judged.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from bench.scan_load import RawHttpLoad, percentiles
from bench.scan_measure import Bench
from bench.scan_plan import make_plan
from bench.scan_server import Model, Server
from tests.support.proxy import TcpProxy

RATE = 300.0
AT = 2.0
OUTAGE = 3.0
DURATION = 8.0
OK = ("200", "404")  # a forged body's 404 is the right answer

Timeline = list[tuple[float, str, float]]


def _through(redis_url: str, port: int) -> str:
    """The same Redis URL (password, database, options) pointing at 127.0.0.1:`port`."""
    u = urlsplit(redis_url)
    auth = u.netloc.rpartition("@")[0]
    return urlunsplit(u._replace(netloc=f"{auth + '@' if auth else ''}127.0.0.1:{port}"))


def _run(bench: Bench, server: Server, actions: list[tuple[float, Callable[[], None]]], *,
         rate: float) -> Timeline:
    """One run of DURATION s against `server` with `actions` fired at their times; its timeline."""
    source = bench.benv.source
    plan = make_plan(source, int(rate * (DURATION + 4)), seed=7000 + source.position, phones=bench.benv.phones)
    timeline: Timeline = []
    timers = [threading.Timer(at, fn) for at, fn in actions]
    for timer in timers:
        timer.start()
    try:
        RawHttpLoad(server.port, "/api/v1/scans", plan.bodies).run(
            DURATION, rate=rate, timeline=timeline)
    finally:
        for timer in timers:
            timer.cancel()
            timer.join()
    return timeline


def _window(timeline: Timeline, start: float, end: float) -> dict[str, Any]:
    rows = [(status, lat) for t, status, lat in timeline if start <= t < end]
    return {"requests": len(rows), "statuses": dict(Counter(s for s, _ in rows)),
            "failed": sum(1 for s, _ in rows if s not in OK),
            "p99_ms": round(percentiles([lat * 1000 for _, lat in rows])["p99"], 1)}


def worker_killed(bench: Bench, server: Server) -> dict[str, Any]:
    victim = server.worker_pids()[0]
    replaced: dict[str, float] = {}

    def kill() -> None:
        killed = time.monotonic()
        os.kill(victim, signal.SIGKILL)
        deadline = killed + 20
        while time.monotonic() < deadline:
            if len([p for p in server.worker_pids() if p != victim]) >= server.workers:
                replaced["after_s"] = time.monotonic() - killed
                return
            time.sleep(0.05)

    timeline = _run(bench, server, [(AT, kill)], rate=RATE)
    return {"before": _window(timeline, 0, AT), "after": _window(timeline, AT, DURATION),
            "replaced_after_s": round(replaced["after_s"], 2) if "after_s" in replaced else None,
            "server_alive": server.proc is not None and server.proc.poll() is None, "healthy": server.healthy()}


def redis_outage(bench: Bench, server: Server, proxy: TcpProxy) -> dict[str, Any]:
    timeline = _run(bench, server, [(AT, lambda: proxy.set_mode("refuse")),
                                    (AT + OUTAGE, lambda: proxy.set_mode("pass"))], rate=RATE)
    back = AT + OUTAGE
    last_bad = max((t for t, status, _ in timeline if t >= back and status not in OK), default=None)
    during = _window(timeline, AT, back)
    return {"before": _window(timeline, 0, AT), "during": during, "after": _window(timeline, back, DURATION),
            "during_not_503": during["requests"] - during["statuses"].get("503", 0)
            - sum(n for s, n in during["statuses"].items() if s in OK),
            "recovered_after_s": round(last_bad - back, 2) if last_bad is not None else 0.0}


def sigterm(bench: Bench, server: Server, grace: float) -> dict[str, Any]:
    assert server.proc is not None
    proc, workers = server.proc, server.worker_pids()
    stopped: dict[str, float] = {}

    def term() -> None:
        sent = time.monotonic()
        server.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):  # still running: reported as not stopped
            stopped["status"] = proc.wait(timeout=grace + 10)
            stopped["after_s"] = time.monotonic() - sent

    timeline = _run(bench, server, [(AT, term)], rate=RATE)
    before = [(t, s) for t, s, _ in timeline if t < AT]
    left = [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    return {"sent_before": len(before), "dropped_in_flight": sum(1 for _, s in before if s not in OK),
            "after": _window(timeline, AT, DURATION),
            "exit_status": stopped.get("status"), "stopped_after_s": round(stopped.get("after_s", -1.0), 2),
            "within_grace": "after_s" in stopped and stopped["after_s"] <= grace, "workers_left": len(left)}


def check_servers(bench: Bench, specs: list[str]) -> dict[str, dict[str, Any]]:
    """Every failure check on every server (`kind[:model]`), each on a fresh server behind its own Redis proxy."""
    from app import gunicorn_conf

    grace = float(getattr(gunicorn_conf, "graceful_timeout", 10))
    redis_url = bench.benv.env["REDIS_URL"]
    host, port = urlsplit(redis_url).hostname or "127.0.0.1", urlsplit(redis_url).port or 6379
    bench.app_cpus = None
    out: dict[str, dict[str, Any]] = {}
    print(f"stability: open loop {RATE:g}/s, {DURATION:g} s "
          f"per check, the event at {AT:g} s", flush=True)
    for spec in specs:
        kind, _, model = spec.partition(":")
        proxy = TcpProxy(host, port)
        env = dict(bench.benv.env, REDIS_URL=_through(redis_url, proxy.port))
        results: dict[str, Any] = {}
        try:
            for check in ("worker_killed", "redis_outage", "sigterm"):
                proxy.set_mode("pass")
                server = bench.server(kind, Model(model or "shipped"), env=env)
                try:
                    server.start()
                    if check == "worker_killed":
                        results[check] = worker_killed(bench, server)
                    elif check == "redis_outage":
                        results[check] = redis_outage(bench, server, proxy)
                    else:
                        results[check] = sigterm(bench, server, grace)
                finally:
                    server.stop()
                print(f"  {spec} {check}: {results[check]}", flush=True)
        finally:
            proxy.close()
        out[spec] = results
    report(out, grace)
    return out


def report(out: dict[str, dict[str, Any]], grace: float) -> None:
    print()
    print("stability (POST /api/v1/scans under load; failed = neither 200 nor the forged bodies' 404):")
    for kind, r in out.items():
        k, o, s = r["worker_killed"], r["redis_outage"], r["sigterm"]
        print(f"  {kind}:")
        print(f"    worker killed:  failed {k['before']['failed']} before, {k['after']['failed']} of "
              f"{k['after']['requests']} after (p99 {k['after']['p99_ms']} ms); new worker after "
              f"{k['replaced_after_s']} s; server alive {k['server_alive']}, healthy {k['healthy']}")
        print(f"    Redis outage:   during {OUTAGE:g} s: {o['during']['statuses']} (p99 {o['during']['p99_ms']} ms), "
              f"answers other than 503 {o['during_not_503']}; after: failed {o['after']['failed']} of "
              f"{o['after']['requests']}, last failure {o['recovered_after_s']} s after Redis came back")
        print(f"    SIGTERM:        {s['dropped_in_flight']} of {s['sent_before']} requests sent before it unanswered; "
              f"exit status {s['exit_status']} after {s['stopped_after_s']} s (graceful_timeout {grace:g} s: "
              f"{'PASS' if s['within_grace'] else 'MISS'}); workers left {s['workers_left']}; after it: "
              f"{s['after']['statuses']}")
