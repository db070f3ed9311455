"""Reading the fields of a campaign definition: what a definition may hold, the problems found (each at its
field's path), and one reader per section. rules/campaign.py puts them together (`read_definition`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from codegen.codeformat import MAX_BATCH_ID
from rules.errors import Kind, RulesError

PRIZE_KINDS = ("cash", "points", "coupon", "voucher", "physical")
CONSOLATION_KINDS = ("thanks", "points")
# Who draws. Consumers scan on the H5 page (rules/scan.py). The B side (channel/bside.py,
# channel/sell_through.py) draws for a store or its waiter: a store's staff scanning a case code they received
# (开箱), a waiter scanning a cap's inner code after the sale (开瓶), a consumer's first scan of an item of a
# case the store received (BC一体化 动销返利). A consumer scan never matches a B-side campaign; a B-side scan
# matches only campaigns of its own audience (rules/matcher.py).
CONSUMER_AUDIENCES = ("anyone", "members", "new_members")
STORE_OPEN_CASE, WAITER_OPEN_BOTTLE, STORE_SELL_THROUGH = "store_open_case", "waiter_open_bottle", "store_sell_through"
B_AUDIENCES = (STORE_OPEN_CASE, WAITER_OPEN_BOTTLE, STORE_SELL_THROUGH)
AUDIENCES = CONSUMER_AUDIENCES + B_AUDIENCES
ORDINALS = ("any", "first_scan", "member_first", "every_nth")
ROLES = ("inner", "outer")  # the roles of a consumer campaign
CODE_ROLES = ("inner", "outer", "case")  # every role a campaign's scope may name
# The code roles each B-side audience draws on (the first is its default): staff open a case by its case code;
# a waiter scans the cap's inner code; a sell-through follows the consumer's scan of an item.
B_ROLES = {STORE_OPEN_CASE: ("case",), WAITER_OPEN_BOTTLE: ("inner",), STORE_SELL_THROUGH: ("inner", "outer")}
B_PRIZE_KINDS = ("cash", "points")  # credited to the store's ledger (cash) or the points ledger
# A B-side cash prize is a line on the store's statement, not a WeChat red packet: no 1 元 floor.
MIN_B_CASH_FEN = 1
# Where a scan's region may come from (rules/scan.py: locate): the phone's location, or the client IP.
REGION_SOURCES = ("gps", "ip")
MAX_CASH_FEN = 20_000  # WeChat red packets: 1–200 元 each
MIN_CASH_FEN = 100

# Every field a definition may hold, in document order (the order problems are listed in). A field not
# listed is refused: a misspelt "region" would otherwise be ignored and the campaign run everywhere.
TOP_FIELDS = ("name", "brand", "priority", "exclusive", "window", "scope", "regions", "members", "ordinal",
              "first_scan_wins", "caps", "budget", "prizes", "consolation")
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "window": ("start", "end", "daily_hours", "timezone"),
    "scope": ("products", "batches", "serials", "roles"),
    "regions": ("include", "exclude", "sources"),
    "members": ("audience", "tiers", "tags", "tier_multipliers"),
    "ordinal": ("kind", "n"),
    "caps": ("per_member_daily", "per_member", "one_per_code"),
    "budget": ("total_fen", "daily_fen"),
    "prizes": ("kind", "name", "weight", "min_fen", "max_fen", "points", "total", "daily"),
    "consolation": ("kind", "name", "points"),
}
# An empty list is refused where both readings are wrong: taken literally ("none of these") the campaign
# matches nothing, taken as "any" an emptied picker silently widens a campaign that spends money. An empty
# exclude list is the exception: both readings agree that it excludes nothing.
EMPTY_MEANS_NOTHING = "is empty: it would match nothing (leave it out to mean 'any')"


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    # A rule added after definitions were first stored (unknown fields, another prize kind's fields, ...):
    # a stored definition that breaks only such rules still reads, with the values it was published with.
    newer_rule: bool = dataclasses.field(default=False, compare=False)  # `field` is taken here


class InvalidCampaign(RulesError):
    """A campaign (or a request about one) with problems, each naming its field."""

    code = "invalid_campaign"
    kind = Kind.INVALID

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems

    def details(self) -> dict[str, Any]:
        return {"problems": [{"field": p.field, "message": p.message} for p in self.problems]}


@dataclass(frozen=True, slots=True)
class Prize:
    index: int  # position in the campaign's prize table; the consolation is -1
    kind: str
    name: str
    weight: float  # probability of this prize per eligible draw
    min_fen: int = 0
    max_fen: int = 0
    points: int = 0
    total: int | None = None  # quantity over the campaign; None = limited only by the budget
    daily: int | None = None


@dataclass
class FieldReader:
    """Collects problems while reading fields; a field that fails reads as a neutral stand-in."""

    problems: list[Problem] = field(default_factory=list)

    newer: bool = False

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message, self.newer))

    @contextmanager
    def newer_rules(self) -> Iterator[None]:
        """Problems found inside are of rules added after definitions were first stored."""
        self.newer = True
        try:
            yield
        finally:
            self.newer = False

    def obj(self, doc: Any, where: str, fields: Sequence[str] = ()) -> dict[str, Any]:
        """`doc` as an object (None reads as {}); with `fields`, a key outside them is a problem."""
        if doc is None:
            return {}
        if not isinstance(doc, dict):
            self.fail(where, "must be an object")
            return {}
        self.known(doc, where, fields)
        return doc

    def known(self, doc: Mapping[str, Any], where: str, fields: Sequence[str]) -> None:
        for key in doc:
            if fields and key not in fields:
                prefix = f"{where}." if where else ""
                with self.newer_rules():
                    self.fail(f"{prefix}{key}", f"unknown field (expected one of {', '.join(fields)})")

    def int_(self, doc: Mapping[str, Any], key: str, where: str, *, low: int = 0, high: int = 1 << 40,
             required: bool = False) -> int | None:
        value = doc.get(key)
        if value is None:
            if required:
                self.fail(f"{where}.{key}".lstrip("."), "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self.fail(f"{where}.{key}".lstrip("."), "must be a whole number")
            return None
        if not low <= value <= high:
            self.fail(f"{where}.{key}".lstrip("."), f"must be between {low} and {high}")
            return None
        return value

    def str_list(self, doc: Mapping[str, Any], key: str, where: str, *, empty_ok: bool = False) -> list[str] | None:
        value = doc.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"{where}.{key}", "must be a list of non-empty strings")
            return None
        if not value and not empty_ok:
            self.fail(f"{where}.{key}", EMPTY_MEANS_NOTHING)
            return None
        return value


def _clock(text: Any, *, legacy: bool = False) -> int | None:
    """Minutes after midnight of "HH:MM" (24:00 included); `legacy`: as first stored definitions were read,
    with int() alone, which also takes " 8", "+8" and other scripts' digits."""
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return None
    digits = text[:2] + text[3:]
    if not legacy and not (digits.isascii() and digits.isdigit()):
        return None
    try:
        hours, minutes = int(text[:2]), int(text[3:])
    except ValueError:
        return None
    if text == "24:00":
        return 24 * 60
    return hours * 60 + minutes if 0 <= hours < 24 and 0 <= minutes < 60 else None


