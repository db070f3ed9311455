"""Does the 窜货 judge keep up with the drain? Its throughput on PostgreSQL and SQLite, in one run.

    python -m bench.channel_judge [--scans 40000] [--drain 30000] [--rounds 4] [--redis-url URL]
                                  [--pg-admin-url URL] [--only postgresql|sqlite]

For each backend (PostgreSQL: a database `yima_bench_judge_<pid>` made from --pg-admin-url; SQLite: a temp
file; both migrated, both removed at the end, even on failure):

1. a realistic channel, written straight in SQL: one brand, 20 batches of 100,000 cases (24 items each),
   a province distributor for each of the 31 provinces with up to three city distributors under it, 400
   stores; 5,000 shipments warehouse → province, about 3,000 province → city and 600 city → store (one
   range each: ~8,600 ranges), gaps of unshipped cases between them;
2. consumer scans of items of those cases: 10 % of cases never shipped (无出库记录), the rest scanned
   inside the responsible distributor's territory 80 % of the time, anywhere in China otherwise, 5 %
   without a location;
3. (a) the judge alone (`ChannelJudge.observe`, 1,000 rows a transaction, as the drain hands them over)
   over --scans synthetic drained rows: its cold start (loading the channel) and its steady scans/s;
4. (b) the real drain (`rules.drain.Drainer`, rollups on, 1,000 entries a read, as the worker runs it)
   without and with the judge, alternately (without, with, with, without, …), each round over the same
   --drain scans XADDed afresh into the batches' streams in the Redis DB of --redis-url (flushed at the
   start and end): scans/s each way and the judge's share of the drain's time. The judge is the one of
   (a), warm, as a drain job keeps its judge across passes.

The target: the drain with the judge stores ≥ 5,000 scans/s on each backend (PASS / MISS; exit 1 on a MISS).
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import insert
from sqlalchemy.engine import Engine

from bench.bench_dashboard import DEFAULT_PG_ADMIN_URL, DEFAULT_REDIS_URL, bench_database

TARGET = 5000.0
BATCHES, CASES, PACK = 20, 100_000, 24
SHIPMENTS = 5000  # warehouse → province, one range each
CHUNK = 1000  # rows per transaction, as the drain reads them


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Plan:
    """The channel as generated, kept in Python to aim the scans: for each first-level range its
    (batch, first, last) and who is responsible for each part of it."""

    parts: list[tuple[int, int, int, int]] = field(default_factory=list)  # (batch, first, last, distributor)
    gaps: list[tuple[int, int, int]] = field(default_factory=list)  # (batch, first, last): never shipped
    territory: dict[int, str] = field(default_factory=dict)  # distributor → its one prefix
    rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # table → rows


def districts() -> dict[str, list[str]]:
    """Each province's and city's 6-digit district codes."""
    from rules.region import _read_units

    out: dict[str, list[str]] = {}
    for code, _name, _lat, _lng in _read_units():
        if not code.endswith("00"):
            out.setdefault(code[:2], []).append(code)
            out.setdefault(code[:4], []).append(code)
    return out


def plan_channel(rng: random.Random, places: dict[str, list[str]]) -> Plan:
    from rules.region_tree import region_children

    p = Plan()
    dist: list[dict[str, Any]] = []
    cities: dict[int, list[int]] = {}
    for province in region_children(""):
        if province.prefix not in places:
            continue
        pid = len(dist) + 1
        dist.append({"id": pid, "brand_id": 1, "code": f"P{province.prefix}", "name": province.name,
                     "territory": [province.prefix], "parent_id": None})
        p.territory[pid] = province.prefix
        kids = [c for c in region_children(province.prefix) if len(c.prefix) == 4 and c.prefix in places][:3]
        for c in kids:
            cid = len(dist) + 1
            dist.append({"id": cid, "brand_id": 1, "code": f"C{c.prefix}", "name": c.name, "territory": [c.prefix],
                         "parent_id": pid})
            p.territory[cid] = c.prefix
            cities.setdefault(pid, []).append(cid)
    provinces = [d["id"] for d in dist if d["parent_id"] is None]
    city_ids = [d["id"] for d in dist if d["parent_id"] is not None]
    stores = [{"id": i + 1, "brand_id": 1, "distributor_id": city_ids[i % len(city_ids)], "name": f"S{i}",
               "adcode": places[p.territory[city_ids[i % len(city_ids)]]][0]} for i in range(400)]
    shipments: list[dict[str, Any]] = []
    ranges: list[dict[str, Any]] = []
    now = datetime.now(UTC)

    def ship(batch: int, first: int, last: int, frm: int | None, to: int | None, store: int | None) -> None:
        sid = len(shipments) + 1
        shipments.append({"id": sid, "brand_id": 1, "from_distributor_id": frm, "to_distributor_id": to,
                          "to_store_id": store, "state": "shipped", "shipped_at": now,
                          "case_count": last - first + 1})
        ranges.append({"shipment_id": sid, "brand_id": 1, "batch_id": batch, "first_case": first, "last_case": last})

    per_batch = SHIPMENTS // BATCHES
    for batch in range(1, BATCHES + 1):
        case = 0
        for _ in range(per_batch):
            size, gap = rng.randint(200, 400), rng.randint(0, 40)
            if gap:
                p.gaps.append((batch, case, case + gap - 1))
            first, last = case + gap, min(case + gap + size - 1, CASES - 1)
            case = last + 1
            province = rng.choice(provinces)
            ship(batch, first, last, None, province, None)
            kids = cities.get(province, [])
            if kids and rng.random() < 0.6:
                city = rng.choice(kids)
                a, b = first + size // 4, first + size // 2
                ship(batch, a, b, province, city, None)
                supplied = [s["id"] for s in stores if s["distributor_id"] == city]
                if supplied and rng.random() < 0.2:
                    ship(batch, a, a + 20, city, None, rng.choice(supplied))
                p.parts += [(batch, first, a - 1, province), (batch, a, b, city), (batch, b + 1, last, province)]
            else:
                p.parts.append((batch, first, last, province))
    p.rows = {"distributors": dist, "stores": stores, "shipments": shipments, "shipment_ranges": ranges}
    return p


def plan_scans(rng: random.Random, plan: Plan, places: dict[str, list[str]], count: int) -> list[dict[str, Any]]:
    """Scans as the drain hands them to the judge (rules.drain.event_row's keys)."""
    everywhere = [c for k, v in places.items() if len(k) == 2 for c in v]
    now = datetime.now(UTC)
    rows = []
    for i in range(count):
        if rng.random() < 0.10:
            batch, first, last = rng.choice(plan.gaps)
            adcode = rng.choice(everywhere)
        else:
            batch, first, last, distributor = rng.choice(plan.parts)
            inside = places[plan.territory[distributor]]
            adcode = rng.choice(inside) if rng.random() < 0.8 else rng.choice(everywhere)
        serial = rng.randint(first, last) * PACK + rng.randrange(PACK)
        located = rng.random() >= 0.05
        rows.append({"id": f"{batch}-{i}", "batch_id": batch, "serial": serial, "role": "inner",
                     "code": f"B{batch:03d}S{serial:010d}", "kind": "first", "scan_count": 1, "scanned_at": now,
                     "adcode": adcode if located else None, "region_source": "gps" if located else "none"})
    return rows


def build(engine: Engine, plan: Plan) -> None:
    from channel.models import ChannelVersion, Distributor, Shipment, ShipmentRange, Store
    from codegen.models import Batch, Brand, Product
    from schema import upgrade_schema

    upgrade_schema(engine)
    with engine.begin() as conn:
        conn.execute(insert(Brand), [{"id": 1, "slug": "bench", "name": "Bench", "base_url": "https://b.example",
                                      "created_at": datetime.now(UTC)}])
        conn.execute(insert(Product), [{"id": 1, "brand_id": 1, "sku": "S", "name": "P", "gtin": None,
                                        "created_at": datetime.now(UTC)}])
        conn.execute(insert(Batch), [{"id": b, "product_id": 1, "lot": f"L{b}", "quantity": CASES * PACK,
                                      "pack_size": PACK, "key_id": 1, "created_at": datetime.now(UTC)}
                                     for b in range(1, BATCHES + 1)])
        for model, table in ((Distributor, "distributors"), (Store, "stores"), (Shipment, "shipments"),
                             (ShipmentRange, "shipment_ranges")):
            rows = plan.rows[table]
            for i in range(0, len(rows), 2000):
                conn.execute(insert(model), rows[i:i + 2000])
        conn.execute(insert(ChannelVersion), [{"brand_id": 1, "version": 1}])
    if engine.dialect.name == "postgresql":
        with engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")


def judge_alone(engine: Engine, rows: list[dict[str, Any]]) -> tuple[Any, float, float, dict[str, int]]:
    """(the judge, its cold start s, steady scans/s, verdicts) of ChannelJudge.observe over the rows."""
    from sqlalchemy import func, select

    from channel.judge import ChannelJudge
    from channel.models import ChannelJudgementDaily
    from codegen.db import make_sessionmaker

    sessions = make_sessionmaker(engine)
    judge = ChannelJudge()
    started = time.perf_counter()
    with sessions() as s, s.begin():
        judge.observe(s, rows[:CHUNK])
    cold = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(CHUNK, len(rows), CHUNK):
        with sessions() as s, s.begin():
            judge.observe(s, rows[i:i + CHUNK])
    rate = (len(rows) - CHUNK) / (time.perf_counter() - started)
    with sessions() as s:
        t = ChannelJudgementDaily
        verdicts = {v: int(n) for v, n in s.execute(select(t.verdict, func.sum(t.scans)).group_by(t.verdict))}
    assert sum(verdicts.values()) == len(rows), verdicts
    return judge, cold, rate, verdicts


def push(r: redis.Redis, rows: list[dict[str, Any]], ts: int) -> None:
    from codegen.batch_state import EVENT_STREAMS, events_key

    pipe = r.pipeline(transaction=False)
    for i, row in enumerate(rows):
        pipe.xadd(events_key(row["batch_id"]), {
            "kind": "first", "code": row["code"], "batch": row["batch_id"], "serial": row["serial"], "role": "inner",
            "ts": ts, "adcode": row["adcode"] or "", "count": 1, "ip": "10.0.0.1", "device": f"d{i % 999}",
            "member": "", "rules_version": 1, "campaigns": "", "src": row["region_source"]})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.sadd(EVENT_STREAMS, *{events_key(row["batch_id"]) for row in rows})


def drain_rate(engine: Engine, r: redis.Redis, rows: list[dict[str, Any]], round_no: int, judge: Any) -> float:
    """Scans/s of the real drain over the rows, with the judge (warm, as a drain job keeps it) or without."""
    from codegen.db import make_sessionmaker
    from rules.drain import Drainer, DrainSettings, ScanEventSink

    push(r, rows, int(time.time()) - round_no)
    sink = ScanEventSink(observers=[judge] if judge is not None else [])
    drainer = Drainer(r, make_sessionmaker(engine), f"bench-{round_no}", DrainSettings(count=CHUNK), sink=sink)
    stored = 0
    started = time.perf_counter()
    while stored < len(rows):
        stats = drainer.drain_once(block_ms=100)
        stored += stats.stored
        if not stats.read:
            break
    took = time.perf_counter() - started
    assert stored == len(rows), f"drained {stored} of {len(rows)}"
    return len(rows) / took


@contextlib.contextmanager
def database(kind: str, args: argparse.Namespace) -> Iterator[str]:
    if kind == "postgresql":
        with bench_database(args.pg_admin_url, "yima_bench_judge_") as url:
            yield url
        return
    with tempfile.TemporaryDirectory(prefix="yima-bench-judge-") as tmp:
        yield f"sqlite:///{Path(tmp) / 'judge.db'}"
        say("removed the SQLite file")


def run_backend(kind: str, args: argparse.Namespace, r: redis.Redis) -> tuple[float, float]:
    from codegen.db import make_engine

    rng = random.Random(13)
    places = districts()
    plan = plan_channel(rng, places)
    scans = plan_scans(rng, plan, places, args.scans)
    drained = plan_scans(rng, plan, places, args.drain)
    with database(kind, args) as url:
        engine = make_engine(url)
        try:
            started = time.monotonic()
            build(engine, plan)
            say(f"  {kind}: channel of {len(plan.rows['distributors'])} distributors, "
                f"{len(plan.rows['shipment_ranges']):,} shipped ranges written in {time.monotonic() - started:.1f} s")
            judge, cold, alone, verdicts = judge_alone(engine, scans)
            mix = ", ".join(f"{v} {n / len(scans):.0%}" for v, n in sorted(verdicts.items()))
            say(f"  (a) judge alone: cold start (loads the channel) {cold * 1000:,.0f} ms, then {alone:,.0f} scans/s "
                f"over {len(scans):,} scans ({mix})")
            rates: dict[bool, list[float]] = {False: [], True: []}
            order = [False, True, True, False] * (args.rounds // 4 + 1)
            for round_no, judged in enumerate(order[:args.rounds]):
                rate = drain_rate(engine, r, drained, round_no, judge if judged else None)
                rates[judged].append(rate)
                say(f"    round {round_no + 1}: drain {'with' if judged else 'without':<7} the judge "
                    f"{rate:8,.0f} scans/s")
        finally:
            engine.dispose()
    plain, judged = statistics.mean(rates[False]), statistics.mean(rates[True])
    share = 1 - judged / plain
    say(f"  (b) drain, rollups on: without the judge {plain:,.0f} scans/s, with it {judged:,.0f} scans/s "
        f"(the judge takes {share:.0%} of the drain's time); judge alone {alone:,.0f} scans/s")
    return judged, alone


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scans", type=int, default=40_000, help="rows the judge alone judges")
    p.add_argument("--drain", type=int, default=30_000, help="stream entries drained per round")
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--redis-url", default=env("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--pg-admin-url", default=env("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    p.add_argument("--only", choices=("postgresql", "sqlite"), help="one backend only")
    args = p.parse_args(argv)
    say(f"bench channel-judge: {args.scans:,} scans judged alone, {args.drain:,} drained a round, {args.rounds} "
        f"rounds; Redis {args.redis_url}; {os.cpu_count()} CPUs")
    r = redis.Redis.from_url(args.redis_url, socket_timeout=30)
    r.flushdb()
    verdicts = []
    try:
        for kind in ("postgresql", "sqlite"):
            if args.only in (None, kind):
                judged, alone = run_backend(kind, args, r)
                verdicts.append((kind, judged, alone))
    finally:
        r.flushdb()
        r.close()
    missed = False
    for kind, judged, alone in verdicts:
        ok = judged >= TARGET
        missed |= not ok
        say(f"{kind}: the drain with the 窜货 judge {judged:,.0f} scans/s (judge alone {alone:,.0f} scans/s); "
            f"target ≥ {TARGET:,.0f} scans/s: {'PASS' if ok else 'MISS'}")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
