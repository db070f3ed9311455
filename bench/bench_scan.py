"""Scan-path throughput and latency against a bare Flask endpoint and a SQL-per-scan design, in one run.

    python -m bench.bench_scan [--quick] [--items 300000] [--duration 12] [--open-duration 10]
                               [--models sync:3,gthread:2x4 | none] [--tool auto|wrk|python]
                               [--layout split|shared] [--no-other-layout]
    python -m bench.bench_scan --export-codes FILE --count N      (codes for loadtests/locustfile.py)

One run, everything on 127.0.0.1 and bounded in time. Steps 3-5 run on the --layout (default split: the
app server alone on half the CPUs; the load generator, Redis and PostgreSQL pinned to the other half, as
other machines are in production; see bench/cpu_layout.py), step 6 on the other layout:

1. a temp YIMA_VAR_DIR (keys, logs, load plans), the machine's Redis in a dedicated DB number
   (--redis-url, default redis://127.0.0.1:6379/14, flushed at start and end) and a dedicated PostgreSQL
   database `yima_bench_<pid>` made from --pg-admin-url and dropped at the end (SQLite would be unfair
   to the SQL-per-scan variant);
2. keys, a brand, a product and an activated batch of --items items through the domain APIs; codes are
   signed in process with CodeSigner (inner and outer codes of the batch: 2 × --items distinct codes);
3. gunicorn with the shipped settings (`--config python:app.gunicorn_conf "app:create_app()"`),
   YIMA_BENCH_ENDPOINTS=1 and the scan rate limits and invalid-code limits off (one client IP would trip
   them), then for each of
   POST /bench/bare, POST /api/v1/scans and POST /bench/sql-scan (and, max throughput only,
   POST /bench/bare-redis: the bare endpoint plus one trivial Redis script call, the floor of any design
   that goes to Redis once per scan):
   (a) max throughput: closed loop, --connections connections for --duration s after a warm-up;
   (b) latency at half load: open loop at 50 % of that variant's own max for --open-duration s, latency
       measured from each request's scheduled send time (no coordinated omission);
   then --pairs - 1 more bare/scan max-throughput pairs, back to back; scan / bare is the median of the
   pairs' ratios, so one disturbed measurement cannot decide it;
4. the same scan measurements once more with the limits ON but set very high (the counters are the real
   production path: two INCRs in the scan script);
5. unless --models none, closed-loop scan throughput under other gunicorn worker models;
6. unless --no-other-layout, bare, floor and scan max throughput on the other layout, for comparison.

Every request body is the scan body a phone sends (code, device_id, lat/lng). The code mix is the
locustfile's: 85 % first scans of distinct genuine codes, 10 % repeats of codes scanned a moment
earlier, 5 % forged (a genuine code with its last tag symbol changed: 404 expected, counted as correct).

Closed-loop load comes from wrk (C, epoll; one thread) when it is on PATH, else from the raw-socket
client below; the open-loop load always comes from the raw-socket client (wrk cannot do constant rate).
Every figure comes with the CPU each party spent per request (app workers, Redis, PostgreSQL, the load
generator, and whatever else ran on the machine meanwhile), so a missed target says what dominated.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import http.client
import json
import os
import random
import re
import resource
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench import cpu_layout

REPO = Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
HIGH_LIMIT = 1_000_000_000

FORGED_SHARE = 0.05
REPEAT_SHARE = 0.10
REPEAT_MIN_GAP = 128  # a repeat names a code sent at least this many requests earlier (> connections)
REPEAT_WINDOW = 5000

DISTURBED = 0.10  # other processes' share of the machine's CPU above which a measurement is repeated

TARGET_SCAN_VS_BARE = 0.6
TARGET_SCAN_VS_SQL = 2.5
TARGET_P99_MS = 10.0

# Phone positions the bodies carry (the scan path turns them into a region).
POSITIONS = ((31.2304, 121.4737), (39.9042, 116.4074), (23.1291, 113.2644), (30.5728, 104.0668),
             (22.5431, 114.0579), (30.2741, 120.1551), (34.3416, 108.9398), (36.0671, 120.3826))

ENDPOINTS = {"bare": "/bench/bare", "floor": "/bench/bare-redis", "scan": "/api/v1/scans", "sql": "/bench/sql-scan"}
LABELS = {"bare": "bare Flask  POST /bench/bare", "floor": "bare + 1 Redis round trip",
          "scan": "yima scan   POST /api/v1/scans",
          "sql": "SQL-per-scan POST /bench/sql-scan", "scan_limits": "yima scan, limits ON (1e9)"}


# --- codes and load plans -----------------------------------------------------------------------------


def forge(code: str) -> str:
    """A genuine code with its last tag symbol changed: well-formed, signature fails."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


