"""Runs of case serials (channel/case_ranges.py), checked against plain sets of serials."""

from __future__ import annotations

import itertools
import random

from channel.case_ranges import collapse, count, intersect, items_in, subtract, union


def serials(runs: list[tuple[int, int]]) -> set[int]:
    return {n for first, last in runs for n in range(first, last + 1)}


def test_collapse_joins_consecutive_serials_in_any_order() -> None:
    assert collapse([5, 3, 4, 9, 3, 0]) == [(0, 0), (3, 5), (9, 9)]
    assert collapse(range(100_000)[::-1]) == [(0, 99_999)]
    assert collapse([]) == []


def test_set_operations_agree_with_sets() -> None:
    rng = random.Random(5)
    for _ in range(300):
        a = collapse(rng.sample(range(60), rng.randint(0, 40)))
        b = union([(f, f + rng.randint(0, 6)) for f in rng.sample(range(60), rng.randint(0, 10))])
        assert serials(union(a + b)) == serials(a) | serials(b)
        assert serials(intersect(a, b)) == serials(a) & serials(b)
        assert serials(subtract(a, b)) == serials(a) - serials(b)
        assert count(subtract(a, b)) == len(serials(a) - serials(b))
        for result in (union(a + b), intersect(a, b), subtract(a, b)):  # sorted, disjoint, not touching
            assert all(x[1] + 1 < y[0] for x, y in itertools.pairwise(result))


def test_items_in_cases_with_a_short_last_case() -> None:
    assert items_in(0, 9, 24, 240) == 240
    assert items_in(9, 9, 24, 230) == 14  # the last case holds what is left over
    assert items_in(3, 5, 24, 230) == 72
