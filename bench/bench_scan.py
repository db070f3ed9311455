"""Scan-path throughput and latency against a bare Flask endpoint, with and without a draw, in one run.

    python -m bench.bench_scan [--quick] [--servers gunicorn,granian] [--items 100000] [--rounds 3]
                               [--duration 8] [--open-duration 8] [--tool auto|wrk|python]
                               [--layout split|shared] [--no-other-layout] [--models sync:4,gthread:2x4 | none]
                               [--no-risk] [--stability]
    python -m bench.bench_scan --export-codes FILE --count N      (codes for loadtests/locustfile.py)

One run, everything on 127.0.0.1 and bounded in time (--max-seconds):

1. setup (bench/scan_env.py): a temp YIMA_VAR_DIR, the machine's Redis in a dedicated DB number
   (--redis-url, default redis://127.0.0.1:6379/14, flushed at start and end), a PostgreSQL database
   `yima_bench_<pid>` made from --pg-admin-url and dropped at the end; two batches of --items items (the
   scan batch, and the draw batch under one live first-scan-wins campaign published through
   rules.publish.publish_rules);
2. the one-box layout, printed first, the issue's measurement: every process (wrk, the app workers,
   Redis, PostgreSQL) on the same CPUs, no pinning. Every server of --servers (gunicorn as shipped:
   `--config python:app.gunicorn_conf "app:create_app()"`; granian's WSGI interface on the same app) is
   started at once and, --rounds times, each server in turn is measured at max throughput (closed loop)
   on bare Flask, the scan API and the scan API with a draw; then each variant with a target runs open
   loop at half its median max, for the p99. Ratios scan / bare and scan+draw / bare are medians of the
   rounds' own ratios; targets: ≥ 0.6, ≥ 0.5, p99 ≤ 10 ms at half load, PASS or MISS beside each.
   The risk pair (unless --no-risk): the first server's twin with the risk layer switched (YIMA_RISK=1
   beside the shipped server, whose default is off) runs beside it; in every round the scan API and scan +
   draw are measured on both back to back (which goes first alternates), then at the same open-loop rate.
   Risk on / off, the median of the rounds' own ratios, has the target ≥ 0.80 for each. The bench brand's
   risk policy (scan_env.RISK_POLICY, in Redis {risk}:policies) turns off the two address rules
   (ip_per_minute, network_per_hour): one loopback client is one address and one network carrying the
   whole load. Every subject call still runs (the bodies come from 50,000 phones with jittering GPS, one in
   4 signed in: bench/scan_plan.py); the risk keys counted afterwards ({r:d:*}, {r:n:*} ...) prove the
   risk-on scans went through the layer (else MISS), and the decisions on their events are printed;
3. unless --no-other-layout, the extra layout (--layout, default split: the app server alone on half
   the CPUs, the load generator, Redis and PostgreSQL on the rest; bench/cpu_layout.py) with gunicorn
   as shipped: bare, bare + one Redis round trip (the floor of any design that goes to Redis once per
   scan), scan and SQL-per-scan at max and at half load, --pairs bare/scan pairs, the scan with the rate
   limits on (set very high: the production path), and, with --models, other gunicorn worker models;
4. with --stability, every server of --servers through the failure checks (bench/scan_stability.py): a
   worker killed, Redis refusing connections, and SIGTERM, each under load.

The load generators are in bench/scan_load.py (wrk when on PATH, else a raw-socket Python client; the
open-loop runs always use the Python client), the CPU meter in bench/scan_cpu.py (every figure comes with
the CPU each party spent per request, and a run that other processes disturbed is measured again), the
servers in bench/scan_server.py, the tables in bench/scan_report.py. The last line printed is one JSON
object with every figure.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from bench import cpu_layout
from bench.scan_cpu import NCPU
from bench.scan_env import (
    RISK_POLICY,
    BenchEnv,
    award_count,
    bench_environment,
    event_mix,
    export_codes,
    risk_decisions,
    risk_keys,
    stream_tips,
)
from bench.scan_load import LoadResult
from bench.scan_measure import Bench
from bench.scan_report import RiskPair, ServerFigures, report_extra, report_one_box, report_risk
from bench.scan_server import KINDS, Model, Server, granian_available

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HIGH_LIMIT = 1_000_000_000


def _step(label: str, fn: Callable[[str], LoadResult]) -> LoadResult:
    """Run one measurement and print its line as soon as it is done."""
    t = time.perf_counter()
    r = fn(label)
    print(f"  {label:<40} {r.rps:7.0f} r/s  p50 {r.latencies_ms['p50']:6.2f} ms  "
          f"p99 {r.latencies_ms['p99']:6.2f} ms  bad {r.bad}  other {100 * r.other_share:3.0f} %"
          f"  ({time.perf_counter() - t:.0f} s)", flush=True)
    return r


def one_box(bench: Bench, args: argparse.Namespace) -> tuple[list[ServerFigures], RiskPair | None]:
    """The issue's layout: nothing pinned; every server up at once, measured in turn, round after round; and
    unless --no-risk, the first server's risk partner (the same server with the risk layer switched) measured
    beside it in every round."""
    servers: list[Server] = []
    figures: list[ServerFigures] = []
    partner: Server | None = None
    pair: RiskPair | None = None
    decisions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    print(f"one-box layout: everything on all {NCPU} CPUs, no pinning; servers {', '.join(args.servers)}"
          f"{'' if args.no_risk else ', and the first with the risk layer switched'}", flush=True)
    bench.app_cpus = None
    try:
        for spec in args.servers:
            kind, model = server_spec(spec)
            server = bench.server(kind, model)
            try:
                server.start()
            except RuntimeError as exc:
                print(f"  {spec}: not measured ({str(exc).splitlines()[0]})", flush=True)
                server.stop()
                continue
            servers.append(server)
            figures.append(ServerFigures(_server_label(bench.benv, server)))
        if servers and not args.no_risk:
            partner, pair = _risk_partner(bench, servers[0], figures[0])
        twin = None if pair is None else (pair.on if pair.off is figures[0] else pair.off)  # the partner's
        on_server = None if pair is None else (partner if pair.on is twin else servers[0])
        partner_name = "" if pair is None else f"{servers[0].name} risk {'ON' if pair.on is twin else 'off'}"

        def step(server: Server, label: str, v: str) -> LoadResult:
            """One max run; the risk decisions on the events of the risk-on server's scans are counted."""
            tips = stream_tips(args.redis_url, [bench.benv.batch_id, bench.benv.draw_batch_id]) \
                if server is on_server and v != "bare" else None
            result = _step(label, lambda lb: bench.max_throughput(server, v, args.duration, lb))
            if tips is not None:
                risk_decisions(args.redis_url, tips, decisions, reasons)
            return result

        def partner_round(k: int) -> None:
            if partner is not None and twin is not None:
                twin.rounds.append({v: step(partner, f"round {k}: {partner_name} {v} max", v)
                                    for v in ("scan", "draw")})

        for k in range(1, args.rounds + 1):
            for i, (server, fig) in enumerate(zip(servers, figures, strict=True)):
                if i == 0 and k % 2 == 0:  # the pair's order alternates: drift cannot favour one side
                    partner_round(k)
                fig.rounds.append({v: step(server, f"round {k}: {server.name} {v} max", v)
                                   for v in ("bare", "scan", "draw")})
                if i == 0 and k % 2 == 1:
                    partner_round(k)
        for server, fig in zip(servers, figures, strict=True):
            for v in ("scan", "draw"):
                rate = max(10.0, fig.rps(v) / 2)
                fig.half[v] = _step(f"{server.name} {v} open loop {rate:.0f}/s",
                                    lambda lb, s=server, v=v, r=rate: bench.load(s, v, args.open_duration, rate=r,
                                                                                 label=lb))
                if server is servers[0] and partner is not None and twin is not None:  # at the same rate
                    twin.half[v] = _step(f"{partner_name} {v} open loop {rate:.0f}/s",
                                         lambda lb, p=partner, v=v, r=rate: bench.load(p, v, args.open_duration,
                                                                                       rate=r, label=lb))
    finally:
        for server in servers:
            server.stop()
        if partner is not None:
            partner.stop()
    if pair is not None:
        pair.keys = risk_keys(args.redis_url)
        pair.decisions, pair.reasons = dict(decisions), dict(reasons)
    return figures, pair


