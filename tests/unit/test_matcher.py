"""The matcher: each predicate, the batch → product → brand index, priority, exclusivity and explain."""

from __future__ import annotations

import copy
import dataclasses
from datetime import datetime, timedelta, timezone
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.matcher import Matcher, ScanContext, Verdict

BRAND, PRODUCT, BATCH = 1, 10, 100
# Catalogue used throughout: brand 1 owns products 10 and 11, brand 2 owns product 20.
BATCH_PRODUCT = {100: 10, 101: 10, 110: 11, 111: 11, 200: 20, 201: 20}
PRODUCT_BRAND = {10: 1, 11: 1, 20: 2}

BASE_DOC: dict[str, Any] = {
    "name": "test campaign",
    "brand": "acme",
    "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2027-01-01T00:00:00+08:00"},
    "budget": {"total_fen": 0},
    "prizes": [{"kind": "points", "points": 10, "weight": 0.5}],
}


def at(moment: str) -> float:
    return datetime.fromisoformat(moment).timestamp()


NOON = at("2026-06-01T12:00:00+08:00")


def campaign(
    campaign_id: int = 1, *, brand_id: int = BRAND, products: tuple[int, ...] | None = None, **changes: Any
) -> CompiledCampaign:
    """A campaign compiled from BASE_DOC; dict changes merge into their section, `products` are ids."""
    doc = copy.deepcopy(BASE_DOC)
    for key, value in changes.items():
        if isinstance(value, dict):
            doc.setdefault(key, {}).update(value)
        else:
            doc[key] = value
    if products is not None:
        doc.setdefault("scope", {})["products"] = [f"product-{p}" for p in products]
    definition = parse_definition(doc)
    return compile_campaign(
        campaign_id, 1, definition, brand_id=brand_id, product_ids=frozenset(products) if products else None
    )


def scan(**changes: Any) -> ScanContext:
    base = ScanContext(
        brand_id=BRAND, product_id=PRODUCT, batch_id=BATCH, serial=5, role="inner", now=NOON, adcode="440106"
    )
    return dataclasses.replace(base, **changes)


def verdict(c: CompiledCampaign, ctx: ScanContext, *others: CompiledCampaign) -> Verdict:
    (found,) = [v for v in Matcher([c, *others]).explain(ctx) if v.campaign.id == c.id]
    return found


def reason(c: CompiledCampaign, ctx: ScanContext) -> str:
    return verdict(c, ctx).reason


def ids(campaigns: list[CompiledCampaign]) -> list[int]:
    return [c.id for c in campaigns]


# --- predicates -------------------------------------------------------------------------------------


def test_a_plain_campaign_matches_a_plain_scan() -> None:
    c = campaign()
    assert Matcher([c]).match(scan()) == [c]
    assert verdict(c, scan()) == Verdict(c, True, "matched")


def test_role() -> None:
    inner_only, both = campaign(1), campaign(2, scope={"roles": ["inner", "outer"]})
    assert reason(inner_only, scan(role="outer")) == "code role outer not in ['inner']"
    assert ids(Matcher([inner_only, both]).match(scan(role="outer"))) == [2]
    outer_only = campaign(3, scope={"roles": ["outer"]})
    assert reason(outer_only, scan()) == "code role inner not in ['outer']"


def test_window_start_is_inclusive_and_end_exclusive() -> None:
    c = campaign()
    start, end = at("2026-01-01T00:00:00+08:00"), at("2027-01-01T00:00:00+08:00")
    assert (c.starts_at, c.ends_at) == (start, end)
    for now, matched in [(start - 0.001, False), (start, True), (end - 0.001, True), (end, False)]:
        v = verdict(c, scan(now=now))
        assert v.matched is matched, now
        assert v.reason == ("matched" if matched else "outside the campaign window")


def test_daily_hours_are_local_to_the_campaign_time_zone() -> None:
    # 08:00–22:00 in Asia/Shanghai is 00:00–14:00 UTC.
    c = campaign(window={"daily_hours": ["08:00", "22:00"]})
    for utc, matched in [
        ("2026-06-01T00:00:00", True),
        ("2026-06-01T13:59:59", True),
        ("2026-06-01T14:00:00", False),
        ("2026-06-01T23:59:59", False),
        ("2026-05-31T23:59:59", False),
    ]:
        v = verdict(c, scan(now=at(utc + "+00:00")))
        assert v.matched is matched, utc
        assert v.reason == ("matched" if matched else "outside the daily hours")


