"""Rollup tables: counts per time bucket and dimension, kept by the drain, read by the dashboard.

Time buckets are unix seconds at the bucket's start (integers: the same arithmetic in Python, SQLite
and PostgreSQL). Days are local days of the reporting time zone (rollups.REPORT_UTC_OFFSET_S).
`campaign_id` 0 stands for every scan of the brand, matched or not; `brand_id` 0 for a batch that SQL
does not know. Scan kinds are columns, not a dimension: one row per key carries the four counts, so a
bucket costs one upserted row, not four.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from codegen.db import Base


class _ScanCounts:
    first_scans: Mapped[int] = mapped_column(Integer, default=0)
    repeat_scans: Mapped[int] = mapped_column(Integer, default=0)
    not_on_sale: Mapped[int] = mapped_column(Integer, default=0)
    void_scans: Mapped[int] = mapped_column(Integer, default=0)


SCAN_COUNTS = ("first_scans", "repeat_scans", "not_on_sale", "void_scans")


def _covering_key(table: str, *keys: str, counts: tuple[str, ...] = SCAN_COUNTS) -> PrimaryKeyConstraint:
    """The primary key, carrying the counts on PostgreSQL (INCLUDE): a dashboard's range over a period is
    then read from the index alone (an index-only scan), not from rows scattered over the heap."""
    return PrimaryKeyConstraint(*keys, name=f"pk_{table}", postgresql_include=list(counts))


class ScanMinute(_ScanCounts, Base):
    """Scans per minute × brand × campaign: the last hour's chart. Pruned after a couple of days."""

    __tablename__ = "rollup_scan_minute"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ScanHour(_ScanCounts, Base):
    """Scans per hour × brand × campaign: scans over a period, by hour of day, first-scan share."""

    __tablename__ = "rollup_scan_hour"
    __table_args__ = (_covering_key(__tablename__, "brand_id", "campaign_id", "hour"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class ScanRegionDay(_ScanCounts, Base):
    """Scans per local day × brand × campaign × city (the adcode's first 4 digits, "" unknown)."""

    __tablename__ = "rollup_scan_region_day"
    __table_args__ = (_covering_key(__tablename__, "brand_id", "campaign_id", "day", "city"),)

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    city: Mapped[str] = mapped_column(String(4), primary_key=True)


class BatchDay(_ScanCounts, Base):
    """Scans per local day × batch: scans per batch."""

    __tablename__ = "rollup_batch_day"

    batch_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


class AwardHour(Base):
    """Awards per hour × campaign × prize × status (valid / void): wins, cash spent, points."""

    __tablename__ = "rollup_award_hour"
    __table_args__ = (_covering_key(__tablename__, "campaign_id", "hour", "prize_index", "status",
                                    counts=("awards", "amount_fen", "points")),)

    campaign_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    prize_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(8), primary_key=True)
    awards: Mapped[int] = mapped_column(Integer, default=0)
    amount_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    points: Mapped[int] = mapped_column(BigInteger, default=0)


class ForgedMinute(Base):
    """Invalid codes per minute × claimed brand (0: no batch SQL knows, or no readable batch at all).

    `attempts` is the minute's absolute count as read from Redis (forged.py), so writing it again is
    harmless; it only ever grows. Pruned like the scan minutes; ForgedHour keeps the long view.
    """

    __tablename__ = "rollup_forged_minute"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)


class ForgedHour(Base):
    """Invalid codes per hour × claimed brand: the sum of that hour's ForgedMinute rows."""

    __tablename__ = "rollup_forged_hour"

    brand_id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    hour: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
