"""Every script's keys hash to one Redis Cluster slot (DESIGN §4): computed, not assumed."""

from __future__ import annotations

from redis.crc import key_slot

from codegen.batch_keys import scan_keys
from codegen.codeformat import Role
from rules.campaign_keys import counter_keys, coupon_key, draw_keys, restore_keys
from rules.enumeration import address_subject, source_keys


def one_slot(keys: list[str]) -> bool:
    return len({key_slot(k.encode()) for k in keys}) == 1


def test_every_script_gets_keys_of_one_slot() -> None:
    assert one_slot(scan_keys(7, Role.INNER, 12345, "abc1", "1.2.3.4", "phone", 99))
    assert one_slot(scan_keys(7, Role.CASE, 3, "abc2", "", "", 99))
    draw = draw_keys(3, scan_id="s", batch_id=7, role="inner", code="C" * 28, member="m", day="20270115")
    assert one_slot(draw + [coupon_key(3, i) for i in range(4)])
    assert one_slot(restore_keys(3, batch_id=7, role="inner", code="C" * 28, member="", day="20270115"))
    assert one_slot(list(counter_keys(3, "20270115")))
    for subject in ("203.0.113.7", address_subject("2001:db8::1"), "phone:1"):
        assert one_slot(source_keys("ip", subject))
    # Different campaigns, batches and sources spread over the cluster rather than share one slot.
    assert key_slot(b"{c:1}:spent") != key_slot(b"{c:2}:spent")