class CodeSource:
    """Distinct genuine codes of the bench batch, signed on demand: inner serials, then outer serials."""

    def __init__(self, batch_key: bytes, key_id: int, batch_id: int, items: int) -> None:
        from codegen.codeformat import CodeSigner, Role

        self.items = items
        self._signers = [CodeSigner(batch_key, role=role, key_id=key_id, batch_id=batch_id)
                         for role in (Role.INNER, Role.OUTER)]
        self.position = 0

    @property
    def capacity(self) -> int:
        return 2 * self.items

    @property
    def left(self) -> int:
        return self.capacity - self.position

    def code(self, index: int) -> str:
        return self._signers[index // self.items].code(index % self.items)


@dataclass
class Plan:
    """The request bodies of one run, in send order, and how many fresh codes each prefix uses."""

    bodies: list[bytes]
    fresh_before: list[int]  # fresh_before[k]: fresh codes among bodies[:k]
    start: int  # CodeSource position of the first fresh code


def body(code: str, i: int) -> bytes:
    lat, lng = POSITIONS[i % len(POSITIONS)]
    return json.dumps({"code": code, "device_id": f"bench-{i % 4096:04d}", "lat": lat, "lng": lng},
                      separators=(",", ":")).encode()


def make_plan(source: CodeSource, n: int, seed: int) -> Plan:
    """n bodies: 85 % fresh codes, 10 % repeats of earlier fresh codes of this plan, 5 % forged."""
    rnd = random.Random(seed)
    start = source.position
    fresh: list[str] = []
    bodies: list[bytes] = []
    fresh_before: list[int] = []
    for i in range(n):
        fresh_before.append(len(fresh))
        r = rnd.random()
        if r < FORGED_SHARE and fresh:
            code = forge(fresh[rnd.randrange(max(0, len(fresh) - REPEAT_WINDOW), len(fresh))])
        elif r < FORGED_SHARE + REPEAT_SHARE and len(fresh) > REPEAT_MIN_GAP:
            code = fresh[rnd.randrange(max(0, len(fresh) - REPEAT_WINDOW), len(fresh) - REPEAT_MIN_GAP)]
        elif source.position < source.capacity:
            code = source.code(source.position)
            source.position += 1
            fresh.append(code)
        else:  # out of codes: the run becomes repeats (reported as "wrapped")
            code = fresh[rnd.randrange(len(fresh))] if fresh else source.code(0)
        bodies.append(body(code, i))
    fresh_before.append(len(fresh))
    return Plan(bodies, fresh_before, start)


def give_back(source: CodeSource, plan: Plan, sent: int) -> None:
    """Return the fresh codes of the unsent tail of a plan to the source."""
    source.position = plan.start + plan.fresh_before[min(max(sent, 0), len(plan.bodies))]


# --- CPU accounting -----------------------------------------------------------------------------------


def _proc_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def _children(pid: int) -> list[int]:
    out: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as fh:
                out.extend(int(x) for x in fh.read().split())
    return out


def _tree(pid: int) -> list[int]:
    out, todo = [pid], [pid]
    while todo and len(out) < 1000:
        for child in _children(todo.pop()):
            out.append(child)
            todo.append(child)
    return out


def _named_cpu(name: str) -> float:
    total = 0.0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/comm") as fh:
                    if fh.read().strip() != name:
                        continue
            except OSError:
                continue
            total += _proc_cpu(int(entry.name))
    return total


def _machine_busy() -> float:
    with open("/proc/stat") as fh:
        parts = [int(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + (parts[4] if len(parts) > 4 else 0)
    return (sum(parts[:8]) - idle) / CLK_TCK


def _self_and_children_cpu() -> tuple[float, float]:
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


@dataclass
class CpuMeter:
    """CPU seconds spent by each party between start() and stop()."""

    server_pid: int
    redis_pid: int | None

    def _snap(self) -> dict[str, float]:
        me, kids = _self_and_children_cpu()
        return {
            "t": time.perf_counter(),
            "app": sum(_proc_cpu(p) for p in _tree(self.server_pid)),
            "redis": _proc_cpu(self.redis_pid) if self.redis_pid else 0.0,
            "pg": _named_cpu("postgres"),
            "self": me,
            "children": kids,
            "busy": _machine_busy(),
        }

    def start(self) -> None:
        self._a = self._snap()

    def stop(self) -> dict[str, float]:
        b = self._snap()
        d = {k: b[k] - self._a[k] for k in b}
        loadgen = d["self"] + d["children"]
        accounted = d["app"] + d["redis"] + d["pg"] + loadgen
        return {"seconds": d["t"], "app": d["app"], "redis": d["redis"], "pg": d["pg"], "loadgen": loadgen,
                "other": max(0.0, d["busy"] - accounted), "busy": d["busy"]}


# --- results ------------------------------------------------------------------------------------------


@dataclass
class LoadResult:
    tool: str
    mode: str  # "closed" | "open"
    seconds: float
    requests: int  # completed within the window
    sent: int
    latencies_ms: dict[str, float]  # p50, p90, p99, max
    statuses: dict[str, int]
    socket_errors: int
    wrapped: bool = False
    target_rate: float | None = None
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def bad(self) -> int:
        """Answers that are neither 200 nor the expected 404 of a forged code, plus socket errors."""
        return self.socket_errors + sum(n for s, n in self.statuses.items() if s not in ("200", "404"))

    @property
    def other_share(self) -> float:
        """CPU used by processes outside the benchmark, as a share of all the machine's cores."""
        return self.cpu.get("other", 0.0) / (self.cpu.get("seconds", 0.0) * NCPU or 1.0)

    def cpu_us(self, party: str) -> float:
        return 1e6 * self.cpu.get(party, 0.0) / self.requests if self.requests else 0.0

    def as_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "mode": self.mode, "seconds": round(self.seconds, 2), "requests": self.requests,
            "rps": round(self.rps, 1), **{f"{k}_ms": round(v, 2) for k, v in self.latencies_ms.items()},
            "statuses": self.statuses, "bad": self.bad, "wrapped": self.wrapped,
            **({"target_rate": round(self.target_rate, 1)} if self.target_rate else {}),
            "cpu_us_per_req": {k: round(self.cpu_us(k), 1) for k in ("app", "redis", "pg", "loadgen", "other")},
            "other_pct": round(100 * self.other_share, 1),
        }


def percentiles(samples: list[float]) -> dict[str, float]:
    if not samples:
        return {"p50": float("nan"), "p90": float("nan"), "p99": float("nan"), "max": float("nan")}
    s = sorted(samples)

    def rank(q: float) -> float:
        return s[min(len(s) - 1, max(0, int(q * len(s) + 0.999999) - 1))]

    return {"p50": rank(0.50), "p90": rank(0.90), "p99": rank(0.99), "max": s[-1]}


# --- the raw-socket load generator ----------------------------------------------------------------------

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)


class _Conn:
    __slots__ = ("buf", "fd", "out", "req", "reused", "sock", "t0")

    def __init__(self, sock: socket.socket, t0: float, req: bytes, sent: int, reused: bool) -> None:
        self.sock, self.fd, self.t0, self.req, self.out = sock, sock.fileno(), t0, req, req[sent:]
        self.buf, self.reused = b"", reused


class RawHttpLoad:
    """HTTP/1.1 POSTs from one thread over raw non-blocking sockets and epoll.

    Keep-alive is used when the server allows it (gthread, gevent), else one connection per request
    (gunicorn sync closes every connection). Closed loop: `connections` requests always in flight.
    Open loop (`rate`): request k is due at start + k/rate whatever happened before; its latency runs
    from that due time, so a stalled server is charged for the requests it made wait.
    """

    def __init__(self, port: int, path: str, bodies: Sequence[bytes]) -> None:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: ").encode()
        self._reqs = [head + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]
        self._addr = ("127.0.0.1", port)

    def run(self, duration: float, *, connections: int = 32, rate: float | None = None,
            max_connections: int = 512, timeout: float = 5.0, drain: float = 3.0) -> LoadResult:
        reqs, nreq = self._reqs, len(self._reqs)
        ep = select.epoll()
        conns: dict[int, _Conn] = {}
        idle: list[socket.socket] = []
        waiting: deque[float] = deque()
        lat: list[float] = []
        statuses: Counter[str] = Counter()
        sock_errors = 0
        sent = 0
        done_in_window = 0
        clock = time.perf_counter
        start = clock()
        end = start + duration
        interval = 1.0 / rate if rate else 0.0
        scheduled = 0  # open loop: requests whose due time has come

        def launch(t0: float, out: bytes | None = None) -> None:
            """Send a request: the next of the plan, or `out` again on a new connection (a kept-alive
            connection the server had closed meanwhile is not the server's error)."""
            nonlocal sent, sock_errors
            if out is None:
                out = reqs[sent % nreq]
                sent += 1
                while idle:
                    sock = idle.pop()
                    try:
                        n = sock.send(out)
                    except OSError:
                        sock.close()
                        continue
                    conn = _Conn(sock, t0, out, n, True)
                    conns[conn.fd] = conn
                    ep.register(conn.fd, select.EPOLLOUT if conn.out else select.EPOLLIN)
                    return
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            rc = sock.connect_ex(self._addr)
            if rc not in (0, errno.EINPROGRESS):
                sock.close()
                sock_errors += 1
                return
            conn = _Conn(sock, t0, out, 0, False)
            conns[conn.fd] = conn
            ep.register(conn.fd, select.EPOLLOUT)

        def finish(conn: _Conn, ok: bool, keep: bool) -> None:
            del conns[conn.fd]
            ep.unregister(conn.fd)
            if ok and keep:
                idle.append(conn.sock)
            else:
                conn.sock.close()

        def next_request(now: float) -> None:
            if rate is None:
                if now < end:
                    launch(now)
            elif waiting:
                launch(waiting.popleft())

        last_sweep = start
        while True:
            now = clock()
            if rate is not None:
                while now < end and start + scheduled * interval <= now:
                    due = start + scheduled * interval
                    scheduled += 1
                    if len(conns) < max_connections:
                        launch(due)
                    else:
                        waiting.append(due)
                if now >= end and not conns and not waiting:
                    break
                wait = min(start + scheduled * interval, end) - now if now < end else 0.05
            else:
                if sent == 0:
                    for _ in range(connections):
                        launch(now)
                if now >= end:
                    break
                wait = end - now
            if now >= end + drain:
                break
            for fd, ev in ep.poll(max(0.0, min(wait, 0.05))):
                conn = conns.get(fd)
                if conn is None:
                    continue
                try:
                    if conn.out:
                        if ev & (select.EPOLLERR | select.EPOLLHUP):
                            raise ConnectionError
                        n = conn.sock.send(conn.out)
                        conn.out = conn.out[n:]
                        if not conn.out:
                            ep.modify(fd, select.EPOLLIN)
                        continue
                    data = conn.sock.recv(65536)
                    if not data:
                        raise ConnectionError
                except (OSError, ConnectionError):
                    finish(conn, False, False)
                    if conn.reused and not conn.buf:
                        launch(conn.t0, conn.req)
                        continue
                    sock_errors += 1
                    next_request(clock())
                    continue
                conn.buf += data
                buf = conn.buf
                head_end = buf.find(b"\r\n\r\n")
                if head_end < 0:
                    continue
                head = buf[:head_end]
                m = _CONTENT_LENGTH.search(head)
                if m is not None and len(buf) < head_end + 4 + int(m.group(1)):
                    continue
                t = clock()
                if t <= end or rate is not None:
                    lat.append(t - conn.t0)
                    statuses[buf[9:12].decode()] += 1
                    if t <= end:
                        done_in_window += 1
                finish(conn, True, _CLOSE.search(head) is None)
                next_request(t)
            if now - last_sweep > 0.25:
                last_sweep = now
                for conn in [c for c in conns.values() if now - c.t0 > timeout]:
                    finish(conn, False, False)
                    sock_errors += 1
                    next_request(now)
        leftover = len(conns)
        for conn in list(conns.values()):
            finish(conn, False, False)
        if rate is not None:  # open loop: what is still unanswered after the drain timed out
            sock_errors += leftover + len(waiting)
        for sock in idle:
            sock.close()
        ep.close()
        return LoadResult(
            tool="python-raw", mode="open" if rate else "closed", seconds=duration,
            requests=len(lat) if rate else done_in_window, sent=sent,
            latencies_ms=percentiles([x * 1000 for x in lat]), statuses=dict(statuses),
            socket_errors=sock_errors, wrapped=sent > nreq, target_rate=rate,
        )


# --- wrk ------------------------------------------------------------------------------------------------

WRK_LUA = r"""
-- yima bench: POST pre-built bodies from a file in order (one JSON body a line), count statuses.
-- args: <bodies file> <path> <threads>
local threads = {}
local counter = 0
function setup(thread)
  thread:set("tid", counter)
  counter = counter + 1
  table.insert(threads, thread)
end
function init(args)
  local path, nthreads = args[2], tonumber(args[3])
  reqs, n = {}, 0
  local k = 0
  for line in io.lines(args[1]) do
    if k % nthreads == tid then
      n = n + 1
      reqs[n] = wrk.format("POST", path, {["Content-Type"] = "application/json"}, line)
    end
    k = k + 1
  end
  i, sent, wraps, statuses = 0, 0, 0, {}
end
function request()
  i = i + 1
  if i > n then i, wraps = 1, wraps + 1 end
  sent = sent + 1
  return reqs[i]
end
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end
function done(summary, latency, requests)
  local st, sent_all, wraps_all = {}, 0, 0
  for _, t in ipairs(threads) do
    for code, c in pairs(t:get("statuses")) do st[code] = (st[code] or 0) + c end
    sent_all = sent_all + t:get("sent")
    wraps_all = wraps_all + t:get("wraps")
  end
  local parts = {}
  for code, c in pairs(st) do table.insert(parts, string.format('"%d":%d', code, c)) end
  local e = summary.errors
  io.write(string.format(
    'BENCHJSON {"requests":%d,"duration_us":%d,"sent":%d,"wraps":%d,' ..
    '"p50":%d,"p90":%d,"p99":%d,"max":%d,"socket_errors":%d,"statuses":{%s}}\n',
    summary.requests, summary.duration, sent_all, wraps_all,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max,
    e.connect + e.read + e.write + e.timeout, table.concat(parts, ",")))
end
"""


def run_wrk(workdir: Path, port: int, path: str, bodies: Sequence[bytes], duration: float, connections: int,
            threads: int = 1) -> LoadResult:
    script = workdir / "bench.lua"
    if not script.exists():
        script.write_text(WRK_LUA)
    plan_file = workdir / "plan.jsonl"
    plan_file.write_bytes(b"\n".join(bodies) + b"\n")
    cmd = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration))}s", "--timeout", "5s",
           "-s", str(script), f"http://127.0.0.1:{port}{path}", "--", str(plan_file), path, str(threads)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 30)
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BENCHJSON ")), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stdout[-800:]} {proc.stderr[-800:]}")
    doc = json.loads(line.split(" ", 1)[1])
    # Requests that sit in a socket when wrk stops are not counted, so neither are their statuses.
    counted = sum(doc["statuses"].values())
    return LoadResult(
        tool="wrk", mode="closed", seconds=doc["duration_us"] / 1e6, requests=doc["requests"], sent=doc["sent"],
        latencies_ms={k: doc[k] / 1000 for k in ("p50", "p90", "p99", "max")},
        statuses={k: v for k, v in doc["statuses"].items()},
        socket_errors=doc["socket_errors"] + max(0, doc["requests"] - counted), wrapped=doc["wraps"] > 0,
    )


