"""`make bench-fraud`: a simulated campaign with honest consumers and attackers, scanned through yima's real
scan path once without the risk layer and once with it, side by side.

    python -m bench.bench_fraud [--quick] [--seed 7] [--redis-url redis://127.0.0.1:6379/12]
                                [--database-url URL] [--mode both|baseline|risk] [--json FILE]

The world (bench/fraud_world.py): one brand, batches of 20,000 items in cases of 24 — four on sale, the
last 20 cases of one voided (a damaged roll), and a fifth "leaked" batch put on sale mid-run; one live 首扫必中
campaign of 1–5 元 red packets for members scanning in Guangdong (GPS or address), at most 3 a member a day,
a budget that never runs out; created, activated and published as the console does. Every run starts from
a flushed Redis DB (only the one named) and a new SQL database.

The scans (bench/fraud_actors.py, seeded: the same scripts in both runs): ~10,000 honest scans and eight
kinds of attacker — enumeration, a hunter farm, the farm adapted (rotating devices and a proxy pool), a
leaked pack probed before sale, a voided pack, insider sweeps of unsold cases (one device; one rotating
devices behind the warehouse address), out-of-market scans (from elsewhere; a spoofed Guangdong fix sent
verbatim), and members passing capped codes to the next account on the phone. They run in time order on a
simulated clock (passed to the Scanner as `clock=`; the risk gate uses the `now` the scanner passes) over
two weeks; every five simulated minutes the award and event streams are drained into SQL (`rules.drain` with
`rules.awards.AwardSink`, and the risk observer with the layer on), as the worker does (it lags a second).

Measures, each run:
- fraudulent value: cash the attackers' scans won that would be paid: the award is valid in the SQL
  ledger and was not held when its payout fell due (the win + the policy's payout delay; a held award is
  assumed rejected by a reviewer, as attackers' should be);
  blocked % = 1 − paid with the risk layer / paid without it;
- honest scans harmed: the risk decision was not "allow" (a hold too), the scan was rate limited or its
  source blocked, or an attacker had already taken the code's prize; as % of honest scans;
- time to flag of each insider sweep: the sweep's scan number at which a decision first named a "sweep"
  reason (the device's; the rotating sweep's network's); target ≤ 20;
- the risk layer's cost: µs per Scanner.scan of fresh codes with and without the gate, in interleaved
  rounds on the same Redis (the throughput target is bench-scan's, measured end to end there).

Targets (PASS / MISS; exit 1 on a MISS): blocked ≥ 99 %, harmed ≤ 0.5 %, every sweep flagged within 20
scans. Until the risk layer is wired into the Scanner (`risk=`), only the baseline runs and nothing is judged.
Draw amounts come from the draw script's own SystemRandom: counts repeat exactly under one seed, money to
within a few tenths of a per cent. docs/risk-bench.md has the design and how to read the output.
"""

from __future__ import annotations

import argparse
import heapq
import json
import statistics
import sys
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.fraud_actors import ATTACKS, HONEST, Population, Scan, population
from bench.fraud_world import (
    DAY,
    EPOCH,
    FULL,
    MEMBER_SECRET,
    QUICK,
    Sizes,
    World,
    award_states,
    build_world,
    find_places,
    risk_gate_class,
    sql_database,
)
from risk.policy import RiskPolicy

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"
TARGET_BLOCKED, TARGET_HARMED, TARGET_FLAG = 99.0, 0.5, 20
DRAIN_EVERY_S = 300  # the simulated drain's lag: at most five minutes (the worker's is about a second)
COST_ROUNDS = 8
PAYOUT_DELAY_S = RiskPolicy().payout_delay_s  # the default the bench runs with
PAYOUT_DELAYS = (1, 600, 3600, 6 * 3600, 86_400)  # also shown: what other delays would have blocked


def say(message: str = "") -> None:
    print(message, flush=True)


@dataclass
class Rec:
    """One scan as the scanner answered it."""

    kind: str
    who: str
    t: float
    code: tuple[int, int]
    status: str  # first, repeat, not_on_sale, void, rate_limited, not_genuine, source_blocked
    risk: str = "allow"
    reasons: str = ""
    outcome: str = ""  # the campaign's draw outcome ("" none)
    amount_fen: int = 0
    award_id: str = ""
    held: bool = False
    track: str = ""
    taken: bool = False  # honest scans: an attacker had already won this code's prize


