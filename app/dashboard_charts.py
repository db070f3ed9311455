"""The dashboard's charts and labels, drawn from a reports.dashboard.Dashboard (presentation only)."""

from __future__ import annotations

from datetime import UTC, datetime

from markupsafe import Markup

from app.auth import tr
from app.charts import Series, columns, line_to_limit, ranked_bars
from reports.dashboard import Dashboard
from reports.export import LOCAL
from reports.rollups import day_of

FIRST, REPEAT, OTHER, FORGED = "#c8102e", "#f0a5b1", "#aab2bb", "#e08600"


def local(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC).astimezone(LOCAL)


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def percent(share: float | None) -> str:
    return "—" if share is None else f"{share * 100:.1f}%"


def _scan_series(first: list[int], repeat: list[int], other: list[int]) -> list[Series]:
    return [Series(tr("首次扫码", "First scans"), FIRST, first), Series(tr("重复扫码", "Repeat scans"), REPEAT, repeat),
            Series(tr("未上市/作废", "Not on sale / void"), OTHER, other)]


def _midnights(start: int, end: int) -> list[tuple[int, str]]:
    """Every local midnight from start to end (at most two years), labelled MM-DD."""
    first = day_of(start)
    return [(day, local(day).strftime("%m-%d")) for day in range(first, min(end, first + 730 * 86400) + 1, 86400)]


def charts(d: Dashboard) -> dict[str, Markup]:
    hour = d.last_hour
    out = {
        "last_hour": columns(
            tr("近一小时每分钟扫码", "Scans per minute, last hour"), [local(p.minute).strftime("%H:%M") for p in hour],
            _scan_series([p.counts.first for p in hour], [p.counts.repeat for p in hour],
                         [p.counts.not_on_sale + p.counts.void for p in hour]),
            line=Series(tr("伪码尝试", "Forged attempts"), FORGED, [p.forged for p in hour]), wide=1120,
            keys=[p.minute // 60 for p in hour], steps=(5, 10, 15, 20, 30)),
        "by_hour": columns(tr("按小时分布（北京时间）", "By hour of day (Beijing time)"), [str(h) for h in range(24)],
                           [Series(tr("扫码", "Scans"), FIRST, [c.scans for c in d.by_hour_of_day])],
                           steps=(1, 2, 3, 6)),
        "provinces": ranked_bars(tr("省份排行", "Top provinces"), [(p.name, p.scans) for p in d.provinces]),
        "cities": ranked_bars(tr("城市排行", "Top cities"), [(p.name, p.scans) for p in d.cities], color="#e35d6a"),
    }
    if len(d.by_day) > 1:
        days = d.by_day
        out["by_day"] = columns(tr("每日扫码", "Scans per day"), [local(day).strftime("%m-%d") for day, _ in days],
                                _scan_series([c.first for _, c in days], [c.repeat for _, c in days],
                                             [c.not_on_sale + c.void for _, c in days]))
    s = d.spend
    if s.series and s.budget_fen:
        projection = (s.projected_end, s.budget_fen / 100) if s.projected_end and s.spent_fen < s.budget_fen else None
        out["spend"] = line_to_limit(
            tr("预算消耗（累计现金）", "Budget spent (cumulative cash)"), [(ts, fen / 100) for ts, fen in s.series],
            limit=s.budget_fen / 100, ticks=_midnights(s.series[0][0], projection[0] if projection else d.now),
            projection=projection,
            names=(tr("已花费", "Spent"), tr("预算", "Budget"),
                   tr("按近 24 小时速度预计", "Projected at the last 24 h's rate")),
            fmt="¥{}")
    return out
