"""payouts/listing.py on SQLite and PostgreSQL: a brand sees only its own payouts, filters and paging, the
summary by state and reason, the CSV export streamed in chunks and defused, reconciliation runs scoped."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from codegen.db import make_engine, transaction
from payouts.errors import InvalidPayout, PayoutNotFound
from payouts.listing import (
    PayoutFilter,
    csv_cell,
    get_payout,
    list_payouts,
    payout_detail,
    payout_summary,
    payouts_csv,
    reconciliations,
)
from payouts.models import Payout, PayoutEvent, Reconciliation

T0 = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
A, B = 1, 2


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    factory = sessionmaker(engine, expire_on_commit=False)
    yield factory
    engine.dispose()


def payout(s: Session, brand: int, n: int, state: str, fen: int = 100, reason: str = "", openid: str = "") -> Payout:
    p = Payout(award_id=f"b{brand}-{n}", campaign_id=10 + n % 2, brand_id=brand, openid=openid or f"o{brand}x{n:03d}",
               amount_fen=fen, provider="wechat_transfer", state=state, bill_no=f"YB{brand}N{n}A1", reason=reason,
               created_at=T0 + timedelta(minutes=n), updated_at=T0 + timedelta(minutes=n))
    s.add(p)
    s.flush()
    return p


def test_a_brand_sees_its_own_payouts_filtered_and_paged(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        for n in range(7):
            payout(s, A, n, "failed" if n % 3 == 0 else "succeeded", reason="NOT_ENOUGH" if n % 3 == 0 else "")
        theirs = payout(s, B, 99, "failed").id
    with sessions() as s:
        first = list_payouts(s, A, limit=3)
        assert [p.award_id for p in first.rows] == ["b1-6", "b1-5", "b1-4"] and first.next_before_id is not None
        rest = list_payouts(s, A, limit=10, before_id=first.next_before_id)
        assert [p.award_id for p in rest.rows] == ["b1-3", "b1-2", "b1-1", "b1-0"] and rest.next_before_id is None
        assert len(list_payouts(s, A, PayoutFilter(state="failed")).rows) == 3
        assert [p.award_id for p in list_payouts(s, A, PayoutFilter(q="o1x00")).rows] == [f"b1-{n}" for n in
                                                                                         range(6, -1, -1)]
        assert [p.award_id for p in list_payouts(s, A, PayoutFilter(q="YB1N5")).rows] == ["b1-5"]
        assert list_payouts(s, A, PayoutFilter(q="o1x%")).rows == []  # a LIKE wildcard is a plain character
        since = list_payouts(s, A, PayoutFilter(since=T0 + timedelta(minutes=5), until=T0 + timedelta(minutes=6)))
        assert [p.award_id for p in since.rows] == ["b1-5"]
        with pytest.raises(PayoutNotFound):
            get_payout(s, A, theirs)
        with pytest.raises(PayoutNotFound):
            payout_detail(s, A, 2**40)
        with pytest.raises(InvalidPayout):
            list_payouts(s, A, PayoutFilter(state="paid"))
        with pytest.raises(InvalidPayout):
            list_payouts(s, A, PayoutFilter(since=datetime(2026, 12, 2)))  # naive: which zone?


def test_the_summary_and_the_history(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        payout(s, A, 1, "succeeded", 500)
        payout(s, A, 2, "failed", 300, "NOT_ENOUGH")
        payout(s, A, 3, "failed", 200, "NOT_ENOUGH")
        payout(s, A, 4, "expired", 1000, "OVERDUE_CLOSE")
        p = payout(s, A, 5, "awaiting_user", 700)
        payout(s, B, 6, "failed", 9999, "TRANSFER_RISK")
        for i, (frm, to) in enumerate((("", "pending"), ("pending", "submitted"), ("submitted", "awaiting_user"))):
            s.add(PayoutEvent(payout_id=p.id, at=T0 + timedelta(seconds=10 - i), source="submit", from_state=frm,
                              to_state=to, bill_no=p.bill_no))
        # the same instant twice: the id keeps them in the order they were written
        s.add(PayoutEvent(payout_id=p.id, at=T0 + timedelta(seconds=20), source="query", from_state="awaiting_user",
                          to_state="awaiting_user", bill_no=p.bill_no, detail="first"))
        s.add(PayoutEvent(payout_id=p.id, at=T0 + timedelta(seconds=20), source="query", from_state="awaiting_user",
                          to_state="awaiting_user", bill_no=p.bill_no, detail="second"))
        pid = p.id
    with sessions() as s:
        summary = payout_summary(s, A)
        assert summary.by_state["failed"].count == 2 and summary.by_state["failed"].fen == 500
        assert summary.by_state["cancelled"].count == 0 and summary.total.fen == 2700
        assert [(f.reason, f.count, f.fen) for f in summary.failures] == [("NOT_ENOUGH", 2, 500),
                                                                        ("OVERDUE_CLOSE", 1, 1000)]
        detail = payout_detail(s, A, pid)
        assert [e.detail for e in detail.events][-2:] == ["first", "second"]
        assert [e.to_state for e in detail.events][:3] == ["awaiting_user", "submitted", "pending"]  # by time


def test_the_csv_streams_every_row_in_chunks_and_defuses_formulas(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        for n in range(12):
            payout(s, A, n, "succeeded", openid="=1+1" if n == 3 else "")
        payout(s, B, 50, "succeeded")
    with sessions() as s:
        text = "".join(payouts_csv(s, A, chunk=5))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["award_id"] for r in rows] == [f"b1-{n}" for n in range(12)]
    assert rows[3]["openid"] == "'=1+1" and rows[0]["amount_yuan"] == "1.00"
    cells = [csv_cell(v) for v in ("-5", "+x", "@a", "\tz", "ok", None, 7)]
    assert cells == ["'-5", "'+x", "'@a", "'\tz", "ok", "", "7"]


def test_reconciliation_runs_for_the_platform_and_for_a_brand(sessions: sessionmaker[Session]) -> None:
    with transaction(sessions) as s:
        mine = payout(s, A, 1, "succeeded").bill_no
        theirs = payout(s, B, 2, "succeeded").bill_no
        s.add(Reconciliation(day=date(2026, 12, 1), provider="wechat_transfer", ran_at=T0, matched=9, missing=1,
                             extra=1, mismatched=1, details=[
                                 {"bill_no": mine, "what": "mismatched", "ledger": 100, "provider": 90},
                                 {"bill_no": theirs, "what": "extra", "ledger": 100, "provider": None},
                                 {"bill_no": "YNOBODY", "what": "missing", "ledger": None, "provider": 5}]))
        s.add(Reconciliation(day=date(2026, 12, 2), provider="wechat_transfer", ran_at=T0 + timedelta(days=1),
                             matched=4, details=[]))
    with sessions() as s:
        everything = reconciliations(s, 10)
        assert [r.day for r in everything] == [date(2026, 12, 2), date(2026, 12, 1)]
        assert (everything[1].matched, len(everything[1].details)) == (9, 3)
        brand = reconciliations(s, 10, brand_ids=frozenset({A}))[1]
        assert brand.matched is None and (brand.missing, brand.extra, brand.mismatched) == (0, 0, 1)
        assert [d["bill_no"] for d in brand.details] == [mine]
        assert reconciliations(s, 10, brand_ids=frozenset())[1].details == []
