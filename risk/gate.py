"""What the scanner asks of the risk layer, once per scan before its script runs: count the scan against its
subjects (one risk/subject.lua call each, sent together: one round trip per Redis server) and decide under the
brand's policy. The decision then travels into the scan script (stored on the event) and the draw (which
honours it atomically: a held award, a spent draw, or no draw at all).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from risk import keys
from risk.errors import InvalidRisk
from risk.policy import ALLOWED, Decision, RiskPolicy, decide
from risk.signals import ScanSignals, SubjectSignals, subject_call
from rules.lua import ScriptCaller

CHINA = timedelta(hours=8)  # counters roll over at China's midnight, like campaign days


@dataclass(frozen=True, slots=True)
class ScanFacts:
    """One scan as the risk layer sees it (no code text: the scan script adds the code's own facts)."""

    brand_id: int
    batch_id: int
    serial: int
    case: int  # serial // pack, -1 when the batch has no packs
    device_id: str = ""
    member: str = ""  # member ref
    new_member: bool = False
    ip: str = ""
    adcode: str = ""
    region_source: str = "none"
    ip_adcode: str = ""  # the address's city when `adcode` came from the phone
    lat: float | None = None
    lng: float | None = None


@dataclass(frozen=True, slots=True)
class Assessment:
    decision: Decision
    signals: ScanSignals
    policy: RiskPolicy


class PolicyCache:
    """Brands' published policies (risk.keys.POLICIES_KEY), kept in memory for `ttl` seconds."""

    def __init__(self, redis: Any, ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._redis, self._ttl, self._clock = redis, ttl, clock
        self._policies: dict[int, RiskPolicy] = {}
        self._until = 0.0

    def get(self, brand_id: int) -> RiskPolicy:
        now = self._clock()
        if now >= self._until:
            raw = self._redis.hgetall(keys.POLICIES_KEY)
            policies = {}
            for field, value in raw.items():
                try:
                    policies[int(field)] = RiskPolicy.from_doc(json.loads(value))
                except (ValueError, TypeError, InvalidRisk):  # refused when saved; never fail a scan on it
                    continue
            self._policies, self._until = policies, now + self._ttl
        return self._policies.get(brand_id) or DEFAULT_POLICY

    def forget(self) -> None:
        self._until = 0.0


DEFAULT_POLICY = RiskPolicy()


class RiskGate:
    def __init__(self, redis: Any, regions: Any = None, clock: Callable[[], float] = time.time,
                 policies: PolicyCache | None = None) -> None:
        self._redis = redis
        self._scripts = ScriptCaller(redis)
        self._regions = regions
        self._clock = clock
        self.policies = policies or PolicyCache(redis)

    def close(self) -> None:
        self._scripts.close()

    def note_capped(self, device_id: str, batch_id: int, serial: int, ttl_s: int = 86_400) -> None:
        """A member on this phone hit a per-member cap on this code: its prize does not pass to the next
        account on the same phone (RiskPolicy.cap_follows_code)."""
        self._redis.set(keys.capped_key(keys.device_subject(device_id), batch_id, serial), 1, ex=ttl_s)

    def assess(self, scan: ScanFacts, now: int | None = None) -> Assessment:
        """Count the scan against its subjects and decide. A disabled policy counts nothing and allows."""
        policy = self.policies.get(scan.brand_id)
        if not policy.enabled:
            return Assessment(ALLOWED, ScanSignals(), policy)
        now = int(self._clock()) if now is None else now
        device = keys.device_subject(scan.device_id) if scan.device_id else ""
        network, address = keys.network_of(scan.ip) if scan.ip else ("", "")
        point = keys.point_of(scan.lat, scan.lng) if scan.lat is not None and scan.lng is not None else ""
        common = dict(now=now, brand_id=scan.brand_id, batch_id=scan.batch_id, case=scan.case, serial=scan.serial,
                      adcode=scan.adcode, sweep_window_s=policy.sweep_window_s, near_distance=policy.near_distance)
        wanted: list[tuple[str, str, str]] = []  # (kind, subject, other)
        if device:
            wanted.append((keys.DEVICE, device, scan.member))
        if scan.member:
            wanted.append((keys.MEMBER, scan.member, device))
        if network:
            wanted.append((keys.NETWORK, network, device))
        if point:
            wanted.append((keys.POINT, point, device))
        calls = [subject_call(kind=kind, subject=subject, other=other,
                              gps=point if kind == keys.DEVICE else "",
                              ip=address if kind == keys.NETWORK else "", network=network,
                              **common)  # type: ignore[arg-type]
                 for kind, subject, other in wanted]
        replies: list[SubjectSignals] = self._scripts.run_all(calls) if calls else []
        by_kind = {s.kind: s for s in replies}
        signals = ScanSignals(device=by_kind.get(keys.DEVICE), member=by_kind.get(keys.MEMBER),
                              network=by_kind.get(keys.NETWORK), point=by_kind.get(keys.POINT),
                              new_member=scan.new_member, region_source=scan.region_source, adcode=scan.adcode,
                              ip_adcode=scan.ip_adcode, now=now)
        return Assessment(decide(policy, signals, regions=self._regions), signals, policy)


def china_day(now: float) -> int:
    """Days since the epoch in China's time (the day counters' key)."""
    return int((datetime.fromtimestamp(now, UTC) + CHINA).timestamp() // 86_400)
