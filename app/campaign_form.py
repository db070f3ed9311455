"""The campaign editor's form ↔ a campaign definition (rules/campaign.py), both ways, exactly.

`read_form` keeps what the operator typed, as typed (strings), so a page with errors shows it all again;
`form_to_definition` turns it into the definition the API takes, plus the problems only the form can
have (text where a number belongs), named with the definition's own paths (`budget.total_fen`,
`prizes[2].weight`) so they show at the same fields as the validator's. Money is 元 in the form and fen
in the definition, converted with Decimal (no float rounding); probabilities are % in the form.
`definition_to_form` fills the form from a stored definition.
"""

from __future__ import annotations

import contextlib
import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rules.campaign import Problem

DEFAULT_TIMEZONE = "Asia/Shanghai"
_LIST_SPLIT = re.compile(r"[,，、;；\s]+")


class FormData(Protocol):
    """What a submitted form offers (werkzeug's MultiDict does)."""

    def get(self, key: str, default: Any = None) -> Any: ...

    def getlist(self, key: str) -> list[str]: ...


@dataclass
class PrizeRow:
    kind: str = "cash"
    name: str = ""
    min_yuan: str = ""
    max_yuan: str = ""
    points: str = ""
    percent: str = ""
    total: str = ""
    daily: str = ""


@dataclass
class CampaignForm:
    name: str = ""
    brand: str = ""
    priority: str = "0"
    exclusive: bool = False
    start: str = ""  # datetime-local, in `timezone`
    end: str = ""
    timezone: str = DEFAULT_TIMEZONE
    daily_from: str = ""
    daily_to: str = ""
    products: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    serials: list[tuple[str, str]] = field(default_factory=list)
    roles: list[str] = field(default_factory=lambda: ["inner"])
    include: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    region_sources: str = "gps,ip"  # which region sources the campaign trusts, comma-separated
    audience: str = "anyone"
    tiers: str = ""
    tags: str = ""
    multipliers: list[tuple[str, str]] = field(default_factory=list)
    ordinal: str = "any"
    nth: str = ""
    first_scan_wins: bool = False
    per_member_daily: str = ""
    per_member: str = ""
    one_per_code: bool = True
    budget_yuan: str = ""
    daily_budget_yuan: str = ""
    prizes: list[PrizeRow] = field(default_factory=lambda: [PrizeRow()])
    consolation_kind: str = ""  # "" none, thanks, points
    consolation_name: str = ""
    consolation_points: str = ""


# --- numbers -----------------------------------------------------------------------------------------


class _Bad(ValueError):
    pass


def _decimal(text: str) -> Decimal:
    cleaned = text.strip().replace(",", "").replace("，", "").removesuffix("元").removeprefix("¥").strip()
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise _Bad("is not a number") from None
    if not value.is_finite():
        raise _Bad("is not a number")
    if value.adjusted() > 15:  # 1e999999999 would take the int conversion minutes
        raise _Bad("is too large")
    return value


def yuan_to_fen(text: str) -> int:
    """'1.5' 元 → 150 fen, exactly; more than two decimals (below 1 分) is an error."""
    fen = _decimal(text) * 100
    if fen != fen.to_integral_value():
        raise _Bad("has more than two decimals (the smallest unit is 0.01 元)")
    return int(fen)


def fen_to_yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), 100)
    return f"{sign}{whole}" if cents == 0 else f"{sign}{whole}.{cents:02d}"


def percent_to_weight(text: str) -> float:
    """'60' % → 0.6; the float is the nearest to the exact decimal, so weight → % → weight is exact."""
    return float(_decimal(text) / 100)


def weight_to_percent(weight: float) -> str:
    return _plain(Decimal(repr(float(weight))) * 100)


