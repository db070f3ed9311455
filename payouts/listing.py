"""What the console and the ops API read about payouts: pages of them, one with its history, totals by state,
the CSV export, and the reconciliation runs. Read only; the engine (payouts/engine.py) changes them.

Every read of payouts is scoped to one brand: another brand's payout id reads exactly like one that does not
exist (PayoutNotFound). Reconciliation runs are per provider and day, not per brand: a brand's caller sees
only the lines whose bill number is one of its own payouts (see `reconciliations`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, func, or_, select
from sqlalchemy.orm import Session

from payouts.errors import InvalidPayout, PayoutNotFound
from payouts.models import Payout, PayoutEvent, Reconciliation
from payouts.providers.base import State

MAX_PAGE = 200
QUERY_MAX = 64  # the longest of bill_no (32), award_id (48) and openid (64)
STATES = tuple(s.value for s in State)
CSV_HEADER = ("id", "award_id", "campaign_id", "openid", "amount_fen", "amount_yuan", "provider", "state",
              "attempt", "bill_no", "provider_bill_id", "reason", "message", "created_at", "submitted_at",
              "finished_at")
_Q = TypeVar("_Q", bound=Select)  # type: ignore[type-arg]  # any select, its row type kept
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")  # what a spreadsheet would run as a formula


@dataclass(frozen=True)
class PayoutFilter:
    """What a list, a summary or an export is limited to, within one brand. Times are instants (aware)."""

    state: str | None = None
    campaign_id: int | None = None
    q: str = ""  # a prefix of the bill number, the award id or the openid
    since: datetime | None = None  # created at or after
    until: datetime | None = None  # created before


@dataclass(frozen=True)
class PayoutPage:
    rows: list[Payout]
    next_before_id: int | None  # pass as `before_id` for the next (older) page; None: this is the last


@dataclass(frozen=True)
class PayoutDetail:
    payout: Payout
    events: list[PayoutEvent]  # oldest first: the order things happened in


@dataclass(frozen=True)
class StateTotal:
    count: int = 0
    fen: int = 0


@dataclass(frozen=True)
class FailureTotal:
    reason: str  # the provider's code or fail_reason ("" when none was given)
    count: int
    fen: int


@dataclass(frozen=True)
class PayoutSummary:
    by_state: dict[str, StateTotal]  # every state, zeros included, in State's order
    failures: list[FailureTotal]  # failed and expired payouts by reason, the most frequent first

    @property
    def total(self) -> StateTotal:
        return StateTotal(sum(t.count for t in self.by_state.values()), sum(t.fen for t in self.by_state.values()))


@dataclass(frozen=True)
class ReconciliationRun:
    id: int
    day: Any  # datetime.date
    provider: str
    ran_at: datetime
    matched: int | None  # None for a brand's view: the provider's matched lines are not attributed to brands
    missing: int
    extra: int
    mismatched: int
    details: list[dict[str, Any]] = field(default_factory=list)  # [{bill_no, what, ledger, provider}]


def check_filter(f: PayoutFilter) -> None:
    """InvalidPayout naming what is wrong, before any SQL runs."""
    if f.state is not None and f.state not in STATES:
        raise InvalidPayout(f"state must be one of {', '.join(STATES)}")
    if len(f.q) > QUERY_MAX or "\x00" in f.q:
        raise InvalidPayout(f"q: at most {QUERY_MAX} characters, no NUL")
    for name, moment in (("since", f.since), ("until", f.until)):
        if moment is not None and moment.tzinfo is None:
            raise InvalidPayout(f"{name} must carry its time zone")


def _utc(moment: datetime) -> datetime:
    """SQLite keeps times as naive UTC text and compares a bound value's wall clock as text."""
    return moment.astimezone(UTC)


def _where(query: _Q, brand_id: int, f: PayoutFilter) -> _Q:
    check_filter(f)
    query = query.where(Payout.brand_id == brand_id)
    if f.state is not None:
        query = query.where(Payout.state == f.state)
    if f.campaign_id is not None:
        query = query.where(Payout.campaign_id == f.campaign_id)
    q = f.q.strip()
    if q:
        matches: list[ColumnElement[bool]] = [Payout.bill_no.startswith(q, autoescape=True),
                                              Payout.award_id.startswith(q, autoescape=True),
                                              Payout.openid.startswith(q, autoescape=True)]
        query = query.where(or_(*matches))
    if f.since is not None:
        query = query.where(Payout.created_at >= _utc(f.since))
    if f.until is not None:
        query = query.where(Payout.created_at < _utc(f.until))
    return query


