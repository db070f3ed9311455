"""What each durability lever on the award path costs per scan, measured side by side in one run.

    python -m bench.bench_durability [--rounds 5] [--scans 400] [--clients 8] [--per-client 150]
                                     [--win-rate 0.2] [--wait-timeout-ms 100] [--data-dir DIR]
                                     [--port-base 47400] [--max-seconds 100]

Starts private redis-server processes on 127.0.0.1 (ports --port-base .. +3, AOF on, data in a temp
directory under --data-dir, default the system temp dir; all stopped at the end, even on error):

    P1  appendfsync everysec                      the shipped setting, the baseline
    P2  appendfsync always                        every write fsynced before its reply
    P3  appendfsync everysec + a replica R        for WAIT (R: `--replicaof P3`, AOF everysec)

Each primary gets the same activated batch and one campaign over it whose only prize (cash) is drawn
with probability --win-rate (no consolation). A scan is the real `rules.scan.Scanner.scan` on a fresh
code: scan.lua (code state + event), then the draw pipeline (draw.lua: prize draw + award stream) since
the campaign matches every first scan. The variants:

    everysec    P1   baseline
    always      P2
    replica     P3   replication attached, no WAIT: the control of the two WAIT variants
    wait-won    P3   `WAIT 1 <timeout>` after a scan whose draw awarded, on the connection that ran the
                     draw (WAIT only waits for the writes of its own connection)
    wait-draw   P3   `WAIT 1 <timeout>` queued at the end of the draw pipeline: every draw pays it, in the
                     same round trip, and the "drawn" bit of a losing draw is replicated too

Rounds alternate the variants (rotated order, the machine is shared and noisy); each round runs, per
variant, --scans scans from one client, then --per-client scans from each of --clients processes at
once. Latency is per scan call (p50/p99 pooled over rounds); throughput is the median of the rounds;
ratios are to everysec (throughput: median of the per-round ratios). Then R is stopped (SIGSTOP) for a
few scans, to show what WAIT costs while the replica is away. WAITAOF (Redis 7.2+) is reported as
available or not; it is not measured here.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import math
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
import redis.client

from codegen.batch_state import write_batch_state
from codegen.codeformat import Role, encode
from codegen.keys import Keyring
from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.draw import DRAW
from rules.matcher import Matcher
from rules.region import default_index
from rules.scan import FIRST, ScanLimits, Scanner, ScanRequest
from rules.scan_script import SCAN

RING = Keyring(current=1, keys={1: bytes(range(32))})
BATCH = 1
WARM = 2  # untimed scans at the start of every segment (connections, script cache, batch cache)
VARIANTS = ("everysec", "always", "replica", "wait-won", "wait-draw")
BASELINE = "everysec"


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]: a value that was measured, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def filesystem_of(path: str, mounts: str) -> tuple[str, str, str]:
    """(mount point, device, fs type) of the mount that holds `path`, from the text of /proc/mounts."""
    best = ("", "?", "?")
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        device, point, fstype = fields[0], fields[1].replace("\\040", " "), fields[2]
        inside = path == point or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best[0]):  # the deepest mount wins; a later mount over it too
            best = (point, device, fstype)
    return best


# ---- private redis-servers ------------------------------------------------------------------------


def _die_with_parent() -> None:
    """Runs in the redis-server child before exec: it gets SIGKILL if this bench dies without cleanup."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@dataclass
class Server:
    name: str
    port: int
    directory: Path
    process: subprocess.Popen[bytes]

    def client(self) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port)

    def stop(self) -> None:
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signal.SIGCONT)  # a stopped process would not act on SIGTERM
                self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    stack: contextlib.ExitStack, name: str, port: int, root: Path, fsync: str, replica_of: int | None = None
) -> Server:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        raise SystemExit(f"error: port {port} is in use (another bench still running?); try --port-base")
    directory = root / name
    directory.mkdir()
    argv = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--dir", str(directory),
            "--appendonly", "yes", "--appendfsync", fsync, "--save", "", "--daemonize", "no",
            "--logfile", str(directory / "redis.log"), "--repl-diskless-sync-delay", "0"]  # fmt: skip
    if replica_of is not None:
        argv += ["--replicaof", "127.0.0.1", str(replica_of)]
    server = Server(
        name, port, directory, subprocess.Popen(argv, preexec_fn=_die_with_parent if sys.platform == "linux" else None)
    )
    stack.callback(server.stop)
    client = server.client()
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except redis.ConnectionError:
            if server.process.poll() is not None or time.monotonic() > deadline:
                log = (directory / "redis.log").read_text(errors="replace")[-600:]
                raise SystemExit(f"redis-server {name} on port {port} did not start:\n{log}") from None
            time.sleep(0.05)
    pid = client.info("server")["process_id"]
    client.close()
    if pid != server.process.pid:  # a server that started on the port between our check and our start
        raise SystemExit(f"error: port {port} answers for process {pid}, not the redis-server started here")
    return server


