"""Campaign definitions: what an operator writes, how it is validated, and what it compiles to.

A definition is a JSON object (the API's body, stored as-is in SQL). `read_definition` checks every field on
its own and returns the problems it found with a best-effort `Definition`, so the catalogue can still be
checked from a partly broken document (rules/campaign_store.py `validate_campaign` reports both together);
`parse_definition` raises them. Every problem names its field by a stable path (`prizes[2].weight`,
`window.start`, `regions.include`): the editor shows it at that field. `compile_campaign` turns a valid
definition plus catalogue ids into a `CompiledCampaign`, the immutable form the matcher and the draw use.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from codegen.codeformat import MAX_BATCH_ID

PRIZE_KINDS = ("cash", "points", "coupon", "voucher", "physical")
CONSOLATION_KINDS = ("thanks", "points")
AUDIENCES = ("anyone", "members", "new_members")
ORDINALS = ("any", "first_scan", "member_first", "every_nth")
ROLES = ("inner", "outer")
MAX_CASH_FEN = 20_000  # WeChat red packets: 1–200 元 each
MIN_CASH_FEN = 100

# Every field a definition may hold, in document order (the order problems are listed in). A field not
# listed is refused: a misspelt "region" would otherwise be ignored and the campaign run everywhere.
TOP_FIELDS = ("name", "brand", "priority", "exclusive", "window", "scope", "regions", "members", "ordinal",
              "first_scan_wins", "caps", "budget", "prizes", "consolation")
SECTION_FIELDS: dict[str, tuple[str, ...]] = {
    "window": ("start", "end", "daily_hours", "timezone"),
    "scope": ("products", "batches", "serials", "roles"),
    "regions": ("include", "exclude"),
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


class InvalidCampaign(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("; ".join(f"{p.field}: {p.message}" for p in problems))
        self.problems = problems


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


@dataclass(frozen=True, slots=True)
class CompiledCampaign:
    id: int
    name: str
    brand_id: int
    priority: int
    exclusive: bool
    starts_at: float  # unix seconds
    ends_at: float
    daily_minutes: tuple[int, int] | None  # [start, end) minutes after local midnight
    utc_offset_minutes: int  # the campaign's time zone (Asia/Shanghai: +480), fixed for the window
    product_ids: frozenset[int] | None  # None: any product of the brand
    batch_ids: frozenset[int] | None
    serial_ranges: tuple[tuple[int, int], ...] | None
    roles: frozenset[str]
    region_include: tuple[str, ...]  # adcode prefixes; empty: everywhere
    region_exclude: tuple[str, ...]
    audience: str
    tiers: frozenset[str] | None
    tags: frozenset[str] | None  # the member needs any one of these
    tier_multipliers: Mapping[str, float]
    ordinal: str
    nth: int
    first_scan_wins: bool
    per_member_daily: int | None
    per_member: int | None
    one_per_code: bool
    budget_fen: int
    daily_budget_fen: int | None
    prizes: tuple[Prize, ...]
    consolation: Prize | None
    version: int = 0  # the campaign row's edit counter when compiled

    @property
    def win_probability(self) -> float:
        return min(1.0, sum(p.weight for p in self.prizes))


# --- parsing -----------------------------------------------------------------------------------------


@dataclass
class _Reader:
    problems: list[Problem] = field(default_factory=list)

    def fail(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

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


@dataclass(frozen=True)
class Definition:
    """A parsed, self-consistent definition, before catalogue ids are resolved."""

    doc: dict[str, Any]
    name: str
    brand: str
    priority: int
    exclusive: bool
    starts_at: datetime
    ends_at: datetime
    daily_minutes: tuple[int, int] | None
    timezone: str
    products: tuple[str, ...] | None
    batches: tuple[int, ...] | None
    serials: tuple[tuple[int, int], ...] | None
    roles: tuple[str, ...]
    region_include: tuple[str, ...]
    region_exclude: tuple[str, ...]
    audience: str
    tiers: tuple[str, ...] | None
    tags: tuple[str, ...] | None
    tier_multipliers: dict[str, float]
    ordinal: str
    nth: int
    first_scan_wins: bool
    per_member_daily: int | None
    per_member: int | None
    one_per_code: bool
    budget_fen: int
    daily_budget_fen: int | None
    prizes: tuple[Prize, ...]
    consolation: Prize | None

    @property
    def utc_offset_minutes(self) -> int:
        """The campaign's UTC offset, fixed for its window: the offset in force when it starts."""
        offset = self.starts_at.astimezone(ZoneInfo(self.timezone)).utcoffset()
        return int(offset.total_seconds() // 60) if offset else 0

    @property
    def worst_case_fen(self) -> int | None:
        """Most the prize quantities could pay in cash; None when a cash prize has no total quantity."""
        top = max([1.0, *self.tier_multipliers.values()])
        total = 0
        for prize in self.prizes:
            if prize.kind != "cash":
                continue
            if prize.total is None:
                return None
            total += math.ceil(prize.max_fen * top) * prize.total
        return total


def _clock(text: Any) -> int | None:
    if not isinstance(text, str) or len(text) != 5 or text[2] != ":":
        return None
    try:
        hours, minutes = int(text[:2]), int(text[3:])
    except ValueError:
        return None
    if text == "24:00":
        return 24 * 60
    return hours * 60 + minutes if 0 <= hours < 24 and 0 <= minutes < 60 else None


def _parse_prize(r: _Reader, raw: Any, where: str, index: int, kinds: Sequence[str]) -> Prize | None:
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
    name = doc.get("name") or {"cash": "红包", "points": "积分", "thanks": "谢谢参与"}.get(kind, "")
    if not isinstance(name, str) or not name or len(name) > 100:
        r.fail(f"{where}.name", "must be 1-100 characters")
        name = ""
    weight = doc.get("weight", 0 if index < 0 else None)
    if isinstance(weight, bool) or not isinstance(weight, int | float) or not 0 <= weight <= 1:
        r.fail(f"{where}.weight", "must be a probability between 0 and 1 (e.g. 0.25 for 25 %)")
        weight = 0
    min_fen = max_fen = points = 0
    if kind == "cash":
        min_fen = r.int_(doc, "min_fen", where, low=MIN_CASH_FEN, high=MAX_CASH_FEN, required=True) or 0
        max_fen = r.int_(doc, "max_fen", where, low=MIN_CASH_FEN, high=MAX_CASH_FEN) or min_fen
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


def _window(r: _Reader, top: Mapping[str, Any]) -> tuple[datetime, datetime, tuple[int, int] | None, str]:
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
        start = _clock(hours[0]) if isinstance(hours, list) and len(hours) == 2 else None
        end = _clock(hours[1]) if isinstance(hours, list) and len(hours) == 2 else None
        if start == 24 * 60:
            start = None  # 24:00 ends a day; it cannot start one
        if start is None or end is None or start == end:
            r.fail("window.daily_hours", 'must be ["HH:MM", "HH:MM"], two different times (end may be 24:00)')
        else:
            daily_minutes = (start, end)
    return starts_at, ends_at, daily_minutes, tz_name


@dataclass(frozen=True)
class _Scope:
    products: list[str] | None
    batches: tuple[int, ...] | None
    serials: tuple[tuple[int, int], ...] | None
    roles: list[str]


def _scope(r: _Reader, top: Mapping[str, Any]) -> _Scope:
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
    roles = r.str_list(scope, "roles", "scope") or ["inner"]
    if any(role not in ROLES for role in roles):
        r.fail("scope.roles", "may hold only inner and outer")
    return _Scope(products, batches, serials, roles)


def _regions(r: _Reader, top: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """The include and exclude prefixes; a malformed one is reported and left out (not looked up later)."""
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
    return include, exclude


def read_definition(doc: Any) -> tuple[Definition | None, list[Problem]]:
    """Check a definition on its own (no catalogue): a best-effort Definition and every problem found.

    Where a field is wrong the Definition holds a neutral stand-in (no products, no batches, the year
    2000, ...), so what is right in the document can still be checked; it is None only when `doc` is not
    an object. Use the Definition for anything else only when the problem list is empty.
    """
    r = _Reader()
    if not isinstance(doc, dict):
        return None, [Problem("", "the campaign must be a JSON object")]
    top = doc
    r.known(top, "", TOP_FIELDS)
    name = top.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        r.fail("name", "must be 1-200 characters")
        name = ""
    brand = top.get("brand")
    if not isinstance(brand, str) or not brand:
        r.fail("brand", "is required (the brand's slug)")
        brand = ""
    priority = r.int_(top, "priority", "", low=-1000, high=1000) or 0
    exclusive = top.get("exclusive", False)
    if not isinstance(exclusive, bool):
        r.fail("exclusive", "must be true or false")
        exclusive = False

    starts_at, ends_at, daily_minutes, tz_name = _window(r, top)
    scope = _scope(r, top)
    include, exclude = _regions(r, top)

    members = r.obj(top.get("members"), "members", SECTION_FIELDS["members"])
    audience = members.get("audience", "anyone")
    if audience not in AUDIENCES:
        r.fail("members.audience", f"must be one of {', '.join(AUDIENCES)}")
        audience = "anyone"
    tiers = r.str_list(members, "tiers", "members")
    tags = r.str_list(members, "tags", "members")
    multipliers: dict[str, float] = {}
    raw_mult = members.get("tier_multipliers") or {}
    if not isinstance(raw_mult, dict):
        r.fail("members.tier_multipliers", "must map a tier to a multiplier, e.g. {\"gold\": 2}")
    else:
        for tier, mult in raw_mult.items():
            if isinstance(mult, bool) or not isinstance(mult, int | float) or not 0 < mult <= 10:
                r.fail("members.tier_multipliers", f"multiplier of {tier!r} must be above 0 and at most 10")
            else:
                multipliers[str(tier)] = float(mult)
    if (tiers or multipliers or tags) and audience == "anyone" and tiers:
        audience = "members"  # a tier requirement implies membership

    ordinal_doc = r.obj(top.get("ordinal"), "ordinal", SECTION_FIELDS["ordinal"])
    ordinal = ordinal_doc.get("kind", "any")
    if ordinal not in ORDINALS:
        r.fail("ordinal.kind", f"must be one of {', '.join(ORDINALS)}")
        ordinal = "any"
    nth = 1
    if ordinal == "every_nth":
        nth = r.int_(ordinal_doc, "n", "ordinal", low=2, high=1_000_000, required=True) or 2
    first_scan_wins = top.get("first_scan_wins", False)
    if not isinstance(first_scan_wins, bool):
        r.fail("first_scan_wins", "must be true or false")
        first_scan_wins = False

    caps = r.obj(top.get("caps"), "caps", SECTION_FIELDS["caps"])
    per_member_daily = r.int_(caps, "per_member_daily", "caps", low=1, high=1_000_000)
    per_member = r.int_(caps, "per_member", "caps", low=1, high=1_000_000)
    one_per_code = caps.get("one_per_code", True)
    if not isinstance(one_per_code, bool):
        r.fail("caps.one_per_code", "must be true or false")
        one_per_code = True
    if (per_member_daily or per_member) and audience == "anyone":
        r.fail("caps", "per-member caps need members.audience members or new_members")

    budget = r.obj(top.get("budget"), "budget", SECTION_FIELDS["budget"])
    budget_fen = r.int_(budget, "total_fen", "budget", low=0, high=10**12, required=True) or 0
    daily_budget_fen = r.int_(budget, "daily_fen", "budget", low=1, high=10**12)
    if daily_budget_fen is not None and daily_budget_fen > budget_fen:
        r.fail("budget.daily_fen", "is above the total budget")

    raw_prizes = top.get("prizes")
    prizes: list[Prize] = []
    if not isinstance(raw_prizes, list) or not raw_prizes:
        r.fail("prizes", "needs at least one prize")
    else:
        for i, raw in enumerate(raw_prizes):
            prize = _parse_prize(r, raw, f"prizes[{i}]", i, PRIZE_KINDS)
            if prize is not None:
                prizes.append(prize)
        total_weight = sum(p.weight for p in prizes)
        if total_weight > 1 + 1e-9:
            r.fail("prizes", f"probabilities add up to {total_weight:.1%}, over 100 %")
    consolation = None
    if top.get("consolation") is not None:
        consolation = _parse_prize(r, top["consolation"], "consolation", -1, CONSOLATION_KINDS)
    if first_scan_wins and consolation is None and sum(p.weight for p in prizes) < 1 - 1e-9:
        r.fail("consolation", "首扫必中 (first_scan_wins) needs a consolation prize for when the draw misses")

    definition = Definition(
        doc=top, name=name.strip(), brand=brand, priority=priority, exclusive=exclusive,
        starts_at=starts_at, ends_at=ends_at, daily_minutes=daily_minutes, timezone=tz_name,
        products=tuple(scope.products) if scope.products else None, batches=scope.batches, serials=scope.serials,
        roles=tuple(scope.roles), region_include=tuple(include), region_exclude=tuple(exclude), audience=audience,
        tiers=tuple(tiers) if tiers else None, tags=tuple(tags) if tags else None, tier_multipliers=multipliers,
        ordinal=ordinal, nth=nth, first_scan_wins=first_scan_wins, per_member_daily=per_member_daily,
        per_member=per_member, one_per_code=one_per_code, budget_fen=budget_fen,
        daily_budget_fen=daily_budget_fen, prizes=tuple(prizes), consolation=consolation,
    )
    top_multiplier = max([1.0, *multipliers.values()])
    for prize in prizes:
        if prize.kind == "cash" and prize.max_fen * top_multiplier > MAX_CASH_FEN:
            r.fail("members.tier_multipliers", f"{prize.name}: {prize.max_fen / 100:.2f} 元 × {top_multiplier:g} "
                                               f"exceeds the 200 元 limit of one red packet")
    worst = definition.worst_case_fen
    if worst is not None and worst > budget_fen and "budget.total_fen" not in {p.field for p in r.problems}:
        r.fail("budget.total_fen", f"{budget_fen / 100:.2f} 元 is below the worst case of the prize quantities, "
                                   f"{worst / 100:.2f} 元: raise the budget or lower the quantities")
    return definition, in_document_order(r.problems)


def parse_definition(doc: Any) -> Definition:
    """Validate a definition on its own (no catalogue); raise InvalidCampaign listing every problem."""
    definition, problems = read_definition(doc)
    if problems or definition is None:
        raise InvalidCampaign(problems)
    return definition


def compile_campaign(campaign_id: int, version: int, d: Definition, *, brand_id: int,
                     product_ids: frozenset[int] | None) -> CompiledCampaign:
    return CompiledCampaign(
        id=campaign_id, name=d.name, brand_id=brand_id, priority=d.priority, exclusive=d.exclusive,
        starts_at=d.starts_at.timestamp(), ends_at=d.ends_at.timestamp(), daily_minutes=d.daily_minutes,
        utc_offset_minutes=d.utc_offset_minutes,
        product_ids=product_ids, batch_ids=frozenset(d.batches) if d.batches else None,
        serial_ranges=d.serials, roles=frozenset(d.roles), region_include=d.region_include,
        region_exclude=d.region_exclude, audience=d.audience, tiers=frozenset(d.tiers) if d.tiers else None,
        tags=frozenset(d.tags) if d.tags else None, tier_multipliers=dict(d.tier_multipliers),
        ordinal=d.ordinal, nth=d.nth, first_scan_wins=d.first_scan_wins, per_member_daily=d.per_member_daily,
        per_member=d.per_member, one_per_code=d.one_per_code, budget_fen=d.budget_fen,
        daily_budget_fen=d.daily_budget_fen, prizes=d.prizes, consolation=d.consolation, version=version,
    )
