"""The scan script and its Python side against a real Redis: first/repeat, sale status, limits, retries."""

from __future__ import annotations

import pytest
import redis

from codegen.batch_state import events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.keys import Keyring
from rules.region import default_index
from rules.scan import NotGenuine, ScanLimits, Scanner, ScanRequest

RING = Keyring(current=1, keys={1: bytes(range(32))})
BATCH = 42
META = {"key_id": 1, "brand": "acme", "sku": "BEER-500", "product": "Lager", "gtin": "", "lot": "L1",
        "factory": "F", "line": "1", "production_date": "2026-11-20", "quantity": 1000, "pack": 24,
        "status": "active"}


def code(serial: int, role: Role = Role.INNER, batch: int = BATCH) -> str:
    return encode(RING.batch_key(1, batch), role=role, key_id=1, batch_id=batch, serial=serial)


@pytest.fixture
def batch(redis_any: redis.Redis) -> redis.Redis:
    """Standalone Redis or a cluster (tests/support/backends.py), with one batch's state written."""
    write_batch_state(redis_any, BATCH, META, active=[(0, 499)], void=[(100, 109)])
    return redis_any


def make_scanner(client: redis.Redis, **limits: int) -> Scanner:
    return Scanner(client, RING.batch_key_or_none, default_index(), ScanLimits(**limits))


def test_first_scan_then_repeats_with_first_time_and_place(batch: redis.Redis) -> None:
    clock = iter([1_700_000_000, 1_700_000_100, 1_700_000_200])
    scanner = Scanner(batch, RING.batch_key_or_none, default_index(), clock=lambda: next(clock))
    first = scanner.scan(ScanRequest(code(5), ip="1.2.3.4", adcode="440305"))
    assert (first.status, first.scan_count, first.first_at) == ("first", 1, None)
    assert first.region is not None and first.region.city == "深圳市"
    second = scanner.scan(ScanRequest(code(5).lower(), ip="5.6.7.8", lat=39.9087, lng=116.3975))
    third = scanner.scan(ScanRequest(f"https://x.example/q/{code(5)}", ip="5.6.7.8"))
    assert (second.status, second.scan_count, third.scan_count) == ("repeat", 2, 3)
    assert third.first_at is not None and int(third.first_at.timestamp()) == 1_700_000_000
    assert third.first_region is not None and third.first_region.adcode == "440305"
    assert second.region is not None and second.region.adcode == "110101"
    assert batch.xlen(events_key(BATCH)) == 3
    kinds = [e[1][b"kind"] for e in batch.xrange(events_key(BATCH))]
    assert kinds == [b"first", b"repeat", b"repeat"]


def test_inner_and_outer_codes_of_one_item_have_separate_state(batch: redis.Redis) -> None:
    scanner = make_scanner(batch)
    assert scanner.scan(ScanRequest(code(7, Role.OUTER))).status == "first"
    assert scanner.scan(ScanRequest(code(7, Role.INNER))).status == "first"
    assert scanner.scan(ScanRequest(code(7, Role.OUTER))).scan_count == 2


@pytest.mark.parametrize(
    ("serial", "status"), [(499, "first"), (500, "not_on_sale"), (105, "void"), (999, "not_on_sale")]
)
def test_sale_status_follows_activated_and_void_ranges(batch: redis.Redis, serial: int, status: str) -> None:
    result = make_scanner(batch).scan(ScanRequest(code(serial)))
    assert result.status == status
    if status != "first":
        assert result.scan_count == 0
        # a scan before sale does not use up the code's first scan
        assert batch.getbit(f"{{b:{BATCH}}}:seen:inner", serial) == 0


def test_case_code_is_on_sale_when_its_first_item_is(batch: redis.Redis) -> None:
    scanner = make_scanner(batch)
    assert scanner.scan(ScanRequest(code(20, Role.CASE))).status == "first"  # items 480..503: 480 active
    assert scanner.scan(ScanRequest(code(21, Role.CASE))).status == "not_on_sale"  # items 504..


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("garbage", "malformed"),
        ("", "malformed"),
        ("x" * 10_000, "malformed"),
        (code(5)[:-1] + ("0" if code(5)[-1] != "0" else "1"), "forged"),
        (code(5, batch=43), "unknown_batch"),  # genuine signature, batch never registered
        (code(1000), "unknown_batch"),  # serial beyond the batch
        (code(5)[:-2], "malformed"),
    ],
)
def test_not_genuine_codes_never_reach_redis(batch: redis.Redis, text: str, reason: str) -> None:
    with pytest.raises(NotGenuine) as info:
        make_scanner(batch).scan(ScanRequest(text))
    assert info.value.reason == reason
    assert batch.xlen(events_key(BATCH)) == 0


