"""The engine with the real 商家转账 adapter against the fake WeChat server over HTTP: claims paid once,
a lost reply, duplicate signed callbacks, 24 h expiry and a re-issued bill, the day's bill reconciled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import redis

from app.fake_wechat.server import FakeWechat
from codegen.db import make_engine, make_sessionmaker, transaction
from payouts.china_time import china_date
from payouts.engine import apply_callback
from payouts.providers.base import State, bill_number
from payouts.providers.registry import make_provider
from payouts.reconcile import reconcile_day
from tests.support.fake_wechat import CallbackSink
from tests.support.payout_world import World

PROMPT = {"query_after_s": 0.0, "unclear_retry_s": 0.0, "callback_grace_s": 0.0}  # every step due at once


@pytest.fixture
def world(database_url: str, redis_client: redis.Redis, fake_wechat: FakeWechat,
          callback_sink: CallbackSink) -> Iterator[World]:
    engine = make_engine(database_url)
    w = World(make_sessionmaker(engine), redis_client)
    w.clock.now = datetime.now(UTC)  # the fake dates its bills by its own clock, today
    w.engine.close()
    w.provider = make_provider("fake", fake_wechat.credentials(callback_sink.url, timeout_s=2.0))  # type: ignore[assignment]
    w.restart(**PROMPT)
    yield w
    w.engine.close()
    engine.dispose()


def test_claims_are_paid_once_and_duplicate_callbacks_change_nothing(world: World, fake_wechat: FakeWechat,
                                                                     callback_sink: CallbackSink) -> None:
    fake_wechat.set_faults(callback_copies=2, lost_replies={"create": 1})
    payouts = [world.claim(world.award(amount_fen=100 + i), openid=f"oUSER{i}").payout for i in range(3)]
    for _ in range(3):  # submit (one reply lost: UNKNOWN), query, resubmit or confirm-waiting
        world.engine.sweep()
    rows = [world.payout_by_id(p.id) for p in payouts if p is not None]
    assert {p.state for p in rows} == {State.AWAITING_USER} and all(p.package_info for p in rows)
    assert sorted(b["out_bill_no"] for b in fake_wechat.bills()) == sorted(p.bill_no for p in rows)
    for p in rows:
        assert fake_wechat.confirm(p.bill_no)
    fake_wechat.wait_deliveries(6)
    applied = []
    for headers, body in callback_sink.received:
        event = world.provider.parse_callback(headers, body)
        with transaction(world.sessions) as s:
            applied.append(apply_callback(s, event))
    assert applied.count(True) == 3 and applied.count(False) == 3
    assert {world.payout_by_id(p.id).state for p in rows} == {State.SUCCEEDED}
    with transaction(world.sessions) as s:
        report = reconcile_day(s, world.provider, china_date(world.clock()))
    assert report.clean and report.matched == 3


def test_an_unconfirmed_bill_expires_at_the_provider_and_is_reissued(world: World, fake_wechat: FakeWechat) -> None:
    award_id = world.award()
    world.claim(award_id, openid="oUSER1")
    world.engine.sweep()
    first = world.payout(award_id)
    assert first.state == State.AWAITING_USER
    fake_wechat.advance_clock(24 * 3600 + 1)
    world.engine.sweep()  # the overdue query finds it closed (OVERDUE_CLOSE): expired, then a new bill
    world.engine.sweep()
    again = world.payout(award_id)
    assert (again.state, again.attempt, again.bill_no) == (State.AWAITING_USER, 2, bill_number(award_id, 2, 32))
    states = {b["out_bill_no"]: b["state"] for b in fake_wechat.bills()}
    assert set(states) == {first.bill_no, again.bill_no} and states[again.bill_no] == "WAIT_USER_CONFIRM"
