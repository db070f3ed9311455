"""risk/subject.lua on a real Redis (standalone and Cluster): every signal it returns, through the wrapper the
gate uses (risk.signals.subject_call + rules.lua.ScriptCaller); then risk.gate.RiskGate end to end."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from risk import keys
from risk.gate import RiskGate, ScanFacts
from risk.policy import ALLOW, HOLD, NO_PRIZE, Flag
from risk.signals import ALLOW as LISTED_ALLOW
from risk.signals import BLOCK as LISTED_BLOCK
from risk.signals import FLAGGED, STATE_TTL_S, SubjectSignals, subject_call
from rules.lua import ScriptCaller
from rules.region import default_index

D, M, N, P = keys.DEVICE, keys.MEMBER, keys.NETWORK, keys.POINT
NOW = 1_800_000_000  # the start of a minute and of an hour
NEXT_CHINA_DAY = ((NOW + 8 * 3600) // 86_400 + 1) * 86_400 - 8 * 3600
BATCH, PACK = 43, 24
WINDOW = 600
GUANGZHOU, CHENGDU = "440104", "510104"

Count = Callable[..., SubjectSignals]


@pytest.fixture
def count(redis_any: redis.Redis) -> Iterator[Count]:
    """One subject.lua call, as the gate makes it; keyword arguments override a device's scan of serial 0."""
    caller = ScriptCaller(redis_any)

    def call(**over: Any) -> SubjectSignals:
        args: dict[str, Any] = {"kind": D, "subject": "dev-1", "now": NOW, "brand_id": 1, "batch_id": BATCH,
                                "case": 0, "serial": 0, "other": "", "adcode": "", "sweep_window_s": WINDOW,
                                "near_distance": 8}
        args.update(over)
        if "serial" in over and "case" not in over:
            args["case"] = args["serial"] // PACK
        result: SubjectSignals = caller.run(subject_call(**args))
        return result

    yield call
    caller.close()


def counts(s: SubjectSignals) -> tuple[int, int, int]:
    return s.per_minute, s.per_hour, s.per_day


def test_minute_hour_and_day_counts(count: Count) -> None:
    assert counts(count()) == (1, 1, 1)
    assert counts(count(now=NOW + 59, serial=1)) == (2, 2, 2)
    # Every batch and brand counts against the subject.
    assert counts(count(now=NOW + 59, brand_id=2, batch_id=44)) == (3, 3, 3)
    assert counts(count(now=NOW + 60)) == (1, 4, 4)
    assert counts(count(now=NOW + 3600)) == (1, 1, 5)
    assert counts(count(now=NEXT_CHINA_DAY)) == (1, 1, 1)  # the day rolls over at China's midnight
    assert counts(count(subject="dev-2")) == (1, 1, 1)  # another subject has its own


def test_others_today_counts_distinct_identities(count: Count) -> None:
    seen = [count(other=m, serial=i).others_today for i, m in enumerate(["m1", "m2", "m1", "m3"])]
    assert seen == [1, 2, 2, 3]
    assert count(other="", serial=9).others_today == 3  # a scan with no member still reads the day's count
    assert count(other="m4", now=NEXT_CHINA_DAY).others_today == 1  # a new day starts again
    assert count(kind=M, subject="m1", other="").others_today == 0


def test_age_since_first_seen(count: Count) -> None:
    assert count().age_s == 0
    assert count(now=NOW + 100).age_s == 100
    assert count(now=NOW + 5000, subject="dev-2").age_s == 0


def test_brand_and_platform_lists_the_brand_wins(redis_any: redis.Redis, count: Count) -> None:
    state = keys.state_key(D, "dev-1")
    assert count().listed == ""
    redis_any.hset(state, keys.list_field(None), LISTED_BLOCK)
    assert count(brand_id=1).listed == LISTED_BLOCK
    assert count(brand_id=2).listed == LISTED_BLOCK
    redis_any.hset(state, keys.list_field(1), LISTED_ALLOW)
    assert count(brand_id=1).listed == LISTED_ALLOW  # the brand's own entry beats the platform's
    assert count(brand_id=2).listed == LISTED_BLOCK