@dataclass
class RunResult:
    mode: str
    records: list[Rec]
    states: dict[str, tuple[str, str]]
    seconds: float
    cost: dict[str, Any] = field(default_factory=dict)

    held_at: dict[str, float] = field(default_factory=dict)  # award id → when the run first saw it held

    def held_before(self, r: Rec, delay: float) -> bool:
        """Was this scan's award held before its payout fell due, `delay` seconds after the win?"""
        if r.held:
            return True
        held_at = self.held_at.get(r.award_id)
        return held_at is not None and held_at <= EPOCH + r.t + delay

    def paid(self, r: Rec, delay: float = 0.0) -> int:
        """Cash of this scan's award that would be paid: valid in SQL and not held when its payout falls due
        (`PAYOUT_DELAY_S` after the win: the brand's risk policy `payout_delay_s`). A hold that lands later,
        from a flag the drain raised after the money left, does not count as blocked."""
        if not r.award_id or r.outcome != "won" or r.held:
            return 0
        status, _hold = self.states.get(r.award_id, ("valid", ""))
        if status != "valid":
            return 0
        if self.held_before(r, delay or PAYOUT_DELAY_S):
            return 0
        return r.amount_fen


def code_text(world: World, scan: Scan) -> str:
    if scan.forged == "bad-tag":
        from bench.scan_plan import forge

        return forge(world.code(world_batch(world, scan.slot), scan.serial))
    if scan.forged == "unknown":  # a well-signed shape past the batch's last serial: a guess
        return world.code(world_batch(world, scan.slot), world.sizes.items + scan.serial)
    return world.code(world_batch(world, scan.slot), scan.serial)


def world_batch(world: World, slot: int) -> int:
    return world.leak_batch if slot == len(world.batch_ids) else world.batch_ids[slot]


def request_of(world: World, scan: Scan, now: float) -> Any:
    from rules.members import Member, issue_member_token
    from rules.scan import ScanRequest

    token = None
    if scan.member is not None:
        token = issue_member_token(MEMBER_SECRET, Member(scan.member.member_id, None, frozenset(),
                                                         EPOCH + scan.member.joined_at), now=now)
    return ScanRequest(code=code_text(world, scan), ip=scan.ip, device_id=scan.device, lat=scan.lat, lng=scan.lng,
                       member_token=token)


def scan_once(world: World, scan: Scan) -> Rec:
    from rules.enumeration import SourceBlocked
    from rules.scan import NotGenuine

    req = request_of(world, scan, world.clock.now)
    rec = Rec(scan.kind, scan.who, scan.t, (scan.slot, scan.serial), "", track=scan.track)
    try:
        res = world.scanner.scan(req)
    except NotGenuine:
        rec.status = "not_genuine"
        return rec
    except SourceBlocked:
        rec.status = "source_blocked"
        return rec
    rec.status, rec.risk, rec.reasons = res.status, res.risk or "allow", res.risk_reasons or ""
    for d in res.draws:
        if d.campaign_id == world.campaign_id:
            rec.outcome, rec.amount_fen, rec.award_id = d.outcome, d.amount_fen, d.award_id
            rec.held = bool(getattr(d, "held", False))
    return rec


def simulate(world: World, pop: Population, progress: bool = True) -> list[Rec]:
    """Every actor's scans in time order; the leaked batch on sale at its hour; drains every five minutes."""
    heap: list[tuple[float, int, int, Any]] = []
    seq = 0
    for i, actor in enumerate(pop.actors):
        for scan in actor.scans:
            heap.append((scan.t, seq, i, scan))
            seq += 1
    heap.append((pop.leak_at, seq, -1, "leak"))
    seq += 1
    end = max(t for t, *_ in heap)
    t = DRAIN_EVERY_S
    while t < end:
        heap.append((t, seq, -2, "drain"))
        seq, t = seq + 1, t + DRAIN_EVERY_S
    heapq.heapify(heap)
    records: list[Rec] = []
    awarded_by_attackers: set[tuple[int, int]] = set()
    began = time.monotonic()
    while heap:
        t, _, i, item = heapq.heappop(heap)
        world.clock.now = EPOCH + t
        if i == -1:
            world.activate_leak()
            continue
        if i == -2:
            world.drain()
            continue
        actor = pop.actors[i]
        scan = actor.prepare(item)
        rec = scan_once(world, scan)
        if rec.kind == HONEST:
            rec.taken = rec.code in awarded_by_attackers and rec.outcome != "won"
        elif rec.award_id and rec.outcome == "won":
            awarded_by_attackers.add(rec.code)
        records.append(rec)
        for follow in actor.after(scan, rec.outcome):
            heapq.heappush(heap, (follow.t, seq, i, follow))
            seq += 1
        if progress and len(records) % 2000 == 0:
            say(f"    {len(records):>6,} scans, day {t / DAY:4.1f}, {time.monotonic() - began:5.1f} s")
    return records


