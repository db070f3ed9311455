"""What the Prometheus metrics cost the scan path: POST /api/v1/scans with metrics off, on, and on with JSON
logs, side by side in one run.

    python -m bench.bench_metrics [--pairs 3] [--duration 8] [--redis-url redis://127.0.0.1:6379/14]

The machinery is bench/bench_scan.py's (a temp var dir, a dedicated Redis DB and PostgreSQL database, a
fresh batch, gunicorn with the shipped settings, wrk when on PATH, CPU per request): for each of --pairs
rounds, one gunicorn per variant, in rotating order, a warm-up and then a closed-loop --duration s
measurement of the scan mix (85 % first scans, 10 % repeats, 5 % forged). Metrics on is the deployed
mode: prometheus_client's multiprocess mode, every sample written to gunicorn's shared directory. Each
variant's figure is the median of its rounds, and the ratio to "off" is the median of the per-round
ratios, so one disturbed measurement cannot decide it. The request id (always on) is in every variant.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bench_scan import _raise_exit, _raise_timeout
from bench.bench_scan import parse_args as scan_args
from bench.scan_env import bench_environment
from bench.scan_measure import Bench
from bench.scan_plan import make_plan
from bench.scan_server import Model

IN_PROCESS_ROUNDS, IN_PROCESS_BATCH = 8, 150

VARIANTS = {
    "off": {"YIMA_METRICS": "0", "YIMA_LOG_FORMAT": "text"},
    "on": {"YIMA_METRICS": "1", "YIMA_LOG_FORMAT": "text"},
    "on+json": {"YIMA_METRICS": "1", "YIMA_LOG_FORMAT": "json"},
}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_metrics", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", type=int, default=3, help="rounds; each runs every variant once")
    p.add_argument("--duration", type=float, default=8.0, help="seconds of each measurement")
    p.add_argument("--items", type=int, default=200_000)
    p.add_argument("--max-seconds", type=int, default=480, help="hard limit for the whole run")
    p.add_argument("--in-process", metavar="BODIES", help=argparse.SUPPRESS)  # the child of _in_process_ratio
    known, rest = p.parse_known_args(argv)
    if known.in_process:
        return argparse.Namespace(in_process=known.in_process)
    args = scan_args([*rest, "--items", str(known.items), "--duration", str(known.duration), "--models", "none",
                      "--retry-seconds", "0"])
    args.pairs, args.max_seconds, args.in_process = known.pairs, known.max_seconds, None
    return args


def hook_cost(n: int = 200_000) -> float:
    """µs of the metrics work one scan request does (what app/metrics.py's hooks and count_scan call), in
    this process's mode (multiprocess when PROMETHEUS_MULTIPROC_DIR was set before the import)."""
    from app.metrics import REQUEST_SECONDS, RESPONSES, SCANS, child, endpoint_group

    def one() -> None:
        started = time.perf_counter()
        group = endpoint_group("api.create_scan")
        child(SCANS, "api", "first").inc()
        child(REQUEST_SECONDS, group).observe(time.perf_counter() - started)
        child(RESPONSES, group, "200").inc()

    for _ in range(1000):
        one()
    started = time.perf_counter()
    for _ in range(n):
        one()
    return (time.perf_counter() - started) / n * 1e6


def _hook_cost_in(multiprocess: bool) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    with tempfile.TemporaryDirectory(prefix="yima-bench-metrics-") as tmp:
        if multiprocess:
            env["PROMETHEUS_MULTIPROC_DIR"] = tmp
        out = subprocess.run([sys.executable, "-c", "from bench.bench_metrics import hook_cost; print(hook_cost())"],
                             env=env, capture_output=True, text=True, timeout=120, check=True)
    return float(out.stdout.strip())


def in_process(bodies_file: str) -> None:
    """CPU of this process per scan through the whole Flask app (the test client, no HTTP), metrics off and
    on side by side: two apps in one process, alternating batches of the same scan mix. Run with the bench
    environment's variables (and PROMETHEUS_MULTIPROC_DIR for the deployed mode); prints JSON."""
    import json

    from app import create_app

    bodies = Path(bodies_file).read_bytes().splitlines()
    apps = {"off": create_app({"metrics": False}), "on": create_app({"metrics": True})}
    clients = {name: app.test_client() for name, app in apps.items()}
    for client in clients.values():  # warm-up: imports, batch facts, connections
        for body in bodies[:20]:
            client.post("/api/v1/scans", data=body, content_type="application/json")
    bodies = bodies[40:]
    us: dict[str, list[float]] = {"off": [], "on": []}
    position = 0
    for round_ in range(IN_PROCESS_ROUNDS):
        for name in ("off", "on") if round_ % 2 == 0 else ("on", "off"):
            batch = bodies[position:position + IN_PROCESS_BATCH]
            position += IN_PROCESS_BATCH
            started = time.process_time()
            for body in batch:
                status = clients[name].post("/api/v1/scans", data=body, content_type="application/json").status_code
                assert status in (200, 404), status
            us[name].append((time.process_time() - started) / len(batch) * 1e6)
    print(json.dumps(us))


def _in_process_ratio(benv: Any) -> tuple[float, float, list[float]]:
    import json

    plan = make_plan(benv.source, 40 + 2 * IN_PROCESS_ROUNDS * IN_PROCESS_BATCH, seed=77)
    bodies_file = benv.workdir / "in-process.jsonl"
    bodies_file.write_bytes(b"\n".join(plan.bodies) + b"\n")
    with tempfile.TemporaryDirectory(prefix="yima-bench-metrics-") as tmp:
        env = {**benv.env, "PROMETHEUS_MULTIPROC_DIR": tmp}
        out = subprocess.run([sys.executable, "-m", "bench.bench_metrics", "--in-process", str(bodies_file)],
                             env=env, capture_output=True, text=True, timeout=300, check=True)
    us = json.loads(out.stdout.strip().splitlines()[-1])
    ratios = [on / off for on, off in zip(us["on"], us["off"], strict=True)]
    return statistics.median(us["off"]), statistics.median(us["on"]), ratios


def run(args: argparse.Namespace) -> int:
    print("metrics work per scan request, in process (median of 3): "
          f"multiprocess {statistics.median(_hook_cost_in(True) for _ in range(3)):.1f} µs, "
          f"in memory {statistics.median(_hook_cost_in(False) for _ in range(3)):.1f} µs", flush=True)
    with bench_environment(args) as benv:
        off_us, on_us, ratios = _in_process_ratio(benv)
        print(f"whole app in process (Flask test client, multiprocess mode), CPU per scan: off {off_us:.0f} µs, "
              f"on {on_us:.0f} µs; on ÷ off {statistics.median(ratios):.3f} (median of "
              f"{', '.join(f'{r:.3f}' for r in ratios)})", flush=True)
        bench = Bench(benv, args)
        print(f"scan path, metrics off vs on: gunicorn as shipped ({benv.shipped_class}:{benv.shipped_workers}), "
              f"{'wrk' if bench.use_wrk else 'python client'}, {args.connections} connections, "
              f"{args.duration:.0f} s per measurement, {args.pairs} rounds, no CPU pinning", flush=True)
        rps: dict[str, list[float]] = {v: [] for v in VARIANTS}
        p99: dict[str, list[float]] = {v: [] for v in VARIANTS}
        cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
        names = list(VARIANTS)
        for round_ in range(args.pairs):
            order = names[round_ % len(names):] + names[:round_ % len(names)]  # nobody always goes first
            for variant in order:
                server = bench.server("gunicorn", Model("shipped"))
                server.env.update(VARIANTS[variant])
                server.start()
                try:
                    result = bench.max_throughput(server, "scan", args.duration)
                finally:
                    server.stop()
                rps[variant].append(result.rps)
                p99[variant].append(result.latencies_ms["p99"])
                cpu[variant].append(result.cpu_us("app"))
                print(f"  round {round_ + 1} {variant:8} {result.rps:8,.0f} scans/s  p99 "
                      f"{result.latencies_ms['p99']:6.2f} ms  app CPU {result.cpu_us('app'):6.0f} µs/scan  "
                      f"other {100 * result.other_share:3.0f} %  bad {result.bad}", flush=True)
        print("\nvariant   scans/s  p99 ms  app µs/scan   scans/s ÷ off (rounds)          app CPU ÷ off (rounds)")
        for variant in names:
            speed = [a / b for a, b in zip(rps[variant], rps["off"], strict=True) if b]
            work = [a / b for a, b in zip(cpu[variant], cpu["off"], strict=True) if b]
            print(f"  {variant:8} {statistics.median(rps[variant]):7,.0f} {statistics.median(p99[variant]):7.2f}"
                  f" {statistics.median(cpu[variant]):12.0f}   {statistics.median(speed):.3f} "
                  f"({', '.join(f'{r:.3f}' for r in speed)})   {statistics.median(work):.3f} "
                  f"({', '.join(f'{r:.3f}' for r in work)})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.in_process:
        in_process(args.in_process)
        return 0
    signal.signal(signal.SIGALRM, _raise_timeout)
    signal.signal(signal.SIGTERM, _raise_exit)
    signal.alarm(args.max_seconds)
    started = time.perf_counter()
    try:
        return run(args)
    finally:
        signal.alarm(0)
        print(f"\n(bench_metrics took {time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
