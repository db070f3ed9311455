"""Scan figures for a dashboard, read from the rollups only (never from raw events).

A scope is a brand and a campaign of it (0: every scan of the brand). Periods run from a local
midnight (rollups.REPORT_UTC_OFFSET_S) to now; hour and day rows are whole, so a period's first bucket
starts at its start and its last one holds now.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from reports.models import ForgedHour, ForgedMinute, ScanHour, ScanMinute, ScanRegionDay
from reports.rollups import REPORT_UTC_OFFSET_S, day_of, minute_of
from rules.region import RegionIndex


@dataclass(frozen=True)
class Scope:
    brand_id: int
    campaign_id: int = 0  # 0: every scan of the brand, matched by a campaign or not


@dataclass(frozen=True)
class Period:
    start: int  # unix s, a local midnight
    end: int  # unix s, now
    days: int

    @classmethod
    def last_days(cls, now: float, days: int) -> Period:
        """Today and the days - 1 before it (local days)."""
        end = int(now)
        return cls(day_of(end) - (days - 1) * 86400, end, days)


@dataclass(frozen=True)
class Counts:
    first: int = 0
    repeat: int = 0
    not_on_sale: int = 0
    void: int = 0

    @property
    def scans(self) -> int:
        return self.first + self.repeat + self.not_on_sale + self.void

    @property
    def first_share(self) -> float | None:
        """First scans among scans of codes on sale (first + repeat); None without any."""
        on_sale = self.first + self.repeat
        return self.first / on_sale if on_sale else None


@dataclass(frozen=True)
class MinutePoint:
    minute: int  # unix s
    counts: Counts
    forged: int  # the brand's forged attempts (a forged code names no campaign)


@dataclass(frozen=True)
class Place:
    code: str  # GB/T 2260 code of the province or city ("" unknown)
    name: str
    scans: int
    first: int


def _counts(row: tuple[int | None, ...] | None) -> Counts:
    if row is None:
        return Counts()
    return Counts(*(int(v or 0) for v in row))


def _sums(model: type[ScanHour] | type[ScanMinute] | type[ScanRegionDay]) -> list[ColumnElement[int]]:
    return [func.sum(model.first_scans), func.sum(model.repeat_scans), func.sum(model.not_on_sale),
            func.sum(model.void_scans)]


def last_hour(session: Session, scope: Scope, now: float) -> list[MinutePoint]:
    """The 60 minutes ending with the current one, every minute present (zero when nothing happened)."""
    end = minute_of(int(now))
    start = end - 59 * 60
    rows = session.execute(select(ScanMinute.minute, ScanMinute.first_scans, ScanMinute.repeat_scans,
                                  ScanMinute.not_on_sale, ScanMinute.void_scans)
                           .where(ScanMinute.brand_id == scope.brand_id, ScanMinute.campaign_id == scope.campaign_id,
                                  ScanMinute.minute >= start, ScanMinute.minute <= end)).all()
    scans = {int(r[0]): _counts(tuple(r[1:])) for r in rows}
    forged = dict(session.execute(select(ForgedMinute.minute, ForgedMinute.attempts).where(
        ForgedMinute.brand_id == scope.brand_id, ForgedMinute.minute >= start, ForgedMinute.minute <= end)).all())
    return [MinutePoint(m, scans.get(m, Counts()), int(forged.get(m, 0))) for m in range(start, end + 60, 60)]


def _hours(scope: Scope, period: Period) -> tuple[ColumnElement[bool], ...]:
    return (ScanHour.brand_id == scope.brand_id, ScanHour.campaign_id == scope.campaign_id,
            ScanHour.hour >= period.start, ScanHour.hour <= period.end)


def totals(session: Session, scope: Scope, period: Period) -> Counts:
    return _counts(tuple(session.execute(select(*_sums(ScanHour)).where(*_hours(scope, period))).one()))


def forged_total(session: Session, brand_id: int, period: Period) -> int:
    return int(session.scalar(select(func.coalesce(func.sum(ForgedHour.attempts), 0)).where(
        ForgedHour.brand_id == brand_id, ForgedHour.hour >= period.start, ForgedHour.hour <= period.end)) or 0)


def by_day(session: Session, scope: Scope, period: Period) -> list[tuple[int, Counts]]:
    """Every local day of the period with its counts."""
    day = (ScanHour.hour + REPORT_UTC_OFFSET_S) - (ScanHour.hour + REPORT_UTC_OFFSET_S) % 86400 - REPORT_UTC_OFFSET_S
    rows = session.execute(select(day, *_sums(ScanHour)).where(*_hours(scope, period)).group_by(day)).all()
    found = {int(r[0]): _counts(tuple(r[1:])) for r in rows}
    return [(d, found.get(d, Counts())) for d in range(period.start, period.end + 1, 86400)]


def by_hour_of_day(session: Session, scope: Scope, period: Period) -> list[Counts]:
    """Scans per local hour of the day (0-23) over the period."""
    hour = (ScanHour.hour + REPORT_UTC_OFFSET_S) / 3600 % 24
    rows = session.execute(select(hour, *_sums(ScanHour)).where(*_hours(scope, period)).group_by(hour)).all()
    found = {int(r[0]): _counts(tuple(r[1:])) for r in rows}
    return [found.get(h, Counts()) for h in range(24)]


def top_places(session: Session, scope: Scope, period: Period, regions: RegionIndex, limit: int = 10
               ) -> tuple[list[Place], list[Place]]:
    """(provinces, cities) ranked by scans over the period; scans with no known region last, as "未知"."""
    rows = session.execute(
        select(ScanRegionDay.city, func.sum(ScanRegionDay.first_scans + ScanRegionDay.repeat_scans
                                            + ScanRegionDay.not_on_sale + ScanRegionDay.void_scans),
               func.sum(ScanRegionDay.first_scans))
        .where(ScanRegionDay.brand_id == scope.brand_id, ScanRegionDay.campaign_id == scope.campaign_id,
               ScanRegionDay.day >= period.start, ScanRegionDay.day <= period.end)
        .group_by(ScanRegionDay.city)).all()
    provinces: Counter[str] = Counter()
    cities: Counter[str] = Counter()
    firsts: Counter[str] = Counter()
    for prefix, scans, first in rows:
        province, city = place_codes(prefix, regions)
        provinces[province] += int(scans or 0)
        cities[city] += int(scans or 0)
        firsts["p" + province] += int(first or 0)
        firsts["c" + city] += int(first or 0)

    def ranked(counts: Counter[str], kind: str) -> list[Place]:
        known = sorted(((n, code) for code, n in counts.items() if code), key=lambda x: (-x[0], x[1]))[:limit]
        places = [Place(code, place_name(code, regions), n, firsts[kind + code]) for n, code in known]
        if counts.get(""):
            places.append(Place("", "未知", counts[""], firsts[kind]))
        return places

    return ranked(provinces, "p"), ranked(cities, "c")


def place_codes(prefix: str, regions: RegionIndex) -> tuple[str, str]:
    """(province code, city code) of a rollup's 4-digit city prefix; "" where unknown.

    Municipalities count as one city (重庆's 5001 and 5002 both become 500000, as rules/region.py does);
    a prefix naming only a province ("4400": the scan was placed no finer) has no city.
    """
    if len(prefix) != 4 or not prefix.isdigit():
        return "", ""
    province = prefix[:2] + "0000"
    if regions.lookup(province) is None:
        return "", ""
    if prefix[2:] == "00":
        region = regions.lookup(province)
        return province, region.city_code if region else ""
    region = regions.lookup(prefix + "00")
    if region is None:  # county-level units under the province (xx90yy) and codes the table lacks
        return province, prefix + "00"
    return province, region.city_code


def place_name(code: str, regions: RegionIndex) -> str:
    region = regions.lookup(code)
    if region is None:
        province = regions.lookup(code[:2] + "0000")
        if code[2:4] == "90" and province is not None:
            return f"{province.province}直辖县级"
        return code
    return region.city or region.province
