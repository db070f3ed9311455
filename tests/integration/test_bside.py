"""B-side scans on real Redis and SQL: 开箱 (once per case, registration, only a case shipped to the store),
开瓶 (caps per waiter per day, one waiter per cap, the consumer's own scan untouched), BC 动销返利 (drawn from
drained consumer scans, once under redelivery), the store ledger and the waiters' monthly ladder."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from accounts.models import AuditEntry
from channel.bside import BsideRefused, open_bottle, open_case
from channel.bside_ledger import credit_bside_awards
from channel.errors import ChannelForbidden, InvalidChannel
from channel.ladder import Month, ladder_bonuses, set_waiter_ladder, waiter_month
from channel.models import BsideScan, ChannelPolicy, Shipment, Store, StoreLedgerLine
from channel.scope import brand_scope
from channel.sell_through import SellThrough
from codegen import batches
from codegen.codeformat import CodeError
from codegen.db import transaction
from payouts.points import points_balance
from rules.awards import AwardSink
from rules.drain import DatabaseUnavailable, Drainer, ScanEventSink
from rules.draw import ALREADY_WON, CAPPED, WON
from rules.models import Award
from rules.scan import FIRST, ScanRequest
from tests.support.bside_world import (
    b_campaign,
    bside_rules,
    consumer_campaign,
    publish,
    seat_of,
    sessions,
    ship_cases,
)
from tests.support.channel_world import ChannelWorld, add_seat_user, add_store, case_code, channel_world, sign
from tests.web.conftest import make_app


@pytest.fixture
def world(tmp_path: Path, redis_client: Any) -> ChannelWorld:
    return channel_world(make_app(tmp_path))


def to_store(world: ChannelWorld, first: int, last: int, store: int | None = None) -> int:
    return ship_cases(world.app, "a", world.batch["a"], first, last, to_store=store or world.store["a"],
                      from_distributor=world.sub_distributor["a"])


def drain_awards(world: ChannelWorld) -> None:
    Drainer(world.app.extensions["yima.redis"], sessions(world.app), "t", sink=AwardSink()).drain_once(block_ms=0)


def valid_awards(world: ChannelWorld, campaign_id: int) -> list[Award]:
    with sessions(world.app)() as s:
        return list(s.scalars(select(Award).where(Award.campaign_id == campaign_id, Award.status == Award.VALID)))


def test_open_case_draws_once_per_case_and_registers_the_store(world: ChannelWorld) -> None:
    app = world.app
    with transaction(sessions(app)) as s:
        s.get(Store, world.store["a"]).registered_at = None  # type: ignore[union-attr]
    (campaign,) = publish(app, b_campaign("store_open_case"))
    to_store(world, 0, 3)
    clerk, waiter = seat_of(app, "clerk@a.test"), seat_of(app, "waiter@a.test")
    first_case = case_code(app, world.batch["a"], 1)
    with transaction(sessions(app)) as s:
        opened = open_case(s, clerk, first_case, bside_rules(app))
    assert opened.first and opened.registered and opened.won_fen == 500
    assert [d.outcome for d in opened.draws] == [WON]
    with transaction(sessions(app)) as s:  # the store's waiter scans the same case: already opened
        again = open_case(s, waiter, first_case, bside_rules(app))
        second = open_case(s, clerk, case_code(app, world.batch["a"], 2), bside_rules(app))
    assert not again.first and not again.registered
    assert [d.outcome for d in again.draws] == [ALREADY_WON]
    assert again.draws[0].award_id == opened.draws[0].award_id
    assert second.first and not second.registered and second.won_fen == 500
    drain_awards(world)
    assert sorted(a.member for a in valid_awards(world, campaign)) == [f"store:{world.store['a']}"] * 2
    with sessions(app)() as s:
        store = s.get(Store, world.store["a"])
        assert store is not None and store.registered_at is not None and store.registered_case == first_case
        assert s.scalar(select(func.count()).select_from(BsideScan)) == 2
        audit = s.scalars(select(AuditEntry).where(AuditEntry.action == "store.register")).one()
        assert audit.actor == "clerk@a.test" and audit.target == f"store:{world.store['a']}"


def test_only_a_case_shipped_to_the_store_opens(world: ChannelWorld) -> None:
    app = world.app
    publish(app, b_campaign("store_open_case"))
    other_store = add_store(app, "a", world.sub_distributor["a"], "另一家门店")
    to_store(world, 0, 0, other_store)  # case 0: another store's
    ship_cases(app, "a", world.batch["a"], 1, 1, to_distributor=world.sub_distributor["a"],
               from_distributor=world.distributor["a"])  # case 1: still at the distributor
    ship_cases(app, "a", world.batch["a"], 2, 2, to_store=world.store["a"], from_distributor=world.sub_distributor["a"],
               state=Shipment.UNDONE)  # case 2: shipped here, then undone
    clerk = seat_of(app, "clerk@a.test")
    for case in (0, 1, 2, 5):  # case 5: never shipped
        with transaction(sessions(app)) as s, pytest.raises(BsideRefused) as refused:
            open_case(s, clerk, case_code(app, world.batch["a"], case), bside_rules(app))
        assert refused.value.reason == BsideRefused.NOT_SHIPPED_HERE
    with sessions(app)() as s:
        assert s.scalar(select(func.count()).select_from(BsideScan)) == 0
        assert s.get(Store, world.store["a"]).registered_case == ""  # type: ignore[union-attr]


def test_wrong_codes_and_seats_are_refused(world: ChannelWorld) -> None:
    app = world.app
    to_store(world, 0, 9)
    clerk, waiter = seat_of(app, "clerk@a.test"), seat_of(app, "waiter@a.test")
    rules = bside_rules(app)
    inner = sign(app, world.batch["a"], 5)
    with transaction(sessions(app)) as s:
        with pytest.raises(InvalidChannel):
            open_case(s, clerk, inner, rules)  # an item's code is not a case code
        with pytest.raises(InvalidChannel):
            open_bottle(s, waiter, case_code(app, world.batch["a"], 0), rules)
        with pytest.raises(CodeError):
            open_bottle(s, waiter, sign(app, world.batch["b"], 5), rules)  # brand b's cap: not genuine here
        with pytest.raises(CodeError):
            open_bottle(s, waiter, "NOT-A-CODE", rules)
        with pytest.raises(ChannelForbidden):
            open_bottle(s, clerk, inner, rules)  # only a waiter opens bottles
        with pytest.raises(ChannelForbidden):
            open_case(s, brand_scope(clerk.brand_id, "op", role="operator"), case_code(app, world.batch["a"], 0), rules)
    with transaction(sessions(app)) as s:
        batches.void(s, app.extensions["yima.redis"], world.batch["a"], "48-71", "damaged roll")
    with transaction(sessions(app)) as s:
        with pytest.raises(BsideRefused) as refused:
            open_bottle(s, waiter, sign(app, world.batch["a"], 50), rules)
        assert refused.value.reason == BsideRefused.NOT_ON_SALE
        with pytest.raises(BsideRefused):
            open_case(s, clerk, case_code(app, world.batch["a"], 2), rules)  # items 48-71: void


def test_open_bottle_caps_per_waiter_per_day(world: ChannelWorld) -> None:
    app = world.app
    (campaign,) = publish(app, b_campaign("waiter_open_bottle", caps={"per_member_daily": 2}))
    add_seat_user(app, "waiter2@a.test", "a", "waiter", store_id=world.store["a"])
    waiter, other = seat_of(app, "waiter@a.test"), seat_of(app, "waiter2@a.test")
    day = datetime(2026, 12, 10, 12, tzinfo=UTC).timestamp()
    outcomes = []
    for serial in (10, 11, 12):
        with transaction(sessions(app)) as s:
            outcomes += [d.outcome for d in open_bottle(s, waiter, sign(app, world.batch["a"], serial),
                                                        bside_rules(app), now=day).draws]
    assert outcomes == [WON, WON, CAPPED]
    with transaction(sessions(app)) as s:  # another waiter has their own cap; the next day, the first again
        assert open_bottle(s, other, sign(app, world.batch["a"], 13), bside_rules(app), now=day).won_fen == 500
        assert open_bottle(s, waiter, sign(app, world.batch["a"], 14), bside_rules(app),
                           now=day + 86400).won_fen == 500
    with transaction(sessions(app)) as s:  # a cap opens for one waiter only
        with pytest.raises(BsideRefused) as refused:
            open_bottle(s, other, sign(app, world.batch["a"], 10), bside_rules(app), now=day)
        assert refused.value.reason == BsideRefused.OPENED_ELSEWHERE
    drain_awards(world)
    members = sorted(a.member for a in valid_awards(world, campaign))
    assert members == sorted([f"waiter:{waiter.user_id}"] * 3 + [f"waiter:{other.user_id}"])


def test_the_consumers_first_scan_is_untouched_by_a_waiter(world: ChannelWorld) -> None:
    app = world.app
    bottle, consumer = publish(app, b_campaign("waiter_open_bottle"), consumer_campaign())
    scanner = app.extensions["yima.scanner"]
    waiter = seat_of(app, "waiter@a.test")
    opened_first, scanned_first = sign(app, world.batch["a"], 20), sign(app, world.batch["a"], 21)
    with transaction(sessions(app)) as s:  # the waiter opens the cap before the consumer scans it …
        assert open_bottle(s, waiter, opened_first, bside_rules(app)).won_fen == 500
    scan = scanner.scan(ScanRequest(code=opened_first, ip="203.0.113.9", device_id="phone-1"))
    assert scan.status == FIRST and [(d.campaign_id, d.outcome) for d in scan.draws] == [(consumer, WON)]
    # … and after: the consumer's first scan does not stop the waiter's reward either
    scan = scanner.scan(ScanRequest(code=scanned_first, ip="203.0.113.9", device_id="phone-1"))
    assert scan.status == FIRST and [d.outcome for d in scan.draws] == [WON]
    with transaction(sessions(app)) as s:
        assert [(d.campaign_id, d.outcome) for d in open_bottle(s, waiter, scanned_first, bside_rules(app)).draws] \
            == [(bottle, WON)]
    drain_awards(world)
    assert len(valid_awards(world, consumer)) == 2 and len(valid_awards(world, bottle)) == 2


class ObservingSink(ScanEventSink):
    """The drain's scan-event sink calling the 动销返利 observer with the rows it stores, in its transaction (the
    shape of helper B's observer hook, rules/drain.py ScanObserver, which is not on this branch yet; this
    harness keeps the draws it made); `fail_once`: the first transaction fails after the observer ran, so its
    entries are delivered again."""

    def __init__(self, observer: SellThrough, fail_once: bool = False) -> None:
        super().__init__()
        self.observer, self.fail_once, self.draws = observer, fail_once, []  # type: ignore[var-annotated]

    def store(self, session: Any, rows: list[dict[str, Any]]) -> int:
        stored = super().store(session, rows)
        self.draws += self.observer.draw(session, rows)
        if self.fail_once:
            self.fail_once = False
            raise OperationalError("COMMIT", {}, RuntimeError("the database went away"))
        return stored


def test_sell_through_draws_once_for_the_store_under_redelivery(world: ChannelWorld) -> None:
    app = world.app
    (rebate,) = publish(app, b_campaign("store_sell_through", caps={"per_member_daily": 100},
                                        prizes=[{"kind": "cash", "min_fen": 30, "weight": 1.0}]))
    to_store(world, 0, 0)  # case 0 (items 0-23) at the store; case 1 still at the distributor
    ship_cases(app, "a", world.batch["a"], 1, 1, to_distributor=world.sub_distributor["a"],
               from_distributor=world.distributor["a"])
    scanner, redis = app.extensions["yima.scanner"], app.extensions["yima.redis"]
    for serial in (3, 3, 4, 30):  # a first scan, its repeat, another item of the case, an item not at a store
        scanner.scan(ScanRequest(code=sign(app, world.batch["a"], serial), ip="203.0.113.9", device_id="phone-1"))
    sink = ObservingSink(SellThrough(redis), fail_once=True)
    drainer = Drainer(redis, sessions(app), "t", sink=sink)
    with pytest.raises(DatabaseUnavailable):
        drainer.drain_once(block_ms=0)
    drainer.drain_once(block_ms=0)  # the same entries, delivered again
    assert [d.outcome for d in sink.draws] == [WON, WON, WON, WON]  # the second pass: the replay guard's answer
    redis.delete(*redis.keys("{c:*}:req:*"))  # past the replay guard, the code's memo answers
    with sessions(app)() as s:
        assert [d.outcome for d in SellThrough(redis).draw(s, _rows(app))] == [ALREADY_WON, ALREADY_WON]
    drain_awards(world)
    with sessions(app)() as s:
        awards = list(s.scalars(select(Award).where(Award.campaign_id == rebate)))  # valid or void: two, ever
    assert sorted((a.serial, a.member, a.amount_fen, a.status) for a in awards) == [
        (3, f"store:{world.store['a']}", 30, Award.VALID), (4, f"store:{world.store['a']}", 30, Award.VALID)]
    with transaction(sessions(app)) as s:
        assert credit_bside_awards(s).lines == 2
    with transaction(sessions(app)) as s:
        assert credit_bside_awards(s).lines == 0
        kinds = s.execute(select(StoreLedgerLine.kind, StoreLedgerLine.rebate_fen, StoreLedgerLine.store_id)).all()
    assert sorted(kinds) == [("sell_through", 30, world.store["a"])] * 2


def _rows(app: Any) -> list[dict[str, Any]]:
    """The stored scan events as the drain's rows."""
    from rules.models import ScanEvent

    with sessions(app)() as s:
        return [{c: getattr(e, c) for c in ("id", "batch_id", "serial", "role", "code", "kind", "scanned_at")}
                for e in s.scalars(select(ScanEvent).order_by(ScanEvent.scanned_at))]