def wait_for_replica(primary: Server, replica: Server) -> None:
    """Until the primary sees the replica online (after its full sync), so WAIT counts it."""
    p = primary.client()
    deadline = time.monotonic() + 15
    while (p.info("replication").get("slave0") or {}).get("state") != "online":
        if time.monotonic() > deadline:
            log = (replica.directory / "redis.log").read_text(errors="replace")[-600:]
            raise SystemExit(f"replica {replica.name} never came online on {primary.name}:\n{log}")
        time.sleep(0.1)
    p.close()


# ---- the campaign and the batch -------------------------------------------------------------------


def make_campaign(win_rate: float) -> CompiledCampaign:
    doc = {
        "name": "durability bench",
        "brand": "bench",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2036-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 10**12},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": win_rate}],
    }
    return compile_campaign(1, 1, parse_definition(doc), brand_id=1, product_ids=None)


def prepare(server: Server, quantity: int) -> None:
    client = server.client()
    meta = {
        "key_id": 1,
        "brand_id": 1,
        "product_id": 1,
        "brand": "bench",
        "sku": "S",
        "product": "P",
        "gtin": "",
        "lot": "L",
        "factory": "F",
        "line": "1",
        "production_date": "2026-12-01",
        "quantity": quantity,
        "pack": 24,
        "status": "active",
    }
    write_batch_state(client, BATCH, meta, active=[(0, quantity - 1)], void=[])
    client.script_load(SCAN.source)
    client.script_load(DRAW.source)
    client.close()


# ---- the worker side (one process per client) -----------------------------------------------------


class _PipelineEndingInWait(redis.client.Pipeline):
    """A pipeline that sends `WAIT 1 <timeout>` after its commands, in the same round trip and on the same
    connection, and hides the WAIT's reply from the caller (the draw code sees its usual replies)."""

    wait_timeout_ms = 100
    misses = 0  # WAITs that timed out before a replica acknowledged, in this process

    def execute(self, raise_on_error: bool = True) -> list[Any]:
        self.execute_command("WAIT", 1, self.wait_timeout_ms)
        replies = super().execute(raise_on_error)
        if int(replies[-1]) < 1:
            _PipelineEndingInWait.misses += 1
        return replies[:-1]


class _ClientWaitingInPipeline(redis.Redis):
    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> _PipelineEndingInWait:
        return _PipelineEndingInWait(self.connection_pool, self.response_callbacks, transaction, shard_hint)


@dataclass
class WorkerConfig:
    ports: dict[str, int]
    campaign: CompiledCampaign
    wait_timeout_ms: int


_config: WorkerConfig | None = None
_scanners: dict[str, tuple[Scanner, redis.Redis]] = {}


def _init_worker(config: WorkerConfig) -> None:
    global _config
    _config = config
    _PipelineEndingInWait.wait_timeout_ms = config.wait_timeout_ms
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles ^C and tears the pool down
    # Pool.terminate() sends SIGTERM: die at once. The parent's handler (inherited through fork) would
    # raise SystemExit in the worker instead, and a worker unwinding there was seen to hang the pool.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    default_index()  # load the region table now, not inside the first timed scan


def _scanner(variant: str) -> tuple[Scanner, redis.Redis]:
    assert _config is not None
    if variant not in _scanners:
        cls = _ClientWaitingInPipeline if variant == "wait-draw" else redis.Redis
        client = cls(host="127.0.0.1", port=_config.ports[variant])
        matcher = Matcher([_config.campaign], version=1)
        scanner = Scanner(
            client,
            RING.batch_key_or_none,
            default_index(),
            ScanLimits(ip_per_window=0, device_per_window=0),
            rules=lambda: matcher,
        )
        if variant == "wait-won":
            # WAIT covers the writes of its own connection only: it must go on the one that ran the draw.
            pipe = client.pipeline(transaction=False)
            pipe.client_id()
            if pipe.execute()[0] != client.client_id():
                raise RuntimeError("the pool gave WAIT another connection than the draw pipeline's")
        _scanners[variant] = (scanner, client)
    return _scanners[variant]


