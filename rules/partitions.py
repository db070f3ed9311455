"""Monthly partitions of `scan_events` on PostgreSQL: made ahead of time, listed, archived, dropped.

A month runs from local midnight on its first day (UTC+8, as the reports' days) to the next month's
first; its partition is `scan_events_pYYYYMM`. `scan_events_default` takes a row no month partition
covers, so an insert never fails; `ensure_partitions` (the worker calls it) keeps the coming months
made, and moves rows a month's new partition should hold out of the default one. `scan_events_legacy`
is the table from before partitioning, attached whole (migration 0011).

Archiving writes one month with COPY into a gzip file beside a JSON manifest (rows, SHA-256); both are
written under a temporary name and renamed when complete, the manifest last, so a file that looks
finished is finished. Dropping takes only months archived with exactly the rows they still hold, unless
forced. The rollups (reports/) are separate tables and stay: a dropped month still shows on dashboards,
and `rebuild_rollups` leaves the months before the oldest kept event as they are.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from codegen.db import utcnow
from reports.rollups import REPORT_UTC_OFFSET_S
from rules.errors import Kind, RulesError
from rules.models import ScanEvent, ScanEventArchive

TABLE = ScanEvent.__tablename__
DEFAULT = f"{TABLE}_default"
MONTHS_AHEAD = 3
_LOCAL = timedelta(seconds=REPORT_UTC_OFFSET_S)
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_BOUNDS = re.compile(r"FOR VALUES FROM \((.+)\) TO \((.+)\)")


class PartitionError(RulesError):
    """A partition request that cannot be done as asked (bad month, not archived, not PostgreSQL)."""

    code = "partition_refused"
    kind = Kind.INVALID


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, value: str) -> Month:
        m = _MONTH.fullmatch(value.strip())
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise PartitionError(f"{value!r} is not a month: write YYYY-MM, e.g. 2026-01")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, at: datetime) -> Month:
        local = at.astimezone(UTC) + _LOCAL
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + 1, 1) if self.month == 12 else Month(self.year, self.month + 1)

    @property
    def start(self) -> datetime:
        """Local midnight of the first day, as an aware UTC datetime."""
        return datetime(self.year, self.month, 1, tzinfo=UTC) - _LOCAL

    @property
    def partition(self) -> str:
        return f"{TABLE}_p{self.year:04d}{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


@dataclass(frozen=True)
class Partition:
    name: str
    lower: datetime | None  # None: from the beginning (the legacy partition); both None: the default one
    upper: datetime | None
    rows: int
    bytes: int  # on disk, with its indexes
    archived: bool = False

    @property
    def is_default(self) -> bool:
        return self.upper is None


def require_postgresql(session: Session) -> None:
    dialect = session.get_bind().dialect.name
    if dialect != "postgresql":
        raise PartitionError(f"scan_events is partitioned on PostgreSQL only (this database is {dialect})")


def _bound(value: str) -> datetime | None:
    return None if value == "MINVALUE" else datetime.fromisoformat(value.strip("'"))


def list_partitions(session: Session, *, exact: bool = False) -> list[Partition]:
    """Every partition, oldest first, the default one last. Rows are the planner's estimate (from the
    last ANALYZE) unless `exact`, which counts them (a scan of each partition)."""
    require_postgresql(session)
    found = session.execute(text(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid), greatest(c.reltuples, 0)::bigint, "
        "pg_total_relation_size(c.oid) FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
        "WHERE i.inhparent = CAST(:t AS regclass)"), {"t": TABLE}).all()
    archived = {a.partition for a in session.scalars(select(ScanEventArchive))}
    parts = []
    for name, bound, estimate, size in found:
        lower = upper = None
        if (m := _BOUNDS.fullmatch(bound)) is not None:
            lower, upper = _bound(m.group(1)), _bound(m.group(2))
        rows = _count(session, name) if exact else int(estimate)
        parts.append(Partition(name, lower, upper, rows, int(size), name in archived))
    far = datetime.max.replace(tzinfo=UTC)
    return sorted(parts, key=lambda p: (p.is_default, p.upper or far))


def ensure_partitions(session: Session, now: datetime, months_ahead: int = MONTHS_AHEAD) -> list[str]:
    """Create the partitions of this month and the next `months_ahead` that are missing; their names.

    Rows of such a month already in the default partition (written before its partition existed) are
    moved into the new partition in the same transaction: PostgreSQL refuses to create a partition
    whose rows sit in the default one.
    """
    this = Month.of(now)
    last = this
    for _ in range(months_ahead):
        last = last.next()
    return ensure_months(session, this, last)


def ensure_months(session: Session, first: Month, last: Month) -> list[str]:
    """Create the missing partitions of the months from `first` to `last`, both included (a month inside
    another partition's range, such as the legacy one, is left to it); their names."""
    require_postgresql(session)
    ranges = [(p.lower or datetime.min.replace(tzinfo=UTC), p.upper) for p in list_partitions(session) if p.upper]
    made = []
    month = first
    while month <= last:
        start, end = month.start, month.next().start
        if not any(lower < end and start < upper for lower, upper in ranges):
            _create_month(session, month)
            made.append(month.partition)
        month = month.next()
    return made


def _create_month(session: Session, month: Month) -> None:
    name, lower, upper = month.partition, month.start, month.next().start
    args = {"lower": lower, "upper": upper}
    session.execute(text(f'CREATE TABLE "{name}" (LIKE {TABLE} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)'))
    columns = ", ".join(c.name for c in ScanEvent.__table__.columns)
    session.execute(text(
        f'WITH moved AS (DELETE FROM {DEFAULT} WHERE scanned_at >= :lower AND scanned_at < :upper '  # noqa: S608
        f'RETURNING {columns}) INSERT INTO "{name}" ({columns}) SELECT {columns} FROM moved'), args)
    # Bounds as literals: ATTACH takes no parameters. Both are our own datetimes, not input.
    session.execute(text(
        f"ALTER TABLE {TABLE} ATTACH PARTITION \"{name}\" "
        f"FOR VALUES FROM ('{lower.isoformat()}') TO ('{upper.isoformat()}')"))


@dataclass(frozen=True)
class Archive:
    partition: str
    rows: int
    sha256: str
    file: Path
    manifest: Path


def _before(session: Session, month: Month) -> list[Partition]:
    """The partitions wholly before `month` (the default one never is)."""
    return [p for p in list_partitions(session) if p.upper is not None and p.upper <= month.start]


def archive_before(session: Session, month: Month, directory: Path,
                   copy_out: Callable[[Session, str, Any], None] | None = None) -> list[Archive]:
    """Write every partition wholly before `month` that is not archived yet to `directory`; record it."""
    require_postgresql(session)
    directory.mkdir(parents=True, exist_ok=True)
    done = []
    for part in _before(session, month):
        if not part.archived:
            done.append(archive_partition(session, part, directory, copy_out or _copy_out))
    return done


def _copy_out(session: Session, name: str, sink: Any) -> None:
    """COPY one partition out as CSV with a header line, into `sink` (a binary file)."""
    raw: Any = session.connection().connection.driver_connection  # psycopg's own: SQLAlchemy has no COPY
    sql = f'COPY (SELECT * FROM "{name}" ORDER BY scanned_at, id) TO STDOUT WITH (FORMAT csv, HEADER)'  # noqa: S608
    with raw.cursor() as cur, cur.copy(sql) as copy:
        for chunk in copy:
            sink.write(chunk)


class _Hashing:
    def __init__(self, out: Any) -> None:
        self.out, self.sha = out, hashlib.sha256()

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        return int(self.out.write(data))

    def flush(self) -> None:
        self.out.flush()


def _fsync_rename(tmp: Path, final: Path) -> None:
    with open(tmp, "rb") as f:
        os.fsync(f.fileno())
    os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def archive_partition(session: Session, part: Partition, directory: Path,
                      copy_out: Callable[[Session, str, Any], None] = _copy_out) -> Archive:
    """One partition into `<name>.csv.gz` and `<name>.manifest.json`, each written to a `.part` file
    and renamed once complete (the manifest after the data); then recorded in scan_event_archives."""
    # The partition cannot change under the copy and the count: new rows of an old month wait.
    session.execute(text(f'LOCK TABLE "{part.name}" IN SHARE MODE'))
    data = directory / f"{part.name}.csv.gz"
    manifest = directory / f"{part.name}.manifest.json"
    tmp = data.with_name(data.name + ".part")
    try:
        with open(tmp, "wb") as raw:
            hashing = _Hashing(raw)
            with gzip.GzipFile(fileobj=hashing, mode="wb", mtime=0) as gz:
                copy_out(session, part.name, gz)
        rows = _count(session, part.name)  # under the same lock: the rows the file holds
        _fsync_rename(tmp, data)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    sha = hashing.sha.hexdigest()
    doc = {"table": TABLE, "partition": part.name, "rows": rows, "sha256": sha, "file": data.name,
           "format": "csv with header, gzip", "columns": [c.name for c in ScanEvent.__table__.columns],
           "lower_bound": part.lower.isoformat() if part.lower else None,
           "upper_bound": part.upper.isoformat() if part.upper else None,
           "archived_at": utcnow().isoformat()}
    tmp_manifest = manifest.with_name(manifest.name + ".part")
    try:
        tmp_manifest.write_text(json.dumps(doc, indent=2) + "\n", "utf-8")
        _fsync_rename(tmp_manifest, manifest)
    except BaseException:
        tmp_manifest.unlink(missing_ok=True)
        raise
    assert part.upper is not None
    session.merge(ScanEventArchive(partition=part.name, lower_bound=part.lower, upper_bound=part.upper, rows=rows,
                                   sha256=sha, file=str(data.resolve()), archived_at=utcnow(), dropped_at=None))
    return Archive(part.name, rows, sha, data, manifest)


def drop_before(session: Session, month: Month, *, force: bool = False) -> list[str]:
    """Drop every partition wholly before `month`; the names dropped.

    Without `force`, each must have been archived and still hold exactly the rows archived (a late
    event written into an old month since would be lost): otherwise nothing is dropped.
    """
    require_postgresql(session)
    parts = _before(session, month)
    archives = {a.partition: a for a in session.scalars(select(ScanEventArchive))}
    if not force:
        for part in parts:
            archive = archives.get(part.name)
            if archive is None:
                raise PartitionError(f"{part.name} is not archived: run `yima events archive --before {month} "
                                     "--to DIR` first, or drop it with --force")
            now_rows = _count(session, part.name)
            if now_rows != archive.rows:
                raise PartitionError(f"{part.name} holds {now_rows} rows, its archive {archive.rows}: archive it "
                                     "again (delete its row from scan_event_archives) or drop it with --force")
    dropped_at = utcnow()
    for part in parts:
        archive = archives.get(part.name)
        if archive is None:
            assert part.upper is not None
            # Forced without an archive: recorded all the same (no file), so the rollups know the month is gone.
            archive = ScanEventArchive(partition=part.name, lower_bound=part.lower, upper_bound=part.upper,
                                       rows=_count(session, part.name), sha256="", file="", archived_at=dropped_at)
            session.add(archive)
        archive.dropped_at = dropped_at
        session.execute(text(f'ALTER TABLE {TABLE} DETACH PARTITION "{part.name}"'))
        session.execute(text(f'DROP TABLE "{part.name}"'))
    return [p.name for p in parts]


def _count(session: Session, name: str) -> int:
    return int(session.scalar(text(f'SELECT count(*) FROM "{name}"')) or 0)  # noqa: S608  (a partition's name)


def events_kept_from(session: Session) -> datetime | None:
    """The start of the raw events still stored: the upper bound of the newest dropped month (None:
    nothing was ever dropped). Rollups before it cannot be rebuilt from raw rows and are kept."""
    newest = session.scalar(select(ScanEventArchive.upper_bound).where(ScanEventArchive.dropped_at.is_not(None))
                            .order_by(ScanEventArchive.upper_bound.desc()).limit(1))
    if newest is not None and newest.tzinfo is None:  # SQLite hands back naive UTC
        newest = newest.replace(tzinfo=UTC)
    return newest
