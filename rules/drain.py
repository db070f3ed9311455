"""Draining scan events from the Redis streams into SQL: bulk, idempotent, at-least-once.

Each batch has a stream `{b:<id>}:events` (listed in the set `yima:event-streams`) read through the
consumer group "drain". An entry is acknowledged only after the SQL transaction holding it commits;
inserts ignore ids already present, so a redelivered entry never duplicates a row. Entries left pending
by a dead consumer are reclaimed with XAUTOCLAIM. An entry that cannot be stored (malformed) is moved to
`{b:<id>}:dead` once it has been delivered `max_deliveries` times. A database outage is not the entries'
fault: they stay pending, undamaged, and the next pass retries them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from redis.exceptions import ResponseError
from sqlalchemy import Table, insert, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.orm import Session, sessionmaker

from codegen.batch_keys import EVENT_STREAMS
from codegen.db import pg_unnest_insert
from reports.rollups import ScanRollups
from rules.campaign_keys import AWARD_STREAMS
from rules.errors import Kind, RulesError
from rules.lua import is_cluster
from rules.models import ScanEvent

log = logging.getLogger(__name__)

GROUP = "drain"


class DatabaseUnavailable(RulesError):
    """SQL refused the connection or the transaction; nothing was acknowledged."""

    code = "unavailable"
    kind = Kind.UNAVAILABLE


@dataclass
class DrainStats:
    read: int = 0
    stored: int = 0  # rows newly inserted (duplicates of already stored entries are not counted)
    acked: int = 0
    dead: int = 0
    backlog: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class DrainSettings:
    count: int = 1000  # entries per stream per read
    block_ms: int = 1000
    claim_idle_ms: int = 30_000  # a consumer silent this long is presumed dead
    max_deliveries: int = 5


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def dead_key(stream: str) -> str:
    return stream.rsplit(":", 1)[0] + ":dead"


def event_row(stream: str, entry_id: str, data: dict[Any, Any]) -> dict[str, Any]:
    """The ScanEvent row of one stream entry; raises ValueError/KeyError when the entry is malformed."""
    f = {_text(k): _text(v) for k, v in data.items()}
    batch_id = int(f["batch"])
    adcode = f.get("adcode") or None
    if adcode is not None and (len(adcode) != 6 or not adcode.isdigit()):
        raise ValueError(f"bad adcode {adcode!r}")
    return {
        "id": f"{batch_id}-{entry_id}",
        "batch_id": batch_id,
        "serial": int(f["serial"]),
        "role": f["role"][:8],
        "code": f["code"][:28],
        "kind": f["kind"][:16],
        "scan_count": int(f["count"]),
        "scanned_at": datetime.fromtimestamp(int(f["ts"]), UTC),
        "adcode": adcode,
        "ip": f.get("ip", "")[:45],
        "device_id": f.get("device", "")[:64],
        "member": f.get("member", "")[:64],
        "rules_version": int(f["rules_version"]) if f.get("rules_version") else None,
        "campaigns": f.get("campaigns", "")[:200],
        "region_source": _region_source(f.get("src")),
        # The risk layer's decision (risk.policy) and its reasons; None / "" on events written without them.
        "risk": f.get("risk", "")[:10] or None,
        "risk_reasons": f.get("risk_why", "")[:200],
        "ingested_at": datetime.now(UTC),
    }


REGION_SOURCES = frozenset({"gps", "ip", "none"})


def _region_source(value: str | None) -> str | None:
    """The event's region source; None for events written before scans said (or an unknown word)."""
    return value if value in REGION_SOURCES else None


