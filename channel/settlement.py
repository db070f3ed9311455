"""What the brand owes its stores: the store ledger gathered into settlement statements, settled, exported,
and reconciled with the awards ledger.

Every redemption (channel/vouchers.py) and every B-side reward writes one `StoreLedgerLine`. A brand
operator closes a period (China's calendar days, inclusive): each store with lines in it that no statement
holds yet gets one statement (PENDING) holding them; closing the same period again adds only what arrived
since (or nothing). Marking it paid makes it SETTLED, once. A clerk sees its own store's lines and
statements, a distributor's staff their stores', brand staff all of them.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel.errors import ChannelConflict, ChannelNotFound, InvalidChannel
from channel.models import CLERK, Store, StoreLedgerLine, StoreStatement, VoucherRedemption
from channel.scope import BRAND, ChannelScope, get_store
from channel.vouchers import VOUCHER, aware, require_ledger_reader
from payouts.listing import csv_cell
from payouts.sql_insert import insert_once
from rules.models import Award, Campaign

CHINA = ZoneInfo("Asia/Shanghai")
MAX_PERIOD_DAYS = 366
MAX_PAGE = 200
MAX_DISCREPANCIES = 100  # per kind: enough to act on, never a page of a million rows


def china_today(now: datetime) -> date:
    return now.astimezone(CHINA).date()


def period_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [from, to) of China's calendar days `start` .. `end` (inclusive)."""
    return (datetime.combine(start, time(0), CHINA).astimezone(UTC),
            datetime.combine(end + timedelta(days=1), time(0), CHINA).astimezone(UTC))


_Q = TypeVar("_Q", bound=Select)  # type: ignore[type-arg]  # any select, its row type kept


def _visible(query: _Q, scope: ChannelScope) -> _Q:
    """Rows of `query` (which joins Store) that the caller sees."""
    query = query.where(Store.brand_id == scope.brand_id)
    if scope.kind == CLERK:
        return query.where(Store.id == scope.store_id)
    if scope.distributor_ids is not None:
        return query.where(Store.distributor_id.in_(scope.distributor_ids))
    return query


