"""窜货 reports, read from what the judge (channel/judge.py) wrote: a distributor's report, the brand's
overview of every distributor, and the alerts of the last days.

Counts are consumer scans, from `channel_judgements_daily` (days are China's calendar days); samples, first
and last seen come from `diversion_events`. Who reads what: brand staff and inspectors (稽查) the whole brand,
a distributor's staff their own distributor and the ones under it (ChannelScope.sees_distributor), anyone
else nothing (ChannelForbidden: the seat has no place in these reports, whatever the id). A distributor
outside the caller's sight is ChannelNotFound, like one that does not exist.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from channel.errors import InvalidChannel
from channel.judge import CHINA, DIVERTED, NO_RECORD, NORMAL, UNLOCATED
from channel.models import DISTRIBUTOR, INSPECTOR, ChannelJudgementDaily, Distributor, DiversionEvent
from channel.scope import BRAND, ChannelScope, get_distributor
from rules.region import RegionIndex, default_index
from rules.region_tree import region_label

READERS = (BRAND, INSPECTOR, DISTRIBUTOR)
PERIODS = ("day", "week", "month")
MAX_WINDOW_DAYS = 366
SAMPLES = 5


@dataclass(frozen=True)
class Window:
    """China's calendar days `since` … `until`, both included."""

    since: date
    until: date

    @property
    def days(self) -> int:
        return (self.until - self.since).days + 1


EARLIEST, LATEST = date(2000, 1, 1), date(2099, 12, 31)


def parse_day(text: str, field: str) -> date | None:
    """A day written YYYY-MM-DD (None for ""); InvalidChannel naming `field` otherwise."""
    if not text:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if EARLIEST <= day <= LATEST:
                return day
    except ValueError:
        pass
    raise InvalidChannel(f"{field} must be a day (YYYY-MM-DD) from {EARLIEST} to {LATEST}", field)


def window(since: date | None, until: date | None, today: date, default_days: int = 30) -> Window:
    """The days asked for: `until` defaults to today, `since` to `default_days` before it."""
    until = until or today
    since = since or until - timedelta(days=default_days - 1)
    if since > until:
        raise InvalidChannel("since must not be after until", "since")
    if (until - since).days >= MAX_WINDOW_DAYS:
        raise InvalidChannel(f"at most {MAX_WINDOW_DAYS} days at once", "since")
    return Window(since, until)


@dataclass(frozen=True)
class Place:
    """A city (or a province, when only the province is known), with its names."""

    adcode: str
    province: str
    city: str

    @property
    def label(self) -> str:
        """'广东省 深圳市'; a municipality or a province alone: '北京市'."""
        return self.province if not self.city or self.city == self.province else f"{self.province} {self.city}"


def place_of(adcode: str, regions: RegionIndex | None = None) -> Place:
    region = (regions or default_index()).lookup(adcode)
    if region is None:
        return Place(adcode, adcode, "")
    return Place(region.city_code or region.province_code, region.province, region.city)


@dataclass(frozen=True)
class RegionCount:
    place: Place
    scans: int


@dataclass(frozen=True)
class PeriodCount:
    start: date  # the day, the Monday of the week, or the first of the month
    located: int  # normal + diverted
    diverted: int


@dataclass(frozen=True)
class Sample:
    code: str
    batch_id: int
    serial: int
    place: Place
    region_source: str
    scanned_at: datetime


@dataclass(frozen=True)
class DistributorLine:
    id: int
    code: str
    name: str
    parent_id: int | None
    territory: tuple[str, ...]
    normal: int = 0
    diverted: int = 0
    unlocated: int = 0
    last_seen: datetime | None = None  # the newest 窜货 scan, ever

    @property
    def share(self) -> float | None:
        """Diverted share of the located scans; None when none was located."""
        located = self.normal + self.diverted
        return self.diverted / located if located else None

    @property
    def territory_labels(self) -> tuple[str, ...]:
        return tuple(region_label(p) for p in self.territory)