def test_the_same_daily_hours_in_utc_are_eight_hours_later() -> None:
    c = campaign(window={"daily_hours": ["08:00", "22:00"], "timezone": "UTC"})
    assert c.utc_offset_minutes == 0
    assert not verdict(c, scan(now=at("2026-06-01T07:59:59+00:00"))).matched
    assert verdict(c, scan(now=at("2026-06-01T08:00:00+00:00"))).matched
    assert verdict(c, scan(now=at("2026-06-01T21:59:59+00:00"))).matched


def test_daily_hours_that_wrap_past_midnight() -> None:
    c = campaign(window={"daily_hours": ["22:00", "02:00"]})
    for local, matched in [
        ("21:59:59", False),
        ("22:00:00", True),
        ("23:59:59", True),
        ("00:00:00", True),
        ("01:59:59", True),
        ("02:00:00", False),
        ("12:00:00", False),
    ]:
        assert verdict(c, scan(now=at(f"2026-06-02T{local}+08:00"))).matched is matched, local


def test_daily_hours_ending_at_24_00() -> None:
    c = campaign(window={"daily_hours": ["20:00", "24:00"]})
    assert verdict(c, scan(now=at("2026-06-01T23:59:59+08:00"))).matched
    assert not verdict(c, scan(now=at("2026-06-02T00:00:00+08:00"))).matched
    assert not verdict(c, scan(now=at("2026-06-01T19:59:59+08:00"))).matched


def test_batch() -> None:
    c = campaign(scope={"batches": [100, 101]})
    assert verdict(c, scan(batch_id=101)).matched
    assert reason(c, scan(batch_id=110, product_id=11)) == "other batch"


def test_product() -> None:
    c = campaign(products=(10,))
    assert verdict(c, scan()).matched
    assert reason(c, scan(batch_id=110, product_id=11)) == "other product"


def test_brand() -> None:
    # Batch ids are global, yet a campaign only ever pays for its own brand's codes.
    other_brand = campaign(brand_id=2, scope={"batches": [100]})
    m = Matcher([other_brand])
    assert m.candidates(scan()) == [other_brand]
    assert m.match(scan()) == []
    assert m.explain(scan()) == []  # explain lists the scan's brand only
    assert m.explain(scan(brand_id=2)) == [Verdict(other_brand, True, "matched")]


def test_serial_ranges_are_inclusive() -> None:
    c = campaign(scope={"batches": [100], "serials": [[0, 9], [100, 199]]})
    for serial, matched in [(0, True), (9, True), (10, False), (99, False), (100, True), (199, True), (200, False)]:
        v = verdict(c, scan(serial=serial))
        assert v.matched is matched, serial
        assert v.reason == ("matched" if matched else "serial outside the campaign's code segments")


def test_region_include_and_exclude() -> None:
    c = campaign(regions={"include": ["44", "1101"], "exclude": ["4403"]})
    assert verdict(c, scan(adcode="440106")).matched
    assert verdict(c, scan(adcode="110105")).matched
    assert reason(c, scan(adcode="110229")) == "outside the campaign's regions"
    assert reason(c, scan(adcode="310101")) == "outside the campaign's regions"
    assert reason(c, scan(adcode="440305")) == "in an excluded region"
    assert reason(c, scan(adcode=None)) == "scan region unknown"


def test_an_exclude_alone_still_needs_a_known_region() -> None:
    c = campaign(regions={"exclude": ["44"]})
    assert verdict(c, scan(adcode="310101")).matched
    assert reason(c, scan(adcode="440106")) == "in an excluded region"
    assert reason(c, scan(adcode=None)) == "scan region unknown"


def test_a_campaign_without_regions_matches_an_unknown_region() -> None:
    assert verdict(campaign(), scan(adcode=None)).matched


def test_audience_members() -> None:
    c = campaign(members={"audience": "members"})
    assert reason(c, scan()) == "members only"
    assert verdict(c, scan(member=True)).matched


def test_audience_new_members() -> None:
    c = campaign(members={"audience": "new_members"})
    assert reason(c, scan(member=True)) == "new members only"
    assert verdict(c, scan(member=True, new_member=True)).matched


