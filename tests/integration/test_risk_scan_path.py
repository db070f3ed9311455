"""The scan and draw scripts honour the risk layer's decision (rules/scan.lua, rules/draw.lua), on a real Redis:
the decision lands on the event, a leaked code (scanned before sale) and a blocked range raise it inside the
script, a withheld first scan leaves the code's first scan to its real owner, and the device's limit is counted
before the address's."""

from __future__ import annotations

import itertools

import pytest
import redis

from codegen.batch_keys import presale_key, range_block_key, seen_key
from codegen.batch_state import events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.keys import Keyring
from rules.lua import ScriptCaller
from rules.scan_script import ScanReply, scan_call

RING = Keyring(current=1, keys={1: bytes(range(32))})
BATCH = 43
META = {"key_id": 1, "brand": "acme", "sku": "BEER-500", "product": "Lager", "gtin": "", "lot": "L1",
        "factory": "F", "line": "1", "production_date": "2026-11-20", "quantity": 1000, "pack": 24,
        "status": "active"}
_ids = itertools.count()


@pytest.fixture
def batch(redis_any: redis.Redis) -> redis.Redis:
    write_batch_state(redis_any, BATCH, META, active=[(0, 499)], void=[(100, 109)])
    return redis_any


def scan(client: redis.Redis, serial: int, *, risk: str = "allow", reasons: str = "", tainted: str = "",
         keep: bool = True, ip: str = "1.2.3.4", device: str = "phone", ip_limit: int = 0,
         device_limit: int = 0) -> ScanReply:
    code = encode(RING.batch_key(1, BATCH), role=Role.INNER, key_id=1, batch_id=BATCH, serial=serial)
    return ScriptCaller(client).run(scan_call(
        batch_id=BATCH, role=Role.INNER, serial=serial, sale_serial=serial, code=code, scan_id=f"s{next(_ids)}",
        now=1_800_000_000, adcode="", ip=ip, device=device, device_tag="", member="", rules_version=1,
        campaign_ids="", ip_limit=ip_limit, device_limit=device_limit, window_seconds=60, replay_seconds=30,
        risk=risk, risk_reasons=reasons, tainted_risk=tainted, keep_drawable=keep))


def last_event(client: redis.Redis) -> dict[bytes, bytes]:
    return client.xrevrange(events_key(BATCH), count=1)[0][1]


def test_the_decision_and_its_reasons_land_on_the_event(batch: redis.Redis) -> None:
    reply = scan(batch, 5, risk="hold", reasons="presale:d")
    assert (reply.status, reply.risk, reply.risk_reasons) == ("first", "hold", "presale:d")
    event = last_event(batch)
    assert (event[b"kind"], event[b"risk"], event[b"risk_why"]) == (b"first", b"hold", b"presale:d")


def test_a_code_scanned_before_sale_is_tainted_once_on_sale(batch: redis.Redis) -> None:
    assert scan(batch, 600, tainted="hold").status == "not_on_sale"
    assert scan(batch, 105, tainted="hold").status == "void"
    assert batch.getbit(presale_key(BATCH, "inner"), 600) == 1
    assert batch.getbit(presale_key(BATCH, "inner"), 105) == 1
    write_batch_state(batch, BATCH, META, active=[(0, 999)], void=[])
    leaked = scan(batch, 600, tainted="hold")
    assert (leaked.status, leaked.risk, leaked.risk_reasons) == ("first", "hold", "tainted")
    clean = scan(batch, 601, tainted="hold")
    assert (clean.risk, clean.risk_reasons) == ("allow", "")
    # a stricter decision already made is not lowered to the tainted one
    assert scan(batch, 600, risk="no_prize", reasons="sweep:d", tainted="hold").risk == "no_prize"


def test_no_tainted_action_leaves_a_leaked_code_alone(batch: redis.Redis) -> None:
    scan(batch, 700)
    write_batch_state(batch, BATCH, META, active=[(0, 999)], void=[])
    assert scan(batch, 700).risk == "allow"


def test_a_blocked_range_blocks_every_code_in_it_and_only_those(batch: redis.Redis) -> None:
    batch.zadd(range_block_key(BATCH), {"200-249": 200})
    inside = scan(batch, 230)
    assert (inside.risk, inside.risk_reasons) == ("block", "range")
    assert scan(batch, 250).risk == "allow"
    assert scan(batch, 199).risk == "allow"


def test_a_withheld_first_scan_leaves_the_first_scan_to_the_real_owner(batch: redis.Redis) -> None:
    hunter = scan(batch, 7, risk="no_prize", reasons="farm:d", device="farm-phone")
    assert (hunter.status, hunter.count) == ("first", 0)
    assert batch.getbit(seen_key(BATCH, "inner"), 7) == 0
    assert last_event(batch)[b"kind"] == b"withheld"
    owner = scan(batch, 7, device="owner-phone")
    assert (owner.status, owner.count, owner.risk) == ("first", 1, "allow")
    assert last_event(batch)[b"kind"] == b"first"
    # once the code has had its first scan, a withheld rescan is an ordinary repeat
    assert scan(batch, 7, risk="block", reasons="list:d", device="farm-phone").status == "repeat"


def test_a_policy_that_spends_no_prize_codes_counts_the_first_scan(batch: redis.Redis) -> None:
    reply = scan(batch, 8, risk="no_prize", reasons="sweep:d", keep=False)
    assert (reply.status, reply.count) == ("first", 1)
    assert batch.getbit(seen_key(BATCH, "inner"), 8) == 1


def test_one_heavy_phone_does_not_use_up_a_shared_address(batch: redis.Redis) -> None:
    heavy = [scan(batch, 300 + i, device="heavy", ip="100.64.0.1", ip_limit=5, device_limit=2).status
             for i in range(6)]
    assert heavy == ["first", "first"] + ["rate_limited"] * 4
    # the refused scans were not counted against the address: four more phones behind it still get through
    others = [scan(batch, 320 + i, device=f"honest-{i}", ip="100.64.0.1", ip_limit=5, device_limit=2).status
              for i in range(3)]
    assert others == ["first"] * 3