def measure_cost(world: World, codes: list[tuple[int, int]], nets: list[str]) -> dict[str, Any]:
    """µs per Scanner.scan of fresh codes without and with the risk gate, rounds interleaved (A B B A ...),
    honest-shaped requests that draw: a member, a phone per three scans, a Guangdong address per phone."""
    from bench.fraud_actors import MemberId

    assert world.make_scanner is not None
    plain = world.make_scanner(False)
    scanners = {"without": plain, "with": world.scanner}
    per_round = len(codes) // (2 * COST_ROUNDS)
    timings: dict[str, list[float]] = {"without": [], "with": []}
    world.clock.now = EPOCH + (world.sizes.days + 1) * DAY
    at = 0
    for k in range(COST_ROUNDS):
        order = ("without", "with") if k % 2 == 0 else ("with", "without")
        for name in order:
            reqs = []
            for _ in range(per_round):
                slot, serial = codes[at]
                at += 1
                member = MemberId(f"cost-{at}", -400 * DAY)
                scan = Scan(t=0, kind=HONEST, who="cost", slot=slot, serial=serial,
                            ip=f"{nets[(at // 3) % len(nets)]}.{at % 250 + 2}",
                            device=f"cost-dev-{at // 3}", member=member)
                reqs.append(request_of(world, scan, world.clock.now))
            scanner = scanners[name]
            started = time.perf_counter()
            for req in reqs:
                world.clock.now += 1
                scanner.scan(req)
            timings[name].append((time.perf_counter() - started) / len(reqs) * 1e6)
    plain.close()
    without, with_ = statistics.median(timings["without"]), statistics.median(timings["with"])
    return {"rounds": COST_ROUNDS, "scans_per_round": per_round, "us_without": round(without, 1),
            "us_with": round(with_, 1), "ratio": round(with_ / without, 3) if without else None,
            "rounds_without": [round(x, 1) for x in timings["without"]],
            "rounds_with": [round(x, 1) for x in timings["with"]]}


def run_mode(args: argparse.Namespace, sizes: Sizes, places: Any, risk: bool) -> RunResult:
    mode = "risk" if risk else "baseline"
    say(f"\n--- run: {'WITH' if risk else 'WITHOUT'} the risk layer ---")
    began = time.monotonic()
    with sql_database(args.database_url, mode) as db_url:
        world = build_world(args.redis_url, db_url, sizes, args.seed, risk=risk)
        try:
            cost_scans = 2 * COST_ROUNDS * sizes.cost_per_round if risk and not args.no_cost else 0
            pop = population(sizes, places, args.seed, cost_scans=cost_scans)
            records = simulate(world, pop, progress=not args.silent)
            world.drain()
            states = award_states(world, [r.award_id for r in records if r.award_id])
            held_at = dict(world.held_at)
            seconds = time.monotonic() - began
            cost = measure_cost(world, pop.cost_codes, places.gd_nets[-2000:]) if cost_scans else {}
        finally:
            world.close()
            world.redis.flushdb()
            world.redis.close()
    say(f"    {len(records):,} scans in {seconds:.1f} s")
    return RunResult(mode, records, states, seconds, cost, held_at)


