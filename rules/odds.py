"""What one eligible scan of a campaign comes up with, by probability: each prize, the consolation, nothing.

The draw (rules/draw.lua) picks a prize by its weight; when it picks none — with probability 1 − Σ weights —
the consolation comes up if there is one, else the scan gets nothing. 首扫必中 (first_scan_wins) changes
nothing in the draw: it only insists that a consolation exists, so that no first scan goes away empty.
"Every Nth scan" draws on one eligible scan in N; the others get nothing. The figures are nominal: every
prize in stock and within budget (an exhausted prize falls back to the next, then to the consolation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rules.campaign import Prize


@dataclass(frozen=True)
class Odds:
    prizes: tuple[float, ...]  # per prize of the table, in order
    consolation: float
    miss: float  # nothing at all
    expected_cash_fen: float  # mean cash per eligible scan, before any tier multiplier

    @property
    def win(self) -> float:
        """A prize of the table (the consolation not counted)."""
        return sum(self.prizes)


def draw_odds(prizes: Sequence[Prize], consolation: Prize | None, *, ordinal: str = "any", nth: int = 1) -> Odds:
    """The odds of one eligible scan (one that meets the campaign's ordinal: first scan, member, ...)."""
    draws = 1 / nth if ordinal == "every_nth" else 1.0
    weights = [p.weight for p in prizes]
    drawn = min(1.0, sum(weights))
    per_prize = tuple(w * draws for w in weights)
    comfort = (1.0 - drawn) * draws if consolation is not None else 0.0
    # The cash amount is uniform over min_fen..max_fen (draw.lua), so its mean is the midpoint.
    cash = sum(w * (p.min_fen + p.max_fen) / 2 for w, p in zip(per_prize, prizes, strict=True) if p.kind == "cash")
    return Odds(per_prize, comfort, max(0.0, 1.0 - sum(per_prize) - comfort), cash)
