"""The payout engine on real SQL (SQLite and PostgreSQL) and real Redis, against the scripted provider:
one bill per award however replies get lost, states that only move forward, expiry, pacing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import redis

from codegen.db import make_engine, make_sessionmaker, transaction
from payouts.callbacks import apply_callback
from payouts.engine import PayoutEngine
from payouts.errors import PayoutConflict
from payouts.operations import retry_payout
from payouts.pacing import rail_paused
from payouts.providers.base import CallbackEvent, State, bill_number
from rules.campaign_keys import counter_keys
from rules.models import Award
from tests.support.payout_world import World
from tests.support.scripted_provider import Killed


@pytest.fixture
def world(database_url: str, redis_client: redis.Redis) -> Iterator[World]:
    engine = make_engine(database_url)
    w = World(make_sessionmaker(engine), redis_client)
    yield w
    w.engine.close()
    engine.dispose()


def callback(w: World, event: CallbackEvent) -> bool:
    with transaction(w.sessions) as s:
        return apply_callback(s, event, now=w.clock())


def test_a_claimed_award_is_paid_once_and_the_consumer_confirms(world: World) -> None:
    p = world.paid_award()
    assert p.state == State.AWAITING_USER and p.package_info and p.attempt == 1
    assert p.bill_no == bill_number(p.award_id, 1, 32)
    event = world.provider.confirm(p.bill_no)
    assert callback(world, event) is True
    assert callback(world, event) is False  # the provider repeats itself: nothing changes
    world.clock.advance(3600)
    world.engine.sweep()  # nothing left to do
    assert world.payout(p.award_id).state == State.SUCCEEDED
    assert list(world.provider.bills) == [p.bill_no] and world.provider.submits == [p.bill_no]
    assert [e[1:3] for e in world.events(p.id)] == [("pending", "submitted"), ("submitted", "awaiting_user"),
                                                      ("awaiting_user", "succeeded")]


def test_stale_reports_never_move_a_payout_back(world: World) -> None:
    p = world.paid_award()
    assert callback(world, CallbackEvent(p.bill_no, State.SUBMITTED)) is False  # AWAITING_USER stays
    assert world.payout(p.award_id).state == State.AWAITING_USER
    callback(world, world.provider.confirm(p.bill_no))
    assert callback(world, CallbackEvent(p.bill_no, State.FAILED, reason="TRANSFER_RISK")) is False
    assert callback(world, CallbackEvent("YUNKNOWNBILL", State.SUCCEEDED)) is False
    assert world.payout(p.award_id).state == State.SUCCEEDED


def test_a_lost_request_is_queried_then_sent_again_under_the_same_bill_number(world: World) -> None:
    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    world.provider.submit_script.extend(["lost_request"])
    assert world.engine.advance(payout_id) == State.UNKNOWN
    assert world.engine.advance(payout_id) == State.UNKNOWN  # not due yet: no call at all
    world.clock.advance(world.settings.unclear_retry_s)
    assert world.engine.advance(payout_id) == State.PENDING  # the query: no such bill
    assert world.engine.advance(payout_id) == State.AWAITING_USER
    bill = world.payout(award_id).bill_no
    assert world.provider.submits == [bill, bill] and world.provider.queries == [bill]
    assert list(world.provider.bills) == [bill]


def test_a_lost_reply_and_unclear_queries_never_make_a_second_bill(world: World) -> None:
    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    world.provider.submit_script.append("lost_reply")
    world.provider.query_script.extend(["unclear", "unclear"])
    assert world.engine.advance(payout_id) == State.UNKNOWN
    for _ in range(3):
        world.clock.advance(world.settings.unclear_retry_s)
        world.engine.advance(payout_id)
    assert world.payout(award_id).state == State.AWAITING_USER
    assert len(world.provider.submits) == 1 and len(world.provider.bills) == 1


def test_a_worker_killed_between_submit_and_record_leaves_exactly_one_bill(world: World) -> None:
    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    world.provider.submit_script.append("die")
    with pytest.raises(Killed):
        world.engine.advance(payout_id)
    assert world.payout(award_id).state == State.SUBMITTED  # committed before the call
    engine = world.restart()
    engine.sweep()  # too early: the query waits for query_after_s
    assert world.provider.queries == []
    world.clock.advance(world.settings.query_after_s)
    engine.sweep()
    p = world.payout(award_id)
    assert p.state == State.AWAITING_USER and p.package_info
    assert world.provider.submits == [p.bill_no] and list(world.provider.bills) == [p.bill_no]


def test_a_refused_bill_fails_and_only_an_operator_retries_it_under_a_new_number(world: World) -> None:
    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    world.provider.submit_script.append("rejected")
    assert world.engine.advance(payout_id) == State.FAILED
    assert world.payout(award_id).reason == "PARAM_ERROR"
    with transaction(world.sessions) as s:
        retried = retry_payout(s, payout_id, "ops@acme", now=world.clock())
        assert (retried.attempt, retried.state) == (2, State.PENDING)
    with pytest.raises(PayoutConflict), transaction(world.sessions) as s:
        retry_payout(s, payout_id, "ops@acme")
    assert world.engine.advance(payout_id) == State.AWAITING_USER
    assert world.payout(award_id).bill_no == bill_number(award_id, 2, 32)


def test_an_unconfirmed_bill_is_queried_right_after_its_confirm_window_closes(world: World) -> None:
    engine = world.restart(callback_grace_s=5000.0)
    p = world.paid_award()
    for _ in range(17):  # every 5,000 s, the provider still waiting for the consumer (to 85,000 s)
        world.clock.advance(5000)
        engine.sweep()
    assert len(world.provider.queries) == 17
    world.clock.advance(1400)
    assert len(world.provider.expire()) == 1  # closed at 24 h; its callback is lost
    engine.sweep()
    assert len(world.provider.queries) == 17
    world.clock.advance(world.settings.query_after_s)
    engine.sweep()  # 24 h + query_after_s, not the next 5,000 s round: found closed, a new bill
    assert len(world.provider.queries) == 18 and world.payout(p.award_id).attempt == 2


@pytest.mark.parametrize("by_callback", [True, False])
def test_an_unconfirmed_bill_closed_by_the_provider_is_reissued_as_attempt_2(world: World, by_callback: bool) -> None:
    p = world.paid_award()
    world.clock.advance(86_400)
    [closed] = world.provider.expire()
    if by_callback:
        assert callback(world, closed) is True
        assert world.payout(p.award_id).state == State.EXPIRED
    world.engine.sweep()  # the expiry policy (after the callback), or the overdue query that finds it closed
    again = world.payout(p.award_id)
    assert (again.state, again.attempt) == (State.PENDING, 2)
    world.engine.sweep()
    again = world.payout(p.award_id)
    assert again.state == State.AWAITING_USER and again.bill_no == bill_number(p.award_id, 2, 32)
    assert world.provider.bills[p.bill_no].state == State.FAILED  # the old bill was closed first
    assert ("expiry", "expired", "pending", "reissued") in world.events(p.id)


def test_an_unconfirmed_bill_is_never_replaced_while_the_provider_keeps_it_open(world: World) -> None:
    p = world.paid_award()
    for _ in range(30):  # well past 24 h of queries, the provider still says WAIT_USER_CONFIRM
        world.clock.advance(world.settings.callback_grace_s * 10)
        world.engine.sweep()
    assert world.payout(p.award_id).state == State.AWAITING_USER and len(world.provider.bills) == 1
    assert len(world.provider.queries) == 30


def test_on_expiry_release_the_payout_stays_expired_and_is_marked_released(world: World) -> None:
    engine = world.restart(on_expiry="release")
    p = world.paid_award()
    spent, _day, qty, _qty_day = counter_keys(world.campaign_id, "")
    world.redis.set(spent, 500)  # the draw had counted this award (100 fen) among 500 fen spent
    world.redis.hset(qty, "0", 5)
    world.clock.advance(86_400)
    [closed] = world.provider.expire()
    callback(world, closed)
    engine.sweep()
    engine.sweep()
    released = world.payout(p.award_id)
    assert (released.state, released.reason, released.next_at) == (State.EXPIRED, "released", None)
    assert len(world.provider.bills) == 1
    assert world.events(p.id)[-1] == ("expiry", "expired", "expired", "released")
    # The budget is released: the award is void in the ledger (never paid, not counted) and Redis' totals drop.
    with world.sessions() as s:
        award = s.get(Award, p.award_id)
        assert award is not None and award.status == Award.VOID and "budget released" in award.void_reason
    assert int(world.redis.get(spent)) == 400 and world.redis.hget(qty, "0") == b"4"
    engine.sweep()  # nothing more happens: released once
    assert int(world.redis.get(spent)) == 400


def test_the_consumers_daily_caps_defer_to_midnight_china_time(world: World) -> None:
    engine = world.restart(user_daily_count=2, user_daily_fen=250)
    first, second, third = (world.claim(world.award(amount_fen=100)).payout for _ in range(3))
    assert first and second and third
    assert [engine.advance(x.id) for x in (first, second)] == [State.AWAITING_USER] * 2
    assert engine.advance(third.id) == State.PENDING
    waiting = world.payout_by_id(third.id)
    assert waiting.reason == "user_daily_cap"
    assert waiting.next_at is not None
    assert waiting.next_at.replace(tzinfo=UTC) == datetime(2027, 3, 10, 16, 0, tzinfo=UTC)  # 00:00 in China
    other = world.claim(world.award(amount_fen=100), openid="o-bob").payout
    assert other and engine.advance(other.id) == State.AWAITING_USER  # someone else's cap is their own
    world.clock.now = datetime(2027, 3, 10, 16, 0, tzinfo=UTC)
    engine.sweep()
    assert world.payout(waiting.award_id).state == State.AWAITING_USER
    assert [e[0] for e in world.events(third.id)].count("cap") == 1


def test_campaign_pacing_holds_spending_to_its_hourly_figure(world: World) -> None:
    engine = world.restart(campaign_fen_per_hour={world.campaign_id: 300})
    ids = [world.claim(world.award(amount_fen=200), openid=f"o-{i}").payout.id for i in range(3)]  # type: ignore[union-attr]
    engine.sweep()
    assert sum(world.payout_by_id(i).state == State.AWAITING_USER for i in ids) == 1
    world.clock.advance(1800)
    engine.sweep()
    assert sum(world.payout_by_id(i).state == State.AWAITING_USER for i in ids) == 1
    world.clock.advance(1800)
    engine.sweep()
    assert sum(world.payout_by_id(i).state == State.AWAITING_USER for i in ids) == 2


def test_the_token_bucket_spaces_submits_to_the_merchants_rate(world: World) -> None:
    engine = world.restart(rate_per_s=4.0, burst=5, user_daily_count=0, user_daily_fen=0)
    for i in range(40):
        world.claim(world.award(), openid=f"o-{i}")
    counts = []
    for _ in range(17):  # 4 s of the injected clock, in steps of one refill (1 / rate, exact in binary)
        before = len(world.provider.submits)
        engine.sweep()
        engine.sweep()  # a second pass in the same instant finds no token
        counts.append(len(world.provider.submits) - before)
        world.clock.advance(0.25)
    assert counts == [5] + [1] * 16  # the burst, then one submit per refill: 4 a second
    world.clock.advance(10)
    engine.sweep()
    assert len(world.provider.submits) == 5 + 16 + 5  # an idle spell refills the bucket to its burst, no more


def test_not_enough_pauses_the_rail_until_an_operator_resumes_it(world: World) -> None:
    a = world.claim(world.award()).payout
    b = world.claim(world.award(), openid="o-bob").payout
    assert a and b
    world.provider.submit_script.append("not_enough")
    assert world.engine.advance(a.id) == State.PENDING
    assert rail_paused(world.redis, world.settings.merchant) == "NOT_ENOUGH"
    world.clock.advance(120)
    world.engine.sweep()
    assert len(world.provider.submits) == 1  # nothing more went out
    assert world.engine.resume_rail() == 2
    world.engine.sweep()
    assert {world.payout_by_id(x.id).state for x in (a, b)} == {State.AWAITING_USER}
    assert world.provider.submits.count(world.payout_by_id(a.id).bill_no) == 2  # the same bill again


def test_frequency_limited_waits_and_sends_the_same_bill(world: World) -> None:
    a = world.claim(world.award()).payout
    assert a
    world.provider.submit_script.append("frequency_limited")
    assert world.engine.advance(a.id) == State.PENDING
    assert world.engine.advance(a.id) == State.PENDING  # retry_after not over
    world.clock.advance(1)
    assert world.engine.advance(a.id) == State.AWAITING_USER
    assert len(set(world.provider.submits)) == 1


def test_cancel_before_any_submit_and_while_awaiting_the_consumer(world: World) -> None:
    a = world.claim(world.award()).payout
    assert a
    assert world.engine.cancel_payout(a.id, "ops@acme") == State.CANCELLED
    assert world.provider.submits == []
    p = world.paid_award(openid="o-bob")
    assert world.engine.cancel_payout(p.id, "ops@acme") == State.CANCELLED
    assert world.provider.bills[p.bill_no].state == State.CANCELLED
    with pytest.raises(PayoutConflict):
        world.engine.cancel_payout(p.id, "ops@acme")


def test_due_scan_sees_only_due_payouts(world: World) -> None:
    from payouts.engine import due_payouts

    p = world.paid_award()
    with transaction(world.sessions) as s:
        assert due_payouts(s, world.clock()) == []
        assert due_payouts(s, world.clock() + timedelta(seconds=world.settings.callback_grace_s)) == [p.id]


def test_a_burst_of_claims_goes_out_at_the_merchants_rate_without_a_frequency_limited_storm(world: World) -> None:
    engine = world.restart(user_daily_count=0, user_daily_fen=0)  # the defaults: 95/s, burst 5
    world.provider.per_second = 100  # 商家转账's limit, counted over any second
    ids = []
    for i in range(1000):  # ten seconds of the provider's limit
        result = world.claim(world.award(), openid=f"o-{i}")
        assert result.payout is not None
        ids.append(result.payout.id)
    start = world.clock()
    while len(world.provider.bills) < 1000:
        report = engine.sweep()
        world.clock.advance(engine.refill_s if report.token_limited else 0.5)  # as the worker waits
        assert world.clock() - start < timedelta(seconds=30), len(world.provider.bills)
    elapsed = (max(b.created_at for b in world.provider.bills.values()) - start).total_seconds()
    assert world.provider.frequency_limited == 0
    assert 1000 / elapsed >= 0.9 * 100, elapsed  # at least 90 % of the provider's rate, on the injected clock
    assert len(world.provider.submits) == 1000


def test_two_workers_advancing_the_same_payout_send_one_bill(world: World) -> None:
    import threading

    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    engines = [world.engine, world.restart()]  # two workers on the same database and Redis
    threads = [threading.Thread(target=engines[i % 2].advance, args=(payout_id,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engines[0].close()
    assert len(world.provider.submits) == 1 and world.payout(award_id).state == State.AWAITING_USER


def test_a_cancel_asked_without_the_provider_is_carried_out_by_the_worker(world: World) -> None:
    from payouts.engine import cancel_payout

    p = world.paid_award()
    with transaction(world.sessions) as s:  # as the console does, inside its audit transaction
        assert cancel_payout(s, p.id, "ops@acme", now=world.clock()) == State.AWAITING_USER
    assert world.payout(p.award_id).reason == "cancel_requested"
    world.engine.sweep()
    assert world.payout(p.award_id).state == State.CANCELLED
    assert world.provider.bills[p.bill_no].state == State.CANCELLED


def test_a_cancel_of_a_bill_the_provider_does_not_show_yet_waits_for_a_second_no(world: World) -> None:
    from payouts.engine import cancel_payout

    award_id = world.award()
    payout_id = world.claim(award_id).payout.id  # type: ignore[union-attr]
    world.provider.submit_script.append("lost_request")
    assert world.engine.advance(payout_id) == State.UNKNOWN
    with transaction(world.sessions) as s:
        cancel_payout(s, payout_id, "ops@acme", now=world.clock())
    world.engine.sweep()  # the provider has no such bill: maybe still on its way, so not cancelled yet
    assert (world.payout(award_id).state, world.payout(award_id).reason) == (State.PENDING, "cancel_requested")
    world.clock.advance(5)
    world.engine.sweep()  # asked again after the submit would have landed: still none
    assert world.payout(award_id).state == State.CANCELLED
    assert world.provider.submits == [world.payout(award_id).bill_no]  # never sent again


def test_the_engine_reports_transitions_submit_latency_and_provider_errors_to_its_hooks(world: World) -> None:
    from payouts.engine import PayoutHooks

    seen: list[tuple[str, ...]] = []
    world.engine.close()
    world.engine = PayoutEngine(world.sessions, world.redis, world.provider, world.settings, world.clock,
                                PayoutHooks(transition=lambda p, s: seen.append(("state", p, s)),
                                            claim_to_submit=lambda s: seen.append(("latency", str(s))),
                                            provider_error=lambda p, r: seen.append(("error", p, r))))
    payout_id = world.claim(world.award()).payout.id  # type: ignore[union-attr]
    world.clock.advance(1.5)
    world.provider.submit_script.append("frequency_limited")
    world.engine.advance(payout_id)
    world.clock.advance(1)
    world.engine.advance(payout_id)
    assert seen == [("latency", "1.5"), ("state", "wechat_transfer", "submitted"),
                    ("error", "wechat_transfer", "FREQUENCY_LIMITED"), ("state", "wechat_transfer", "pending"),
                    ("state", "wechat_transfer", "submitted"), ("state", "wechat_transfer", "awaiting_user")]