def test_review_state_is_per_brand(redis_any: redis.Redis, count: Count) -> None:
    redis_any.hset(keys.state_key(M, "m1"), keys.review_field(1), FLAGGED)
    assert count(kind=M, subject="m1", brand_id=1).review == FLAGGED
    assert count(kind=M, subject="m1", brand_id=2).review == ""


def test_same_case_and_near_within_the_window(count: Count) -> None:
    # serials 0..23 are case 0; 24.. case 1
    assert [(s.same_case, s.near) for s in (count(serial=i, now=NOW + i) for i in range(3))] == \
        [(0, 0), (1, 1), (2, 2)]
    # A rescan counts the others, not itself, and is not counted again later.
    assert (count(serial=2, now=NOW + 3).same_case, count(serial=2, now=NOW + 4).same_case) == (2, 2)
    later = count(serial=3, now=NOW + 5)
    assert (later.same_case, later.near) == (3, 3)
    # Another case: not the same case, but serial 24 is near 23 (it is not in the list: only 0..3 are).
    other_case = count(serial=24, now=NOW + 6)
    assert (other_case.same_case, other_case.near) == (0, 0)
    tenth = count(serial=10, now=NOW + 7)  # the case's codes 0..3 were scanned; 2 and 3 are within 8 of 10
    assert (tenth.same_case, tenth.near) == (4, 2)
    # Another batch's scans do not count.
    assert (count(serial=4, batch_id=44, now=NOW + 8).same_case, count(serial=5, batch_id=44, now=NOW + 9).near) \
        == (0, 1)


def test_the_sweep_window_bounds_what_counts(count: Count) -> None:
    count(serial=0, now=NOW)
    count(serial=1, now=NOW + 10)
    at_edge = count(serial=2, now=NOW + WINDOW)  # serial 0 is exactly a window old: still counted
    assert (at_edge.same_case, at_edge.near) == (2, 2)
    past = count(serial=3, now=NOW + WINDOW + 11)  # 0 and 1 have left the window; 2 has not
    assert (past.same_case, past.near) == (1, 1)
    assert count(serial=4, now=NOW + WINDOW + 11, sweep_window_s=WINDOW + 11).same_case == 4  # a wider window


def test_presale_count_is_read_from_the_state(redis_any: redis.Redis, count: Count) -> None:
    assert count().presale == 0
    redis_any.hset(keys.state_key(D, "dev-1"), keys.PRESALE_FIELD, 2)
    assert count().presale == 2


def test_network_counts_the_single_address_and_reads_its_list(redis_any: redis.Redis, count: Count) -> None:
    def net(ip: str, brand_id: int = 1) -> SubjectSignals:
        return count(kind=N, subject="203.0.113", ip=ip, brand_id=brand_id)

    seen = [net(ip) for ip in ("203.0.113.7", "203.0.113.7", "203.0.113.8")]
    assert [(s.per_minute, s.ip_per_minute) for s in seen] == [(1, 1), (2, 2), (3, 1)]
    assert count(kind=N, subject="203.0.113", ip="203.0.113.7", now=NOW + 60).ip_per_minute == 1
    state = keys.state_key(N, "203.0.113")
    redis_any.hset(state, "iplist:*:203.0.113.7", LISTED_BLOCK)  # the platform's entry on one address
    assert net("203.0.113.7").listed == LISTED_BLOCK
    assert net("203.0.113.8").listed == ""
    redis_any.hset(state, "iplist:1:203.0.113.7", LISTED_ALLOW)  # the brand's entry on it wins
    assert net("203.0.113.7", 1).listed == LISTED_ALLOW
    assert net("203.0.113.7", 2).listed == LISTED_BLOCK
    redis_any.hset(state, keys.list_field(2), LISTED_ALLOW)  # brand 2 allows the whole network
    assert net("203.0.113.7", 2).listed == LISTED_ALLOW
    assert count(kind=D, subject="dev-9").ip_per_minute == 0  # only networks count an address


