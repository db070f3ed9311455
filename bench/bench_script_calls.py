"""The scan path's script calls: redis-py's `register_script` vs `rules.lua.ScriptCaller`, side by side.

    python -m bench.bench_script_calls [--calls 20000] [--rounds 3] [--redis-url redis://127.0.0.1:6379/15]

Two calls, each made both ways: the scan script alone (`rules/scan.lua`, what every scan sends), and the
scan script followed by one draw (`rules/draw.lua`, what a scan entering one live campaign sends; redis-py
queues the draw in a pipeline, which sends SCRIPT EXISTS before the EVALSHA). Fresh serials of a batch
made for the run in its own Redis DB (flushed before and after); `--redis-url redis+cluster://…` runs
against a cluster. Reported per call: this process' CPU (user + sys, from getrusage), wall time and the
server round trips, alternating the callers round by round so machine noise hits all alike, and the
ratios. The replies are checked: "first" for a fresh serial, and a draw outcome.
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

from app.runtime import connect_redis_url
from codegen.batch_state import write_batch_state
from codegen.codeformat import Role
from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.draw import DRAW, draw_call, open_counters
from rules.lua import ScriptCall, ScriptCaller, is_cluster
from rules.scan_script import FIRST, SCAN, scan_call

BATCH = 7
META = {"key_id": 1, "brand": "bench", "sku": "B", "product": "Bench", "gtin": "", "lot": "L", "factory": "F",
        "line": "1", "production_date": "2026-12-01", "quantity": 1 << 29, "pack": 24, "status": "active"}


def scan(serial: int) -> ScriptCall[Any]:
    now = int(time.time())
    return scan_call(batch_id=BATCH, role=Role.INNER, serial=serial, sale_serial=serial,
                     code="1ABCDEFGHJKMNPQRSTVWXYZ0123", scan_id=uuid.uuid4().hex, now=now, adcode="310101",
                     ip="127.0.0.1", device="bench-0001", device_tag="a1b2c", member="", rules_version=0,
                     campaign_ids="", ip_limit=0, device_limit=0, window_seconds=60, replay_seconds=30)


def draw(campaign: CompiledCampaign, serial: int) -> ScriptCall[Any]:
    return draw_call(campaign, code=f"C{serial:027d}", batch_id=BATCH, role="inner", serial=serial)


def measure(run: Callable[[int], Any], serials: range) -> tuple[float, float]:
    """CPU µs and wall µs per call over `serials` (each a first scan)."""
    before, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
    for serial in serials:
        run(serial)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return 1e6 * cpu / len(serials), 1e6 * wall / len(serials)


def callers(client: Any, campaign: CompiledCampaign) -> dict[str, tuple[int, Callable[[int], Any]]]:
    """name → (round trips per call, the call)."""
    redis_py_trips = 2 if is_cluster(client) else 3
    scripts = ScriptCaller(client)
    scan_script, draw_script = client.register_script(SCAN.source), client.register_script(DRAW.source)

    def checked(reply: Any) -> Any:
        if getattr(reply, "status", None) not in (None, FIRST) or (isinstance(reply, list) and reply[0] != b"first"):
            raise SystemExit(f"unexpected reply {reply!r}")
        return reply

    def redis_py_scan(serial: int) -> Any:
        c = scan(serial)
        return checked(scan_script(keys=c.keys, args=c.args))

    def redis_py_scan_draw(serial: int) -> Any:
        redis_py_scan(serial)
        d = draw(campaign, serial)
        if is_cluster(client):  # a cluster pipeline refuses EVALSHA: the draw goes alone
            return draw_script(keys=d.keys, args=d.args)
        pipe = client.pipeline(transaction=False)
        draw_script(keys=d.keys, args=d.args, client=pipe)
        return pipe.execute()

    def caller_scan_draw(serial: int) -> Any:
        checked(scripts.run(scan(serial)))
        return scripts.run_all([draw(campaign, serial)])

    return {
        "scan: redis-py register_script": (1, redis_py_scan),
        "scan: ScriptCaller": (1, lambda serial: checked(scripts.run(scan(serial)))),
        "scan+draw: redis-py (pipeline)": (redis_py_trips, redis_py_scan_draw),
        "scan+draw: ScriptCaller": (2, caller_scan_draw),
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_script_calls", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, default=20_000, help="calls per caller per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--redis-url", default="redis://127.0.0.1:6379/15")
    args = p.parse_args(argv)
    host = urlsplit(args.redis_url.split(",")[0]).hostname
    if host not in ("127.0.0.1", "localhost", "::1"):
        p.error("the benchmark only talks to a Redis on this machine")
    client = connect_redis_url(args.redis_url, socket_timeout=5)
    client.flushall() if is_cluster(client) else client.flushdb()
    try:
        write_batch_state(client, BATCH, META, active=[(0, (1 << 29) - 1)], void=[])
        campaign = bench_campaign()
        open_counters(client, campaign.id)
        runs = callers(client, campaign)
        totals: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
        serial = 0
        for _trips, run in runs.values():  # warm up: connect, load the scripts
            measure(run, range(serial, serial + 200))
            serial += 200
        for _ in range(args.rounds):
            for name, (_trips, run) in runs.items():
                totals[name].append(measure(run, range(serial, serial + args.calls)))
                serial += args.calls
        print(f"script call paths, {args.rounds} rounds x {args.calls:,} calls each, Redis {args.redis_url}")
        print(f"{'caller':<34}{'round trips':>12}{'CPU us/call (best, median)':>30}{'wall us/call (median)':>24}")
        cpu: dict[str, float] = {}
        wall: dict[str, float] = {}
        for name, rows in totals.items():
            cpus, walls = sorted(r[0] for r in rows), sorted(r[1] for r in rows)
            cpu[name], wall[name] = cpus[len(cpus) // 2], walls[len(walls) // 2]
            print(f"{name:<34}{runs[name][0]:>12}{cpus[0]:>18.1f} {cpu[name]:>10.1f}{wall[name]:>24.1f}")
        for what in ("scan", "scan+draw"):
            slow, fast = f"{what}: redis-py register_script" if what == "scan" else f"{what}: redis-py (pipeline)", \
                f"{what}: ScriptCaller"
            print(f"{what}: ScriptCaller / redis-py = {cpu[fast] / cpu[slow]:.2f} client CPU, "
                  f"{wall[fast] / wall[slow]:.2f} wall")
    finally:
        client.flushall() if is_cluster(client) else client.flushdb()
        client.close()
    return 0


def bench_campaign() -> CompiledCampaign:
    """A campaign paying 1 元 to every code, compiled by the real compiler."""
    definition = parse_definition({
        "name": "bench", "brand": "bench",
        "window": {"start": "2020-01-01T00:00:00+08:00", "end": "2100-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 10**12},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0}],
    })
    return compile_campaign(1, 1, definition, brand_id=1, product_ids=None)


if __name__ == "__main__":
    sys.exit(main())
