"""The floor against code enumeration: invalid codes count against their source, which is then blocked.

A forged or mangled code costs the scan path only CPU (verification needs no Redis), so guessing codes
from one address was never slowed. Each invalid code now counts against its sources, the client address
(an IPv6 address by its /64, which one subscriber holds whole) and the device; a source over its limit
in the window is blocked for a while: every scan from it gets 429, genuine codes included (an enumerator
must not be able to keep scanning the codes it found). Honest scans pay nothing: a blocked source is
known from process memory, and Redis is asked only when a code is invalid. Another process learns of a
block the first time that source sends it an invalid code. The rest of the risk layer builds on this.

Keys `{src:<kind>:<id>}:…` (one slot per source) belong to this module.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError

from reports.forged import ForgedCounter
from rules.errors import Kind, RulesError
from rules.lua import LuaScript, ScriptCall, ScriptCaller

INVALID = LuaScript.of("rules", "invalid_code.lua")


@dataclass(frozen=True)
class EnumerationLimits:
    per_ip: int = 30  # invalid codes from one address (IPv6: one /64) per window; 0 = not counted
    per_device: int = 10
    window_seconds: int = 600
    block_seconds: int = 900


class SourceBlocked(RulesError):
    """This address or device sent too many invalid codes; it may scan again after `retry_after` s."""

    code = "too_many_invalid_codes"
    kind = Kind.THROTTLED

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many invalid codes from this source; retry in {retry_after} s")
        self.retry_after = retry_after


def address_subject(ip: str) -> str:
    """The address as counted: IPv4 whole, IPv6 by its /64."""
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return ip[:64]
    if addr.version == 6:
        return str(ipaddress.ip_network(f"{addr}/64", strict=False).network_address) + "/64"
    return str(addr)


def source_keys(kind: str, subject: str) -> list[str]:
    tag = f"{{src:{kind}:{subject}}}"
    return [f"{tag}:bad", f"{tag}:blocked"]


class EnumerationGuard:
    def __init__(self, redis: Any, limits: EnumerationLimits = EnumerationLimits(),
                 clock: Callable[[], float] = time.monotonic, forged: ForgedCounter | None = None) -> None:
        self._scripts = ScriptCaller(redis)
        self._forged = forged
        self._limits = limits
        self._clock = clock
        self._blocked: dict[tuple[str, str], float] = {}  # (kind, subject) → until (clock)

    def close(self) -> None:
        self._scripts.close()

    def _subjects(self, ip: str, device: str) -> list[tuple[str, str, int]]:
        lim = self._limits
        subjects = []
        if ip and lim.per_ip:
            subjects.append(("ip", address_subject(ip), lim.per_ip))
        if device and lim.per_device:
            subjects.append(("dev", device, lim.per_device))
        return subjects

    def check(self, ip: str, device: str) -> None:
        """Raise SourceBlocked when this process knows the source is blocked (no Redis call)."""
        if not self._blocked:
            return
        now = self._clock()
        for kind, subject, _limit in self._subjects(ip, device):
            until = self._blocked.get((kind, subject))
            if until is not None:
                if until > now:
                    raise SourceBlocked(int(until - now) + 1)
                del self._blocked[kind, subject]

    def record_invalid(self, ip: str, device: str, claimed_batch: int | None = None) -> int:
        """Count one invalid code against the sources, and as a forged attempt on the batch it claims (in
        the same round trip); the seconds a source is now blocked (0: none).

        Best effort: with Redis unreachable the code is still answered "not genuine", uncounted.
        """
        subjects = self._subjects(ip, device)
        if not subjects and self._forged is None:
            return 0
        lim = self._limits
        try:
            calls: list[ScriptCall[int]] = [
                ScriptCall(INVALID, source_keys(kind, subject), [limit, lim.window_seconds, lim.block_seconds], int)
                for kind, subject, limit in subjects
            ]
            if self._forged is not None:
                calls.append(self._forged.count_call(claimed_batch))
            replies = self._scripts.run_all(calls)[:len(subjects)]
        except RedisError:
            return 0
        now, longest = self._clock(), 0
        for (kind, subject, _limit), seconds in zip(subjects, replies, strict=True):
            if seconds > 0:
                if len(self._blocked) > 100_000:
                    self._blocked.clear()
                self._blocked[kind, subject] = now + int(seconds)
                longest = max(longest, int(seconds))
        return longest