@dataclass(frozen=True)
class DiversionReport:
    distributor: DistributorLine
    window: Window
    period: str
    items: int  # distinct codes scanned out of territory in the window
    regions: tuple[RegionCount, ...]  # where its goods were scanned out of territory, most first
    periods: tuple[PeriodCount, ...]  # newest first, only periods with located scans
    samples: tuple[Sample, ...]  # the newest 窜货 scans
    first_seen: datetime | None  # its first 窜货 scan, ever
    children: tuple[DistributorLine, ...]  # its sub-distributors the caller sees, with their figures


@dataclass(frozen=True)
class Overview:
    window: Window
    lines: tuple[DistributorLine, ...]  # most diverted first
    no_record: int | None  # scans of items never shipped (brand-wide readers only; else None)


@dataclass(frozen=True)
class Alert:
    line: DistributorLine  # its figures over the alert's days
    regions: tuple[RegionCount, ...]  # the top few


def require_reader(scope: ChannelScope) -> None:
    scope.require(scope.kind in READERS, "read 窜货 reports")


def _visible(session: Session, scope: ChannelScope, only: Iterable[int] | None = None) -> dict[int, Distributor]:
    query = select(Distributor).where(Distributor.brand_id == scope.brand_id)
    if only is not None:
        query = query.where(Distributor.id.in_(sorted(set(only))))
    return {d.id: d for d in session.scalars(query) if scope.sees_distributor(d.id)}


def _counts(session: Session, brand_id: int, w: Window, distributor_ids: Iterable[int],
            ) -> dict[int, dict[str, int]]:
    """distributor → verdict → scans in the window."""
    out: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    ids = sorted(set(distributor_ids))
    if not ids:
        return out
    t = ChannelJudgementDaily
    for did, verdict, scans in session.execute(
            select(t.distributor_id, t.verdict, func.sum(t.scans)).where(
                t.brand_id == brand_id, t.day >= w.since, t.day <= w.until, t.distributor_id.in_(ids))
            .group_by(t.distributor_id, t.verdict)):
        out[did][verdict] += int(scans)
    return out


def _last_seen(session: Session, brand_id: int, distributor_ids: Iterable[int]) -> dict[int, datetime]:
    ids = sorted(set(distributor_ids))
    if not ids:
        return {}
    e = DiversionEvent
    return {d: at for d, at in session.execute(
        select(e.distributor_id, func.max(e.scanned_at)).where(e.brand_id == brand_id, e.distributor_id.in_(ids))
        .group_by(e.distributor_id))}


def _lines(session: Session, scope: ChannelScope, distributors: dict[int, Distributor], w: Window,
           ) -> list[DistributorLine]:
    counts = _counts(session, scope.brand_id, w, distributors)
    seen = _last_seen(session, scope.brand_id, distributors)
    lines = [DistributorLine(d.id, d.code, d.name, d.parent_id, tuple(d.territory or ()),
                             counts[d.id][NORMAL], counts[d.id][DIVERTED], counts[d.id][UNLOCATED], seen.get(d.id))
             for d in distributors.values()]
    return sorted(lines, key=lambda x: (-x.diverted, -(x.share or 0), x.code))


def _regions(rows: Iterable[tuple[str, int]], limit: int | None = None) -> tuple[RegionCount, ...]:
    by_place: dict[Place, int] = defaultdict(int)
    for adcode, scans in rows:
        by_place[place_of(adcode)] += int(scans)
    ranked = sorted(by_place.items(), key=lambda kv: (-kv[1], kv[0].adcode))
    return tuple(RegionCount(p, n) for p, n in ranked[:limit])


def period_start(day: date, period: str) -> date:
    if period == "week":
        return day - timedelta(days=day.weekday())
    if period == "month":
        return day.replace(day=1)
    return day


