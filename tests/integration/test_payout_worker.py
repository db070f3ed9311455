"""The payout worker's jobs in a real RQ worker, and `yima payouts …`, on SQLite and the test Redis.

The provider factory is the one seam replaced here (by the scripted provider): the wiring to the fake
WeChat server over HTTP is tested end to end elsewhere.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import redis
from click.testing import CliRunner
from rq import Queue, SimpleWorker

from app import payout_wiring
from app.cli import cli
from app.payout_worker import QUEUE, enqueue_submit, sweep_job, sweep_queued
from codegen.db import make_engine, make_sessionmaker
from payouts.china_time import china_date
from payouts.providers.base import State
from tests.conftest import REDIS_TEST_URL
from tests.support.payout_world import World


@pytest.fixture
def world(sqlite_url: str, redis_client: redis.Redis, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
          ) -> Iterator[World]:
    for name, value in (("DATABASE_URL", sqlite_url), ("REDIS_URL", REDIS_TEST_URL), ("YIMA_VAR_DIR", str(tmp_path))):
        monkeypatch.setenv(name, value)  # the jobs and the commands read their config
    engine = make_engine(sqlite_url)
    w = World(make_sessionmaker(engine), redis_client)
    w.clock.now = datetime.now(UTC)  # the jobs run on the wall clock
    monkeypatch.setattr(payout_wiring, "make_provider", lambda _cfg: w.provider)
    yield w
    w.engine.close()
    engine.dispose()


def run_jobs(queue: Queue) -> None:
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
    finally:  # the in-process worker installs its own handlers; give pytest its own back
        for sig, handler in handlers.items():
            signal.signal(sig, handler)


def test_the_submit_job_and_the_sweep_chain_pay_every_claimed_award_once(world: World) -> None:
    queue = Queue(QUEUE, connection=world.redis)
    first = world.claim(world.award()).payout
    assert first is not None
    others = [world.claim(world.award(), openid=f"o-{i}").payout for i in range(3)]
    submit = enqueue_submit(queue, first.id)
    sweep = queue.enqueue(sweep_job, kwargs={"seconds": 1.0, "interval": 0.1, "chain": False})
    run_jobs(queue)
    assert submit.return_value()["state"] == "awaiting_user"
    # The submit job's own payout, then its sweep pass: the others were due too (the sweep finds none left).
    assert ["wechat_transfer", "awaiting_user", 4] in submit.return_value()["transitions"]
    assert sweep.return_value()["advanced"] == 0
    states = {world.payout_by_id(p.id).state for p in [first, *others] if p is not None}
    assert states == {State.AWAITING_USER}
    assert len(world.provider.bills) == len(world.provider.submits) == 4


def test_a_submit_job_that_meets_a_backlog_paces_it_through_the_bucket(world: World,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    # A burst of claims: one submit job each, ahead of any sweep job. The first job to run finds more due
    # payouts than the bucket holds and submits them as the bucket refills; the jobs behind it find theirs done.
    monkeypatch.setenv("YIMA_PAYOUT_RATE_MILLI", "400000")
    monkeypatch.setenv("YIMA_PAYOUT_BURST", "2")
    queue = Queue(QUEUE, connection=world.redis)
    payouts = [world.claim(world.award(), openid=f"o-{i}").payout for i in range(30)]
    jobs = [enqueue_submit(queue, p.id) for p in payouts if p is not None]
    # One job waits for the whole burst: the claims behind the first queue nothing more.
    assert jobs[0] is not None and jobs[1:] == [None] * 29 and queue.count == 1
    run_jobs(queue)
    assert ["wechat_transfer", "awaiting_user", 30] in jobs[0].return_value()["transitions"]
    # Once that job has started, a new claim queues a job of its own again.
    late = world.claim(world.award(), openid="o-late").payout
    assert late is not None and enqueue_submit(queue, late.id) is not None
    assert {world.payout_by_id(p.id).state for p in payouts if p is not None} == {State.AWAITING_USER}
    assert len(world.provider.bills) == len(world.provider.submits) == 30


def test_a_sweep_job_queues_its_successor_once(world: World) -> None:
    queue = Queue(QUEUE, connection=world.redis)
    assert not sweep_queued(queue)
    sweep_job(seconds=0.2, interval=0.1)
    sweep_job(seconds=0.2, interval=0.1)
    assert sweep_queued(queue) and queue.count == 1


def test_the_payouts_commands(world: World) -> None:
    paid = world.paid_award()
    world.provider.submit_script.append("rejected")
    failed = world.paid_award(openid="o-bob")
    runner = CliRunner()
    listing = runner.invoke(cli, ["payouts", "list", "--state", "failed"])
    assert listing.exit_code == 0 and failed.bill_no in listing.output and paid.bill_no not in listing.output
    retried = runner.invoke(cli, ["payouts", "retry", str(failed.id), "--actor", "ops@acme"])
    assert retried.exit_code == 0 and "attempt 2" in retried.output
    assert runner.invoke(cli, ["payouts", "retry", str(paid.id)]).exit_code == 1  # awaiting the consumer
    day = china_date(world.clock()).isoformat()
    clean = runner.invoke(cli, ["payouts", "reconcile", "--date", day])
    assert clean.exit_code == 0, clean.output
    world.provider.confirm(paid.bill_no)  # paid at the provider; the callback never came
    report = runner.invoke(cli, ["payouts", "reconcile", "--date", day])
    assert report.exit_code == 1 and "missing" in report.output and paid.bill_no in report.output
    pending = world.claim(world.award(), openid="o-carol").payout
    assert pending is not None
    cancelled = runner.invoke(cli, ["payouts", "cancel", str(pending.id), "--actor", "ops@acme"])
    assert cancelled.exit_code == 0 and "cancelled" in cancelled.output
    assert runner.invoke(cli, ["payouts", "cancel", str(pending.id)]).exit_code == 1
    resumed = runner.invoke(cli, ["payouts", "resume-rail"])
    assert resumed.exit_code == 0 and "0 payouts due again" in resumed.output


def test_a_sweep_job_rides_out_a_database_that_is_down(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Nothing listens on this port (the helper's own range): every connection attempt is refused.
    monkeypatch.setenv("DATABASE_URL", "postgresql+psycopg://postgres@127.0.0.1:18399/absent")
    totals = sweep_job(seconds=1.0, interval=0.1, chain=False)
    assert totals["db_outages"] >= 1 and totals["passes"] == 0


def test_the_forking_worker_counts_what_its_jobs_did(world: World) -> None:
    from prometheus_client import REGISTRY

    from app.payout_worker import PayoutWorker

    def seen(state: str) -> float:
        return REGISTRY.get_sample_value("yima_payouts_total", {"provider": "wechat_transfer", "state": state}) or 0.0

    before = seen("awaiting_user")
    queue = Queue(QUEUE, connection=world.redis)
    payout = world.claim(world.award()).payout
    assert payout is not None
    enqueue_submit(queue, payout.id)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:  # forks its work horse, as deployed: the scripted provider's bill is made in the child
        PayoutWorker([queue], connection=world.redis).work(burst=True)
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert world.payout_by_id(payout.id).state == State.AWAITING_USER
    assert seen("awaiting_user") == before + 1
