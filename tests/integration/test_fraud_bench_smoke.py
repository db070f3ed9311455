"""`make bench-fraud` on a tiny world (a few hundred scans): the report has its shape, and the attackers won
real money in the baseline, so the bench can never silently measure nothing. With the risk layer wired
into the Scanner, the risk run is there too, with a decision on every scan and a time to flag per sweep.
"""

from __future__ import annotations

import argparse

import pytest
import redis

from bench.bench_fraud import run
from bench.fraud_actors import ATTACKS, CAP_ROTATION, ENUMERATION, LEAKED, VOIDED
from bench.fraud_world import TINY, risk_gate_class
from tests.conftest import REDIS_TEST_URL

pytestmark = pytest.mark.slow


def test_a_tiny_fraud_bench_reports_every_attacker_and_the_baseline_pays_them(
        redis_client: redis.Redis) -> None:
    args = argparse.Namespace(seed=3, redis_url=REDIS_TEST_URL, database_url="", mode="both", no_cost=False,
                              silent=True)
    report = run(args, TINY)

    base = report["baseline"]
    assert base is not None and base["mode"] == "baseline"
    assert set(base["attackers"]) == set(ATTACKS)
    assert all(base["attackers"][k]["scans"] > 0 for k in ATTACKS)
    # Without the risk layer the attackers are paid: genuine codes they scanned first won red packets.
    assert base["attack_paid_fen"] > 0
    assert base["attackers"]["hunter_farm"]["paid_fen"] > 0
    assert base["attackers"]["insider_sweep"]["paid_fen"] > 0
    # The scans really went through the scan path: forged codes refused, voided and not-yet-on-sale codes
    # answered as such, every decision "allow" without the risk layer.
    assert set(base["attackers"][ENUMERATION]["statuses"]) <= {"not_genuine", "source_blocked"}
    assert base["attackers"][VOIDED]["statuses"] == {"void": base["attackers"][VOIDED]["scans"]}
    assert base["attackers"][LEAKED]["statuses"].get("not_on_sale", 0) > 0
    assert {d for a in base["attackers"].values() for d in a["decisions"]} == {"allow"}
    honest = base["honest"]
    assert honest["scans"] >= TINY.honest_scans and honest["won"] > 0 and honest["paid_fen"] > 0
    assert 0 <= honest["harmed_pct"] <= 100
    assert set(report["verdict"]) >= {"blocked_pct", "per_kind_blocked_pct", "checks"}

    if risk_gate_class() is None:
        assert report["risk"] is None and report["verdict"]["checks"] == {}
        return
    risk = report["risk"]
    assert risk["mode"] == "risk" and set(risk["attackers"]) == set(ATTACKS)
    assert set(risk["sweep_time_to_flag"]) == {"sweep-1", "sweep-2", "sweep-3", "sweep-4-rotating"}
    assert risk["cost"]["us_without"] > 0 and risk["cost"]["us_with"] > 0
    assert set(report["verdict"]["checks"]) == {"blocked", "harmed", "sweeps"}
    # The same scripts in both runs (the capped-member rotation adapts to the answers: its count may differ).
    scripted = [k for k in ATTACKS if k != CAP_ROTATION]
    assert [risk["attackers"][k]["scans"] for k in scripted] == [base["attackers"][k]["scans"] for k in scripted]
    assert risk["honest"]["scans"] == honest["scans"]
