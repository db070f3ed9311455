"""The arithmetic of bench/bench_payouts.py, kept pure so tests/unit/test_bench_payouts.py can check it:
percentiles, a sustained rate, the busiest one-second window, the bucket split of a provider's limit, the
fake's FREQUENCY_LIMITED answers counted from its access log, bills against payouts, and the table."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

CREATE_REFUSED = re.compile(r'"POST /v3/fund-app/mch-transfer/transfer-bills" 429\b')


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile, q in [0, 100]: a value that was measured, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[max(1, math.ceil(q / 100 * len(ordered))) - 1]


def sustained_rate(moments: Iterable[float]) -> float:
    """Events per second from the first to the last: n - 1 intervals over the span (nan below two events
    or when they all happened at once)."""
    ordered = sorted(moments)
    if len(ordered) < 2 or ordered[-1] <= ordered[0]:
        return math.nan
    return (len(ordered) - 1) / (ordered[-1] - ordered[0])


def busiest_window(moments: Iterable[float], width_s: float = 1.0) -> int:
    """The most events in any window [t, t + width_s): what a provider counting its limit per second saw
    at worst."""
    ordered = sorted(moments)
    best, start = 0, 0
    for end, moment in enumerate(ordered):
        while moment - ordered[start] >= width_s:
            start += 1
        best = max(best, end - start + 1)
    return best


def bucket_split(limit_per_s: float) -> tuple[float, int]:
    """(rate, burst) for yima's token bucket under a provider limit counted per second: the bucket lets up to
    rate + burst through in any one second, so their sum is the limit (docs/payouts.md: 100/s → 95 + 5,
    1,800/min → 28 + 2)."""
    if limit_per_s < 3:
        raise ValueError("a provider limit below 3/s leaves no room for a burst")
    burst = max(2, round(limit_per_s / 20))
    return limit_per_s - burst, burst


def refusals_in_log(text: str) -> int:
    """FREQUENCY_LIMITED answers (HTTP 429 on a transfer create) in the fake's access log."""
    return len(CREATE_REFUSED.findall(text))


@dataclass(frozen=True)
class BillCheck:
    """The payouts' bill numbers against the bills the fake holds."""

    missing: int  # a payout's bill the fake never got
    extra: int  # a bill at the fake no payout of this phase names
    repeated: int  # payouts sharing a bill number, or one award with more than one bill

    @property
    def exact(self) -> bool:
        return self.missing == self.extra == self.repeated == 0


def check_bills(payout_bills: Sequence[tuple[str, str]], fake_bills: Sequence[str]) -> BillCheck:
    """`payout_bills`: (award id, bill number) of every payout; `fake_bills`: every bill number at the fake.
    Exactly one bill per award means no missing, no extra, nothing repeated."""
    by_award = Counter(award for award, _ in payout_bills)
    by_number = Counter(number for _, number in payout_bills)
    at_fake = Counter(fake_bills)
    repeated = (sum(n - 1 for n in by_award.values() if n > 1) + sum(n - 1 for n in by_number.values() if n > 1)
                + sum(n - 1 for n in at_fake.values() if n > 1))
    return BillCheck(missing=len(set(by_number) - set(at_fake)), extra=len(set(at_fake) - set(by_number)),
                     repeated=repeated)


def verdict(value: float, target: float | None, higher_is_better: bool = True) -> str:
    """PASS / MISS against a target; "-" when there is none (a figure the issue asks for, not a bar)."""
    if target is None:
        return "-"
    if math.isnan(value):
        return "MISS"
    return "PASS" if (value >= target if higher_is_better else value <= target) else "MISS"


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Plain columns, left-aligned, the header underlined: readable in a terminal and pasteable in a note."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths, strict=True)).rstrip(), line]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(out)