def _plain(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


def _whole(text: str) -> int:
    cleaned = text.strip().replace(",", "")
    if not re.fullmatch(r"[+-]?[0-9]{1,18}", cleaned):
        raise _Bad("must be a whole number")
    return int(cleaned)


def _split(text: str) -> list[str]:
    return [part for part in _LIST_SPLIT.split(text.strip()) if part]


# --- reading the posted form -------------------------------------------------------------------------


def _clean(value: Any) -> str:
    # No browser sends NUL, and PostgreSQL text cannot hold it: dropped rather than stored or refused.
    return str(value or "").replace("\x00", "")


def _rows(data: FormData, *names: str) -> list[tuple[str, ...]]:
    columns = [[_clean(v) for v in data.getlist(n)] for n in names]
    count = max((len(c) for c in columns), default=0)
    return [tuple((c[i] if i < len(c) else "").strip() for c in columns) for i in range(count)]


def read_form(data: FormData) -> CampaignForm:
    """The form exactly as posted (trimmed), whatever it holds."""

    def text(key: str, default: str = "") -> str:
        return _clean(data.get(key, default)).strip()

    def values(key: str) -> list[str]:
        return [v for v in (_clean(v).strip() for v in data.getlist(key)) if v]

    prizes = [PrizeRow(*row) for row in _rows(data, "prize_kind", "prize_name", "prize_min", "prize_max",
                                               "prize_points", "prize_percent", "prize_total", "prize_daily")]
    return CampaignForm(
        name=text("name"), brand=text("brand"), priority=text("priority"), exclusive=bool(data.get("exclusive")),
        start=text("window_start"), end=text("window_end"), timezone=text("timezone") or DEFAULT_TIMEZONE,
        daily_from=text("daily_from"), daily_to=text("daily_to"),
        products=values("products"), batches=values("batches"),
        serials=[(a, b) for a, b in _rows(data, "serial_first", "serial_last") if a or b],
        roles=values("roles"), include=values("region_include"), exclude=values("region_exclude"),
        region_sources=text("region_sources", "gps,ip") or "gps,ip",
        audience=text("audience", "anyone"), tiers=text("tiers"), tags=text("tags"),
        multipliers=[(a, b) for a, b in _rows(data, "mult_tier", "mult_value") if a or b],
        ordinal=text("ordinal", "any"), nth=text("nth"), first_scan_wins=bool(data.get("first_scan_wins")),
        per_member_daily=text("per_member_daily"), per_member=text("per_member"),
        one_per_code=bool(data.get("one_per_code")),
        budget_yuan=text("budget_yuan"), daily_budget_yuan=text("daily_budget_yuan"),
        prizes=prizes,
        consolation_kind=text("consolation_kind"), consolation_name=text("consolation_name"),
        consolation_points=text("consolation_points"),
    )


# --- form → definition -------------------------------------------------------------------------------


def _local_to_iso(local: str, tz_name: str) -> str:
    """A datetime-local value in the campaign's zone → ISO with its offset (naive when the zone is unknown,
    so the validator reports the zone, not the time)."""
    try:
        moment = datetime.fromisoformat(local)
    except ValueError:
        raise _Bad("must be a date and time") from None
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(tz_name))
        except (ZoneInfoNotFoundError, ValueError, OSError):
            return moment.isoformat(timespec="seconds")
    return moment.isoformat(timespec="seconds")


