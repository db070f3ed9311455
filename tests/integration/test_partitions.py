"""scan_events partitioned by month on PostgreSQL: partitions made ahead, the drain's dedup across them,
archives written whole or not at all, drops that keep the rollups, and the migration of an existing table."""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from click.testing import CliRunner
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from app.events_cli import events_group
from codegen.db import make_engine, make_sessionmaker, transaction
from reports.models import BatchDay
from reports.rebuild import rebuild_rollups
from rules.drain import PG_INSERTS, ScanEventSink, event_row
from rules.models import ScanEvent, ScanEventArchive
from rules.partitions import (
    DEFAULT,
    Month,
    PartitionError,
    archive_before,
    drop_before,
    ensure_months,
    ensure_partitions,
    events_kept_from,
    list_partitions,
)
from schema import upgrade_schema
from schema.migrate import alembic_config
from tests.integration.test_awards import seed_catalogue

JAN_2026 = datetime(2026, 1, 15, 4, tzinfo=UTC)
FEB_2026 = datetime(2026, 2, 10, 4, tzinfo=UTC)


def events(at: datetime, n: int, first_serial: int = 0) -> list[dict[str, Any]]:
    ts = int(at.timestamp())
    return [event_row("{b:1}:events", f"{ts * 1000}-{first_serial + i}",
                      {"batch": "1", "serial": str(first_serial + i), "role": "inner", "code": f"C{first_serial + i}",
                       "kind": "first", "count": "1", "ts": str(ts), "adcode": "440305"}) for i in range(n)]


def store(factory: sessionmaker[Session], rows: list[dict[str, Any]], pg_insert: str = PG_INSERTS[0]) -> int:
    with transaction(factory) as s:
        return ScanEventSink(pg_insert=pg_insert).store(s, rows)


def count(factory: sessionmaker[Session], table: str) -> int:
    with factory() as s:
        return int(s.scalar(text(f'SELECT count(*) FROM "{table}"')) or 0)