def test_tiers() -> None:
    c = campaign(members={"tiers": ["gold", "platinum"]})
    assert reason(c, scan()) == "members only"
    assert reason(c, scan(member=True, tier=None)) == "member tier not eligible"
    assert reason(c, scan(member=True, tier="silver")) == "member tier not eligible"
    assert verdict(c, scan(member=True, tier="gold")).matched
    assert verdict(c, scan(member=True, tier="platinum")).matched


def test_tags_any_of() -> None:
    c = campaign(members={"audience": "members", "tags": ["student", "nurse"]})
    assert verdict(c, scan(member=True, tags=frozenset({"nurse", "runner"}))).matched
    assert verdict(c, scan(member=True, tags=frozenset({"student", "nurse"}))).matched
    assert reason(c, scan(member=True, tags=frozenset({"runner"}))) == "member has none of the required tags"
    assert reason(c, scan(member=True)) == "member has none of the required tags"


def test_every_predicate_together() -> None:
    c = campaign(
        window={"daily_hours": ["08:00", "22:00"]},
        scope={"batches": [100], "serials": [[0, 9999]], "roles": ["inner"]},
        regions={"include": ["44"]},
        members={"tiers": ["gold"], "tags": ["vip"]},
    )
    fan = scan(serial=9999, member=True, tier="gold", tags=frozenset({"vip"}))
    assert verdict(c, fan).matched
    assert reason(c, dataclasses.replace(fan, serial=10_000)) == "serial outside the campaign's code segments"


# --- the index --------------------------------------------------------------------------------------


def test_a_batch_campaign_is_not_even_a_candidate_for_another_batch() -> None:
    batch, product, brand = campaign(1, scope={"batches": [100]}), campaign(2, products=(10,)), campaign(3)
    m = Matcher([batch, product, brand])
    assert ids(m.candidates(scan(batch_id=100))) == [1, 2, 3]
    assert ids(m.candidates(scan(batch_id=101))) == [2, 3]  # same product, other batch
    assert ids(m.candidates(scan(batch_id=110, product_id=11))) == [3]  # same brand, other product
    assert ids(m.candidates(scan(batch_id=200, product_id=20, brand_id=2))) == []


def test_a_campaign_on_several_batches_or_products_is_found_from_each() -> None:
    batches, products = campaign(1, scope={"batches": [100, 110]}), campaign(2, products=(10, 11))
    m = Matcher([batches, products])
    assert ids(m.candidates(scan(batch_id=100))) == [1, 2]
    assert ids(m.candidates(scan(batch_id=110, product_id=11))) == [1, 2]
    assert ids(m.candidates(scan(batch_id=111, product_id=11))) == [2]


def test_a_batch_and_product_campaign_is_indexed_once() -> None:
    c = campaign(1, products=(10,), scope={"batches": [100]})
    assert ids(Matcher([c]).candidates(scan())) == [1]
    assert Matcher([c]).candidates(scan(batch_id=101)) == []


# --- priority and exclusivity -----------------------------------------------------------------------


def test_candidates_and_matches_come_highest_priority_first_then_by_id() -> None:
    cs = [
        campaign(5, priority=1, scope={"batches": [100]}),
        campaign(4, priority=7),
        campaign(3, priority=-2, products=(10,)),
        campaign(2, priority=7, products=(10,)),
        campaign(1, priority=1),
    ]
    m = Matcher(cs, version=42)
    assert m.version == 42
    assert ids(m.candidates(scan())) == [2, 4, 1, 5, 3]
    assert ids(m.match(scan())) == [2, 4, 1, 5, 3]
    assert [v.campaign.id for v in m.explain(scan())] == [2, 4, 1, 5, 3]


def test_stackable_campaigns_all_apply() -> None:
    m = Matcher([campaign(1, priority=1), campaign(2, priority=2), campaign(3, priority=3)])
    assert ids(m.match(scan())) == [3, 2, 1]


def test_the_highest_priority_exclusive_campaign_applies_alone() -> None:
    m = Matcher(
        [
            campaign(1, priority=10, exclusive=True),
            campaign(2, priority=5, exclusive=True),
            campaign(3, priority=1),
        ]
    )
    assert ids(m.match(scan())) == [1]
    verdicts = {v.campaign.id: v for v in m.explain(scan())}
    assert verdicts[1].reason == "matched"
    assert not verdicts[2].matched and not verdicts[3].matched
    assert verdicts[2].reason == verdicts[3].reason == "exclusive campaign #1 'test campaign' took this scan"


