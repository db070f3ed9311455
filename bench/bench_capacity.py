"""Redis' side of the capacity model (docs/scaling.md): commands, server CPU and memory per scan and per
printed code, measured on a private redis-server (AOF everysec, as production runs it).

    python -m bench.bench_capacity [--codes 1000000] [--scans 200000] [--port 18790]

One batch of `--codes` items is activated; then `--scans` first scans of distinct codes go through the real
scan script (`rules/scan_script.py`), every one also drawing in a live first-scan-wins campaign
(`rules/draw.py`), then as many repeat scans. Reported, each from the server's own INFO:

- commands per scan (the script call plus the commands it runs, INFO commandstats) and the server's CPU
  per scan (used_cpu_user + used_cpu_sys): what sizes the Redis tier;
- memory: per printed code before any scan (the batch's ranges), the state a first scan leaves for good
  (first-scan bit and details, the draw's bit and memo), and the event stream until the drain trims it.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.bench_durability import start_server
from bench.bench_script_calls import bench_campaign
from codegen.batch_keys import events_key
from codegen.batch_state import write_batch_state
from codegen.codeformat import Role
from rules.campaign_keys import awards_key
from rules.draw import draw_call, open_counters
from rules.lua import ScriptCall, ScriptCaller
from rules.scan_script import FIRST, REPEAT, scan_call

BATCH = 11
CHUNK = 500  # calls sent per round trip while loading (the measurement is per call, not per round trip)


def meta(codes: int) -> dict[str, Any]:
    return {"key_id": 1, "brand": "bench", "sku": "B", "product": "Bench", "gtin": "", "lot": "L", "factory": "F",
            "line": "1", "production_date": "2026-12-01", "quantity": codes, "pack": 24, "status": "active"}


def scan(serial: int, device: str) -> ScriptCall[Any]:
    return scan_call(batch_id=BATCH, role=Role.INNER, serial=serial, sale_serial=serial, code=f"C{serial:027d}",
                     scan_id=f"{device}-{serial}", now=int(time.time()), adcode="310101", ip=f"10.0.{serial % 250}.1",
                     device=device, device_tag="a1b2c", member="", rules_version=1, campaign_ids="1", ip_limit=0,
                     device_limit=0, window_seconds=60, replay_seconds=30)


class Probe:
    def __init__(self, client: Any) -> None:
        self.client = client

    def memory(self) -> int:
        return int(self.client.info("memory")["used_memory"])

    def commands(self) -> int:
        return sum(int(v["calls"]) for k, v in self.client.info("commandstats").items() if k.startswith("cmdstat_"))

    def cpu(self) -> float:
        info = self.client.info("cpu")
        return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def run(calls: list[ScriptCall[Any]], caller: ScriptCaller, expect: str | None = None) -> None:
    for i in range(0, len(calls), CHUNK):
        for reply in caller.run_all(calls[i:i + CHUNK]):
            if expect is not None and getattr(reply, "status", expect) != expect:
                raise SystemExit(f"unexpected reply {reply!r}")


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.bench_capacity", description=__doc__.split("\n\n")[0])
    p.add_argument("--codes", type=int, default=1_000_000, help="items in the batch")
    p.add_argument("--scans", type=int, default=200_000, help="first scans (each draws), then as many repeats")
    p.add_argument("--port", type=int, default=18790)
    args = p.parse_args(argv)
    if args.scans > args.codes:
        p.error("--scans must not exceed --codes")
    with contextlib.ExitStack() as stack, tempfile.TemporaryDirectory(prefix="yima-capacity-") as root:
        server = start_server(stack, "capacity", args.port, Path(root), "everysec")
        client = server.client()
        stack.callback(client.close)
        probe, caller = Probe(client), ScriptCaller(client)
        stack.callback(caller.close)
        base = probe.memory()
        write_batch_state(client, BATCH, meta(args.codes), active=[(0, args.codes - 1)], void=[])
        printed = probe.memory() - base
        campaign = bench_campaign()
        open_counters(client, campaign.id)
        run([scan(0, "warm")], caller)  # loads the scripts; serial 0 is left out of the figures
        run([draw_call(campaign, code="C" + "0" * 27, batch_id=BATCH, role="inner", serial=0)], caller)
        serials = range(1, args.scans + 1)

        def measured(calls: list[ScriptCall[Any]], expect: str | None) -> tuple[float, float, float]:
            mem, cmds, cpu = probe.memory(), probe.commands(), probe.cpu()
            run(calls, caller, expect)
            n = len(calls)
            # the probe's own INFO calls are 3 commands per measurement: negligible beside n calls
            return (probe.commands() - cmds) / n, (probe.cpu() - cpu) / n * 1e6, (probe.memory() - mem) / n

        first_cmds, first_cpu, first_mem = measured([scan(s, f"dev{s}") for s in serials], FIRST)
        draw_cmds, draw_cpu, draw_mem = measured(
            [draw_call(campaign, code=f"C{s:027d}", batch_id=BATCH, role="inner", serial=s, scan_event=f"e{s}",
                       scan_id=f"e{s}") for s in serials], None)
        repeat_cmds, repeat_cpu, repeat_mem = measured([scan(s, f"other{s}") for s in serials], REPEAT)
        streams = probe.memory()
        client.delete(events_key(BATCH), awards_key(campaign.id))  # what the drain trims once stored in SQL
        unstreamed = probe.memory()
        for i, key in enumerate(client.scan_iter(match="*:req:*", count=1000)):  # replay guards: expire in 30 s
            client.unlink(key)
            if i % 10_000 == 0:
                time.sleep(0)
        kept = probe.memory()
        stream_mem = (streams - unstreamed) / (3 * args.scans)
        replay_mem = (unstreamed - kept) / (3 * args.scans)
        lasting = (kept - base - printed) / args.scans

        def mb_per_million(per_item: float) -> str:
            return f"{per_item * 1e6 / 2**20:,.1f} MiB"

        print(f"Redis per scan: {args.codes:,} printed codes, {args.scans:,} first scans (each drawing), "
              f"{args.scans:,} repeats; private redis-server, AOF everysec")
        print(f"{'step':<34}{'commands':>10}{'server CPU µs':>15}{'memory B':>10}")
        for name, cmds, cpu, mem in (("first scan (scan.lua)", first_cmds, first_cpu, first_mem),
                                     ("its draw (draw.lua, 1 campaign)", draw_cmds, draw_cpu, draw_mem),
                                     ("repeat scan (scan.lua)", repeat_cmds, repeat_cpu, repeat_mem)):
            print(f"{name:<34}{cmds:>10.1f}{cpu:>15.1f}{mem:>10.0f}")
        print(f"printed codes, before any scan: {printed:,} bytes for the batch of {args.codes:,} "
              f"(its facts and serial ranges: nothing per code)")
        print(f"lasting state per first scan (with its draw and one repeat): {lasting:.0f} B "
              f"= {mb_per_million(lasting)} per million scanned codes")
        print(f"event/award streams until drained: {stream_mem:.0f} B per entry "
              f"= {mb_per_million(stream_mem)} per million undrained entries")
        print(f"replay guards (each script call's reply, kept 30 s): {replay_mem:.0f} B per call")
        print(f"a scan that draws: {first_cmds + draw_cmds:.1f} commands, {first_cpu + draw_cpu:.0f} µs of Redis CPU "
              f"→ one Redis core serves about {1e6 / (first_cpu + draw_cpu):,.0f} such scans/s "
              f"({1e6 / first_cpu:,.0f}/s without a draw)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