# --- the server -----------------------------------------------------------------------------------------


def free_port() -> int:
    """A free port below the ephemeral range: the load's own outgoing connections (thousands per second,
    each from an ephemeral port) cannot take it between this check and gunicorn's bind."""
    low, high = 20_000, 32_000
    with contextlib.suppress(OSError, ValueError):
        low = min(low, int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0]) - 2000)
    for _ in range(200):
        port = random.randrange(max(1025, low), high)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free TCP port on 127.0.0.1")


@dataclass(frozen=True)
class Model:
    """A gunicorn worker model: sync:W, gthread:WxT, gevent:WxC; `shipped` = app/gunicorn_conf.py alone."""

    spec: str

    def args(self) -> list[str]:
        if self.spec == "shipped":
            return []
        kind, _, size = self.spec.partition(":")
        workers, _, per = size.partition("x")
        out = ["--worker-class", kind, "--workers", workers]
        if kind == "gthread":
            out += ["--threads", per or "4"]
        elif kind == "gevent":
            out += ["--worker-connections", per or "100"]
        elif kind != "sync":
            raise ValueError(f"unknown worker model {self.spec!r}")
        return out

    def workers(self, shipped_workers: int) -> int:
        return shipped_workers if self.spec == "shipped" else int(self.spec.partition(":")[2].partition("x")[0])


