"""China-time calendar days: consumer caps, the provider's daily bill and reconciliation count by them."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

CHINA = timezone(timedelta(hours=8), "Asia/Shanghai")  # no daylight saving since 1991: a fixed offset is exact


def china_date(moment: datetime) -> date:
    return moment.astimezone(CHINA).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """[start, end) in UTC of one China-time day."""
    start = datetime(day.year, day.month, day.day, tzinfo=CHINA).astimezone(UTC)
    return start, start + timedelta(days=1)


def next_midnight(moment: datetime) -> datetime:
    """The next 00:00 Asia/Shanghai after `moment`, in UTC: when a per-day cap lifts."""
    return day_bounds(china_date(moment))[1]