def summarize(run: RunResult) -> dict[str, Any]:
    """The run's figures: per attacker kind and for the honest scans."""
    per: dict[str, dict[str, Any]] = {}
    for kind in ATTACKS:
        rs = [r for r in run.records if r.kind == kind]
        per[kind] = {
            "scans": len(rs),
            "awards": sum(1 for r in rs if r.award_id and r.outcome == "won"),
            "won_fen": sum(r.amount_fen for r in rs if r.award_id and r.outcome == "won"),
            "paid_fen": sum(run.paid(r) for r in rs),
            "held": sum(1 for r in rs if r.held or run.states.get(r.award_id, ("", ""))[1] == "held"),
            "decisions": dict(Counter(r.risk for r in rs)),
            "statuses": dict(Counter(r.status for r in rs)),
        }
    honest = [r for r in run.records if r.kind == HONEST]
    causes: Counter[str] = Counter()
    harmed_by_group: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    harmed = 0
    won_honest = [r for r in honest if r.award_id and r.outcome == "won"]
    for r in honest:
        why = []
        if r.award_id and r.outcome == "won" and not r.held and run.held_before(r, PAYOUT_DELAY_S):
            why.append("held_later")
        if r.risk not in ("allow", ""):
            why.append(f"risk:{r.risk}")
            reasons.update(x for x in r.reasons.split(",") if x)
        if r.status in ("rate_limited", "source_blocked"):
            why.append(r.status)
        if r.taken:
            why.append("taken_by_attacker")
        if why:
            harmed += 1
            causes.update(why)
            harmed_by_group[r.who.split("-")[0]] += 1
    sweeps: dict[str, int | None] = {}
    by_track: dict[str, list[Rec]] = defaultdict(list)
    for r in run.records:
        if r.track:
            by_track[r.track].append(r)
    for track, rs in sorted(by_track.items()):
        rs.sort(key=lambda r: r.t)
        sweeps[track] = next((n for n, r in enumerate(rs, 1) if "sweep" in r.reasons), None)
    return {
        "mode": run.mode, "seconds": round(run.seconds, 1), "scans": len(run.records), "attackers": per,
        "attack_won_fen": sum(p["won_fen"] for p in per.values()),
        "attack_paid_fen": sum(p["paid_fen"] for p in per.values()),
        "honest": {"scans": len(honest), "harmed": harmed,
                   "harmed_pct": round(100 * harmed / len(honest), 3) if honest else 0.0,
                   "causes": dict(causes), "by_group": dict(harmed_by_group), "reasons": dict(reasons),
                   "won": sum(1 for r in honest if r.outcome == "won"),
                   "paid_fen": sum(run.paid(r) for r in honest)},
        "sweep_time_to_flag": sweeps, "cost": run.cost,
        # What the brand's payout delay buys: the same run, paid as if cash left this long after each win.
        "by_payout_delay": {str(d): {
            "attack_paid_fen": sum(run.paid(r, d) for r in run.records if r.kind != HONEST),
            "honest_held_later": sum(1 for r in won_honest if not r.held and run.held_before(r, d)),
        } for d in PAYOUT_DELAYS},
    }


def judge(base: dict[str, Any], risk: dict[str, Any] | None) -> dict[str, Any]:
    """Blocked % (overall and per kind) and PASS / MISS against the targets; None figures without a risk run."""
    out: dict[str, Any] = {"per_kind_blocked_pct": {}}
    won = base["attack_paid_fen"]
    if risk is None:
        out.update(blocked_pct=None, checks={})
        return out
    paid = risk["attack_paid_fen"]
    out["blocked_pct"] = round(100 * (1 - paid / won), 2) if won else None
    for kind in ATTACKS:
        w, p = base["attackers"][kind]["paid_fen"], risk["attackers"][kind]["paid_fen"]
        out["per_kind_blocked_pct"][kind] = round(100 * (1 - p / w), 2) if w else None
    flags = risk["sweep_time_to_flag"]
    out["checks"] = {
        "blocked": out["blocked_pct"] is not None and out["blocked_pct"] >= TARGET_BLOCKED,
        "harmed": risk["honest"]["harmed_pct"] <= TARGET_HARMED,
        "sweeps": bool(flags) and all(v is not None and v <= TARGET_FLAG for v in flags.values()),
    }
    return out


def _yuan(fen: int) -> str:
    return f"{fen / 100:,.2f} 元"


def _pct(v: float | None) -> str:
    return "   n/a" if v is None else f"{v:6.2f} %"


