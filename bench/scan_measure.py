"""One measured run of the scan bench: bodies for a variant, a load generator, the CPU meter around it.

Variants (the endpoint and whose codes its bodies carry):

    bare   POST /bench/bare        Flask alone: parse the body, answer a scan-sized JSON (app/bench_views.py)
    floor  POST /bench/bare-redis  bare + one trivial Redis script call: the floor of one round trip per scan
    scan   POST /api/v1/scans      codes of the scan batch, which no campaign matches
    draw   POST /api/v1/scans      codes of the draw batch, under the live first-scan-wins campaign
    sql    POST /bench/sql-scan    the database-per-scan design: same verification, one SQL transaction
"""

from __future__ import annotations

import argparse
import shutil

from bench.scan_cpu import CpuMeter
from bench.scan_env import BenchEnv
from bench.scan_load import LoadResult, RawHttpLoad, run_wrk
from bench.scan_plan import CodeSource, Plan, give_back, make_plan
from bench.scan_server import Model, Server

ENDPOINTS = {"bare": "/bench/bare", "floor": "/bench/bare-redis", "scan": "/api/v1/scans",
             "draw": "/api/v1/scans", "sql": "/bench/sql-scan"}

DISTURBED = 0.10  # other processes' share of the machine's CPU above which a measurement is repeated


class Bench:
    def __init__(self, benv: BenchEnv, args: argparse.Namespace) -> None:
        self.benv, self.args = benv, args
        self.use_wrk = args.tool == "wrk" or (args.tool == "auto" and shutil.which("wrk") is not None)
        if args.tool == "wrk" and not shutil.which("wrk"):
            raise SystemExit("error: --tool wrk but wrk is not on PATH (apt-get install wrk)")
        self.rate_hint = 4000.0  # requests/s we budget codes for until a measurement says otherwise
        self._seed = 0
        self._bare_bodies: list[bytes] | None = None
        # Seconds the run may spend repeating measurements that other processes disturbed.
        self.retry_seconds = args.retry_seconds
        self.retried: list[str] = []
        self.app_cpus: frozenset[int] | None = None  # where servers start (the split layout), None = anywhere

    @property
    def tool(self) -> str:
        return "wrk" if self.use_wrk else "python-raw"

    def _source(self, variant: str) -> CodeSource:
        return self.benv.draw_source if variant == "draw" else self.benv.source

    def _bodies(self, variant: str, n: int) -> tuple[Plan | None, list[bytes]]:
        if variant in ("bare", "floor"):  # these keep no state: one fixed plan serves every run
            if self._bare_bodies is None:
                position, phone = self.benv.source.position, self.benv.phones.cursor
                self._bare_bodies = make_plan(self.benv.source, min(n, 50_000), seed=1, phones=self.benv.phones).bodies
                # bare scans nothing: its codes stay fresh, its phones unused
                self.benv.source.position, self.benv.phones.cursor = position, phone
            return None, self._bare_bodies
        self._seed += 1
        plan = make_plan(self._source(variant), n, seed=1000 + self._seed, phones=self.benv.phones)
        return plan, plan.bodies

    def load(self, server: Server, variant: str, duration: float, *, rate: float | None = None,
             label: str = "") -> LoadResult:
        """A measured run; repeated once if other processes took more than DISTURBED of the machine's CPU
        meanwhile (while --retry-seconds lasts). The less disturbed of the two is kept."""
        result = self._load(server, variant, duration, rate=rate)
        if label and result.other_share > DISTURBED and self.retry_seconds >= duration:
            self.retry_seconds -= duration + (self.args.warmup if rate is None else 0.0)
            self.retried.append(f"{label} ({100 * result.other_share:.0f} % other)")
            print(f"  {label}: other processes used {100 * result.other_share:.0f} % of the CPU; measuring again",
                  flush=True)
            if rate is None and self.args.warmup > 0:
                self._load(server, variant, self.args.warmup)
            again = self._load(server, variant, duration, rate=rate)
            result = min(result, again, key=lambda r: r.other_share)
        return result

    def _load(self, server: Server, variant: str, duration: float, *, rate: float | None = None) -> LoadResult:
        """One measured run (closed loop unless `rate`), with CPU accounting around it."""
        n = int((rate or self.rate_hint * 1.3) * duration) + 2 * self.args.connections + 100
        plan, bodies = self._bodies(variant, n)
        meter = CpuMeter(server.proc.pid if server.proc else 0, self.benv.redis_pid, self.benv.db_name)
        path = ENDPOINTS[variant]
        meter.start()
        if rate is None and self.use_wrk:
            result = run_wrk(self.benv.workdir, server.port, path, bodies, duration, self.args.connections)
        else:
            result = RawHttpLoad(server.port, path, bodies).run(duration, connections=self.args.connections,
                                                                rate=rate)
        result.cpu = meter.stop()
        if plan is not None:
            give_back(self._source(variant), plan, result.sent + self.args.connections)
            if result.wrapped:
                print(f"  warning: {variant} ran out of planned bodies; the tail repeated codes", flush=True)
        else:
            result.wrapped = False
        return result

    def max_throughput(self, server: Server, variant: str, duration: float, label: str = "") -> LoadResult:
        if self.args.warmup > 0:
            self._load(server, variant, self.args.warmup)
        result = self.load(server, variant, duration, label=label)
        self.rate_hint = max(self.rate_hint, result.rps)  # codes unused by a run go back to the source
        return result

    def server(self, kind: str, model: Model, limits: int = 0, *, env: dict[str, str] | None = None,
               tag: str = "") -> Server:
        env = dict(env or self.benv.env)
        env["YIMA_SCAN_LIMIT_IP"] = env["YIMA_SCAN_LIMIT_DEVICE"] = str(limits)
        log = self.benv.workdir / f"{kind}-{model.spec.replace(':', '-')}-{limits}{tag}.log"
        return Server(kind, env, log, model, self.benv.shipped_workers, self.app_cpus, self.args.nice)