def test_b_side_awards_reach_the_ledgers_once(world: ChannelWorld) -> None:
    app = world.app
    case_campaign, bottle_campaign = publish(
        app, b_campaign("store_open_case"),
        b_campaign("waiter_open_bottle", prizes=[{"kind": "points", "points": 20, "weight": 0.5},
                                                 {"kind": "cash", "min_fen": 200, "weight": 0.5}]))
    to_store(world, 0, 1)
    clerk, waiter = seat_of(app, "clerk@a.test"), seat_of(app, "waiter@a.test")
    with transaction(sessions(app)) as s:
        open_case(s, clerk, case_code(app, world.batch["a"], 0), bside_rules(app))
        bottles = [open_bottle(s, waiter, sign(app, world.batch["a"], n), bside_rules(app)) for n in range(30, 40)]
    drain_awards(world)
    with transaction(sessions(app)) as s:
        first = credit_bside_awards(s)
    with transaction(sessions(app)) as s:
        assert credit_bside_awards(s) == type(first)(0, 0, 0)
        lines = s.execute(select(StoreLedgerLine.kind, StoreLedgerLine.staff_user_id, StoreLedgerLine.rebate_fen)
                          .order_by(StoreLedgerLine.kind)).all()
        balance = points_balance(s, waiter.brand_id, f"waiter:{waiter.user_id}")
    cash_wins = sum(1 for b in bottles if b.won_fen)
    points_wins = sum(1 for b in bottles if b.won_points)
    assert cash_wins + points_wins == 10 and all(b.won_fen in (0, 200) for b in bottles)
    assert first == type(first)(1 + cash_wins, points_wins, 0)
    assert sorted(lines) == sorted([("open_case", clerk.user_id, 500)]
                                   + [("open_bottle", waiter.user_id, 200)] * cash_wins)
    assert balance == 20 * points_wins
    with sessions(app)() as s:
        month = waiter_month(s, waiter)
        by_campaign = dict(s.execute(select(Award.campaign_id, func.count()).group_by(Award.campaign_id)).all())
    assert (month.bottles, month.cash_fen, month.points) == (10, 200 * cash_wins, 20 * points_wins)
    assert by_campaign == {case_campaign: 1, bottle_campaign: 10}


