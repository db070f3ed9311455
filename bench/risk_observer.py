"""Does the risk observer keep up with the drain? The real drain with and without it, in one run.

    python -m bench.risk_observer [--drain 30000] [--rounds 6] [--redis-url URL]
                                  [--database-url URL | --pg-admin-url URL]

The database: a temp SQLite file by default; --database-url a scratch database of yours (migrated here,
its brand and batch ids 1-20 must be free); --pg-admin-url a PostgreSQL database `yima_bench_risk_<pid>`
made from that admin connection and dropped at the end. One brand, 20 batches.

Each round XADDs --drain scan events afresh into the batches' streams in the Redis DB of --redis-url
(flushed at the start and end: give it a DB of its own, 11 by default) and drains them with the real
`rules.drain.Drainer` (rollups on, 1,000 entries a read, as the worker runs it), without and with the
`RiskObserver`, alternately (without, with, with, without, …). The observer is kept across rounds, as a
drain job keeps it across passes. The events: 20,000 phones on 5,000 networks in 300 districts, random
serials; ~95 % allowed, ~3 % carrying the hot path's flag reasons (from 60 bad phones: sweep / farm /
travel), ~2 % scans of codes not on sale (from 100 leaking phones). Printed: scans/s each way, their ratio,
and the flags raised.

The target: the drain with the observer stores ≥ 5,000 scans/s (PASS / MISS; exit 1 on a MISS).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import func, insert, select
from sqlalchemy.engine import Engine

from bench.bench_dashboard import DEFAULT_PG_ADMIN_URL, bench_database

TARGET = 5000.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/11"
BATCHES, QUANTITY = 20, 1_000_000
CHUNK = 1000  # entries per read, as the worker drains
PHONES, NETWORKS, BAD_PHONES, LEAKERS = 20_000, 5_000, 60, 100
FLAGGED_SHARE, PRESALE_SHARE = 0.03, 0.02
FLAG_REASONS = ("sweep:d,velocity:n", "farm:d", "travel:m", "sweep:d,farm:d")


def say(message: str) -> None:
    print(message, flush=True)


def plan_events(rng: random.Random, count: int) -> list[dict[str, Any]]:
    """Stream entries as the scan script writes them (rules/scan.lua), with the risk layer's fields."""
    from bench.channel_judge import districts

    places = [c for k, v in districts().items() if len(k) == 2 for c in v][:300]
    ts = int(time.time())
    events = []
    for i in range(count):
        batch = rng.randint(1, BATCHES)
        serial = rng.randrange(QUANTITY)
        roll = rng.random()
        kind, risk, why = "first", "allow", ""
        if roll < FLAGGED_SHARE:
            phone = rng.randrange(BAD_PHONES)
            risk, why = rng.choice(("no_prize", "hold")), rng.choice(FLAG_REASONS)
        elif roll < FLAGGED_SHARE + PRESALE_SHARE:
            phone = BAD_PHONES + rng.randrange(LEAKERS)
            kind = "not_on_sale"
        else:
            phone = rng.randrange(PHONES)
        net = phone % NETWORKS
        events.append({
            "kind": kind, "code": f"B{batch:02d}S{serial:07d}{i:06d}", "batch": batch, "serial": serial,
            "role": "inner", "ts": ts, "adcode": rng.choice(places), "count": 1,
            "ip": f"10.{net // 250}.{net % 250}.{rng.randint(1, 254)}", "device": f"phone-{phone:05d}",
            "member": f"member-{phone:05d}".ljust(32, "0"), "rules_version": 1, "campaigns": "", "src": "gps",
            "risk": risk, "risk_why": why})
    return events


def build(engine: Engine) -> None:
    from codegen.models import Batch, Brand, Product
    from schema import upgrade_schema

    upgrade_schema(engine)
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(insert(Brand), [{"id": 1, "slug": "bench-risk", "name": "Bench", "base_url": "https://b.example",
                                      "created_at": now}])
        conn.execute(insert(Product), [{"id": 1, "brand_id": 1, "sku": "S", "name": "P", "gtin": None,
                                        "created_at": now}])
        conn.execute(insert(Batch), [{"id": b, "product_id": 1, "lot": f"L{b}", "quantity": QUANTITY, "pack_size": 24,
                                      "key_id": 1, "created_at": now} for b in range(1, BATCHES + 1)])


def push(r: redis.Redis, events: list[dict[str, Any]]) -> None:
    from codegen.batch_state import EVENT_STREAMS, events_key

    pipe = r.pipeline(transaction=False)
    for i, event in enumerate(events):
        pipe.xadd(events_key(event["batch"]), event)
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.sadd(EVENT_STREAMS, *{events_key(b) for b in range(1, BATCHES + 1)})