class Server:
    """gunicorn with the shipped config (+ model flags), in its own session; always killed in stop()."""

    def __init__(self, env: dict[str, str], log: Path, model: Model, shipped_workers: int,
                 cpus: frozenset[int] | None = None) -> None:
        self.env, self.log, self.model, self.cpus = env, log, model, cpus
        self.port = free_port()
        self.workers = model.workers(shipped_workers)
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> None:
        gunicorn = shutil.which("gunicorn", path=os.path.dirname(sys.executable)) or "gunicorn"
        cmd = [gunicorn, "--config", "python:app.gunicorn_conf", "--bind", f"127.0.0.1:{self.port}",
               *self.model.args(), "app:create_app()"]
        cpus = self.cpus
        with open(self.log, "ab") as fh:
            self.proc = subprocess.Popen(cmd, env=self.env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True,
                                         preexec_fn=(lambda: os.sched_setaffinity(0, cpus)) if cpus else None)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}); log:\n{self.log_tail()}")
            if len(_children(self.proc.pid)) >= self.workers and self._healthy():
                # Every worker has booted and one answers; give the others their app import time.
                time.sleep(1.0)
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not come up in {timeout:.0f} s; log:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
        try:
            conn.request("GET", "/healthz")
            return conn.getresponse().status == 200
        except OSError:
            return False
        finally:
            conn.close()

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)


# --- the bench environment ------------------------------------------------------------------------------


@dataclass
class BenchEnv:
    workdir: Path
    env: dict[str, str]
    source: CodeSource
    redis_pid: int | None
    pg_version: str
    db_name: str
    batch_id: int
    shipped_workers: int
    shipped_class: str


