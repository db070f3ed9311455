"""The waiters' monthly ladder (阶梯奖励) and a waiter's month so far.

A brand's ChannelPolicy.waiter_ladder lists tiers [[bottles, fen], ...]: cumulative thresholds of bottles a
waiter opened (开瓶, counted from BsideScan rows: every cap they opened, won or not) in one calendar month,
China time. A waiter is paid the bonus of the highest tier reached, once per store and month: one LADDER line
on the store ledger, source "ladder:<store>:<user>:<yyyymm>" (unique, so running it again writes nothing).
`ladder_bonuses` runs when a month has ended: by the worker early in the next month, or on demand
(`yima channel ladder --month 2026-12`).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import record_change
from channel.bside import waiter_member
from channel.errors import ChannelForbidden, InvalidChannel
from channel.models import WAITER, BsideScan, ChannelPolicy, StoreLedgerLine
from channel.scope import ChannelScope
from payouts.models import PointsEntry
from payouts.sql_insert import insert_once

CHINA = ZoneInfo("Asia/Shanghai")
MAX_TIERS = 12
MAX_BONUS_FEN = 10_000_000  # 100,000 元: a typo guard, far above any real tier


@dataclass(frozen=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        """'2026-12' → Month(2026, 12); InvalidChannel otherwise."""
        try:
            moment = datetime.strptime(text.strip(), "%Y-%m")
        except ValueError:
            raise InvalidChannel(f"{text!r} is not a month like 2026-12", field="month") from None
        return cls(moment.year, moment.month)

    @classmethod
    def of(cls, at: datetime) -> Month:
        local = at.astimezone(CHINA)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), 12 if self.month == 1 else self.month - 1)

    @property
    def start(self) -> datetime:
        """Its first moment, China time, in UTC."""
        return datetime(self.year, self.month, 1, tzinfo=CHINA).astimezone(UTC)

    @property
    def end(self) -> datetime:
        return self.next().start

    @property
    def tag(self) -> str:
        return f"{self.year:04d}{self.month:02d}"

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"


def read_ladder(raw: object) -> list[tuple[int, int]]:
    """Tiers as (bottles, fen), by bottles; InvalidChannel when they are not [[bottles, fen], ...] with rising
    thresholds and rising bonuses (a higher tier that paid less would punish selling more)."""
    if not isinstance(raw, list) or len(raw) > MAX_TIERS:
        raise InvalidChannel(f"the ladder must be a list of at most {MAX_TIERS} [bottles, fen] tiers", field="ladder")
    tiers = []
    for tier in raw:
        ok = (isinstance(tier, list | tuple) and len(tier) == 2
              and all(isinstance(v, int) and not isinstance(v, bool) for v in tier)
              and 1 <= tier[0] <= 1_000_000 and 1 <= tier[1] <= MAX_BONUS_FEN)
        if not ok:
            raise InvalidChannel(f"tier {tier!r} must be [bottles 1-1000000, fen 1-{MAX_BONUS_FEN}]", field="ladder")
        tiers.append((int(tier[0]), int(tier[1])))
    tiers.sort()
    for (low, low_fen), (high, high_fen) in itertools.pairwise(tiers):
        if low == high or high_fen <= low_fen:
            raise InvalidChannel(f"tiers must rise: {high} bottles must pay more than {low}", field="ladder")
    return tiers


def set_waiter_ladder(session: Session, scope: ChannelScope, raw: object) -> list[tuple[int, int]]:
    """Set the brand's waiter ladder (brand operators only); audited."""
    scope.require(scope.may_manage, "change the channel policy")
    tiers = read_ladder(raw)
    policy = session.get(ChannelPolicy, scope.brand_id)
    if policy is None:
        policy = ChannelPolicy(brand_id=scope.brand_id)
        session.add(policy)
    before = list(policy.waiter_ladder or [])
    policy.waiter_ladder = [list(t) for t in tiers]
    policy.updated_at = datetime.now(UTC)
    session.flush()
    record_change(session, scope.actor, "channel.waiter_ladder", f"brand:{scope.brand_id}", brand_id=scope.brand_id,
                  before={"waiter_ladder": before}, after={"waiter_ladder": policy.waiter_ladder})
    return tiers


def brand_ladder(session: Session, brand_id: int) -> list[tuple[int, int]]:
    policy = session.get(ChannelPolicy, brand_id)
    return read_ladder(policy.waiter_ladder or []) if policy is not None else []


