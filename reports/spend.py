"""Award figures for a dashboard, from the award rollup: wins by prize, prize stock, spend vs budget.

Only valid awards count as won, spent or taken from stock (the SQL ledger's verdict); void awards are
shown apart. Campaign facts (name, budget, prizes) come from the campaign's definition.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from reports.models import AwardHour
from reports.rollups import REPORT_UTC_OFFSET_S, day_of, hour_of
from reports.scans import Period
from rules.campaign import InvalidCampaign, parse_definition
from rules.models import Award, Campaign

RATE_WINDOW_S = 86_400  # the projected end follows the spend rate of the last 24 hours
SERIES_MAX_DAYS = 180


@dataclass(frozen=True)
class PrizeFacts:
    index: int
    kind: str
    name: str
    total: int | None


@dataclass(frozen=True)
class CampaignFacts:
    id: int
    brand_id: int
    name: str
    status: str
    budget_fen: int
    starts_at: datetime | None
    ends_at: datetime | None
    prizes: tuple[PrizeFacts, ...]  # the table's prizes, then the consolation (index -1) if any


def _facts(row: Campaign) -> CampaignFacts:
    try:
        d = parse_definition(row.definition, stored=True)  # as stored, whatever rules came since
    except InvalidCampaign:  # a draft that does not validate yet: no budget or prizes to report on
        return CampaignFacts(row.id, row.brand_id, row.name, row.status, 0, None, None, ())
    prizes = [PrizeFacts(p.index, p.kind, p.name, p.total) for p in d.prizes]
    if d.consolation is not None:
        prizes.append(PrizeFacts(d.consolation.index, d.consolation.kind, d.consolation.name, None))
    return CampaignFacts(row.id, row.brand_id, row.name, row.status, d.budget_fen, d.starts_at, d.ends_at,
                         tuple(prizes))


def campaigns_of(session: Session, brand_id: int) -> list[CampaignFacts]:
    """The brand's campaigns, drafts included, by id."""
    rows = session.scalars(select(Campaign).where(Campaign.brand_id == brand_id).order_by(Campaign.id))
    return [_facts(r) for r in rows]


def campaign_facts(session: Session, campaign_id: int) -> CampaignFacts | None:
    """The campaign's facts, None when there is none (an id beyond the column's range included)."""
    if not 0 < campaign_id < 2**31:
        return None
    row = session.get(Campaign, campaign_id)
    return _facts(row) if row is not None else None


@dataclass(frozen=True)
class PrizeWins:
    campaign_id: int
    prize: PrizeFacts
    won: int  # valid awards in the period
    void: int
    amount_fen: int  # valid cash in the period
    points: int
    left: int | None  # stock left over the campaign's life: total − valid awards; None: unlimited


def wins_by_prize(session: Session, campaigns: Sequence[CampaignFacts], period: Period) -> list[PrizeWins]:
    """Every prize of these campaigns (and any prize index awarded that the table no longer has)."""
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    in_period = session.execute(
        select(AwardHour.campaign_id, AwardHour.prize_index, AwardHour.status, func.sum(AwardHour.awards),
               func.sum(AwardHour.amount_fen), func.sum(AwardHour.points))
        .where(AwardHour.campaign_id.in_(ids), AwardHour.hour >= hour_of(period.start), AwardHour.hour <= period.end)
        .group_by(AwardHour.campaign_id, AwardHour.prize_index, AwardHour.status)).all()
    ever = dict(((int(c), int(i)), int(n or 0)) for c, i, n in session.execute(
        select(AwardHour.campaign_id, AwardHour.prize_index, func.sum(AwardHour.awards))
        .where(AwardHour.campaign_id.in_(ids), AwardHour.status == Award.VALID)
        .group_by(AwardHour.campaign_id, AwardHour.prize_index)).all())
    figures: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for campaign_id, index, status, n, amount, points in in_period:
        f = figures[int(campaign_id), int(index)]
        if status == Award.VALID:
            f[0], f[2], f[3] = f[0] + int(n or 0), f[2] + int(amount or 0), f[3] + int(points or 0)
        else:
            f[1] += int(n or 0)
    out = []
    for c in campaigns:
        known = {p.index: p for p in c.prizes}
        extra = sorted(i for cid, i in (*figures, *ever) if cid == c.id and i not in known)
        for p in (*c.prizes, *(PrizeFacts(i, "", f"#{i}", None) for i in dict.fromkeys(extra))):
            won, void, amount, points = figures.get((c.id, p.index), (0, 0, 0, 0))
            left = None if p.total is None else max(0, p.total - ever.get((c.id, p.index), 0))
            out.append(PrizeWins(c.id, p, won, void, amount, points, left))
    return out


@dataclass(frozen=True)
class Spend:
    budget_fen: int
    spent_fen: int  # valid cash over the campaigns' life
    series: list[tuple[int, int]]  # (unix s, cumulative valid cash then): the start, each day's end, now
    rate_fen_per_day: int  # over the last RATE_WINDOW_S
    projected_end: int | None  # unix s when the budget runs out at that rate; None: no recent spend
    ends_at: int | None  # the latest campaign end, to compare with



def spend(session: Session, campaigns: Sequence[CampaignFacts], now: float) -> Spend:
    """Cash spent against budget over time, for one campaign or a brand's (drafts left out)."""
    live = [c for c in campaigns if c.status != Campaign.DRAFT]
    ids = [c.id for c in live]
    budget = sum(c.budget_fen for c in live)
    ends = [int(c.ends_at.timestamp()) for c in live if c.ends_at is not None]
    if not ids:
        return Spend(budget, 0, [], 0, None, max(ends) if ends else None)
    at = int(now)
    valid = (AwardHour.campaign_id.in_(ids), AwardHour.status == Award.VALID)
    # From the day before the first cash (a campaign that paid nothing for months starts where it paid),
    # never before the campaigns start, never more than SERIES_MAX_DAYS back.
    starts = [int(c.starts_at.timestamp()) for c in live if c.starts_at is not None]
    first_paid = session.scalar(select(func.min(AwardHour.hour)).where(*valid, AwardHour.amount_fen > 0))
    first_day = max(day_of(min(starts)) if starts else day_of(at), day_of(at) - (SERIES_MAX_DAYS - 1) * 86400,
                    day_of(int(first_paid)) - 86400 if first_paid is not None else day_of(at))
    first_day = min(first_day, day_of(at))
    before = int(session.scalar(select(func.coalesce(func.sum(AwardHour.amount_fen), 0))
                                .where(*valid, AwardHour.hour < first_day)) or 0)
    day = (AwardHour.hour + REPORT_UTC_OFFSET_S) - (AwardHour.hour + REPORT_UTC_OFFSET_S) % 86400 - REPORT_UTC_OFFSET_S
    per_day = dict((int(d), int(n or 0)) for d, n in session.execute(
        select(day, func.sum(AwardHour.amount_fen)).where(*valid, AwardHour.hour >= first_day).group_by(day)).all())
    series, running = [(first_day, before)], before
    for d in range(first_day, day_of(at) + 1, 86400):
        running += per_day.get(d, 0)
        series.append((min(d + 86400, at), running))
    recent = int(session.scalar(select(func.coalesce(func.sum(AwardHour.amount_fen), 0))
                                .where(*valid, AwardHour.hour > at - RATE_WINDOW_S)) or 0)
    left = max(0, budget - running)
    projected = None
    if recent > 0:
        projected = at + int(left / recent * RATE_WINDOW_S)
    return Spend(budget, running, series, recent, projected, max(ends) if ends else None)