def test_an_exclusive_campaign_that_does_not_match_takes_nothing() -> None:
    m = Matcher(
        [
            campaign(1, priority=10, exclusive=True, regions={"include": ["11"]}),
            campaign(2, priority=5),
            campaign(3, priority=1),
        ]
    )
    assert ids(m.match(scan())) == [2, 3]
    assert [v.reason for v in m.explain(scan())] == ["outside the campaign's regions", "matched", "matched"]
    assert ids(m.match(scan(adcode="110105"))) == [1]


def test_an_exclusive_campaign_of_another_scope_still_takes_the_scan() -> None:
    m = Matcher([campaign(1, priority=1, scope={"batches": [100]}), campaign(2, priority=9, exclusive=True)])
    assert ids(m.match(scan())) == [2]
    assert ids(m.match(scan(batch_id=101))) == [2]


def test_a_lower_priority_exclusive_campaign_still_beats_stackable_ones() -> None:
    m = Matcher([campaign(1, priority=10), campaign(2, priority=5, exclusive=True)])
    assert ids(m.match(scan())) == [2]


def test_explain_does_not_claim_a_lower_priority_exclusive_campaign_had_higher_priority() -> None:
    m = Matcher([campaign(1, priority=10), campaign(2, priority=5, exclusive=True)])
    (winner,) = m.match(scan())
    for v in m.explain(scan()):
        if not v.matched and "higher priority" in v.reason:
            assert winner.priority > v.campaign.priority, v


# --- explain ----------------------------------------------------------------------------------------


def test_explain_gives_a_reason_for_every_campaign_of_the_brand() -> None:
    m = Matcher(
        [
            campaign(1, priority=6),
            campaign(2, priority=5, scope={"batches": [101]}),
            campaign(3, priority=4, products=(11,)),
            campaign(4, priority=3, window={"start": "2026-07-01T00:00:00+08:00"}),
            campaign(5, priority=2, members={"audience": "members"}),
            campaign(6, priority=1, brand_id=2),
        ]
    )
    assert [(v.campaign.id, v.matched, v.reason) for v in m.explain(scan())] == [
        (1, True, "matched"),
        (2, False, "other batch"),
        (3, False, "other product"),
        (4, False, "outside the campaign window"),
        (5, False, "members only"),
    ]


def test_explain_reports_the_cheapest_failing_check_first() -> None:
    c = campaign(scope={"batches": [101]}, members={"audience": "members"})
    assert reason(c, scan(role="outer", now=0)) == "code role outer not in ['inner']"
    assert reason(c, scan(now=0)) == "outside the campaign window"
    assert reason(c, scan()) == "other batch"


# --- the index never drops a match ------------------------------------------------------------------

T0 = int(at("2026-06-01T00:00:00+00:00"))
ADCODES = [None, "440106", "440305", "110105", "310101"]
PREFIXES = ["44", "4401", "440106", "4403", "11", "31"]


def _reference_matches(c: CompiledCampaign, ctx: ScanContext) -> bool:
    """The predicates written out again, independently of rules.matcher."""
    local = datetime.fromtimestamp(ctx.now, timezone(timedelta(minutes=c.utc_offset_minutes)))
    minute = local.hour * 60 + local.minute
    if c.daily_minutes is not None:
        start, end = c.daily_minutes
        in_hours = (start <= minute < end) if start < end else not (end <= minute < start)
    else:
        in_hours = True
    region_ok = not (c.region_include or c.region_exclude) or (
        ctx.adcode is not None
        and (not c.region_include or any(ctx.adcode.startswith(p) for p in c.region_include))
        and not any(ctx.adcode.startswith(p) for p in c.region_exclude)
    )
    audience_ok = {"anyone": True, "members": ctx.member, "new_members": ctx.new_member}[c.audience]
    return (
        ctx.role in c.roles
        and c.starts_at <= ctx.now < c.ends_at
        and in_hours
        and c.brand_id == ctx.brand_id
        and (c.batch_ids is None or ctx.batch_id in c.batch_ids)
        and (c.product_ids is None or ctx.product_id in c.product_ids)
        and (c.serial_ranges is None or any(a <= ctx.serial <= b for a, b in c.serial_ranges))
        and region_ok
        and audience_ok
        and (c.tiers is None or ctx.tier in c.tiers)
        and (c.tags is None or bool(ctx.tags & c.tags))
    )


