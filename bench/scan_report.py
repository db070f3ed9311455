"""The scan bench's printed tables and its JSON line: the one-box layout first, the extra layout after.

Targets (issue 11), judged on the one-box layout for every server measured, PASS or MISS beside each:
scan ≥ 0.6 × bare Flask, scan with a draw ≥ 0.5 × bare Flask, p99 ≤ 10 ms at half of the variant's max.
Ratios are medians over rounds measured back to back on the same server, so one disturbed measurement
cannot decide them. The extra (tuned/pinned) layout keeps its own targets: scan ≥ 0.6 × bare,
scan ≥ 2.5 × SQL-per-scan, p99 ≤ 10 ms at half load.

The risk pair (the risk layer's issue): the shipped server with the risk layer on (YIMA_RISK=1) beside the same
server with it off, each round's scan and scan + draw measured on both back to back; risk on / off ≥ 0.80 for
each, as medians of the rounds' own ratios, and only when the risk keys show the scans were counted.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass, field
from typing import Any

from bench import cpu_layout
from bench.scan_cpu import NCPU
from bench.scan_env import BenchEnv
from bench.scan_load import LoadResult

TARGET_SCAN_VS_BARE = 0.6
TARGET_DRAW_VS_BARE = 0.5
TARGET_SCAN_VS_SQL = 2.5
TARGET_P99_MS = 10.0
TARGET_RISK_ON_VS_OFF = 0.8

LABELS = {"bare": "bare Flask  POST /bench/bare", "floor": "bare + 1 Redis round trip",
          "scan": "yima scan   POST /api/v1/scans", "draw": "scan + draw (first scan wins)",
          "sql": "SQL-per-scan POST /bench/sql-scan", "scan_limits": "yima scan, limits ON (1e9)"}


@dataclass
class ServerFigures:
    """One server's one-box measurements: max throughput per round and variant, latency at half load."""

    name: str
    rounds: list[dict[str, LoadResult]] = field(default_factory=list)
    half: dict[str, LoadResult] = field(default_factory=dict)

    def rps(self, variant: str) -> float:
        """Median max throughput of a variant over the rounds."""
        return statistics.median([r[variant].rps for r in self.rounds if variant in r] or [0.0])

    def ratio(self, variant: str) -> float:
        """Median over rounds of variant / bare, each from the same round."""
        return statistics.median([r[variant].rps / r["bare"].rps for r in self.rounds
                                  if variant in r and r["bare"].rps] or [0.0])

    def typical(self, variant: str) -> LoadResult:
        """The round whose throughput is the median (its latencies and CPU are the ones printed)."""
        runs = sorted((r[variant] for r in self.rounds if variant in r), key=lambda x: x.rps)
        return runs[(len(runs) - 1) // 2]


def _cpu_per_req(r: LoadResult) -> float:
    return sum(r.cpu_us(k) for k in ("app", "redis", "pg", "loadgen"))


@dataclass
class RiskPair:
    """The risk layer's cost: the same server with the layer off and on, the same rounds, scan and draw."""

    off: ServerFigures
    on: ServerFigures
    off_label: str
    on_label: str
    policy: dict[str, Any]  # the bench brand's policy overrides
    keys: dict[str, dict[str, int]] = field(default_factory=dict)  # risk keys by subject kind, after the runs
    decisions: dict[str, int] = field(default_factory=dict)  # risk actions on the risk-on server's events
    reasons: dict[str, int] = field(default_factory=dict)

    def rounds(self, variant: str) -> list[tuple[float, float]]:
        """(on, off) max r/s of each round that measured the variant on both."""
        return [(a[variant].rps, b[variant].rps) for a, b in zip(self.on.rounds, self.off.rounds, strict=False)
                if variant in a and variant in b]

    def ratio(self, variant: str) -> float:
        return statistics.median([on / off for on, off in self.rounds(variant) if off] or [0.0])

    def cpu_ratio(self, variant: str) -> float:
        """Median over rounds of the CPU per request (every party of the bench) off / on: what risk on / off
        would be on a CPU-bound box with nothing else running. Less disturbed by other processes than r/s."""
        return statistics.median([_cpu_per_req(b[variant]) / _cpu_per_req(a[variant])
                                  for a, b in zip(self.on.rounds, self.off.rounds, strict=False)
                                  if variant in a and variant in b and _cpu_per_req(a[variant])] or [0.0])

    @property
    def counted(self) -> bool:
        """The risk-on scans really went through the risk layer: device and network subjects exist."""
        return all(self.keys.get(k, {}).get("subjects", 0) > 0 for k in ("device", "network"))


def _ms(v: float) -> str:
    return f"{v:7.2f}" if v == v else "    n/a"


def _row(label: str, mx: LoadResult, half: LoadResult | None, rps: float | None = None) -> str:
    cpu = " ".join(f"{mx.cpu_us(k):5.0f}" for k in ("app", "redis", "pg", "loadgen"))
    other = 100 * mx.cpu.get("other", 0.0) / (mx.cpu.get("seconds", 1.0) * NCPU)
    s = f"{label:<32} {mx.rps if rps is None else rps:8.0f} {_ms(mx.latencies_ms['p50'])} " \
        f"{_ms(mx.latencies_ms['p99'])} {mx.bad:5d} |"
    if half is not None:
        s += (f" {half.target_rate or 0:6.0f} {half.rps:6.0f} {_ms(half.latencies_ms['p50'])}"
              f" {_ms(half.latencies_ms['p99'])} {half.bad:5d} |")
    else:
        s += " " * 38 + "|"
    return s + f" {cpu}  {other:4.0f}%"


def _header() -> str:
    return (f"{'variant':<32} {'max r/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'bad':>5} |"
            f" {'rate':>6} {'r/s':>6} {'p50 ms':>7} {'p99 ms':>7} {'bad':>5} | CPU us/req at max:"
            f"  app redis    pg  load other")


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def _target(value: float, target: float, at_least: bool) -> dict[str, Any]:
    return {"value": round(value, 3), "target": target, "pass": value >= target if at_least else value <= target}


def one_box_targets(fig: ServerFigures) -> dict[str, dict[str, Any]]:
    targets = {"scan_vs_bare": _target(fig.ratio("scan"), TARGET_SCAN_VS_BARE, True),
               "draw_vs_bare": _target(fig.ratio("draw"), TARGET_DRAW_VS_BARE, True)}
    for v in ("scan", "draw"):
        if v in fig.half:
            targets[f"{v}_p99_at_half_ms"] = _target(fig.half[v].latencies_ms["p99"], TARGET_P99_MS, False)
    return targets


def report_one_box(benv: BenchEnv, args: argparse.Namespace, tool: str, figures: list[ServerFigures],
                   mix: dict[str, dict[str, int]], awards: int) -> dict[str, Any]:
    print()
    print(f"yima scan benchmark, one-box layout: every process (load generator, app workers, Redis, PostgreSQL) "
          f"on the same {NCPU} CPUs, no pinning")
    print(f"  Redis {args.redis_url}, PostgreSQL {benv.pg_version}; two batches of {args.items:,} items "
          f"({benv.source.capacity:,} never-scanned codes each; used: scan {benv.source.position:,}, "
          f"draw {benv.draw_source.position:,})")
    print(f"  scan + draw: batch {benv.draw_batch_id} under campaign {benv.campaign_id} (first scan wins: "
          f"every first scan draws), published as rules version {benv.rules_version} through publish_rules")
    print(f"  max = closed loop, {tool}, {args.connections} connections, {args.duration:g} s after {args.warmup:g} s "
          f"warm-up, median of {args.rounds} round(s) (bare, scan, scan + draw back to back on each server)")
    print(f"  @50% = open loop (python-raw): a constant rate of half the variant's median max for "
          f"{args.open_duration:g} s, latency from each request's scheduled send time (no coordinated omission)")
    print("  bodies: 85 % first scans of distinct codes (in shuffled order), 10 % repeats, 5 % forged (404 expected,"
          " not an error), from 50,000 phones in turn (each in one city, GPS jittering, one in 4 with a member"
          " token: bench/scan_plan.py); bad = any other status or socket error")
    doc: dict[str, Any] = {}
    for fig in figures:
        if not fig.rounds:
            continue
        targets = one_box_targets(fig)
        print()
        print(f"{fig.name}:")
        print(_header())
        for v in ("bare", "scan", "draw"):
            print(_row(LABELS[v], fig.typical(v), fig.half.get(v), fig.rps(v)))
        for v, key, target in (("scan", "scan_vs_bare", TARGET_SCAN_VS_BARE),
                               ("draw", "draw_vs_bare", TARGET_DRAW_VS_BARE)):
            rounds = ", ".join(f"{r[v].rps:.0f}/{r['bare'].rps:.0f}" for r in fig.rounds if r["bare"].rps)
            print(f"  {v} / bare {'' if v == 'draw' else ' '}= {fig.ratio(v):5.2f}   (target >= {target}: "
                  f"{verdict(targets[key]['pass'])}; rounds {rounds})")
        for v in ("scan", "draw"):
            key = f"{v}_p99_at_half_ms"
            if key in targets:
                print(f"  {v} p99 @50% {'' if v == 'draw' else ' '}= {targets[key]['value']:5.2f} ms "
                      f"(target <= {TARGET_P99_MS:g} ms: {verdict(targets[key]['pass'])})")
        doc[fig.name] = {
            "max_rps": {v: round(fig.rps(v), 1) for v in ("bare", "scan", "draw")},
            "rounds": [{v: r.as_json() for v, r in rnd.items()} for rnd in fig.rounds],
            "half": {v: r.as_json() for v, r in fig.half.items()},
            "targets": targets,
        }
    measured = [f for f in figures if f.rounds]
    if len(measured) > 1:
        base = measured[0]
        print()
        print(f"servers side by side (median max r/s against {base.name}):")
        for fig in measured[1:]:
            print(f"  {fig.name} / {base.name}: " + ", ".join(
                f"{v} {fig.rps(v) / base.rps(v):4.2f}x" for v in ("bare", "scan", "draw") if base.rps(v)))
    if mix:
        print()
        for v, kinds in mix.items():
            total = sum(kinds.values()) or 1
            print(f"  last {v} events in the Redis stream: " + ", ".join(
                f"{k} {100 * n / total:.0f} %" for k, n in sorted(kinds.items())))
        print(f"  awards drawn by the campaign (its award stream): {awards:,}")
    return {"servers": doc, "event_mix": mix, "awards": awards}


def risk_targets(pair: RiskPair) -> dict[str, dict[str, Any]]:
    targets = {}
    for v in ("scan", "draw"):
        if pair.rounds(v):
            t = _target(pair.ratio(v), TARGET_RISK_ON_VS_OFF, True)
            t["pass"] = t["pass"] and pair.counted  # a run the risk layer never saw measures nothing
            targets[f"risk_{v}_on_vs_off"] = t
    return targets


def report_risk(pair: RiskPair, args: argparse.Namespace, brand_id: int) -> dict[str, Any]:
    """The risk pair's table: scan and scan + draw with the risk layer off and on, their ratios, and the proof
    that the risk-on scans were counted (subject keys) and mostly allowed (decisions on the events)."""
    targets = risk_targets(pair)
    print()
    print(f"risk layer side by side (one-box layout): {pair.off_label} vs {pair.on_label}; scan and scan + draw "
          f"measured on both in every round, back to back (which goes first alternates round by round)")
    overrides = ", ".join(f"{k} {v}" for k, v in pair.policy.items())
    print(f"  bench brand's risk policy (published to Redis {{risk}}:policies, brand {brand_id}): the defaults but "
          f"{overrides}: every scan comes from one loopback client, so the risk layer sees one address and one "
          f"network (127.0.0) carrying the whole load, and 0 turns those two address rules off; every subject "
          f"call (device, member, network, GPS point) still runs")
    print("  bodies as above: honest traffic for the risk layer at this rate (no phone scans more than a few times "
          "a minute, no shared GPS point, no case swept)")
    print(_header())
    for fig, state in ((pair.off, "off"), (pair.on, "ON")):
        for v in ("scan", "draw"):
            if any(v in r for r in fig.rounds):
                print(_row(f"risk {state}: {LABELS[v][:24]}", fig.typical(v), fig.half.get(v), fig.rps(v)))
    for v, label in (("scan", "scan       "), ("draw", "scan + draw")):
        key = f"risk_{v}_on_vs_off"
        if key not in targets:
            continue
        rounds = ", ".join(f"{on:.0f}/{off:.0f}" for on, off in pair.rounds(v))
        print(f"  risk on / off, {label} = {pair.ratio(v):5.2f}   (target >= {TARGET_RISK_ON_VS_OFF}: "
              f"{verdict(targets[key]['pass'])}; rounds {rounds})")
    for v in ("scan", "draw"):
        if pair.rounds(v):
            off_cpu, on_cpu = _cpu_per_req(pair.off.typical(v)), _cpu_per_req(pair.on.typical(v))
            print(f"  CPU per {'scan' if v == 'scan' else 'scan + draw'} (app + Redis + PostgreSQL + load "
                  f"generator): risk off {off_cpu:.0f} us, on {on_cpu:.0f} us; off / on = {pair.cpu_ratio(v):.2f}"
                  f" (what on / off would be on a CPU-bound box with nothing else running)")
    for v in ("scan", "draw"):
        if v in pair.on.half and v in pair.off.half:
            off, on = pair.off.half[v], pair.on.half[v]
            print(f"  {v} p99 at {off.target_rate or 0:.0f}/s on both (the shipped server's @50%): risk off "
                  f"{off.latencies_ms['p99']:.2f} ms, risk on {on.latencies_ms['p99']:.2f} ms")
    print("  risk keys after the risk-on runs: " + ", ".join(
        f"{kind} {{r:{kind[0]}:*}} {n['subjects']:,} subjects ({n['keys']:,} keys)" for kind, n in pair.keys.items()))
    if not pair.counted:
        print("  WARNING: no device or network subject was counted: the risk-on server did not go through the risk "
              "layer, so its figures measure nothing (MISS)")
    total = sum(pair.decisions.values())
    if total:
        top = ", ".join(f"{why} {n:,}" for why, n in sorted(pair.reasons.items(), key=lambda x: -x[1])[:6])
        print(f"  risk decisions on the risk-on server's {total:,} scan events: " + ", ".join(
            f"{a} {100 * n / total:.1f} %" for a, n in sorted(pair.decisions.items(), key=lambda x: -x[1]))
            + (f" (reasons: {top})" if top else ""))
    return {
        "off": pair.off_label, "on": pair.on_label, "policy": pair.policy, "brand_id": brand_id,
        "max_rps": {state: {v: round(fig.rps(v), 1) for v in ("scan", "draw")}
                    for state, fig in (("off", pair.off), ("on", pair.on))},
        "ratios": {v: round(pair.ratio(v), 3) for v in ("scan", "draw") if pair.rounds(v)},
        "cpu_ratios": {v: round(pair.cpu_ratio(v), 3) for v in ("scan", "draw") if pair.rounds(v)},
        "rounds": [{"off": {v: r.as_json() for v, r in b.items() if v in ("scan", "draw")},
                    "on": {v: r.as_json() for v, r in a.items() if v in ("scan", "draw")}}
                   for a, b in zip(pair.on.rounds, pair.off.rounds, strict=False)],
        "half": {state: {v: r.as_json() for v, r in fig.half.items()}
                 for state, fig in (("off", pair.off), ("on", pair.on))},
        "keys": pair.keys, "counted": pair.counted, "decisions": pair.decisions, "reasons": pair.reasons,
        "targets": targets,
    }


def report_extra(benv: BenchEnv, args: argparse.Namespace, tool: str, layout: cpu_layout.Layout,
                 res: dict[str, LoadResult], half: dict[str, LoadResult],
                 pairs: list[tuple[LoadResult, LoadResult]],
                 models: list[tuple[str, dict[str, LoadResult]]]) -> dict[str, Any]:
    """The extra layout's table (gunicorn as shipped): bare, floor, scan, SQL-per-scan, limits on, models."""
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
    print(f"extra layout, {layout.describe()}")
    print(f"  {model_desc}; max = closed loop, {tool}, {args.duration:g} s after {args.warmup:g} s warm-up; @50% = "
          f"open loop at 50 % of the row's own max, {args.open_duration:g} s; PostgreSQL database {benv.db_name}")
    print()
    print(_header())
    for key in ("bare", "floor", "scan", "sql", "scan_limits"):
        if key in res:
            print(_row(LABELS[key], res[key], half.get(key)))
    print()
    print(f"  scan / bare    = {r_bare:5.2f}   (target >= {TARGET_SCAN_VS_BARE}: "
          f"{verdict(targets['scan_vs_bare']['pass'])}; median of {len(pairs)} back-to-back pairs: "
          + ", ".join(f"{s.rps:.0f}/{b.rps:.0f} = {s.rps / b.rps:.2f}" for b, s in pairs if b.rps) + ")")
    print(f"  scan / SQL     = {r_sql:5.2f}   (target >= {TARGET_SCAN_VS_SQL}: "
          f"{verdict(targets['scan_vs_sql']['pass'])})")
    print(f"  scan p99 @50%  = {p99_half:5.2f} ms (target <= {TARGET_P99_MS:g} ms: "
          f"{verdict(targets['scan_p99_at_half_ms']['pass'])})")
    if "floor" in res and res["floor"].rps:
        fl = res["floor"].rps
        print(f"  floor / bare   = {fl / bare.rps:5.2f}   (what one trivial Redis round trip costs the bare endpoint); "
              f"scan / floor = {scan.rps / fl:5.2f}")
    if "limits_on_scan_vs_bare" in targets:
        t = targets["limits_on_scan_vs_bare"]
        line = f"  limits ON: scan / bare = {t['value']:5.2f} ({verdict(t['pass'])})"
        if "limits_on_p99_at_half_ms" in targets:
            p = targets["limits_on_p99_at_half_ms"]
            line += f", p99 @50% = {p['value']:.2f} ms ({verdict(p['pass'])})"
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
    return {
        "server": model_desc, "layout": layout.name, "connections": args.connections,
        "max": {k: v.as_json() for k, v in res.items()},
        "half": {k: v.as_json() for k, v in half.items()},
        "pairs": [{"bare": b.as_json(), "scan": s.as_json()} for b, s in pairs],
        "ratios": {"scan_vs_bare": round(r_bare, 3), "scan_vs_sql": round(r_sql, 2),
                   **({"floor_vs_bare": round(res["floor"].rps / bare.rps, 3)} if "floor" in res and bare.rps else {})},
        "targets": targets,
        "models": {spec: {v: r.as_json() for v, r in pair.items()} for spec, pair in models},
    }
