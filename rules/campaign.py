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
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rules.campaign_fields import (
    AUDIENCES,
    B_AUDIENCES,
    B_PRIZE_KINDS,
    CODE_ROLES,
    CONSOLATION_KINDS,
    CONSUMER_AUDIENCES,
    MAX_CASH_FEN,
    MIN_B_CASH_FEN,
    MIN_CASH_FEN,
    ORDINALS,
    PRIZE_KINDS,
    REGION_SOURCES,
    ROLES,
    SECTION_FIELDS,
    TOP_FIELDS,
    FieldReader,
    InvalidCampaign,
    Prize,
    Problem,
    in_document_order,
    read_prize,
    read_regions,
    read_scope,
    read_window,
)

# Re-exported: the definition's vocabulary is used through this module.
__all__ = ["AUDIENCES", "B_AUDIENCES", "CODE_ROLES", "CONSOLATION_KINDS", "CONSUMER_AUDIENCES", "MAX_CASH_FEN",
           "MIN_CASH_FEN", "ORDINALS", "PRIZE_KINDS",
           "REGION_SOURCES", "ROLES", "SECTION_FIELDS", "TOP_FIELDS", "CompiledCampaign", "Definition",
           "InvalidCampaign", "Prize", "Problem", "compile_campaign", "in_document_order", "parse_definition",
           "read_definition"]


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
    # Where a scan's region may come from for this campaign's regions: "gps" (the phone), "ip" (the client
    # address). Only read when the campaign has regions; snapshots made before it load with both.
    region_sources: tuple[str, ...] = REGION_SOURCES

    @property
    def win_probability(self) -> float:
        return min(1.0, sum(p.weight for p in self.prizes))

    @property
    def bside(self) -> str:
        """The B-side audience this campaign draws for ("" for a consumer campaign)."""
        return self.audience if self.audience in B_AUDIENCES else ""


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
    region_sources: tuple[str, ...]
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


@dataclass(frozen=True, slots=True)
class _Members:
    audience: str
    tiers: list[str] | None
    tags: list[str] | None
    multipliers: dict[str, float]


@dataclass(frozen=True, slots=True)
class _Caps:
    per_member_daily: int | None
    per_member: int | None
    one_per_code: bool


def _read_identity(r: FieldReader, top: Mapping[str, Any]) -> tuple[str, str, int, bool]:
    """(name, brand, priority, exclusive): the fields at the top of a definition."""
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
    return name, brand, priority, exclusive


def _read_tier_multipliers(r: FieldReader, members: Mapping[str, Any]) -> dict[str, float]:
    multipliers: dict[str, float] = {}
    raw_mult = members.get("tier_multipliers")
    if raw_mult is not None and not raw_mult and raw_mult != {}:  # [], 0, "": first read as "none"
        with r.newer_rules():
            r.fail("members.tier_multipliers", "must map a tier to a multiplier, e.g. {\"gold\": 2}")
    raw_mult = raw_mult or {}
    if not isinstance(raw_mult, dict):
        r.fail("members.tier_multipliers", "must map a tier to a multiplier, e.g. {\"gold\": 2}")
    else:
        for tier, mult in raw_mult.items():
            if isinstance(mult, bool) or not isinstance(mult, int | float) or not 0 < mult <= 10:
                r.fail("members.tier_multipliers", f"multiplier of {tier!r} must be above 0 and at most 10")
            else:
                multipliers[str(tier)] = float(mult)
    return multipliers


def _read_members(r: FieldReader, top: Mapping[str, Any]) -> _Members:
    members = r.obj(top.get("members"), "members", SECTION_FIELDS["members"])
    audience = members.get("audience", "anyone")
    if audience not in AUDIENCES:
        r.fail("members.audience", f"must be one of {', '.join(AUDIENCES)}")
        audience = "anyone"
    tiers = r.str_list(members, "tiers", "members")
    tags = r.str_list(members, "tags", "members")
    multipliers = _read_tier_multipliers(r, members)
    if (tiers or multipliers or tags) and audience == "anyone" and tiers:
        audience = "members"  # a tier requirement implies membership
    return _Members(audience, tiers, tags, multipliers)


