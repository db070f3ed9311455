"""Code enumeration is slowed: invalid codes count against their source, which is then blocked."""

from __future__ import annotations

import random
import time

import pytest
import redis

from codegen.batch_state import write_batch_state
from codegen.crockford import ALPHABET
from rules.enumeration import EnumerationGuard, EnumerationLimits, SourceBlocked, address_subject
from rules.region import default_index
from rules.scan import NotGenuine, ScanLimits, Scanner, ScanRequest
from tests.integration.test_scan import BATCH, META, RING, code
from tests.support.proxy import TcpProxy


@pytest.fixture
def batch(redis_any: redis.Redis) -> redis.Redis:
    """Standalone Redis or a cluster (tests/support/backends.py), with one batch's state written."""
    write_batch_state(redis_any, BATCH, META, active=[(0, 999)], void=[])
    return redis_any


def scanner(client: redis.Redis, **limits: int) -> Scanner:
    return Scanner(client, RING.batch_key_or_none, default_index(),
                   ScanLimits(ip_per_window=0, device_per_window=0, invalid=EnumerationLimits(**limits)))


def guesses(n: int, seed: int = 1) -> list[str]:
    """Well-formed codes of the real batch with random tags: what an enumerator sends."""
    rnd = random.Random(seed)
    real = code(0)
    return [real[:-14] + "".join(rnd.choice(ALPHABET) for _ in range(14)) for _ in range(n)]


def test_an_enumerator_is_blocked_and_honest_scans_are_not(batch: redis.Redis) -> None:
    s = scanner(batch, per_ip=30, per_device=10)
    answers = []
    for guess in guesses(500):
        try:
            s.scan(ScanRequest(guess, ip="203.0.113.7"))
        except NotGenuine:
            answers.append(404)
        except SourceBlocked as exc:
            answers.append(429)
            assert 0 < exc.retry_after <= 900
    assert answers[:31] == [404] * 31 and set(answers[31:]) == {429}
    with pytest.raises(SourceBlocked):  # a genuine code too: what it found must not be scannable from there
        s.scan(ScanRequest(code(1), ip="203.0.113.7"))
    assert s.scan(ScanRequest(code(2), ip="198.51.100.1")).status == "first"  # another address is not slowed
    # Another app process learns of the block the first time the source sends it an invalid code.
    other = scanner(batch, per_ip=30, per_device=10)
    assert other.scan(ScanRequest(code(3), ip="203.0.113.7")).status == "first"
    with pytest.raises(NotGenuine):
        other.scan(ScanRequest(guesses(1, seed=9)[0], ip="203.0.113.7"))
    with pytest.raises(SourceBlocked):
        other.scan(ScanRequest(code(4), ip="203.0.113.7"))


def test_devices_are_counted_and_ipv6_addresses_by_their_64(batch: redis.Redis) -> None:
    s = scanner(batch, per_ip=20, per_device=5)
    for i, guess in enumerate(guesses(6)):
        with pytest.raises(NotGenuine if i < 6 else SourceBlocked):
            s.scan(ScanRequest(guess, ip=f"10.0.0.{i}", device_id="phone-1"))
    with pytest.raises(SourceBlocked):
        s.scan(ScanRequest(code(5), ip="10.0.0.99", device_id="phone-1"))
    for i, guess in enumerate(guesses(21, seed=2)):  # one subscriber's /64, a new address each time
        with pytest.raises(NotGenuine):
            s.scan(ScanRequest(guess, ip=f"2001:db8:1:2::{i + 1:x}"))
    with pytest.raises(SourceBlocked):
        s.scan(ScanRequest(code(6), ip="2001:db8:1:2:ffff::1"))
    assert s.scan(ScanRequest(code(7), ip="2001:db8:1:3::1")).status == "first"
    assert address_subject("2001:db8:1:2:ffff::1") == "2001:db8:1:2::/64"


def test_a_block_ends(batch: redis.Redis) -> None:
    now = [0.0]
    guard = EnumerationGuard(batch, EnumerationLimits(per_ip=2, per_device=0, block_seconds=1),
                             clock=lambda: now[0])
    assert [guard.record_invalid("192.0.2.1", "") for _ in range(3)] == [0, 0, 1]
    with pytest.raises(SourceBlocked):
        guard.check("192.0.2.1", "")
    now[0] = 1.5
    guard.check("192.0.2.1", "")  # this process forgets the block when it ends …
    time.sleep(1.1)  # … and Redis lets its key expire
    assert guard.record_invalid("192.0.2.1", "") == 0


def test_with_redis_unreachable_an_invalid_code_is_still_not_genuine() -> None:
    proxy = TcpProxy("127.0.0.1", 6379)
    proxy.set_mode("refuse")
    client = redis.Redis(host="127.0.0.1", port=proxy.port, socket_timeout=0.5, socket_connect_timeout=0.5)
    try:
        with pytest.raises(NotGenuine):
            scanner(client).scan(ScanRequest(guesses(1)[0], ip="192.0.2.9"))
    finally:
        client.close()
        proxy.close()
