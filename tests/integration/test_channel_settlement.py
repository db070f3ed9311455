"""Settlement (channel/settlement.py) on the real SQL backends: periods closed on China's calendar days into
one statement per store, idempotently; PENDING → SETTLED once; who sees and does what; the CSV; and the
reconciliation of redemptions with the awards ledger, planted discrepancies included."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from accounts.models import AuditEntry
from channel.errors import ChannelConflict, ChannelForbidden, ChannelNotFound, InvalidChannel
from channel.models import Store, StoreLedgerLine, StoreStatement, VoucherRedemption
from channel.settlement import (
    BOM,
    brand_reconciliation,
    close_period,
    get_statement,
    list_lines,
    list_statements,
    outstanding,
    reconcile,
    settle,
    statement_csv,
)
from codegen.db import transaction
from rules.models import Award
from tests.integration.test_channel_vouchers import NOW, Vouchers, make_vouchers
from tests.support.channel_world import add_seat_user, add_store
from tests.support.voucher_world import brand_staff, scope_of
from tests.web.conftest import make_app

DAY = date(2027, 3, 10)  # NOW is 10:05 on 10 March in China
LATER = NOW + timedelta(days=3)


@pytest.fixture
def v(tmp_path: Path, redis_client: Any) -> Vouchers:
    return make_vouchers(make_app(tmp_path))


@pytest.fixture
def v_both(tmp_path: Path, redis_client: Any, database_url: str) -> Vouchers:
    return make_vouchers(make_app(tmp_path, database_url=database_url))


def op(v: Vouchers, brand: str = "a") -> Any:
    return scope_of(v.app, brand_staff(v.app, brand), brand)


def close(v: Vouchers, start: date = DAY, end: date = DAY, scope: Any = None, **kw: Any) -> Any:
    with transaction(v.sessions()) as s:
        closed = close_period(s, scope or op(v), start, end, now=kw.pop("now", LATER), **kw)
        return closed, [(st.id, st.store_id, st.lines, st.face_fen, st.rebate_fen, st.state)
                        for st in closed.statements]


def test_a_period_is_china_days_and_closing_it_again_adds_only_what_came_since(v_both: Vouchers) -> None:
    v = v_both
    a2 = add_store(v.app, "a", v.world.sub_distributor["a"], "门店 a2")
    add_seat_user(v.app, "clerk2@a.test", "a", "clerk", store_id=a2)
    start_of_day = datetime(2027, 3, 9, 16, 0, tzinfo=NOW.tzinfo)  # 00:00 on 10 March in China
    v.redeem("clerk@a.test", v.award(), start_of_day - timedelta(seconds=1))  # 9 March, 23:59:59 in China
    first = v.redeem("clerk@a.test", v.award(), start_of_day)
    v.redeem("clerk@a.test", v.award(), start_of_day + timedelta(hours=23, minutes=59))  # 23:59 on the 10th
    v.redeem("clerk2@a.test", v.award(), NOW)
    v.redeem("clerk@a.test", v.award(), start_of_day + timedelta(days=1))  # the 11th

    closed, made = close(v)
    assert closed.added_lines == 3 and closed.held_back == 0
    assert sorted((store, n, face, rebate, state) for _, store, n, face, rebate, state in made) == [
        (v.world.store["a"], 2, 1000, 100, "pending"), (a2, 1, 500, 50, "pending")]
    mine = next(sid for sid, store, *_ in made if store == v.world.store["a"])
    with v.sessions()() as s:
        held = set(s.scalars(select(StoreLedgerLine.source).where(StoreLedgerLine.statement_id == mine)))
    assert first.award_id in held

    again, remade = close(v)
    assert again.added_lines == 0 and remade == []  # nothing new: no statement touched, none made twice
    late = v.redeem("clerk@a.test", v.award(), start_of_day + timedelta(hours=12))  # recorded after the close
    topped, retouched = close(v)
    assert topped.added_lines == 1 and retouched == [(mine, v.world.store["a"], 3, 1500, 150, "pending")]
    with v.sessions()() as s:
        assert s.scalar(select(StoreLedgerLine.statement_id).where(StoreLedgerLine.source == late.award_id)) == mine
        assert len(list(s.scalars(select(StoreStatement)))) == 2
    closes = [e for e in rows(v, AuditEntry) if e.action == "statement.close"]
    assert len(closes) == 3 and closes[-1].before == {"lines": 2, "face_fen": 1000, "rebate_fen": 100}


def rows(v: Vouchers, model: Any) -> list[Any]:
    with v.sessions()() as s:
        return list(s.scalars(select(model).order_by(*model.__table__.primary_key.columns)))


def test_a_statement_is_settled_once_and_a_late_line_is_held_back(v_both: Vouchers) -> None:
    v = v_both
    v.redeem("clerk@a.test", v.award())
    _, [(sid, *_)] = close(v)
    with transaction(v.sessions()) as s:
        st = settle(s, op(v), sid, LATER)
        assert (st.state, st.settled_by.endswith("operator@a.brand"), st.total_fen) == ("settled", True, 550)
    with transaction(v.sessions()) as s, pytest.raises(ChannelConflict):
        settle(s, op(v), sid, LATER)
    v.redeem("clerk@a.test", v.award(), NOW + timedelta(hours=1))  # same day, after it was paid
    closed, made = close(v)
    assert (closed.held_back, made) == (1, [])
    with v.sessions()() as s:
        assert s.get(StoreStatement, sid).lines == 1  # type: ignore[union-attr]
    assert [e.after["state"] for e in rows(v, AuditEntry) if e.action == "statement.settle"] == ["settled"]


def test_periods_are_checked(v: Vouchers) -> None:
    for start, end in ((DAY, DAY - timedelta(days=1)), (DAY, DAY + timedelta(days=4)),
                       (DAY - timedelta(days=400), DAY)):
        with pytest.raises(InvalidChannel):
            close(v, start, end)


def test_only_brand_operators_close_and_settle(v: Vouchers) -> None:
    v.redeem("clerk@a.test", v.award())
    analyst = brand_staff(v.app, "a", "analyst")
    for email, brand in (("clerk@a.test", None), ("distributor@a.test", None), (analyst, "a")):
        with pytest.raises(ChannelForbidden):
            close(v, scope=scope_of(v.app, email, brand))
    _, [(sid, *_)] = close(v)
    for email, brand in (("clerk@a.test", None), ("distributor@a.test", None)):
        with transaction(v.sessions()) as s, pytest.raises(ChannelForbidden):
            settle(s, scope_of(v.app, email, brand), sid)
    for email, brand in (("distributor@b.test", None), ("clerk@b.test", None), (brand_staff(v.app, "b"), "b")):
        with transaction(v.sessions()) as s, pytest.raises(ChannelNotFound):
            settle(s, scope_of(v.app, email, brand), sid)
    with v.sessions()() as s:
        for email in ("waiter@a.test", "warehouse@a.test", "inspector@a.test"):
            with pytest.raises(ChannelForbidden):
                get_statement(s, scope_of(v.app, email), sid)


def test_each_seat_sees_its_own_stores_statements_and_lines(v: Vouchers) -> None:
    other = add_store(v.app, "a", v.world.distributor["a"], "门店 a2")
    add_seat_user(v.app, "clerk2@a.test", "a", "clerk", store_id=other)
    v.redeem("clerk@a.test", v.award())
    v.redeem("clerk2@a.test", v.award())
    _, made = close(v)
    by_store = {store: sid for sid, store, *_ in made}
    v.redeem("clerk@a.test", v.award(), NOW + timedelta(days=1))  # not on a statement yet

    def seen(email: str, brand: str | None = None) -> tuple[list[int], list[str], int]:
        scope = scope_of(v.app, email, brand)
        with v.sessions()() as s:
            return ([st.id for st, _ in list_statements(s, scope)],
                    [r.store_name for r in list_lines(s, scope, unassigned=True)], outstanding(s, scope).total_fen)

    assert seen("clerk@a.test") == ([by_store[v.world.store["a"]]], ["门店 a"], 550)
    assert seen("clerk2@a.test") == ([by_store[other]], [], 0)
    assert seen("distributor@a.test") == (sorted(by_store.values(), reverse=True), ["门店 a"], 550)
    assert seen(brand_staff(v.app, "a", "analyst"), "a")[0] == sorted(by_store.values(), reverse=True)
    assert seen("distributor@b.test") == ([], [], 0)
    with v.sessions()() as s:
        with pytest.raises(ChannelNotFound):
            get_statement(s, scope_of(v.app, "clerk2@a.test"), by_store[v.world.store["a"]])
        with pytest.raises(ChannelNotFound):
            get_statement(s, scope_of(v.app, "distributor@b.test"), by_store[other])
        with pytest.raises(ChannelNotFound):
            get_statement(s, scope_of(v.app, "clerk@a.test"), 987654)
        pending = list_statements(s, scope_of(v.app, "distributor@a.test"), state="pending", limit=1)
        older = list_statements(s, scope_of(v.app, "distributor@a.test"), before_id=pending[0][0].id)
        assert [st.id for st, _ in pending + older] == sorted(by_store.values(), reverse=True)
        with pytest.raises(InvalidChannel):
            list_statements(s, scope_of(v.app, "clerk@a.test"), state="paid")


def test_the_csv_opens_in_excel_one_row_per_line_and_totals(v: Vouchers) -> None:
    with transaction(v.sessions()) as s:  # a store whose name a spreadsheet would run as a formula
        store = s.get(Store, v.world.store["a"])
        assert store is not None
        store.name = "=HYPERLINK(1) 门店"
    redeemed = [v.redeem("clerk@a.test", v.award(), NOW + timedelta(minutes=i)) for i in range(3)]
    _, [(sid, *_)] = close(v)
    with v.sessions()() as s:
        text = "".join(statement_csv(s, scope_of(v.app, "clerk@a.test"), sid, chunk=2))
    assert text.startswith(BOM) and "\r\n" in text
    table = list(csv.reader(io.StringIO(text[len(BOM):])))
    assert table[0][:3] == ["结算单 statement", "门店 store", "明细号 line"]
    assert [r[5] for r in table[1:4]] == [d.award_id for d in redeemed]
    assert {r[1] for r in table[1:]} == {"'=HYPERLINK(1) 门店"}
    assert table[1][3] == "2027-03-10 10:05:00" and table[1][4] == "redemption"
    assert table[1][7:] == ["5.00", "0.50", "5.50"]
    assert table[-1][2] == "合计 total: 3" and table[-1][7:] == ["15.00", "1.50", "16.50"]
    with v.sessions()() as s, pytest.raises(ChannelNotFound):
        statement_csv(s, scope_of(v.app, "clerk@b.test"), sid)


def test_reconciliation_matches_and_lists_planted_differences(v_both: Vouchers) -> None:
    v = v_both
    ids = [v.redeem("clerk@a.test", v.award(), NOW + timedelta(minutes=i)).award_id for i in range(4)]
    v.award()  # won, not redeemed yet
    v.redeem("clerk@b.test", v.award("b"))  # the other brand's own business
    _, [(sid, *_)] = close(v)
    with v.sessions()() as s:
        clean = brand_reconciliation(s, op(v))
    assert clean.ok, clean.discrepancies
    assert (clean.voucher_awards, clean.redeemed_awards, clean.redemptions, clean.ledger_lines) == (5, 4, 4, 4)
    assert (clean.face_fen, clean.rebate_fen, clean.pending_fen, clean.unassigned_fen) == (2000, 200, 2200, 0)
    with v.sessions()() as s, pytest.raises(ChannelForbidden):
        brand_reconciliation(s, scope_of(v.app, "distributor@a.test"))

    with transaction(v.sessions()) as s:  # what a bad hand in the database could do
        s.execute(update(Award).where(Award.id == ids[0]).values(status=Award.VOID))
        s.execute(delete(StoreLedgerLine).where(StoreLedgerLine.source == ids[1]))
        s.execute(delete(VoucherRedemption).where(VoucherRedemption.award_id == ids[2]))
        s.execute(update(StoreStatement).where(StoreStatement.id == sid).values(face_fen=9999))
    with v.sessions()() as s:
        found = reconcile(s, scope_of(v.app, "clerk@a.test").brand_id)
    assert not found.ok
    assert sorted((d.kind, d.ref) for d in found.discrepancies) == sorted([
        ("redemption_of_void_award", ids[0]), ("redemption_without_line", ids[1]),
        ("line_without_redemption", ids[2]), ("statement_totals", f"statement:{sid}")])
    assert (found.redemptions, found.redeemed_awards, found.ledger_lines) == (3, 2, 3)
