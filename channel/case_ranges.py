"""Arithmetic on runs of case serials: inclusive (first, last) pairs, sorted and disjoint.

A shipment stores its cases as such runs (channel.models.ShipmentRange): 100,000 cases scanned in any order
collapse to one run when they are consecutive. Pure functions, no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

Run = tuple[int, int]  # first and last case serial, inclusive


def collapse(cases: Iterable[int]) -> list[Run]:
    """The runs of consecutive serials among `cases` (any order, repeats ignored)."""
    runs: list[Run] = []
    for case in sorted(set(cases)):
        if runs and runs[-1][1] == case - 1:
            runs[-1] = (runs[-1][0], case)
        else:
            runs.append((case, case))
    return runs


def union(runs: Iterable[Run]) -> list[Run]:
    """Sorted, disjoint runs covering the same serials (overlapping or touching runs are joined)."""
    out: list[Run] = []
    for first, last in sorted(runs):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def intersect(a: list[Run], b: list[Run]) -> list[Run]:
    """Serials in both (each argument sorted and disjoint): one merge pass."""
    out: list[Run] = []
    i = j = 0
    while i < len(a) and j < len(b):
        first, last = max(a[i][0], b[j][0]), min(a[i][1], b[j][1])
        if first <= last:
            out.append((first, last))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(a: list[Run], b: list[Run]) -> list[Run]:
    """Serials of `a` not in `b` (each sorted and disjoint)."""
    out: list[Run] = []
    j = 0
    for first, last in a:
        start = first
        while j < len(b) and b[j][1] < start:
            j += 1
        k = j
        while k < len(b) and b[k][0] <= last:
            if b[k][0] > start:
                out.append((start, b[k][0] - 1))
            start = max(start, b[k][1] + 1)
            k += 1
        if start <= last:
            out.append((start, last))
    return out


def count(runs: Iterable[Run]) -> int:
    return sum(last - first + 1 for first, last in runs)


def items_in(first: int, last: int, pack_size: int, quantity: int) -> int:
    """Items in cases first..last of a batch of `quantity` items, `pack_size` to a case (the batch's last case
    holds what is left over)."""
    return max(0, min((last + 1) * pack_size, quantity) - first * pack_size)