@contextlib.contextmanager
def bench_environment(args: argparse.Namespace) -> Iterator[BenchEnv]:
    """Temp var dir, Redis DB flushed, PostgreSQL database created, batch made; all undone on exit."""
    from app import bench_views, gunicorn_conf
    from app.config import load_config
    from app.runtime import connect_database
    from codegen import batches, keys
    from codegen.db import transaction

    workdir = Path(tempfile.mkdtemp(prefix="yima-bench-scan-"))
    rds = redis.Redis.from_url(args.redis_url, socket_timeout=10)
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    db_name = f"yima_bench_{os.getpid()}"
    created_db = False
    db = None
    try:
        rds.ping()
        rds.flushdb()
        with admin.connect() as conn:
            pg_version = str(conn.scalar(text("SHOW server_version")))
            for stale in conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE 'yima_bench_%'")):
                pid = stale.rsplit("_", 1)[-1]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # left by a run that was killed
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            created_db = True
        db_url = make_url(args.pg_admin_url).set(database=db_name).render_as_string(hide_password=False)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("YIMA_", "DATABASE_URL", "REDIS_URL"))}
        env.update({
            "YIMA_VAR_DIR": str(workdir / "var"),
            "DATABASE_URL": db_url,
            "REDIS_URL": args.redis_url,
            "YIMA_BENCH_ENDPOINTS": "1",
            "YIMA_SCAN_LIMIT_IP": "0",
            "YIMA_SCAN_LIMIT_DEVICE": "0",
            # 5 % of the bodies are forged, all from one client address: the enumeration floor would block
            # it after 30 and every later answer would be a cheap 429.
            "YIMA_INVALID_LIMIT_IP": "0",
            "YIMA_INVALID_LIMIT_DEVICE": "0",
            "YIMA_SECRET_KEY": "bench-" + os.urandom(16).hex(),
            "PYTHONDONTWRITEBYTECODE": "1",
        })
        cfg = load_config(env)
        db = connect_database(cfg)
        bench_views.ensure_tables(db.engine)
        ring, _ = keys.init_keyring(cfg.keys_file)
        keys.save_public_keys(cfg.hq_public_file, ring)
        with transaction(db.sessions) as session:
            brand = batches.add_brand(session, "bench", "Bench Brewery", "https://q.bench.example")
            batches.add_product(session, brand, "BENCH-500", "Bench Lager 500ml", "6901234567892")
            req = batches.BatchRequest(sku="BENCH-500", lot="BENCH-L1", count=args.items, pack=24,
                                       factory="Bench", line="1", production_date=date.today())
            batch = batches.create_batch(session, brand, req, key_id=ring.current, max_count=cfg.max_batch_count)
            batches.activate(session, rds, batch.id, None)
            batch_id, key_id = batch.id, batch.key_id
        db.engine.dispose()
        source = CodeSource(ring.batch_key(key_id, batch_id), key_id, batch_id, args.items)
        try:
            redis_pid: int | None = int(rds.info("server")["process_id"])
            if not Path(f"/proc/{redis_pid}").exists():
                redis_pid = None
        except (redis.RedisError, KeyError, ValueError):
            redis_pid = None
        yield BenchEnv(workdir, env, source, redis_pid, pg_version, db_name, batch_id,
                       int(getattr(gunicorn_conf, "workers", 1)), str(getattr(gunicorn_conf, "worker_class", "sync")))
    finally:
        if db is not None:
            db.engine.dispose()
        if created_db:
            with contextlib.suppress(Exception), admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        with contextlib.suppress(redis.RedisError):
            rds.flushdb()
        rds.close()
        shutil.rmtree(workdir, ignore_errors=True)


# --- measuring ------------------------------------------------------------------------------------------


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

    def _bodies(self, variant: str, n: int) -> tuple[Plan | None, list[bytes]]:
        if variant in ("bare", "floor"):  # these keep no state: one fixed plan serves every run
            if self._bare_bodies is None:
                position = self.benv.source.position
                self._bare_bodies = make_plan(self.benv.source, min(n, 50_000), seed=1).bodies
                self.benv.source.position = position  # bare scans nothing: its codes stay fresh
            return None, self._bare_bodies
        self._seed += 1
        plan = make_plan(self.benv.source, n, seed=1000 + self._seed)
        return plan, plan.bodies

    def load(self, server: Server, variant: str, duration: float, *, rate: float | None = None,
             tool: str | None = None, label: str = "") -> LoadResult:
        """A measured run; repeated once if other processes took more than DISTURBED of the machine's CPU
        meanwhile (while --retry-seconds lasts). The less disturbed of the two is kept."""
        result = self._load(server, variant, duration, rate=rate, tool=tool)
        if label and result.other_share > DISTURBED and self.retry_seconds >= duration:
            self.retry_seconds -= duration + (self.args.warmup if rate is None else 0.0)
            self.retried.append(f"{label} ({100 * result.other_share:.0f} % other)")
            print(f"  {label}: other processes used {100 * result.other_share:.0f} % of the CPU; measuring again",
                  flush=True)
            if rate is None and self.args.warmup > 0:
                self._load(server, variant, self.args.warmup)
            again = self._load(server, variant, duration, rate=rate, tool=tool)
            result = min(result, again, key=lambda r: r.other_share)
        return result

    def _load(self, server: Server, variant: str, duration: float, *, rate: float | None = None,
              tool: str | None = None) -> LoadResult:
        """One measured run (closed loop unless `rate`), with CPU accounting around it."""
        n = int((rate or self.rate_hint * 1.3) * duration) + 2 * self.args.connections + 100
        plan, bodies = self._bodies(variant, n)
        meter = CpuMeter(server.proc.pid if server.proc else 0, self.benv.redis_pid)
        path = ENDPOINTS[variant]
        use_wrk = rate is None and (tool == "wrk" or (tool is None and self.use_wrk))
        meter.start()
        if use_wrk:
            result = run_wrk(self.benv.workdir, server.port, path, bodies, duration, self.args.connections)
        else:
            result = RawHttpLoad(server.port, path, bodies).run(duration, connections=self.args.connections,
                                                                rate=rate)
        result.cpu = meter.stop()
        if plan is not None:
            give_back(self.benv.source, plan, result.sent + self.args.connections)
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

    def server(self, model: Model, limits: int = 0) -> Server:
        env = dict(self.benv.env)
        env["YIMA_SCAN_LIMIT_IP"] = env["YIMA_SCAN_LIMIT_DEVICE"] = str(limits)
        log = self.benv.workdir / f"gunicorn-{model.spec.replace(':', '-')}-{limits}.log"
        return Server(env, log, model, self.benv.shipped_workers, self.app_cpus)


