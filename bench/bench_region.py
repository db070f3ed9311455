"""Cost of rules.region: cold load, ``nearest`` per call, ``lookup`` per call, on one core.

    python -m bench.bench_region [--points 100000] [--seed 1]

``nearest`` runs over three point sets: uniform over China's bounding box (about half of them fall
outside every district's 150 km and answer None, the slowest case), points within 0.2° of a random
centroid (what real scans look like), and uniform over the dense east (22–40°N, 110–122°E).
``lookup`` runs over known 6-digit codes, their 12-digit forms and unknown codes, mixed.
Prints a table and a one-line JSON of every figure; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def _per_call_us(call: Callable[[T], object], args: Sequence[T]) -> float:
    start = time.perf_counter()
    for arg in args:
        call(arg)
    return (time.perf_counter() - start) / len(args) * 1e6


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    n, rng = args.points, random.Random(args.seed)

    start = time.perf_counter()
    from rules.region import RegionIndex  # timed: the import is part of a cold start

    index = RegionIndex.load()
    load_ms = (time.perf_counter() - start) * 1e3

    centroids = index.centroids
    point_sets = {
        "bbox": [(rng.uniform(18.0, 54.0), rng.uniform(73.0, 135.0)) for _ in range(n)],
        "near_centroid": [
            (c.lat + rng.uniform(-0.2, 0.2), c.lng + rng.uniform(-0.2, 0.2))
            for c in (rng.choice(centroids) for _ in range(n))
        ],
        "dense_east": [(rng.uniform(22.0, 40.0), rng.uniform(110.0, 122.0)) for _ in range(n)],
    }
    nearest = index.nearest
    figures: dict[str, float | int] = {"points": n, "centroids": len(centroids), "load_ms": round(load_ms, 1)}
    for name, points in point_sets.items():
        figures[f"nearest_us_{name}"] = round(_per_call_us(lambda p: nearest(p[0], p[1]), points), 2)
        figures[f"nearest_hit_ratio_{name}"] = round(sum(nearest(a, b) is not None for a, b in points) / n, 3)
    # The lambda and tuple unpacking above are part of the figure; this is what they cost on their own.
    figures["loop_overhead_us"] = round(_per_call_us(lambda p: (p[0], p[1]), point_sets["bbox"]), 2)

    known = [c.region.adcode for c in centroids]
    codes = [
        rng.choice(known) + "000000" if r < 0.2 else f"{rng.randrange(1_000_000):06d}" if r < 0.3 else rng.choice(known)
        for r in (rng.random() for _ in range(n))
    ]
    figures["lookup_us"] = round(_per_call_us(index.lookup, codes), 3)

    print(f"cold import + load: {figures['load_ms']:8.1f} ms   ({figures['centroids']} centroids)")
    for name in point_sets:
        print(
            f"nearest, {name:<14} {figures[f'nearest_us_{name}']:8.2f} µs/call"
            f"   (hit ratio {figures[f'nearest_hit_ratio_{name}']:.3f})"
        )
    print(f"  of which loop overhead:{figures['loop_overhead_us']:8.2f} µs/call")
    print(f"lookup (mixed codes):   {figures['lookup_us']:8.3f} µs/call")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
