"""A dashboard's figures as CSV, one figure per row group, long form: figure, bucket, label, series, value.

Long form keeps every figure in one file a spreadsheet pivots as it likes. Times are local
(REPORT_UTC_OFFSET_S) ISO 8601 with their offset; money in fen, as everywhere in yima.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from reports.dashboard import Dashboard
from reports.rollups import REPORT_UTC_OFFSET_S
from reports.scans import Counts

LOCAL = timezone(timedelta(seconds=REPORT_UTC_OFFSET_S))
HEADER = ("figure", "bucket", "label", "series", "value")
Row = tuple[str, str, str, str, str | int]


def local_time(ts: int, spec: str = "minutes") -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(LOCAL).isoformat(timespec=spec)


def local_date(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).astimezone(LOCAL).date().isoformat()


def _counts(figure: str, bucket: str, label: str, c: Counts) -> Iterator[Row]:
    yield figure, bucket, label, "first", c.first
    yield figure, bucket, label, "repeat", c.repeat
    yield figure, bucket, label, "not_on_sale", c.not_on_sale
    yield figure, bucket, label, "void", c.void


def _share(share: float | None) -> str:
    return "" if share is None else f"{share:.4f}"


def rows(d: Dashboard) -> Iterator[Row]:
    period = f"{local_date(d.period.start)}/{local_date(d.period.end)}"
    yield from _counts("totals", period, "", d.totals)
    yield "totals", period, "", "first_share", _share(d.totals.first_share)
    yield "totals", period, "", "forged", d.forged
    for p in d.last_hour:
        yield from _counts("scans_per_minute", local_time(p.minute), "", p.counts)
        yield "scans_per_minute", local_time(p.minute), "", "forged", p.forged
    for day, counts in d.by_day:
        yield from _counts("scans_per_day", local_date(day), "", counts)
    for hour, counts in enumerate(d.by_hour_of_day):
        yield from _counts("scans_by_hour_of_day", f"{hour:02d}", "", counts)
    for figure, places in (("top_provinces", d.provinces), ("top_cities", d.cities)):
        for place in places:
            yield figure, place.code, place.name, "scans", place.scans
            yield figure, place.code, place.name, "first", place.first
    for w in d.prizes:
        bucket, label = f"{w.campaign_id}:{w.prize.index}", w.prize.name
        yield "wins_by_prize", bucket, label, "won", w.won
        yield "wins_by_prize", bucket, label, "void", w.void
        yield "wins_by_prize", bucket, label, "amount_fen", w.amount_fen
        yield "wins_by_prize", bucket, label, "points", w.points
        yield "wins_by_prize", bucket, label, "stock_left", "" if w.left is None else w.left
    s = d.spend
    yield "spend", "", "", "budget_fen", s.budget_fen
    yield "spend", "", "", "spent_fen", s.spent_fen
    yield "spend", "", "", "rate_fen_per_day", s.rate_fen_per_day
    yield "spend", "", "", "projected_end", "" if s.projected_end is None else local_time(s.projected_end)
    for ts, cumulative in s.series:
        yield "spend_over_time", local_time(ts), "", "cumulative_fen", cumulative
    for row in d.campaigns:
        c = row.campaign
        yield from _counts("campaigns", str(c.id), c.name, row.counts)
        yield "campaigns", str(c.id), c.name, "status", c.status
        yield "campaigns", str(c.id), c.name, "budget_fen", c.budget_fen
        yield "campaigns", str(c.id), c.name, "spent_fen", row.spent_fen
        yield "campaigns", str(c.id), c.name, "projected_end", "" if row.projected_end is None else local_time(
            row.projected_end)


def dashboard_csv(d: Dashboard) -> str:
    """The CSV text, with a byte-order mark so spreadsheet programs read the Chinese names as UTF-8."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows(d))
    return out.getvalue()
