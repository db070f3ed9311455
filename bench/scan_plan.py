"""The scan bench's request bodies: distinct never-scanned codes of a batch, and the mix a phone sends.

Every body is the scan body a phone sends (code, device_id, lat/lng). The mix is the locustfile's: 85 %
first scans of distinct genuine codes, 10 % repeats of codes scanned a moment earlier, 5 % forged (a
genuine code with its last tag symbol changed: 404 expected, counted as correct). Codes are signed in
process with CodeSigner, so a batch of N items gives 2 × N distinct codes (inner, then outer serials).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass

FORGED_SHARE = 0.05
REPEAT_SHARE = 0.10
REPEAT_MIN_GAP = 128  # a repeat names a code sent at least this many requests earlier (> connections)
REPEAT_WINDOW = 5000

# Phone positions the bodies carry (the scan path turns them into a region).
POSITIONS = ((31.2304, 121.4737), (39.9042, 116.4074), (23.1291, 113.2644), (30.5728, 104.0668),
             (22.5431, 114.0579), (30.2741, 120.1551), (34.3416, 108.9398), (36.0671, 120.3826))


def forge(code: str) -> str:
    """A genuine code with its last tag symbol changed: well-formed, signature fails."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


class CodeSource:
    """Distinct genuine codes of the bench batch, signed on demand: inner serials, then outer serials."""

    def __init__(self, batch_key: bytes, key_id: int, batch_id: int, items: int) -> None:
        from codegen.codeformat import CodeSigner, Role

        self.items = items
        self._signers = [CodeSigner(batch_key, role=role, key_id=key_id, batch_id=batch_id)
                         for role in (Role.INNER, Role.OUTER)]
        self.position = 0

    @property
    def capacity(self) -> int:
        return 2 * self.items

    @property
    def left(self) -> int:
        return self.capacity - self.position

    def code(self, index: int) -> str:
        return self._signers[index // self.items].code(index % self.items)


@dataclass
class Plan:
    """The request bodies of one run, in send order, and how many fresh codes each prefix uses."""

    bodies: list[bytes]
    fresh_before: list[int]  # fresh_before[k]: fresh codes among bodies[:k]
    start: int  # CodeSource position of the first fresh code


def body(code: str, i: int) -> bytes:
    lat, lng = POSITIONS[i % len(POSITIONS)]
    return json.dumps({"code": code, "device_id": f"bench-{i % 4096:04d}", "lat": lat, "lng": lng},
                      separators=(",", ":")).encode()


def make_plan(source: CodeSource, n: int, seed: int) -> Plan:
    """n bodies: 85 % fresh codes, 10 % repeats of earlier fresh codes of this plan, 5 % forged."""
    rnd = random.Random(seed)
    start = source.position
    fresh: list[str] = []
    bodies: list[bytes] = []
    fresh_before: list[int] = []
    for i in range(n):
        fresh_before.append(len(fresh))
        r = rnd.random()
        if r < FORGED_SHARE and fresh:
            code = forge(fresh[rnd.randrange(max(0, len(fresh) - REPEAT_WINDOW), len(fresh))])
        elif r < FORGED_SHARE + REPEAT_SHARE and len(fresh) > REPEAT_MIN_GAP:
            code = fresh[rnd.randrange(max(0, len(fresh) - REPEAT_WINDOW), len(fresh) - REPEAT_MIN_GAP)]
        elif source.position < source.capacity:
            code = source.code(source.position)
            source.position += 1
            fresh.append(code)
        else:  # out of codes: the run becomes repeats (reported as "wrapped")
            code = fresh[rnd.randrange(len(fresh))] if fresh else source.code(0)
        bodies.append(body(code, i))
    fresh_before.append(len(fresh))
    return Plan(bodies, fresh_before, start)


def give_back(source: CodeSource, plan: Plan, sent: int) -> None:
    """Return the fresh codes of the unsent tail of a plan to the source."""
    source.position = plan.start + plan.fresh_before[min(max(sent, 0), len(plan.bodies))]

