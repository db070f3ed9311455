"""The payouts list's filters as a console page's query string or the ops API's parameters give them.

Dates read as the audit log's do (app/audit_filters.py): a plain day is a day of China time, `until`
included; a date-time carries its offset. Bad input is a FilterProblem naming the field (400).
"""

from __future__ import annotations

from collections.abc import Mapping

from app.audit_filters import SQL_INT_MAX, FilterProblem, parse_moment
from payouts.listing import MAX_PAGE, QUERY_MAX, STATES, PayoutFilter

FIELDS = ("state", "campaign_id", "q", "since", "until")


def _whole(raw: str, field: str, low: int, high: int) -> int:
    if not raw.isdigit() or len(raw) > 10 or not low <= int(raw) <= high:
        raise FilterProblem(field, f"must be a whole number {low}-{high}")
    return int(raw)


def parse_payout_filter(args: Mapping[str, str], *, strict: bool = False) -> PayoutFilter:
    """`strict` (the API): a parameter given must not be empty, and dates are RFC 3339."""
    state = args.get("state", "").strip()
    if state and state not in STATES:
        raise FilterProblem("state", f"must be one of {', '.join(STATES)}")
    if strict and "state" in args and not state:
        raise FilterProblem("state", "must not be empty")
    raw_campaign = args.get("campaign_id", "").strip()
    campaign_id = _whole(raw_campaign, "campaign_id", 0, SQL_INT_MAX) if raw_campaign or (
        strict and "campaign_id" in args) else None
    q = args.get("q", "").strip()
    if len(q) > QUERY_MAX or "\x00" in q:
        raise FilterProblem("q", f"at most {QUERY_MAX} characters, no NUL")
    since = parse_moment(args["since"], "since", end_of_day=False, strict=strict) if "since" in args else None
    until = parse_moment(args["until"], "until", end_of_day=True, strict=strict) if "until" in args else None
    return PayoutFilter(state=state or None, campaign_id=campaign_id, q=q, since=since, until=until)


def parse_limit(raw: str | None, default: int = 50) -> int:
    return default if raw is None else _whole(raw, "limit", 1, MAX_PAGE)


def parse_before_id(raw: str | None) -> int | None:
    return None if not raw else _whole(raw, "before_id", 1, SQL_INT_MAX)
