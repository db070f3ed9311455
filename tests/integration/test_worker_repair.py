"""`yima worker` restores a campaign's counters from SQL by itself when Redis is found to have lost them."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from sqlalchemy import func, select

from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction, upgrade_schema
from rules.awards import register_award_streams
from rules.campaign_store import compile_row, save_campaign, set_status
from rules.draw import ALREADY_WON, UNAVAILABLE, WON, Drawer, open_counters
from rules.models import Award
from rules.region import default_index
from tests.conftest import REDIS_TEST_URL
from tests.integration.test_worker_outages import CATCH_UP, start_worker, stop_worker

NOW = time.time()


def test_the_worker_restores_counters_redis_lost_and_the_won_codes(tmp_path: Path, redis_client: redis.Redis) -> None:
    url = f"sqlite:///{tmp_path / 'yima.db'}"
    engine = make_engine(url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    with transaction(sessions) as s:
        brand = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
        batches.add_product(s, brand, "S1", "Thing", None)
        batches.create_batch(s, brand, batches.BatchRequest(sku="S1", lot="L1", count=1000), key_id=1,
                             max_count=1000)
        row = save_campaign(s, {
            "name": "c", "brand": "acme",
            "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-01-01T00:00:00+08:00"},
            "budget": {"total_fen": 10_000},
            "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "total": 8}],
        }, default_index())
        set_status(s, row.id, "active", default_index())
        c = compile_row(s, row, default_index())
    register_award_streams(redis_client, [c.id])
    open_counters(redis_client, c.id)
    drawer = Drawer(redis_client)
    for i in range(5):
        assert drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW).outcome == WON
    worker = start_worker(tmp_path, REDIS_TEST_URL, url)
    try:
        deadline = time.monotonic() + CATCH_UP
        while time.monotonic() < deadline:
            with sessions() as s:
                if s.scalar(select(func.count()).select_from(Award)) == 5:
                    break
            time.sleep(0.2)
        for key in redis_client.scan_iter(f"{{c:{c.id}}}:*"):  # Redis loses the campaign (not its stream)
            if not key.endswith(b":awards"):
                redis_client.delete(key)
        assert drawer.draw(c, code=f"C{9:027d}", batch_id=1, role="inner", serial=9, now=NOW).outcome == UNAVAILABLE
        while time.monotonic() < deadline and redis_client.get(f"{{c:{c.id}}}:spent") is None:
            time.sleep(0.2)
        assert redis_client.get(f"{{c:{c.id}}}:spent") == b"500"
        assert drawer.draw(c, code=f"C{0:027d}", batch_id=1, role="inner", serial=0, now=NOW).outcome == ALREADY_WON
        fresh = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW).outcome
                 for i in range(9, 15)]
        assert fresh.count(WON) == 3  # 8 in all, as the prize allows
    finally:
        stop_worker(worker)
        engine.dispose()