def bonus_for(tiers: list[tuple[int, int]], bottles: int) -> int:
    """The bonus of the highest tier reached (0: none)."""
    return max((fen for threshold, fen in tiers if bottles >= threshold), default=0)


def ladder_bonuses(session: Session, brand_id: int, month: Month, *, now: datetime | None = None) -> int:
    """Write one LADDER line per (store, waiter) who reached a tier in `month`; how many were new. The month
    must have ended (a bonus is paid once, on the whole month). Its lines are dated the month's last second,
    so they fall in that month's statement period."""
    if month.end > (now or datetime.now(UTC)):
        raise InvalidChannel(f"{month} has not ended yet: its ladder is paid once the month is over", field="month")
    tiers = brand_ladder(session, brand_id)
    if not tiers:
        return 0
    counts = session.execute(
        select(BsideScan.store_id, BsideScan.user_id, func.count()).where(
            BsideScan.brand_id == brand_id, BsideScan.kind == BsideScan.OPEN_BOTTLE,
            BsideScan.at >= month.start, BsideScan.at < month.end, BsideScan.user_id.is_not(None))
        .group_by(BsideScan.store_id, BsideScan.user_id))
    written = 0
    for store_id, user_id, bottles in counts:
        bonus = bonus_for(tiers, int(bottles))
        if bonus:
            written += insert_once(session, StoreLedgerLine, {
                "brand_id": brand_id, "store_id": store_id, "staff_user_id": user_id, "kind": StoreLedgerLine.LADDER,
                "source": f"ladder:{store_id}:{user_id}:{month.tag}", "face_fen": 0, "rebate_fen": bonus,
                "at": month.end - timedelta(seconds=1)})
    return written


def ladder_brands(session: Session) -> list[int]:
    """The brands whose policy has a waiter ladder."""
    rows = session.execute(select(ChannelPolicy.brand_id, ChannelPolicy.waiter_ladder))
    return [brand_id for brand_id, ladder in rows if ladder]


@dataclass(frozen=True)
class WaiterMonth:
    month: Month
    bottles: int  # caps opened this month at this store
    cash_fen: int  # on the store ledger for this waiter this month (open_bottle, ladder)
    points: int  # credited to the waiter's points this month
    tiers: list[tuple[int, int]]
    reached: tuple[int, int] | None  # the highest tier reached
    next_tier: tuple[int, int] | None  # the next one, if any

    @property
    def to_next(self) -> int:
        return self.next_tier[0] - self.bottles if self.next_tier else 0


def waiter_month(session: Session, scope: ChannelScope, *, today: date | None = None) -> WaiterMonth:
    """The waiter's month so far at their store: bottles opened, rewards credited, the ladder and the next tier.
    A reward drawn seconds ago reaches the ledger with the worker's next pass."""
    user_id = scope.user_id
    if scope.kind != WAITER or user_id is None:
        raise ChannelForbidden(f"your seat ({scope.kind}) has no waiter's month")
    month = Month(today.year, today.month) if today else Month.of(datetime.now(UTC))
    in_month = (BsideScan.at >= month.start, BsideScan.at < month.end)
    bottles = session.scalar(select(func.count()).select_from(BsideScan).where(
        BsideScan.store_id == scope.store_id, BsideScan.user_id == user_id,
        BsideScan.kind == BsideScan.OPEN_BOTTLE, *in_month)) or 0
    cash = session.scalar(select(func.coalesce(func.sum(StoreLedgerLine.rebate_fen), 0)).where(
        StoreLedgerLine.store_id == scope.store_id, StoreLedgerLine.staff_user_id == user_id,
        StoreLedgerLine.kind.in_((StoreLedgerLine.OPEN_BOTTLE, StoreLedgerLine.LADDER)),
        StoreLedgerLine.at >= month.start, StoreLedgerLine.at < month.end)) or 0
    points = session.scalar(select(func.coalesce(func.sum(PointsEntry.delta), 0)).where(
        PointsEntry.brand_id == scope.brand_id, PointsEntry.member == waiter_member(user_id),
        PointsEntry.at >= month.start, PointsEntry.at < month.end)) or 0
    tiers = brand_ladder(session, scope.brand_id)
    reached = max((t for t in tiers if bottles >= t[0]), default=None)
    upcoming = min((t for t in tiers if bottles < t[0]), default=None)
    return WaiterMonth(month, int(bottles), int(cash), int(points), tiers, reached, upcoming)