PG_INSERTS = ("copy", "unnest")  # how rows reach PostgreSQL, the default first (bench/bench_drain.py measures both)
_STAGING = "drain_scan_events"  # the COPY path's temporary table, one per connection


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]], pg_insert: str = "copy") -> list[str]:
    """Insert the rows whose id is not stored yet; the ids really inserted.

    The conflict target is the key (id, scanned_at) (models.ScanEvent: a partitioned table's key holds
    its partition key); an entry's scanned_at never changes, so that is "id not stored yet".

    PostgreSQL ("copy") takes the rows through COPY into a temporary table, then one INSERT … SELECT
    from it: 1.24× the events/s of "unnest", one list per column (codegen.db.pg_unnest_insert), on an
    idle box (make bench-drain; docs/retention.md). Both beat thousand-row VALUES lists, which psycopg
    spent longer converting than PostgreSQL inserting. Elsewhere, Core statements on the table (the
    ORM's bulk insert sent a statement per few dozen rows).
    """
    table = cast(Table, ScanEvent.__table__)
    dialect = session.get_bind().dialect.name
    tail = "ON CONFLICT (id, scanned_at) DO NOTHING RETURNING id"
    if dialect == "postgresql":
        if not rows:
            return []
        columns = tuple(rows[0])
        if pg_insert == "copy":
            return _copy_insert(session, columns, rows, tail)
        sql = pg_unnest_insert(table.name, columns, tail)
        return list(session.execute(text(sql), {c: [r[c] for r in rows] for c in columns}).scalars())
    stmt: Any
    if dialect == "sqlite":
        stmt = sqlite_insert(table).on_conflict_do_nothing(index_elements=["id", "scanned_at"])
    else:  # other databases: skip ids already stored, then insert
        ids = [r["id"] for r in rows]
        stored = set(session.scalars(select(table.c.id).where(table.c.id.in_(ids))))
        rows = [r for r in rows if r["id"] not in stored]
        stmt = insert(table)
    if not rows:
        return []
    # RETURNING lists only the rows really inserted (rowcount is unreliable with ON CONFLICT DO NOTHING).
    return list(session.execute(stmt.returning(table.c.id), rows).scalars())


def _copy_insert(session: Session, columns: tuple[str, ...], rows: list[dict[str, Any]], tail: str) -> list[str]:
    """COPY the rows into a temporary table (emptied at commit), then insert them from it."""
    connection = session.connection()
    # Every time: made in a transaction that then rolled back, the table is gone again.
    session.execute(text(f"CREATE TEMP TABLE IF NOT EXISTS {_STAGING} "
                         f"(LIKE {ScanEvent.__tablename__} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"))
    names = ", ".join(columns)
    raw: Any = connection.connection.driver_connection  # psycopg's own: SQLAlchemy has no COPY
    with raw.cursor() as cur, cur.copy(f"COPY {_STAGING} ({names}) FROM STDIN") as copy:
        for r in rows:
            copy.write_row([r[c] for c in columns])
    sql = f"INSERT INTO {ScanEvent.__tablename__} ({names}) SELECT {names} FROM {_STAGING} {tail}"  # noqa: S608
    inserted = list(session.execute(text(sql)).scalars())
    session.execute(text(f"DELETE FROM {_STAGING}"))  # noqa: S608  (a later store in the same transaction)
    return inserted


class Sink(Protocol):
    """Where one family of streams goes in SQL: the registry listing its streams, and its rows."""

    registry: str

    def row(self, stream: str, entry_id: str, data: dict[Any, Any]) -> dict[str, Any]:
        """The row of one entry; raise KeyError/ValueError/TypeError when the entry is malformed."""

    def store(self, session: Session, rows: list[dict[str, Any]]) -> int:
        """Insert rows idempotently (an id stored before is skipped); return how many are new."""


class ScanObserver(Protocol):
    """Something else kept from the scan events (the channel's 窜货 judge): called inside the drain's
    transaction with the rows really inserted, so what it writes commits or rolls back with them and a
    redelivered entry reaches it once."""

    def observe(self, session: Session, rows: list[dict[str, Any]]) -> None:
        """Act on these newly stored scan events (drain rows, see `event_row`)."""


class ScanEventSink:
    """Scan events into `scan_events`, and the events really inserted into the report rollups and to the
    observers, in the same transaction (a redelivered entry is counted once; `rollups=False` only for
    benchmarks)."""

    registry = EVENT_STREAMS

    def __init__(self, rollups: bool = True, pg_insert: str = PG_INSERTS[0],
                 observers: Sequence[ScanObserver] = ()) -> None:
        if pg_insert not in PG_INSERTS:
            raise ValueError(f"pg_insert must be one of {PG_INSERTS}")
        self.rollups = ScanRollups() if rollups else None
        self.pg_insert = pg_insert
        self.observers = tuple(observers)

    def row(self, stream: str, entry_id: str, data: dict[Any, Any]) -> dict[str, Any]:
        return event_row(stream, entry_id, data)

    def store(self, session: Session, rows: list[dict[str, Any]]) -> int:
        inserted = _insert_ignoring_duplicates(session, rows, self.pg_insert)
        if inserted and (self.rollups is not None or self.observers):
            # Each inserted id once: one read may hold an entry twice (our own pending, then reclaimed).
            by_id = {r["id"]: r for r in rows}
            new = [by_id[i] for i in inserted]
            if self.rollups is not None:
                self.rollups.add(session, new)
            for observer in self.observers:
                observer.observe(session, new)
        return len(inserted)


