"""Scans per batch by kind, read from the batch rollup (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

from codegen.db import make_engine, make_sessionmaker, transaction
from reports.batch_scans import scans_by_batch
from reports.rebuild import rebuild_rollups
from rules.models import ScanEvent
from schema import upgrade_schema


def test_scans_are_counted_per_batch_and_kind(database_url: str) -> None:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    events = {7: ["first", "first", "repeat", "void"], 8: ["not_on_sale"], 9: ["first"]}
    with transaction(sessions) as s:
        for batch_id, kinds in events.items():
            for i, kind in enumerate(kinds):
                s.add(ScanEvent(id=f"{batch_id}-{i}-0", batch_id=batch_id, serial=i, role="inner", code="C",
                                kind=kind, scan_count=1, scanned_at=datetime.now(UTC)))
        s.flush()
        rebuild_rollups(s)  # what the drain keeps as it inserts; rebuilt here from the raw rows
    with sessions() as s:
        counts = scans_by_batch(s, [7, 8, 10])
    assert set(counts) == {7, 8, 10}  # 9 was not asked for; 10 has none
    assert counts[7].by_kind == {"first": 2, "repeat": 1, "void": 1} and counts[7].total == 4
    assert counts[8].get("not_on_sale") == 1 and counts[8].get("first") == 0
    assert counts[10].total == 0
    with sessions() as s:
        assert scans_by_batch(s, []) == {}
    engine.dispose()