@dataclass
class Segment:
    latencies_ms: list[float]
    won: list[bool]
    wait_misses: int
    started: float
    ended: float


def run_segment(variant: str, first_serial: int, count: int, start_at: float) -> Segment:
    """`count` timed scans of fresh codes (after WARM untimed ones), starting at `start_at` (monotonic)."""
    assert _config is not None
    scanner, client = _scanner(variant)
    key = RING.batch_key(1, BATCH)
    codes = [
        encode(key, role=Role.INNER, key_id=1, batch_id=BATCH, serial=s)
        for s in range(first_serial, first_serial + WARM + count)
    ]
    for code in codes[:WARM]:
        scanner.scan(ScanRequest(code))
    wait_won = variant == "wait-won"
    timeout = _config.wait_timeout_ms
    misses_before = _PipelineEndingInWait.misses
    misses = 0
    latencies: list[float] = []
    won: list[bool] = []
    with contextlib.suppress(ValueError):
        time.sleep(start_at - time.monotonic())
    started = time.monotonic()
    for code in codes[WARM:]:
        t0 = time.perf_counter()
        result = scanner.scan(ScanRequest(code))
        awarded = any(d.awarded for d in result.draws)
        if wait_won and awarded and client.wait(1, timeout) < 1:
            misses += 1
        latencies.append((time.perf_counter() - t0) * 1000)
        won.append(awarded)
        if result.status != FIRST or len(result.draws) != 1:
            raise RuntimeError(
                f"a fresh code scanned {result.status} with {len(result.draws)} draw(s): "
                "this bench times first scans that draw once"
            )
    ended = time.monotonic()
    misses += _PipelineEndingInWait.misses - misses_before
    return Segment(latencies, won, misses, started, ended)


# ---- the run ---------------------------------------------------------------------------------------


@dataclass
class Tally:
    latencies_ms: list[float] = field(default_factory=list)
    won_ms: list[float] = field(default_factory=list)
    lost_ms: list[float] = field(default_factory=list)
    throughput: list[float] = field(default_factory=list)  # one per round
    wait_misses: int = 0

    def add(self, segments: Sequence[Segment]) -> None:
        count = 0
        for s in segments:
            count += len(s.latencies_ms)
            self.latencies_ms += s.latencies_ms
            self.won_ms += [ms for ms, w in zip(s.latencies_ms, s.won, strict=True) if w]
            self.lost_ms += [ms for ms, w in zip(s.latencies_ms, s.won, strict=True) if not w]
            self.wait_misses += s.wait_misses
        self.throughput.append(count / (max(s.ended for s in segments) - min(s.started for s in segments)))


class Serials:
    def __init__(self) -> None:
        self.next = 0

    def take(self, count: int) -> int:
        first, self.next = self.next, self.next + WARM + count
        return first


def fsync_cost(directory: Path, times: int = 50) -> tuple[float, float]:
    """p50 and p99 ms of a 256-byte append + fdatasync in `directory`: what one AOF fsync costs there."""
    path = directory / "fsync-probe"
    took = []
    with path.open("ab") as f:
        for _ in range(times):
            f.write(b"x" * 256)
            f.flush()
            t0 = time.perf_counter()
            os.fdatasync(f.fileno())
            took.append((time.perf_counter() - t0) * 1000)
    path.unlink()
    return percentile(took, 50), percentile(took, 99)


def run_phase(pool: Any, variant: str, serials: Serials, clients: int, per_client: int) -> list[Segment]:
    start_at = time.monotonic() + 0.1 + 0.02 * clients
    jobs = [(variant, serials.take(per_client), per_client, start_at) for _ in range(clients)]
    return list(pool.starmap(run_segment, jobs))


def _ratio(value: float, base: float) -> str:
    return f"{value / base:5.2f}" if base else "  n/a"


