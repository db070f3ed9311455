"""The audit log's filters as a page's query string or the API's parameters give them, scoped to the caller.

Dates: a plain day (2026-12-02) is a day of China time, `until` included; a date-time must carry its
offset (2026-12-02T08:00:00+08:00). A brand the caller may not see reads exactly like an unknown one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timedelta

from accounts.audit import AuditFilter
from accounts.roles import Principal
from app.console_format import CHINA

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_DATE_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
                        r"([Zz]|[+-][0-9]{2}:[0-9]{2})")
TEXT_MAX = 100


class FilterProblem(ValueError):
    """A filter the caller got wrong: `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def _moment(value: str, field: str, end_of_day: bool) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        if _DAY.fullmatch(value):
            day = datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=CHINA)
            return day + timedelta(days=1) if end_of_day else day
        if _DATE_TIME.fullmatch(value):
            return datetime.fromisoformat(value.upper().replace(" ", "T"))
    except (ValueError, OverflowError):
        pass
    raise FilterProblem(field, "must be a day (2026-12-02, China time) or a date-time with its offset "
                               "(2026-12-02T08:00:00+08:00)")


def parse_audit_filter(args: Mapping[str, str], who: Principal, brand_ids_by_slug: Mapping[str, int]) -> AuditFilter:
    """The filter for `args` (brand, action, actor, target, since, until) within what `who` may read.
    `brand_ids_by_slug`: the brands the caller may read. Raises FilterProblem naming the field."""
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
    since, until = _moment(args.get("since", ""), "since", False), _moment(args.get("until", ""), "until", True)
    if since and until and since >= until:
        raise FilterProblem("until", "must come after since")
    return AuditFilter(brand_ids=brand_ids, action=texts["action"], actor=texts["actor"], target=texts["target"],
                       since=since, until=until)


def parse_before_id(raw: str | None) -> int | None:
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 10:
        raise FilterProblem("before_id", "must be an entry id")
    return int(raw)
