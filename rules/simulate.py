"""Simulate a scan against the campaigns in SQL: which match, why not, what they need, the odds.

Shared by the ops API (`POST /api/v1/simulate`) and the console's simulate page. Consumes nothing:
campaigns are compiled from SQL (drafts included, each verdict names its status), so a campaign can be
tried before it is activated and published.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from codegen.models import Batch
from rules.campaign import CompiledCampaign, InvalidCampaign, Prize, Problem
from rules.campaign_store import compile_row
from rules.matcher import Matcher, ScanContext
from rules.models import Campaign
from rules.odds import draw_odds
from rules.region import RegionIndex


@dataclass(frozen=True)
class SimulatedMember:
    tier: str | None = None
    tags: frozenset[str] = frozenset()
    new: bool = False


def prize_odds(prize: Prize, probability: float, multiplier: float = 1.0) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": prize.kind, "name": prize.name, "probability": round(probability, 6)}
    if prize.kind == "cash":
        out["min_fen"], out["max_fen"] = round(prize.min_fen * multiplier), round(prize.max_fen * multiplier)
    if prize.kind == "points":
        out["points"] = prize.points
    return out


def simulation_context(session: Session, regions: RegionIndex, *, batch_id: int, serial: int, role: str,
                       now: float, adcode: str | None = None, member: SimulatedMember | None = None) -> ScanContext:
    """The scan as the matcher sees it; InvalidCampaign for an unknown batch or region."""
    batch = session.get(Batch, batch_id)
    if batch is None:
        raise InvalidCampaign([Problem("batch_id", f"unknown batch {batch_id}")])
    region = regions.lookup(adcode) if adcode is not None else None
    if adcode is not None and region is None:
        raise InvalidCampaign([Problem("adcode", f"unknown region {adcode!r}")])
    return ScanContext(
        brand_id=batch.product.brand_id, product_id=batch.product_id, batch_id=batch_id, serial=serial,
        role=role, now=now, adcode=region.adcode if region else None, member=member is not None,
        new_member=bool(member and member.new), tier=member.tier if member else None,
        tags=member.tags if member else frozenset(),
    )


@dataclass
class Simulation:
    verdicts: list[dict[str, Any]] = field(default_factory=list)
    invalid: list[dict[str, Any]] = field(default_factory=list)  # campaigns of the brand that no longer compile


def simulate_scan(session: Session, ctx: ScanContext, regions: RegionIndex) -> Simulation:
    """Every live or draft campaign of the scan's brand: matched or why not, needs, odds and prizes."""
    rows = session.scalars(select(Campaign).where(Campaign.brand_id == ctx.brand_id,
                                                  Campaign.status != Campaign.ENDED).order_by(Campaign.id))
    compiled: list[CompiledCampaign] = []
    result = Simulation()
    status: dict[int, str] = {}
    for row in rows:
        status[row.id] = row.status
        try:
            compiled.append(compile_row(session, row, regions))
        except InvalidCampaign as exc:
            result.invalid.append({"id": row.id, "problems": str(exc)})
    for v in Matcher(compiled).explain(ctx):
        c = v.campaign
        multiplier = c.tier_multipliers.get(ctx.tier or "", 1.0)
        odds = draw_odds(c.prizes, c.consolation, ordinal=c.ordinal, nth=c.nth)
        result.verdicts.append({
            "id": c.id, "name": c.name, "status": status[c.id], "matched": v.matched, "reason": v.reason,
            "priority": c.priority, "exclusive": c.exclusive,
            "needs": [n for n, on in (("first scan of the code", c.ordinal == "first_scan"),
                                      ("the member's first scan", c.ordinal == "member_first"),
                                      (f"every {c.nth}th scan", c.ordinal == "every_nth")) if on],
            # Per scan that meets `needs` (every Nth: 1 in N of them draws): a prize, else the consolation
            # (1 − Σ prize probabilities), else nothing.
            "win_probability": round(odds.win, 6),
            "consolation_probability": round(odds.consolation, 6),
            "miss_probability": round(odds.miss, 6),
            "first_scan_wins": c.first_scan_wins,
            "prizes": [prize_odds(p, q, multiplier) for p, q in zip(c.prizes, odds.prizes, strict=True)],
            "consolation": prize_odds(c.consolation, odds.consolation) if c.consolation else None,
        })
    return result
