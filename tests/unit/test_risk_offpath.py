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
    assert m.see(10, 1, 0, "65", [("d", "x")]) == []  # no market yet: the batch has too few scans
    for serial in range(100, 110):
        assert m.see(10, 1, serial, "44", [("d", f"gd{serial}")]) == []
    hits = [m.see(10, 1, serial, "65", [("d", "x"), ("n", "1.2.3")]) for serial in (1, 1, 2, 3, 4)]
    assert hits == [[], [], [], [("d", "x", 3, "44"), ("n", "1.2.3", 3, "44")],
                    [("d", "x", 4, "44"), ("n", "1.2.3", 4, "44")]]  # a rescan is not another code
    assert m.see(10, 1, 200, "44", [("d", "x")]) == []  # at the market
    assert m.see(11, 1, 9, "65", [("d", "x")]) == []  # a new hour: afresh
    for serial in range(300, 320):
        m.see(11, 1, serial, "65", [("d", f"xj{serial}")])
    moved = [m.see(11, 1, serial, "44", [("d", "gd")]) for serial in (400, 401, 402)]
    assert moved[-1] == [("d", "gd", 3, "65")]  # the market moved: most scans are in "65" now
    assert m.see(10, 1, 10, "65", [("d", "x")]) == []  # last hour's event, drained late


def test_the_observers_network_reads_addresses_as_the_keys_module_does() -> None:
    import random

    from risk.keys import network_of
    from risk.observer import network

    rng = random.Random(5)
    odd = ["", " 1.2.3.4 ", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1.2.3.256", "::ffff:1.2.3.4", "2001:db8::1", "x",
           "1.2.3.-1", "１.2.3.4", "0.0.0.0", "255.255.255.255", "1..3.4"]
    samples = odd + [".".join(str(rng.randint(0, 300)) for _ in range(4)) for _ in range(2000)]
    for ip in samples:
        assert network(ip) == network_of(ip)[0], ip