def test_last_place_and_when(count: Count) -> None:
    first = count(adcode=GUANGZHOU)
    assert (first.last_adcode, first.last_ts) == ("", 0)
    second = count(adcode=CHENGDU, now=NOW + 5)
    assert (second.last_adcode, second.last_ts) == (GUANGZHOU, NOW)
    assert (count(adcode="", now=NOW + 9).last_adcode, count(now=NOW + 10).last_ts) == (CHENGDU, NOW + 5)


def test_gps_repeats_of_one_exact_fix(count: Count) -> None:
    fix, other = "23.129100,113.264400", "23.129101,113.264400"
    assert [count(gps=fix).gps_repeats for _ in range(3)] == [0, 1, 2]
    assert count(gps=other).gps_repeats == 0
    assert count(gps=fix).gps_repeats == 0  # a different fix in between starts again
    assert count(gps="").gps_repeats == 0


def test_the_state_hash_expires_unless_kept(redis_any: redis.Redis, count: Count) -> None:
    count(subject="plain")
    assert STATE_TTL_S - 5 < redis_any.ttl(keys.state_key(D, "plain")) <= STATE_TTL_S
    redis_any.hset(keys.state_key(D, "kept"), "keep", 1)
    count(subject="kept")
    assert redis_any.ttl(keys.state_key(D, "kept")) == -1


@pytest.mark.parametrize(("kind", "subject", "ip"), [
    (D, keys.device_subject("cookie{x}"), ""), (M, "member}{b:1}", ""), (N, "203.0.113", "203.0.113.7"),
    (N, "2001:db8:1:2", "2001:db8:1:2::9"), (P, keys.point_of(23.1291, 113.2644), ""),
])
def test_the_keys_of_one_call_share_one_slot(redis_any: redis.Redis, count: Count, kind: str, subject: str,
                                             ip: str) -> None:
    call = subject_call(kind=kind, subject=subject, now=NOW, brand_id=1, batch_id=BATCH, case=0, serial=0,
                        other="x", adcode=GUANGZHOU, gps="1,2" if kind == D else "", ip=ip)
    assert len({key_slot(k.encode()) for k in call.keys}) == 1
    count(kind=kind, subject=subject, other="x", adcode=GUANGZHOU, gps="1,2" if kind == D else "", ip=ip)
    if isinstance(redis_any, redis.Redis):  # standalone: every key the script wrote is one of the call's
        written = {k.decode() if isinstance(k, bytes) else k for k in redis_any.keys("*")}
        assert written and written <= set(call.keys)


# The gate, end to end ---------------------------------------------------------------------------------------

@pytest.fixture
def gate(redis_any: redis.Redis) -> Iterator[RiskGate]:
    g = RiskGate(redis_any, regions=default_index(), clock=lambda: NOW)
    yield g
    g.close()


def facts(serial: int, *, device: str = "phone-1", member: str = "", brand_id: int = 1, **over: Any) -> ScanFacts:
    return ScanFacts(brand_id=brand_id, batch_id=BATCH, serial=serial, case=serial // PACK, device_id=device,
                     member=member, ip=over.pop("ip", "198.51.100.7"), **over)


def test_a_device_sweeping_one_case_gets_no_prize_from_its_fifth_code(gate: RiskGate) -> None:
    results = [gate.assess(facts(serial, member="m1"), now=NOW + 10 * serial) for serial in range(5)]
    assert [r.decision.action for r in results] == [ALLOW] * 4 + [NO_PRIZE]
    last = results[-1]
    assert "sweep:d" in last.decision.reasons
    assert Flag(D, keys.device_subject("phone-1"), "sweep") in last.decision.flags
    assert last.signals.device is not None and last.signals.device.same_case == 4
    # Another device scanning that case is not sweeping.
    assert gate.assess(facts(5, device="phone-2", member="m2"), now=NOW + 60).decision.action == ALLOW