class Drainer:
    def __init__(self, redis: Any, sessions: sessionmaker[Session], consumer: str,
                 settings: DrainSettings = DrainSettings(), sink: Sink | None = None) -> None:
        self.redis = redis
        self.sessions = sessions
        self.consumer = consumer
        self.settings = settings
        self.sink: Sink = sink or ScanEventSink()
        self._grouped: set[str] = set()

    def streams(self) -> list[str]:
        streams = sorted(_text(s) for s in self.redis.smembers(self.sink.registry))
        for stream in streams:
            if stream not in self._grouped:
                try:
                    self.redis.xgroup_create(stream, GROUP, id="0", mkstream=True)
                except Exception as exc:  # BUSYGROUP: another drainer made it first
                    if "BUSYGROUP" not in str(exc):
                        raise
                self._grouped.add(stream)
        return streams

    def _entries(self, streams: list[str], block_ms: int) -> dict[str, list[tuple[str, dict[Any, Any]]]]:
        s = self.settings
        batches: dict[str, list[tuple[str, dict[Any, Any]]]] = {}
        for stream in streams:
            # Our own pending entries first (a failed pass, or this consumer restarted under its name) …
            own = self.redis.xreadgroup(GROUP, self.consumer, {stream: "0"}, count=s.count)
            # … then entries a dead consumer left behind. Redis 7 replies [next, claimed, deleted ids],
            # Redis 6.2 only [next, claimed]: take the claimed entries by position.
            claimed = self.redis.xautoclaim(stream, GROUP, self.consumer, s.claim_idle_ms,
                                            start_id="0-0", count=s.count)[1]
            entries = [(_text(i), d) for _, items in own for i, d in items if d]
            entries += [(_text(i), d) for i, d in claimed if d]
            if entries:
                batches[stream] = entries
        if not batches and streams:
            for stream, items in self._fresh(streams, block_ms):
                batches[_text(stream)] = [(_text(i), d) for i, d in items]
        return batches

    def _fresh(self, streams: list[str], block_ms: int) -> list[Any]:
        """New entries: one read of every stream, blocking up to `block_ms` (0: not at all) until one has
        some. A cluster reads stream by stream (one XREADGROUP may not name keys of several slots) and, when
        none has any, waits a tenth of a second at most before the next pass."""
        count = self.settings.count
        if not is_cluster(self.redis):
            # BLOCK 0 would wait forever: a pass asked not to wait reads without BLOCK
            fresh: list[Any] = self.redis.xreadgroup(GROUP, self.consumer, {st: ">" for st in streams}, count=count,
                                                     block=block_ms or None) or []
            return fresh
        fresh = []
        for stream in streams:
            fresh += self.redis.xreadgroup(GROUP, self.consumer, {stream: ">"}, count=count) or []
        if not fresh and block_ms:
            time.sleep(min(block_ms, 100) / 1000)
        return fresh

    def drain_once(self, block_ms: int | None = None) -> DrainStats:
        """One pass over every stream: read, store, acknowledge, trim."""
        try:
            return self._pass(self.settings.block_ms if block_ms is None else block_ms)
        except ResponseError as exc:
            if not str(exc).startswith("NOGROUP"):
                raise
            # A stream or its group was deleted (or Redis restarted without its data): forget the groups
            # made so far, so the next pass makes them again instead of failing on every pass. Entries
            # stored before the group vanished are stored again harmlessly (inserts skip known ids).
            log.warning("consumer group missing (%s); recreating it", exc)
            self._grouped.clear()
            return DrainStats()

    def _pass(self, block_ms: int) -> DrainStats:
        stats = DrainStats()
        streams = self.streams()
        batches = self._entries(streams, block_ms)
        for stream, entries in batches.items():
            stats.read += len(entries)
            rows, good_ids, poison = [], [], []
            for entry_id, data in entries:
                try:
                    rows.append(self.sink.row(stream, entry_id, data))
                    good_ids.append(entry_id)
                except (KeyError, ValueError, TypeError) as exc:
                    poison.append((entry_id, data, str(exc)))
            if rows:
                stats.stored += self._store(rows)
            ack = list(good_ids)
            for entry_id, data, why in poison:
                if self._deliveries(stream, entry_id) >= self.settings.max_deliveries:
                    self.redis.xadd(dead_key(stream), {**data, "error": why, "source_id": entry_id})
                    ack.append(entry_id)
                    stats.dead += 1
                    log.error("dead-lettered %s %s: %s", stream, entry_id, why)
            if ack:
                stats.acked += self.redis.xack(stream, GROUP, *ack)
            self._trim(stream)
        stats.backlog = self.backlog(streams)
        return stats

    def _store(self, rows: list[dict[str, Any]]) -> int:
        try:
            with self.sessions() as session, session.begin():
                return self.sink.store(session, rows)
        except (OperationalError, DBAPIError) as exc:
            raise DatabaseUnavailable(str(exc.orig.__class__.__name__ if exc.orig else exc)) from exc
        except PoolTimeout as exc:  # every pooled connection is stuck on a hung database
            raise DatabaseUnavailable("pool timeout") from exc

    def _deliveries(self, stream: str, entry_id: str) -> int:
        info = self.redis.xpending_range(stream, GROUP, min=entry_id, max=entry_id, count=1)
        return int(info[0]["times_delivered"]) if info else 0

    def _trim(self, stream: str) -> None:
        """Drop entries every consumer has acknowledged: below the oldest pending and last delivered id."""
        summary = self.redis.xpending(stream, GROUP)
        groups = {_text(g["name"]): g for g in self.redis.xinfo_groups(stream)}
        last = _text(groups[GROUP]["last-delivered-id"])
        ms, seq = (int(x) for x in last.split("-"))
        floor = f"{ms}-{seq + 1}"
        if summary["pending"]:
            oldest = _text(summary["min"])
            floor = min(floor, oldest, key=lambda i: tuple(int(x) for x in i.split("-")))
        self.redis.xtrim(stream, minid=floor, approximate=False)

    def backlog(self, streams: list[str] | None = None) -> dict[str, int]:
        """Entries not yet stored in SQL, per stream (pending plus never delivered)."""
        names = streams if streams is not None else sorted(_text(s) for s in self.redis.smembers(self.sink.registry))
        pipe = self.redis.pipeline(transaction=False)
        for stream in names:
            pipe.xlen(stream)
        return {stream: int(n) for stream, n in zip(names, pipe.execute(), strict=True) if n}