def _page(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidChannel(f"limit must be 1-{MAX_PAGE}", "limit")
    return limit


# --- closing a period --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ClosedPeriod:
    period_start: date
    period_end: date
    statements: list[StoreStatement]  # made or topped up by this close
    added_lines: int
    held_back: int  # lines of this period whose store's statement for it is already settled: left out


def _check_period(start: date, end: date, now: datetime) -> None:
    if end < start:
        raise InvalidChannel("the period ends before it starts", "period_end")
    if (end - start).days >= MAX_PERIOD_DAYS:
        raise InvalidChannel(f"a period is at most {MAX_PERIOD_DAYS} days", "period_end")
    if end > china_today(now):
        raise InvalidChannel("a period can be closed up to today (China time), not later", "period_end")


def _totals(session: Session, statement_id: int) -> tuple[int, int, int]:
    n, face, rebate = session.execute(
        select(func.count(StoreLedgerLine.id), func.coalesce(func.sum(StoreLedgerLine.face_fen), 0),
               func.coalesce(func.sum(StoreLedgerLine.rebate_fen), 0))
        .where(StoreLedgerLine.statement_id == statement_id)).one()
    return int(n), int(face), int(rebate)


def close_period(session: Session, scope: ChannelScope, period_start: date, period_end: date,
                 store_id: int | None = None, *, now: datetime | None = None) -> ClosedPeriod:
    """Gather each store's unassigned lines of the period into its statement for the period (made PENDING
    when it has none). Brand operators only; idempotent: a second close adds only lines that came since."""
    now = now or datetime.now(UTC)
    scope.require(scope.operates, "close a settlement period (brand operators do)")
    _check_period(period_start, period_end, now)
    if store_id is not None:
        get_store(session, scope, store_id)
    lo, hi = period_bounds(period_start, period_end)
    open_lines = and_(StoreLedgerLine.brand_id == scope.brand_id, StoreLedgerLine.statement_id.is_(None),
                      StoreLedgerLine.at >= lo, StoreLedgerLine.at < hi,
                      *([StoreLedgerLine.store_id == store_id] if store_id is not None else []))
    stores = sorted(session.scalars(select(StoreLedgerLine.store_id).where(open_lines).distinct()))
    touched: list[StoreStatement] = []
    added = held = 0
    for sid in stores:
        insert_once(session, StoreStatement, {
            "brand_id": scope.brand_id, "store_id": sid, "period_start": period_start, "period_end": period_end,
            "state": StoreStatement.PENDING, "lines": 0, "face_fen": 0, "rebate_fen": 0, "created_at": now,
            "created_by": scope.actor[:300]})
        st = session.scalars(select(StoreStatement).where(
            StoreStatement.store_id == sid, StoreStatement.period_start == period_start,
            StoreStatement.period_end == period_end).execution_options(populate_existing=True)).one()
        mine = and_(open_lines, StoreLedgerLine.store_id == sid)
        if st.state == StoreStatement.SETTLED:
            held += session.scalar(select(func.count(StoreLedgerLine.id)).where(mine)) or 0
            continue
        moved = session.execute(update(StoreLedgerLine).where(mine).values(statement_id=st.id)
                                .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
        if not moved:
            continue
        before = {"lines": st.lines, "face_fen": st.face_fen, "rebate_fen": st.rebate_fen}
        st.lines, st.face_fen, st.rebate_fen = _totals(session, st.id)
        session.flush()
        record_change(session, scope.actor, "statement.close", f"statement:{st.id}", brand_id=scope.brand_id,
                      before=before if before["lines"] else None,
                      after={"store_id": sid, "period": f"{period_start}..{period_end}", "lines": st.lines,
                             "face_fen": st.face_fen, "rebate_fen": st.rebate_fen})
        added += moved
        touched.append(st)
    return ClosedPeriod(period_start, period_end, touched, added, held)


def settle(session: Session, scope: ChannelScope, statement_id: int, now: datetime | None = None) -> StoreStatement:
    """PENDING → SETTLED (the brand has paid the store). Brand operators; ChannelConflict when already settled."""
    now = now or datetime.now(UTC)
    st, _store = get_statement(session, scope, statement_id)
    scope.require(scope.operates, "settle statements (brand operators do)")
    done = session.execute(update(StoreStatement).where(StoreStatement.id == st.id,
                                                        StoreStatement.state == StoreStatement.PENDING)
                           .values(state=StoreStatement.SETTLED, settled_at=now, settled_by=scope.actor[:300])
                           .execution_options(synchronize_session=False)).rowcount  # type: ignore[attr-defined]
    session.refresh(st)
    if not done:
        raise ChannelConflict(f"statement {st.id} was settled already ({st.settled_by})")
    record_change(session, scope.actor, "statement.settle", f"statement:{st.id}", brand_id=scope.brand_id,
                  before={"state": StoreStatement.PENDING},
                  after={"state": StoreStatement.SETTLED, "total_fen": st.total_fen, "lines": st.lines})
    return st


# --- reading ------------------------------------------------------------------------------------------------

def get_statement(session: Session, scope: ChannelScope, statement_id: int) -> tuple[StoreStatement, Store]:
    """The statement and its store; ChannelNotFound outside the caller's stores (as for no such statement)."""
    require_ledger_reader(scope)
    row = session.execute(_visible(select(StoreStatement, Store).join(Store, Store.id == StoreStatement.store_id),
                                   scope).where(StoreStatement.id == statement_id)).first()
    if row is None:
        raise ChannelNotFound(f"no statement {statement_id}")
    return row[0], row[1]


def list_statements(session: Session, scope: ChannelScope, *, state: str | None = None, store_id: int | None = None,
                    limit: int = 50, before_id: int | None = None) -> list[tuple[StoreStatement, Store]]:
    """The statements the caller sees, newest first."""
    require_ledger_reader(scope)
    if state is not None and state not in (StoreStatement.PENDING, StoreStatement.SETTLED):
        raise InvalidChannel("state is pending or settled", "state")
    query = _visible(select(StoreStatement, Store).join(Store, Store.id == StoreStatement.store_id), scope)
    if state is not None:
        query = query.where(StoreStatement.state == state)
    if store_id is not None:
        query = query.where(StoreStatement.store_id == store_id)
    if before_id is not None:
        query = query.where(StoreStatement.id < before_id)
    rows = session.execute(query.order_by(StoreStatement.id.desc()).limit(_page(limit)))
    return [(st, store) for st, store in rows]


@dataclass(frozen=True)
class LedgerRow:
    line: StoreLedgerLine
    store_name: str
    code: str  # the redeemed voucher's code ("" for a line of another kind)

    @property
    def total_fen(self) -> int:
        return self.line.face_fen + self.line.rebate_fen


_LineQuery = Select[StoreLedgerLine, str, str]


def _line_rows(session: Session, query: _LineQuery) -> list[LedgerRow]:
    return [LedgerRow(line, name, code or "") for line, name, code in session.execute(query)]


def _lines_query(scope: ChannelScope) -> _LineQuery:
    return _visible(select(StoreLedgerLine, Store.name, VoucherRedemption.code)
                    .join(Store, Store.id == StoreLedgerLine.store_id)
                    .outerjoin(VoucherRedemption, and_(StoreLedgerLine.kind == StoreLedgerLine.REDEMPTION,
                                                       VoucherRedemption.award_id == StoreLedgerLine.source)),
                    scope).where(StoreLedgerLine.brand_id == scope.brand_id)


def statement_lines(session: Session, scope: ChannelScope, statement_id: int) -> list[LedgerRow]:
    st, _ = get_statement(session, scope, statement_id)
    return _line_rows(session, _lines_query(scope).where(StoreLedgerLine.statement_id == st.id)
                      .order_by(StoreLedgerLine.at, StoreLedgerLine.id))


def list_lines(session: Session, scope: ChannelScope, *, store_id: int | None = None, unassigned: bool = False,
               limit: int = 50, before_id: int | None = None) -> list[LedgerRow]:
    """Ledger lines the caller sees, newest first; `unassigned`: only those no statement holds yet."""
    require_ledger_reader(scope)
    query = _lines_query(scope)
    if store_id is not None:
        query = query.where(StoreLedgerLine.store_id == store_id)
    if unassigned:
        query = query.where(StoreLedgerLine.statement_id.is_(None))
    if before_id is not None:
        query = query.where(StoreLedgerLine.id < before_id)
    return _line_rows(session, query.order_by(StoreLedgerLine.id.desc()).limit(_page(limit)))


@dataclass(frozen=True)
class Outstanding:
    """Lines no statement holds yet (what a clerk's store is owed beyond its statements)."""

    lines: int
    face_fen: int
    rebate_fen: int

    @property
    def total_fen(self) -> int:
        return self.face_fen + self.rebate_fen


def outstanding(session: Session, scope: ChannelScope) -> Outstanding:
    require_ledger_reader(scope)
    n, face, rebate = session.execute(_visible(
        select(func.count(StoreLedgerLine.id), func.coalesce(func.sum(StoreLedgerLine.face_fen), 0),
               func.coalesce(func.sum(StoreLedgerLine.rebate_fen), 0))
        .join(Store, Store.id == StoreLedgerLine.store_id), scope)
        .where(StoreLedgerLine.brand_id == scope.brand_id, StoreLedgerLine.statement_id.is_(None))).one()
    return Outstanding(int(n), int(face), int(rebate))


# --- the CSV ------------------------------------------------------------------------------------------------

CSV_HEADER = ("结算单 statement", "门店 store", "明细号 line", "时间 at (UTC+8)", "类型 kind", "来源 source",
              "码 code", "面值 face (元)", "核销奖励 rebate (元)", "合计 total (元)")
BOM = "\ufeff"  # Excel reads a CSV without it in the machine's ANSI code page: Chinese comes out garbled


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}"


def _csv_line(cells: tuple[object, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([csv_cell(c) for c in cells])
    return out.getvalue()


def statement_csv(session: Session, scope: ChannelScope, statement_id: int, *, chunk: int = 500) -> Iterator[str]:
    """The statement as CSV lines: a BOM and the header, one row per ledger line (oldest first, read `chunk`
    at a time), then the totals. Raises ChannelNotFound before yielding anything for a statement not seen."""
    st, store = get_statement(session, scope, statement_id)
    return _csv_rows(session, scope, st, store, chunk)


def _csv_rows(session: Session, scope: ChannelScope, st: StoreStatement, store: Store, chunk: int) -> Iterator[str]:
    yield BOM + _csv_line(CSV_HEADER)
    query = _lines_query(scope).where(StoreLedgerLine.statement_id == st.id).order_by(StoreLedgerLine.id)
    after = 0
    n = face = rebate = 0
    while True:
        rows = _line_rows(session, query.where(StoreLedgerLine.id > after).limit(chunk))
        for r in rows:
            line = r.line
            n, face, rebate = n + 1, face + line.face_fen, rebate + line.rebate_fen
            yield _csv_line((st.id, store.name, line.id, aware(line.at).astimezone(CHINA).strftime("%Y-%m-%d %H:%M:%S"),
                             line.kind, line.source, r.code, yuan(line.face_fen), yuan(line.rebate_fen),
                             yuan(r.total_fen)))
        if len(rows) < chunk:
            break
        after = rows[-1].line.id
    yield _csv_line((st.id, store.name, f"合计 total: {n}", f"{st.period_start}..{st.period_end}", st.state, "", "",
                     yuan(face), yuan(rebate), yuan(face + rebate)))


# --- reconciliation ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Discrepancy:
    kind: str
    ref: str  # the award id, or "statement:<id>"
    detail: str


@dataclass(frozen=True)
class Reconciliation:
    brand_id: int
    voucher_awards: int  # valid voucher awards of the brand in the awards ledger
    redeemed_awards: int  # of those, redeemed
    redemptions: int
    ledger_lines: int  # redemption lines in the store ledger
    face_fen: int  # their totals
    rebate_fen: int
    pending_fen: int  # statements (every kind of line), by state
    settled_fen: int
    unassigned_fen: int  # lines no statement holds yet
    discrepancies: list[Discrepancy] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.discrepancies

    @property
    def total_fen(self) -> int:
        return self.face_fen + self.rebate_fen


def _counts(session: Session, brand_id: int) -> dict[str, int]:
    vouchers = (select(func.count(Award.id)).join(Campaign, Campaign.id == Award.campaign_id)
                .where(Campaign.brand_id == brand_id, Award.kind == VOUCHER, Award.status == Award.VALID))
    redeemed = vouchers.join(VoucherRedemption, VoucherRedemption.award_id == Award.id)
    n, face, rebate = session.execute(
        select(func.count(StoreLedgerLine.id), func.coalesce(func.sum(StoreLedgerLine.face_fen), 0),
               func.coalesce(func.sum(StoreLedgerLine.rebate_fen), 0))
        .where(StoreLedgerLine.brand_id == brand_id, StoreLedgerLine.kind == StoreLedgerLine.REDEMPTION)).one()
    by_state = dict(session.execute(
        select(StoreStatement.state, func.coalesce(func.sum(StoreStatement.face_fen + StoreStatement.rebate_fen), 0))
        .where(StoreStatement.brand_id == brand_id).group_by(StoreStatement.state)).all())
    unassigned = session.scalar(
        select(func.coalesce(func.sum(StoreLedgerLine.face_fen + StoreLedgerLine.rebate_fen), 0))
        .where(StoreLedgerLine.brand_id == brand_id, StoreLedgerLine.statement_id.is_(None)))
    return {"voucher_awards": session.scalar(vouchers) or 0, "redeemed_awards": session.scalar(redeemed) or 0,
            "redemptions": session.scalar(select(func.count(VoucherRedemption.award_id))
                                          .where(VoucherRedemption.brand_id == brand_id)) or 0,
            "ledger_lines": int(n), "face_fen": int(face), "rebate_fen": int(rebate),
            "pending_fen": int(by_state.get(StoreStatement.PENDING, 0)),
            "settled_fen": int(by_state.get(StoreStatement.SETTLED, 0)), "unassigned_fen": int(unassigned or 0)}


def _discrepancies(session: Session, brand_id: int) -> list[Discrepancy]:
    found: list[Discrepancy] = []
    r, line = VoucherRedemption, StoreLedgerLine
    bad_awards = (select(r.award_id, Award.id, Award.status, Award.kind, Campaign.brand_id)
                  .outerjoin(Award, Award.id == r.award_id).outerjoin(Campaign, Campaign.id == Award.campaign_id)
                  .where(r.brand_id == brand_id, or_(Award.id.is_(None), Award.status != Award.VALID,
                                                     Award.kind != VOUCHER, Campaign.brand_id.is_(None),
                                                     Campaign.brand_id != brand_id))
                  .limit(MAX_DISCREPANCIES))
    for award_id, present, status, kind, owner in session.execute(bad_awards):
        if present is None:
            found.append(Discrepancy("redemption_without_award", award_id, "no such award in the awards ledger"))
        elif status != Award.VALID:
            found.append(Discrepancy("redemption_of_void_award", award_id, f"the award is {status}"))
        elif kind != VOUCHER:
            found.append(Discrepancy("redemption_not_voucher", award_id, f"the award is a {kind} prize"))
        else:
            found.append(Discrepancy("redemption_other_brand", award_id, f"the award's campaign is brand {owner}'s"))
    no_line = (select(r.award_id).outerjoin(line, line.source == r.award_id)
               .where(r.brand_id == brand_id, line.id.is_(None)).limit(MAX_DISCREPANCIES))
    found += [Discrepancy("redemption_without_line", a, "no ledger line for this redemption")
              for a in session.scalars(no_line)]
    no_redemption = (select(line.source).outerjoin(r, r.award_id == line.source)
                     .where(line.brand_id == brand_id, line.kind == line.REDEMPTION, r.award_id.is_(None))
                     .limit(MAX_DISCREPANCIES))
    found += [Discrepancy("line_without_redemption", s, "a redemption line with no redemption")
              for s in session.scalars(no_redemption)]
    mismatched = (select(line.source, line.store_id, r.store_id).join(r, r.award_id == line.source)
                  .where(line.brand_id == brand_id, or_(line.kind != line.REDEMPTION, line.store_id != r.store_id,
                                                        line.brand_id != r.brand_id)).limit(MAX_DISCREPANCIES))
    found += [Discrepancy("line_mismatch", s, f"the line is store {a}'s, the redemption store {b}'s")
              for s, a, b in session.execute(mismatched)]
    sums = (select(StoreStatement.id, StoreStatement.lines, StoreStatement.face_fen, StoreStatement.rebate_fen,
                   func.count(line.id), func.coalesce(func.sum(line.face_fen), 0),
                   func.coalesce(func.sum(line.rebate_fen), 0))
            .outerjoin(line, line.statement_id == StoreStatement.id).where(StoreStatement.brand_id == brand_id)
            .group_by(StoreStatement.id, StoreStatement.lines, StoreStatement.face_fen, StoreStatement.rebate_fen))
    for sid, n, face, rebate, real_n, real_face, real_rebate in session.execute(sums):
        if (n, face, rebate) != (real_n, real_face, real_rebate):
            found.append(Discrepancy("statement_totals", f"statement:{sid}",
                                     f"says {n} lines {face}+{rebate} fen, holds {real_n} lines "
                                     f"{real_face}+{real_rebate} fen"))
    return found


def reconcile(session: Session, brand_id: int) -> Reconciliation:
    """The brand's redemptions against the awards ledger and the store ledger: every redemption is of a
    valid voucher award of the brand and has exactly one ledger line (and every redemption line one
    redemption), and every statement's totals are its lines'. What does not hold is listed."""
    counts = _counts(session, brand_id)
    found = _discrepancies(session, brand_id)
    if counts["redemptions"] != counts["redeemed_awards"] and not any(
            d.kind.startswith("redemption_") for d in found):
        found.append(Discrepancy("count", "redemptions",
                                 f"{counts['redemptions']} redemptions, {counts['redeemed_awards']} redeemed awards"))
    return Reconciliation(brand_id, **counts, discrepancies=found)


def brand_reconciliation(session: Session, scope: ChannelScope) -> Reconciliation:
    """`reconcile` for the brand's own staff (the brand's money: no distributor or store seat sees it)."""
    scope.require(scope.kind == BRAND, "see the brand's reconciliation")
    return reconcile(session, scope.brand_id)
