"""`yima worker` restores a campaign's counters from SQL by itself when Redis is found to have lost them."""

from __future__ import annotations

import time
from pathlib import Path

import redis
from sqlalchemy import func, select

from codegen.db import transaction
from rules.campaign_keys import memo_key
from rules.draw import ALREADY_WON, UNAVAILABLE, WON, Drawer
from rules.models import Award
from tests.integration.test_awards import make_campaign, seed_catalogue
from tests.integration.test_worker_outages import CATCH_UP, sqlite_ledger, start_worker, stop_worker
from tests.support.backends import RedisBackend

NOW = time.time()


def test_the_worker_restores_counters_redis_lost_and_the_won_codes(tmp_path: Path, redis_any: redis.Redis,
                                                                   redis_backend: RedisBackend) -> None:
    url, engine, sessions = sqlite_ledger(tmp_path)
    with transaction(sessions) as s:
        seed_catalogue(s, count=1000)
    c = make_campaign(sessions, redis_any, budget={"total_fen": 10_000},
                      prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 1.0, "total": 8}])
    drawer = Drawer(redis_any)
    for i in range(5):
        assert drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW).outcome == WON
    worker = start_worker(tmp_path, redis_backend.url, url, YIMA_QUEUE_URL=redis_backend.queue_url)
    try:
        deadline = time.monotonic() + CATCH_UP
        while time.monotonic() < deadline:
            with sessions() as s:
                if s.scalar(select(func.count()).select_from(Award)) == 5:
                    break
            time.sleep(0.2)
        for key in redis_any.scan_iter(f"{{c:{c.id}}}:*"):  # Redis loses the campaign (not its stream)
            if not key.endswith(b":awards"):
                redis_any.delete(key)
        assert drawer.draw(c, code=f"C{9:027d}", batch_id=1, role="inner", serial=9, now=NOW).outcome == UNAVAILABLE
        # The repair sets the counters, then the won codes' memos: wait for the last memo, not the first key.
        while time.monotonic() < deadline and not redis_any.exists(memo_key(c.id, f"C{4:027d}")):
            time.sleep(0.2)
        assert redis_any.get(f"{{c:{c.id}}}:spent") == b"500"
        assert drawer.draw(c, code=f"C{0:027d}", batch_id=1, role="inner", serial=0, now=NOW).outcome == ALREADY_WON
        fresh = [drawer.draw(c, code=f"C{i:027d}", batch_id=1, role="inner", serial=i, now=NOW).outcome
                 for i in range(9, 15)]
        assert fresh.count(WON) == 3  # 8 in all, as the prize allows
    finally:
        stop_worker(worker)
        engine.dispose()