@dataclass(frozen=True)
class DrainLag:
    backlog: int  # entries in the streams, not yet stored in SQL
    oldest_age_s: float | None  # how long the oldest of them has waited; None when none waits


def drain_lag(redis: Any, registries: tuple[str, ...] = (EVENT_STREAMS, AWARD_STREAMS)) -> DrainLag:
    """How far the drain is behind, over every stream of the given families.

    Stream ids are Redis' own millisecond clock and each pass trims what it stored, so a stream's first
    entry is its oldest undrained one; its age is measured against Redis' TIME (no clock skew).
    """
    pipe = redis.pipeline(transaction=False)
    for registry in registries:
        pipe.smembers(registry)
    names = sorted({_text(s) for members in pipe.execute() for s in members})
    for stream in names:
        pipe.xlen(stream)
        pipe.xrange(stream, count=1)
    replies = pipe.execute()
    seconds, micros = redis.time()  # its own call: a cluster pipeline takes no keyless command
    now_ms = int(seconds) * 1000 + int(micros) // 1000
    backlog, oldest_ms = 0, None
    for length, first in zip(replies[0::2], replies[1::2], strict=True):
        backlog += int(length)
        if first:
            ms = int(_text(first[0][0]).split("-")[0])
            oldest_ms = ms if oldest_ms is None else min(oldest_ms, ms)
    age = None if oldest_ms is None else round(max(0, now_ms - oldest_ms) / 1000, 3)
    return DrainLag(backlog, age)

