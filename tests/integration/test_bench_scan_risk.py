"""The scan bench's risk pair: its bodies are honest traffic to the risk layer (risk.gate.RiskGate on a real
Redis, the bench brand's policy), so risk on / off measures the layer's cost and not prizes it refused; and
the pair's ratios and targets."""

from __future__ import annotations

import itertools
import json
import time
from collections import Counter

import redis

from bench.scan_env import RISK_POLICY, publish_risk_policy, risk_keys
from bench.scan_load import LoadResult
from bench.scan_plan import PHONES, CodeSource, Phones, give_back, make_plan
from bench.scan_report import RiskPair, ServerFigures, risk_targets
from codegen.codeformat import CodeError, verify
from risk.gate import RiskGate, ScanFacts
from risk.policy import ALLOW
from rules.members import read_member_token
from rules.region import default_index
from tests.conftest import REDIS_TEST_URL

BRAND, BATCH, KEY_ID, ITEMS, PACK = 7, 31, 1, 40_000, 24
BATCH_KEY = bytes(range(32))
SECRET = b"bench-member-test"
RATE = 2000  # scans a second, about what the risk-on server takes on the 2-core box
START = int(time.time()) // 3600 * 3600  # tokens are issued for now; the scans start this hour


def scans(source: CodeSource, phones: Phones, n: int) -> list[dict[str, object]]:
    """n bodies as the bench sends them: plans of a few thousand, the unsent tail of each given back."""
    out: list[dict[str, object]] = []
    seed = 0
    while len(out) < n:
        seed += 1
        plan = make_plan(source, 6000, seed=seed, phones=phones)
        sent = 5000
        out += [json.loads(b) for b in plan.bodies[:sent]]
        give_back(source, plan, sent)
    return out[:n]


def assess_all(gate: RiskGate, bodies: list[dict[str, object]]) -> tuple[Counter[str], Counter[str]]:
    regions = default_index()
    actions: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    for k, body in enumerate(bodies):
        try:
            fields = verify(str(body["code"]), lambda key_id, batch_id: BATCH_KEY)
        except CodeError:
            continue  # a forged code: the scanner answers 404 before the risk layer
        lat, lng = float(body["lat"]), float(body["lng"])  # type: ignore[arg-type]
        region = regions.nearest(lat, lng)
        token = body.get("member_token")
        member = read_member_token(SECRET, str(token), now=START).ref if token else ""
        decision = gate.assess(ScanFacts(
            brand_id=BRAND, batch_id=BATCH, serial=fields.serial, case=fields.serial // PACK,
            device_id=str(body["device_id"]), member=member, ip="127.0.0.1", adcode=region.adcode if region else "",
            region_source="gps", lat=lat, lng=lng), now=START + k // RATE).decision
        actions[decision.action] += 1
        reasons.update(decision.reasons)
    return actions, reasons


def test_the_bench_bodies_are_honest_traffic_under_the_bench_policy_and_every_subject_is_counted(
        redis_client: redis.Redis) -> None:
    phones = Phones(SECRET)
    bodies = scans(CodeSource(BATCH_KEY, KEY_ID, BATCH, ITEMS), phones, 3000)
    publish_risk_policy(REDIS_TEST_URL, BRAND, RISK_POLICY)
    gate = RiskGate(redis_client, default_index())
    try:
        actions, reasons = assess_all(gate, bodies)
        assert actions == {ALLOW: actions[ALLOW]} and actions[ALLOW] > 2500, (actions, reasons)
        found = risk_keys(REDIS_TEST_URL)
        assert found["network"]["subjects"] == 1  # one loopback client: one network
        assert found["device"]["subjects"] == actions[ALLOW]  # 3,000 scans: each from a phone of its own
        assert 0 < found["member"]["subjects"] <= found["device"]["subjects"] // 3
        assert found["point"]["subjects"] > 2500  # jittering fixes: a point is (nearly) one scan's

        # Without the overrides the same traffic from one address is challenged as a busy network: the
        # reason the bench publishes them.
        redis_client.flushdb()
        gate.policies.forget()
        actions, reasons = assess_all(gate, bodies)
        assert actions["challenge"] > 1000 and reasons["busy:n"] == actions["challenge"]
    finally:
        gate.close()


def test_phones_are_used_in_turn_across_plans_and_codes_are_each_handed_out_once() -> None:
    source = CodeSource(BATCH_KEY, KEY_ID, BATCH, 1000)
    phones = Phones(SECRET)
    first = make_plan(source, 300, seed=1, phones=phones)
    give_back(source, first, 200)
    second = make_plan(source, 300, seed=2, phones=phones)
    devices = [json.loads(b)["device_id"] for b in first.bodies[:200] + second.bodies]
    assert devices == [f"bench-{i:05d}" for i in range(500)]
    codes = [source.code(p) for p in range(source.capacity)]
    assert len(set(codes)) == source.capacity
    cases = [verify(c, lambda key_id, batch_id: BATCH_KEY).serial // PACK for c in codes[:200]]
    assert sum(a == b for a, b in itertools.pairwise(cases)) == 0  # not case by case
    phones.cursor = PHONES - 1
    last = make_plan(source, 2, seed=3, phones=phones)
    assert [json.loads(b)["device_id"] for b in last.bodies] == [f"bench-{PHONES - 1:05d}", "bench-00000"]


def result(rps: float) -> LoadResult:
    return LoadResult(tool="wrk", mode="closed", seconds=1.0, requests=int(rps), sent=int(rps),
                      latencies_ms={"p50": 1.0, "p90": 1.0, "p99": 2.0, "max": 2.0}, statuses={"200": int(rps)},
                      socket_errors=0)


def test_risk_ratios_are_medians_of_each_rounds_own_ratio_and_pass_only_when_the_scans_were_counted() -> None:
    off, on = ServerFigures("gunicorn"), ServerFigures("gunicorn, YIMA_RISK=1")
    for (s_off, d_off), (s_on, d_on) in (((1000, 800), (900, 600)), ((2000, 800), (1500, 700)),
                                         ((1000, 800), (700, 640))):
        off.rounds.append({"bare": result(3000), "scan": result(s_off), "draw": result(d_off)})
        on.rounds.append({"scan": result(s_on), "draw": result(d_on)})
    pair = RiskPair(off, on, "off", "on", RISK_POLICY,
                    keys={"device": {"subjects": 10, "keys": 60}, "network": {"subjects": 1, "keys": 7}})
    assert pair.ratio("scan") == 0.75  # rounds 0.9, 0.75, 0.7: not 3100 / 4000
    assert pair.ratio("draw") == 0.8  # rounds 0.75, 0.875, 0.8
    assert {k: t["pass"] for k, t in risk_targets(pair).items()} == {"risk_scan_on_vs_off": False,
                                                                     "risk_draw_on_vs_off": True}
    for rnd, app_s in ((off.rounds[0], 1.0), (on.rounds[0], 1.0)):  # scan: 1000 us off, 1111 us on a request
        rnd["scan"].cpu = {"app": app_s, "seconds": 1.0}
    assert round(pair.cpu_ratio("scan"), 2) == 0.9 and pair.cpu_ratio("draw") == 0.0  # draw: no CPU measured
    pair.keys = {"device": {"subjects": 0, "keys": 0}, "network": {"subjects": 0, "keys": 0}}
    assert not risk_targets(pair)["risk_draw_on_vs_off"]["pass"]  # the risk layer saw nothing: no PASS