@pytest.fixture
def pg(postgres_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(postgres_url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        seed_catalogue(s, count=1000)
    yield factory
    engine.dispose()


def test_the_migrated_table_has_this_month_the_next_ones_and_a_default(pg: sessionmaker[Session]) -> None:
    with transaction(pg) as s:
        names = [p.name for p in list_partitions(s)]
        assert ensure_partitions(s, datetime.now(UTC)) == []  # the migration made them already
    assert names[-1] == DEFAULT
    assert Month.of(datetime.now(UTC)).partition in names
    assert Month.of(datetime.now(UTC)).next().next().next().partition in names


def test_a_month_made_late_takes_its_rows_from_the_default_and_the_drain_still_inserts_once(
        pg: sessionmaker[Session]) -> None:
    jan = events(JAN_2026, 5)
    assert store(pg, jan) == 5
    assert store(pg, jan) == 0  # redelivered: skipped in the default partition
    assert count(pg, DEFAULT) == 5
    with transaction(pg) as s:
        made = ensure_partitions(s, JAN_2026, months_ahead=1)
    assert made == ["scan_events_p202601", "scan_events_p202602"]
    assert (count(pg, "scan_events_p202601"), count(pg, DEFAULT)) == (5, 0)
    assert store(pg, jan) == 0  # and skipped in the month's own partition
    assert store(pg, events(JAN_2026, 3, first_serial=5)) == 3
    assert count(pg, "scan_events_p202601") == 8


@pytest.mark.parametrize("pg_insert", PG_INSERTS)
def test_both_insert_paths_store_each_entry_once_and_count_it_once(pg: sessionmaker[Session], pg_insert: str) -> None:
    first, more = events(JAN_2026, 4), events(JAN_2026, 3, first_serial=4)
    assert store(pg, first, pg_insert) == 4
    assert store(pg, first[:2] + more + more[:1], pg_insert) == 3  # two stored already, one twice in the read
    with transaction(pg) as s:  # two stores in one transaction: the COPY path's staging table starts empty
        sink = ScanEventSink(pg_insert=pg_insert)
        assert (sink.store(s, events(FEB_2026, 2)), sink.store(s, events(FEB_2026, 3))) == (2, 1)
    with pg() as s:
        assert s.scalar(select(func.count()).select_from(ScanEvent)) == 10
        assert s.scalar(select(func.sum(BatchDay.first_scans))) == 10


def test_archive_then_drop_keeps_the_rollups(pg: sessionmaker[Session], tmp_path: Path) -> None:
    with transaction(pg) as s:
        ensure_partitions(s, JAN_2026, months_ahead=1)
    store(pg, events(JAN_2026, 4))
    store(pg, events(FEB_2026, 2, first_serial=100))
    with transaction(pg) as s:
        done = archive_before(s, Month(2026, 2), tmp_path / "archive")
    assert [(a.partition, a.rows) for a in done] == [("scan_events_p202601", 4)]
    data = done[0].file.read_bytes()
    manifest = json.loads(done[0].manifest.read_text())
    assert manifest["rows"] == 4 and manifest["sha256"] == hashlib.sha256(data).hexdigest() == done[0].sha256
    lines = list(csv.DictReader(io.StringIO(gzip.decompress(data).decode())))
    assert sorted(r["serial"] for r in lines) == ["0", "1", "2", "3"] and lines[0]["code"] == "C0"
    assert sorted(p.name for p in (tmp_path / "archive").iterdir()) == [
        "scan_events_p202601.csv.gz", "scan_events_p202601.manifest.json"]
    with transaction(pg) as s:  # archived again: nothing new to write
        assert archive_before(s, Month(2026, 2), tmp_path / "archive") == []

    with pytest.raises(PartitionError, match="scan_events_p202602 is not archived"), transaction(pg) as s:
        drop_before(s, Month(2026, 3))
    with transaction(pg) as s:
        assert drop_before(s, Month(2026, 2)) == ["scan_events_p202601"]
        assert events_kept_from(s) == Month(2026, 2).start
    with pg() as s:
        assert s.scalar(select(func.count()).select_from(ScanEvent)) == 2
        assert s.scalar(select(func.sum(BatchDay.first_scans))) == 6  # January is still counted
    with transaction(pg) as s:
        rebuild_rollups(s)
    with pg() as s:
        assert s.scalar(select(func.sum(BatchDay.first_scans))) == 6  # a rebuild keeps the dropped month

    store(pg, events(JAN_2026, 1, first_serial=50))  # a late January event still lands (default partition)
    assert count(pg, DEFAULT) == 1


def test_a_month_written_to_since_its_archive_is_not_dropped_unless_forced(pg: sessionmaker[Session],
                                                                           tmp_path: Path) -> None:
    with transaction(pg) as s:
        ensure_partitions(s, JAN_2026, months_ahead=0)
    store(pg, events(JAN_2026, 2))
    with transaction(pg) as s:
        archive_before(s, Month(2026, 2), tmp_path)
    store(pg, events(JAN_2026, 1, first_serial=10))
    with pytest.raises(PartitionError, match="holds 3 rows, its archive 2"), transaction(pg) as s:
        drop_before(s, Month(2026, 2))
    with transaction(pg) as s:
        assert drop_before(s, Month(2026, 2), force=True) == ["scan_events_p202601"]


def test_an_archive_that_fails_midway_leaves_no_file_and_no_record(pg: sessionmaker[Session],
                                                                   tmp_path: Path) -> None:
    with transaction(pg) as s:
        ensure_partitions(s, JAN_2026, months_ahead=0)
    store(pg, events(JAN_2026, 3))

    def broken_copy(_session: Session, _name: str, sink: Any) -> None:
        sink.write(b"id,batch_id\n1-0,1\n")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"), transaction(pg) as s:
        archive_before(s, Month(2026, 2), tmp_path, copy_out=broken_copy)
    assert list(tmp_path.iterdir()) == []
    with pg() as s:
        assert s.scalar(select(func.count()).select_from(ScanEventArchive)) == 0


def test_an_existing_table_with_rows_is_attached_whole(empty_postgres_url: str) -> None:
    engine = make_engine(empty_postgres_url)
    cfg = alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0009")
        conn.execute(text(
            "INSERT INTO scan_events (id, batch_id, serial, role, code, kind, scan_count, scanned_at, ip, device_id, "
            "member, ingested_at, campaigns) SELECT '1-' || g, 1, g, 'inner', 'C' || g, 'first', 1, "
            "timestamptz '2026-01-20 00:00+00' + g * interval '1 day', '', '', '', now(), '' "
            "FROM generate_series(0, 99) g"))
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        parts = list_partitions(s, exact=True)
    legacy = parts[0]
    # The newest row is 2026-04-29: the legacy partition covers everything before the month after that or
    # after this one, whichever is later (local time); month partitions start there.
    upper = max(Month(2026, 4), Month.of(datetime.now(UTC))).next()
    assert (legacy.name, legacy.lower, legacy.upper, legacy.rows) == ("scan_events_legacy", None, upper.start, 100)
    assert parts[1].name == upper.partition
    with factory() as s:
        key = s.scalar(text("SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = 'pk_scan_events'"))
    assert key == "PRIMARY KEY (id, scanned_at)"
    old = {"id": "1-0", "batch_id": 1, "serial": 0, "role": "inner", "code": "C0", "kind": "first",
           "scan_count": 1, "scanned_at": datetime(2026, 1, 20, tzinfo=UTC), "adcode": None, "ip": "",
           "device_id": "", "member": "", "rules_version": None, "campaigns": "", "ingested_at": datetime.now(UTC)}
    with transaction(factory) as s:
        assert ScanEventSink(rollups=False).store(s, [old]) == 0  # already stored before the migration
    assert count(factory, "scan_events") == 100
    engine.dispose()


def test_the_events_commands(postgres_url: str, sqlite_url: str, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", postgres_url)
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path / "var"))
    engine = make_engine(postgres_url)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        seed_catalogue(s, count=1000)
    store(factory, events(JAN_2026, 3))  # into the default partition: no January partition yet
    engine.dispose()
    runner = CliRunner()

    def yima(*args: str, status: int = 0) -> str:
        result = runner.invoke(events_group, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result.output

    listed = yima("partitions", "--exact")
    assert Month.of(datetime.now(UTC)).partition in listed
    default = [line.split() for line in listed.splitlines() if line.startswith(DEFAULT)]
    assert [d[-4] for d in default] == ["3"]  # rows, then size (2 words) and archived
    assert "is not a month: write YYYY-MM" in yima("archive", "--before", "2026-13", "--to", "x", status=2)
    assert "no partition before 2000-01" in yima("drop", "--before", "2000-01")
    # Made by hand for January 2026: the 3 events move there; then archived and dropped.
    with transaction(make_sessionmaker(engine)) as s:
        ensure_months(s, Month(2026, 1), Month(2026, 1))
    engine.dispose()
    archived = yima("archive", "--before", "2026-02", "--to", str(tmp_path / "a"))
    assert archived.startswith("scan_events_p202601: 3 rows -> ")
    assert yima("drop", "--before", "2026-02") == "dropped scan_events_p202601\n"

    # Through the program itself: on SQLite, one line and status 1.
    on_sqlite = subprocess.run([str(Path(sys.executable).parent / "yima"), "events", "partitions"],
                               env={**os.environ, "DATABASE_URL": sqlite_url}, capture_output=True, text=True,
                               timeout=120)
    assert on_sqlite.returncode == 1
    assert on_sqlite.stderr.strip() == "error: scan_events is partitioned on PostgreSQL only (this database is sqlite)"


def test_the_worker_makes_the_coming_months_once_per_interval(pg: sessionmaker[Session], redis_client: Any) -> None:
    from app.runtime import Database
    from app.worker import make_coming_partitions

    coming = Month.of(datetime.now(UTC)).next().partition
    with transaction(pg) as s:
        s.execute(text(f'DROP TABLE "{coming}"'))
    db = Database(pg.kw["bind"])
    make_coming_partitions(db, redis_client)
    with transaction(pg) as s:
        assert coming in {p.name for p in list_partitions(s)}
        s.execute(text(f'DROP TABLE "{coming}"'))
    make_coming_partitions(db, redis_client)  # checked a moment ago by "another worker": not again yet
    with transaction(pg) as s:
        assert coming not in {p.name for p in list_partitions(s)}
