"""The scan script's call path: redis-py's `register_script` vs `rules.hotscript.HotScript`, side by side.

    python -m bench.bench_hotscript [--calls 20000] [--rounds 3] [--redis-url redis://127.0.0.1:6379/15]

Both call the real `rules/scan.lua` with the arguments a scan sends, on fresh serials of a batch made for
the run in its own Redis DB (flushed before and after). Reported per call: this process' CPU (user + sys,
from getrusage) and wall time, alternating the two callers round by round so machine noise hits both, and
the ratio. The replies are compared: both must say "first" for a fresh serial.
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit

import redis

from codegen.batch_state import write_batch_state
from codegen.codeformat import Role
from rules.hotscript import HotScript
from rules.scan import FIRST_BUCKET, SCAN_LUA, scan_keys

BATCH = 7
META = {"key_id": 1, "brand": "bench", "sku": "B", "product": "Bench", "gtin": "", "lot": "L", "factory": "F",
        "line": "1", "production_date": "2026-12-01", "quantity": 1 << 29, "pack": 24, "status": "active"}


def scan_call(serial: int) -> tuple[list[str], list[str | int]]:
    now = int(time.time())
    keys = scan_keys(BATCH, Role.INNER, serial, uuid.uuid4().hex, "127.0.0.1", "bench-0001", now // 60)
    args: list[str | int] = [serial, "inner", now, "310101", serial % FIRST_BUCKET, 0, 0, 60, 30,
                             "1ABCDEFGHJKMNPQRSTVWXYZ0123", BATCH, "127.0.0.1", "bench-0001", "", serial, "a1b2c",
                             0, ""]
    return keys, args


def measure(call: Callable[[list[str], list[str | int]], Any], serials: range) -> tuple[float, float]:
    """CPU µs and wall µs per call over `serials` (each a first scan)."""
    calls = [scan_call(s) for s in serials]
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for keys, args in calls:
        reply = call(keys, args)
        if reply[0] != b"first":
            raise SystemExit(f"unexpected reply {reply!r}")
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 1e6 * cpu / len(calls), 1e6 * wall / len(calls)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_hotscript", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20_000, help="calls per caller per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = p.parse_args(argv)
    if urlsplit(args.redis_url).hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error("the benchmark only talks to a Redis on this machine")
    client = redis.Redis.from_url(args.redis_url, socket_timeout=5)
    client.flushdb()
    try:
        write_batch_state(client, BATCH, META, active=[(0, (1 << 29) - 1)], void=[])
        script = client.register_script(SCAN_LUA)
        hot = HotScript(client, SCAN_LUA)
        callers: dict[str, Callable[[list[str], list[str | int]], Any]] = {
            "redis-py register_script": lambda k, a: script(keys=k, args=a),
            "HotScript": hot,
        }
        totals: dict[str, list[tuple[float, float]]] = {name: [] for name in callers}
        serial = 0
        for call in callers.values():  # warm up: connect, load the script
            measure(call, range(serial, serial + 200))
            serial += 200
        for _ in range(args.rounds):
            for name, call in callers.items():
                totals[name].append(measure(call, range(serial, serial + args.calls)))
                serial += args.calls
        print(f"scan.lua call path, {args.rounds} rounds x {args.calls:,} calls each, Redis {args.redis_url}")
        print(f"{'caller':<28}{'CPU us/call (best, median)':>30}{'wall us/call (median)':>24}")
        best: dict[str, float] = {}
        for name, rows in totals.items():
            cpus, walls = sorted(r[0] for r in rows), sorted(r[1] for r in rows)
            best[name] = cpus[len(cpus) // 2]
            print(f"{name:<28}{cpus[0]:>18.1f} {cpus[len(cpus) // 2]:>10.1f}{walls[len(walls) // 2]:>24.1f}")
        slow, fast = best["redis-py register_script"], best["HotScript"]
        print(f"client CPU per call: HotScript / register_script = {fast / slow:.2f} ({slow - fast:.1f} us saved)")
        hot.close()
    finally:
        client.flushdb()
        client.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
