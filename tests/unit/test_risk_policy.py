"""risk.policy: a brand's policy document (validation, defaults) and the decision each rule asks for, at its
threshold and one below, and how the rules combine (severity, allow list, cleared reviews)."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from typing import Any

import pytest

from risk import keys
from risk.errors import InvalidRisk
from risk.policy import (
    ALLOW,
    ALLOWED,
    BLOCK,
    CHALLENGE,
    HOLD,
    NO_PRIZE,
    Decision,
    Flag,
    RiskPolicy,
    decide,
    more_severe,
    region_centre,
)
from risk.signals import ALLOW as LISTED_ALLOW
from risk.signals import BLOCK as LISTED_BLOCK
from risk.signals import BLOCKED, CLEARED, FLAGGED, ScanSignals, SubjectSignals
from rules.region import approx_distance_km, default_index

D, M, N, P = keys.DEVICE, keys.MEMBER, keys.NETWORK, keys.POINT
NOW = 1_800_000_000
POLICY = RiskPolicy()
OLD = 10 * 86_400  # a device seen ten days ago: not new
GUANGZHOU_YUEXIU, CHENGDU_JINJIANG = "440104", "510104"  # about 1,240 km apart
GUANGZHOU_TIANHE = "440106"


def subject(kind: str, **signals: Any) -> SubjectSignals:
    base: dict[str, Any] = {"per_minute": 1, "per_hour": 1, "per_day": 1, "others_today": 1}
    if kind == D:
        base["age_s"] = OLD
    return SubjectSignals(kind, f"{kind}-subject", **{**base, **signals})


def scan(d: dict[str, Any] | None = None, m: dict[str, Any] | None = None, n: dict[str, Any] | None = None,
         p: dict[str, Any] | None = None, **over: Any) -> ScanSignals:
    """A scan with the given subjects (an empty dict: a quiet subject), all known devices by default."""
    return ScanSignals(device=subject(D, **d) if d is not None else None,
                       member=subject(M, **m) if m is not None else None,
                       network=subject(N, **n) if n is not None else None,
                       point=subject(P, **p) if p is not None else None, **over)


def everyone(**over: Any) -> ScanSignals:
    return scan({}, {}, {}, {}, **over)


def travel_scan(kind: str, *, last_adcode: str = CHENGDU_JINJIANG, ago: int = 60,
                adcode: str = GUANGZHOU_YUEXIU, review: str = "") -> ScanSignals:
    moved = {"last_adcode": last_adcode, "last_ts": NOW - ago, "review": review}
    return scan(moved if kind == D else {}, moved if kind == M else {}, {}, None, adcode=adcode, now=NOW)


# Each rule: (id, signals at the threshold, the same one below it, action, reason, flag or None).
THRESHOLDS: list[tuple[str, ScanSignals, ScanSignals, str, str, Flag | None]] = [
    ("device per minute", scan({"per_minute": 7}), scan({"per_minute": 6}), NO_PRIZE, "velocity:d", None),
    ("device per hour", scan({"per_hour": 41}), scan({"per_hour": 40}), NO_PRIZE, "velocity:d", None),
    ("device per day", scan({"per_day": 81}), scan({"per_day": 80}), NO_PRIZE, "velocity:d", None),
    ("member per hour", scan(m={"per_hour": 41}), scan(m={"per_hour": 40}), NO_PRIZE, "velocity:m", None),
    ("member per day", scan(m={"per_day": 81}), scan(m={"per_day": 80}), NO_PRIZE, "velocity:m", None),
    ("one address, new phone", scan({"age_s": 0}, n={"ip_per_minute": 31}),
     scan({"age_s": 0}, n={"ip_per_minute": 30}), CHALLENGE, "busy:n", None),
    ("one network, new phone", scan({"age_s": 0}, n={"per_hour": 301}),
     scan({"age_s": 0}, n={"per_hour": 300}), CHALLENGE, "busy:n", None),
    ("members on a device", scan({"others_today": 3}), scan({"others_today": 2}), NO_PRIZE, "farm:d",
     Flag(D, "d-subject", "farm")),
    ("devices of a member", scan(m={"others_today": 5}), scan(m={"others_today": 4}), NO_PRIZE, "farm:m",
     Flag(M, "m-subject", "farm")),
    ("device same case", scan({"same_case": 4}), scan({"same_case": 3}), NO_PRIZE, "sweep:d",
     Flag(D, "d-subject", "sweep")),
    ("device near serials", scan({"near": 6}), scan({"near": 5}), NO_PRIZE, "sweep:d",
     Flag(D, "d-subject", "sweep")),
    ("network same case", scan(n={"same_case": 10}), scan(n={"same_case": 9}), NO_PRIZE, "sweep:n",
     Flag(N, "n-subject", "sweep")),
    ("member same case", scan(m={"same_case": 4}), scan(m={"same_case": 3}), NO_PRIZE, "sweep:m",
     Flag(M, "m-subject", "sweep")),
    ("device presale hold", scan({"presale": 1}), scan({"presale": 0}), HOLD, "presale:d",
     Flag(D, "d-subject", "presale")),
    ("member presale hold", scan(m={"presale": 1}), scan(m={"presale": 0}), HOLD, "presale:m",
     Flag(M, "m-subject", "presale")),
    ("network presale hold", scan(n={"presale": 1}), scan(n={"presale": 0}), HOLD, "presale:n",
     Flag(N, "n-subject", "presale")),
    ("device presale block", scan({"presale": 3}), scan({"presale": 2}), BLOCK, "presale:d",
     Flag(D, "d-subject", "presale")),
    ("member presale block", scan(m={"presale": 3}), scan(m={"presale": 2}), BLOCK, "presale:m",
     Flag(M, "m-subject", "presale")),
    ("network presale block", scan(n={"presale": 3}), scan(n={"presale": 2}), BLOCK, "presale:n",
     Flag(N, "n-subject", "presale")),
    ("device gps repeats", scan({"gps_repeats": 2}), scan({"gps_repeats": 1}), HOLD, "gps:d",
     Flag(D, "d-subject", "gps")),
    ("devices on a point", scan(p={"others_today": 4}), scan(p={"others_today": 3}), HOLD, "gps:p",
     Flag(P, "p-subject", "gps")),
    ("device travel window", travel_scan(D, ago=900), travel_scan(D, ago=901), HOLD, "travel:d",
     Flag(D, "d-subject", "travel")),
    ("member travel window", travel_scan(M, ago=900), travel_scan(M, ago=901), HOLD, "travel:m",
     Flag(M, "m-subject", "travel")),
]


@pytest.mark.parametrize(("at", "below", "action", "reason", "flag"),
                         [t[1:] for t in THRESHOLDS], ids=[t[0] for t in THRESHOLDS])
def test_each_rule_triggers_at_its_threshold_and_not_one_below(at: ScanSignals, below: ScanSignals, action: str,
                                                              reason: str, flag: Flag | None) -> None:
    regions = default_index()
    decision = decide(POLICY, at, regions=regions)
    assert decision.action == action
    assert decision.reasons == (reason,)
    assert decision.flags == ((flag,) if flag else ())
    below_decision = decide(POLICY, below, regions=regions)
    if reason.startswith("presale") and action == BLOCK:  # one below blocking is still holding
        assert below_decision == Decision(HOLD, (reason,), (flag,) if flag else ())
    else:
        assert below_decision is ALLOWED


def test_a_quiet_scan_and_an_empty_one_are_allowed() -> None:
    assert decide(POLICY, ScanSignals()) is ALLOWED
    assert decide(POLICY, everyone(adcode=GUANGZHOU_YUEXIU, now=NOW), regions=default_index()) is ALLOWED


def test_the_travel_threshold_is_the_distance_between_region_centres() -> None:
    regions = default_index()
    a, b = region_centre(regions, GUANGZHOU_YUEXIU), region_centre(regions, CHENGDU_JINJIANG)
    assert a is not None and b is not None
    km = approx_distance_km(a[0], a[1], b[0], b[1])
    assert 1_100 < km < 1_400
    moved = travel_scan(D)
    assert decide(replace(POLICY, travel_km=math.floor(km)), moved, regions=regions).reasons == ("travel:d",)
    assert decide(replace(POLICY, travel_km=math.ceil(km)), moved, regions=regions) is ALLOWED
    # Two districts of one city are close; a city's code (an address's region) has a centre too.
    assert decide(POLICY, travel_scan(D, last_adcode=GUANGZHOU_TIANHE), regions=regions) is ALLOWED
    assert decide(POLICY, travel_scan(D, last_adcode="510100"), regions=regions).reasons == ("travel:d",)


def test_travel_needs_regions_the_time_and_both_places() -> None:
    regions = default_index()
    moved = travel_scan(D)
    assert decide(POLICY, moved, regions=regions).action == HOLD
    assert decide(POLICY, moved) is ALLOWED  # no region index: the rule is off
    assert decide(POLICY, replace(moved, now=0), regions=regions) is ALLOWED
    assert decide(POLICY, replace(moved, adcode=""), regions=regions) is ALLOWED
    assert decide(POLICY, travel_scan(D, last_adcode=""), regions=regions) is ALLOWED
    assert decide(POLICY, travel_scan(D, last_adcode="999999"), regions=regions) is ALLOWED  # unknown code
    assert decide(replace(POLICY, travel_km=0), moved, regions=regions) is ALLOWED


def test_region_centres() -> None:
    regions = default_index()
    assert region_centre(regions, "110100") == region_centre(regions, "110000")  # a municipality's alias
    assert region_centre(regions, "441900") is not None  # a city without districts is its own centroid
    assert region_centre(regions, "440100") is not None  # a city with districts: their mean
    assert region_centre(regions, "") is None
    assert region_centre(regions, "99") is None


def test_busy_address_challenges_only_new_phones() -> None:
    busy = {"ip_per_minute": 31}
    assert decide(POLICY, scan({"age_s": 86_399}, n=busy)).reasons == ("busy:n",)
    assert decide(POLICY, scan({"age_s": 86_400}, n=busy)) is ALLOWED  # known for a day: passes
    assert decide(POLICY, scan(None, {}, busy)).reasons == ("busy:n",)  # no device at all: challenged
    assert decide(replace(POLICY, new_device_s=0), scan({"age_s": 0}, n=busy)) is ALLOWED


def test_zero_turns_a_rule_off() -> None:
    off = replace(POLICY, device_per_minute=0, sweep_same_case=0, sweep_near=0, members_per_device=0,
                  presale_hold=0, presale_block=0, gps_repeats=0, devices_per_point=0, ip_per_minute=0)
    wild = scan({"per_minute": 99, "same_case": 15, "near": 15, "others_today": 9, "presale": 9, "gps_repeats": 9,
                 "age_s": 0}, n={"ip_per_minute": 999}, p={"others_today": 9})
    assert decide(off, wild) is ALLOWED
    assert decide(POLICY, wild).action == BLOCK


def test_lists_and_reviews() -> None:
    assert decide(POLICY, scan({"listed": LISTED_BLOCK})) == Decision(BLOCK, ("list:d",))
    assert decide(POLICY, scan(n={"listed": LISTED_BLOCK})) == Decision(BLOCK, ("list:n",))
    assert decide(POLICY, scan(m={"review": BLOCKED})) == Decision(BLOCK, ("review:m",))
    assert decide(POLICY, scan({"review": FLAGGED})) == Decision(HOLD, ("review:d",))
    # a network is shared by strangers (CGNAT, a bar's Wi-Fi): a flag on it holds nobody's prize
    assert decide(POLICY, scan({}, n={"review": FLAGGED})) is ALLOWED
    assert decide(POLICY, scan({}, n={"review": BLOCKED})) == Decision(BLOCK, ("review:n",))
    assert decide(POLICY, scan({"review": CLEARED})) is ALLOWED
    assert decide(POLICY, everyone(range_blocked=True)) == Decision(BLOCK, ("range",))


def test_an_allow_entry_overrides_blocks_and_velocity() -> None:
    signals = scan({"listed": LISTED_BLOCK, "per_minute": 99, "same_case": 9, "review": BLOCKED},
                   {"listed": LISTED_ALLOW, "presale": 9}, {"ip_per_minute": 999}, {}, range_blocked=True)
    assert decide(POLICY, signals) == Decision(ALLOW, ("list:m",))
    assert decide(POLICY, scan(p={"listed": LISTED_ALLOW, "others_today": 9})) == Decision(ALLOW, ("list:p",))


def test_a_cleared_subject_skips_farm_sweep_presale_gps_and_travel_but_not_velocity() -> None:
    regions = default_index()
    noisy = {"others_today": 9, "same_case": 9, "near": 9, "presale": 1, "gps_repeats": 5}
    assert set(decide(POLICY, scan(noisy)).reasons) == {"farm:d", "sweep:d", "presale:d", "gps:d"}
    assert decide(POLICY, scan({**noisy, "review": CLEARED})) is ALLOWED
    assert decide(POLICY, scan({**noisy, "review": CLEARED, "per_minute": 7})) == Decision(NO_PRIZE, ("velocity:d",))
    assert decide(POLICY, scan(m={**noisy, "review": CLEARED, "per_day": 81})) == Decision(NO_PRIZE, ("velocity:m",))
    assert decide(POLICY, scan(n={"same_case": 10, "presale": 3, "review": CLEARED})) is ALLOWED
    assert decide(POLICY, scan(p={"others_today": 9, "review": CLEARED})) is ALLOWED
    assert decide(POLICY, travel_scan(D, review=CLEARED), regions=regions) is ALLOWED
    # Only the cleared subject is exempt: the member's own sweep still counts.
    mixed = scan({**noisy, "review": CLEARED}, {"same_case": 4})
    assert decide(POLICY, mixed).reasons == ("sweep:m",)


def test_the_most_severe_action_wins_and_reasons_come_most_severe_first() -> None:
    signals = scan({"gps_repeats": 2, "others_today": 4, "age_s": 0}, {"listed": LISTED_BLOCK},
                   {"ip_per_minute": 31})
    decision = decide(POLICY, signals)
    assert decision.action == BLOCK
    assert decision.reasons == ("list:m", "farm:d", "busy:n", "gps:d")
    assert decision.flags == (Flag(D, "d-subject", "farm"), Flag(D, "d-subject", "gps"))
    assert decide(POLICY, scan({"gps_repeats": 2, "age_s": 0}, n={"ip_per_minute": 31})).action == CHALLENGE
    assert decide(POLICY, scan({"gps_repeats": 2, "same_case": 4})).reasons == ("sweep:d", "gps:d")
    assert [more_severe(a, b) for a, b in [(ALLOW, HOLD), (CHALLENGE, HOLD), (NO_PRIZE, BLOCK)]] == \
        [HOLD, CHALLENGE, BLOCK]


def test_reasons_stop_at_eight_and_flags_name_each_subject_and_rule_once() -> None:
    regions = default_index()
    bad = {"per_minute": 99, "per_hour": 99, "per_day": 99, "others_today": 9, "same_case": 9, "near": 9,
           "presale": 9, "gps_repeats": 9, "last_adcode": CHENGDU_JINJIANG, "last_ts": NOW - 1}
    signals = scan(bad, bad, bad, bad, adcode=GUANGZHOU_YUEXIU, now=NOW)
    decision = decide(POLICY, signals, regions=regions)
    assert decision.action == BLOCK
    assert len(decision.reasons) == 8
    assert decision.reasons[:3] == ("presale:d", "presale:m", "presale:n")
    assert len(decision.flags) == len(set(decision.flags))
    # A device sweeping by case and by serials is one reason and one flag.
    assert decide(POLICY, scan({"same_case": 4, "near": 6})).flags == (Flag(D, "d-subject", "sweep"),)
    assert len(decide(POLICY, signals, regions=regions).reasons_text()) <= 200


def test_a_disabled_policy_allows_everything() -> None:
    off = replace(POLICY, enabled=False)
    assert decide(off, scan({"listed": LISTED_BLOCK, "per_minute": 99, "presale": 9})) is ALLOWED


# The policy document --------------------------------------------------------------------------------------

def test_defaults_round_trip_through_the_document() -> None:
    assert RiskPolicy.from_doc(None) == RiskPolicy.from_doc({}) == RiskPolicy()
    doc = RiskPolicy().to_doc()
    assert set(doc) == set(RiskPolicy.field_names())
    assert RiskPolicy.from_doc(doc) == RiskPolicy()
    assert RiskPolicy.from_doc(json.loads(json.dumps(doc))) == RiskPolicy()


def test_a_document_overrides_only_its_fields() -> None:
    policy = RiskPolicy.from_doc({"sweep_same_case": 2, "enabled": False, "tainted_code": "block"})
    assert (policy.sweep_same_case, policy.enabled, policy.tainted_code) == (2, False, BLOCK)
    assert policy.sweep_near == RiskPolicy().sweep_near
    assert RiskPolicy.from_doc(policy.to_doc()) == policy
    assert RiskPolicy().with_changes(travel_km=0) == replace(RiskPolicy(), travel_km=0)
    with pytest.raises(InvalidRisk) as caught:
        RiskPolicy().with_changes(travel_km=-1)
    assert caught.value.field == "travel_km"


@pytest.mark.parametrize(("doc", "field"), [
    ({"sweep_same_cases": 3}, "sweep_same_cases"),  # unknown
    ({"enabled": 1}, "enabled"),
    ({"keep_drawable": "yes"}, "keep_drawable"),
    ({"device_per_minute": True}, "device_per_minute"),  # a bool is not a count
    ({"device_per_minute": "6"}, "device_per_minute"),
    ({"device_per_minute": 6.0}, "device_per_minute"),
    ({"device_per_minute": None}, "device_per_minute"),
    ({"member_per_day": -1}, "member_per_day"),
    ({"travel_km": 10_000_001}, "travel_km"),
    ({"sweep_window_s": 0}, "sweep_window_s"),
    ({"sweep_window_s": 86_401}, "sweep_window_s"),
    ({"travel_window_s": 0}, "travel_window_s"),
    ({"travel_window_s": 30 * 86_400 + 1}, "travel_window_s"),
    ({"new_device_s": -1}, "new_device_s"),
    ({"sweep_same_case": 16}, "sweep_same_case"),  # subject.lua keeps 16 scans: 15 earlier at most
    ({"network_sweep_same_case": 16}, "network_sweep_same_case"),
    ({"tainted_code": "maybe"}, "tainted_code"),
    ({"tainted_code": 3}, "tainted_code"),
    ({"gps_repeats": 2, "presale_hold": [1]}, "presale_hold"),
])
def test_a_bad_document_names_its_field(doc: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidRisk) as caught:
        RiskPolicy.from_doc(doc)
    assert caught.value.field == field
    assert field in str(caught.value)
    assert caught.value.details() == {"field": field}


def test_the_limits_themselves_are_accepted() -> None:
    edge = {"sweep_window_s": 1, "travel_window_s": 30 * 86_400, "new_device_s": 0, "sweep_same_case": 15,
            "travel_km": 10_000_000, "device_per_minute": 0}
    assert RiskPolicy.from_doc(edge).to_doc() == {**RiskPolicy().to_doc(), **edge}


@pytest.mark.parametrize("doc", [[], "policy", 3])
def test_a_document_must_be_an_object(doc: Any) -> None:
    with pytest.raises(InvalidRisk) as caught:
        RiskPolicy.from_doc(doc)
    assert caught.value.field == "policy"


def test_a_code_capped_on_the_phone_gives_no_prize_unless_the_brand_turns_the_rule_off() -> None:
    capped = scan(d={"capped_here": True})
    assert decide(POLICY, capped) == Decision(NO_PRIZE, ("capped:d",))
    assert decide(RiskPolicy(cap_follows_code=False), capped).action == ALLOW
    assert decide(POLICY, scan(d={"capped_here": False})).action == ALLOW