def event_mix(redis_url: str, batch_id: int, last: int = 3000) -> dict[str, int]:
    """Kinds of the last scan events in the batch's stream: proves the mix really was first/repeat."""
    from codegen.batch_state import events_key

    rds = redis.Redis.from_url(redis_url)
    try:
        rows = rds.xrevrange(events_key(batch_id), count=last)
        return dict(Counter(fields[b"kind"].decode() for _id, fields in rows))
    finally:
        rds.close()


# --- report ---------------------------------------------------------------------------------------------


def _ms(v: float) -> str:
    return f"{v:7.2f}" if v == v else "    n/a"


def _row(label: str, mx: LoadResult, half: LoadResult | None) -> str:
    cpu = " ".join(f"{mx.cpu_us(k):5.0f}" for k in ("app", "redis", "pg", "loadgen"))
    other = 100 * mx.cpu.get("other", 0.0) / (mx.cpu.get("seconds", 1.0) * NCPU)
    s = f"{label:<32} {mx.rps:8.0f} {_ms(mx.latencies_ms['p50'])} {_ms(mx.latencies_ms['p99'])} {mx.bad:5d} |"
    if half is not None:
        s += (f" {half.target_rate or 0:6.0f} {half.rps:6.0f} {_ms(half.latencies_ms['p50'])}"
              f" {_ms(half.latencies_ms['p99'])} {half.bad:5d} |")
    else:
        s += " " * 38 + "|"
    return s + f" {cpu}  {other:4.0f}%"


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def report(benv: BenchEnv, args: argparse.Namespace, tool: str, layout: cpu_layout.Layout,
           res: dict[str, LoadResult], half: dict[str, LoadResult], pairs: list[tuple[LoadResult, LoadResult]],
           models: list[tuple[str, dict[str, LoadResult]]],
           other: tuple[cpu_layout.Layout, dict[str, LoadResult]] | None, mix: dict[str, int],
           retried: list[str]) -> dict[str, Any]:
    scan, bare, sql = res["scan"], res["bare"], res["sql"]
    r_bare = statistics.median([s.rps / b.rps for b, s in pairs if b.rps] or [0.0])
    r_sql = scan.rps / sql.rps if sql.rps else float("inf")
    p99_half = half["scan"].latencies_ms["p99"]
    targets = {
        "scan_vs_bare": {"value": round(r_bare, 3), "target": TARGET_SCAN_VS_BARE,
                         "pass": r_bare >= TARGET_SCAN_VS_BARE},
        "scan_vs_sql": {"value": round(r_sql, 2), "target": TARGET_SCAN_VS_SQL, "pass": r_sql >= TARGET_SCAN_VS_SQL},
        "scan_p99_at_half_ms": {"value": round(p99_half, 2), "target": TARGET_P99_MS,
                                "pass": p99_half <= TARGET_P99_MS},
    }
    if "scan_limits" in res:
        rl = res["scan_limits"]
        targets["limits_on_scan_vs_bare"] = {"value": round(rl.rps / bare.rps, 3), "target": TARGET_SCAN_VS_BARE,
                                             "pass": rl.rps / bare.rps >= TARGET_SCAN_VS_BARE}
        if "scan_limits" in half:
            p = half["scan_limits"].latencies_ms["p99"]
            targets["limits_on_p99_at_half_ms"] = {"value": round(p, 2), "target": TARGET_P99_MS,
                                                   "pass": p <= TARGET_P99_MS}
    model_desc = f"gunicorn {benv.shipped_class}, {benv.shipped_workers} workers (app/gunicorn_conf.py as shipped)"
    print()
    print(f"yima scan benchmark: {model_desc}, 127.0.0.1, {NCPU} CPUs")
    print(f"  layout {layout.describe()}")
    print(f"  Redis {args.redis_url}, PostgreSQL {benv.pg_version} database {benv.db_name}; batch of "
          f"{args.items:,} items ({benv.source.capacity:,} codes, {benv.source.position:,} used)")
    print(f"  max = closed loop, {tool}, {args.connections} connections, {args.duration:g} s after {args.warmup:g} s "
          f"warm-up; @50% = open loop (python-raw), 50 % of the row's own max, {args.open_duration:g} s, latency "
          f"from the scheduled send time")
    print("  bodies: 85 % first scans of distinct codes, 10 % repeats, 5 % forged (404 expected, not an error);"
          " bad = any other status or socket error")
    print()
    print(f"{'variant':<32} {'max r/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'bad':>5} |"
          f" {'rate':>6} {'r/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'bad':>5} | CPU us/req at max:"
          f"  app redis    pg  load other")
    for key in ("bare", "floor", "scan", "sql", "scan_limits"):
        if key in res:
            print(_row(LABELS[key], res[key], half.get(key)))
    print()
    if mix:
        total = sum(mix.values())
        print("  last scan events in the Redis stream: " + ", ".join(
            f"{k} {100 * v / total:.0f} %" for k, v in sorted(mix.items())))
    print(f"  scan / bare    = {r_bare:5.2f}   (target >= {TARGET_SCAN_VS_BARE}: "
          f"{_verdict(targets['scan_vs_bare']['pass'])}; median of {len(pairs)} back-to-back pairs: "
          + ", ".join(f"{s.rps:.0f}/{b.rps:.0f} = {s.rps / b.rps:.2f}" for b, s in pairs if b.rps) + ")")
    print(f"  scan / SQL     = {r_sql:5.2f}   (target >= {TARGET_SCAN_VS_SQL}: "
          f"{_verdict(targets['scan_vs_sql']['pass'])})")
    print(f"  scan p99 @50%  = {p99_half:5.2f} ms (target <= {TARGET_P99_MS:g} ms: "
          f"{_verdict(targets['scan_p99_at_half_ms']['pass'])})")
    if "floor" in res and res["floor"].rps:
        fl = res["floor"].rps
        print(f"  floor / bare   = {fl / bare.rps:5.2f}   (what one trivial Redis round trip costs the bare endpoint); "
              f"scan / floor = {scan.rps / fl:5.2f}")
    if "limits_on_scan_vs_bare" in targets:
        t = targets["limits_on_scan_vs_bare"]
        line = f"  limits ON: scan / bare = {t['value']:5.2f} ({_verdict(t['pass'])})"
        if "limits_on_p99_at_half_ms" in targets:
            p = targets["limits_on_p99_at_half_ms"]
            line += f", p99 @50% = {p['value']:.2f} ms ({_verdict(p['pass'])})"
        print(line)
    if models:
        print()
        print(f"worker models (closed loop, {tool}; the shipped row is the table above, the others "
              f"{args.model_duration:g} s each):")
        print(f"  {'model':<18} {'bare r/s':>8} {'scan r/s':>8} {'scan/bare':>9} {'scan p50':>8} {'scan p99':>8}"
              f" {'app us/scan':>11} {'other':>5}")
        for spec, pair in models:
            if not pair:
                continue
            b, r = pair["bare"], pair["scan"]
            print(f"  {spec:<18} {b.rps:8.0f} {r.rps:8.0f} {r.rps / b.rps if b.rps else 0:9.2f}"
                  f" {_ms(r.latencies_ms['p50'])} ms {_ms(r.latencies_ms['p99'])} ms {r.cpu_us('app'):8.0f}"
                  f"    {100 * max(b.other_share, r.other_share):3.0f} %")
    other_doc: dict[str, Any] = {}
    if other is not None and other[1]:
        o_layout, pair = other
        b, r = pair["bare"], pair["scan"]
        o_ratio = r.rps / b.rps if b.rps else 0.0
        f_ratio = pair["floor"].rps / b.rps if "floor" in pair and b.rps else 0.0
        other_doc = {"layout": o_layout.name, "scan_vs_bare": round(o_ratio, 3), "floor_vs_bare": round(f_ratio, 3),
                     **{v: x.as_json() for v, x in pair.items()}}
        print()
        print(f"other layout, {o_layout.describe()} (closed loop, {tool}, {args.duration:g} s each):")
        print(f"  bare {b.rps:6.0f} r/s (app {b.cpu_us('app'):4.0f} us/req)   scan {r.rps:6.0f} r/s "
              f"(app {r.cpu_us('app'):4.0f}, redis {r.cpu_us('redis'):3.0f} us/req)   scan / bare = {o_ratio:5.2f}"
              f"   (for comparison; the targets above are judged on the {layout.name} layout)")
        if f_ratio:
            print(f"  bare + 1 Redis round trip {pair['floor'].rps:6.0f} r/s: floor / bare = {f_ratio:5.2f}")
    if retried:
        print(f"  repeated because other processes were busy: {'; '.join(retried)}")
    doc = {
        "bench": "scan", "server": model_desc, "cpus": NCPU, "layout": layout.name, "tool": tool,
        "connections": args.connections,
        "items": args.items,
        "max": {k: v.as_json() for k, v in res.items()},
        "half": {k: v.as_json() for k, v in half.items()},
        "pairs": [{"bare": b.as_json(), "scan": s.as_json()} for b, s in pairs],
        "ratios": {"scan_vs_bare": round(r_bare, 3), "scan_vs_sql": round(r_sql, 2),
                   **({"floor_vs_bare": round(res["floor"].rps / bare.rps, 3)} if "floor" in res and bare.rps else {})},
        "targets": targets,
        "models": {spec: {v: r.as_json() for v, r in pair.items()} for spec, pair in models},
        "other_layout": other_doc,
        "repeated": retried,
        "event_mix": mix,
    }
    print()
    print(json.dumps(doc, separators=(",", ":")))
    return doc