def form_to_definition(form: CampaignForm) -> tuple[dict[str, Any], list[Problem]]:
    """The definition the form describes, and the problems only the form can have (unreadable numbers)."""
    problems: list[Problem] = []

    def convert(where: str, text: str, how: Any) -> Any:
        if not text:
            return None
        try:
            return how(text)
        except _Bad as exc:
            problems.append(Problem(where, f"{text!r} {exc}"))
            return None

    doc: dict[str, Any] = {"name": form.name, "brand": form.brand}
    doc["priority"] = convert("priority", form.priority, _whole) or 0
    doc["exclusive"] = form.exclusive

    window: dict[str, Any] = {"timezone": form.timezone}
    for key, value in (("start", form.start), ("end", form.end)):
        iso = convert(f"window.{key}", value, lambda v: _local_to_iso(v, form.timezone))
        if iso is not None:
            window[key] = iso
    if form.daily_from or form.daily_to:
        window["daily_hours"] = [form.daily_from, form.daily_to]
    doc["window"] = window

    scope: dict[str, Any] = {"roles": list(form.roles)}
    if form.products:
        scope["products"] = list(form.products)
    if form.batches:
        ids = [convert("scope.batches", b, _whole) for b in form.batches]
        scope["batches"] = [i for i in ids if i is not None]
    if form.serials:
        pairs = [[convert("scope.serials", a, _whole), convert("scope.serials", b, _whole)] for a, b in form.serials]
        scope["serials"] = [p for p in pairs if None not in p]
    doc["scope"] = scope

    regions: dict[str, Any] = {}
    if form.include:
        regions["include"] = list(form.include)
    if form.exclude:
        regions["exclude"] = list(form.exclude)
    sources = [s for s in form.region_sources.split(",") if s]
    if regions and sorted(sources) != ["gps", "ip"]:
        regions["sources"] = sources  # the default (both) is left out of the document
    if regions:
        doc["regions"] = regions

    members: dict[str, Any] = {"audience": form.audience}
    if _split(form.tiers):
        members["tiers"] = _split(form.tiers)
    if _split(form.tags):
        members["tags"] = _split(form.tags)
    multipliers: dict[str, float] = {}
    for tier, value in form.multipliers:
        number = convert("members.tier_multipliers", value, lambda v: float(_decimal(v)))
        if not tier:
            problems.append(Problem("members.tier_multipliers", "a multiplier needs its tier"))
        elif number is None and not value:
            problems.append(Problem("members.tier_multipliers", f"the multiplier of {tier!r} is missing"))
        elif number is not None:
            multipliers[tier] = number
    if multipliers:
        members["tier_multipliers"] = multipliers
    doc["members"] = members

    ordinal: dict[str, Any] = {"kind": form.ordinal}
    if form.ordinal == "every_nth":
        n = convert("ordinal.n", form.nth, _whole)
        if n is not None:
            ordinal["n"] = n
    doc["ordinal"] = ordinal
    doc["first_scan_wins"] = form.first_scan_wins

    caps: dict[str, Any] = {"one_per_code": form.one_per_code}
    for key, value in (("per_member_daily", form.per_member_daily), ("per_member", form.per_member)):
        number = convert(f"caps.{key}", value, _whole)
        if number is not None:
            caps[key] = number
    doc["caps"] = caps

    budget: dict[str, Any] = {}
    total = convert("budget.total_fen", form.budget_yuan, yuan_to_fen)
    if total is not None:
        budget["total_fen"] = total
    daily = convert("budget.daily_fen", form.daily_budget_yuan, yuan_to_fen)
    if daily is not None:
        budget["daily_fen"] = daily
    doc["budget"] = budget

    doc["prizes"] = [_prize_doc(row, f"prizes[{i}]", convert) for i, row in enumerate(form.prizes)]
    if form.consolation_kind:
        consolation: dict[str, Any] = {"kind": form.consolation_kind}
        if form.consolation_name:
            consolation["name"] = form.consolation_name
        if form.consolation_kind == "points":
            points = convert("consolation.points", form.consolation_points, _whole)
            if points is not None:
                consolation["points"] = points
        doc["consolation"] = consolation
    return doc, problems


def _prize_doc(row: PrizeRow, where: str, convert: Any) -> dict[str, Any]:
    prize: dict[str, Any] = {"kind": row.kind}
    if row.name:
        prize["name"] = row.name
    if row.kind == "cash":
        for key, value in (("min_fen", row.min_yuan), ("max_fen", row.max_yuan)):
            fen = convert(f"{where}.{key}", value, yuan_to_fen)
            if fen is not None:
                prize[key] = fen
    if row.kind == "points":
        points = convert(f"{where}.points", row.points, _whole)
        if points is not None:
            prize["points"] = points
    weight = convert(f"{where}.weight", row.percent, percent_to_weight)
    if weight is not None:
        prize["weight"] = weight
    for key, value in (("total", row.total), ("daily", row.daily)):
        number = convert(f"{where}.{key}", value, _whole)
        if number is not None:
            prize[key] = number
    return prize


# --- definition → form -------------------------------------------------------------------------------


def _iso_to_local(value: Any, tz_name: str) -> str:
    if not isinstance(value, str):
        return ""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is not None:
        with contextlib.suppress(ZoneInfoNotFoundError, ValueError, OSError):  # shown in its own offset
            moment = moment.astimezone(ZoneInfo(tz_name))
    spec = "seconds" if moment.second else "minutes"
    return moment.replace(tzinfo=None, microsecond=0).isoformat(timespec=spec)


def _text(value: Any) -> str:
    if value is None or isinstance(value, bool):
        return ""
    return str(value)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _strings(value: Any) -> list[str]:
    return [str(v) for v in value] if isinstance(value, list) else []


def _fen_text(value: Any) -> str:
    return fen_to_yuan(value) if isinstance(value, int) and not isinstance(value, bool) else _text(value)


