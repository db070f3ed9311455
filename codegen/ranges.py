"""Serial ranges (码段): parsing "A-B", merging, subtracting. Ranges are inclusive pairs."""

from __future__ import annotations

from collections.abc import Iterable

from codegen.errors import CodegenError, Kind

Range = tuple[int, int]


class RangeError(CodegenError, ValueError):
    """Not a serial range of the batch; the message says why."""

    code = "invalid_range"
    kind = Kind.INVALID


def parse_range(text: str, count: int) -> Range:
    """Parse "A-B" (inclusive) or a single serial "A" against a batch of `count` items."""
    first_s, sep, last_s = text.strip().partition("-")
    try:
        first = int(first_s)
        last = int(last_s) if sep else first
    except ValueError:
        raise RangeError(f"range {text!r} is not A-B with whole numbers, e.g. 0-9999") from None
    if first < 0 or last < first:
        raise RangeError(f"range {text!r} must have 0 <= A <= B")
    if last >= count:
        raise RangeError(f"range {text!r} goes past the batch's last serial {count - 1}")
    return first, last


def merge(ranges: Iterable[Range]) -> list[Range]:
    """Sorted, non-overlapping, adjacent ranges joined."""
    out: list[Range] = []
    for first, last in sorted(ranges):
        if out and first <= out[-1][1] + 1:
            if last > out[-1][1]:
                out[-1] = (out[-1][0], last)
        else:
            out.append((first, last))
    return out


def subtract(ranges: Iterable[Range], cut: Iterable[Range]) -> list[Range]:
    """The serials in `ranges` and not in `cut`."""
    result = merge(ranges)
    for c_first, c_last in merge(cut):
        nxt: list[Range] = []
        for first, last in result:
            if last < c_first or first > c_last:
                nxt.append((first, last))
                continue
            if first < c_first:
                nxt.append((first, c_first - 1))
            if last > c_last:
                nxt.append((c_last + 1, last))
        result = nxt
    return result


def total(ranges: Iterable[Range]) -> int:
    return sum(last - first + 1 for first, last in merge(ranges))


def format_ranges(ranges: Iterable[Range]) -> str:
    return ",".join(f"{a}-{b}" if a != b else str(a) for a, b in ranges)