def read_prize(r: FieldReader, raw: Any, where: str, index: int, kinds: Sequence[str], *,
               min_cash_fen: int = MIN_CASH_FEN) -> Prize | None:
    doc = r.obj(raw, where)
    if not doc:
        if raw is not None and not isinstance(raw, dict):
            return None
        r.fail(where, "must describe a prize")
        return None
    kind = doc.get("kind")
    if not isinstance(kind, str) or kind not in kinds:
        r.fail(f"{where}.kind", f"must be one of {', '.join(kinds)}")
        return None  # the fields of the kind meant are not known: nothing more to say
    r.known(doc, where, SECTION_FIELDS["consolation" if index < 0 else "prizes"])
    with r.newer_rules():
        for key, owner in (("min_fen", "cash"), ("max_fen", "cash"), ("points", "points")):
            if kind != owner and doc.get(key) is not None:
                r.fail(f"{where}.{key}", f"only {owner} prizes have {key} (this one is {kind})")
    default_name = {"cash": "红包", "points": "积分", "thanks": "谢谢参与"}.get(kind, "")
    name = doc.get("name")
    if name is None:
        name = default_name
    elif not name and default_name:  # "", 0, false: first read as "the default"
        with r.newer_rules():
            r.fail(f"{where}.name", "must be 1-100 characters")
        name = default_name
    if not isinstance(name, str) or not name or len(name) > 100:
        r.fail(f"{where}.name", "must be 1-100 characters")
        name = ""
    weight = doc.get("weight", 0 if index < 0 else None)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        r.fail(f"{where}.weight", "must be a probability between 0 and 1 (e.g. 0.25 for 25 %)")
        weight = 0
    min_fen = max_fen = points = 0
    if kind == "cash":
        min_fen = r.int_(doc, "min_fen", where, low=min_cash_fen, high=MAX_CASH_FEN, required=True) or 0
        max_fen = r.int_(doc, "max_fen", where, low=min_cash_fen, high=MAX_CASH_FEN) or min_fen
        if max_fen < min_fen:
            r.fail(f"{where}.max_fen", "must not be below min_fen")
    if kind == "points":
        points = r.int_(doc, "points", where, low=1, high=1_000_000, required=True) or 0
    total = r.int_(doc, "total", where, low=1, high=100_000_000)
    daily = r.int_(doc, "daily", where, low=1, high=100_000_000)
    if total is not None and daily is not None and daily > total:
        r.fail(f"{where}.daily", "is above the total quantity")
    return Prize(index, kind, name, float(weight), min_fen, max_fen, points, total, daily)