def list_payouts(session: Session, brand_id: int, f: PayoutFilter = PayoutFilter(), *, limit: int = 50,
                 before_id: int | None = None) -> PayoutPage:
    """A brand's payouts matching `f`, newest first, `limit` (1-200) at a time; page on with `before_id`."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidPayout(f"limit must be 1-{MAX_PAGE}")
    query = _where(select(Payout), brand_id, f)
    if before_id is not None:
        query = query.where(Payout.id < before_id)
    rows = list(session.scalars(query.order_by(Payout.id.desc()).limit(limit + 1)))  # one more: is there a next?
    more = len(rows) > limit
    rows = rows[:limit]
    return PayoutPage(rows, rows[-1].id if more else None)


def count_payouts(session: Session, brand_id: int, f: PayoutFilter = PayoutFilter()) -> int:
    return session.scalar(_where(select(func.count(Payout.id)), brand_id, f)) or 0


def get_payout(session: Session, brand_id: int, payout_id: int) -> Payout:
    """The payout, if it is the brand's; PayoutNotFound otherwise (another brand's reads like a missing one)."""
    payout = session.get(Payout, payout_id) if 0 < payout_id < 1 << 31 else None
    if payout is None or payout.brand_id != brand_id:
        raise PayoutNotFound(f"no payout {payout_id}")
    return payout


def payout_brand(session: Session, payout_id: int) -> int | None:
    """The brand a payout belongs to (None: no such payout): lets the web layer check the caller's role
    there before it reads anything else."""
    if not 0 < payout_id < 1 << 31:
        return None
    return session.scalar(select(Payout.brand_id).where(Payout.id == payout_id))


def payout_detail(session: Session, brand_id: int, payout_id: int) -> PayoutDetail:
    """The payout and every state change it went through, oldest first."""
    payout = get_payout(session, brand_id, payout_id)
    events = list(session.scalars(select(PayoutEvent).where(PayoutEvent.payout_id == payout.id)
                                  .order_by(PayoutEvent.at, PayoutEvent.id)))
    return PayoutDetail(payout, events)


def payout_summary(session: Session, brand_id: int, f: PayoutFilter = PayoutFilter()) -> PayoutSummary:
    """Counts and fen by state, and failures by reason, of the payouts `f` selects (its state is ignored:
    the summary is what the state chips show)."""
    f = PayoutFilter(campaign_id=f.campaign_id, q=f.q, since=f.since, until=f.until)
    totals = {s: StateTotal() for s in STATES}
    by_state = _where(select(Payout.state, func.count(Payout.id), func.coalesce(func.sum(Payout.amount_fen), 0)),
                      brand_id, f).group_by(Payout.state)
    for state, count, fen in session.execute(by_state):
        totals[state] = StateTotal(int(count), int(fen))
    failed = (_where(select(Payout.reason, func.count(Payout.id), func.coalesce(func.sum(Payout.amount_fen), 0)),
                     brand_id, f)
              .where(Payout.state.in_((State.FAILED.value, State.EXPIRED.value))).group_by(Payout.reason))
    failures = [FailureTotal(reason or "", int(count), int(fen)) for reason, count, fen in session.execute(failed)]
    failures.sort(key=lambda t: (-t.count, t.reason))
    return PayoutSummary(totals, failures)


def csv_cell(value: object) -> str:
    """One cell as text, defused: a spreadsheet runs a cell starting with = + - @ (or a tab or CR) as a
    formula, so such a cell gets a leading apostrophe. An openid or a provider's message can start with one."""
    text = "" if value is None else value.isoformat() if isinstance(value, datetime) else str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _line(cells: Iterable[object]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow([csv_cell(c) for c in cells])
    return out.getvalue()


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None and moment.tzinfo is None else moment


def payouts_csv(session: Session, brand_id: int, f: PayoutFilter = PayoutFilter(), *,
                chunk: int = 500) -> Iterator[str]:
    """The payouts `f` selects as CSV lines (header first, oldest first), read `chunk` rows at a time so an
    export of a whole season streams without holding it in memory. Times in UTC (ISO 8601)."""
    query = _where(select(Payout), brand_id, f).order_by(Payout.id)
    yield _line(CSV_HEADER)
    after = 0
    while True:
        rows = list(session.scalars(query.where(Payout.id > after).limit(chunk)))
        for p in rows:
            yield _line((p.id, p.award_id, p.campaign_id, p.openid, p.amount_fen, f"{p.amount_fen / 100:.2f}",
                         p.provider, p.state, p.attempt, p.bill_no, p.provider_bill_id, p.reason, p.message,
                         _aware(p.created_at), _aware(p.submitted_at), _aware(p.finished_at)))
        if len(rows) < chunk:
            return
        after = rows[-1].id
        session.expunge_all()  # the rows written are not needed again


def reconciliations(session: Session, limit: int = 20, *,
                    brand_ids: frozenset[int] | None = None) -> list[ReconciliationRun]:
    """The latest reconciliation runs, newest first. `brand_ids` None: everything (the platform). Else only
    the detail lines whose bill number is a payout of those brands, counted by what they say; a line the
    ledger does not know ("missing": paid at the provider, no payout here) belongs to no brand and is left
    out, and `matched` is None."""
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidPayout(f"limit must be 1-{MAX_PAGE}")
    runs = list(session.scalars(select(Reconciliation).order_by(Reconciliation.ran_at.desc(),
                                                                 Reconciliation.id.desc()).limit(limit)))
    if brand_ids is None:
        return [ReconciliationRun(r.id, r.day, r.provider, _aware(r.ran_at) or r.ran_at, r.matched, r.missing,
                                  r.extra, r.mismatched, _lines(r.details)) for r in runs]
    bills = {str(line.get("bill_no", "")) for r in runs for line in _lines(r.details)}
    own: set[str] = set()
    if bills and brand_ids:
        own = set(session.scalars(select(Payout.bill_no).where(Payout.bill_no.in_(bills),
                                                               Payout.brand_id.in_(brand_ids))))
    scoped = []
    for r in runs:
        lines = [line for line in _lines(r.details) if str(line.get("bill_no", "")) in own]
        what = [str(line.get("what", "")) for line in lines]
        scoped.append(ReconciliationRun(r.id, r.day, r.provider, _aware(r.ran_at) or r.ran_at, None,
                                        what.count("missing"), what.count("extra"), what.count("mismatched"),
                                        lines))
    return scoped


def _lines(details: Any) -> list[dict[str, Any]]:
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
