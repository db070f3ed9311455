"""Keeping the rollups: what the drain adds for the rows it really inserted, and a rebuild from raw rows.

The drain calls `ScanRollups.add` / `add_awards` inside the transaction that inserts the events or
awards, with only the rows that insert really stored: a redelivered stream entry adds nothing twice,
and a transaction that fails adds nothing at all. Counts are summed in Python first, so each rollup row
is upserted once per transaction, in key order (two workers lock rows in the same order: no deadlock).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, delete, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from codegen.db import Base, pg_unnest_insert
from codegen.models import Batch, Product
from reports.models import SCAN_COUNTS, AwardHour, BatchDay, ForgedMinute, ScanHour, ScanMinute, ScanRegionDay

# Reports count days in China Standard Time (no daylight saving). A brand abroad would need its zone
# on the brand; every campaign so far is in Asia/Shanghai.
REPORT_UTC_OFFSET_S = 8 * 3600
KIND_COLUMNS = {"first": "first_scans", "repeat": "repeat_scans", "not_on_sale": "not_on_sale", "void": "void_scans"}
MINUTE_RETENTION_S = 2 * 86400


def minute_of(ts: int) -> int:
    return ts - ts % 60


def hour_of(ts: int) -> int:
    return ts - ts % 3600


def day_of(ts: int) -> int:
    """Unix seconds of the local midnight (REPORT_UTC_OFFSET_S) starting the day that holds `ts`."""
    local = ts + REPORT_UTC_OFFSET_S
    return local - local % 86400 - REPORT_UTC_OFFSET_S


def prune_rollups(session: Session, now: float) -> int:
    """Delete minute rows older than MINUTE_RETENTION_S (the dashboard reads minutes for the last hour
    only; hours and days keep the long view). Returns the rows deleted."""
    before = int(now) - MINUTE_RETENTION_S
    deleted = 0
    for model in (ScanMinute, ForgedMinute):
        deleted += int(session.execute(delete(model).where(model.minute < before)).rowcount)  # type: ignore[attr-defined]
    return deleted


def campaign_ids(matched: str) -> list[int]:
    """The campaign ids of a scan event's comma-separated `campaigns` (anything unreadable is skipped)."""
    return [int(c) for c in matched.split(",") if c.isdigit()] if matched else []


def upsert_add(session: Session, model: type[Base], keys: Sequence[str], columns: Sequence[str],
               rows: Mapping[tuple[Any, ...], Mapping[str, int]]) -> None:
    """Add each row's counts to the stored row of the same key (inserted when absent), in key order."""
    if not rows:
        return
    values = [{**dict(zip(keys, key, strict=True)), **{c: counts.get(c, 0) for c in columns}}
              for key, counts in sorted(rows.items())]
    upsert(session, model, keys, values, {c: "add" for c in columns})


def upsert(session: Session, model: type[Base], keys: Sequence[str], values: list[dict[str, Any]],
           merge: Mapping[str, str]) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE: "add" adds the new value, "max" keeps the larger one.

    PostgreSQL gets one statement with a list per column (codegen.db.pg_unnest_insert).
    """
    if not values:
        return
    dialect = session.get_bind().dialect.name
    columns = [*keys, *merge]
    if dialect == "postgresql":
        sql = _unnest_upsert(model.__tablename__, tuple(keys), tuple(merge.items()))
        session.execute(text(sql), {c: [v[c] for v in values] for c in columns})
        return
    if dialect != "sqlite":
        raise NotImplementedError(f"rollups need PostgreSQL or SQLite, not {dialect}")
    # One statement run for every row (executemany): compiled once and cached, where a VALUES list of
    # hundreds of rows cost SQLAlchemy more to compile than SQLite to run.
    table = model.__table__
    stmt = sqlite_insert(cast(Table, table))
    update = {}
    for column, how in merge.items():
        old, new = table.c[column], stmt.excluded[column]
        update[column] = old + new if how == "add" else func.max(old, new)  # SQLite's two-argument max()
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=update), values)


def _unnest_upsert(table_name: str, keys: tuple[str, ...], merge: tuple[tuple[str, str], ...]) -> str:
    updates = ", ".join(f"{c} = {table_name}.{c} + excluded.{c}" if how == "add"
                        else f"{c} = greatest({table_name}.{c}, excluded.{c})" for c, how in merge)
    return pg_unnest_insert(table_name, (*keys, *(c for c, _ in merge)),
                            f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}")


class ScanRollups:
    """Adds stored scan events to the scan rollups; remembers each batch's brand (it never changes)."""

    def __init__(self) -> None:
        self._brands: dict[int, int] = {}

    def brand_of(self, session: Session, batch_ids: Iterable[int]) -> dict[int, int]:
        """batch id → brand id (0 when SQL holds no such batch), read once per batch."""
        wanted = set(batch_ids)
        missing = wanted - self._brands.keys()
        if missing:
            # Only batches found are remembered: one SQL does not know yet may be created later.
            self._brands.update(session.execute(
                select(Batch.id, Product.brand_id).join(Product, Batch.product_id == Product.id)
                .where(Batch.id.in_(sorted(missing)))).all())
        return {b: self._brands.get(b, 0) for b in wanted}

    def add(self, session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
        """Count these newly stored scan events (drain rows: batch_id, kind, scanned_at, adcode, campaigns)."""
        if not rows:
            return
        brands = self.brand_of(session, {r["batch_id"] for r in rows})
        minute: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        hour: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        region: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        batch: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
        for r in rows:
            column = KIND_COLUMNS.get(r["kind"])
            if column is None:
                continue  # a kind the reports do not know (the scan script writes only these four)
            ts = int(r["scanned_at"].timestamp())
            brand, day = brands[r["batch_id"]], day_of(ts)
            city = (r["adcode"] or "")[:4]
            batch[r["batch_id"], day][column] += 1
            for campaign in (0, *campaign_ids(r["campaigns"])):
                minute[brand, campaign, minute_of(ts)][column] += 1
                hour[brand, campaign, hour_of(ts)][column] += 1
                region[brand, campaign, day, city][column] += 1
        upsert_add(session, ScanMinute, ("brand_id", "campaign_id", "minute"), SCAN_COUNTS, minute)
        upsert_add(session, ScanHour, ("brand_id", "campaign_id", "hour"), SCAN_COUNTS, hour)
        upsert_add(session, ScanRegionDay, ("brand_id", "campaign_id", "day", "city"), SCAN_COUNTS, region)
        upsert_add(session, BatchDay, ("batch_id", "day"), SCAN_COUNTS, batch)


def add_awards(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Count these newly stored awards (rows with campaign_id, awarded_at, prize_index, status, amount_fen,
    points) in the award rollup."""
    counts: dict[tuple[Any, ...], Counter[str]] = defaultdict(Counter)
    for r in rows:
        c = counts[r["campaign_id"], hour_of(int(r["awarded_at"].timestamp())), r["prize_index"], r["status"]]
        c["awards"] += 1
        c["amount_fen"] += r["amount_fen"]
        c["points"] += r["points"]
    upsert_add(session, AwardHour, ("campaign_id", "hour", "prize_index", "status"),
               ("awards", "amount_fen", "points"), counts)
