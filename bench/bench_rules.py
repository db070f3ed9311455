"""Cost of rules.matcher over 10,000 live campaigns: build, match, explain, and an unindexed scan for scale.

    python -m bench.bench_rules [--campaigns 10000] [--scans 100000] [--seed 1]

The catalogue is 50 brands × 40 products × 10 batches (2,000 products, 20,000 batches). Campaigns are
written as definitions and go through parse_definition + compile_campaign, like a publish does: 55 % name
1–3 batches of one product (a third of those also serial segments), 35 % name 1–3 products of the brand,
10 % cover the whole brand (about 20 per brand, which every scan of that brand has to look at). Half are
limited to 1–3 provinces (some with a city excluded), a quarter to daily hours (some past midnight), a
third to members (tiers, tags or new members); priorities vary and one in ten is exclusive; 85 % are
inside their window during the scans, the rest ended or not started. Scans pick a batch uniformly, a
serial, an adcode (5 % unknown) and a member profile, at a time within three days of the reference.

Prints a table and a one-line JSON of every figure; asserts nothing (a disagreement between the index
and the linear scan is counted and printed, and should be 0).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.matcher import Matcher, ScanContext, _why_not  # the same predicates, for the unindexed scan

BRANDS, PRODUCTS_PER_BRAND, BATCHES_PER_PRODUCT = 50, 40, 10
SHANGHAI = ZoneInfo("Asia/Shanghai")
REFERENCE = datetime(2026, 6, 15, 12, tzinfo=SHANGHAI)
PROVINCES = [
    "11", "12", "13", "14", "15", "21", "22", "23", "31", "32", "33", "34", "35", "36", "37", "41",
    "42", "43", "44", "45", "46", "50", "51", "52", "53", "54", "61", "62", "63", "64", "65",
]  # fmt: skip
DAILY_HOURS = [["08:00", "22:00"], ["18:00", "24:00"], ["22:00", "02:00"], ["11:00", "14:00"], ["00:00", "12:00"]]
TIERS = ["silver", "gold", "platinum"]
TAGS = ["student", "nurse", "runner", "gamer", "parent"]
TARGET_MEDIAN_US = 20.0


def _batch(brand: int, product: int, batch: int) -> int:
    """Global ids: product p of brand b is b*100+p, its batch k is (b*100+p)*100+k."""
    return (brand * 100 + product) * 100 + batch


def _definition(rng: random.Random, brand: int) -> tuple[dict[str, Any], frozenset[int] | None]:
    scope: dict[str, Any] = {}
    product_ids: frozenset[int] | None = None
    shape = rng.random()
    if shape < 0.55:
        product = rng.randrange(PRODUCTS_PER_BRAND)
        batches = rng.sample(range(BATCHES_PER_PRODUCT), rng.randint(1, 3))
        scope["batches"] = [_batch(brand, product, b) for b in batches]
        if rng.random() < 1 / 3:
            first = rng.randrange(0, 90_000, 1000)
            scope["serials"] = [[first, first + rng.choice([999, 4999, 9999])]]
    elif shape < 0.90:
        products = rng.sample(range(PRODUCTS_PER_BRAND), rng.randint(1, 3))
        product_ids = frozenset(brand * 100 + p for p in products)
        scope["products"] = [f"sku-{p}" for p in sorted(product_ids)]
    if rng.random() < 0.1:
        scope["roles"] = ["inner", "outer"]

    if rng.random() < 0.85:
        start = REFERENCE - timedelta(days=rng.uniform(4, 60))
        end = REFERENCE + timedelta(days=rng.uniform(4, 90))
    elif rng.random() < 0.5:
        start = REFERENCE - timedelta(days=rng.uniform(30, 90))
        end = start + timedelta(days=rng.uniform(1, 20))
    else:
        start = REFERENCE + timedelta(days=rng.uniform(4, 30))
        end = start + timedelta(days=rng.uniform(1, 60))
    window: dict[str, Any] = {"start": start.isoformat(timespec="seconds"), "end": end.isoformat(timespec="seconds")}
    if rng.random() < 0.25:
        window["daily_hours"] = rng.choice(DAILY_HOURS)

    regions: dict[str, Any] = {}
    if rng.random() < 0.5:
        regions["include"] = rng.sample(PROVINCES, rng.randint(1, 3))
        if rng.random() < 0.15:
            regions["exclude"] = [regions["include"][0] + "01"]

    members: dict[str, Any] = {}
    kind = rng.random()
    if kind < 0.15:
        members["tiers"] = rng.sample(TIERS, rng.randint(1, 2))
        members["tier_multipliers"] = {"platinum": 2}
    elif kind < 0.25:
        members.update(audience="members", tags=rng.sample(TAGS, 2))
    elif kind < 0.30:
        members["audience"] = "new_members"

    max_fen = rng.choice([100, 200, 500, 888])
    total = rng.choice([100, 1000, 5000])
    definition = {
        "name": f"campaign of brand {brand}",
        "brand": f"brand-{brand}",
        "priority": rng.randint(-10, 10),
        "exclusive": rng.random() < 0.1,
        "window": window,
        "scope": scope,
        "regions": regions,
        "members": members,
        "budget": {"total_fen": max_fen * total * 2},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": max_fen, "weight": 0.3, "total": total}],
        "consolation": {"kind": "thanks"},
    }
    return definition, product_ids


def _campaigns(rng: random.Random, n: int) -> list[CompiledCampaign]:
    compiled = []
    for campaign_id in range(1, n + 1):
        brand = rng.randint(1, BRANDS)
        definition, product_ids = _definition(rng, brand)
        parsed = parse_definition(definition)
        compiled.append(compile_campaign(campaign_id, 1, parsed, brand_id=brand, product_ids=product_ids))
    return compiled


def _scans(rng: random.Random, n: int) -> list[ScanContext]:
    reference = REFERENCE.timestamp()
    scans = []
    for _ in range(n):
        brand, product, batch = rng.randint(1, BRANDS), rng.randrange(PRODUCTS_PER_BRAND), rng.randrange(10)
        member = rng.random() < 0.6
        adcode = (
            None if rng.random() < 0.05 else f"{rng.choice(PROVINCES)}{rng.randint(1, 20):02d}{rng.randint(1, 20):02d}"
        )
        scans.append(
            ScanContext(
                brand_id=brand,
                product_id=brand * 100 + product,
                batch_id=_batch(brand, product, batch),
                serial=rng.randrange(100_000),
                role="inner" if rng.random() < 0.9 else "outer",
                now=reference + rng.uniform(-3, 3) * 86400,
                adcode=adcode,
                member=member,
                new_member=member and rng.random() < 0.05,
                tier=rng.choice([None, *TIERS]) if member else None,
                tags=frozenset(rng.sample(TAGS, rng.randint(0, 2))) if member else frozenset(),
            )
        )
    return scans


def _timings_us(call: Callable[[ScanContext], object], scans: Sequence[ScanContext]) -> list[float]:
    clock = time.perf_counter_ns
    out = []
    for ctx in scans:
        start = clock()
        call(ctx)
        out.append((clock() - start) / 1e3)
    return out


def _quantiles(samples: list[float]) -> tuple[float, float, float]:
    cuts = statistics.quantiles(samples, n=100, method="inclusive")
    return statistics.median(samples), cuts[89], cuts[98]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--campaigns", type=int, default=10_000)
    parser.add_argument("--scans", type=int, default=100_000)
    parser.add_argument("--slow-scans", type=int, default=1_000, help="scans for explain and the linear scan")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)

    start = time.perf_counter()
    campaigns = _campaigns(rng, args.campaigns)
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    matcher = Matcher(campaigns, version=1)
    build_ms = (time.perf_counter() - start) * 1e3
    scans = _scans(rng, args.scans)
    slow = scans[: args.slow_scans]

    for ctx in scans[:10_000]:  # warm up: first calls pay for cold caches and allocator growth
        matcher.match(ctx)
    match_us = _timings_us(matcher.match, scans)
    start = time.perf_counter()
    for ctx in scans:
        matcher.match(ctx)
    mean_us = (time.perf_counter() - start) / len(scans) * 1e6
    timer_us = statistics.median(_timings_us(lambda ctx: None, scans[:10_000]))
    candidates = statistics.fmean(len(matcher.candidates(ctx)) for ctx in scans)
    matched = statistics.fmean(len(matcher.match(ctx)) for ctx in scans)
    explain_us = _timings_us(matcher.explain, slow)

    ordered = matcher.campaigns

    def linear_match(ctx: ScanContext) -> list[CompiledCampaign]:
        return Matcher._apply_exclusivity([c for c in ordered if _why_not(c, ctx) is None])

    linear_us = _timings_us(linear_match, slow)
    disagreements = sum(linear_match(ctx) != matcher.match(ctx) for ctx in slow)

    p50, p90, p99 = _quantiles(match_us)
    e50, _, e99 = _quantiles(explain_us)
    l50, _, l99 = _quantiles(linear_us)
    shapes = {
        "batch": sum(c.batch_ids is not None for c in campaigns),
        "product": sum(c.batch_ids is None and c.product_ids is not None for c in campaigns),
        "brand": sum(c.batch_ids is None and c.product_ids is None for c in campaigns),
    }
    figures: dict[str, Any] = {
        "campaigns": len(campaigns),
        "batch_scoped": shapes["batch"],
        "product_scoped": shapes["product"],
        "brand_scoped": shapes["brand"],
        "parse_compile_s": round(compile_s, 2),
        "build_ms": round(build_ms, 1),
        "scans": len(scans),
        "match_p50_us": round(p50, 2),
        "match_p90_us": round(p90, 2),
        "match_p99_us": round(p99, 2),
        "match_mean_us": round(mean_us, 2),
        "timer_overhead_us": round(timer_us, 2),
        "candidates_avg": round(candidates, 1),
        "matched_avg": round(matched, 2),
        "explain_p50_us": round(e50, 1),
        "explain_p99_us": round(e99, 1),
        "linear_p50_us": round(l50, 1),
        "linear_p99_us": round(l99, 1),
        "linear_over_index_p50": round(l50 / p50, 1),
        "disagreements": disagreements,
        "target_match_p50_us": TARGET_MEDIAN_US,
        "meets_target": p50 <= TARGET_MEDIAN_US,
    }

    print(
        f"campaigns:        {len(campaigns):>8}   ({shapes['batch']} batch-, {shapes['product']} product-, "
        f"{shapes['brand']} brand-scoped; {BRANDS} brands, {BRANDS * PRODUCTS_PER_BRAND} products, "
        f"{BRANDS * PRODUCTS_PER_BRAND * BATCHES_PER_PRODUCT} batches)"
    )
    print(f"parse + compile:  {compile_s:8.2f} s")
    print(f"Matcher build:    {build_ms:8.1f} ms")
    verdict = "meets" if p50 <= TARGET_MEDIAN_US else "MISSES"
    print(
        f"match ×{len(scans)}: p50 {p50:6.2f} µs  (target ≤ {TARGET_MEDIAN_US:.0f} µs: {verdict})   "
        f"p90 {p90:6.2f} µs   p99 {p99:6.2f} µs   mean {mean_us:6.2f} µs (untimed loop)"
    )
    print(f"  per-call timer overhead {timer_us:.2f} µs (included above)")
    print(f"  candidates examined {candidates:.1f} on average, {matched:.2f} campaigns matched on average")
    print(f"explain ×{len(slow)}:  p50 {e50:8.1f} µs   p99 {e99:8.1f} µs")
    print(
        f"linear scan ×{len(slow)}: p50 {l50:8.1f} µs   p99 {l99:8.1f} µs   "
        f"= {l50 / p50:.0f}× the indexed match   ({disagreements} disagreements)"
    )
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