def test_a_third_member_on_one_device_is_a_farm(gate: RiskGate) -> None:
    cases = [gate.assess(facts(PACK * i, member=f"m{i}"), now=NOW + i).decision for i in range(3)]
    assert [d.action for d in cases] == [ALLOW] * 2 + [NO_PRIZE]
    assert cases[-1].reasons == ("farm:d",)
    assert cases[-1].flags == (Flag(D, keys.device_subject("phone-1"), "farm"),)
    # The farm's device stays one for the day, whoever scans on it.
    assert gate.assess(facts(PACK * 5, member="m0"), now=NOW + 9).decision.reasons == ("farm:d",)


def test_a_published_policy_changes_a_threshold(redis_any: redis.Redis, gate: RiskGate) -> None:
    redis_any.hset(keys.POLICIES_KEY, "1", json.dumps({"sweep_same_case": 2}))
    # A document that fails validation (refused when saved) leaves its brand on the defaults, never fails a scan.
    redis_any.hset(keys.POLICIES_KEY, "3", json.dumps({"sweep_same_case": "many"}))
    gate.policies.forget()
    assert gate.policies.get(1).sweep_same_case == 2
    brand1 = [gate.assess(facts(s, device="a"), now=NOW + s).decision.action for s in range(3)]
    brand2 = [gate.assess(facts(s, device="b", brand_id=2), now=NOW + s).decision.action for s in range(3)]
    brand3 = [gate.assess(facts(s, device="c", brand_id=3), now=NOW + s).decision.action for s in range(3)]
    assert brand1 == [ALLOW, ALLOW, NO_PRIZE]
    assert brand2 == brand3 == [ALLOW] * 3


def test_a_disabled_policy_counts_nothing_and_allows(redis_any: redis.Redis, gate: RiskGate) -> None:
    redis_any.hset(keys.POLICIES_KEY, "1", json.dumps({"enabled": False}))
    gate.policies.forget()
    assessments = [gate.assess(facts(s, member=f"m{s}"), now=NOW + s) for s in range(8)]
    assert {a.decision.action for a in assessments} == {ALLOW}
    assert not redis_any.exists(keys.state_key(D, keys.device_subject("phone-1")))


def test_impossible_travel_holds_the_prize(gate: RiskGate) -> None:
    assert gate.assess(facts(0, adcode=GUANGZHOU), now=NOW).decision.action == ALLOW
    moved = gate.assess(facts(PACK, adcode=CHENGDU), now=NOW + 120).decision
    assert moved.action == HOLD
    assert moved.reasons == ("travel:d",)
    # Long enough later, the same trip is possible.
    assert gate.assess(facts(2 * PACK, adcode=GUANGZHOU), now=NOW + 120 + 901).decision.action == ALLOW


def test_a_consumer_rescanning_one_code_is_not_a_sweep(gate: RiskGate) -> None:
    """Reloading the page on one bottle, then opening three more of the case: four codes, not eight scans."""
    rescans = [gate.assess(facts(0, member="m1"), now=NOW + 61 * i).decision for i in range(5)]
    more = [gate.assess(facts(s, member="m1"), now=NOW + 400 + s).decision for s in (1, 2, 3)]
    assert {d.action for d in rescans + more} == {ALLOW}
    assert gate.assess(facts(4, member="m1"), now=NOW + 410).decision.reasons == ("sweep:d", "sweep:m")


def test_an_address_pool_rotated_under_one_phone_holds_its_prizes(gate: RiskGate) -> None:
    ips = ["203.0.113.5", "198.51.100.7", "192.0.2.9", "203.0.113.77"]  # the last: a network seen already
    cases = [gate.assess(facts(PACK * i, ip=ip, member="m0"), now=NOW + 90 * i).decision for i, ip in enumerate(ips)]
    assert [d.action for d in cases] == [ALLOW, ALLOW, HOLD, HOLD]
    assert cases[2].reasons == ("rotate:d", "rotate:m")
    assert {f.reason for f in cases[2].flags} == {"rotate"}
