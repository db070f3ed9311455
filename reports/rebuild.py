"""Rebuilding the scan and award rollups from the raw `scan_events` and `awards` tables.

For a database that held events before it had rollups, or rollups found wrong. Each rollup is one
INSERT … SELECT … GROUP BY over the raw rows; the matched campaigns of an event (comma-separated ids)
are split in SQL: unnest on PostgreSQL, a recursive split on SQLite.

Months whose raw events were dropped (`yima events drop`, rules/partitions.py) are not rebuilt: their
scan rollups are kept as they are, and only the buckets from the oldest kept event on are derived again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from reports.models import SCAN_COUNTS, AwardHour, BatchDay, ScanHour, ScanMinute, ScanRegionDay
from reports.rollups import KIND_COLUMNS, REPORT_UTC_OFFSET_S
from rules.partitions import events_kept_from


@dataclass(frozen=True)
class Rebuilt:
    table: str
    rows: int


# One row per (event, campaign), campaign 0 for every event: `matched`, with the event's unix seconds.
MATCHED_PG = """
WITH e AS (
    SELECT s.kind, coalesce(p.brand_id, 0) AS brand_id, coalesce(substr(s.adcode, 1, 4), '') AS city,
           floor(extract(epoch FROM s.scanned_at))::bigint AS ts, s.campaigns
    FROM scan_events s LEFT JOIN batches b ON b.id = s.batch_id LEFT JOIN products p ON p.id = b.product_id
    WHERE s.kind IN ('first', 'repeat', 'not_on_sale', 'void') AND s.scanned_at >= :kept
),
matched AS (
    SELECT kind, brand_id, city, ts, 0 AS campaign_id FROM e
    UNION ALL
    SELECT kind, brand_id, city, ts, c::int FROM e, unnest(string_to_array(e.campaigns, ',')) AS c
    WHERE e.campaigns <> '' AND c ~ '^[0-9]{1,9}$'
)"""
MATCHED_SQLITE = """
WITH RECURSIVE e AS (
    SELECT s.id, s.kind, coalesce(p.brand_id, 0) AS brand_id, coalesce(substr(s.adcode, 1, 4), '') AS city,
           CAST(strftime('%s', s.scanned_at) AS INTEGER) AS ts, s.campaigns
    FROM scan_events s LEFT JOIN batches b ON b.id = s.batch_id LEFT JOIN products p ON p.id = b.product_id
    WHERE s.kind IN ('first', 'repeat', 'not_on_sale', 'void') AND s.scanned_at >= :kept
),
split(id, rest, campaign) AS (
    SELECT id, campaigns || ',', NULL FROM e WHERE campaigns <> ''
    UNION ALL
    SELECT id, substr(rest, instr(rest, ',') + 1), substr(rest, 1, instr(rest, ',') - 1) FROM split WHERE rest <> ''
),
matched AS (
    SELECT kind, brand_id, city, ts, 0 AS campaign_id FROM e
    UNION ALL
    SELECT e.kind, e.brand_id, e.city, e.ts, CAST(split.campaign AS INTEGER) FROM split JOIN e ON e.id = split.id
    WHERE split.campaign <> '' AND split.campaign NOT GLOB '*[^0-9]*' AND length(split.campaign) <= 9
)"""
EPOCH = {"postgresql": "floor(extract(epoch FROM {0}))::bigint", "sqlite": "CAST(strftime('%s', {0}) AS INTEGER)"}
COUNTS = ", ".join(f"sum(CASE WHEN kind = '{kind}' THEN 1 ELSE 0 END)" for kind in KIND_COLUMNS)
DAY = f"(ts + {REPORT_UTC_OFFSET_S}) - (ts + {REPORT_UTC_OFFSET_S}) % 86400 - {REPORT_UTC_OFFSET_S}"
SCAN_ROLLUPS = (  # table, its key columns, the key as computed from `matched`
    (ScanMinute.__tablename__, "brand_id, campaign_id, minute", "brand_id, campaign_id, ts - ts % 60"),
    (ScanHour.__tablename__, "brand_id, campaign_id, hour", "brand_id, campaign_id, ts - ts % 3600"),
    (ScanRegionDay.__tablename__, "brand_id, campaign_id, day, city", f"brand_id, campaign_id, {DAY}, city"),
)
TIME_COLUMN = {ScanMinute.__tablename__: "minute", ScanHour.__tablename__: "hour",
               ScanRegionDay.__tablename__: "day", BatchDay.__tablename__: "day"}  # scan rollups: their bucket

REBUILT = [t for t, _, _ in SCAN_ROLLUPS] + [BatchDay.__tablename__, AwardHour.__tablename__]


def vacuum_rollups(engine: Engine) -> None:
    """VACUUM ANALYZE the rollups after a rebuild (PostgreSQL): fresh statistics, and pages marked
    all-visible, which the dashboard's index-only scans need (autovacuum would get there later)."""
    if engine.dialect.name != "postgresql":
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        for table in REBUILT:
            conn.execute(text(f"VACUUM ANALYZE {table}"))


