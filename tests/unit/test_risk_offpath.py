"""The observer's in-memory signals (risk.offpath): what counts, a new day or hour starting afresh, bounds."""

from __future__ import annotations

from risk.offpath import NearSerials, OutOfMarket


def test_near_serials_count_steps_of_one_batch_today() -> None:
    near = NearSerials(distance=8)
    assert near.see(1, "d", 1, 100) == 0  # the first
    assert near.see(1, "d", 1, 108) == 1  # within 8
    assert near.see(1, "d", 1, 117) == 0  # 9 away from 108
    assert near.see(1, "d", 1, 108) == 0  # a rescan
    assert near.see(1, "d", 2, 109) == 0  # another batch
    assert near.see(1, "d", 1, 104) == 2  # between two seen ones
    assert near.see(1, "e", 1, 101) == 0  # another device
    assert near.see(2, "d", 1, 105) == 0  # a new day: afresh
    assert near.see(1, "d", 1, 106) == 0  # yesterday's event, drained late: not counted
    assert near.see(2, "d", 1, 106) == 1


def test_near_serials_state_is_bounded() -> None:
    near = NearSerials(distance=8, max_keys=2, max_serials=3)
    for serial in (0, 100, 200, 300):  # the fourth serial is not kept
        near.see(1, "d", 1, serial)
    assert near.see(1, "d", 1, 305) == 0 and near.see(1, "d", 1, 205) == 1
    near.see(1, "x", 1, 0)
    near.see(1, "y", 1, 0)  # "d" was the least recently used: forgotten
    assert near.see(1, "d", 1, 206) == 0


def test_out_of_market_needs_codes_a_market_and_another_province() -> None:
    m = OutOfMarket(codes=3, min_batch_scans=5)
    for _ in range(5):
        m.place(1, "44")
    hits = []
    for serial in range(4):
        m.place(1, "65")
        hits.append(m.see(10, "d", "x", 1, serial, "65"))
    assert hits == [None, None, (3, "65", "44"), (4, "65", "44")]
    m.place(1, "44")
    assert m.see(10, "d", "y", 1, 0, "44") is None  # at home
    assert m.see(11, "d", "x", 1, 9, "65") is None  # a new hour: afresh