def _read_ordinal(r: FieldReader, top: Mapping[str, Any]) -> tuple[str, int, bool]:
    """(ordinal kind, n, first_scan_wins): which scans of a code take part."""
    ordinal_doc = r.obj(top.get("ordinal"), "ordinal", SECTION_FIELDS["ordinal"])
    ordinal = ordinal_doc.get("kind", "any")
    if ordinal not in ORDINALS:
        r.fail("ordinal.kind", f"must be one of {', '.join(ORDINALS)}")
        ordinal = "any"
    if ordinal == "every_nth":
        nth = r.int_(ordinal_doc, "n", "ordinal", low=2, high=1_000_000, required=True) or 2
    else:
        nth = 1
        with r.newer_rules():  # first ignored when the kind takes no n
            r.int_(ordinal_doc, "n", "ordinal", low=2, high=1_000_000)
    first_scan_wins = top.get("first_scan_wins", False)
    if not isinstance(first_scan_wins, bool):
        r.fail("first_scan_wins", "must be true or false")
        first_scan_wins = False
    return ordinal, nth, first_scan_wins


def _read_caps(r: FieldReader, top: Mapping[str, Any], audience: str) -> _Caps:
    caps = r.obj(top.get("caps"), "caps", SECTION_FIELDS["caps"])
    per_member_daily = r.int_(caps, "per_member_daily", "caps", low=1, high=1_000_000)
    per_member = r.int_(caps, "per_member", "caps", low=1, high=1_000_000)
    one_per_code = caps.get("one_per_code", True)
    if not isinstance(one_per_code, bool):
        r.fail("caps.one_per_code", "must be true or false")
        one_per_code = True
    if (per_member_daily or per_member) and audience == "anyone":
        r.fail("caps", "per-member caps need members.audience members or new_members")
    if audience in B_AUDIENCES and not one_per_code:
        r.fail("caps.one_per_code", "a B-side campaign draws once per code (a case, a cap)")
    return _Caps(per_member_daily, per_member, one_per_code)


def _read_budget(r: FieldReader, top: Mapping[str, Any]) -> tuple[int, int | None]:
    """(total_fen, daily_fen)."""
    budget = r.obj(top.get("budget"), "budget", SECTION_FIELDS["budget"])
    budget_fen = r.int_(budget, "total_fen", "budget", low=0, high=10**12, required=True) or 0
    daily_budget_fen = r.int_(budget, "daily_fen", "budget", low=1, high=10**12)
    if daily_budget_fen is not None and daily_budget_fen > budget_fen:
        r.fail("budget.daily_fen", "is above the total budget")
    return budget_fen, daily_budget_fen


def _read_prizes(r: FieldReader, top: Mapping[str, Any], first_scan_wins: bool,
                 audience: str) -> tuple[list[Prize], Prize | None]:
    """(the prize table, the consolation prize). A B-side campaign pays cash (from 0.01 元: a line on the
    store's statement) or points."""
    bside = audience in B_AUDIENCES
    kinds, min_cash = (B_PRIZE_KINDS, MIN_B_CASH_FEN) if bside else (PRIZE_KINDS, MIN_CASH_FEN)
    raw_prizes = top.get("prizes")
    prizes: list[Prize] = []
    if not isinstance(raw_prizes, list) or not raw_prizes:
        r.fail("prizes", "needs at least one prize")
    else:
        for i, raw in enumerate(raw_prizes):
            prize = read_prize(r, raw, f"prizes[{i}]", i, kinds, min_cash_fen=min_cash)
            if prize is not None:
                prizes.append(prize)
        total_weight = sum(p.weight for p in prizes)
        if total_weight > 1 + 1e-9:
            r.fail("prizes", f"probabilities add up to {total_weight:.1%}, over 100 %")
    consolation = None
    if top.get("consolation") is not None:
        consolation = read_prize(r, top["consolation"], "consolation", -1, CONSOLATION_KINDS)
    if first_scan_wins and consolation is None and sum(p.weight for p in prizes) < 1 - 1e-9:
        r.fail("consolation", "首扫必中 (first_scan_wins) needs a consolation prize for when the draw misses")
    return prizes, consolation


def _check_bside(r: FieldReader, top: Mapping[str, Any], members: _Members, ordinal: str) -> None:
    """What a B-side campaign may not say: member tiers and tags (a store or a waiter has none), the
    consumer's own ordinals, and where a region comes from (it is the store's own adcode)."""
    if members.audience not in B_AUDIENCES:
        return
    consumers = f"is for consumer campaigns ({', '.join(CONSUMER_AUDIENCES)})"
    for key in ("tiers", "tags"):
        if getattr(members, key):
            r.fail(f"members.{key}", consumers)
    if members.multipliers:
        r.fail("members.tier_multipliers", consumers)
    if ordinal in ("first_scan", "member_first"):
        r.fail("ordinal.kind", "a B-side campaign draws on any scan or every Nth (the first scan is the consumer's)")
    regions = top.get("regions")
    if isinstance(regions, dict) and regions.get("sources") is not None:
        r.fail("regions.sources", "a B-side campaign takes the store's own region (its adcode): leave sources out")


