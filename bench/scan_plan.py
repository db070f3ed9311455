"""The scan bench's request bodies: distinct never-scanned codes of a batch, and the mix a phone sends.

Every body is the scan body a phone sends (code, device_id, lat/lng, for some a member token). The mix is
the locustfile's: 85 % first scans of distinct genuine codes, 10 % repeats of codes scanned a moment
earlier, 5 % forged (a genuine code with its last tag symbol changed: 404 expected, counted as correct).
Codes are signed in process with CodeSigner, so a batch of N items gives 2 × N distinct codes, handed out
in a fixed shuffled order (bottles are not scanned case by case, in serial order).

The phones are honest traffic as the risk layer (risk/) sees it: a pool of PHONES device ids used in turn
across every run (each phone scans once every PHONES requests), each phone in one city with a GPS fix that
jitters by up to JITTER degrees (about 2 km) as real fixes do, and one phone in MEMBER_EVERY signed in as
its own member (a member token when the bench knows the member secret). What one loopback client cannot
vary is its address: every scan comes from 127.0.0.1 (see bench_scan.py's risk pair).
"""

from __future__ import annotations

import json
import math
import random
import time
from dataclasses import dataclass

FORGED_SHARE = 0.05
REPEAT_SHARE = 0.10
REPEAT_MIN_GAP = 128  # a repeat names a code sent at least this many requests earlier (> connections)
REPEAT_WINDOW = 5000
PHONES = 50_000  # distinct device ids, used in turn
MEMBER_EVERY = 4  # one phone in this many sends a member token
JITTER = 0.02  # degrees a phone's GPS fix wanders around its city's point
SHUFFLE_STRIDE = 7_919  # code order: fresh code k is index (k * stride) mod capacity, stride coprime to it

# Phone positions the bodies carry (the scan path turns them into a region).
POSITIONS = ((31.2304, 121.4737), (39.9042, 116.4074), (23.1291, 113.2644), (30.5728, 104.0668),
             (22.5431, 114.0579), (30.2741, 120.1551), (34.3416, 108.9398), (36.0671, 120.3826))


def forge(code: str) -> str:
    """A genuine code with its last tag symbol changed: well-formed, signature fails."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


class CodeSource:
    """Distinct genuine codes of the bench batch, signed on demand, in a fixed shuffled order over the inner
    and outer serials: consecutive fresh codes are of different cases, as a shop's scans are."""

    def __init__(self, batch_key: bytes, key_id: int, batch_id: int, items: int) -> None:
        from codegen.codeformat import CodeSigner, Role

        self.items = items
        self._signers = [CodeSigner(batch_key, role=role, key_id=key_id, batch_id=batch_id)
                         for role in (Role.INNER, Role.OUTER)]
        self.position = 0
        self._stride = SHUFFLE_STRIDE
        while math.gcd(self._stride, self.capacity) != 1:
            self._stride += 2

    @property
    def capacity(self) -> int:
        return 2 * self.items

    @property
    def left(self) -> int:
        return self.capacity - self.position

    def code(self, position: int) -> str:
        """The code handed out at `position` (0 ≤ position < capacity): a bijection, so each once."""
        index = position * self._stride % self.capacity
        return self._signers[index // self.items].code(index % self.items)


class Phones:
    """The phones the bodies come from (see the module docstring): `cursor` is the next phone to scan."""

    def __init__(self, member_secret: bytes | None = None) -> None:
        self.member_secret = member_secret
        self.cursor = 0
        self._tokens: dict[int, str] = {}
        self._expires = 0.0

    def device_id(self, phone: int) -> str:
        return f"bench-{phone % PHONES:05d}"

    def member_token(self, phone: int) -> str | None:
        """The token of the member signed in on this phone (one in MEMBER_EVERY), issued once a run."""
        phone %= PHONES
        if self.member_secret is None or phone % MEMBER_EVERY:
            return None
        if time.time() > self._expires:  # tokens live a day; a bench run is minutes
            self._tokens.clear()
            self._expires = time.time() + 3600
        token = self._tokens.get(phone)
        if token is None:
            from rules.members import Member, issue_member_token

            member = Member(f"bench-member-{phone:05d}", None, frozenset(), time.time() - 90 * 86_400)
            token = self._tokens[phone] = issue_member_token(self.member_secret, member)
        return token

    def body(self, code: str, phone: int, rnd: random.Random) -> bytes:
        lat, lng = POSITIONS[phone % PHONES % len(POSITIONS)]
        doc: dict[str, object] = {"code": code, "device_id": self.device_id(phone),
                                  "lat": round(lat + rnd.uniform(-JITTER, JITTER), 6),
                                  "lng": round(lng + rnd.uniform(-JITTER, JITTER), 6)}
        token = self.member_token(phone)
        if token is not None:
            doc["member_token"] = token
        return json.dumps(doc, separators=(",", ":")).encode()


_ANONYMOUS = Phones()  # plans made without the bench's phones: the same pool, no member tokens


@dataclass
class Plan:
    """The request bodies of one run, in send order, and how many fresh codes each prefix uses."""

    bodies: list[bytes]
    fresh_before: list[int]  # fresh_before[k]: fresh codes among bodies[:k]
    start: int  # CodeSource position of the first fresh code
    phones: Phones | None = None
    first_phone: int = 0  # the phone of bodies[0]; bodies[k] comes from phone first_phone + k


def make_plan(source: CodeSource, n: int, seed: int, phones: Phones | None = None) -> Plan:
    """n bodies: 85 % fresh codes, 10 % repeats of earlier fresh codes of this plan, 5 % forged; from the
    phones in turn, starting at `phones.cursor` (which moves past them; `give_back` returns the unsent)."""
    rnd = random.Random(seed)
    phones = phones or _ANONYMOUS
    first_phone = phones.cursor
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
        bodies.append(phones.body(code, first_phone + i, rnd))
    fresh_before.append(len(fresh))
    phones.cursor = (first_phone + n) % PHONES
    return Plan(bodies, fresh_before, start, phones, first_phone)


def give_back(source: CodeSource, plan: Plan, sent: int) -> None:
    """Return the fresh codes of the unsent tail of a plan to the source, and its phones to the pool."""
    sent = min(max(sent, 0), len(plan.bodies))
    source.position = plan.start + plan.fresh_before[sent]
    if plan.phones is not None:
        plan.phones.cursor = (plan.first_phone + sent) % PHONES