def _percent_text(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return weight_to_percent(value)
    return _text(value)


def definition_to_form(doc: dict[str, Any]) -> CampaignForm:
    """The form showing a stored definition (any definition: unreadable parts come back as text)."""
    window, scope, regions = _dict(doc.get("window")), _dict(doc.get("scope")), _dict(doc.get("regions"))
    members, ordinal, caps = _dict(doc.get("members")), _dict(doc.get("ordinal")), _dict(doc.get("caps"))
    budget, consolation = _dict(doc.get("budget")), _dict(doc.get("consolation"))
    tz_name = str(window.get("timezone") or DEFAULT_TIMEZONE)
    hours = window.get("daily_hours")
    hours = hours if isinstance(hours, list) and len(hours) == 2 else ["", ""]
    serials = scope.get("serials")
    prizes = [
        PrizeRow(kind=_text(p.get("kind")), name=_text(p.get("name")), min_yuan=_fen_text(p.get("min_fen")),
                 max_yuan=_fen_text(p.get("max_fen")), points=_text(p.get("points")),
                 percent=_percent_text(p.get("weight")), total=_text(p.get("total")), daily=_text(p.get("daily")))
        for p in (doc.get("prizes") or []) if isinstance(p, dict)
    ]
    multipliers = _dict(members.get("tier_multipliers"))
    return CampaignForm(
        name=_text(doc.get("name")), brand=_text(doc.get("brand")), priority=_text(doc.get("priority") or 0),
        exclusive=doc.get("exclusive") is True,
        start=_iso_to_local(window.get("start"), tz_name), end=_iso_to_local(window.get("end"), tz_name),
        timezone=tz_name, daily_from=_text(hours[0]), daily_to=_text(hours[1]),
        products=_strings(scope.get("products")), batches=_strings(scope.get("batches")),
        serials=[(_text(p[0]), _text(p[1])) for p in serials if isinstance(p, list) and len(p) == 2]
        if isinstance(serials, list) else [],
        roles=_strings(scope.get("roles")) if "roles" in scope else ["inner"],
        include=_strings(regions.get("include")), exclude=_strings(regions.get("exclude")),
        region_sources=",".join(_strings(regions.get("sources"))) or "gps,ip",
        audience=_text(members.get("audience") or "anyone"), tiers=", ".join(_strings(members.get("tiers"))),
        tags=", ".join(_strings(members.get("tags"))),
        multipliers=[(str(t), _plain(Decimal(repr(m))) if isinstance(m, int | float) else _text(m))
                     for t, m in multipliers.items()],
        ordinal=_text(ordinal.get("kind") or "any"), nth=_text(ordinal.get("n")),
        first_scan_wins=doc.get("first_scan_wins") is True,
        per_member_daily=_text(caps.get("per_member_daily")), per_member=_text(caps.get("per_member")),
        one_per_code=caps.get("one_per_code", True) is not False,
        budget_yuan=_fen_text(budget.get("total_fen")), daily_budget_yuan=_fen_text(budget.get("daily_fen")),
        prizes=prizes or [PrizeRow()],
        consolation_kind=_text(consolation.get("kind")), consolation_name=_text(consolation.get("name")),
        consolation_points=_text(consolation.get("points")),
    )


def form_items(form: CampaignForm) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser posts for `form`: the inverse of `read_form`."""
    items = [("name", form.name), ("brand", form.brand), ("priority", form.priority),
             ("window_start", form.start), ("window_end", form.end), ("timezone", form.timezone),
             ("daily_from", form.daily_from), ("daily_to", form.daily_to), ("audience", form.audience),
             ("tiers", form.tiers), ("tags", form.tags), ("ordinal", form.ordinal), ("nth", form.nth),
             ("per_member_daily", form.per_member_daily), ("per_member", form.per_member),
             ("budget_yuan", form.budget_yuan), ("daily_budget_yuan", form.daily_budget_yuan),
             ("consolation_kind", form.consolation_kind), ("consolation_name", form.consolation_name),
             ("consolation_points", form.consolation_points)]
    items += [(key, "1") for key, on in (("exclusive", form.exclusive), ("first_scan_wins", form.first_scan_wins),
                                         ("one_per_code", form.one_per_code)) if on]
    items += [("products", v) for v in form.products] + [("batches", v) for v in form.batches]
    items += [("roles", v) for v in form.roles]
    items += [("region_include", v) for v in form.include] + [("region_exclude", v) for v in form.exclude]
    for first, last in form.serials:
        items += [("serial_first", first), ("serial_last", last)]
    for tier, value in form.multipliers:
        items += [("mult_tier", tier), ("mult_value", value)]
    for row in form.prizes:
        items += [("prize_kind", row.kind), ("prize_name", row.name), ("prize_min", row.min_yuan),
                  ("prize_max", row.max_yuan), ("prize_points", row.points), ("prize_percent", row.percent),
                  ("prize_total", row.total), ("prize_daily", row.daily)]
    return items
