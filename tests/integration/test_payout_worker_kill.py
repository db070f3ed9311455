"""`kill -9` of the real payout worker process between submit and record: after a restart, exactly one
transfer per award at the provider (the fake WeChat server over HTTP), under the same bill number."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
from rq import Queue

from app.fake_wechat.server import FakeWechat
from app.payout_worker import QUEUE, enqueue_submit
from codegen.db import make_engine, make_sessionmaker
from payouts.models import Payout
from payouts.providers.base import State
from tests.conftest import REDIS_TEST_URL
from tests.support.fake_wechat import free_port
from tests.support.payout_world import World

YIMA = Path(sys.executable).with_name("yima")


def wait_for(what: str, check: Callable[[], Any], seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := check():
            return found
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeWechat]:
    with FakeWechat(tmp_path, port=free_port(), persist=False) as server:
        yield server


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`yima payouts worker` in its own process group (RQ forks a work horse per job: the kill takes both)."""
    with log.open("ab") as out:
        return subprocess.Popen([str(YIMA), "payouts", "worker"], env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def test_a_worker_killed_between_submit_and_record_pays_once_after_a_restart(
        sqlite_url: str, redis_client: redis.Redis, tmp_path: Path, fake: FakeWechat) -> None:
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    world = World(sessions, redis_client)
    world.clock.now = datetime.now(UTC)  # the worker process runs on the wall clock
    env = {k: v for k, v in os.environ.items() if not k.startswith("YIMA_")}
    env.update(DATABASE_URL=sqlite_url, REDIS_URL=REDIS_TEST_URL, YIMA_VAR_DIR=str(tmp_path), HOST="127.0.0.1",
               YIMA_PAYOUT_PROVIDER="fake", YIMA_FAKE_WECHAT_PORT=fake.base_url.rsplit(":", 1)[1])
    log = tmp_path / "worker.log"
    award_id = world.award(amount_fen=288)
    result = world.claim(award_id)
    assert result.payout_id is not None
    fake.set_faults(reply_delay_s=30.0)  # the bill is made at once; its reply comes too late for the worker

    worker = start_worker(env, log)
    try:
        enqueue_submit(Queue(QUEUE, connection=redis_client), result.payout_id)
        bill = wait_for("the bill at the provider", lambda: fake.bills())
        with sessions() as s:  # recorded as sent (SUBMITTED) before the call: the reply is what is lost
            assert s.get(Payout, result.payout_id).state == State.SUBMITTED  # type: ignore[union-attr]
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

        fake.set_faults(reply_delay_s=0.0)
        worker = start_worker(env, log)
        # The restarted worker's sweep queries the bill (never a new number) and finds it waiting for the user.
        wait_for("the payout to reach awaiting_user",
                 lambda: _state(sessions, result.payout_id) == State.AWAITING_USER, seconds=60)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        world.engine.close()
        engine.dispose()
    bills = fake.bills()
    with sessions() as s:
        payout = s.get(Payout, result.payout_id)
        assert payout is not None
        assert [b["out_bill_no"] for b in bills] == [payout.bill_no] == [bill[0]["out_bill_no"]], (
            log.read_text()[-3000:])
        assert payout.attempt == 1 and payout.package_info


def _state(sessions: Any, payout_id: int) -> str | None:
    with sessions() as s:
        payout = s.get(Payout, payout_id)
        return None if payout is None else payout.state
