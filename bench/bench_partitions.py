"""scan_events at scale on PostgreSQL: load N events into monthly partitions, then EXPLAIN (ANALYZE,
BUFFERS) every query yima runs on the table, to show each is index-backed and prunes partitions.

    python -m bench.bench_partitions [--rows 10000000] [--months 12] [--keep] [--pg-admin-url URL]
                                     [--db-prefix yima_bench_parts] [--plans-of DATABASE]

One scratch database `<db-prefix>_<pid>`, migrated as production is (migration 0011: partitioned
scan_events), dropped at the end unless --keep. The months from --months ago to this one are made with
`rules.partitions.ensure_months`; rows are spread evenly over them and loaded with INSERT … SELECT from
generate_series, in chunks of one million straight into each month's partition, with the indexes and
key dropped during the load and built afterwards (as a restore would); the partitions are UNLOGGED during
the load (a scratch database: no WAL for tens of GB) and the plans do not depend on it. Load time, index
build time and sizes are printed. 200 batches of 1,000,000 serials; 70 % first scans.

The queries (what the code runs, built from the same models and statements):
1. the drain's insert of 1,000 events, half of them already stored (rules/drain.py: unnest, ON CONFLICT
   on the key): in a transaction rolled back;
2. the backtest's read of one day (rules/backtest.py: scanned_at range, ordered by scanned_at, id);
3. one code's scans (batch, role, serial: the lookup the distributor pages will make; nothing else runs
   it yet) with and without a time window;
4. `yima rollups rebuild` after months were dropped (reports/rebuild.py: events from the oldest kept
   month on; EXPLAIN only, it reads every kept row by design);
5. the partition list (`yima events partitions`).
Dashboards read the rollups only (reports/), never scan_events.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine

from bench.bench_dashboard import DEFAULT_PG_ADMIN_URL, bench_database

BATCHES, SERIALS = 200, 1_000_000
CHUNK = 1_000_000


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def timed(name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"  {name}: {time.monotonic() - started:,.1f} s")


def months_of(engine: Engine, months: int, now: datetime) -> list[tuple[str, datetime, datetime]]:
    from codegen.db import make_sessionmaker, transaction
    from rules.partitions import Month, ensure_months, list_partitions

    first = Month.of(now)
    for _ in range(months - 1):
        first = Month.of(first.start - timedelta(days=1))
    with transaction(make_sessionmaker(engine)) as s:
        ensure_months(s, first, Month.of(now))
        return [(p.name, p.lower, p.upper) for p in list_partitions(s)
                if p.lower is not None and p.upper is not None and first.start <= p.lower <= now]


def load(engine: Engine, rows: int, parts: list[tuple[str, datetime, datetime]]) -> None:
    per = rows // len(parts)
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE scan_events DROP CONSTRAINT pk_scan_events"))
        conn.execute(text("DROP INDEX ix_scan_events_batch_serial"))
        conn.execute(text("DROP INDEX ix_scan_events_scanned_at"))
        for name, _lower, _upper in parts:
            conn.execute(text(f"ALTER TABLE {name} SET UNLOGGED"))
    first_g = 0
    for k, (name, lower, upper) in enumerate(parts):
        n = per if k < len(parts) - 1 else rows - per * (len(parts) - 1)
        span = int((min(upper, datetime.now(UTC)) - lower).total_seconds()) - 1
        start = int(lower.timestamp())
        with timed(f"{name}: {n:,} rows"):
            for first in range(first_g, first_g + n, CHUNK):
                last = min(first_g + n, first + CHUNK) - 1
                with engine.begin() as conn:
                    conn.execute(text("SET LOCAL synchronous_commit = off"))
                    # g: the event's number; batch by a stride, serial by another, time spread over the month.
                    conn.execute(text(f"""
                        INSERT INTO {name} (id, batch_id, serial, role, code, kind, scan_count, scanned_at, adcode,
                                            ip, device_id, member, rules_version, campaigns, ingested_at)
                        SELECT b || '-' || g, b, s, 'inner', upper(lpad(to_hex(g), 28, '0')),
                               CASE WHEN g % 10 < 7 THEN 'first' ELSE 'repeat' END, 1 + (g % 10 >= 7)::int,
                               t, lpad(((g * 13) % 999999)::text, 6, '0'), '10.' || (g % 250) || '.1.1',
                               'dev-' || (g % 400000), '', 1, CASE WHEN g % 4 = 0 THEN '' ELSE (1 + g % 40)::text END,
                               t + interval '2 seconds'
                        FROM (SELECT g, 1 + (g * 7919) % {BATCHES} AS b, ((g * 104729) % {SERIALS})::int AS s,
                                     to_timestamp({start} + (g * 15485863) % {span}) AS t
                              FROM generate_series({first}::bigint, {last}::bigint) g) x"""))
        first_g += n


def build_indexes(engine: Engine) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("SET maintenance_work_mem = '1GB'"))
        conn.execute(text("SET statement_timeout = 0"))
        with timed("primary key (id, scanned_at)"):
            conn.execute(text("ALTER TABLE scan_events ADD CONSTRAINT pk_scan_events PRIMARY KEY (id, scanned_at)"))
        with timed("index (batch_id, role, serial)"):
            conn.execute(text("CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial)"))
        with timed("index (scanned_at)"):
            conn.execute(text("CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at)"))
        with timed("VACUUM ANALYZE"):
            conn.execute(text("VACUUM ANALYZE scan_events"))


def explain(conn: Connection, title: str, sql: str, params: dict[str, Any] | None = None,
            analyze: bool = True) -> None:
    options = "ANALYZE, BUFFERS, TIMING OFF, SUMMARY ON" if analyze else "COSTS ON"
    plan = conn.execute(text(f"EXPLAIN ({options}) {sql}"), params or {}).scalars().all()
    say(f"\n### {title}\n\n```sql\n{sql.strip()}\n```\n\n```")
    for line in plan:
        say(line)
    say("```")


def literal(stmt: Any) -> str:
    return str(stmt.compile(dialect=postgresql.dialect(), compile_kwargs={"literal_binds": True}))


def plans(engine: Engine, now: datetime) -> None:
    from codegen.db import pg_unnest_insert
    from reports.rebuild import MATCHED_PG
    from rules.models import ScanEvent
    from rules.partitions import Month

    day = (now - timedelta(days=40)).replace(hour=0, minute=0, second=0, microsecond=0)
    with engine.connect() as conn:
        stored = conn.execute(text(
            "SELECT * FROM scan_events WHERE scanned_at >= :a AND scanned_at < :b LIMIT 500"),
            {"a": day, "b": day + timedelta(hours=1)}).mappings().all()
        rows = [dict(r) for r in stored] + [
            {**dict(stored[i % len(stored)]), "id": f"7-{now.timestamp():.0f}-{i}", "scanned_at": now - timedelta(
                seconds=i)} for i in range(500)]
        columns = tuple(rows[0])
        insert = pg_unnest_insert("scan_events", columns, "ON CONFLICT (id, scanned_at) DO NOTHING RETURNING id")
        explain(conn, "1. the drain's insert: 1,000 events, 500 already stored", insert,
                {c: [r[c] for r in rows] for c in columns})
        conn.rollback()  # EXPLAIN ANALYZE ran the insert
        backtest = (select(ScanEvent).where(ScanEvent.scanned_at >= day, ScanEvent.scanned_at < day + timedelta(days=1))
                    .order_by(ScanEvent.scanned_at, ScanEvent.id).limit(2_000_001))
        explain(conn, "2. a backtest over one day (rules/backtest.py)", literal(backtest))
        one = stored[0]
        explain(conn, "3a. one code's scans, all time (batch, role, serial)",
                "SELECT * FROM scan_events WHERE batch_id = :b AND role = :r AND serial = :s ORDER BY scanned_at",
                {"b": one["batch_id"], "r": one["role"], "s": one["serial"]})
        explain(conn, "3b. one code's scans in the last 30 days",
                "SELECT * FROM scan_events WHERE batch_id = :b AND role = :r AND serial = :s "
                "AND scanned_at >= :since ORDER BY scanned_at",
                {"b": one["batch_id"], "r": one["role"], "s": one["serial"], "since": now - timedelta(days=30)})
        kept = Month.of(now - timedelta(days=62)).start
        explain(conn, f"4. the rollup rebuild's scan, months before {Month.of(kept)} dropped (reports/rebuild.py)",
                f"{MATCHED_PG} SELECT count(*) FROM matched", {"kept": kept}, analyze=False)
        explain(conn, "5. the partition list (yima events partitions)",
                "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint, "
                "pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE i.inhparent = CAST('scan_events' AS regclass)")


def run(args: argparse.Namespace) -> int:
    from codegen.db import make_engine
    from schema import upgrade_schema

    now = datetime.now(UTC)
    if args.plans_of:  # a database an earlier --keep run left: its plans again
        from sqlalchemy.engine import make_url

        engine = make_engine(make_url(args.pg_admin_url).set(database=args.plans_of).render_as_string(False))
        try:
            plans(engine, now)
        finally:
            engine.dispose()
        return 0
    with bench_database(args.pg_admin_url, f"{args.db_prefix}_", keep=args.keep) as url:
        engine = make_engine(url)
        try:
            upgrade_schema(engine)
            parts = months_of(engine, args.months, now)
            say(f"{len(parts)} month partitions: {parts[0][0]} … {parts[-1][0]}")
            started = time.monotonic()
            with timed(f"load {args.rows:,} rows (indexes off)"):
                load(engine, args.rows, parts)
            with timed("indexes and key, VACUUM ANALYZE"):
                build_indexes(engine)
            with engine.connect() as conn:
                total = conn.scalar(text("SELECT sum(pg_total_relation_size(inhrelid)) FROM pg_inherits "
                                         "WHERE inhparent = 'scan_events'::regclass"))
                heap = conn.scalar(text("SELECT sum(pg_relation_size(inhrelid)) FROM pg_inherits "
                                        "WHERE inhparent = 'scan_events'::regclass"))
            say(f"{args.rows:,} rows in {time.monotonic() - started:,.0f} s: {total / 2**30:.1f} GiB with indexes "
                f"({heap / 2**30:.1f} GiB of table), {total / max(1, args.rows):.0f} bytes per event")
            plans(engine, now)
        finally:
            engine.dispose()
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--months", type=int, default=12)
    p.add_argument("--keep", action="store_true", help="leave the database (its name is printed) for more queries")
    p.add_argument("--db-prefix", default="yima_bench_parts")
    p.add_argument("--plans-of", metavar="DATABASE", help="only print the plans, over a database --keep left")
    p.add_argument("--pg-admin-url", default=os.environ.get("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    args = p.parse_args(argv)
    say(f"bench-partitions: {args.rows:,} events over {args.months} months; {os.cpu_count()} CPUs")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