def _risk_partner(bench: Bench, base: Server, base_fig: ServerFigures) -> tuple[Server | None, RiskPair | None]:
    """The base server's twin with the risk layer switched (on: YIMA_RISK=1 beside a server as shipped, where it
    is off; off: YIMA_RISK=0 should the shipped default be on), started; (None, None) if it does not start."""
    from app.config import load_config

    shipped_on = load_config(bench.benv.env).risk
    env = {**bench.benv.env, "YIMA_RISK": "0" if shipped_on else "1"}
    partner = bench.server(base.kind, base.model, env=env, tag="-risk-off" if shipped_on else "-risk-on")
    try:
        partner.start()
    except RuntimeError as exc:
        print(f"  {base.name} with YIMA_RISK={env['YIMA_RISK']}: not measured ({str(exc).splitlines()[0]})",
              flush=True)
        partner.stop()
        return None, None
    pfig = ServerFigures(f"{base_fig.name}, YIMA_RISK={env['YIMA_RISK']}")
    state = "on (YIMA_RISK=1: the shipped default)" if shipped_on else "off (YIMA_RISK unset: the shipped default)"
    shipped_label = f"{base.name} as started above, risk layer {state}"
    twin_label = f"the same with YIMA_RISK={env['YIMA_RISK']}"
    if shipped_on:
        return partner, RiskPair(off=pfig, on=base_fig, off_label=twin_label, on_label=shipped_label,
                                 policy=RISK_POLICY)
    return partner, RiskPair(off=base_fig, on=pfig, off_label=shipped_label, on_label=twin_label, policy=RISK_POLICY)