def _batch_day_sql(ts: str) -> str:
    kinds = "kind IN ('first', 'repeat', 'not_on_sale', 'void')"
    return (f"INSERT INTO {BatchDay.__tablename__} (batch_id, day, {', '.join(SCAN_COUNTS)}) "  # noqa: S608
            f"SELECT batch_id, {DAY}, {COUNTS} FROM (SELECT batch_id, kind, {ts} AS ts FROM scan_events "
            f"WHERE {kinds} AND scanned_at >= :kept) e GROUP BY batch_id, {DAY}")


def _award_hour_sql(ts: str) -> str:
    return (f"INSERT INTO {AwardHour.__tablename__} "  # noqa: S608
            "(campaign_id, hour, prize_index, status, awards, amount_fen, points) "
            "SELECT campaign_id, ts - ts % 3600, prize_index, status, count(*), sum(amount_fen), sum(points) "
            f"FROM (SELECT campaign_id, prize_index, status, amount_fen, points, {ts} AS ts FROM awards) a "
            "GROUP BY campaign_id, ts - ts % 3600, prize_index, status")


def rebuild_rollups(session: Session) -> list[Rebuilt]:
    """Derive the scan and award rollups from the raw tables again, in the caller's transaction.

    On PostgreSQL the rollup tables are locked against writes first: a drain running meanwhile waits
    at its rollup update until this commits, then adds exactly its own rows, which this rebuild did not
    see (they were not committed); a drain that waits past its statement timeout rolls back and tries
    again later, its entries still pending in Redis. SQLite has one writer at a time anyway. Minute rows older than the
    retention are made too (prune_rollups removes them). Forged attempts have no raw rows in SQL: their
    rollups are left as they are.
    """
    dialect = session.get_bind().dialect.name
    if dialect not in EPOCH:
        raise NotImplementedError(f"rollups need PostgreSQL or SQLite, not {dialect}")
    tables = REBUILT
    if dialect == "postgresql":
        session.execute(text(f"LOCK TABLE {', '.join(tables)} IN SHARE ROW EXCLUSIVE MODE"))
        # Grouping millions of events (this transaction only): the hash aggregates stay in memory, and
        # the app's statement timeout (YIMA_DB_STATEMENT_TIMEOUT_MS) is for requests, not for this.
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL statement_timeout = 0"))
    kept = events_kept_from(session)
    kept_s = int(kept.timestamp()) if kept else 0
    for table in tables:
        where = f" WHERE {TIME_COLUMN[table]} >= :kept_s" if kept and table in TIME_COLUMN else ""
        session.execute(text(f"DELETE FROM {table}{where}"), {"kept_s": kept_s})  # noqa: S608  (our own names)
    since = {"kept": kept or datetime(1970, 1, 1, tzinfo=UTC)}
    matched = MATCHED_PG if dialect == "postgresql" else MATCHED_SQLITE
    for table, columns, key in SCAN_ROLLUPS:
        sql = (f"{matched} INSERT INTO {table} ({columns}, {', '.join(SCAN_COUNTS)}) "  # noqa: S608
               f"SELECT {key}, {COUNTS} FROM matched GROUP BY {key}")
        session.execute(text(sql), since)
    epoch = EPOCH[dialect]
    session.execute(text(_batch_day_sql(epoch.format("scanned_at"))), since)
    session.execute(text(_award_hour_sql(epoch.format("awarded_at"))))
    # Counted afterwards: SQLite's driver reports no row count for an INSERT that starts with WITH.
    return [Rebuilt(t, int(session.scalar(text(f"SELECT count(*) FROM {t}")) or 0)) for t in tables]  # noqa: S608