def test_the_monthly_ladder_pays_the_highest_tier_once(world: ChannelWorld) -> None:
    app = world.app
    add_seat_user(app, "waiter2@a.test", "a", "waiter", store_id=world.store["a"])
    waiter, other = seat_of(app, "waiter@a.test"), seat_of(app, "waiter2@a.test")
    operator = brand_scope(waiter.brand_id, "op@a.test", role="operator")
    with transaction(sessions(app)) as s:
        with pytest.raises(InvalidChannel):
            set_waiter_ladder(s, operator, [[5, 5000], [3, 15000]])  # fewer bottles paying more
        with pytest.raises(ChannelForbidden):
            set_waiter_ladder(s, waiter, [[2, 5000]])
        set_waiter_ladder(s, operator, [[5, 15000], [2, 5000], [3, 8000]])
        assert s.get(ChannelPolicy, waiter.brand_id).waiter_ladder == [[2, 5000], [3, 8000], [5, 15000]]  # type: ignore[union-attr]
    last_month = Month.of(datetime.now(UTC)).previous()
    at = (last_month.start + timedelta(days=3)).timestamp()
    with transaction(sessions(app)) as s:
        for n in range(4):
            open_bottle(s, waiter, sign(app, world.batch["a"], 100 + n), bside_rules(app), now=at)
        open_bottle(s, other, sign(app, world.batch["a"], 110), bside_rules(app), now=at)
        open_bottle(s, waiter, sign(app, world.batch["a"], 120), bside_rules(app))  # this month: not counted
    with transaction(sessions(app)) as s:
        assert ladder_bonuses(s, waiter.brand_id, last_month) == 1
        with pytest.raises(InvalidChannel):
            ladder_bonuses(s, waiter.brand_id, Month.of(datetime.now(UTC)))  # not over yet
    with transaction(sessions(app)) as s:
        assert ladder_bonuses(s, waiter.brand_id, last_month) == 0
        line = s.scalars(select(StoreLedgerLine).where(StoreLedgerLine.kind == StoreLedgerLine.LADDER)).one()
    assert (line.source, line.rebate_fen, line.staff_user_id) == (
        f"ladder:{world.store['a']}:{waiter.user_id}:{last_month.tag}", 8000, waiter.user_id)
    with sessions(app)() as s:
        now = waiter_month(s, waiter)
    assert (now.bottles, now.reached, now.next_tier, now.to_next) == (1, None, (2, 5000), 1)



