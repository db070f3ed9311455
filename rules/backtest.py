"""Backtest: replay stored scan events of a period against one campaign (a draft, typically) and report
what it would have awarded and cost. Reads SQL, consumes nothing, writes nothing.

The replay runs the draw's own rules in Python — eligibility, one draw per code, the prize pick with
fallback, quantities, budgets, caps — with a seeded random generator, so the same request gives the same
report; the expected (probability-weighted) figures without any limit are reported beside it.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen.models import Batch
from rules.campaign import CompiledCampaign, Prize
from rules.matcher import Matcher, ScanContext
from rules.models import ScanEvent

MAX_EVENTS = 2_000_000


@dataclass
class BacktestReport:
    scans: int = 0
    matched: int = 0
    draws: int = 0
    awards: int = 0
    cost_fen: int = 0
    expected_awards: float = 0.0  # without quantities, budget or caps
    expected_cost_fen: float = 0.0
    by_prize: Counter[int] = field(default_factory=Counter)
    truncated: bool = False

    def as_dict(self, campaign: CompiledCampaign) -> dict[str, Any]:
        names = {p.index: p.name for p in (*campaign.prizes, *(c for c in [campaign.consolation] if c))}
        return {
            "scans": self.scans, "matched": self.matched, "draws": self.draws, "awards": self.awards,
            "cost_fen": self.cost_fen, "expected_awards": round(self.expected_awards, 2),
            "expected_cost_fen": round(self.expected_cost_fen), "truncated": self.truncated,
            "by_prize": [{"index": i, "name": names.get(i, ""), "awards": n} for i, n in sorted(self.by_prize.items())],
        }


def _day(campaign: CompiledCampaign, ts: datetime) -> str:
    return (ts + timedelta(minutes=campaign.utc_offset_minutes)).strftime("%Y%m%d")


def backtest(session: Session, campaign: CompiledCampaign, start: datetime, end: datetime,
             seed: int = 0) -> BacktestReport:
    rng = random.Random(seed)  # noqa: S311 - a reproducible replay, not the live draw (which uses secrets)
    matcher = Matcher([campaign])
    report = BacktestReport()
    batches = {b.id: b for b in session.scalars(select(Batch))}
    drawn: set[tuple[int, str, int]] = set()
    qty: Counter[int] = Counter()
    qty_day: Counter[tuple[int, str]] = Counter()
    spent_day: Counter[str] = Counter()
    member_total: Counter[str] = Counter()
    member_day: Counter[tuple[str, str]] = Counter()
    nth = 0
    mean_cash = {p.index: (p.min_fen + p.max_fen) / 2 for p in campaign.prizes if p.kind == "cash"}
    events = session.scalars(
        select(ScanEvent).where(ScanEvent.scanned_at >= start, ScanEvent.scanned_at < end)
        .order_by(ScanEvent.scanned_at, ScanEvent.id).limit(MAX_EVENTS + 1)
        .execution_options(yield_per=5000)
    )
    for event in events:
        if report.scans == MAX_EVENTS:
            report.truncated = True
            break
        report.scans += 1
        batch = batches.get(event.batch_id)
        if batch is None or event.kind not in ("first", "repeat"):
            continue
        at = event.scanned_at if event.scanned_at.tzinfo else event.scanned_at.replace(tzinfo=UTC)
        ctx = ScanContext(brand_id=batch.product.brand_id, product_id=batch.product_id, batch_id=batch.id,
                          serial=event.serial, role=event.role, now=at.timestamp(), adcode=event.adcode,
                          # events stored before migration 0013 have no source: their adcodes came from apps
                          region_source=event.region_source or ("gps" if event.adcode else "none"),
                          member=bool(event.member))
        if not matcher.match(ctx):
            continue
        report.matched += 1
        if campaign.ordinal == "first_scan" and event.kind != "first":
            continue
        if campaign.ordinal == "member_first" and not (event.member and event.kind == "first"):
            continue
        key = (event.batch_id, event.role, event.serial)
        if campaign.one_per_code and key in drawn:
            continue
        member, day = event.member, _day(campaign, at)
        if member and ((campaign.per_member and member_total[member] >= campaign.per_member) or
                       (campaign.per_member_daily and member_day[member, day] >= campaign.per_member_daily)):
            continue
        report.draws += 1
        drawn.add(key)
        report.expected_awards += sum(p.weight for p in campaign.prizes)
        report.expected_cost_fen += sum(p.weight * mean_cash.get(p.index, 0) for p in campaign.prizes)
        if campaign.ordinal == "every_nth":
            nth += 1
            if nth % campaign.nth:
                continue
        prize, amount = _pick(campaign, rng, qty, qty_day, day, report.cost_fen, spent_day[day])
        if prize is None or prize.kind == "thanks":
            continue
        report.awards += 1
        report.cost_fen += amount
        spent_day[day] += amount
        qty[prize.index] += 1
        qty_day[prize.index, day] += 1
        report.by_prize[prize.index] += 1
        if member:
            member_total[member] += 1
            member_day[member, day] += 1
    return report


def _pick(c: CompiledCampaign, rng: random.Random, qty: Counter[int], qty_day: Counter[tuple[int, str]],
          day: str, spent: int, spent_today: int) -> tuple[Prize | None, int]:
    """The draw script's choice, in Python: the drawn prize, else the next payable one, else the consolation."""
    r, r2 = rng.random(), rng.random()
    edge, pick = 0.0, None
    for i, p in enumerate(c.prizes):
        edge += p.weight
        if r < edge:
            pick = i
            break
    if pick is not None:
        for k in range(len(c.prizes)):
            p = c.prizes[(pick + k) % len(c.prizes)]
            if (p.total and qty[p.index] >= p.total) or (p.daily and qty_day[p.index, day] >= p.daily):
                continue
            if p.kind != "cash":
                return p, 0
            amount = min(p.max_fen, p.min_fen + int(r2 * (p.max_fen - p.min_fen + 1)))
            if spent + amount > c.budget_fen or (c.daily_budget_fen and spent_today + amount > c.daily_budget_fen):
                continue
            return p, amount
    return c.consolation, 0
