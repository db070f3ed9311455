"""领取 and what follows it: one openid per award, void awards refused, awards the drain has not stored
yet settled by the sweep, the points ledger, and reconciliation against the provider's bill."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator

import pytest
import redis
from sqlalchemy import func, select

from codegen.db import make_engine, make_sessionmaker, transaction
from payouts.china_time import china_date
from payouts.claims import payout_for_award
from payouts.errors import ClaimRefused
from payouts.models import AwardClaim, Payout, PointsEntry, Reconciliation
from payouts.points import credit_points, points_balance, points_history
from payouts.providers.base import State
from payouts.reconcile import reconcile_day
from rules.models import Award
from tests.support.payout_world import World


@pytest.fixture
def world(database_url: str, redis_client: redis.Redis) -> Iterator[World]:
    engine = make_engine(database_url)
    w = World(make_sessionmaker(engine), redis_client)
    yield w
    w.engine.close()
    engine.dispose()


def count(w: World, model: type) -> int:
    with w.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_one_payout_per_award_and_only_the_first_openid_may_claim(world: World) -> None:
    award_id = world.award(amount_fen=188)
    first = world.claim(award_id)
    assert first.created and not first.waiting and first.payout is not None
    assert (first.payout.state, first.payout.amount_fen, first.payout.attempt) == (State.PENDING, 188, 1)
    again = world.claim(award_id)  # a reload, a double tap: the same answer
    assert not again.created and again.payout == first.payout
    with pytest.raises(ClaimRefused, match="已被领取"):
        world.claim(award_id, openid="o-mallory")
    assert count(world, Payout) == 1 and count(world, AwardClaim) == 1
    with world.sessions() as s:
        assert payout_for_award(s, award_id) == first.payout
        assert payout_for_award(s, "1-nothing") is None


def test_the_ledgers_amount_is_paid_not_the_receipts(world: World) -> None:
    award_id = world.award(amount_fen=100)
    result = world.claim(award_id, amount_fen=999_999)
    assert result.payout is not None and result.payout.amount_fen == 100


def test_a_void_award_is_never_claimed_nor_paid(world: World) -> None:
    award_id = world.award(status=Award.VOID)
    with pytest.raises(ClaimRefused, match="void"):
        world.claim(award_id)
    world.engine.sweep()
    assert count(world, Payout) == 0 and count(world, AwardClaim) == 0


def test_a_receipt_that_does_not_match_the_award_is_refused(world: World) -> None:
    award_id = world.award()
    with pytest.raises(ClaimRefused):
        world.claim(award_id, receipt_code="C" + "9" * 27)
    with pytest.raises(ClaimRefused):
        world.claim("999-1-1")  # another campaign's award id


def test_a_claim_ahead_of_the_drain_is_settled_when_the_award_lands(world: World) -> None:
    award_id = world.award(store=False)
    waiting = world.claim(award_id)
    assert waiting.waiting and waiting.payout is None
    world.engine.sweep()
    assert count(world, Payout) == 0  # nothing to pay until SQL holds a valid award
    world.store(award_id, amount_fen=150)
    world.clock.advance(1)  # claims are looked at once a second
    report = world.engine.sweep()
    assert report.settled_claims == 1
    p = world.payout(award_id)
    assert p.amount_fen == 150 and p.state == State.AWAITING_USER
    world.clock.advance(1)
    assert world.engine.sweep().settled_claims == 0


def test_a_claim_ahead_of_an_award_that_lands_void_is_never_paid(world: World) -> None:
    award_id = world.award(store=False)
    world.claim(award_id)
    world.store(award_id, status=Award.VOID)
    world.engine.sweep()
    assert count(world, Payout) == 0


def test_racing_claims_by_two_openids_bind_the_award_once(world: World) -> None:
    award_id = world.award()
    outcomes: list[str] = []

    def claim(openid: str) -> None:
        try:
            world.claim(award_id, openid=openid)
            outcomes.append("ok")
        except ClaimRefused:
            outcomes.append("refused")
        except Exception as exc:  # SQLite may answer "database is locked" to the loser: refused too
            outcomes.append(type(exc).__name__)

    threads = [threading.Thread(target=claim, args=(f"o-{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert outcomes.count("ok") == 1, outcomes
    assert count(world, Payout) == 1 and count(world, AwardClaim) == 1


def test_points_go_to_the_members_ledger_once_per_award(world: World) -> None:
    a, b = world.award(kind="points", amount_fen=0, points=50), world.award(kind="points", amount_fen=0, points=30)
    assert world.claim(a, kind="points").points_balance == 50
    assert world.claim(a, kind="points").points_balance == 50  # claimed again: no second credit
    assert world.claim(b, kind="points").points_balance == 80
    with transaction(world.sessions) as s:
        credit_points(s, brand_id=world.brand_id, member="o-alice", delta=-20, award_id=None, reason="redeemed")
    with world.sessions() as s:
        assert points_balance(s, world.brand_id, "o-alice") == 60
        assert points_balance(s, world.brand_id, "o-bob") == 0
        history = points_history(s, world.brand_id, "o-alice")
        assert [(h.delta, h.balance) for h in history] == [(-20, 60), (30, 80), (50, 50)]
        assert [h.delta for h in points_history(s, world.brand_id, "o-alice", limit=1)] == [-20]
    assert count(world, PointsEntry) == 3 and count(world, Payout) == 0


def test_a_coupon_claim_shows_its_code_and_pays_nothing(world: World) -> None:
    award_id = world.award(kind="coupon", amount_fen=0, coupon="ACME-2027-XYZ")
    result = world.claim(award_id, kind="coupon")
    assert result.coupon == "ACME-2027-XYZ" and result.payout is None
    assert count(world, Payout) == 0


def test_reconciliation_catches_planted_differences(world: World) -> None:
    paid = [world.paid_award(openid=f"o-{i}", amount_fen=100 + i) for i in range(4)]
    for p in paid:
        world.provider.confirm(p.bill_no)
    world.clock.advance(world.settings.callback_grace_s)
    world.engine.sweep()  # the queries make up for callbacks that never came
    assert {world.payout(p.award_id).state for p in paid} == {State.SUCCEEDED}
    day = china_date(world.clock())
    with transaction(world.sessions) as s:
        assert reconcile_day(s, world.provider, day).clean
    # Plant: the provider paid a different amount, a bill the ledger never made, one it has no record of.
    changed = world.provider.bills[paid[0].bill_no]
    changed.order = dataclasses.replace(changed.order, amount_fen=5000)
    ghost = world.provider.bills[paid[1].bill_no]
    world.provider.bills["YGHOSTBILLA1"] = ghost.__class__(ghost.order, State.SUCCEEDED, "T999", ghost.created_at)
    del world.provider.bills[paid[2].bill_no]
    with transaction(world.sessions) as s:
        report = reconcile_day(s, world.provider, day)
    assert [d["bill_no"] for d in report.mismatched] == [paid[0].bill_no]
    assert [d["bill_no"] for d in report.missing] == ["YGHOSTBILLA1"]
    assert [d["bill_no"] for d in report.extra] == [paid[2].bill_no]
    assert report.matched == 1 + 1  # paid[1] and paid[3]
    with world.sessions() as s:
        row = s.get(Reconciliation, report.id)
        assert row is not None and (row.matched, row.missing, row.extra, row.mismatched) == (2, 1, 1, 1)
        assert len(row.details) == 3



def test_a_claim_from_the_receipt_itself_and_the_refusal_reasons(world: World) -> None:
    from payouts.claims import claim_award
    from rules.receipts import AwardReceipt

    award_id = world.award(amount_fen=120)
    serial = int(award_id.rsplit("-", 1)[1])
    receipt = AwardReceipt(award_id=award_id, campaign_id=world.campaign_id, code=f"C{serial:027d}", batch_id=1,
                           role="inner", serial=serial, prize_index=0, kind="cash", name="红包", amount_fen=120,
                           points=0, coupon="", rules_version=1, member="", awarded_at=0, day="20270310",
                           one_per_code=True)
    with transaction(world.sessions) as s:
        result = claim_award(s, receipt=receipt, openid="o-alice", brand_id=0, provider=world.provider)
    assert result.payout_id is not None and result.created
    with pytest.raises(ClaimRefused) as refused, transaction(world.sessions) as s:
        claim_award(s, receipt=receipt, openid="o-bob", provider=world.provider)
    assert refused.value.reason == "claimed"
    void = world.award(status=Award.VOID)
    with pytest.raises(ClaimRefused) as refused:
        world.claim(void)
    assert refused.value.reason == "void"