# --- main -----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    with bench_environment(args) as benv:
        bench = Bench(benv, args)
        tool = "wrk" if bench.use_wrk else "python-raw"
        print(f"setup done: batch {benv.batch_id} of {args.items:,} items, database {benv.db_name}, "
              f"closed-loop tool {tool}", flush=True)
        res: dict[str, LoadResult] = {}
        half: dict[str, LoadResult] = {}
        shipped = Model("shipped")

        def step(label: str, fn: Callable[[str], LoadResult]) -> LoadResult:
            t = time.perf_counter()
            r = fn(label)
            print(f"  {label:<36} {r.rps:7.0f} r/s  p50 {r.latencies_ms['p50']:6.2f} ms  "
                  f"p99 {r.latencies_ms['p99']:6.2f} ms  bad {r.bad}  other {100 * r.other_share:3.0f} %"
                  f"  ({time.perf_counter() - t:.0f} s)", flush=True)
            return r

        def measure(server: Server, key: str, variant: str, label: str) -> None:
            res[key] = step(f"{label}: max", lambda lb: bench.max_throughput(server, variant, args.duration, lb))
            rate = max(10.0, res[key].rps / 2)
            half[key] = step(f"{label}: open loop {rate:.0f}/s",
                             lambda lb: bench.load(server, variant, args.open_duration, rate=rate, label=lb))

        def max_pair(model: Model, label: str, duration: float,
                     variants: tuple[str, ...] = ("bare", "scan")) -> dict[str, LoadResult]:
            """Closed-loop bare and scan throughput of one more server (and the round-trip floor, if asked)."""
            server = bench.server(model)
            try:
                server.start()
                return {v: step(f"{label}: {v} max", lambda lb, v=v: bench.max_throughput(server, v, duration, lb))
                        for v in variants}
            except RuntimeError as exc:
                print(f"  {label}: skipped ({str(exc).splitlines()[0]})", flush=True)
                return {}
            finally:
                server.stop()

        pairs: list[tuple[LoadResult, LoadResult]] = []
        layout = cpu_layout.plan(args.layout)
        why_not = cpu_layout.unusable(layout, benv.redis_pid)
        if why_not:
            print(f"layout {layout.name} unavailable ({why_not}): measuring the shared layout", flush=True)
            layout = cpu_layout.plan("shared")
        print(f"layout {layout.describe()}", flush=True)
        bench.app_cpus = layout.server_cpus
        with cpu_layout.pinned(layout, benv.redis_pid):
            server = bench.server(shipped, limits=0)
            try:
                server.start()
                for v in ("bare", "scan", "sql"):
                    measure(server, v, v, v)
                    if v == "bare":
                        res["floor"] = step("floor: max", lambda lb: bench.max_throughput(server, "floor",
                                                                                          args.duration, lb))
                # More bare/scan pairs back to back: the ratio is their median, so one disturbed run
                # cannot decide it.
                pairs.append((res["bare"], res["scan"]))
                for k in range(2, args.pairs + 1):
                    again = [step(f"pair {k}: {v} max", lambda lb, v=v: bench.max_throughput(server, v, args.duration,
                                                                                             lb))
                             for v in ("bare", "scan")]
                    pairs.append((again[0], again[1]))
                mix = event_mix(args.redis_url, benv.batch_id)
            finally:
                server.stop()

            if not args.no_limits_run:
                server = bench.server(shipped, limits=HIGH_LIMIT)
                try:
                    server.start()
                    measure(server, "scan_limits", "scan", "scan, limits on")
                finally:
                    server.stop()

            models: list[tuple[str, dict[str, LoadResult]]] = []
            if args.models:
                models.append((f"shipped {benv.shipped_class}:{benv.shipped_workers}",
                               {"bare": res["bare"], "scan": res["scan"]}))
            for spec in args.models:
                models.append((spec, max_pair(Model(spec), f"model {spec}", args.model_duration)))

        # The same server on the other layout, so both figures come from this one run.
        other: tuple[cpu_layout.Layout, dict[str, LoadResult]] | None = None
        second = cpu_layout.plan("shared" if layout.name == "split" else "split")
        if not args.no_other_layout and not cpu_layout.unusable(second, benv.redis_pid):
            bench.app_cpus = second.server_cpus
            with cpu_layout.pinned(second, benv.redis_pid):
                other = (second, max_pair(shipped, f"layout {second.name}", args.duration, ("bare", "floor", "scan")))

        doc = report(benv, args, tool, layout, res, half, pairs, models, other, mix, bench.retried)
    missed = [k for k, t in doc["targets"].items() if not t["pass"]]
    return 1 if args.strict and missed else 0