def test_the_worker_step_credits_awards_and_pays_last_months_ladder(world: ChannelWorld) -> None:
    from app.worker import LADDER_KEY, credit_bside

    app, redis = world.app, world.app.extensions["yima.redis"]
    publish(app, b_campaign("waiter_open_bottle"))
    waiter = seat_of(app, "waiter@a.test")
    with transaction(sessions(app)) as s:
        set_waiter_ladder(s, brand_scope(waiter.brand_id, "op", role="operator"), [[1, 1000]])
    last_month = Month.of(datetime.now(UTC)).previous()
    with transaction(sessions(app)) as s:
        open_bottle(s, waiter, sign(app, world.batch["a"], 60), bside_rules(app),
                    now=(last_month.start + timedelta(hours=1)).timestamp())
        open_bottle(s, waiter, sign(app, world.batch["a"], 61), bside_rules(app))
    drain_awards(world)
    for _ in range(2):
        credit_bside(app.extensions["yima.db"], redis)
    with sessions(app)() as s:
        lines = sorted(s.execute(select(StoreLedgerLine.kind, StoreLedgerLine.rebate_fen)).all())
    assert lines == [("ladder", 1000), ("open_bottle", 500), ("open_bottle", 500)]
    assert redis.exists(LADDER_KEY.format(month=last_month.tag))