def print_report(base: dict[str, Any] | None, risk: dict[str, Any] | None, verdict: dict[str, Any]) -> None:
    runs = [(n, s) for n, s in (("without", base), ("with", risk)) if s is not None]
    say("\n=== bench-fraud: the same scans without and with the risk layer ===")
    for name, s in runs:
        h = s["honest"]
        say(f"  {name:<8} risk layer: {s['scans']:,} scans in {s['seconds']} s; honest {h['scans']:,} "
            f"(won {h['won']:,}, {_yuan(h['paid_fen'])} paid)")
    say("\n  per attacker                 scans   awards w/o   paid w/o        awards w/   held w/   paid w/"
        "        blocked")
    for kind in ATTACKS:
        b = base["attackers"][kind] if base else None
        r = risk["attackers"][kind] if risk else None
        cells = [f"  {kind:<26} {(b or r or {}).get('scans', 0):>6,}"]
        cells.append(f"{b['awards']:>11,}   {_yuan(b['paid_fen']):>12}" if b else f"{'':>11}   {'':>12}")
        if r:
            cells.append(f"{r['awards']:>11,}   {r['held']:>7,}   {_yuan(r['paid_fen']):>12}")
        else:
            cells.append(f"{'n/a':>11}   {'':>7}   {'':>12}")
        cells.append(_pct(verdict["per_kind_blocked_pct"].get(kind)))
        say("  ".join(cells))
    if base:
        say(f"  {'all attackers':<26} {'':>6}  {'':>11}   {_yuan(base['attack_paid_fen']):>12}"
            + (f"  {'':>11}   {'':>7}   {_yuan(risk['attack_paid_fen']):>12}" if risk else ""))
    checks = verdict.get("checks", {})

    def mark(name: str) -> str:
        return ("PASS" if checks[name] else "MISS") if name in checks else "----"

    say(f"\n  fraudulent value blocked:   {_pct(verdict['blocked_pct'])}   target ≥ {TARGET_BLOCKED} %   "
        f"{mark('blocked')}")
    for name, s in runs:
        h = s["honest"]
        line = f"  honest scans harmed ({name}): {h['harmed_pct']:6.3f} % ({h['harmed']:,} of {h['scans']:,})"
        if name == "with":
            line += f"   target ≤ {TARGET_HARMED} %   {mark('harmed')}"
        say(line)
        if h["causes"]:
            say(f"      causes: {h['causes']}; groups: {h['by_group']}")
        if h["reasons"]:
            say(f"      reasons on honest scans: {dict(Counter(h['reasons']).most_common(8))}")
    if risk:
        say(f"\n  time to flag, insider sweeps (scan number of the first 'sweep' reason; target ≤ {TARGET_FLAG}):"
            f"   {mark('sweeps')}")
        for track, n in risk["sweep_time_to_flag"].items():
            say(f"      {track:<20} {'never' if n is None else n}")
        won, honest_won = base["attack_paid_fen"], risk["honest"]["won"]
        say(f"\n  what the payout delay buys (flags raised off the hot path hold awards not yet paid; the policy's "
            f"default is {PAYOUT_DELAY_S} s):")
        say("      payout delay    attackers paid    blocked    honest prizes held before paid")
        for delay, row in risk["by_payout_delay"].items():
            paid = row["attack_paid_fen"]
            blocked = 100 * (1 - paid / won) if won else 0.0
            say(f"      {int(delay):>10,} s   {_yuan(paid):>14}   {blocked:7.2f} %   {row['honest_held_later']:>6} "
                f"of {honest_won:,}")
        c = risk["cost"]
        if c:
            say(f"\n  risk cost per Scanner.scan: {c['us_without']} µs without, {c['us_with']} µs with "
                f"(×{c['ratio']}; medians of {c['rounds']} interleaved rounds of {c['scans_per_round']} scans)")
    else:
        say("\n  the risk layer is not wired into this tree's Scanner (risk=): baseline only, nothing judged")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="a smaller world (about 30 s)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--redis-url", default=DEFAULT_REDIS_URL, help="a Redis DB this bench may flush")
    ap.add_argument("--database-url", default="",
                    help="empty: a SQLite temp file per run; a PostgreSQL admin URL: a database per run")
    ap.add_argument("--mode", choices=("both", "baseline", "risk"), default="both")
    ap.add_argument("--no-cost", action="store_true", help="skip the cost-per-scan rounds")
    ap.add_argument("--json", help="also write the figures to this file")
    ap.add_argument("--silent", action="store_true", help="no progress lines")
    args = ap.parse_args(argv)
    report = run(args, QUICK if args.quick else FULL)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(report, fh, indent=2, ensure_ascii=False)
    checks = report["verdict"].get("checks", {})
    return 0 if all(checks.values()) else 1


def run(args: argparse.Namespace, sizes: Sizes) -> dict[str, Any]:
    """Both runs (as far as the tree allows), the figures printed; the report as a dict."""
    places = find_places(args.seed)
    wired = risk_gate_class() is not None
    say(f"bench-fraud: seed {args.seed}, {sizes.batches} batches of {sizes.items:,} on sale + 1 leaked, "
        f"{sizes.honest_scans:,} honest scans, attackers ×{sizes.attack_scale}, {sizes.days} days; "
        f"risk layer {'wired' if wired else 'NOT wired (baseline only)'}")
    base = summarize(run_mode(args, sizes, places, risk=False)) if args.mode in ("both", "baseline") else None
    risk = summarize(run_mode(args, sizes, places, risk=True)) if wired and args.mode in ("both", "risk") else None
    verdict = judge(base, risk) if base else {"per_kind_blocked_pct": {}, "blocked_pct": None, "checks": {}}
    print_report(base, risk, verdict)
    return {"sizes": asdict(sizes), "seed": args.seed, "risk_wired": wired, "baseline": base, "risk": risk,
            "verdict": verdict}


if __name__ == "__main__":
    sys.exit(main())
