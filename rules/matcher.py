"""Which campaigns a scan may win: a pure, indexed matcher over compiled campaigns (no I/O).

Campaigns are indexed by who draws (a consumer, or one B-side audience: rules/campaign_fields.py) and then by
their narrowest scope (batch → product → brand), so a scan looks only at the campaigns of its own side, batch,
product and brand, then checks the cheap predicates first. A consumer scan never sees a B-side campaign. `explain` gives
the same decision with a reason per campaign, for simulation and for the record kept with each scan.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from rules.campaign import CompiledCampaign


@dataclass(frozen=True, slots=True)
class ScanContext:
    brand_id: int
    product_id: int
    batch_id: int
    serial: int
    role: str
    now: float  # unix seconds
    adcode: str | None = None
    # Where `adcode` came from: "gps" (the phone: coordinates or an adcode it sent), "ip" (the client
    # address, rules/ipregion.py) or "none". A context built without saying is the phone's (the API's).
    region_source: str = "gps"
    member: bool = False
    new_member: bool = False
    tier: str | None = None
    tags: frozenset[str] = frozenset()
    # "" for a consumer's scan; a B-side scan names its audience (store_open_case, waiter_open_bottle,
    # store_sell_through) and matches only campaigns of that audience. Its region is the store's adcode
    # (region_source STORE), which every region-limited B-side campaign takes.
    bside: str = ""


STORE = "store"  # the region source of a B-side scan: the store's own adcode


@dataclass(frozen=True, slots=True)
class Verdict:
    campaign: CompiledCampaign
    matched: bool
    reason: str  # "matched", or the first predicate that failed


def _why_not(c: CompiledCampaign, ctx: ScanContext, regions: bool = True) -> str | None:
    """None when the campaign matches the scan, else why not (cheapest checks first); `regions=False`
    leaves the campaign's regions out (would a location make it match?)."""
    if c.bside != ctx.bside:
        if not ctx.bside:
            return f"a B-side campaign ({c.audience}): consumer scans never draw in it"
        return f"not a {ctx.bside} campaign"
    if ctx.role not in c.roles:
        return f"code role {ctx.role} not in {sorted(c.roles)}"
    if not c.starts_at <= ctx.now < c.ends_at:
        return "outside the campaign window"
    if c.daily_minutes is not None:
        minute = int((ctx.now // 60 + c.utc_offset_minutes) % 1440)
        start, end = c.daily_minutes
        inside = start <= minute < end if start < end else (minute >= start or minute < end)
        if not inside:
            return "outside the daily hours"
    if c.batch_ids is not None and ctx.batch_id not in c.batch_ids:
        return "other batch"
    if c.product_ids is not None and ctx.product_id not in c.product_ids:
        return "other product"
    if c.brand_id != ctx.brand_id:
        return "other brand"
    if c.serial_ranges is not None and not any(a <= ctx.serial <= b for a, b in c.serial_ranges):
        return "serial outside the campaign's code segments"
    if regions and (c.region_include or c.region_exclude):
        if ctx.adcode is None:
            return "scan region unknown"
        if ctx.region_source not in c.region_sources and ctx.region_source != STORE:
            return f"the campaign does not take a region from {ctx.region_source}"
        if c.region_include and not ctx.adcode.startswith(c.region_include):
            return "outside the campaign's regions"
        if c.region_exclude and ctx.adcode.startswith(c.region_exclude):
            return "in an excluded region"
    if c.audience == "members" and not ctx.member:
        return "members only"
    if c.audience == "new_members" and not ctx.new_member:
        return "new members only"
    if c.tiers is not None and ctx.tier not in c.tiers:
        return "member tier not eligible"
    if c.tags is not None and not (ctx.tags & c.tags):
        return "member has none of the required tags"
    return None


class _ScopeIndex:
    """One side's campaigns by their narrowest scope: batch, else product, else brand."""

    def __init__(self, campaigns: list[CompiledCampaign]) -> None:
        by_batch: dict[int, list[CompiledCampaign]] = defaultdict(list)
        by_product: dict[int, list[CompiledCampaign]] = defaultdict(list)
        by_brand: dict[int, list[CompiledCampaign]] = defaultdict(list)
        for c in campaigns:
            if c.batch_ids is not None:
                for b in c.batch_ids:
                    by_batch[b].append(c)
            elif c.product_ids is not None:
                for p in c.product_ids:
                    by_product[p].append(c)
            else:
                by_brand[c.brand_id].append(c)
        self._by_batch = {k: tuple(v) for k, v in by_batch.items()}
        self._by_product = {k: tuple(v) for k, v in by_product.items()}
        self._by_brand = {k: tuple(v) for k, v in by_brand.items()}

    def candidates(self, ctx: ScanContext) -> list[CompiledCampaign]:
        found = [
            *self._by_batch.get(ctx.batch_id, ()),
            *self._by_product.get(ctx.product_id, ()),
            *self._by_brand.get(ctx.brand_id, ()),
        ]
        found.sort(key=lambda c: (-c.priority, c.id))
        return found


class Matcher:
    """Immutable once built; the app swaps a whole new Matcher in when a rules version is published."""

    def __init__(self, campaigns: Iterable[CompiledCampaign], version: int = 0) -> None:
        self.version = version
        self.campaigns = tuple(sorted(campaigns, key=lambda c: (-c.priority, c.id)))
        sides: dict[str, list[CompiledCampaign]] = defaultdict(list)
        for c in self.campaigns:
            sides[c.bside].append(c)
        self._sides = {side: _ScopeIndex(found) for side, found in sides.items()}

    def has_side(self, side: str) -> bool:
        """Whether any campaign draws for this side ("" consumers, or a B-side audience)."""
        return side in self._sides

    def candidates(self, ctx: ScanContext) -> list[CompiledCampaign]:
        """Campaigns of the scan's side whose scope index covers this scan, highest priority first."""
        index = self._sides.get(ctx.bside)
        return index.candidates(ctx) if index is not None else []

    @staticmethod
    def _apply_exclusivity(matched: list[CompiledCampaign]) -> list[CompiledCampaign]:
        # If any exclusive campaign matches, the highest-priority one applies alone; else all stack.
        for c in matched:
            if c.exclusive:
                return [c]
        return matched

    def match(self, ctx: ScanContext) -> list[CompiledCampaign]:
        """The campaigns this scan takes part in, in draw order."""
        return self._apply_exclusivity([c for c in self.candidates(ctx) if _why_not(c, ctx) is None])

    def region_pending(self, ctx: ScanContext) -> list[CompiledCampaign]:
        """Campaigns this scan misses only for its region, and that the phone's location could still let in:
        limited to regions, taking "gps", and matching in every other respect (highest priority first).

        The H5 page asks for the location before drawing when this is not empty. The regions are checked
        last (cheap predicates first), so for a scan of a brand without region-limited campaigns this is
        one pass over the candidates' region fields."""
        found = [c for c in self.candidates(ctx)
                 if (c.region_include or c.region_exclude) and "gps" in c.region_sources]
        if not found:
            return []
        return [c for c in found if _why_not(c, ctx) is not None and _why_not(c, ctx, regions=False) is None]

    def match_any_region(self, ctx: ScanContext) -> list[CompiledCampaign]:
        """The campaigns this scan would take part in wherever it was (regions left out): which campaigns
        may hold an award for this code, whatever the region of this scan."""
        return self._apply_exclusivity([c for c in self.candidates(ctx) if _why_not(c, ctx, regions=False) is None])

    def explain(self, ctx: ScanContext) -> list[Verdict]:
        """Every campaign of the scan's brand with whether it matched and why (slow path: simulate)."""
        chosen = self.match(ctx)
        chosen_ids = {c.id for c in chosen}
        verdicts = []
        for c in self.campaigns:
            if c.brand_id != ctx.brand_id:
                continue
            reason = _why_not(c, ctx)
            if reason is None and c.id not in chosen_ids:
                winner = chosen[0]
                reason = f"exclusive campaign #{winner.id} {winner.name!r} took this scan"
            verdicts.append(Verdict(c, reason is None, reason or "matched"))
        return verdicts
