"""Every script's keys hash to one Redis Cluster slot (DESIGN §4): computed, not assumed.

The keys are those of the script calls the code really builds (the wrappers `scan_call`, `draw_call`,
`restore_call`, the enumeration guard's and the forged counter's calls) or, where the call is built
inline, the key function it uses (`counter_keys` for raise_counters.lua), for any ids, roles, serials,
addresses, devices, members and days: a hash tag `{…}` decides the slot, so user-supplied text later in a
key (a device id with braces in it) must never move it.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st
from redis.cluster import key_slot as cluster_key_slot
from redis.crc import key_slot

from codegen.batch_keys import scan_keys
from codegen.codeformat import Role
from payouts.pacing import TAKE, bucket_key, paused_key, take_call
from reports.forged import FORGED, ForgedCounter
from rules.awards import RAISE
from rules.campaign import CompiledCampaign, compile_campaign, parse_definition
from rules.campaign_keys import counter_keys, coupon_key, draw_keys, restore_keys
from rules.draw import DRAW, RESTORE, STATE, draw_call, draw_state_call, restore_call
from rules.draw_ticket import DrawTicket, ticket_keys
from rules.enumeration import INVALID, EnumerationGuard, EnumerationLimits, address_subject, source_keys
from rules.lua import ScriptCall
from rules.receipts import AwardReceipt
from rules.scan_script import RELOCATE, SCAN, relocate_first_call, scan_call


def slots(keys: list[str]) -> set[int]:
    return {key_slot(k.encode()) for k in keys}


def one_slot(keys: list[str]) -> bool:
    return len(slots(keys)) == 1


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


# Text a client controls and that ends up inside keys: device ids, members, scan ids, addresses.
free_text = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=40)
braces = st.sampled_from(["{", "}", "{x}", "}{", "{b:1}", "{c:2}"])
nasty_text = st.one_of(free_text, st.builds(lambda a, b, c: a + b + c, free_text, braces, free_text))
ids = st.integers(min_value=1, max_value=2**31)
few = settings(max_examples=40)  # unit tests stay fast; the property is about structure, not volume
days = st.dates().map(lambda d: d.strftime("%Y%m%d"))
addresses = st.one_of(st.just(""), st.ip_addresses().map(str), nasty_text)


def campaign(cid: int, prizes: int) -> CompiledCampaign:
    doc = {
        "name": "t", "brand": "demo",
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2030-01-01T00:00:00+08:00"},
        "budget": {"total_fen": 10_000_000},
        "prizes": [{"kind": "cash", "min_fen": 100, "max_fen": 100, "weight": 0.1} for _ in range(prizes)],
    }
    return compile_campaign(cid, 1, parse_definition(doc), brand_id=1, product_ids=None)


@few
@given(batch_id=ids, role=st.sampled_from(list(Role)), serial=st.integers(0, 2**40), scan_id=nasty_text,
       ip=addresses, device=nasty_text, member=nasty_text, now=st.integers(0, 2**33), window=st.integers(1, 86_400))
def test_a_scan_call_names_keys_of_its_batchs_slot_only(batch_id: int, role: Role, serial: int, scan_id: str,
                                                         ip: str, device: str, member: str, now: int,
                                                         window: int) -> None:
    call = scan_call(batch_id=batch_id, role=role, serial=serial, sale_serial=serial, code="C" * 28,
                     scan_id=scan_id, now=now, adcode="110101", ip=ip, device=device, device_tag="t", member=member,
                     rules_version=1, campaign_ids="", ip_limit=10, device_limit=10, window_seconds=window,
                     replay_seconds=60)
    assert call.script is SCAN
    assert slots(list(call.keys)) == {key_slot(f"{{b:{batch_id}}}".encode())}


@few
@given(cid=ids, prizes=st.integers(1, 6), batch_id=ids, role=st.sampled_from(["inner", "outer", "case"]),
       code=nasty_text, member=nasty_text, scan_id=nasty_text, now=st.floats(1.7e9, 2.0e9))
def test_a_draw_call_names_keys_of_its_campaigns_slot_only(cid: int, prizes: int, batch_id: int, role: str,
                                                            code: str, member: str, scan_id: str,
                                                            now: float) -> None:
    call = draw_call(campaign(cid, prizes), code=code, batch_id=batch_id, role=role, serial=1, member=member,
                     scan_id=scan_id or None, now=now)
    assert call.script is DRAW
    assert len(call.keys) == 11 + prizes  # the documented keys, then one coupon list per prize
    assert slots(list(call.keys)) == {key_slot(f"{{c:{cid}}}".encode())}


@few
@given(cid=ids, batch_id=ids, role=st.sampled_from(["inner", "outer"]), code=nasty_text,
       event=nasty_text, device=nasty_text)
def test_the_draw_state_call_and_a_draw_tickets_keys_keep_to_one_slot(cid: int, batch_id: int, role: str,
                                                                       code: str, event: str, device: str) -> None:
    call = draw_state_call(campaign(cid, 1), code=code, batch_id=batch_id, role=role, serial=3)
    assert call.script is STATE and slots(list(call.keys)) == {key_slot(f"{{c:{cid}}}".encode())}
    relocate = relocate_first_call(batch_id=batch_id, role=role, serial=3, first_ts=1, device_tag="abcde",
                                   adcode="440305")
    assert relocate.script is RELOCATE and slots(list(relocate.keys)) == {key_slot(f"{{b:{batch_id}}}".encode())}
    ticket = DrawTicket(code=code, batch_id=batch_id, event_id=event, device=device, status="first", mine=False,
                        count=1, issued_at=0)
    assert one_slot(list(ticket_keys(ticket)))


@few
@given(cid=ids, batch_id=ids, code=nasty_text, member=nasty_text, day=days,
       entry=st.from_regex(r"\d+-\d+", fullmatch=True))
def test_a_restore_call_names_keys_of_its_campaigns_slot_only(cid: int, batch_id: int, code: str, member: str,
                                                               day: str, entry: str) -> None:
    receipt = AwardReceipt(award_id=f"{cid}-{entry}", campaign_id=cid, code=code, batch_id=batch_id, role="inner",
                           serial=3, prize_index=0, kind="cash", name="p", amount_fen=100, points=0, coupon="",
                           rules_version=1, member=member, awarded_at=1_800_000_000, day=day, one_per_code=True)
    call = restore_call(receipt)
    assert call.script is RESTORE
    assert slots(list(call.keys)) == {key_slot(f"{{c:{cid}}}".encode())}


@few
@given(cid=ids, day=days)
def test_the_counter_repair_names_keys_of_its_campaigns_slot_only(cid: int, day: str) -> None:
    # rules.awards.repair_counters builds its raise_counters.lua call from counter_keys(campaign, day).
    call = ScriptCall(RAISE, list(counter_keys(cid, day)), [], int)
    assert slots(list(call.keys)) == {key_slot(f"{{c:{cid}}}".encode())}


class Recorder:
    """Stands in for the ScriptCaller of an EnumerationGuard: keeps the calls, answers "not blocked"."""

    def __init__(self) -> None:
        self.calls: list[ScriptCall[int]] = []

    def run_all(self, calls: list[ScriptCall[int]]) -> list[int]:
        self.calls.extend(calls)
        return [0] * len(calls)


@few
@given(ip=addresses, device=nasty_text, claimed=st.one_of(st.none(), ids), now=st.integers(0, 2**33))
def test_each_invalid_code_call_and_the_forged_counter_keep_to_one_slot(ip: str, device: str, claimed: int | None,
                                                                         now: int) -> None:
    guard = EnumerationGuard(None, EnumerationLimits(), forged=ForgedCounter(lambda: now))
    guard._scripts = Recorder()  # type: ignore[assignment]  # record the calls the guard builds
    guard.record_invalid(ip, device, claimed)
    calls = guard._scripts.calls  # type: ignore[attr-defined]
    assert [c.script for c in calls].count(FORGED) == 1
    assert [c.script for c in calls].count(INVALID) == bool(ip) + bool(device)
    for call in calls:  # one call per source and one for the forged minute, each in a slot of its own
        assert one_slot(list(call.keys)), call.keys


@few
@given(merchant=st.one_of(st.from_regex(r"[0-9]{10}", fullmatch=True), nasty_text), now=st.integers(0, 2**33))
def test_the_payout_token_bucket_and_pause_flag_keep_to_their_merchants_slot(merchant: str, now: int) -> None:
    # payouts.pacing owns the family {pay:<merchant>}: the token bucket's script call and the pause flag.
    from datetime import UTC, datetime

    call = take_call(merchant, 100.0, 100, datetime.fromtimestamp(now, UTC))
    assert call.script is TAKE
    assert one_slot([*call.keys, paused_key(merchant)])
    assert call.keys == [bucket_key(merchant)]


def test_redis_py_and_the_cluster_client_agree_on_slots() -> None:
    for key in ["{b:7}:events", "{c:3}:spent", "{forged:1800000000}:n", "yima:event-streams", "{}x", "a{}{b}"]:
        assert key_slot(key.encode()) == cluster_key_slot(key.encode())
