"""The scan bench's load generators and what one measured run returns.

Closed loop (max throughput): wrk (C, epoll, one thread) when it is on PATH, driven by a Lua script that
sends the planned bodies in order and counts statuses; else the raw-socket client below.

Open loop (latency at a fixed rate): always the raw-socket client. wrk cannot hold a rate (wrk2 can, but
no distribution ships it), and a closed loop hides queueing: a stalled server also stalls its client, so
the requests it made wait are never sent late and never charged (coordinated omission). The raw client
schedules request k at start + k / rate whatever happened before, sends it on a new or idle connection
(up to 512 in flight), and measures its latency from that scheduled time, so p99 at half load includes
every millisecond a request waited to be sent.
"""

from __future__ import annotations

import errno
import json
import re
import select
import socket
import subprocess
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.scan_cpu import NCPU


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


# --- the raw-socket client ----------------------------------------------------------------------------

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
    With `timeline`, every request's due (or send) time from the start, its status ("error" for a socket
    error or timeout) and its latency are appended to it, for the failure checks that act mid-run.
    """

    def __init__(self, port: int, path: str, bodies: Sequence[bytes]) -> None:
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: ").encode()
        self._reqs = [head + str(len(b)).encode() + b"\r\n\r\n" + b for b in bodies]
        self._addr = ("127.0.0.1", port)

    def run(self, duration: float, *, connections: int = 32, rate: float | None = None,
            max_connections: int = 512, timeout: float = 5.0, drain: float = 3.0,
            timeline: list[tuple[float, str, float]] | None = None) -> LoadResult:
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

        def failed(t0: float) -> None:
            nonlocal sock_errors
            sock_errors += 1
            if timeline is not None:
                timeline.append((t0 - start, "error", clock() - t0))

        def launch(t0: float, out: bytes | None = None) -> None:
            """Send a request: the next of the plan, or `out` again on a new connection (a kept-alive
            connection the server had closed meanwhile is not the server's error)."""
            nonlocal sent
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
                failed(t0)
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
                    failed(conn.t0)
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
                    status = buf[9:12].decode()
                    statuses[status] += 1
                    if timeline is not None:
                        timeline.append((conn.t0 - start, status, t - conn.t0))
                    if t <= end:
                        done_in_window += 1
                finish(conn, True, _CLOSE.search(head) is None)
                next_request(t)
            if now - last_sweep > 0.25:
                last_sweep = now
                for conn in [c for c in conns.values() if now - c.t0 > timeout]:
                    finish(conn, False, False)
                    failed(conn.t0)
                    next_request(now)
        unanswered = [c.t0 for c in conns.values()]
        for conn in list(conns.values()):
            finish(conn, False, False)
        if rate is not None:  # open loop: what is still unanswered after the drain timed out
            for t0 in [*unanswered, *waiting]:
                failed(t0)
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