def report_phase(title: str, tallies: dict[str, Tally], rounds: int) -> dict[str, Any]:
    base = tallies[BASELINE]
    print(f"\n{title}")
    print(
        f"  {'variant':10s} {'scans/s':>8s} {'×base':>6s} {'p50 ms':>7s} {'×base':>6s} {'p99 ms':>7s} "
        f"{'×base':>6s} {'mean ms':>8s} | {'won p50':>8s} {'won p99':>8s} {'lost p50':>8s}  waits<1"
    )
    figures: dict[str, Any] = {}
    for name, t in tallies.items():
        ratios = [a / b for a, b in zip(t.throughput, base.throughput, strict=False)]
        f = {
            "scans_per_s": statistics.median(t.throughput),
            "throughput_ratio": statistics.median(ratios),
            "p50_ms": percentile(t.latencies_ms, 50),
            "p99_ms": percentile(t.latencies_ms, 99),
            "mean_ms": statistics.fmean(t.latencies_ms),
            "won_p50_ms": percentile(t.won_ms, 50),
            "won_p99_ms": percentile(t.won_ms, 99),
            "won_mean_ms": statistics.fmean(t.won_ms or [math.nan]),
            "lost_p50_ms": percentile(t.lost_ms, 50),
            "scans": len(t.latencies_ms),
            "won": len(t.won_ms),
            "wait_misses": t.wait_misses,
        }
        figures[name] = f
        print(
            f"  {name:10s} {f['scans_per_s']:8.0f} {f['throughput_ratio']:6.2f} {f['p50_ms']:7.2f} "
            f"{_ratio(f['p50_ms'], percentile(base.latencies_ms, 50)):>6s} {f['p99_ms']:7.2f} "
            f"{_ratio(f['p99_ms'], percentile(base.latencies_ms, 99)):>6s} {f['mean_ms']:8.2f} | "
            f"{f['won_p50_ms']:8.2f} {f['won_p99_ms']:8.2f} {f['lost_p50_ms']:8.2f}  {t.wait_misses}"
        )
    won = sum(f["won"] for f in figures.values()) / max(1, sum(f["scans"] for f in figures.values()))
    r, ww, wd = figures["replica"], figures["wait-won"], figures["wait-draw"]
    print(f"  observed win rate {won:.3f}; {rounds} round(s)")
    extra_won = ww["won_mean_ms"] - r["won_mean_ms"]
    print(
        f"  WAIT after a win, per winning scan vs replica: p50 {ww['won_p50_ms'] - r['won_p50_ms']:+.2f} ms, "
        f"mean {extra_won:+.2f} ms; per scan at this win rate: {won * extra_won:+.2f} ms (win rate × the "
        f"winners' mean extra; all scans' means differ by {ww['mean_ms'] - r['mean_ms']:+.2f} ms, noisier)"
    )
    print(
        f"  WAIT in the draw pipeline, per scan vs replica: p50 {wd['p50_ms'] - r['p50_ms']:+.2f} ms, "
        f"mean {wd['mean_ms'] - r['mean_ms']:+.2f} ms; replica vs everysec: p50 "
        f"{r['p50_ms'] - figures[BASELINE]['p50_ms']:+.2f} ms; always vs everysec: p50 "
        f"{figures['always']['p50_ms'] - figures[BASELINE]['p50_ms']:+.2f} ms"
    )
    return figures


