"""The audit log's filters as a page's query string or the API's parameters give them, scoped to the caller.

Dates: a plain day (2026-12-02) is a day of China time, `until` included; a date-time must carry its
offset (2026-12-02T08:00:00+08:00). A brand the caller may not see reads exactly like an unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from accounts.audit import AuditFilter
from accounts.roles import Principal
from app.console_format import CHINA
from app.errors import RequestError
from codegen.errors import Kind

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                        r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?"
                      r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
TEXT_MAX = 100
SQL_INT_MAX = (1 << 31) - 1  # ids are SQL INTEGER


class FilterProblem(RequestError, ValueError):
    """A filter the caller got wrong: `field` names it."""

    code = "invalid_filter"
    kind = Kind.INVALID

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message

    def details(self) -> dict[str, Any]:
        return {"problems": [{"field": self.field, "message": self.message}]}


def _moment(value: str, field: str, end_of_day: bool, strict: bool) -> datetime | None:
    """The instant `value` names (None: no bound). A bound beyond what a datetime holds in UTC (year 1 at
    +08:00 is year 0 in UTC) is no bound at all for `since`, and the start of time for `until`.
    `strict` (the API): RFC 3339 only (a full-date or a date-time with seconds and "T"), and given means
    not empty; a form leaves an unused field empty."""
    if not strict:
        value = value.strip()
        if not value:
            return None
    try:
        if _DAY.fullmatch(value):
            moment = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=CHINA)
        elif (_RFC3339 if strict else _DATE_TIME).fullmatch(value):
            moment = datetime.fromisoformat(value.upper().replace(" ", "T"))
        else:
            raise ValueError(value)
    except ValueError:
        raise FilterProblem(field, "must be a day (2026-12-02, China time) or a date-time with its offset "
                                   "(2026-12-02T08:00:00+08:00)") from None
    try:
        if end_of_day and _DAY.fullmatch(value):
            moment += timedelta(days=1)  # a day named as `until` is included whole
        return moment.astimezone(UTC)
    except OverflowError:
        return datetime.min.replace(tzinfo=UTC) if field == "until" and moment.year == 1 else None


def parse_moment(value: str, field: str, *, end_of_day: bool, strict: bool = False) -> datetime | None:
    """A `since` (end_of_day False) or `until` (True) bound as the audit log reads it: other lists with
    date filters (payouts) read dates the same way."""
    return _moment(value, field, end_of_day, strict)


def parse_audit_filter(args: Mapping[str, str], who: Principal, brand_ids_by_slug: Mapping[str, int], *,
                       strict: bool = False) -> AuditFilter:
    """The filter for `args` (brand, action, actor, target, since, until) within what `who` may read.
    `brand_ids_by_slug`: the brands the caller may read. Raises FilterProblem naming the field.
    `strict`: the API's reading of since / until (see `_moment`)."""
    readable = who.readable_brand_ids()
    slug = args.get("brand", "").strip()
    brand_ids: frozenset[int] | None = readable
    if slug:
        if slug not in brand_ids_by_slug:
            raise FilterProblem("brand", f"unknown brand {slug[:TEXT_MAX]!r}")
        brand_ids = frozenset({brand_ids_by_slug[slug]})
    texts = {}
    for name in ("action", "actor", "target"):
        texts[name] = args.get(name, "").strip()
        if len(texts[name]) > TEXT_MAX:
            raise FilterProblem(name, f"at most {TEXT_MAX} characters")
        if "\x00" in texts[name]:  # PostgreSQL text cannot hold one
            raise FilterProblem(name, "must not contain NUL characters")
    since = _moment(args["since"], "since", False, strict) if "since" in args else None
    until = _moment(args["until"], "until", True, strict) if "until" in args else None
    return AuditFilter(brand_ids=brand_ids, action=texts["action"], actor=texts["actor"], target=texts["target"],
                       since=since, until=until)


def parse_before_id(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10 or not 1 <= int(raw) <= SQL_INT_MAX:
        raise FilterProblem("before_id", "must be an entry id")
    return int(raw)
