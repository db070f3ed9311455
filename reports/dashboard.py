"""One dashboard's figures, for a brand or one of its campaigns, in one call (what a page renders)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from codegen.models import Brand
from reports import scans
from reports.models import AwardHour, ScanHour
from reports.scans import Counts, MinutePoint, Period, Place, Scope
from reports.spend import (
    RATE_WINDOW_S,
    CampaignFacts,
    PrizeWins,
    Spend,
    campaign_facts,
    campaigns_of,
    spend,
    wins_by_prize,
)
from rules.models import Award
from rules.region import RegionIndex

PERIODS = (1, 7, 30, 90)  # days a dashboard may cover


@dataclass(frozen=True)
class CampaignRow:
    """A brand dashboard's line per campaign."""

    campaign: CampaignFacts
    counts: Counts  # scans it matched in the period
    spent_fen: int  # valid cash over its life
    projected_end: int | None


@dataclass(frozen=True)
class Dashboard:
    brand_id: int
    campaign: CampaignFacts | None  # None: the brand's dashboard
    period: Period
    now: int
    last_hour: list[MinutePoint]
    totals: Counts  # over the period
    forged: int  # the brand's forged attempts over the period
    by_day: list[tuple[int, Counts]]
    by_hour_of_day: list[Counts]
    provinces: list[Place]
    cities: list[Place]
    prizes: list[PrizeWins]
    spend: Spend
    campaigns: list[CampaignRow]  # the brand's campaigns (a campaign dashboard: empty)

    @property
    def campaign_names(self) -> dict[int, str]:
        return {row.campaign.id: row.campaign.name for row in self.campaigns}

    @property
    def last_hour_counts(self) -> Counts:
        return Counts(*(sum(getattr(p.counts, k) for p in self.last_hour)
                        for k in ("first", "repeat", "not_on_sale", "void")))

    @property
    def last_hour_forged(self) -> int:
        return sum(p.forged for p in self.last_hour)


def visible_brands(session: Session, readable: frozenset[int] | None) -> list[Brand]:
    """The brands a caller may read (None: every brand), by name."""
    query = select(Brand).order_by(Brand.name, Brand.id)
    if readable is not None:
        query = query.where(Brand.id.in_(sorted(readable)))
    return list(session.scalars(query))


def brand_dashboard(session: Session, brand_id: int, now: float, days: int, regions: RegionIndex) -> Dashboard:
    campaigns = campaigns_of(session, brand_id)
    return _dashboard(session, Scope(brand_id), None, campaigns, now, days, regions)


def campaign_brand(session: Session, campaign_id: int) -> int | None:
    """The brand a campaign belongs to (for the caller's access check), None when there is no such campaign."""
    facts = campaign_facts(session, campaign_id)
    return facts.brand_id if facts else None


def campaign_dashboard(session: Session, campaign_id: int, now: float, days: int, regions: RegionIndex
                       ) -> Dashboard | None:
    facts = campaign_facts(session, campaign_id)
    if facts is None:
        return None
    return _dashboard(session, Scope(facts.brand_id, facts.id), facts, [facts], now, days, regions)


def _dashboard(session: Session, scope: Scope, campaign: CampaignFacts | None, campaigns: list[CampaignFacts],
               now: float, days: int, regions: RegionIndex) -> Dashboard:
    if days not in PERIODS:
        raise ValueError(f"a dashboard covers one of {PERIODS} days, not {days}")
    period = Period.last_days(now, days)
    provinces, cities = scans.top_places(session, scope, period, regions)
    return Dashboard(
        brand_id=scope.brand_id, campaign=campaign, period=period, now=int(now),
        last_hour=scans.last_hour(session, scope, now),
        totals=scans.totals(session, scope, period),
        forged=scans.forged_total(session, scope.brand_id, period),
        by_day=scans.by_day(session, scope, period),
        by_hour_of_day=scans.by_hour_of_day(session, scope, period),
        provinces=provinces, cities=cities,
        prizes=wins_by_prize(session, campaigns, period),
        spend=spend(session, campaigns, now),
        campaigns=_campaign_rows(session, scope.brand_id, campaigns, period, now) if campaign is None else [],
    )


def _campaign_rows(session: Session, brand_id: int, campaigns: list[CampaignFacts], period: Period, now: float
                   ) -> list[CampaignRow]:
    """Each campaign's scans in the period and spend, in three grouped queries whatever their number."""
    ids = [c.id for c in campaigns]
    if not ids:
        return []
    counted = {int(r[0]): Counts(*(int(v or 0) for v in r[1:])) for r in session.execute(
        select(ScanHour.campaign_id, func.sum(ScanHour.first_scans), func.sum(ScanHour.repeat_scans),
               func.sum(ScanHour.not_on_sale), func.sum(ScanHour.void_scans))
        .where(ScanHour.brand_id == brand_id, ScanHour.campaign_id.in_(ids), ScanHour.hour >= period.start,
               ScanHour.hour <= period.end).group_by(ScanHour.campaign_id)).all()}
    valid = (AwardHour.campaign_id.in_(ids), AwardHour.status == Award.VALID)
    spent = dict((int(c), int(n or 0)) for c, n in session.execute(
        select(AwardHour.campaign_id, func.sum(AwardHour.amount_fen)).where(*valid)
        .group_by(AwardHour.campaign_id)).all())
    recent = dict((int(c), int(n or 0)) for c, n in session.execute(
        select(AwardHour.campaign_id, func.sum(AwardHour.amount_fen))
        .where(*valid, AwardHour.hour > int(now) - RATE_WINDOW_S).group_by(AwardHour.campaign_id)).all())
    rows = []
    for c in campaigns:
        paid, rate = spent.get(c.id, 0), recent.get(c.id, 0)
        projected = int(now) + int(max(0, c.budget_fen - paid) / rate * RATE_WINDOW_S) if rate else None
        rows.append(CampaignRow(c, counted.get(c.id, Counts()), paid, projected))
    return rows