def _check_money(r: FieldReader, definition: Definition) -> None:
    """Checks across sections: one red packet within WeChat's limit at the highest tier multiplier, and a
    budget that covers what the prize quantities could pay."""
    top_multiplier = max([1.0, *definition.tier_multipliers.values()])
    for prize in definition.prizes:
        if prize.kind == "cash" and prize.max_fen * top_multiplier > MAX_CASH_FEN:
            r.fail("members.tier_multipliers", f"{prize.name}: {prize.max_fen / 100:.2f} 元 × {top_multiplier:g} "
                                               f"exceeds the 200 元 limit of one red packet")
    worst, budget_fen = definition.worst_case_fen, definition.budget_fen
    if worst is not None and worst > budget_fen and "budget.total_fen" not in {p.field for p in r.problems}:
        r.fail("budget.total_fen", f"{budget_fen / 100:.2f} 元 is below the worst case of the prize quantities, "
                                   f"{worst / 100:.2f} 元: raise the budget or lower the quantities")


def read_definition(doc: Any) -> tuple[Definition | None, list[Problem]]:
    """Check a definition on its own (no catalogue): a best-effort Definition and every problem found.

    Where a field is wrong the Definition holds a neutral stand-in (no products, no batches, the year
    2000, ...), so what is right in the document can still be checked; it is None only when `doc` is not
    an object. Use the Definition for anything else only when the problem list is empty.
    """
    r = FieldReader()
    if not isinstance(doc, dict):
        return None, [Problem("", "the campaign must be a JSON object")]
    top = doc
    r.known(top, "", TOP_FIELDS)
    # Section by section, in this order: a later section's checks may depend on an earlier one's value
    # (caps and the scope's roles on the audience, the consolation on first_scan_wins); problems are sorted
    # into document order at the end, whatever order they were found in.
    name, brand, priority, exclusive = _read_identity(r, top)
    starts_at, ends_at, daily_minutes, tz_name = read_window(r, top)
    members = _read_members(r, top)
    scope = read_scope(r, top, members.audience)
    include, exclude, sources = read_regions(r, top)
    ordinal, nth, first_scan_wins = _read_ordinal(r, top)
    _check_bside(r, top, members, ordinal)
    caps = _read_caps(r, top, members.audience)
    budget_fen, daily_budget_fen = _read_budget(r, top)
    prizes, consolation = _read_prizes(r, top, first_scan_wins, members.audience)
    definition = Definition(
        doc=top, name=name.strip(), brand=brand, priority=priority, exclusive=exclusive,
        starts_at=starts_at, ends_at=ends_at, daily_minutes=daily_minutes, timezone=tz_name,
        products=tuple(scope.products) if scope.products else None, batches=scope.batches, serials=scope.serials,
        roles=tuple(scope.roles), region_include=tuple(include), region_exclude=tuple(exclude),
        region_sources=sources,
        audience=members.audience, tiers=tuple(members.tiers) if members.tiers else None,
        tags=tuple(members.tags) if members.tags else None, tier_multipliers=members.multipliers,
        ordinal=ordinal, nth=nth, first_scan_wins=first_scan_wins, per_member_daily=caps.per_member_daily,
        per_member=caps.per_member, one_per_code=caps.one_per_code, budget_fen=budget_fen,
        daily_budget_fen=daily_budget_fen, prizes=tuple(prizes), consolation=consolation,
    )
    _check_money(r, definition)
    return definition, in_document_order(r.problems)


def parse_definition(doc: Any, *, stored: bool = False) -> Definition:
    """Validate a definition on its own (no catalogue); raise InvalidCampaign listing every problem.

    `stored`: read a definition already stored (and perhaps published, with awards in the ledger) under
    the rules it was stored with: problems of rules added since (`Problem.newer_rule`) are let through and
    their fields read as they were then. New and edited definitions are always held to every rule.
    """
    definition, problems = read_definition(doc)
    if stored:
        problems = [p for p in problems if not p.newer_rule]
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
        region_exclude=d.region_exclude, region_sources=d.region_sources, audience=d.audience,
        tiers=frozenset(d.tiers) if d.tiers else None,
        tags=frozenset(d.tags) if d.tags else None, tier_multipliers=dict(d.tier_multipliers),
        ordinal=d.ordinal, nth=d.nth, first_scan_wins=d.first_scan_wins, per_member_daily=d.per_member_daily,
        per_member=d.per_member, one_per_code=d.one_per_code, budget_fen=d.budget_fen,
        daily_budget_fen=d.daily_budget_fen, prizes=d.prizes, consolation=d.consolation, version=version,
    )