def export_codes(path: Path, count: int) -> int:
    """A fresh activated batch of the demo product in the configured environment (DATABASE_URL, REDIS_URL,
    YIMA_VAR_DIR, as `yima run` uses), and its inner codes, one a line, for loadtests/locustfile.py."""
    from app.config import load_config
    from app.runtime import connect_database, connect_redis
    from app.seed import DEMO_BRAND, DEMO_SKU, seed_demo
    from codegen import batches, keys
    from codegen.codeformat import CodeSigner, Role
    from codegen.db import transaction

    cfg = load_config()
    db = connect_database(cfg)
    rds = connect_redis(cfg)
    try:
        seed_demo(cfg, db, rds)
        ring = keys.load_keyring(cfg.keys_file)
        with transaction(db.sessions) as session:
            brand = batches.resolve_brand(session, DEMO_BRAND)
            req = batches.BatchRequest(sku=DEMO_SKU, lot=f"LOAD-{time.strftime('%Y%m%d-%H%M%S')}-{count}",
                                       count=count, pack=24, factory="Load test", line="1",
                                       production_date=date.today())
            batch = batches.create_batch(session, brand, req, key_id=ring.current, max_count=cfg.max_batch_count)
            batches.activate(session, rds, batch.id, None)
            batch_id, key_id = batch.id, batch.key_id
        signer = CodeSigner(ring.batch_key(key_id, batch_id), role=Role.INNER, key_id=key_id, batch_id=batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            for serial in range(count):
                fh.write(signer.code(serial) + "\n")
        tmp.replace(path)
    finally:
        db.engine.dispose()
        rds.close()
    print(f"wrote {count:,} codes of batch {batch_id} (lot {req.lot}, active) to {path}")
    return 0


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench.bench_scan", description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: short phases, no model sweep")
    p.add_argument("--items", type=int, default=300_000, help="items in the bench batch (2 codes each)")
    p.add_argument("--duration", type=float, default=12.0, help="seconds of each closed-loop measurement")
    p.add_argument("--open-duration", type=float, default=10.0, help="seconds of each open-loop measurement")
    p.add_argument("--model-duration", type=float, default=8.0, help="seconds per worker model in the sweep")
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of warm-up load before each max run")
    p.add_argument("--connections", type=int, default=32, help="closed-loop concurrency")
    p.add_argument("--models", default="sync:4,gthread:2x4,gevent:2x100",
                   help="comma-separated gunicorn models to sweep (sync:W, gthread:WxT, gevent:WxC) or 'none'")
    p.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto",
                   help="closed-loop load generator (auto: wrk when on PATH)")
    p.add_argument("--no-limits-run", action="store_true", help="skip the run with rate limits on")
    p.add_argument("--pairs", type=int, default=3,
                   help="bare/scan max-throughput pairs; scan / bare is the median of their ratios")
    p.add_argument("--layout", choices=("split", "shared"), default="split",
                   help="split: the app server alone on half the CPUs; load generator, Redis and PostgreSQL on the "
                        "rest (the targets are judged here); shared: no pinning (see bench/cpu_layout.py)")
    p.add_argument("--no-other-layout", action="store_true",
                   help="skip the bare/scan comparison on the other layout")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    p.add_argument("--retry-seconds", type=float, default=40.0,
                   help="time the run may spend repeating measurements disturbed by other processes")
    p.add_argument("--redis-url", default=os.environ.get("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--pg-admin-url", default=os.environ.get("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    p.add_argument("--max-seconds", type=int, default=420, help="hard limit for the whole run")
    p.add_argument("--export-codes", type=Path, metavar="FILE", help="write codes for the locustfile and exit")
    p.add_argument("--count", type=int, default=100_000, help="with --export-codes: how many codes")
    args = p.parse_args(argv)
    if args.quick:
        args.items, args.duration, args.open_duration, args.warmup = 100_000, 4.0, 4.0, 1.0
        args.models = "none"
        args.no_other_layout = True
        args.pairs = 1
    args.models = [] if args.models in ("", "none") else [m.strip() for m in args.models.split(",") if m.strip()]
    for spec in args.models:
        Model(spec).args()  # fail early on a typo
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
