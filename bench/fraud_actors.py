"""Who scans in the fraud bench: honest consumers and eight kinds of attacker, as timed scan scripts.

Everything here is pure and seeded: `population(sizes, places, seed)` gives the same scripts for the same
seed, so the run without the risk layer and the run with it replay exactly the same scans. A scan names
its code as (batch slot, serial) — slots 0..n-1 are the batches on sale from the start, slot n the leaked
batch — so the scripts do not depend on the ids a database hands out. One attacker adapts to what it is
told (the capped-member rotation passes a capped code to the next account on the phone): `Actor.after`
returns its follow-up scans, the same rule in both runs.

Honest consumers (DESIGN: the campaign is for them): a stable device each, a member token 90 % of the time
(5 % of those joined this week), 1–3 codes over the days, mostly in the evening. Addresses: 80 % a home or
mobile /24 of their own, 20 % behind a few big carrier-grade NAT /24s; bars, where 6–14 patrons on the
bar's Wi-Fi open bottles of one case within an hour; families opening 2–4 bottles of one case in an
evening on one or two phones. 40 % send GPS (the district they live in, jittered like a real fix), 3 %
are travelling outside Guangdong (their scans draw nothing anywhere: the campaign is Guangdong's).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from typing import Any

DAY = 86_400
LEAK_ON_SALE_CASES = 10  # bench/fraud_world.py puts the leaked batch's first cases on sale from the start
HONEST = "honest"
ENUMERATION, FARM, FARM_ADAPTED, LEAKED, VOIDED, SWEEP, OUT_OF_MARKET, CAP_ROTATION = (
    "enumeration", "hunter_farm", "farm_adapted", "leaked_pack", "voided_pack", "insider_sweep", "out_of_market",
    "capped_rotation")
ATTACKS = (ENUMERATION, FARM, FARM_ADAPTED, LEAKED, VOIDED, SWEEP, OUT_OF_MARKET, CAP_ROTATION)


@dataclass(frozen=True, slots=True)
class MemberId:
    member_id: str
    joined_at: float  # seconds relative to the simulation's epoch (negative: before it)


@dataclass(frozen=True, slots=True)
class Scan:
    t: float  # seconds since the simulation's epoch
    kind: str  # HONEST or one of ATTACKS
    who: str  # the actor ("farm", "sweep-2", "consumer-812", ...)
    slot: int = -1  # the code: batch slot and serial (slot -1: `forged` text instead)
    serial: int = -1
    forged: str = ""  # "bad-tag" / "unknown" for enumeration: the runner makes the text
    ip: str = ""
    device: str = ""
    member: MemberId | None = None
    lat: float | None = None
    lng: float | None = None
    track: str = ""  # sweeps: the sweep whose time to flag this scan counts toward


class Actor:
    """A script of scans; `after` may add scans once the scanner answered one (default: none)."""

    def __init__(self, kind: str, who: str, scans: list[Scan]) -> None:
        self.kind, self.who, self.scans = kind, who, scans

    def prepare(self, scan: Scan) -> Scan:
        """The scan as the actor sends it now (an adaptive actor fills in what it learnt)."""
        return scan

    def after(self, scan: Scan, outcome: str) -> list[Scan]:
        return []


class CapRotation(Actor):
    """Members of one phone hitting the per-member daily cap: a code the draw answered "capped" goes to the
    next account on the same phone, rescanned half a minute later (the phone scanned it first, so the next
    account's rescan still draws)."""

    def __init__(self, who: str, scans: list[Scan], accounts: list[MemberId]) -> None:
        super().__init__(CAP_ROTATION, who, scans)
        self.accounts = accounts
        self.current = 0
        self.tries: dict[tuple[int, int], int] = {}

    def prepare(self, scan: Scan) -> Scan:
        return replace(scan, member=self.accounts[self.current])

    def after(self, scan: Scan, outcome: str) -> list[Scan]:
        if outcome != "capped":
            return []
        code = (scan.slot, scan.serial)
        self.tries[code] = self.tries.get(code, 0) + 1
        if self.tries[code] >= len(self.accounts):
            return []  # every account is capped today: the code waits (it is dropped here)
        if self.accounts[self.current] == scan.member:
            self.current = (self.current + 1) % len(self.accounts)
        return [replace(scan, t=scan.t + 30)]  # `prepare` gives it the next account


@dataclass
class Cases:
    """Hands out whole cases of each batch slot, each case once."""

    pack: int
    free: dict[int, list[int]] = field(default_factory=dict)
    loose: dict[int, list[int]] = field(default_factory=dict)

    def take(self, slot: int, rng: random.Random) -> int:
        cases = self.free[slot]
        return cases.pop(rng.randrange(len(cases)))

    def bottle(self, slot: int, rng: random.Random) -> int:
        """One loose bottle: cases opened in shops sell bottle by bottle, to different people."""
        loose = self.loose.setdefault(slot, [])
        if not loose:
            loose += self.serials(self.take(slot, rng))
            rng.shuffle(loose)
        return loose.pop()

    def run(self, slot: int, n: int) -> list[int]:
        """n consecutive cases from the top of the slot (unsold stock in a warehouse)."""
        cases = sorted(self.free[slot])
        start = len(cases) - n
        picked = cases[start:]
        self.free[slot] = cases[:start]
        return picked

    def serials(self, case: int) -> list[int]:
        return list(range(case * self.pack, (case + 1) * self.pack))


def _ip(net: str, rng: random.Random) -> str:
    return f"{net}.{rng.randrange(2, 254)}"


def _fix(lat: float, lng: float, rng: random.Random, spread: float = 0.01) -> tuple[float, float]:
    """A phone's fix near a place: real GPS jitters by metres to tens of metres between readings."""
    return round(lat + rng.gauss(0, spread), 6), round(lng + rng.gauss(0, spread), 6)


def _evening(day: int, rng: random.Random) -> float:
    hour = rng.uniform(18, 23.5) if rng.random() < 0.6 else rng.uniform(9, 18)
    return day * DAY + hour * 3600


@dataclass
class Population:
    actors: list[Actor]
    leak_at: float  # when the leaked batch goes on sale
    cost_codes: list[tuple[int, int]]  # fresh codes kept for the cost-per-scan rounds
    void_serials: list[int]


def population(sizes: Any, places: Any, seed: int, *, cost_scans: int = 0) -> Population:
    """Every actor's script for one run (the same for the same arguments)."""
    rng = random.Random(seed)
    n_sale = sizes.batches
    leak_slot = n_sale
    cases_per_batch = sizes.items // sizes.pack
    cases = Cases(sizes.pack, {s: list(range(cases_per_batch)) for s in range(n_sale + 1)})
    void_cases = list(range(cases_per_batch - 20, cases_per_batch))  # rules: the last 20 cases of the last slot
    cases.free[n_sale - 1] = [c for c in cases.free[n_sale - 1] if c not in void_cases]
    cases.free[leak_slot] = cases.free[leak_slot][LEAK_ON_SALE_CASES:]  # those are on sale from the start
    nets = iter(places.gd_nets)
    other_nets = iter(places.other_nets)
    scale = sizes.attack_scale
    days = sizes.days
    leak_at = sizes.leak_day * DAY
    actors: list[Actor] = []

    def n(base: int) -> int:
        return max(4, round(base * scale))

    # Insider sweeps take consecutive cases of unsold stock: reserved first.
    sweep_runs = [cases.run(0, 4) for _ in range(4)]
    # Leaked pack: ten cases of the batch not yet on sale.
    leaked = [s for _ in range(max(2, round(10 * scale))) for s in cases.serials(cases.take(leak_slot, rng))]

    def harvested(count: int) -> list[tuple[int, int]]:
        """Genuine codes no one has scanned (caps collected, labels photographed): whole cases' worth."""
        out: list[tuple[int, int]] = []
        while len(out) < count:
            slot = rng.randrange(n_sale)
            if not cases.free[slot]:
                continue
            out += [(slot, s) for s in cases.serials(cases.take(slot, rng))]
        rng.shuffle(out)
        return out[:count]

    def members(prefix: str, count: int, new: bool = False) -> list[MemberId]:
        return [MemberId(f"{prefix}-{i}", (-rng.uniform(0, 5) if new else -rng.uniform(60, 900)) * DAY)
                for i in range(count)]

    # ---- honest consumers -------------------------------------------------------------------------------
    cgnat = [next(nets) for _ in range(6)]
    honest: list[Scan] = []
    consumer = 0
    honest_leak_share = 0.2  # of the leaked pack's bottles, bought and scanned by their real owners later
    owners_of_leaked = rng.sample(leaked, int(len(leaked) * honest_leak_share))
    for serial in owners_of_leaked:
        consumer += 1
        m = members(f"c{consumer}", 1)[0]
        net = next(nets)
        honest.append(Scan(t=_evening(rng.randrange(int(sizes.leak_day) + 2, days), rng), kind=HONEST,
                           who=f"consumer-{consumer}", slot=leak_slot, serial=serial, ip=_ip(net, rng),
                           device=f"hd-{consumer}", member=m))

    def honest_code(after_leak: bool) -> tuple[int, int]:
        slot = leak_slot if after_leak and rng.random() < 0.15 else rng.randrange(n_sale)
        if not cases.free[slot]:
            slot = 0
        return slot, cases.bottle(slot, rng)

    def person(tag: str, new_share: float = 0.05) -> tuple[MemberId | None, str]:
        if rng.random() >= 0.9:
            return None, tag
        return members(tag, 1, new=rng.random() < new_share)[0], tag

    while len(honest) < sizes.honest_scans:
        roll = rng.random()
        consumer += 1
        tag = f"c{consumer}"
        if roll < 0.05:  # a bar evening: patrons on the bar's Wi-Fi, bottles of one or two cases, one hour
            bar_net = next(nets)
            bar_ip = _ip(bar_net, rng)
            day = rng.randrange(days)
            start = day * DAY + rng.uniform(19, 22) * 3600
            slot = rng.randrange(n_sale)
            bottles = [s for _ in range(2) for s in cases.serials(cases.take(slot, rng))]
            rng.shuffle(bottles)
            lat, lng, _ad = rng.choice(places.gd_points)
            for p in range(rng.randint(6, 14)):
                m, _ = person(f"{tag}-p{p}")
                fix = _fix(lat, lng, rng, 0.0005) if rng.random() < 0.4 else (None, None)
                for _ in range(rng.choice((1, 1, 2))):
                    honest.append(Scan(t=start + rng.uniform(0, 3600), kind=HONEST, who=f"bar-{tag}", slot=slot,
                                       serial=bottles.pop(), ip=bar_ip, device=f"hd-{tag}-p{p}", member=m,
                                       lat=fix[0], lng=fix[1]))
            continue
        if roll < 0.10:  # a family: 2-4 bottles of one case in one evening, one or two phones
            slot = rng.randrange(n_sale)
            bottles = cases.serials(cases.take(slot, rng))
            net = rng.choice(cgnat) if rng.random() < 0.2 else next(nets)
            phones = [(f"hd-{tag}-{k}", members(f"{tag}-{k}", 1)[0], _ip(net, rng)) for k in range(rng.choice((1, 2)))]
            start = _evening(rng.randrange(days), rng)
            for b in range(rng.randint(2, 4)):
                dev, m, ip = phones[b % len(phones)]
                honest.append(Scan(t=start + b * rng.uniform(60, 1200), kind=HONEST, who=f"family-{tag}", slot=slot,
                                   serial=bottles[b], ip=ip, device=dev, member=m))
            continue
        m, _ = person(tag)
        travelling = rng.random() < 0.03
        net = rng.choice(cgnat) if rng.random() < 0.2 else next(nets)
        gps = rng.random() < 0.4
        lat, lng, _ad = rng.choice(places.other_points if travelling else places.gd_points)
        for _ in range(rng.choice((1, 1, 2, 3))):
            t = _evening(rng.randrange(days), rng)
            ip = _ip(next(other_nets), rng) if travelling else _ip(net, rng)
            fix = _fix(lat, lng, rng) if gps else (None, None)
            slot, serial = honest_code(t > leak_at)
            honest.append(Scan(t=t, kind=HONEST, who=f"consumer-{tag}", slot=slot, serial=serial, ip=ip,
                               device=f"hd-{tag}", member=m, lat=fix[0], lng=fix[1]))
    actors.append(Actor(HONEST, "consumers", honest))

    # ---- (1) enumeration: guessed and forged codes from a few sources ------------------------------------
    for k in range(3):
        ip, dev = _ip(next(nets), rng), f"enum-{k}"
        start = rng.uniform(0, days - 1) * DAY
        script = [Scan(t=start + i * 2.0, kind=ENUMERATION, who=f"enum-{k}", forged=rng.choice(("bad-tag", "unknown")),
                       slot=rng.randrange(n_sale), serial=rng.randrange(sizes.items), ip=ip, device=dev)
                  for i in range(n(150))]
        actors.append(Actor(ENUMERATION, f"enum-{k}", script))

    # ---- (2) hunter farm: many accounts on a few phones behind a few addresses ---------------------------
    farm_members = members("farm", 60)
    farm_ips = [_ip(next(nets), rng) for _ in range(2)]
    farm_codes = harvested(n(600))
    lat, lng, _ad = rng.choice(places.gd_points)
    script = []
    per_phone = len(farm_members) // 4
    for i, (slot, serial) in enumerate(farm_codes):
        phone = i % 4
        account = farm_members[phone * per_phone + (i // 4 // 3) % per_phone]  # next account after 3 scans
        day = 1 + (i // 180) % (days - 1)
        fix = _fix(lat, lng, rng, 0.002) if phone < 2 else (None, None)
        script.append(Scan(t=day * DAY + 10 * 3600 + (i % 180) * 40.0, kind=FARM, who="farm", slot=slot,
                           serial=serial, ip=farm_ips[phone % 2], device=f"farm-phone-{phone}", member=account,
                           lat=fix[0], lng=fix[1]))
    actors.append(Actor(FARM, "farm", script))

    # ---- (3) the farm adapted: a fresh device every few scans, a proxy pool of /24s, fewer accounts -----
    proxies = [next(nets) for _ in range(300)]
    adapted_members = members("adapt", 20)
    script = []
    for i, (slot, serial) in enumerate(harvested(n(500))):
        day = 1 + (i // 60) % (days - 1)
        script.append(Scan(t=day * DAY + 9 * 3600 + (i % 60) * 90.0 + rng.uniform(0, 60), kind=FARM_ADAPTED,
                           who="farm-adapted", slot=slot, serial=serial, ip=_ip(rng.choice(proxies), rng),
                           device=f"adapt-dev-{i // 3}", member=adapted_members[(i // 3) % len(adapted_members)]))
    actors.append(Actor(FARM_ADAPTED, "farm-adapted", script))

    # ---- (4) a leaked pack: probed before sale, rescanned the moment it goes on sale --------------------
    leak_members = members("leak", 40)
    leak_ip_net = next(nets)
    script = []
    for i, serial in enumerate(leaked[:n(30)]):  # probing: "does it pay yet?"
        script.append(Scan(t=leak_at - 2 * DAY + i * 600.0, kind=LEAKED, who="leak", slot=leak_slot, serial=serial,
                           ip=_ip(leak_ip_net, rng), device=f"leak-probe-{i % 2}", member=leak_members[i % 4]))
    for i, serial in enumerate(leaked):
        rotated = i % 2 == 1
        device = f"leak-rot-{i // 4}" if rotated else f"leak-probe-{i % 2}"
        script.append(Scan(t=leak_at + 600 + (i // 120) * DAY + (i % 120) * 45.0, kind=LEAKED, who="leak",
                           slot=leak_slot, serial=serial, ip=_ip(rng.choice(proxies) if rotated else leak_ip_net, rng),
                           device=device, member=leak_members[(i // 3) % len(leak_members)]))
    actors.append(Actor(LEAKED, "leak", script))

    # ---- (5) voided pack: the damaged roll's codes, scanned anyway --------------------------------------
    void_serials = [s for c in void_cases for s in cases.serials(c)]
    vm = members("void", 5)
    script = [Scan(t=(2 + i // 50) * DAY + 14 * 3600 + (i % 50) * 60.0, kind=VOIDED, who="void", slot=n_sale - 1,
                   serial=serial, ip=_ip(leak_ip_net, rng), device=f"void-{i % 2}", member=vm[(i // 3) % 5])
              for i, serial in enumerate(rng.sample(void_serials, min(len(void_serials), n(100))))]
    actors.append(Actor(VOIDED, "void", script))

    # ---- (6) insider sweeps: consecutive serials of unsold stock, one device; one rotating devices ------
    for k, run in enumerate(sweep_runs):
        rotating = k == len(sweep_runs) - 1
        who = f"sweep-{k + 1}" + ("-rotating" if rotating else "")
        ip = _ip(next(nets), rng)
        sm = members(f"sweep{k}", 32)
        start = (1 + k * 2) * DAY + 21 * 3600
        serials = [s for c in run for s in cases.serials(c)][:max(24, n(96))]
        script = [Scan(t=start + i * 15.0, kind=SWEEP, who=who, slot=0, serial=s, ip=ip,
                       device=f"{who}-dev-{i // 2}" if rotating else f"{who}-dev", member=sm[(i // 3) % len(sm)],
                       track=who)
                  for i, s in enumerate(serials)]
        actors.append(Actor(SWEEP, who, script))

    # ---- (7) out of market: from elsewhere, and with one spoofed Guangdong fix repeated exactly ---------
    om = members("oom", 30)
    script = []
    spoof = (23.129100, 113.264400)  # Guangzhou, sent verbatim by every scan
    for i, (slot, serial) in enumerate(harvested(n(300))):
        spoofed = i % 3 != 0
        day = 1 + (i // 90) % (days - 1)
        script.append(Scan(t=day * DAY + 13 * 3600 + (i % 90) * 50.0, kind=OUT_OF_MARKET, who="out-of-market",
                           slot=slot, serial=serial, ip=_ip(rng.choice(places.other_nets[:20]), rng),
                           device=f"oom-{i % 5}", member=om[(i // 3) % len(om)],
                           lat=spoof[0] if spoofed else None, lng=spoof[1] if spoofed else None))
    actors.append(Actor(OUT_OF_MARKET, "out-of-market", script))

    # ---- (8) capped-member rotation: capped codes passed to the next account on the phone ---------------
    for k in range(2):
        accounts = members(f"rot{k}", 10)
        ip = _ip(next(nets), rng)
        codes = harvested(n(200))
        script = [Scan(t=(1 + (i // 40) % (days - 1)) * DAY + 20 * 3600 + (i % 40) * 120.0, kind=CAP_ROTATION,
                       who=f"rotation-{k}", slot=slot, serial=serial, ip=ip, device=f"rot-phone-{k}",
                       member=accounts[0])
                  for i, (slot, serial) in enumerate(codes)]
        actors.append(CapRotation(f"rotation-{k}", script, accounts))
    # Cost rounds: fresh codes no script uses, taken last with their own generator, so asking for them (the
    # risk run) or not (the baseline) leaves every script above the same.
    cost_rng = random.Random(seed + 1)
    cost_codes: list[tuple[int, int]] = []
    while len(cost_codes) < cost_scans:
        slot = cost_rng.randrange(n_sale)
        if cases.free[slot]:
            cost_codes += [(slot, s) for s in cases.serials(cases.take(slot, cost_rng))]
    return Population(actors, leak_at, cost_codes[:cost_scans], void_serials)
