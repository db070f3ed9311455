"""Voucher 核销 (channel/vouchers.py) on the real SQL backends: redeemed once, ever (two stores at the same
moment: one wins, the other is told where and when), the refusals and who may redeem, the ledger line and
the audit entry written with the redemption."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from accounts.models import AuditEntry
from channel.errors import ChannelForbidden, ChannelNotFound, RedeemRefused
from channel.models import Store, StoreLedgerLine, VoucherRedemption
from channel.vouchers import (
    NOT_FOUND,
    PENDING,
    REDEEMABLE,
    REDEEMED,
    list_redemptions,
    read_voucher,
    redeem,
    voucher_state,
)
from codegen.db import transaction
from rules.models import Award
from tests.support.channel_world import ChannelWorld, add_seat_user, add_store, channel_world, set_policy
from tests.support.voucher_world import AWARDED, brand_staff, key, scope_of, token, voucher_award, voucher_campaign
from tests.web.conftest import make_app

NOW = AWARDED + timedelta(minutes=5)


@dataclass
class Vouchers:
    world: ChannelWorld
    campaign: dict[str, int]

    @property
    def app(self) -> Flask:
        return self.world.app

    def sessions(self) -> Any:
        return self.app.extensions["yima.db"].sessions

    def award(self, brand: str = "a", **kw: Any) -> str:
        return voucher_award(self.app, self.campaign[brand], batch_id=self.world.batch[brand], **kw)

    def redeem(self, email: str, award_id: str, now: Any = NOW) -> Any:
        return redeem(self.sessions(), scope_of(self.app, email), token(self.app, award_id), now, key=key(self.app))


def make_vouchers(app: Flask) -> Vouchers:
    world = channel_world(app)
    return Vouchers(world, {b: voucher_campaign(app, b, world.batch[b]) for b in ("a", "b")})


@pytest.fixture
def v(tmp_path: Path, redis_client: Any) -> Vouchers:
    return make_vouchers(make_app(tmp_path))


@pytest.fixture
def v_both(tmp_path: Path, redis_client: Any, database_url: str) -> Vouchers:
    """The same world on SQLite and on PostgreSQL."""
    return make_vouchers(make_app(tmp_path, database_url=database_url))


def rows(v: Vouchers, model: Any) -> list[Any]:
    with v.sessions()() as s:
        return list(s.scalars(select(model)))


def test_a_clerk_redeems_once_with_its_ledger_line_and_audit_entry(v: Vouchers) -> None:
    award_id = v.award()
    done = v.redeem("clerk@a.test", award_id)
    assert (done.store_name, done.face_fen, done.rebate_fen, done.total_fen) == ("门店 a", 500, 50, 550)
    [line] = rows(v, StoreLedgerLine)
    assert (line.kind, line.source, line.store_id, line.face_fen, line.rebate_fen, line.statement_id) == (
        "redemption", award_id, v.world.store["a"], 500, 50, None)
    [redemption] = rows(v, VoucherRedemption)
    assert redemption.store_id == v.world.store["a"] and redemption.code.startswith("C")
    [entry] = [e for e in rows(v, AuditEntry) if e.action == "voucher.redeem"]
    assert entry.target == f"award:{award_id}" and entry.actor.endswith("clerk@a.test")
    assert entry.after["ledger_line"] == line.id

    with pytest.raises(RedeemRefused) as again:
        v.redeem("clerk@a.test", award_id, NOW + timedelta(minutes=1))
    assert again.value.reason == "redeemed"
    assert again.value.details() == {"reason": "redeemed", "store": "门店 a", "at": NOW.isoformat()}
    assert len(rows(v, StoreLedgerLine)) == 1 and len(rows(v, VoucherRedemption)) == 1


def test_voucher_state_follows_the_voucher(v: Vouchers) -> None:
    award_id = v.award()
    with v.sessions()() as s:
        before = voucher_state(s, award_id, NOW)
    assert (before.state, before.prize_name, before.face_fen, before.rebate_fen) == (REDEEMABLE, "再来一瓶", 500, 50)
    v.redeem("clerk@a.test", award_id)
    set_policy(v.app, "a", face_fen=800, rebate_fen=0)  # a later policy does not rewrite what was credited
    with v.sessions()() as s:
        after = voucher_state(s, award_id, NOW)
        seen = read_voucher(s, scope_of(v.app, "distributor@a.test"), key(v.app), token(v.app, award_id), NOW)
    assert (after.state, after.store_name, after.redeemed_at, after.total_fen) == (REDEEMED, "门店 a", NOW, 550)
    assert seen == after


def test_two_stores_at_the_same_moment_one_wins_the_other_is_told(v_both: Vouchers) -> None:
    v = v_both
    second = add_store(v.app, "a", v.world.sub_distributor["a"], "门店 a2")
    add_seat_user(v.app, "clerk2@a.test", "a", "clerk", store_id=second)
    scopes = {"clerk@a.test": scope_of(v.app, "clerk@a.test"), "clerk2@a.test": scope_of(v.app, "clerk2@a.test")}
    for _ in range(4):  # a few vouchers, so the race is run, not just one lucky ordering
        award_id = v.award()
        start = threading.Barrier(2)
        outcomes: dict[str, Any] = {}

        def attempt(email: str, award_id: str = award_id, start: threading.Barrier = start,
                    outcomes: dict[str, Any] = outcomes) -> None:
            start.wait()
            try:
                outcomes[email] = redeem(v.sessions(), scopes[email], token(v.app, award_id), NOW, key=key(v.app))
            except RedeemRefused as exc:
                outcomes[email] = exc

        threads = [threading.Thread(target=attempt, args=(email,)) for email in scopes]
        for t in threads:
            t.start()
        for t in threads:
            t.join(30)
        won = [o for o in outcomes.values() if not isinstance(o, RedeemRefused)]
        lost = [o for o in outcomes.values() if isinstance(o, RedeemRefused)]
        assert len(won) == 1 and len(lost) == 1, outcomes
        assert lost[0].reason == "redeemed" and lost[0].facts["store"] == won[0].store_name
    assert len(rows(v, VoucherRedemption)) == 4 and len(rows(v, StoreLedgerLine)) == 4
    assert len([e for e in rows(v, AuditEntry) if e.action == "voucher.redeem"]) == 4


@pytest.mark.parametrize("status, kind, reason", [(Award.VOID, "voucher", "void"),
                                                  (Award.VALID, "cash", "not_voucher")])
def test_only_a_valid_voucher_award_is_redeemed(v: Vouchers, status: str, kind: str, reason: str) -> None:
    award_id = v.award(status=status, kind=kind)
    with pytest.raises(RedeemRefused) as refused:
        v.redeem("clerk@a.test", award_id)
    assert refused.value.reason == reason
    assert rows(v, VoucherRedemption) == [] and rows(v, StoreLedgerLine) == []


def test_an_award_not_in_sql_yet_is_pending_then_redeemable(v: Vouchers) -> None:
    entry_ms = int(NOW.timestamp() * 1000)
    award_id = f"{v.campaign['a']}-{entry_ms}-7"  # won a moment ago: the drain has not stored it yet
    with pytest.raises(RedeemRefused) as refused:
        v.redeem("clerk@a.test", award_id, NOW + timedelta(seconds=1))
    assert refused.value.reason == PENDING and "try again" in str(refused.value)
    with v.sessions()() as s:
        assert voucher_state(s, award_id, NOW + timedelta(days=1)).state == NOT_FOUND  # never landed
    with transaction(v.sessions()) as s:  # the drain catches up
        s.add(Award(id=award_id, campaign_id=v.campaign["a"], claim="X" * 28, code="X" * 28,
                    batch_id=v.world.batch["a"], role="inner", serial=7, prize_index=0, kind="voucher",
                    awarded_at=NOW, status=Award.VALID))
    assert v.redeem("clerk@a.test", award_id, NOW + timedelta(seconds=2)).total_fen == 550


def test_a_token_not_issued_here_or_of_another_brand_reads_as_no_voucher(v: Vouchers) -> None:
    award_id = v.award()
    scope = scope_of(v.app, "clerk@a.test")
    good = token(v.app, award_id)
    for bad in (award_id, good[:-1] + ("A" if good[-1] != "A" else "B"), f"{award_id}.", "x" * 500, "../../etc"):
        with pytest.raises(ChannelNotFound):
            redeem(v.sessions(), scope, bad, NOW, key=key(v.app))
    other = v.award("b")
    with pytest.raises(ChannelNotFound):
        v.redeem("clerk@a.test", other)
    with v.sessions()() as s, pytest.raises(ChannelNotFound):
        read_voucher(s, scope_of(v.app, "distributor@a.test"), key(v.app), token(v.app, other))
    assert v.redeem("clerk@a.test", award_id).award_id == award_id


def test_only_a_stores_clerk_redeems(v: Vouchers) -> None:
    award_id = v.award()
    operator = brand_staff(v.app, "a")
    for email in ("waiter@a.test", "distributor@a.test", "warehouse@a.test", "inspector@a.test"):
        with pytest.raises(ChannelForbidden):
            v.redeem(email, award_id)
    with pytest.raises(ChannelForbidden):
        redeem(v.sessions(), scope_of(v.app, operator, "a"), token(v.app, award_id), NOW, key=key(v.app))
    assert rows(v, VoucherRedemption) == []


def test_a_store_that_has_not_registered_is_told_how(v: Vouchers) -> None:
    fresh = add_store(v.app, "a", v.world.sub_distributor["a"], "新门店", registered=False)
    add_seat_user(v.app, "new-clerk@a.test", "a", "clerk", store_id=fresh)
    award_id = v.award()
    with pytest.raises(RedeemRefused) as refused:
        v.redeem("new-clerk@a.test", award_id)
    assert refused.value.reason == "unregistered" and "开箱" in str(refused.value)
    set_policy(v.app, "a", require_registration=False)  # this brand lets any store redeem
    assert v.redeem("new-clerk@a.test", award_id).store_name == "新门店"


def test_each_seat_lists_the_redemptions_of_its_own_stores(v: Vouchers) -> None:
    second = add_store(v.app, "a", v.world.distributor["a"], "门店 a2")  # supplied by the province distributor
    add_seat_user(v.app, "clerk2@a.test", "a", "clerk", store_id=second)
    mine, theirs = v.award(), v.award()
    v.redeem("clerk@a.test", mine)
    v.redeem("clerk2@a.test", theirs, NOW + timedelta(seconds=1))

    def listed(email: str, brand: str | None = None) -> list[str]:
        with v.sessions()() as s:
            return [r.award_id for r in list_redemptions(s, scope_of(v.app, email, brand))]

    assert listed("clerk@a.test") == [mine]
    assert listed("clerk2@a.test") == [theirs]
    assert listed("distributor@a.test") == [theirs, mine]  # the province distributor and its sub-distributor
    assert listed(brand_staff(v.app, "a", "analyst"), "a") == [theirs, mine]
    assert listed("distributor@b.test") == [] and listed(brand_staff(v.app, "b"), "b") == []
    with pytest.raises(ChannelForbidden):
        listed("waiter@a.test")
    with v.sessions()() as s:
        first_page = list_redemptions(s, scope_of(v.app, "distributor@a.test"), limit=1)
        rest = list_redemptions(s, scope_of(v.app, "distributor@a.test"), limit=1,
                                before=(first_page[0].redeemed_at, first_page[0].award_id))
    assert [r.award_id for r in first_page + rest] == [theirs, mine]


def test_a_disabled_store_redeems_nothing(v: Vouchers) -> None:
    scope = scope_of(v.app, "clerk@a.test")
    with transaction(v.sessions()) as s:
        store = s.get(Store, v.world.store["a"])
        assert store is not None
        store.disabled = True
    with pytest.raises(ChannelNotFound):
        redeem(v.sessions(), scope, token(v.app, v.award()), NOW, key=key(v.app))