def _reference_match(campaigns: list[CompiledCampaign], ctx: ScanContext) -> list[int]:
    matched = sorted((c for c in campaigns if _reference_matches(c, ctx)), key=lambda c: (-c.priority, c.id))
    exclusive = [c for c in matched if c.exclusive]
    return ids(exclusive[:1] or matched)


def _subset(values: list[str], **kwargs: Any) -> st.SearchStrategy[frozenset[str]]:
    return st.frozensets(st.sampled_from(values), **kwargs)


def _sometimes(draw: st.DrawFn, strategy: st.SearchStrategy[Any], otherwise: Any) -> Any:
    """A restriction one time in three, so that most random campaigns match some scans."""
    return draw(strategy) if draw(st.integers(0, 2)) == 0 else otherwise


@st.composite
def random_campaign(draw: st.DrawFn, campaign_id: int) -> CompiledCampaign:
    scope = draw(st.sampled_from(["batch", "product", "brand"]))
    batch_ids = product_ids = serial_ranges = None
    if scope == "batch":
        batch_ids = draw(st.frozensets(st.sampled_from(sorted(BATCH_PRODUCT)), min_size=1, max_size=3))
        pairs = st.lists(st.tuples(st.integers(0, 40), st.integers(0, 20)), min_size=1, max_size=3)
        serial_ranges = _sometimes(draw, pairs.map(lambda ps: tuple(sorted((a, a + n) for a, n in ps))), None)
    if scope == "product" or (scope == "batch" and draw(st.booleans())):
        product_ids = draw(st.frozensets(st.sampled_from(sorted(PRODUCT_BRAND)), min_size=1, max_size=2))
    starts_at = T0 + draw(st.integers(-48, 24)) * 3600
    hours = st.tuples(st.integers(0, 1440), st.integers(1, 1440)).map(lambda t: (t[0], (t[0] + t[1]) % 1441))
    return dataclasses.replace(
        BASE,
        id=campaign_id,
        brand_id=draw(st.sampled_from([1, 1, 2])),
        priority=draw(st.integers(-2, 2)),
        exclusive=draw(st.integers(0, 3)) == 0,
        starts_at=float(starts_at),
        ends_at=float(starts_at + draw(st.integers(1, 96)) * 3600),
        daily_minutes=_sometimes(draw, hours, None),
        utc_offset_minutes=draw(st.sampled_from([480, 0, -300, 330])),
        product_ids=product_ids,
        batch_ids=batch_ids,
        serial_ranges=serial_ranges,
        roles=_sometimes(draw, _subset(["inner", "outer"], min_size=1), frozenset({"inner", "outer"})),
        region_include=_sometimes(draw, st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=2).map(tuple), ()),
        region_exclude=_sometimes(draw, st.lists(st.sampled_from(PREFIXES), min_size=1, max_size=2).map(tuple), ()),
        audience=_sometimes(draw, st.sampled_from(["members", "new_members"]), "anyone"),
        tiers=_sometimes(draw, _subset(["gold", "silver"], min_size=1), None),
        tags=_sometimes(draw, _subset(["a", "b", "c"], min_size=1), None),
    )


@st.composite
def random_scan(draw: st.DrawFn, campaigns: list[CompiledCampaign]) -> ScanContext:
    """Half the scans aim at one campaign's scope and window, so that matches are common."""
    target = draw(st.none() | st.sampled_from(campaigns))
    batches = sorted(BATCH_PRODUCT)
    if target is not None:
        aimed = [
            b
            for b in batches
            if (target.batch_ids is None or b in target.batch_ids)
            and (target.product_ids is None or BATCH_PRODUCT[b] in target.product_ids)
            and PRODUCT_BRAND[BATCH_PRODUCT[b]] == target.brand_id
        ]
        batches = aimed or batches
    batch_id = draw(st.sampled_from(batches))
    product_id = BATCH_PRODUCT[batch_id]
    bounds = [int(t) for c in campaigns for t in (c.starts_at, c.ends_at)]
    bounds += [  # the first minute of daily hours and the first minute after them, on some day
        T0 + day * 86400 + (minute - c.utc_offset_minutes) * 60
        for c in campaigns
        if c.daily_minutes is not None
        for minute in c.daily_minutes
        for day in (-1, 0, 1)
    ]
    near_a_bound = st.tuples(st.sampled_from(bounds), st.sampled_from([-1, 0, 1])).map(sum)
    anytime = st.integers(T0 - 2 * 86400, T0 + 2 * 86400)
    if target is not None:
        anytime = st.integers(int(target.starts_at), int(target.ends_at) - 1)
    now = draw(anytime | near_a_bound)
    member = draw(st.integers(0, 3)) > 0
    return ScanContext(
        brand_id=PRODUCT_BRAND[product_id],
        product_id=product_id,
        batch_id=batch_id,
        serial=draw(st.integers(0, 64)),
        role=draw(st.sampled_from(["inner", "outer"])),
        now=float(now),
        adcode=draw(st.sampled_from(ADCODES)),
        member=member,
        new_member=member and draw(st.booleans()),
        tier=draw(st.sampled_from([None, "gold", "silver", "bronze"])) if member else None,
        tags=draw(_subset(["a", "b", "c", "d"])) if member else frozenset(),
    )