def test_ip_and_device_rate_limits(batch: redis.Redis) -> None:
    scanner = make_scanner(batch, ip_per_window=3, device_per_window=2)
    statuses = [scanner.scan(ScanRequest(code(s), ip="9.9.9.9")).status for s in range(4)]
    assert statuses == ["first", "first", "first", "rate_limited"]
    assert batch.getbit(f"{{b:{BATCH}}}:seen:inner", 3) == 0  # the refused scan changed nothing
    by_device = [scanner.scan(ScanRequest(code(s), ip=f"10.0.0.{s}", device_id="phone-1")).status
                 for s in range(10, 13)]
    assert by_device == ["first", "first", "rate_limited"]
    assert batch.xlen(events_key(BATCH)) == 5


def test_a_retried_script_whose_reply_was_lost_applies_once(batch: redis.Redis, lossy_redis_any) -> None:  # type: ignore[no-untyped-def]
    client, proxy = lossy_redis_any
    scanner = make_scanner(client)
    scanner.identify(code(8))  # warm the batch cache so the next command is the script itself
    proxy.drop_next_reply()
    result = scanner.scan(ScanRequest(code(8)))
    assert proxy.dropped_replies == 1  # the script ran, its reply was lost, redis-py retried
    assert (result.status, result.scan_count) == ("first", 1)
    assert batch.xlen(events_key(BATCH)) == 1  # one event, not two
    again = scanner.scan(ScanRequest(code(8)))
    assert (again.status, again.scan_count) == ("repeat", 2)


def test_memory_per_scanned_code_is_small(batch: redis.Redis) -> None:
    """Scan state: a bit per serial plus a compact first-scan entry; no per-code keys."""
    scanner = make_scanner(batch)
    for s in range(0, 300):
        if not 100 <= s <= 109:
            scanner.scan(ScanRequest(code(s)))
    keys = {k.decode() for k in batch.scan_iter(f"{{b:{BATCH}}}:*")}
    per_code = {k for k in keys if k.startswith(f"{{b:{BATCH}}}:req:")}
    assert len(keys - per_code) <= 12  # meta, ranges, bitmap, first-scan buckets, events, rate counters
    # The compact small-hash encoding: "listpack" from Redis 7.0, "ziplist" on 6.2 (make test-redis62).
    assert batch.object("encoding", f"{{b:{BATCH}}}:first:inner:0") in (b"listpack", b"ziplist")
    assert all(batch.ttl(k) > 0 for k in per_code)  # replay guards expire on their own


def test_scan_ids_are_unique_and_a_forked_child_draws_a_new_prefix() -> None:
    import os

    from rules.scan import next_scan_id

    mine = {next_scan_id() for _ in range(1000)}
    assert len(mine) == 1000
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(write, ",".join(next_scan_id() for _ in range(1000)).encode())
        finally:
            os._exit(0)
    os.close(write)
    os.waitpid(pid, 0)
    with os.fdopen(read) as fh:
        child = set(fh.read().split(","))
    assert len(child) == 1000 and not child & mine
    assert {i[:16] for i in child} != {i[:16] for i in mine}


def test_a_code_typed_with_alias_letters_is_counted_and_stored_as_the_same_code(batch: redis.Redis) -> None:
    scanner = make_scanner(batch)
    genuine = next(c for c in (code(s) for s in range(20, 60)) if "0" in c[1:] and "1" in c[1:])
    typed = genuine[0] + genuine[1:].replace("0", "o").replace("1", "L")  # what a consumer copies by hand
    first = scanner.scan(ScanRequest(genuine))
    again = scanner.scan(ScanRequest(typed))
    assert (first.code, again.code) == (genuine, genuine)
    assert (again.status, again.scan_count) == ("repeat", 2)
    stored = [e[1][b"code"].decode() for e in batch.xrange(events_key(BATCH))]
    assert stored == [genuine, genuine]