def _position(problem: Problem) -> tuple[int, int]:
    """Where a problem's field sits in a definition: (top-level field, list item). Within one field the
    reader's order stands; a problem of a whole list (`prizes`: over 100 %) follows its items'."""
    head = problem.field.partition(".")[0]
    top, _, item = head.partition("[")
    order = (*TOP_FIELDS, top)  # an unknown top-level field sorts after the known ones
    return (order.index(top) + 1 if top else 0, int(item[:-1]) if item[:-1].isdigit() else 1 << 30)


def in_document_order(problems: Sequence[Problem]) -> list[Problem]:
    """Problems sorted by where their field sits in a definition (stable: one field's problems keep their order)."""
    return sorted(problems, key=_position)


def read_window(r: FieldReader, top: Mapping[str, Any]) -> tuple[datetime, datetime, tuple[int, int] | None, str]:
    window = r.obj(top.get("window"), "window", SECTION_FIELDS["window"])
    tz_name = window.get("timezone", "Asia/Shanghai")
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError):  # OSError: "Asia" is a directory
        r.fail("window.timezone", f"unknown time zone {tz_name!r}")
        tz, tz_name = ZoneInfo("Asia/Shanghai"), "Asia/Shanghai"
    bounds: list[datetime] = []
    parsed = 0
    for key in ("start", "end"):
        raw = window.get(key)
        try:
            moment = datetime.fromisoformat(raw) if isinstance(raw, str) else None
        except ValueError:
            moment = None
        if moment is not None and not 2000 <= moment.year <= 2100:
            r.fail(f"window.{key}", "must be between the years 2000 and 2100")
            moment = None
        elif moment is None:
            r.fail(f"window.{key}", "must be a date-time like 2026-12-01T00:00:00+08:00")
        else:
            parsed += 1
        moment = moment or datetime(2000, 1, 1, tzinfo=tz)
        bounds.append(moment if moment.tzinfo else moment.replace(tzinfo=tz))
    starts_at, ends_at = bounds
    if parsed == 2 and ends_at <= starts_at:
        r.fail("window.end", "ends before it starts")
    daily_minutes = None
    if window.get("daily_hours") is not None:
        hours = window["daily_hours"]
        pair = hours if isinstance(hours, list) and len(hours) == 2 else [None, None]
        for legacy in (False, True):
            start, end = _clock(pair[0], legacy=legacy), _clock(pair[1], legacy=legacy)
            if start == 24 * 60:
                start = None  # 24:00 ends a day; it cannot start one
            if start is None or end is None or start == end:
                continue
            if legacy:
                with r.newer_rules():
                    r.fail("window.daily_hours", 'must be ["HH:MM", "HH:MM"] in ASCII digits')
            daily_minutes = (start, end)
            break
        else:
            r.fail("window.daily_hours", 'must be ["HH:MM", "HH:MM"], two different times (end may be 24:00)')
    return starts_at, ends_at, daily_minutes, tz_name


