"""Cost of publishing per brand: the pending diff and a brand's publish, with other brands' campaigns live.

    python -m bench.bench_publish [--mine 200] [--others 1000] [--runs 5] [--database-url URL] [--redis-url URL]

Two brands: "mine" with `--mine` active campaigns, "others" with `--others`, all published once
platform-wide; then half of mine are edited (budget), and the pending diff and a publish by "mine" are
timed `--runs` times each (each publish is a real one: a new version every run). The database defaults
to a temporary SQLite file; give a PostgreSQL URL (an empty database) to time that. The Redis DB given
is FLUSHED at start and end (default YIMA_BENCH_REDIS_URL, else redis://127.0.0.1:6379/14).

Prints the medians and a one-line JSON; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis

from codegen import batches
from codegen.db import make_engine, make_sessionmaker, transaction
from rules.campaign_store import save_campaign, set_status
from rules.models import Campaign
from rules.publish import pending_diff, publish_rules
from rules.region import default_index
from schema import upgrade_schema


def definition(brand: str, i: int, budget: int = 100_000) -> dict[str, Any]:
    return {"name": f"{brand}-{i}", "brand": brand,
            "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
            "regions": {"include": ["44"]}, "budget": {"total_fen": budget},
            "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 300, "weight": 0.5}]}


def timed(runs: int, step: Callable[[], Any]) -> list[float]:
    out = []
    for _ in range(runs):
        started = time.perf_counter()
        step()
        out.append((time.perf_counter() - started) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mine", type=int, default=200)
    parser.add_argument("--others", type=int, default=1000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("YIMA_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14"))
    args = parser.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="bench-publish-")
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'bench.db'}"
    r = redis.Redis.from_url(args.redis_url)
    r.flushdb()
    engine = make_engine(url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    regions = default_index()
    with transaction(sessions) as s:
        ids = {slug: batches.add_brand(s, slug, slug, f"https://{slug}.example").id for slug in ("mine", "others")}
    mine: list[int] = []
    with transaction(sessions) as s:
        for brand, count in (("others", args.others), ("mine", args.mine)):
            for i in range(count):
                row = save_campaign(s, definition(brand, i), regions)
                set_status(s, row.id, "active", regions)
                if brand == "mine":
                    mine.append(row.id)
    with transaction(sessions) as s:
        publish_rules(s, r, regions)
    with transaction(sessions) as s:
        for n, campaign_id in enumerate(mine[: len(mine) // 2]):
            save_campaign(s, definition("mine", n, budget=200_000), regions, campaign_id,
                              edit_version=s.get(Campaign, campaign_id).edit_version)

    def diff() -> None:
        with sessions() as s:
            assert len(pending_diff(s, r, ids["mine"]).changed) == len(mine) // 2

    def publish() -> None:
        with transaction(sessions) as s:
            publish_rules(s, r, regions, brand_id=ids["mine"], actor="bench")

    diff_ms, publish_ms = timed(args.runs, diff), timed(args.runs, publish)
    figures = {"database": engine.dialect.name, "mine": args.mine, "others": args.others, "runs": args.runs,
               "diff_ms_median": round(statistics.median(diff_ms), 1),
               "publish_ms_median": round(statistics.median(publish_ms), 1)}
    print(f"{engine.dialect.name}: {args.mine} campaigns of the publishing brand, {args.others} of another, live")
    print(f"  pending diff ({len(mine) // 2} changed)   median {figures['diff_ms_median']:8.1f} ms")
    print(f"  publish by the brand          median {figures['publish_ms_median']:8.1f} ms")
    print(json.dumps(figures))
    r.flushdb()
    r.close()
    engine.dispose()
    tmp.cleanup()


if __name__ == "__main__":
    main()