def stalled_replica(
    pool: Any, primary: Server, replica: Server, serials: Serials, scans: int, timeout_ms: int
) -> dict[str, Any]:
    """A few single-client scans per WAIT variant while the replica is stopped: each WAIT runs out."""
    print(f"\nReplica stopped (SIGSTOP), {scans} scans per WAIT variant, 1 client, WAIT timeout {timeout_ms} ms")
    out: dict[str, Any] = {}
    replica.process.send_signal(signal.SIGSTOP)
    try:
        for variant in ("wait-won", "wait-draw"):
            seg = run_phase(pool, variant, serials, 1, scans)[0]
            won = [ms for ms, w in zip(seg.latencies_ms, seg.won, strict=True) if w]
            out[variant] = {
                "p50_ms": percentile(seg.latencies_ms, 50),
                "won_p50_ms": percentile(won, 50),
                "wait_misses": seg.wait_misses,
                "won": len(won),
            }
            print(
                f"  {variant:10s} p50 {out[variant]['p50_ms']:7.1f} ms  winners' p50 "
                f"{out[variant]['won_p50_ms']:7.1f} ms  ({len(won)} won)  WAITs that timed out: {seg.wait_misses}"
            )
    finally:
        replica.process.send_signal(signal.SIGCONT)
    return out


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    return value


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--scans", type=int, default=400, help="single-client scans per variant per round")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--per-client", type=int, default=150, help="scans per client per variant per round")
    ap.add_argument("--win-rate", type=float, default=0.2)
    ap.add_argument("--wait-timeout-ms", type=int, default=100)
    ap.add_argument("--data-dir", default=tempfile.gettempdir(), help="where the AOF files go (a real disk)")
    ap.add_argument("--port-base", type=int, default=47400)
    ap.add_argument("--max-seconds", type=float, default=100, help="start no round that would end after this")
    args = ap.parse_args(argv)
    if shutil.which("redis-server") is None:
        raise SystemExit("error: no redis-server on PATH")
    if not 0 < args.win_rate <= 1:
        raise SystemExit("error: --win-rate must be in (0, 1]")
    if min(args.rounds, args.scans, args.clients, args.per_client, args.wait_timeout_ms) < 1:
        raise SystemExit("error: --rounds, --scans, --clients, --per-client and --wait-timeout-ms must be >= 1")
    began = time.monotonic()
    stall_scans = 20
    quantity = args.rounds * len(VARIANTS) * (args.scans + WARM + args.clients * (args.per_client + WARM)) + 2 * (
        stall_scans + WARM
    )
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the servers are stopped on SIGTERM too

    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="yima-durability-", dir=args.data_dir)))
        point, device, fstype = filesystem_of(
            str(root.resolve()), Path("/proc/mounts").read_text() if Path("/proc/mounts").exists() else ""
        )
        p1 = start_server(stack, "everysec", args.port_base, root, "everysec")
        p2 = start_server(stack, "always", args.port_base + 1, root, "always")
        p3 = start_server(stack, "replicated", args.port_base + 2, root, "everysec")
        r3 = start_server(stack, "replica", args.port_base + 3, root, "everysec", replica_of=p3.port)
        wait_for_replica(p3, r3)
        for server in (p1, p2, p3):
            prepare(server, quantity)
        with p3.client() as c:
            c.wait(1, 5000)
        with p1.client() as c:
            version = str(c.info("server")["redis_version"])
        fs50, fs99 = fsync_cost(root)

        print(
            f"yima bench-durability, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {platform.node()}, "
            f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}"
        )
        print(f"redis-server {version}; AOF files under {root} on {device} ({fstype}, mounted at {point})")
        if fstype in ("tmpfs", "ramfs"):
            print("  warning: that is memory, not a disk: `always` costs next to nothing there; use --data-dir")
        print(f"fdatasync of a 256-byte append there: p50 {fs50:.2f} ms, p99 {fs99:.2f} ms")
        major, minor = (int(x) for x in version.split(".")[:2])
        if (major, minor) >= (7, 2):
            print("WAITAOF: available on this redis-server (7.2+), not measured by this bench")
        else:
            print(f"WAITAOF: not available (redis-server {version}; WAITAOF needs 7.2+)")
        print(
            f"win rate {args.win_rate}, WAIT 1 {args.wait_timeout_ms} ms; per variant and round: "
            f"{args.scans} scans from 1 client, {args.clients} × {args.per_client} from {args.clients} processes"
        )

        ports = {"everysec": p1.port, "always": p2.port, "replica": p3.port, "wait-won": p3.port, "wait-draw": p3.port}
        config = WorkerConfig(ports, make_campaign(args.win_rate), args.wait_timeout_ms)
        pool = stack.enter_context(
            multiprocessing.get_context("fork").Pool(args.clients, initializer=_init_worker, initargs=(config,))
        )
        serials = Serials()
        single = {v: Tally() for v in VARIANTS}
        many = {v: Tally() for v in VARIANTS}
        done, last_round = 0, 0.0
        for r in range(args.rounds):
            if done and time.monotonic() - began + last_round > args.max_seconds:
                print(f"(time bound: stopped after {done} of {args.rounds} rounds)")
                break
            t0 = time.monotonic()
            for variant in VARIANTS[r % len(VARIANTS) :] + VARIANTS[: r % len(VARIANTS)]:
                single[variant].add(run_phase(pool, variant, serials, 1, args.scans))
                many[variant].add(run_phase(pool, variant, serials, args.clients, args.per_client))
            done, last_round = done + 1, time.monotonic() - t0
        figures = {
            "one_client": report_phase("1 client", single, done),
            f"{args.clients}_clients": report_phase(f"{args.clients} clients (processes)", many, done),
            "replica_stopped": stalled_replica(pool, p3, r3, serials, stall_scans, args.wait_timeout_ms),
        }
        print(f"\ntook {time.monotonic() - began:.0f} s")
        print(
            json.dumps(
                _rounded(
                    {
                        "redis": version,
                        "fs": fstype,
                        "fdatasync_p50_ms": fs50,
                        "win_rate": args.win_rate,
                        "rounds": done,
                        **figures,
                    }
                )
            )
        )


if __name__ == "__main__":
    main()