BASE = campaign()


@settings(deadline=None)
@given(st.data())
def test_match_equals_a_brute_force_filter_over_every_campaign(data: st.DataObject) -> None:
    size = data.draw(st.integers(1, 15), label="campaigns")
    campaigns = [data.draw(random_campaign(i)) for i in range(1, size + 1)]
    m = Matcher(campaigns)
    for _ in range(5):
        ctx = data.draw(random_scan(campaigns))
        expected = _reference_match(campaigns, ctx)
        assert ids(m.match(ctx)) == expected
        matching = {c.id for c in campaigns if _reference_matches(c, ctx)}
        assert matching <= set(ids(m.candidates(ctx)))
        verdicts = m.explain(ctx)
        assert {v.campaign.id for v in verdicts} == {c.id for c in campaigns if c.brand_id == ctx.brand_id}
        for v in verdicts:
            assert v.matched is (v.campaign.id in expected), v
            assert (v.reason == "matched") is v.matched
            if v.campaign.id in matching and not v.matched:
                assert v.reason.startswith("exclusive campaign #") and v.reason.endswith("took this scan")


# --- region sources and the location step (rules/scan.py: the H5 page's held draw) ---------------------------


def test_a_campaign_may_refuse_a_region_from_the_ip() -> None:
    gps_only = campaign(regions={"include": ["44"], "sources": ["gps"]})
    both = campaign(2, regions={"include": ["44"]})
    m = Matcher([gps_only, both])
    assert [c.id for c in m.match(scan(region_source="gps"))] == [1, 2]
    assert [c.id for c in m.match(scan(region_source="ip"))] == [2]
    [verdict] = [v for v in m.explain(scan(region_source="ip")) if v.campaign.id == 1]
    assert verdict.reason == "the campaign does not take a region from ip"
    # A campaign without regions takes any scan, whatever its region's source.
    assert Matcher([campaign()]).match(scan(adcode=None, region_source="none"))


def test_region_pending_lists_what_a_location_could_still_let_in() -> None:
    guangdong = campaign(regions={"include": ["44"]})
    gps_only = campaign(2, regions={"include": ["44"], "sources": ["gps"]})
    ip_only = campaign(3, regions={"include": ["44"], "sources": ["ip"]})
    outer = campaign(4, regions={"include": ["44"]}, scope={"roles": ["outer"]})
    everywhere = campaign(5)
    m = Matcher([guangdong, gps_only, ip_only, outer, everywhere])
    assert [c.id for c in m.region_pending(scan(adcode=None, region_source="none"))] == [1, 2]
    assert [c.id for c in m.region_pending(scan(adcode="510104", region_source="ip"))] == [1, 2]
    assert [c.id for c in m.region_pending(scan(adcode="440106", region_source="ip"))] == [2]
    assert m.region_pending(scan(adcode="440106", region_source="gps")) == []
    assert Matcher([everywhere]).region_pending(scan(adcode=None, region_source="none")) == []


def test_match_any_region_leaves_regions_out() -> None:
    m = Matcher([campaign(regions={"include": ["44"]}), campaign(2, regions={"exclude": ["44"]})])
    assert [c.id for c in m.match_any_region(scan(adcode=None, region_source="none"))] == [1, 2]
    assert m.match(scan(adcode=None, region_source="none")) == []