@dataclass(frozen=True)
class Scope:
    products: list[str] | None
    batches: tuple[int, ...] | None
    serials: tuple[tuple[int, int], ...] | None
    roles: list[str]


def read_scope(r: FieldReader, top: Mapping[str, Any], audience: str = "anyone") -> Scope:
    """The scope; the code roles allowed (and the default) depend on the audience (B_ROLES)."""
    scope = r.obj(top.get("scope"), "scope", SECTION_FIELDS["scope"])
    products = r.str_list(scope, "products", "scope")
    batches_raw = scope.get("batches")
    batches: tuple[int, ...] | None = None
    if batches_raw is not None:
        if not isinstance(batches_raw, list) or not batches_raw or not all(
            isinstance(b, int) and not isinstance(b, bool) and 0 < b <= MAX_BATCH_ID for b in batches_raw
        ):
            # Bounded by the code format: a larger id names no batch and overflows SQL INTEGER.
            r.fail("scope.batches", f"must be a non-empty list of batch ids (1-{MAX_BATCH_ID})")
        else:
            batches = tuple(sorted(set(batches_raw)))
    serials = None
    if scope.get("serials") is not None:
        raw = scope["serials"]
        ok = isinstance(raw, list) and raw and all(
            isinstance(x, list) and len(x) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in x)
            and 0 <= x[0] <= x[1] for x in raw
        )
        if not ok:
            r.fail("scope.serials", "must be a non-empty list of [first, last] serial pairs with first <= last")
        elif scope.get("batches") is None:
            r.fail("scope.serials", "serial ranges need scope.batches (serials are numbered per batch)")
        elif batches is not None:
            serials = tuple(sorted((int(a), int(b)) for a, b in raw))
    allowed = B_ROLES.get(audience, ROLES)
    roles = r.str_list(scope, "roles", "scope") or [allowed[0]]
    if any(role not in allowed for role in roles):
        if audience in B_ROLES:
            r.fail("scope.roles", f"a {audience} campaign draws on {' and '.join(allowed)} codes only")
        else:
            r.fail("scope.roles", "may hold only inner and outer")
    return Scope(products, batches, serials, roles)


def read_regions(r: FieldReader, top: Mapping[str, Any]) -> tuple[list[str], list[str], tuple[str, ...]]:
    """The include and exclude prefixes (a malformed one is reported and left out, not looked up later),
    and the region sources the campaign trusts (default: both)."""
    regions = r.obj(top.get("regions"), "regions", SECTION_FIELDS["regions"])
    include = r.str_list(regions, "include", "regions") or []
    exclude = r.str_list(regions, "exclude", "regions", empty_ok=True) or []
    lists = []
    for key, prefixes in (("include", include), ("exclude", exclude)):
        wellformed = []
        for prefix in prefixes:
            if not (prefix.isascii() and prefix.isdigit()) or len(prefix) not in (2, 4, 6):
                r.fail(f"regions.{key}", f"{prefix!r} is not an adcode prefix (2, 4 or 6 digits)")
            else:
                wellformed.append(prefix)
        lists.append(wellformed)
    include, exclude = lists
    if include and all(any(p.startswith(x) for x in exclude) for p in include):
        r.fail("regions.exclude", "excludes every included region: the campaign could match nothing")
    return include, exclude, _read_sources(r, regions, bool(include or exclude))


def _read_sources(r: FieldReader, regions: Mapping[str, Any], limited: bool) -> tuple[str, ...]:
    raw = regions.get("sources")
    if raw is None:
        return REGION_SOURCES
    if not isinstance(raw, list) or not raw or not all(s in REGION_SOURCES for s in raw) or len(set(raw)) != len(raw):
        r.fail("regions.sources", f"must list one or both of {', '.join(REGION_SOURCES)} (each once)")
        return REGION_SOURCES
    if not limited:
        r.fail("regions.sources", "says where a scan's region may come from: it needs regions.include or exclude")
    return tuple(s for s in REGION_SOURCES if s in raw)
