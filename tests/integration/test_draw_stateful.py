"""A hypothesis state machine against a real Redis and SQL: random campaigns, random interleaved scans.

Invariants after every step: no prize quantity and no budget exceeded, no code rewarded twice in a
campaign. At the end, after draining the award streams, the Redis ledger equals the SQL ledger.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule, run_state_machine_as_test
from sqlalchemy import func, select

from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from rules.awards import AwardSink, reconcile, register_award_streams
from rules.campaign import CompiledCampaign
from rules.campaign_store import compile_row, save_campaign, set_status
from rules.drain import Drainer
from rules.draw import Drawer, open_counters
from rules.models import Award
from rules.region import default_index
from schema import upgrade_schema
from tests.support.backends import RedisBackend, connect

NOW = 1_800_000_000.0


class DrawMachine(RuleBasedStateMachine):
    def __init__(self, redis_url: str) -> None:
        super().__init__()
        self.redis = connect(redis_url)
        self.redis.flushdb()
        self.tmp = Path(__import__("tempfile").mkdtemp(prefix="yima-sm-"))
        self.engine = make_engine(f"sqlite:///{self.tmp / 'sm.db'}")
        upgrade_schema(self.engine)
        self.sessions = make_sessionmaker(self.engine)
        with transaction(self.sessions) as s:
            brand = batches.add_brand(s, "acme", "Acme", "https://q.acme.example")
            batches.add_product(s, brand, "S1", "Thing", None)
            batches.create_batch(s, brand, batches.BatchRequest(sku="S1", lot="L1", count=1000), key_id=1,
                                 max_count=10_000)
        self.campaigns: list[CompiledCampaign] = []
        self.drawer = Drawer(self.redis)
        self.day = 0

    @rule(budget=st.integers(100, 2_000), weight=st.floats(0.2, 1.0),
          points_total=st.integers(1, 5), one_per_code=st.booleans(), cap=st.one_of(st.none(), st.integers(1, 3)))
    @precondition(lambda self: len(self.campaigns) < 4)
    def create_campaign(self, budget: int, weight: float, points_total: int, one_per_code: bool,
                        cap: int | None) -> None:
        doc: dict[str, Any] = {
            "name": f"c{len(self.campaigns)}", "brand": "acme",
            "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
            "budget": {"total_fen": budget, "daily_fen": max(100, budget // 2)},
            "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 300, "weight": weight},
                       {"kind": "points", "points": 5, "weight": 1 - weight, "total": points_total,
                        "daily": min(3, points_total)}],
            "caps": {"one_per_code": one_per_code},
        }
        if cap:
            doc["members"] = {"audience": "members"}
            doc["caps"]["per_member_daily"] = cap
        with transaction(self.sessions) as s:
            row = save_campaign(s, doc, default_index())
            set_status(s, row.id, "active", default_index())
            self.campaigns.append(compile_row(s, row, default_index()))
        register_award_streams(self.redis, [self.campaigns[-1].id])
        open_counters(self.redis, self.campaigns[-1].id)

    @rule(data=st.data())
    @precondition(lambda self: self.campaigns)
    def scan(self, data: st.DataObject) -> None:
        serial = data.draw(st.integers(0, 30), label="serial")
        campaign = data.draw(st.sampled_from(self.campaigns), label="campaign")
        member = data.draw(st.sampled_from(["", "m1", "m2"]), label="member")
        self.drawer.draw(campaign, code=f"S{serial:027d}", batch_id=1, role="inner", serial=serial,
                         member=member, now=NOW + self.day * 86_400)

    @rule()
    def next_day(self) -> None:
        self.day += 1

    @rule()
    def drain(self) -> None:
        drainer = Drainer(self.redis, self.sessions, "sm", sink=AwardSink())
        while drainer.drain_once(block_ms=1).read:
            pass

    @invariant()
    def limits_hold_in_redis(self) -> None:
        for c in self.campaigns:
            tag = f"{{c:{c.id}}}"
            assert int(self.redis.get(f"{tag}:spent") or 0) <= c.budget_fen
            points = c.prizes[1]
            assert int(self.redis.hget(f"{tag}:qty", 1) or 0) <= (points.total or 0)
            for key in self.redis.scan_iter(f"{tag}:spent:*"):
                assert int(self.redis.get(key) or 0) <= (c.daily_budget_fen or c.budget_fen)

    @invariant()
    def sql_never_pays_a_code_twice(self) -> None:
        with self.sessions() as s:
            dup = s.execute(select(Award.campaign_id, Award.claim, func.count()).where(Award.status == "valid")
                            .group_by(Award.campaign_id, Award.claim).having(func.count() > 1)).all()
            assert dup == []

    def teardown(self) -> None:
        try:
            self.drain()
            with transaction(self.sessions) as s:
                assert reconcile(s, self.redis) == []
                assert s.scalar(select(func.count()).select_from(Award).where(Award.status == "void")) == 0
        finally:
            self.redis.flushdb()
            self.redis.close()
            self.engine.dispose()


def test_draws_drains_and_repairs_in_any_order_keep_the_ledger_right(redis_backend: RedisBackend) -> None:
    """The machine on standalone Redis and on a cluster (each example flushes the backend it was given)."""
    run_state_machine_as_test(lambda: DrawMachine(redis_backend.url),
                              settings=settings(max_examples=25, stateful_step_count=40, deadline=None))
