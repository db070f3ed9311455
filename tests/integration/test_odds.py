"""The odds simulate and the editor report are the real draw's: thousands of draws through draw.lua on
real Redis land within a few standard deviations of `draw_odds`."""

from __future__ import annotations

import math
from collections import Counter
from typing import Any

import pytest
import redis

from rules.draw import CONSOLATION, LOST, WON, Drawer
from rules.odds import draw_odds
from tests.integration.test_draw import campaign, draw, opened  # noqa: F401  (opened: the fixture)

DRAWS = 3000


@pytest.mark.parametrize(
    "over",
    [
        # 首扫必中: 60 % a red packet, the consolation the rest of the time (the issue: simulate said 0 %).
        {"first_scan_wins": True, "consolation": {"kind": "thanks"}, "ordinal": {"kind": "first_scan"},
         "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 500, "weight": 0.6}]},
        # Two prizes, points consolation, no 首扫必中.
        {"consolation": {"kind": "points", "points": 1},
         "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 0.1},
                    {"kind": "points", "points": 10, "weight": 0.3}]},
        # No consolation: the miss is nothing.
        {"prizes": [{"kind": "points", "points": 10, "weight": 0.25}]},
        # Every 3rd scan draws.
        {"ordinal": {"kind": "every_nth", "n": 3}, "consolation": {"kind": "thanks"},
         "prizes": [{"kind": "points", "points": 10, "weight": 0.5}]},
    ],
)
def test_the_draw_comes_up_as_often_as_the_odds_say(redis_any: redis.Redis, over: dict[str, Any]) -> None:
    c = campaign(**over)
    odds = draw_odds(c.prizes, c.consolation, ordinal=c.ordinal, nth=c.nth)
    drawer = Drawer(redis_any)
    seen: Counter[str] = Counter()
    for i in range(DRAWS):
        result = draw(drawer, c, i)
        key = {WON: f"prize {result.prize.index if result.prize else '?'}", CONSOLATION: "consolation",
               LOST: "miss"}[result.outcome]
        seen[key] += 1
    expected = {**{f"prize {i}": q for i, q in enumerate(odds.prizes)}, "consolation": odds.consolation,
                "miss": odds.miss}
    assert set(seen) <= {k for k, q in expected.items() if q > 0}
    for outcome, q in expected.items():
        # Six standard deviations of a binomial count: a false alarm about once in 500 million runs.
        slack = 6 * math.sqrt(DRAWS * q * (1 - q)) + 1
        assert abs(seen[outcome] - DRAWS * q) <= slack, (outcome, seen, expected)


def test_odds_add_up_to_one_and_fold_in_every_nth() -> None:
    c = campaign(ordinal={"kind": "every_nth", "n": 4}, consolation={"kind": "thanks"},
                 prizes=[{"kind": "cash", "min_fen": 100, "max_fen": 300, "weight": 0.2},
                         {"kind": "points", "points": 5, "weight": 0.2}])
    odds = draw_odds(c.prizes, c.consolation, ordinal=c.ordinal, nth=c.nth)
    assert odds.prizes == pytest.approx((0.05, 0.05)) and odds.win == pytest.approx(0.1)
    assert odds.consolation == pytest.approx(0.15) and odds.miss == pytest.approx(0.75)
    assert odds.expected_cash_fen == pytest.approx(0.05 * 200)  # the midpoint of 1–3 元, 1 scan in 20
