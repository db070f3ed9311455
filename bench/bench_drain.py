"""The drain into PostgreSQL: events/s into the monthly-partitioned scan_events and into a plain table,
and through the two insert paths (unnest arrays, COPY), side by side in one run.

    python -m bench.bench_drain [--events 100000] [--rounds 6] [--preload 1000000] [--redis-url URL]
                                [--pg-admin-url URL] [--db-prefix NAME]

The machinery is bench/bench_dashboard.py's (its catalogue, its stream entries, its timed `drain_rate`:
the real `rules.drain.Drainer`, 1,000 entries a read, rollups on as the worker runs it). Two databases,
`yima_bench_drain_<pid>` and `yima_bench_drain_plain_<pid>` (--db-prefix), both migrated; in the second scan_events is
then replaced by a plain table with the same columns, key and indexes. Both get --preload events first
(INSERT … SELECT, spread over the last 90 days: the indexes are not empty). Three variants: partitioned
with the shipped insert (COPY into a temporary table, then INSERT … SELECT), plain with the same,
partitioned through the other path (one statement of unnest arrays; rules/drain.py PG_INSERTS); rounds
run them in turn, forwards then backwards (A B C C B A …), so the shared machine's noise hits all alike;
each round drains --events new entries. The target: ≥ 20,000 events/s into the partitioned table with
the shipped insert. Both databases are dropped at the end, and
the Redis DB of --redis-url is flushed at start and end.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta

import redis
from sqlalchemy import text
from sqlalchemy.engine import Engine

from bench.bench_dashboard import DEFAULT_PG_ADMIN_URL, DEFAULT_REDIS_URL, bench_database, drain_rate, make_catalogue
from rules.drain import PG_INSERTS

TARGET = 20_000.0
DAYS = 90

PLAIN = """
CREATE TABLE scan_events (
    id varchar(48) NOT NULL, batch_id integer NOT NULL, serial integer NOT NULL, role varchar(8) NOT NULL,
    code varchar(28) NOT NULL, kind varchar(16) NOT NULL, scan_count integer NOT NULL,
    scanned_at timestamptz NOT NULL, adcode varchar(6), ip varchar(45) NOT NULL, device_id varchar(64) NOT NULL,
    member varchar(64) NOT NULL, ingested_at timestamptz NOT NULL, rules_version integer,
    campaigns varchar(200) NOT NULL DEFAULT '',
    CONSTRAINT pk_scan_events PRIMARY KEY (id, scanned_at)
);
CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial);
CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at);
"""


def say(message: str) -> None:
    print(message, flush=True)


def prepare(engine: Engine, plain: bool, preload: int, now: datetime) -> None:
    from codegen.db import make_sessionmaker, transaction
    from rules.partitions import Month, ensure_months
    from schema import upgrade_schema

    upgrade_schema(engine)
    with engine.begin() as conn:
        if plain:
            conn.execute(text("DROP TABLE scan_events"))
            for statement in PLAIN.split(";"):
                if statement.strip():
                    conn.execute(text(statement))
    if not plain:
        with transaction(make_sessionmaker(engine)) as s:
            ensure_months(s, Month.of(now - timedelta(days=DAYS + 1)), Month.of(now))
    if preload:
        end = int(now.timestamp())
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text(f"""
                INSERT INTO scan_events (id, batch_id, serial, role, code, kind, scan_count, scanned_at, adcode, ip,
                                         device_id, member, rules_version, campaigns, ingested_at)
                SELECT '900-' || g, 900 + g % 50, g, 'inner', upper(lpad(to_hex(g), 28, '0')), 'first', 1,
                       to_timestamp({end} - (g * 7919) % ({DAYS} * 86400)), '440305', '', '', '', 1, '', now()
                FROM generate_series(1::bigint, {preload}::bigint) g"""))
        with engine.begin() as conn:
            conn.execute(text("ANALYZE scan_events"))


def run(args: argparse.Namespace) -> int:
    from codegen.db import make_engine

    now = datetime.now(UTC)
    r = redis.Redis.from_url(args.redis_url, socket_timeout=30)
    r.flushdb()
    try:
        with contextlib.ExitStack() as stack:
            engines: dict[str, Engine] = {}
            cats = {}
            for kind, prefix in (("partitioned", f"{args.db_prefix}_"), ("plain", f"{args.db_prefix}_plain_")):
                url = stack.enter_context(bench_database(args.pg_admin_url, prefix))
                engines[kind] = make_engine(url)
                stack.callback(engines[kind].dispose)
                started = time.monotonic()
                prepare(engines[kind], kind == "plain", args.preload, now)
                cats[kind] = make_catalogue(engines[kind], now)
                say(f"  {kind}: migrated, {args.preload:,} events preloaded in {time.monotonic() - started:.1f} s")
            # The two catalogues are made alike (same brands, batches, campaigns, hence ids): the streams
            # are shared, and every round pushes its own new entries.
            shipped, other = PG_INSERTS
            variants = [("partitioned", shipped), ("plain", shipped), ("partitioned", other)]
            order = (variants + variants[::-1]) * (args.rounds // 6 + 1)
            rates: dict[tuple[str, str], list[float]] = {v: [] for v in variants}
            for round_no, (kind, how) in enumerate(order[: args.rounds]):
                rate = drain_rate(engines[kind], r, cats[kind], args.events, round_no, rollups=True, pg_insert=how)
                rates[kind, how].append(rate)
                say(f"    round {round_no + 1}: {kind:<11} {how:<6} {rate:8,.0f} events/s")
            with engines["partitioned"].connect() as conn:
                parts = conn.scalar(text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'scan_events'::regclass"))
    finally:
        r.flushdb()
        r.close()
    part, plain, alt = (statistics.mean(rates[v]) if rates[v] else float("nan") for v in variants)
    shipped, other = PG_INSERTS
    say(f"drain into PostgreSQL, rollups on, {shipped} insert: partitioned ({parts} partitions) {part:,.0f} events/s, "
        f"plain table {plain:,.0f} events/s (partitioned/plain {part / plain:.2f}); partitioned through {other} "
        f"{alt:,.0f} events/s ({shipped}/{other} {part / alt:.2f}); target ≥ {TARGET:,.0f} events/s partitioned: "
        f"{'met' if part >= TARGET else 'MISSED'}")
    return 0 if part >= TARGET else 1


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=int(env("YIMA_BENCH_DRAIN_EVENTS", 100_000)),
                   help="entries drained per round")
    p.add_argument("--rounds", type=int, default=6)
    p.add_argument("--preload", type=int, default=int(env("YIMA_BENCH_PRELOAD", 1_000_000)),
                   help="events in each table before the rounds")
    p.add_argument("--redis-url", default=env("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--db-prefix", default="yima_bench_drain", help="the two databases' names start with this")
    p.add_argument("--pg-admin-url", default=env("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    args = p.parse_args(argv)
    say(f"bench-drain: {args.events:,} events a round, {args.rounds} rounds, {args.preload:,} preloaded; "
        f"Redis {args.redis_url}; {os.cpu_count()} CPUs")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
