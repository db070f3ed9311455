"""The live dashboard at scale: page and data-endpoint latency over big rollups, and the drain's cost of
keeping them.

    python -m bench.bench_dashboard [--quick] [--events 10000000] [--awards 100000] [--requests 40]
                                    [--drain-events 100000] [--redis-url URL] [--pg-admin-url URL]

Sizes also come from the environment (YIMA_BENCH_EVENTS, YIMA_BENCH_AWARDS, YIMA_BENCH_REQUESTS,
YIMA_BENCH_DRAIN_EVENTS); --quick is 200,000 events and 5,000 awards. One run, bounded by --timeout-minutes:

1. a PostgreSQL database `yima_bench_dash_<pid>` (made from --pg-admin-url, migrated, dropped at the end
   even on failure or timeout) and the Redis DB of --redis-url (flushed at start and end);
2. a catalogue through the domain APIs: 8 brands, 25 batches each, 6 campaigns each (saved and activated
   as an operator would: validated definitions with budgets and prize tables);
3. --events scan events and --awards awards written by SQL (INSERT … SELECT from generate_series, in
   chunks), spread over 90 days with more traffic lately and in the evening, over the country's ~2,800
   districts (a few big cities take most scans, 4 % unlocated), 70 % first scans, 25 % repeats, 5 % not
   on sale or void; a quarter of the scans match no campaign, the rest one or two of their brand's;
   awards 2 % void. Forged attempts have no raw rows anywhere, so their rollups are filled directly;
4. the rollups built by `reports.rebuild.rebuild_rollups` (what `yima rollups rebuild` runs; timed), then
   minute rows past their retention pruned as the worker does; row counts printed;
5. every dashboard page and data endpoint through the real Flask app (test client, signed in as a
   platform admin through the login form): --requests requests each, brands and campaigns taken in
   turn, p50 / p95 / max printed, and p95 checked against 200 ms;
6. the real drain (`rules.drain.Drainer`, 1,000 entries a read, as the worker) over --drain-events scan
   events XADDed into the batches' streams, with rollups off and on, alternately (off, on, on, off), into
   the same big tables: events/s each way and the ratio, checked against 5,000 events/s with rollups;
7. the scan path's one change: an invalid code now also counts as a forged attempt, one more script call
   in the pipeline that already counts it against its source: µs per `record_invalid` with and without.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import re
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import Engine, make_url

DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/14"
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BRANDS, BATCHES_PER_BRAND, CAMPAIGNS_PER_BRAND = 8, 25, 6
DAYS = 90
P95_TARGET_MS = 200.0
DRAIN_TARGET = 5000.0
PASSWORD = "bench password for the dashboard"
# Hours of the day (Beijing time) weighted as scans come: few at night, most in the evening.
HOUR_WEIGHTS = [2, 1, 1, 1, 1, 2, 4, 6, 8, 9, 10, 11, 12, 10, 9, 9, 10, 12, 15, 18, 20, 17, 10, 5]


class Timeout(Exception):
    pass


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    say(f"… {name}")
    yield
    say(f"  {name}: {time.monotonic() - started:.1f} s")


# --- data ----------------------------------------------------------------------------------------------


@dataclass
class Catalogue:
    brands: list[tuple[int, str]]  # (id, slug)
    batches: dict[int, list[int]]  # brand id → batch ids
    campaigns: dict[int, list[int]]  # brand id → campaign ids


def districts() -> list[str]:
    """Every district-level adcode of the bundled GB/T 2260 table (the scan path's regions)."""
    text_ = resources.files("rules.data").joinpath("adcodes.csv").read_text("utf-8")
    rows = csv.DictReader(io.StringIO(text_))
    return [r["adcode"] for r in rows if r["adcode"][4:] != "00" and r["lat"]]


def campaign_doc(slug: str, k: int, batch_ids: list[int], start: datetime) -> dict[str, Any]:
    return {
        "name": f"{slug} 活动 {k + 1}", "brand": slug,
        "window": {"start": start.isoformat(), "end": (start + timedelta(days=DAYS + 60)).isoformat()},
        "scope": {"batches": batch_ids},
        "budget": {"total_fen": 7_000_000 + 1_000_000 * k},  # above the prizes' worst case
        "prizes": [
            {"kind": "cash", "name": "一元红包", "min_fen": 100, "max_fen": 100, "weight": 0.05, "total": 20_000},
            {"kind": "cash", "name": "随机红包", "min_fen": 100, "max_fen": 888, "weight": 0.02, "total": 5_000},
            {"kind": "points", "name": "积分", "points": 10, "weight": 0.3},
        ],
        "consolation": {"kind": "points", "name": "谢谢参与积分", "points": 1},
    }


def make_catalogue(engine: Engine, now: datetime) -> Catalogue:
    from codegen import batches
    from codegen.db import make_sessionmaker, transaction
    from rules.campaign_store import save_campaign, set_status
    from rules.region import default_index

    sessions = make_sessionmaker(engine)
    cat = Catalogue([], {}, {})
    start = now - timedelta(days=DAYS + 1)
    with transaction(sessions) as s:
        for b in range(BRANDS):
            slug = f"brand{b + 1}"
            brand = batches.add_brand(s, slug, f"品牌 {b + 1} Brand {b + 1}", f"https://{slug}.example")
            batches.add_product(s, brand, f"{slug}-P", f"{slug} 产品", None)
            ids = []
            for n in range(BATCHES_PER_BRAND):
                req = batches.BatchRequest(sku=f"{slug}-P", lot=f"L{n:03d}", count=1_000_000)
                ids.append(batches.create_batch(s, brand, req, key_id=1, max_count=10_000_000).id)
            cat.brands.append((brand.id, slug))
            cat.batches[brand.id] = ids
        s.flush()
        for brand_id, slug in cat.brands:
            cat.campaigns[brand_id] = []
            for k in range(CAMPAIGNS_PER_BRAND):
                row = save_campaign(s, campaign_doc(slug, k, cat.batches[brand_id], start), default_index())
                set_status(s, row.id, "active", default_index())
                cat.campaigns[brand_id].append(row.id)
    return cat


def load_raw(engine: Engine, cat: Catalogue, events: int, awards: int, now: datetime) -> None:
    """Scan events and awards by INSERT … SELECT from generate_series, in chunks, secondary indexes off."""
    places = districts()
    all_batches = [b for ids in cat.batches.values() for b in ids]
    # Each batch's brand's campaigns, as SQL arrays: an event matches none, one or two of them.
    batch_campaigns = {b: cat.campaigns[brand] for brand, ids in cat.batches.items() for b in ids}
    cum: list[int] = []
    total = 0
    for w in HOUR_WEIGHTS:
        total += w
        cum.append(total)
    end = int(now.timestamp())
    with engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE bench_place (i int PRIMARY KEY, adcode varchar(6))"))
        conn.execute(text("INSERT INTO bench_place VALUES (:i, :a)"), [{"i": i, "a": a} for i, a in enumerate(places)])
        conn.execute(text("CREATE TEMP TABLE bench_batch (i int PRIMARY KEY, batch_id int, campaigns int[])"))
        conn.execute(text("INSERT INTO bench_batch VALUES (:i, :b, :c)"),
                     [{"i": i, "b": b, "c": batch_campaigns[b]} for i, b in enumerate(all_batches)])
        # One row per unit of HOUR_WEIGHTS: a uniform draw in [0, total) joins to its hour.
        conn.execute(text("CREATE TEMP TABLE bench_hour (w int PRIMARY KEY, h int)"))
        conn.execute(text("INSERT INTO bench_hour VALUES (:w, :h)"),
                     [{"w": w, "h": h} for h, upto in enumerate(cum) for w in range(upto - HOUR_WEIGHTS[h], upto)])
        for table in ("bench_place", "bench_batch", "bench_hour"):
            conn.execute(text(f"ANALYZE {table}"))
        conn.execute(text("DROP INDEX ix_scan_events_batch_serial"))
        conn.execute(text("DROP INDEX ix_scan_events_scanned_at"))
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        chunk = 1_000_000
        for first in range(1, events + 1, chunk):
            last = min(events, first + chunk - 1)
            # Per event: a batch (its brand follows), a day weighted towards the end of the 90 days, an
            # hour by HOUR_WEIGHTS (Beijing time), a district skewed towards the big ones (4 % unknown).
            conn.execute(text(f"""
                INSERT INTO scan_events (id, batch_id, serial, role, code, kind, scan_count, scanned_at, adcode, ip,
                                         device_id, member, rules_version, campaigns, ingested_at)
                SELECT b.batch_id || '-' || g, b.batch_id, (g / {len(all_batches)})::int, 'inner',
                       upper(lpad(to_hex(g), 28, '0')),
                       CASE WHEN k < 70 THEN 'first' WHEN k < 95 THEN 'repeat' WHEN k < 98 THEN 'not_on_sale'
                            ELSE 'void' END,
                       CASE WHEN k < 70 THEN 1 ELSE 2 END,
                       t, p.adcode, '10.' || (g % 250) || '.' || (g / 250 % 250) || '.1', 'dev-' || (g % 400000),
                       CASE WHEN g % 5 = 0 THEN 'm' || (g % 90000) ELSE '' END, 1,
                       CASE WHEN m < 25 THEN ''
                            WHEN m < 75 THEN b.campaigns[(1 + g % {CAMPAIGNS_PER_BRAND})::int]::text
                            ELSE b.campaigns[(1 + g % {CAMPAIGNS_PER_BRAND})::int] || ','
                                 || b.campaigns[(1 + (g + 1) % {CAMPAIGNS_PER_BRAND})::int] END,
                       t + interval '2 seconds'
                FROM (
                    SELECT g, (g * 7919) % {len(all_batches)} AS bi, (g * 31) % 100 AS k, (g * 17 + 3) % 100 AS m,
                           CASE WHEN random() < 0.04 THEN NULL
                                ELSE floor({len(places)} * power(random(), 3))::int END AS pi,
                           {end} - 86400 * floor({DAYS} * power(random(), 1.4))::int - ({end} + 28800) % 86400
                               AS midnight,
                           floor(random() * {total})::int AS hw, floor(random() * 3600)::int AS s
                    FROM generate_series({first}::bigint, {last}::bigint) g
                ) x
                JOIN bench_batch b ON b.i = x.bi
                JOIN bench_hour hh ON hh.w = x.hw
                LEFT JOIN bench_place p ON p.i = x.pi
                CROSS JOIN LATERAL (SELECT x.midnight + 3600 * hh.h + x.s AS at) a
                CROSS JOIN LATERAL (SELECT to_timestamp(CASE WHEN a.at > {end} THEN a.at - 86400 ELSE a.at END) AS t) tt
            """))
            say(f"    {last:,} events")
        conn.execute(text("SET LOCAL maintenance_work_mem = '512MB'"))
        conn.execute(text("CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial)"))
        conn.execute(text("CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at)"))
        campaigns = [c for ids in cat.campaigns.values() for c in ids]
        conn.execute(text("CREATE TEMP TABLE bench_campaign (i int PRIMARY KEY, campaign_id int, batch_id int)"))
        conn.execute(text("INSERT INTO bench_campaign VALUES (:i, :c, :b)"), [
            {"i": i, "c": c, "b": cat.batches[brand][0]}
            for i, (brand, c) in enumerate((brand, c) for brand, ids in cat.campaigns.items() for c in ids)])
        # Awards: prize 0 (1 元) 50 %, prize 1 (1-8.88 元) 10 %, points 25 %, consolation 15 %; 2 % void.
        conn.execute(text(f"""
            INSERT INTO awards (id, campaign_id, claim, code, batch_id, role, serial, prize_index, kind, amount_fen,
                                points, coupon, rules_version, member, awarded_at, status, void_reason, ingested_at)
            SELECT c.campaign_id || '-' || g, c.campaign_id, 'A' || lpad(to_hex(g), 27, '0'),
                   'A' || lpad(to_hex(g), 27, '0'), c.batch_id, 'inner', g, pr.idx, pr.kind, pr.amount, pr.pts, '', 1,
                   '', t, CASE WHEN g % 50 = 0 THEN 'void' ELSE 'valid' END,
                   CASE WHEN g % 50 = 0 THEN 'bench: void' ELSE '' END, t
            FROM (SELECT g, g % {len(campaigns)} AS ci, (g * 37) % 100 AS r,
                         to_timestamp({end} - floor(86400 * {DAYS} * power(random(), 1.4))::int) AS t
                  FROM generate_series(1::bigint, {awards}::bigint) g) x
            JOIN bench_campaign c ON c.i = x.ci
            CROSS JOIN LATERAL (SELECT
                CASE WHEN r < 50 THEN 0 WHEN r < 60 THEN 1 WHEN r < 85 THEN 2 ELSE -1 END AS idx,
                CASE WHEN r < 60 THEN 'cash' ELSE 'points' END AS kind,
                CASE WHEN r < 50 THEN 100 WHEN r < 60 THEN 100 + (g * 13) % 789 ELSE 0 END AS amount,
                CASE WHEN r < 60 THEN 0 WHEN r < 85 THEN 10 ELSE 1 END AS pts) pr
        """))
    with engine.begin() as conn:
        conn.execute(text("ANALYZE scan_events"))
        conn.execute(text("ANALYZE awards"))


def fill_forged(engine: Engine, cat: Catalogue, now: datetime) -> None:
    """Forged attempts per brand: minute rows for the retention, hour rows for the 90 days."""
    end = int(now.timestamp()) // 60 * 60
    brands = [b for b, _ in cat.brands] + [0]
    with engine.begin() as conn:
        for brand in brands:
            conn.execute(text(f"""
                INSERT INTO rollup_forged_minute (brand_id, minute, attempts)
                SELECT {brand}, {end} - 60 * g, 1 + (g * 7 + {brand}) % 5 FROM generate_series(0, 2 * 1440 - 1) g
                WHERE (g + {brand}) % 3 = 0
            """))
            conn.execute(text(f"""
                INSERT INTO rollup_forged_hour (brand_id, hour, attempts)
                SELECT {brand}, {end - end % 3600} - 3600 * g, 20 + (g * 11 + {brand}) % 40
                FROM generate_series(0, {DAYS} * 24 - 1) g
            """))


# --- page latency ----------------------------------------------------------------------------------------


def signed_in_client(app: Any) -> Any:
    client = app.test_client()
    page = client.get("/ops/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token, "no CSRF token on the login page"
    resp = client.post("/ops/login", data={"email": "bench@yima.example", "password": PASSWORD,
                                           "csrf_token": token.group(1)})
    assert resp.status_code == 302, resp.status_code
    return client


def endpoints(cat: Catalogue) -> list[tuple[str, list[str]]]:
    """(name, the URLs it is measured on, taken in turn)."""
    slugs = [slug for _, slug in cat.brands]
    campaigns = [c for ids in cat.campaigns.values() for c in ids]
    out: list[tuple[str, list[str]]] = []
    for days in (1, 7, 30, 90):
        out.append((f"brand page, {days} d", [f"/ops/dashboard/?brand={s}&days={days}" for s in slugs]))
    for days in (7, 90):
        out.append((f"brand live fragment, {days} d", [f"/ops/dashboard/live?brand={s}&days={days}" for s in slugs]))
        out.append((f"brand CSV, {days} d", [f"/ops/dashboard/export.csv?brand={s}&days={days}" for s in slugs]))
    for days in (1, 7, 30, 90):
        out.append((f"campaign page, {days} d", [f"/ops/dashboard/campaigns/{c}?days={days}" for c in campaigns]))
    for days in (7, 90):
        out.append((f"campaign live fragment, {days} d",
                    [f"/ops/dashboard/campaigns/{c}/live?days={days}" for c in campaigns]))
        out.append((f"campaign CSV, {days} d",
                    [f"/ops/dashboard/campaigns/{c}/export.csv?days={days}" for c in campaigns]))
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def measure_pages(app: Any, cat: Catalogue, requests: int) -> list[tuple[str, float, float, float, int]]:
    client = signed_in_client(app)
    rows = []
    for name, urls in endpoints(cat):
        for url in urls[:2]:  # warm-up: templates compiled, connections pooled
            assert client.get(url).status_code == 200, url
        took, size = [], 0
        for i in range(requests):
            url = urls[i % len(urls)]
            started = time.perf_counter()
            resp = client.get(url)
            took.append((time.perf_counter() - started) * 1000)
            assert resp.status_code == 200, (url, resp.status_code)
            size = max(size, len(resp.data))
        rows.append((name, statistics.median(took), percentile(took, 0.95), max(took), size))
        say(f"    {name:<30} p50 {rows[-1][1]:7.1f} ms   p95 {rows[-1][2]:7.1f} ms   max {rows[-1][3]:7.1f} ms"
            f"   {size / 1024:6.1f} KiB")
    return rows


# --- drain throughput ------------------------------------------------------------------------------------


def push_events(r: redis.Redis, cat: Catalogue, count: int, round_no: int, now: int) -> None:
    from codegen.batch_state import EVENT_STREAMS, events_key

    places = districts()[:300]
    pairs = [(brand, b) for brand, ids in cat.batches.items() for b in ids[:4]]
    pipe = r.pipeline(transaction=False)
    for i in range(count):
        brand, batch = pairs[i % len(pairs)]
        matched = cat.campaigns[brand]
        one, two = matched[i % len(matched)], matched[(i + 1) % len(matched)]
        campaigns = ["", str(one), f"{one},{two}"]
        pipe.xadd(events_key(batch), {
            "kind": "first" if i % 10 < 7 else "repeat", "code": f"R{round_no}{i:026d}"[:28], "batch": batch,
            "serial": 5_000_000 + round_no * count + i, "role": "inner", "ts": now - i % 600,
            "adcode": places[i % len(places)] if i % 25 else "", "count": 1 if i % 10 < 7 else 2,
            "ip": f"10.9.{i % 250}.{round_no}", "device": f"dev-{i % 5000}", "member": "", "rules_version": 1,
            "campaigns": campaigns[i % 3]})
        if i % 5000 == 4999:
            pipe.execute()
    pipe.execute()
    r.sadd(EVENT_STREAMS, *{events_key(b) for _, b in pairs})


def drain_rate(engine: Engine, r: redis.Redis, cat: Catalogue, count: int, round_no: int, rollups: bool,
               pg_insert: str = "copy") -> float:
    from codegen.db import make_sessionmaker
    from rules.drain import Drainer, DrainSettings, ScanEventSink

    push_events(r, cat, count, round_no, int(time.time()))
    drainer = Drainer(r, make_sessionmaker(engine), f"bench-{round_no}", DrainSettings(count=1000),
                      sink=ScanEventSink(rollups=rollups, pg_insert=pg_insert))
    stored = 0
    started = time.perf_counter()
    while stored < count:
        stats = drainer.drain_once(block_ms=100)
        stored += stats.stored
        if not stats.read:
            break
    took = time.perf_counter() - started
    assert stored == count, f"drained {stored} of {count}"
    return count / took


# --- the scan path's change ------------------------------------------------------------------------------


def invalid_code_cost(r: redis.Redis, calls: int) -> tuple[float, float, float, float]:
    """µs per EnumerationGuard.record_invalid without and with the forged-attempt count: (median, best)
    of each, over 40 alternating blocks (a shared machine's noise hits both alike)."""
    from reports.forged import ForgedCounter
    from rules.enumeration import EnumerationGuard, EnumerationLimits

    limits = EnumerationLimits(per_ip=10**9, per_device=10**9)
    plain, counted = EnumerationGuard(r, limits), EnumerationGuard(r, limits, forged=ForgedCounter())
    times: dict[bool, list[float]] = {False: [], True: []}
    block = max(1, calls // 40)
    for k in range(80):
        guard = counted if k % 2 else plain
        started = time.perf_counter()
        for i in range(block):
            guard.record_invalid(f"198.51.100.{i % 200}", f"dev-{i % 300}", 7 + i % 3)
        times[bool(k % 2)].append((time.perf_counter() - started) / block * 1e6)
    return (statistics.median(times[False]), min(times[False]), statistics.median(times[True]), min(times[True]))


# --- the run ---------------------------------------------------------------------------------------------


@contextlib.contextmanager
def bench_database(admin_url: str, prefix: str = "yima_bench_dash_", keep: bool = False) -> Iterator[str]:
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{prefix}{os.getpid()}"
    try:
        with admin.connect() as conn:
            like = {"p": prefix + "%"}
            stale_names = conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :p"), like)
            for stale in stale_names.all():
                pid = stale.rsplit("_", 1)[-1]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # left by a run that was killed
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        say(f"kept database {name}" if keep else f"dropped database {name}")


def run(args: argparse.Namespace) -> int:
    from app import create_app
    from codegen import keys
    from codegen.db import make_engine, make_sessionmaker, transaction
    from reports.models import ForgedHour, ForgedMinute, ScanHour, ScanMinute, ScanRegionDay
    from reports.rebuild import rebuild_rollups, vacuum_rollups
    from reports.rollups import prune_rollups
    from rules.partitions import Month, ensure_months
    from schema import upgrade_schema

    now = datetime.now(UTC)
    r = redis.Redis.from_url(args.redis_url, socket_timeout=30)
    r.flushdb()
    failures = []
    with bench_database(args.pg_admin_url) as db_url, tempfile.TemporaryDirectory(prefix="yima-bench-dash-") as tmp:
        engine = make_engine(db_url)
        try:
            upgrade_schema(engine)
            with transaction(make_sessionmaker(engine)) as s:  # the 90 days' months, as the worker would have made
                ensure_months(s, Month.of(now - timedelta(days=DAYS + 1)), Month.of(now))
            with phase("catalogue (domain APIs)"):
                cat = make_catalogue(engine, now)
            with phase(f"{args.events:,} scan events and {args.awards:,} awards (SQL)"):
                load_raw(engine, cat, args.events, args.awards, now)
            fill_forged(engine, cat, now)
            sessions = make_sessionmaker(engine)
            with phase("rebuild_rollups (yima rollups rebuild)"), transaction(sessions) as s:
                rebuilt = rebuild_rollups(s)
            for t in rebuilt:
                say(f"    {t.table:<24} {t.rows:>12,} rows")
            with phase("prune minute rows past retention"), transaction(sessions) as s:
                pruned = prune_rollups(s, now.timestamp())
            with sessions() as s:
                counts = {m.__tablename__: s.scalar(select(func.count()).select_from(m))
                          for m in (ScanMinute, ScanHour, ScanRegionDay, ForgedMinute, ForgedHour)}
            say(f"    pruned {pruned:,} minute rows; now " + ", ".join(f"{k} {v:,}" for k, v in counts.items()))
            with phase("VACUUM ANALYZE the rollups (what `yima rollups rebuild` does next)"):
                vacuum_rollups(engine)
            with engine.begin() as conn:
                size = conn.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
                raw = conn.scalar(text("SELECT pg_size_pretty(pg_total_relation_size('scan_events'))"))
                rollups = conn.scalar(text("SELECT pg_size_pretty(sum(pg_total_relation_size(c.oid))) FROM pg_class c "
                                           "WHERE c.relname LIKE 'rollup_%' AND c.relkind = 'r'"))
            say(f"    database {size}: scan_events {raw}, rollups {rollups}")
            if args.grain_check:
                from reports.rebuild import MATCHED_PG

                with phase("what an hour × city grain would hold (over the raw events)"), engine.connect() as conn:
                    conn.execute(text("SET work_mem = '256MB'"))
                    hour_city = conn.scalar(text(f"{MATCHED_PG} SELECT count(*) FROM (SELECT DISTINCT brand_id, "
                                                 "campaign_id, ts - ts % 3600, city FROM matched) x"))
                say(f"    hour × brand × campaign × city would be {hour_city:,} rows; "
                    f"the day grain kept is {counts['rollup_scan_region_day']:,}")

            with phase(f"pages and data endpoints, {args.requests} requests each (Flask test client)"):
                with transaction(sessions) as s:
                    from accounts.users import create_user

                    create_user(s, "bench@yima.example", PASSWORD, platform_admin=True)
                keys.init_keyring(Path(tmp) / "keys.json")  # the app's scanner wants one (no scans here)
                app = create_app({"database_url": db_url, "redis_url": args.redis_url, "var_dir": Path(tmp),
                                  "keys_file": Path(tmp) / "keys.json", "hq_public_file": Path(tmp) / "hq.json"})
                try:
                    pages = measure_pages(app, cat, args.requests)
                finally:
                    app.extensions["yima.scanner"].close()
                    app.extensions["yima.redis"].close()
                    app.extensions["yima.db"].engine.dispose()
            slow = [(n, p95) for n, _p50, p95, _mx, _sz in pages if p95 > P95_TARGET_MS]
            say(f"  worst p95 {max(p[2] for p in pages):.1f} ms over {len(pages)} endpoints "
                f"(target ≤ {P95_TARGET_MS:.0f} ms): {'met' if not slow else 'MISSED by ' + str(slow)}")
            if slow:
                failures.append("page p95")

            with phase(f"drain: {args.drain_events:,} events a round, rollups off / on / on / off"):
                rates: dict[bool, list[float]] = {False: [], True: []}
                for round_no, rollups in enumerate((False, True, True, False)):
                    rate = drain_rate(engine, r, cat, args.drain_events, round_no, rollups)
                    rates[rollups].append(rate)
                    say(f"    round {round_no + 1}: rollups {'on ' if rollups else 'off'} {rate:8,.0f} events/s")
            off, on = statistics.mean(rates[False]), statistics.mean(rates[True])
            say(f"  drain with rollups {on:,.0f} events/s, without {off:,.0f} events/s: ratio {on / off:.2f} "
                f"(target ≥ {DRAIN_TARGET:,.0f} events/s with rollups): {'met' if on >= DRAIN_TARGET else 'MISSED'}")
            if on < DRAIN_TARGET:
                failures.append("drain rate")

            with phase("invalid-code path: record_invalid without / with the forged-attempt count"):
                plain, plain_best, counted, counted_best = invalid_code_cost(r, args.invalid_calls)
            say(f"    median {plain:.1f} µs → {counted:.1f} µs per invalid code ({counted - plain:+.1f} µs); "
                f"best block {plain_best:.1f} → {counted_best:.1f} µs ({counted_best - plain_best:+.1f} µs); "
                "an honest scan does not call it")
        finally:
            engine.dispose()
            r.flushdb()
            r.close()
    say("FAILED: " + ", ".join(failures) if failures else "all targets met")
    return 1 if failures else 0


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="200,000 events, 5,000 awards, 20 requests, 20,000 drained")
    p.add_argument("--events", type=int, default=int(env("YIMA_BENCH_EVENTS", 10_000_000)))
    p.add_argument("--awards", type=int, default=int(env("YIMA_BENCH_AWARDS", 100_000)))
    p.add_argument("--requests", type=int, default=int(env("YIMA_BENCH_REQUESTS", 40)))
    p.add_argument("--drain-events", type=int, default=int(env("YIMA_BENCH_DRAIN_EVENTS", 100_000)))
    p.add_argument("--invalid-calls", type=int, default=20_000)
    p.add_argument("--grain-check", action="store_true", help="also count what an hour × city rollup would hold")
    p.add_argument("--timeout-minutes", type=float, default=float(env("YIMA_BENCH_TIMEOUT_MINUTES", 90)))
    p.add_argument("--redis-url", default=env("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--pg-admin-url", default=env("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    args = p.parse_args(argv)
    if args.quick:
        args.events, args.awards, args.requests, args.drain_events = 200_000, 5_000, 20, 20_000
    say(f"bench-dashboard: {args.events:,} events, {args.awards:,} awards, {args.requests} requests per endpoint, "
        f"{args.drain_events:,} events per drain round; Redis {args.redis_url}; {os.cpu_count()} CPUs")

    def expire(_signum: int, _frame: object) -> None:
        raise Timeout(f"over {args.timeout_minutes} minutes")

    signal.signal(signal.SIGALRM, expire)
    signal.alarm(max(1, int(args.timeout_minutes * 60)))
    try:
        return run(args)
    except Timeout as exc:
        say(f"stopped: {exc}")
        return 2
    finally:
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main())
