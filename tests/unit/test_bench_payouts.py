"""The arithmetic behind `make bench-payouts` (bench/payout_figures.py): pure, no services."""

from __future__ import annotations

import math

import pytest

from bench.payout_figures import (
    bucket_split,
    busiest_window,
    check_bills,
    percentile,
    refusals_in_log,
    sustained_rate,
    table,
    verdict,
)


def test_percentile_is_a_measured_value_by_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1 .. 100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 95) == 95.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile([3.0, 1.0, 2.0], 50) == 2.0  # unsorted input
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_sustained_rate_counts_intervals_between_first_and_last() -> None:
    # 101 events evenly over 1 s are 100 intervals: 100/s, not 101/s.
    assert sustained_rate([i / 100 for i in range(101)]) == pytest.approx(100.0)
    assert sustained_rate([5.0, 1.0, 3.0]) == pytest.approx(0.5)  # order does not matter
    assert math.isnan(sustained_rate([1.0]))
    assert math.isnan(sustained_rate([2.0, 2.0]))  # all at once: no span to divide by


def test_busiest_window_is_the_most_events_in_any_one_second() -> None:
    assert busiest_window([]) == 0
    assert busiest_window([0.0, 0.5, 0.99, 1.0, 1.5]) == 3  # [0, 1) holds three; [0.5, 1.5) holds three
    assert busiest_window([0.0, 0.1, 0.2, 5.0]) == 3
    assert busiest_window([0.0, 1.0, 2.0]) == 1  # the window is half-open
    assert busiest_window([0.0, 0.2, 0.4], width_s=0.3) == 2


def test_bucket_split_keeps_rate_plus_burst_at_the_provider_limit() -> None:
    assert bucket_split(100) == (95, 5)  # 商家转账 100/s: docs/payouts.md
    assert bucket_split(30) == (28, 2)  # red packets 1,800/min
    rate, burst = bucket_split(1000)
    assert rate + burst == 1000 and burst == 50
    with pytest.raises(ValueError):
        bucket_split(2)


def test_refusals_are_429_answers_to_a_transfer_create_only() -> None:
    log = "\n".join([
        '127.0.0.1 - - [03/Dec/2026 15:50:04] "POST /v3/fund-app/mch-transfer/transfer-bills" 429 -',
        '127.0.0.1 - - [03/Dec/2026 15:50:04] "POST /v3/fund-app/mch-transfer/transfer-bills" 200 -',
        '127.0.0.1 - - [03/Dec/2026 15:50:05] "GET /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/X" 429 -',
        '127.0.0.1 - - [03/Dec/2026 15:50:05] "POST /v3/fund-app/mch-transfer/transfer-bills" 4290 -',
        '127.0.0.1 - - [03/Dec/2026 15:50:06] "POST /v3/fund-app/mch-transfer/transfer-bills" 429',
    ])
    assert refusals_in_log(log) == 2


def test_check_bills_exact_missing_extra_and_repeated() -> None:
    payouts = [("a1", "B1"), ("a2", "B2")]
    assert check_bills(payouts, ["B2", "B1"]).exact
    found = check_bills(payouts, ["B1", "B9"])
    assert (found.missing, found.extra, found.repeated) == (1, 1, 0)
    assert check_bills(payouts, ["B1", "B2", "B2"]).repeated == 1  # the fake holds a number twice
    assert check_bills([("a1", "B1"), ("a1", "B3")], ["B1", "B3"]).repeated == 1  # one award, two bills
    assert not check_bills(payouts, []).exact


def test_verdict() -> None:
    assert verdict(0.93, 0.90) == "PASS"
    assert verdict(0.90, 0.90) == "PASS"
    assert verdict(0.89, 0.90) == "MISS"
    assert verdict(0, 0, higher_is_better=False) == "PASS"
    assert verdict(3, 0, higher_is_better=False) == "MISS"
    assert verdict(float("nan"), 0.9) == "MISS"
    assert verdict(12.0, None) == "-"


def test_table_aligns_columns_under_an_underlined_header() -> None:
    text = table([["a", "1"], ["long name", "22"]], ["what", "n"])
    lines = text.splitlines()
    assert lines[0] == "what       n"
    assert lines[1] == "---------  --"
    assert lines[2] == "a          1"
    assert lines[3] == "long name  22"