def drain_rate(engine: Engine, r: redis.Redis, events: list[dict[str, Any]], round_no: int, observer: Any) -> float:
    """Scans/s of the real drain over the events, with the observer (warm) or without."""
    from codegen.db import make_sessionmaker
    from rules.drain import Drainer, DrainSettings, ScanEventSink

    push(r, events)
    sink = ScanEventSink(observers=[observer] if observer is not None else [])
    drainer = Drainer(r, make_sessionmaker(engine), f"bench-{round_no}", DrainSettings(count=CHUNK), sink=sink)
    stored = 0
    started = time.perf_counter()
    while stored < len(events):
        stats = drainer.drain_once(block_ms=100)
        stored += stats.stored
        if not stats.read:
            break
    took = time.perf_counter() - started
    assert stored == len(events), f"drained {stored} of {len(events)}"
    return len(events) / took


@contextlib.contextmanager
def database(args: argparse.Namespace) -> Iterator[str]:
    if args.database_url:
        yield args.database_url
        return
    if args.pg_admin_url:
        with bench_database(args.pg_admin_url, "yima_bench_risk_") as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="yima-bench-risk-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'risk.db'}"


def flag_summary(engine: Engine) -> str:
    from codegen.db import make_sessionmaker
    from risk.models import RiskFlag

    with make_sessionmaker(engine)() as s:
        rows = s.execute(select(RiskFlag.kind, func.count(), func.sum(RiskFlag.hits)).group_by(RiskFlag.kind)).all()
    return ", ".join(f"{kind}: {n} flags, {hits:,} hits" for kind, n, hits in sorted(rows)) or "none"


def run(args: argparse.Namespace, r: redis.Redis) -> tuple[float, float]:
    from codegen.db import make_engine
    from risk.observer import RiskObserver

    rng = random.Random(17)
    with database(args) as url:
        engine = make_engine(url)
        try:
            build(engine)
            say(f"  database {engine.dialect.name}; {BATCHES} batches of brand 1")
            observer = RiskObserver(r)
            rates: dict[bool, list[float]] = {False: [], True: []}
            order = [False, True, True, False] * (args.rounds // 4 + 1)
            for round_no, observed in enumerate(order[:args.rounds]):
                events = plan_events(rng, args.drain)
                rate = drain_rate(engine, r, events, round_no, observer if observed else None)
                rates[observed].append(rate)
                say(f"    round {round_no + 1}: drain {'with' if observed else 'without':<7} the observer "
                    f"{rate:8,.0f} scans/s")
            s = observer.stats
            say(f"  observer: {s.events:,} events, {s.flagged:,} flagged, {s.flags_written:,} flag rows written, "
                f"{s.presale:,} pre-sale scans, {s.redis_round_trips:,} Redis round trips")
            say(f"  flags: {flag_summary(engine)}")
        finally:
            engine.dispose()
    return statistics.mean(rates[False]), statistics.mean(rates[True])


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--drain", type=int, default=30_000, help="scan events drained per round")
    p.add_argument("--rounds", type=int, default=6, help="rounds, alternately without and with the observer")
    p.add_argument("--redis-url", default=env("YIMA_BENCH_RISK_REDIS_URL", DEFAULT_REDIS_URL),
                   help="a Redis DB of its own: flushed at the start and the end")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="a scratch database (default: a temp SQLite file)")
    where.add_argument("--pg-admin-url", nargs="?", const=DEFAULT_PG_ADMIN_URL,
                       help=f"make a PostgreSQL database from this admin URL (default {DEFAULT_PG_ADMIN_URL})")
    args = p.parse_args(argv)
    if args.rounds < 2:
        p.error("--rounds must be at least 2 (one without, one with)")
    say(f"bench risk-observer: {args.drain:,} scans drained a round, {args.rounds} rounds; Redis {args.redis_url}; "
        f"{os.cpu_count()} CPUs")
    r = redis.Redis.from_url(args.redis_url, socket_timeout=30)
    r.flushdb()
    try:
        plain, observed = run(args, r)
    finally:
        r.flushdb()
        r.close()
    ok = observed >= TARGET
    say(f"drain without the observer {plain:,.0f} scans/s, with it {observed:,.0f} scans/s "
        f"(ratio {observed / plain:.2f}; the observer takes {1 - observed / plain:.0%} of the drain's time); "
        f"target ≥ {TARGET:,.0f} scans/s with it: {'PASS' if ok else 'MISS'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
