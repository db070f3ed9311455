"""What a campaign could cost, from its definition alone: the editor's live preview beside the form.

Works on a definition still being written (a half-filled prize table, a budget not typed yet): whatever
cannot be read counts as absent, so the preview follows the operator's typing; the validator, not this,
says what is wrong. Figures are in fen; the expectation assumes every first scan in scope draws once
(`every_nth`: one in n does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rules.campaign import Prize
from rules.odds import draw_odds


@dataclass(frozen=True)
class PrizeLine:
    name: str
    kind: str
    probability: float
    mean_fen: float  # mean cash per award at the base tier (0 for non-cash)
    total: int | None


@dataclass(frozen=True)
class Note:
    zh: str
    en: str


@dataclass(frozen=True)
class CostPreview:
    budget_fen: int | None
    daily_budget_fen: int | None
    worst_case_fen: int | None  # None: some cash prize has no total quantity (only the budget bounds it)
    expected_fen_per_1000: int  # per 1,000 first scans, base tier
    expected_fen_per_1000_top: int  # the same with the highest tier multiplier
    top_multiplier: float
    win_probability: float  # per first scan (every Nth: 1 in N draws), before any prize runs out
    consolation_probability: float  # the draw picked no prize and a consolation exists
    miss_probability: float
    consolation_name: str
    first_scan_wins: bool
    budget_lasts_scans: int | None  # first scans until the expected spend reaches the budget
    stock_lasts_scans: int | None  # first scans until the first prize with a total quantity is expected to run out
    prizes: list[PrizeLine] = field(default_factory=list)
    warnings: list[Note] = field(default_factory=list)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _prize(index: int, raw: dict[str, Any]) -> Prize:
    """The prize as far as it can be read; an unreadable probability or amount counts as 0."""
    kind = raw.get("kind") if isinstance(raw.get("kind"), str) else ""
    weight = _number(raw.get("weight"))
    low = _int(raw.get("min_fen")) or 0 if kind == "cash" else 0
    high = max(low, _int(raw.get("max_fen")) or low) if kind == "cash" else 0
    name = raw.get("name") if isinstance(raw.get("name"), str) and raw.get("name") else str(kind)
    return Prize(index, str(kind), str(name), weight if weight is not None and 0 <= weight <= 1 else 0.0,
                 min_fen=low, max_fen=high, total=_int(raw.get("total")))


def preview_cost(doc: dict[str, Any], now: datetime | None = None) -> CostPreview:
    """The cost preview of a (possibly unfinished) definition."""
    budget = _dict(doc.get("budget"))
    budget_fen, daily_fen = _int(budget.get("total_fen")), _int(budget.get("daily_fen"))
    multipliers = [m for m in (_number(v) for v in _dict(_dict(doc.get("members")).get("tier_multipliers"))
                               .values()) if m is not None and 0 < m <= 10]
    top = max([1.0, *multipliers])
    raw_prizes: list[Any] = doc["prizes"] if isinstance(doc.get("prizes"), list) else []
    prizes = [_prize(i, p) for i, p in enumerate(raw_prizes) if isinstance(p, dict)]
    ordinal = _dict(doc.get("ordinal"))
    nth = _int(ordinal.get("n")) or 1
    consolation = _dict(doc.get("consolation"))
    odds = draw_odds(prizes, Prize(-1, "thanks", "", 0.0) if consolation else None,
                     ordinal=str(ordinal.get("kind")), nth=max(1, nth))
    first_scan_wins = doc.get("first_scan_wins") is True
    warnings: list[Note] = []

    worst: int | None = 0
    bounded_top = 0
    for p in prizes:
        if p.kind != "cash":
            continue
        high = p.max_fen
        if p.total is None:
            worst = None
            warnings.append(Note(f"现金奖品「{p.name}」没有设置总数量：最坏情况只受预算限制。",
                                 f"Cash prize “{p.name}” has no total quantity: only the budget bounds it."))
        elif worst is not None:
            worst += math.ceil(high * top) * p.total
        bounded_top = max(bounded_top, math.ceil(high * top))
    if worst is not None and budget_fen is not None and worst > budget_fen:
        warnings.append(Note(f"最坏情况 {worst / 100:.2f} 元超出预算 {budget_fen / 100:.2f} 元。",
                             f"The worst case, {worst / 100:.2f} yuan, is above the budget of {budget_fen / 100:.2f}."))
    if sum(p.weight for p in prizes) > 1 + 1e-9:
        warnings.append(Note("各奖品中奖概率之和超过 100%。", "The prizes' probabilities add up to over 100 %."))
    if first_scan_wins and not consolation and odds.win < 1 - 1e-9:
        warnings.append(Note("首扫必中需要设置安慰奖：未抽中奖品时发放。",
                             "首扫必中 needs a consolation prize for when no prize is drawn."))
    if daily_fen is not None and bounded_top and daily_fen < bounded_top:
        warnings.append(Note("每日预算低于单个最大红包金额：当天可能一个红包也发不出。",
                             "The daily budget is below the largest single red packet."))
    if not prizes or (odds.win == 0 and not consolation):
        warnings.append(Note("没有任何奖品会被抽中。", "No prize can ever be drawn."))
    end = _dict(doc.get("window")).get("end")
    if now is not None and isinstance(end, str):
        try:
            ends = datetime.fromisoformat(end)
            if ends.tzinfo is not None and ends <= now:
                warnings.append(Note("活动结束时间已过。", "The campaign's end is in the past."))
        except ValueError:
            pass

    expected = odds.expected_cash_fen * 1000
    lasts = int(budget_fen / odds.expected_cash_fen) if budget_fen is not None and odds.expected_cash_fen > 0 else None
    stock = [p.total / q for p, q in zip(prizes, odds.prizes, strict=True) if p.total is not None and q > 0]
    lines = [PrizeLine(p.name, p.kind, q, (p.min_fen + p.max_fen) / 2, p.total)
             for p, q in zip(prizes, odds.prizes, strict=True)]
    return CostPreview(
        budget_fen=budget_fen, daily_budget_fen=daily_fen, worst_case_fen=worst,
        expected_fen_per_1000=round(expected), expected_fen_per_1000_top=round(expected * top),
        top_multiplier=top, win_probability=odds.win, miss_probability=odds.miss,
        consolation_probability=odds.consolation,
        consolation_name=str(consolation.get("name") or consolation.get("kind") or ""),
        first_scan_wins=first_scan_wins, budget_lasts_scans=lasts,
        stock_lasts_scans=int(min(stock)) if stock else None, prizes=lines, warnings=warnings,
    )