def distributor_report(session: Session, scope: ChannelScope, distributor_id: int, w: Window,
                       period: str = "day", samples: int = SAMPLES) -> DiversionReport:
    """One distributor's 窜货 report over the window, its periods by day, week or month."""
    require_reader(scope)
    if period not in PERIODS:
        raise InvalidChannel(f"period must be one of {', '.join(PERIODS)}", "period")
    d = get_distributor(session, scope, distributor_id)
    children = _visible(session, scope)
    children = {i: c for i, c in children.items() if c.parent_id == d.id}
    line = _lines(session, scope, {d.id: d}, w)[0]
    t = ChannelJudgementDaily
    in_window = (t.brand_id == scope.brand_id, t.distributor_id == d.id, t.day >= w.since, t.day <= w.until)
    regions = _regions((a, n) for a, n in session.execute(
        select(t.adcode, func.sum(t.scans)).where(*in_window, t.verdict == DIVERTED).group_by(t.adcode)))
    buckets: dict[date, list[int]] = defaultdict(lambda: [0, 0])
    for day, verdict, scans in session.execute(
            select(t.day, t.verdict, func.sum(t.scans)).where(*in_window, t.verdict.in_((NORMAL, DIVERTED)))
            .group_by(t.day, t.verdict)):
        bucket = buckets[period_start(day, period)]
        bucket[0] += int(scans)
        if verdict == DIVERTED:
            bucket[1] += int(scans)
    e = DiversionEvent
    since, until = _instants(w)
    mine = (e.brand_id == scope.brand_id, e.distributor_id == d.id)
    dated = (*mine, e.scanned_at >= since, e.scanned_at < until)
    newest = session.scalars(select(e).where(*dated).order_by(e.scanned_at.desc(), e.id.desc()).limit(samples))
    items = session.scalar(select(func.count()).select_from(
        select(e.batch_id, e.serial).where(*dated).distinct().subquery())) or 0
    return DiversionReport(
        distributor=line, window=w, period=period, items=items, regions=regions,
        periods=tuple(PeriodCount(start, n, div) for start, (n, div) in sorted(buckets.items(), reverse=True)),
        samples=tuple(Sample(s.code, s.batch_id, s.serial, place_of(s.adcode), s.region_source, s.scanned_at)
                      for s in newest),
        first_seen=session.scalar(select(func.min(e.scanned_at)).where(*mine)),
        children=tuple(_lines(session, scope, children, w)))


def _instants(w: Window) -> tuple[datetime, datetime]:
    """The window as UTC instants (SQLite compares stored UTC wall times): China's midnight starting
    `since` up to the one ending `until`."""
    since = datetime.combine(w.since, datetime.min.time(), CHINA).astimezone(UTC)
    return since, since + timedelta(days=w.days)


def overview(session: Session, scope: ChannelScope, w: Window) -> Overview:
    """Every distributor the caller sees, most diverted first; for brand-wide readers also the scans of
    items with no outbound record."""
    require_reader(scope)
    lines = _lines(session, scope, _visible(session, scope), w)
    no_record = None
    if scope.brand_wide:
        t = ChannelJudgementDaily
        no_record = int(session.scalar(select(func.coalesce(func.sum(t.scans), 0)).where(
            t.brand_id == scope.brand_id, t.verdict == NO_RECORD, t.day >= w.since, t.day <= w.until)) or 0)
    return Overview(w, tuple(lines), no_record)


def alerts(session: Session, scope: ChannelScope, today: date, days: int = 7, regions: int = 3) -> list[Alert]:
    """The distributors (that the caller sees) with 窜货 scans in the last `days` days, most first, each
    with its top regions."""
    require_reader(scope)
    if not 1 <= days <= MAX_WINDOW_DAYS:
        raise InvalidChannel(f"days must be 1 to {MAX_WINDOW_DAYS}", "days")
    w = Window(today - timedelta(days=days - 1), today)
    t = ChannelJudgementDaily
    per: dict[int, list[tuple[str, int]]] = defaultdict(list)
    for did, adcode, scans in session.execute(
            select(t.distributor_id, t.adcode, func.sum(t.scans)).where(
                t.brand_id == scope.brand_id, t.verdict == DIVERTED, t.day >= w.since, t.day <= w.until)
            .group_by(t.distributor_id, t.adcode)):
        per[did].append((adcode, int(scans)))
    flagged = _visible(session, scope, per)
    return [Alert(line, _regions(per[line.id], regions)) for line in _lines(session, scope, flagged, w)]
