"""Report rollups kept by the drain: only rows really inserted, once, equal to a rebuild from raw rows."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from codegen import batches
from codegen.batch_state import EVENT_STREAMS, events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.db import make_engine, make_sessionmaker, transaction
from codegen.keys import Keyring
from reports.forged import CURSOR_KEY, advance_cursor, collect_forged, forged_key
from reports.models import AwardHour, BatchDay, ForgedHour, ForgedMinute, ScanHour, ScanMinute, ScanRegionDay
from reports.rebuild import rebuild_rollups
from reports.rollups import MINUTE_RETENTION_S, day_of, prune_rollups
from rules.awards import AwardSink
from rules.drain import Drainer, ScanEventSink, event_row
from rules.draw import WON, Drawer
from rules.models import Award, ScanEvent
from rules.region import default_index
from rules.scan import NotGenuine, ScanLimits, Scanner, ScanRequest
from schema import upgrade_schema
from tests.integration.test_awards import make_campaign

RING = Keyring(current=1, keys={1: bytes(range(32))})
T0 = 1_800_000_000  # 2027-01-15 08:00 UTC, 16:00 in Shanghai
SCAN_TABLES = (ScanMinute, ScanHour, ScanRegionDay, BatchDay)


@pytest.fixture
def sessions(database_url: str):  # type: ignore[no-untyped-def]
    engine = make_engine(database_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        acme = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
        batches.add_product(s, acme, "S1", "Thing", None)
        batches.create_batch(s, acme, batches.BatchRequest(sku="S1", lot="L1", count=100_000), key_id=1,
                             max_count=1_000_000)
        other = batches.add_brand(s, "other", "Other", "https://q.other.example")
        batches.add_product(s, other, "S2", "Other thing", None)
        batches.create_batch(s, other, batches.BatchRequest(sku="S2", lot="L2", count=1000), key_id=1,
                             max_count=1_000_000)
    yield factory
    engine.dispose()


def brand_ids(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as s:
        return batches.resolve_brand(s, "acme").id, batches.resolve_brand(s, "other").id


def event(batch: int, kind: str, ts: int, adcode: str = "", campaigns: str = "", serial: int = 0) -> dict[str, Any]:
    """A stream entry as scan.lua writes it."""
    return {"kind": kind, "code": f"C{serial:027d}", "batch": batch, "serial": serial, "role": "inner", "ts": ts,
            "adcode": adcode, "count": 1, "ip": "", "device": "", "member": "", "rules_version": 1,
            "campaigns": campaigns}


def push(client: redis.Redis, entries: list[dict[str, Any]]) -> None:
    for e in entries:
        client.sadd(EVENT_STREAMS, events_key(e["batch"]))
        client.xadd(events_key(e["batch"]), e)


def drain(client: redis.Redis, sessions: sessionmaker[Session], sink: Any = None) -> int:
    drainer = Drainer(client, sessions, "t", sink=sink)
    stored = 0
    while (stats := drainer.drain_once(block_ms=10)).read:
        stored += stats.stored
    return stored


def table(sessions: sessionmaker[Session], model: Any) -> dict[tuple[Any, ...], tuple[int, ...]]:
    """A rollup as {key: counts}, zero rows left out (a rebuild makes none)."""
    keys = [c.name for c in model.__table__.primary_key.columns]
    values = [c.name for c in model.__table__.columns if c.name not in keys]
    with sessions() as s:
        rows = s.execute(select(*[model.__table__.c[k] for k in keys + values])).all()
    return {tuple(r[:len(keys)]): tuple(r[len(keys):]) for r in rows if any(r[len(keys):])}


SCANS = [
    # batch 1 (acme): 3 first scans in Shenzhen (4403) for campaigns 7 and 8, a repeat in Guangzhou (4401)
    # for campaign 7, a scan with no region and no campaign, one not on sale, one void; batch 2 (other).
    event(1, "first", T0 + 5, "440305", "7,8", 1),
    event(1, "first", T0 + 20, "440306", "7,8", 2),
    event(1, "first", T0 + 70, "440305", "7", 3),
    event(1, "repeat", T0 + 75, "440104", "7", 1),
    event(1, "first", T0 + 3700, "", "", 4),
    event(1, "not_on_sale", T0 + 3710, "110105", "", 5),
    event(1, "void", T0 + 3715, "110105", "", 6),
    event(2, "first", T0 + 30, "310101", "", 1),
]


def test_drained_scans_fill_the_rollups_as_a_rebuild_would(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    acme, other = brand_ids(sessions)
    push(redis_any, SCANS)
    assert drain(redis_any, sessions) == len(SCANS)
    m0 = T0 - T0 % 60
    assert table(sessions, ScanMinute) == {
        (acme, 0, m0): (2, 0, 0, 0), (acme, 0, m0 + 60): (1, 1, 0, 0),
        (acme, 7, m0): (2, 0, 0, 0), (acme, 7, m0 + 60): (1, 1, 0, 0), (acme, 8, m0): (2, 0, 0, 0),
        (acme, 0, m0 + 3660): (1, 0, 1, 1), (other, 0, m0): (1, 0, 0, 0),
    }
    h0 = T0 - T0 % 3600
    assert table(sessions, ScanHour) == {
        (acme, 0, h0): (3, 1, 0, 0), (acme, 7, h0): (3, 1, 0, 0), (acme, 8, h0): (2, 0, 0, 0),
        (acme, 0, h0 + 3600): (1, 0, 1, 1), (other, 0, h0): (1, 0, 0, 0),
    }
    d0 = day_of(T0)
    assert datetime.fromtimestamp(d0, UTC) == datetime(2027, 1, 14, 16, tzinfo=UTC)  # midnight in Shanghai
    assert table(sessions, ScanRegionDay) == {
        (acme, 0, d0, "4403"): (3, 0, 0, 0), (acme, 0, d0, "4401"): (0, 1, 0, 0), (acme, 0, d0, ""): (1, 0, 0, 0),
        (acme, 0, d0, "1101"): (0, 0, 1, 1), (acme, 7, d0, "4403"): (3, 0, 0, 0), (acme, 7, d0, "4401"): (0, 1, 0, 0),
        (acme, 8, d0, "4403"): (2, 0, 0, 0), (other, 0, d0, "3101"): (1, 0, 0, 0),
    }
    assert table(sessions, BatchDay) == {(1, d0): (4, 1, 1, 1), (2, d0): (1, 0, 0, 0)}
    drained = {m: table(sessions, m) for m in SCAN_TABLES}
    with transaction(sessions) as s:
        rebuilt = {r.table: r.rows for r in rebuild_rollups(s)}
    assert {m: table(sessions, m) for m in SCAN_TABLES} == drained
    assert rebuilt["rollup_scan_minute"] == len(drained[ScanMinute])


def test_a_redelivered_entry_is_counted_once(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    push(redis_any, SCANS[:3])
    stream = events_key(1)
    rows = [event_row(stream, i.decode(), d) for i, d in redis_any.xrange(stream)]
    sink = ScanEventSink()
    # A drainer stored these and died before XACK: the entries are delivered again, and stored again.
    with transaction(sessions) as s:
        assert sink.store(s, rows) == 3
    once = table(sessions, ScanHour)
    assert drain(redis_any, sessions) == 0
    with transaction(sessions) as s:
        assert sink.store(s, [*rows[:2], event_row(stream, "9-1", event(1, "first", T0 + 9, "", "8", 9))]) == 1
    acme, _ = brand_ids(sessions)
    h0 = T0 - T0 % 3600
    assert table(sessions, ScanHour) == {**once, (acme, 0, h0): (4, 0, 0, 0), (acme, 8, h0): (3, 0, 0, 0)}


def test_an_entry_twice_in_one_read_is_counted_once(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    stream = events_key(1)
    row = event_row(stream, "5-0", event(1, "first", T0, "440305", "7", 1))
    with transaction(sessions) as s:
        assert ScanEventSink().store(s, [row, dict(row)]) == 1
    acme, _ = brand_ids(sessions)
    h0 = T0 - T0 % 3600
    assert table(sessions, ScanHour) == {(acme, 0, h0): (1, 0, 0, 0), (acme, 7, h0): (1, 0, 0, 0)}


def test_a_failed_transaction_adds_nothing(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    stream = events_key(1)
    rows = [event_row(stream, f"{i}-0", event(1, "first", T0, "", "7", i)) for i in range(1, 4)]
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        ScanEventSink().store(s, rows)
        raise RuntimeError("the database went away before the commit")
    assert table(sessions, ScanHour) == {}
    with sessions() as s:
        assert s.scalars(select(ScanEvent)).all() == []


def test_without_rollups_the_drain_stores_events_only(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    push(redis_any, SCANS)
    assert drain(redis_any, sessions, ScanEventSink(rollups=False)) == len(SCANS)
    assert all(table(sessions, m) == {} for m in SCAN_TABLES)
    with transaction(sessions) as s:
        rebuild_rollups(s)  # what `yima rollups rebuild` is for
    acme, _ = brand_ids(sessions)
    assert table(sessions, ScanHour)[acme, 7, T0 - T0 % 3600] == (3, 1, 0, 0)


def test_a_scan_of_a_batch_sql_does_not_know_counts_under_brand_0(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    push(redis_any, [event(4242, "first", T0, "440305")])
    drain(redis_any, sessions)
    assert table(sessions, ScanHour) == {(0, 0, T0 - T0 % 3600): (1, 0, 0, 0)}


def test_awards_valid_and_void_are_rolled_up(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    c = make_campaign(sessions, redis_any, prizes=[
        {"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 0.5},
        {"kind": "points", "points": 10, "weight": 0.5}])
    drawer = Drawer(redis_any)
    now = float(T0)
    won = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=now) for i in range(40)]
    # Redis loses one winner's claim and grants it again: SQL stores the second award void.
    again = next(w for i, w in enumerate(won) if w.outcome == WON and i < 40)
    i = won.index(again)
    redis_any.delete(f"{{c:{c.id}}}:drawn:1:inner", f"{{c:{c.id}}}:award:C{i:027d}")
    assert drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=now + 4000).outcome == WON
    drain(redis_any, sessions, AwardSink())
    drain(redis_any, sessions, AwardSink())  # nothing twice
    with sessions() as s:
        ledger = s.scalars(select(Award)).all()
    expected: dict[tuple[Any, ...], list[int]] = {}
    for a in ledger:
        key = (c.id, int(a.awarded_at.timestamp()) // 3600 * 3600, a.prize_index, a.status)
        n = expected.setdefault(key, [0, 0, 0])
        n[0], n[1], n[2] = n[0] + 1, n[1] + a.amount_fen, n[2] + a.points
    assert table(sessions, AwardHour) == {k: tuple(v) for k, v in expected.items()}
    assert any(k[3] == "void" for k in expected) and any(k[3] == "valid" for k in expected)
    with transaction(sessions) as s:
        rebuild_rollups(s)
    assert table(sessions, AwardHour) == {k: tuple(v) for k, v in expected.items()}


def forged_scanner(client: redis.Redis, clock: Any) -> Scanner:
    write_batch_state(client, 1, {"key_id": 1, "brand_id": 1, "quantity": 100_000, "pack": 0}, [(0, 99_999)], [])
    return Scanner(client, RING.batch_key_or_none, default_index(), ScanLimits(0, 0), clock=clock)


def test_forged_attempts_count_per_claimed_brand(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    acme, _ = brand_ids(sessions)
    now = [float(T0)]
    scanner = forged_scanner(redis_any, lambda: now[0])
    genuine = encode(RING.batch_key(1, 1), role=Role.INNER, key_id=1, batch_id=1, serial=5)
    tampered = genuine[:-1] + ("0" if genuine[-1] != "0" else "1")
    nobody = encode(RING.batch_key(1, 777), role=Role.INNER, key_id=1, batch_id=777, serial=5)  # no such batch
    for text in (tampered, tampered, nobody, "not a code at all"):
        with pytest.raises(NotGenuine):
            scanner.scan(ScanRequest(text, ip="192.0.2.1"))
    now[0] += 60
    with pytest.raises(NotGenuine):
        scanner.scan(ScanRequest(tampered))  # no address, no device: still counted as forged
    assert scanner.scan(ScanRequest(genuine, ip="192.0.2.1")).status == "first"  # not forged
    m0 = T0 - T0 % 60
    assert {k: int(v) for k, v in redis_any.hgetall(forged_key(m0)).items()} == {b"1": 2, b"777": 1, b"-": 1}
    with transaction(sessions) as s:
        collected = collect_forged(s, redis_any, now=T0 + 90)
    assert collected.attempts == 5
    expected = {(acme, m0): (2,), (0, m0): (2,), (acme, m0 + 60): (1,)}
    assert table(sessions, ForgedMinute) == expected
    assert table(sessions, ForgedHour) == {(acme, T0 - T0 % 3600): (3,), (0, T0 - T0 % 3600): (2,)}
    with transaction(sessions) as s:  # read again (another worker, or a retried pass): nothing changes
        collect_forged(s, redis_any, now=T0 + 90)
    assert table(sessions, ForgedMinute) == expected
    advance_cursor(redis_any, now=T0 + 90 + 3600)
    assert int(redis_any.get(CURSOR_KEY) or 0) > m0 + 60
    with transaction(sessions) as s:  # settled minutes are not read again
        assert collect_forged(s, redis_any, now=T0 + 90 + 3600).attempts == 0
    assert table(sessions, ForgedMinute) == expected


def test_the_forged_hash_of_a_minute_is_bounded(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    from reports.forged import FIELD_CAP, ForgedCounter
    from rules.lua import ScriptCaller

    counter = ForgedCounter(clock=lambda: float(T0))
    ScriptCaller(redis_any).run_all([counter.count_call(batch + 100_000) for batch in range(FIELD_CAP + 50)])
    fields = redis_any.hgetall(forged_key(T0 - T0 % 60))
    assert len(fields) == FIELD_CAP + 1 and int(fields[b"+"]) == 50
    assert 0 < redis_any.ttl(forged_key(T0 - T0 % 60)) <= 86_400


def test_old_minute_rows_are_pruned(redis_any: redis.Redis, sessions) -> None:  # type: ignore[no-untyped-def]
    push(redis_any, [event(1, "first", T0 - MINUTE_RETENTION_S - 60), event(1, "first", T0, serial=1)])
    drain(redis_any, sessions)
    with transaction(sessions) as s:
        assert prune_rollups(s, T0) == 1
        s.execute(delete(ScanEvent))
    acme, _ = brand_ids(sessions)
    assert list(table(sessions, ScanMinute)) == [(acme, 0, T0 - T0 % 60)]
    assert len(table(sessions, ScanHour)) == 2  # hours stay


def test_yima_rollups_rebuild(redis_any: redis.Redis, sqlite_url: str, tmp_path: Path) -> None:
    engine = make_engine(sqlite_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        acme = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
        batches.add_product(s, acme, "S1", "Thing", None)
        batches.create_batch(s, acme, batches.BatchRequest(sku="S1", lot="L1", count=1000), key_id=1,
                             max_count=1_000_000)
    push(redis_any, SCANS[:4])
    drain(redis_any, factory, ScanEventSink(rollups=False))  # events stored before rollups existed
    env = {**os.environ, "DATABASE_URL": sqlite_url, "YIMA_VAR_DIR": str(tmp_path / "var")}
    result = subprocess.run([str(Path(sys.executable).parent / "yima"), "rollups", "rebuild"], env=env,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "rollup_scan_hour: 3 rows" in result.stdout and "rollup_award_hour: 0 rows" in result.stdout
    h0 = T0 - T0 % 3600
    assert table(factory, ScanHour) == {(acme.id, 0, h0): (3, 1, 0, 0), (acme.id, 7, h0): (3, 1, 0, 0),
                                        (acme.id, 8, h0): (2, 0, 0, 0)}
    engine.dispose()


def test_a_drain_during_a_rebuild_adds_exactly_its_own_rows(redis_any: redis.Redis, postgres_url: str) -> None:
    engine = make_engine(postgres_url)
    upgrade_schema(engine)
    factory = make_sessionmaker(engine)
    with transaction(factory) as s:
        acme = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
        batches.add_product(s, acme, "S1", "Thing", None)
        batches.create_batch(s, acme, batches.BatchRequest(sku="S1", lot="L1", count=1000), key_id=1,
                             max_count=1_000_000)
    push(redis_any, SCANS[:3])
    drain(redis_any, factory)
    push(redis_any, SCANS[3:7])
    rebuild = factory()
    rebuild.begin()
    rebuild_rollups(rebuild)  # done, not committed: the rollup tables stay locked against writes
    drained: list[int] = []
    worker = threading.Thread(target=lambda: drained.append(drain(redis_any, factory)))
    worker.start()
    worker.join(timeout=0.5)  # it waits at its rollup update (or, on a slow machine, has not got there yet)
    rebuild.commit()
    rebuild.close()
    worker.join(timeout=30)
    assert drained == [4]
    counted = {m: table(factory, m) for m in SCAN_TABLES}
    with transaction(factory) as s:
        rebuild_rollups(s)
    assert {m: table(factory, m) for m in SCAN_TABLES} == counted
    h0 = T0 - T0 % 3600
    assert counted[ScanHour][acme.id, 0, h0] == (3, 1, 0, 0)
    engine.dispose()