def test_yima_channel_ladder_and_waiter_ladder(world: ChannelWorld, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.channel_cli import channel_group

    cfg = world.app.config["YIMA"]
    monkeypatch.setenv("DATABASE_URL", cfg.database_url)
    monkeypatch.setenv("YIMA_VAR_DIR", str(cfg.var_dir))
    runner = CliRunner()

    def yima(*args: str, status: int = 0) -> str:
        result = runner.invoke(channel_group, list(args), catch_exceptions=False)
        assert result.exit_code == status, result.output
        return result.output

    assert yima("waiter-ladder", "--brand", "a", "100:150", "50:50", "200:400") == (
        "a: 50 bottles → 50 元, 100 bottles → 150 元, 200 bottles → 400 元\n")
    assert "Invalid value" in yima("waiter-ladder", "--brand", "a", "fifty", status=2)
    last_month = Month.of(datetime.now(UTC)).previous()
    assert yima("ladder", "--month", str(last_month)) == f"{last_month}: 0 ladder line(s) written for 1 brand(s)\n"
    with sessions(world.app)() as s:
        assert s.get(ChannelPolicy, s.get(Store, world.store["a"]).brand_id).waiter_ladder == [  # type: ignore[union-attr]
            [50, 5000], [100, 15000], [200, 40000]]


@pytest.mark.parametrize("same_waiter", [True, False])
def test_a_cap_scanned_twice_at_once_opens_once_on_postgresql(tmp_path: Path, redis_client: Any, postgres_url: str,
                                                               same_waiter: bool) -> None:
    """Two scans of one cap at the same moment (a double tap, or two waiters): one opens it; the other sees it
    opened (the same waiter: its draw answers what the first won) or is refused (another waiter)."""
    import threading

    world = channel_world(make_app(tmp_path, database_url=postgres_url), brands=("a",))
    (campaign,) = publish(world.app, b_campaign("waiter_open_bottle"))
    add_seat_user(world.app, "waiter2@a.test", "a", "waiter", store_id=world.store["a"])
    second = "waiter@a.test" if same_waiter else "waiter2@a.test"
    scopes = [seat_of(world.app, "waiter@a.test"), seat_of(world.app, second)]
    cap = sign(world.app, world.batch["a"], 77)
    gate = threading.Barrier(2)
    answers: list[Any] = []

    def scan(scope: Any) -> None:
        gate.wait()
        try:
            with transaction(sessions(world.app)) as s:
                answers.append(open_bottle(s, scope, cap, bside_rules(world.app)))
        except BsideRefused as exc:
            answers.append(exc.reason)

    threads = [threading.Thread(target=scan, args=(scope,)) for scope in scopes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    opened = [a for a in answers if not isinstance(a, str)]
    assert sum(1 for a in opened if a.first) == 1
    if same_waiter:
        award_ids = {a.draws[0].award_id for a in opened}
        assert len(opened) == 2 and len(award_ids) == 1 and "" not in award_ids
    else:
        assert len(opened) == 1 and BsideRefused.OPENED_ELSEWHERE in answers
    drain_awards(world)
    assert len(valid_awards(world, campaign)) == 1
    with sessions(world.app)() as s:
        assert s.scalar(select(func.count()).select_from(BsideScan)) == 1