def server_spec(spec: str) -> tuple[str, Model]:
    """`gunicorn`, `granian`, or either with a model after a colon (gunicorn:gthread:2x4, granian:2x8)."""
    kind, _, model = spec.partition(":")
    return kind, Model(model or "shipped")


def _server_label(benv: BenchEnv, server: Server) -> str:
    if server.model.spec != "shipped":
        return f"{server.name} (gunicorn_conf.py + {' '.join(server.model.args(server.kind))})"
    if server.kind == "gunicorn":
        return f"gunicorn {benv.shipped_class}:{benv.shipped_workers} (app/gunicorn_conf.py as shipped)"
    return f"granian wsgi, {benv.shipped_workers} workers (granian's defaults otherwise)"


def extra_layout(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    """The tuned layout (split by default) with gunicorn as shipped: the figures the earlier issues tracked."""
    benv = bench.benv
    res: dict[str, LoadResult] = {}
    half: dict[str, LoadResult] = {}
    shipped = Model("shipped")
    layout = cpu_layout.plan(args.layout)
    why_not = cpu_layout.unusable(layout, benv.redis_pid)
    if why_not:
        print(f"layout {layout.name} unavailable ({why_not}): measuring the shared layout", flush=True)
        layout = cpu_layout.plan("shared")
    print(f"extra layout {layout.describe()}", flush=True)
    bench.app_cpus = layout.server_cpus

    def measure(server: Server, key: str, variant: str, label: str) -> None:
        res[key] = _step(f"{label}: max", lambda lb: bench.max_throughput(server, variant, args.duration, lb))
        rate = max(10.0, res[key].rps / 2)
        half[key] = _step(f"{label}: open loop {rate:.0f}/s",
                          lambda lb: bench.load(server, variant, args.open_duration, rate=rate, label=lb))

    def max_pair(model: Model, label: str) -> dict[str, LoadResult]:
        server = bench.server("gunicorn", model)
        try:
            server.start()
            return {v: _step(f"{label}: {v} max",
                             lambda lb, v=v: bench.max_throughput(server, v, args.model_duration, lb))
                    for v in ("bare", "scan")}
        except RuntimeError as exc:
            print(f"  {label}: skipped ({str(exc).splitlines()[0]})", flush=True)
            return {}
        finally:
            server.stop()

    pairs: list[tuple[LoadResult, LoadResult]] = []
    models: list[tuple[str, dict[str, LoadResult]]] = []
    with cpu_layout.pinned(layout, benv.redis_pid):
        server = bench.server("gunicorn", shipped, limits=0)
        try:
            server.start()
            for v in ("bare", "scan", "sql"):
                measure(server, v, v, v)
                if v == "bare":
                    res["floor"] = _step("floor: max",
                                         lambda lb: bench.max_throughput(server, "floor", args.duration, lb))
            # More bare/scan pairs back to back: the ratio is their median, so one disturbed run cannot
            # decide it.
            pairs.append((res["bare"], res["scan"]))
            for k in range(2, args.pairs + 1):
                b, s = (_step(f"pair {k}: {v} max", lambda lb, v=v: bench.max_throughput(server, v, args.duration, lb))
                        for v in ("bare", "scan"))
                pairs.append((b, s))
        finally:
            server.stop()
        if not args.no_limits_run:
            server = bench.server("gunicorn", shipped, limits=HIGH_LIMIT)
            try:
                server.start()
                measure(server, "scan_limits", "scan", "scan, limits on")
            finally:
                server.stop()
        if args.models:
            models.append((f"shipped {benv.shipped_class}:{benv.shipped_workers}",
                           {"bare": res["bare"], "scan": res["scan"]}))
        for spec in args.models:
            models.append((spec, max_pair(Model(spec), f"model {spec}")))
    return report_extra(benv, args, bench.tool, layout, res, half, pairs, models)


def run(args: argparse.Namespace) -> int:
    with bench_environment(args) as benv:
        bench = Bench(benv, args)
        print(f"setup done: batches {benv.batch_id} (scan) and {benv.draw_batch_id} (draw, campaign "
              f"{benv.campaign_id}) of {args.items:,} items each, database {benv.db_name}, closed-loop tool "
              f"{bench.tool}; the bench brand's risk policy: the defaults but "
              + ", ".join(f"{k} {v}" for k, v in RISK_POLICY.items())
              + " (one loopback client is one address: 0 turns those rules off)", flush=True)
        if args.nice:
            print(f"nice {args.nice}: this process, the servers and load generators it starts and the local Redis "
                  f"run ahead of the machine's other work", flush=True)
        with cpu_layout.prioritized(args.nice, benv.redis_pid):
            figures, pair = one_box(bench, args)
            mix = {"scan": event_mix(args.redis_url, benv.batch_id),
                   "draw": event_mix(args.redis_url, benv.draw_batch_id)}
            awards = award_count(args.redis_url)
            one_box_doc = report_one_box(benv, args, bench.tool, figures, mix, awards)
            if pair is not None:
                one_box_doc["risk"] = report_risk(pair, args, benv.brand_id)
            print(flush=True)
            extra = {} if args.no_other_layout else extra_layout(bench, args)
            stability: dict[str, Any] = {}
            if args.stability:
                from bench.scan_stability import check_servers

                stability = check_servers(bench, args.servers)
        doc = {"bench": "scan", "cpus": NCPU, "tool": bench.tool, "items": args.items, "nice": args.nice,
               "one_box": one_box_doc}
        if extra:
            doc["extra"] = extra
        if stability:
            doc["stability"] = stability
        if bench.retried:
            print(f"  repeated because other processes were busy: {'; '.join(bench.retried)}")
            doc["repeated"] = bench.retried
    print()
    print(json.dumps(doc, separators=(",", ":")))
    shipped = next(iter(doc["one_box"]["servers"].values()), {}) if args.servers[0] == "gunicorn" else {}
    missed = [k for k, t in {**shipped.get("targets", {}), **doc["one_box"].get("risk", {}).get("targets", {}),
                             **doc.get("extra", {}).get("targets", {})}.items()
              if not t["pass"]]
    return 1 if args.strict and missed else 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    doc = __doc__ or ""
    p = argparse.ArgumentParser(prog="python -m bench.bench_scan", description=doc.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: short phases, one round, no extra layout")
    p.add_argument("--servers", default="gunicorn,granian" if granian_available() else "gunicorn",
                   help="comma-separated app servers measured side by side on the one-box layout, the shipped "
                        "one first: gunicorn, granian, or either with a model (gunicorn:gthread:2x4, granian:2x8 = "
                        "workers x blocking threads); default: gunicorn,granian when granian is installed")
    p.add_argument("--items", type=int, default=100_000,
                   help="items in each of the two bench batches (2 never-scanned codes each)")
    p.add_argument("--rounds", type=int, default=3, help="one-box rounds; the ratios are their medians")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of each closed-loop measurement")
    p.add_argument("--open-duration", type=float, default=8.0, help="seconds of each open-loop measurement")
    p.add_argument("--model-duration", type=float, default=8.0, help="seconds per worker model in the sweep")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load before each max run")
    p.add_argument("--connections", type=int, default=32, help="closed-loop concurrency")
    p.add_argument("--models", default="none",
                   help="extra layout: comma-separated gunicorn models to sweep (sync:W, gthread:WxT, gevent:WxC)"
                        " or 'none'")
    p.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto",
                   help="closed-loop load generator (auto: wrk when on PATH)")
    p.add_argument("--no-limits-run", action="store_true", help="extra layout: skip the run with rate limits on")
    p.add_argument("--pairs", type=int, default=1,
                   help="extra layout: bare/scan max-throughput pairs; scan / bare is the median of their ratios")
    p.add_argument("--layout", choices=("split", "shared"), default="split",
                   help="the extra layout, printed after the one-box one: split (the app server alone on half the "
                        "CPUs; load generator, Redis and PostgreSQL on the rest) or shared (see bench/cpu_layout.py)")
    p.add_argument("--no-other-layout", action="store_true", help="skip the extra layout")
    p.add_argument("--no-risk", action="store_true",
                   help="one-box layout: skip the risk pair (the first server again with the risk layer switched, "
                        "YIMA_RISK=1, measured beside it: risk on / off >= 0.80)")
    p.add_argument("--stability", action="store_true",
                   help="also put every server through the failure checks (bench/scan_stability.py)")
    p.add_argument("--nice", type=int, default=0, choices=range(-20, 1), metavar="-20..0",
                   help="on a shared box: run the bench's processes and a local Redis at this nice (root only)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target of the shipped server is missed")
    p.add_argument("--retry-seconds", type=float, default=40.0,
                   help="time the run may spend repeating measurements disturbed by other processes")
    p.add_argument("--redis-url", default=os.environ.get("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--pg-admin-url", default=os.environ.get("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    p.add_argument("--max-seconds", type=int, default=660, help="hard limit for the whole run")
    p.add_argument("--export-codes", type=Path, metavar="FILE", help="write codes for the locustfile and exit")
    p.add_argument("--count", type=int, default=100_000, help="with --export-codes: how many codes")
    if "--quick" in (sys.argv[1:] if argv is None else argv):  # shorter defaults; explicit options still win
        p.set_defaults(items=30_000, duration=4.0, open_duration=4.0, warmup=1.0, rounds=1, pairs=1,
                       no_other_layout=True)
    args = p.parse_args(argv)
    args.servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for spec in args.servers:
        kind, model = server_spec(spec)
        if kind not in KINDS:
            p.error(f"--servers: unknown server {kind!r} (use {', '.join(KINDS)}, optionally with :MODEL)")
        try:
            model.args(kind)
        except ValueError as exc:
            p.error(f"--servers: {exc}")
    if not args.servers or len(set(args.servers)) != len(args.servers):
        p.error("--servers: name each server once")
    if any(server_spec(s)[0] == "granian" for s in args.servers) and not granian_available():
        p.error("--servers granian: granian is not installed (make bench-scan installs it: pip install -e '.[bench]')")
    if args.rounds < 1 or args.items < 1000:
        p.error("--rounds must be at least 1 and --items at least 1000")
    args.models = [] if args.models in ("", "none") else [m.strip() for m in args.models.split(",") if m.strip()]
    try:
        for spec in args.models:
            Model(spec).args()  # fail early on a typo
    except ValueError as exc:
        p.error(f"--models: {exc}")
    for url in (args.redis_url, args.pg_admin_url):
        if urlsplit(url).hostname not in ("127.0.0.1", "localhost", "::1"):
            p.error(f"{url}: the benchmark only talks to services on this machine (127.0.0.1)")
    return args


def _raise_timeout(_signum: int, _frame: Any) -> None:
    raise TimeoutError("bench_scan ran past --max-seconds; cleaning up")


def _raise_exit(signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.export_codes:
        if not 1 <= args.count <= 10_000_000:
            raise SystemExit("error: --count must be between 1 and 10,000,000")
        return export_codes(args.export_codes, args.count)
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.alarm(args.max_seconds)
    started = time.perf_counter()
    try:
        return run(args)
    finally:
        signal.alarm(0)
        print(f"total {time.perf_counter() - started:.0f} s", flush=True)


if __name__ == "__main__":
    sys.exit(main())
