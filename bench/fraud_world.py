"""The fraud bench's world: one brand, its batches, a live cash campaign, the real scanner and the drain.

Built afresh for each run (`build_world`): the Redis DB flushed, a new SQL database (a SQLite temp file, or a
PostgreSQL database made from `--database-url` as an admin URL), a keyring held in memory (seeded, so the
same seed signs the same codes), batches made and put on sale through `codegen.batches` and a campaign
created, activated and published through `rules.campaign_store` / `rules.publish` exactly as the console
does. Scans go through `rules.scan.Scanner` (with `risk.gate.RiskGate` in the risk run), events and awards
are drained into SQL by `rules.drain.Drainer` with `ScanEventSink` and `rules.awards.AwardSink`.

Places come from the shipped tables: client addresses are /24s the offline IP table (rules/data) places in
Guangdong (or elsewhere, for travellers and out-of-market attackers); GPS fixes sit around district centroids
of `rules.region`.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import random
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import select

BRAND, SKU = "fraudbench", "FB-500"
PROVINCE = "44"  # the campaign's region: Guangdong
# The simulated campaign starts here (China time midnight); every scan's `now` is this plus its offset.
EPOCH = int(datetime(2027, 3, 1, tzinfo=UTC).timestamp()) - 8 * 3600
DAY = 86_400
MEMBER_SECRET = b"fraud-bench-member-secret"
LEAK_ON_SALE_CASES = 10  # of the leaked batch, on sale from the start (bench/fraud_actors.py never leaks them)


@dataclass(frozen=True)
class Sizes:
    """How big a world is. `batches` on sale from the start; one more is the leaked batch (not on sale until
    `leak_day`). A batch's cases are handed out by `CodeAllocator`."""

    batches: int = 4
    items: int = 20_000
    pack: int = 24
    days: int = 14
    leak_day: float = 7.0
    honest_scans: int = 10_000
    attack_scale: float = 1.0  # attackers' scan counts are multiplied by this
    cost_per_round: int = 300  # scans per mode per round of the cost measurement (8 rounds)


FULL = Sizes()
QUICK = Sizes(batches=3, items=6_000, days=10, leak_day=5.0, honest_scans=2_500, attack_scale=0.35,
              cost_per_round=150)
TINY = Sizes(batches=2, items=2_400, days=6, leak_day=3.0, honest_scans=300, attack_scale=0.12,
             cost_per_round=20)


def campaign_doc(batch_ids: list[int]) -> dict[str, Any]:
    """首扫必中 red packets of 1–5 元 for members scanning in Guangdong (by GPS or by address), at most 3 a
    member a day; the budget never runs out."""
    return {
        "name": "fraud bench: 扫码领红包",
        "brand": BRAND,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
        "scope": {"batches": batch_ids, "roles": ["inner"]},
        "regions": {"include": [PROVINCE], "sources": ["gps", "ip"]},
        "members": {"audience": "members"},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "caps": {"per_member_daily": 3},
        "budget": {"total_fen": 10**11},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 1.0}],
    }


class SimClock:
    """The simulated time every part of a run reads (the scanner, the risk gate)."""

    def __init__(self) -> None:
        self.now = float(EPOCH)

    def __call__(self) -> float:
        return self.now


@dataclass
class Places:
    """Client address /24s ("a.b.c") the IP table places in Guangdong, by city, and elsewhere; GPS anchors
    (lat, lng, adcode) of Guangdong's districts and of a few other cities."""

    gd_nets: list[str]
    other_nets: list[str]
    gd_points: list[tuple[float, float, str]]
    other_points: list[tuple[float, float, str]]


def find_places(seed: int) -> Places:
    """Sample /24s from the shipped IP table (checked through its own lookup) and district centroids."""
    from rules.ipregion import default_ip_index
    from rules.region import default_index

    index = default_ip_index()
    rng = random.Random(seed)
    starts = index._starts  # the table's range starts, sorted (rules/ipregion.py)
    gd: list[str] = []
    other: list[str] = []
    for i in range(len(starts) - 1):
        lo, hi = starts[i], starts[i + 1]
        if hi - lo < 256:
            continue
        first = lo >> 8 if lo & 0xFF == 0 else (lo >> 8) + 1
        for net in range(first, min(first + 4, hi >> 8)):  # up to four whole /24s of each range
            text = f"{net >> 16 & 0xFF}.{net >> 8 & 0xFF}.{net & 0xFF}"
            region = index.lookup(text + ".1")
            if region is None or index.lookup(text + ".254") is not region:
                continue
            if region.adcode.startswith(PROVINCE):
                gd.append(text)
            elif region.adcode[:2] in ("11", "31", "33", "51", "42"):  # Beijing, Shanghai, Zhejiang, Sichuan, Hubei
                other.append(text)
    rng.shuffle(gd)
    rng.shuffle(other)
    centroids = default_index().centroids
    gd_points = [(c.lat, c.lng, c.region.adcode) for c in centroids if c.region.adcode.startswith(PROVINCE)]
    other_points = [(c.lat, c.lng, c.region.adcode) for c in centroids if c.region.adcode[:2] in ("11", "31")]
    if len(gd) < 3000 or len(other) < 300:
        raise RuntimeError(f"the IP table gave too few whole /24s ({len(gd)} in Guangdong, {len(other)} elsewhere)")
    return Places(gd, other, gd_points, other_points)


def risk_gate_class() -> Any:
    """`risk.gate.RiskGate` when the scanner takes a risk gate and the policy decides; else None (the
    risk layer is not wired into this tree yet: only the baseline runs)."""
    from rules.scan import Scanner

    if "risk" not in inspect.signature(Scanner).parameters:
        return None
    try:
        from risk.gate import RiskGate
        from risk.policy import RiskPolicy, decide
        from risk.signals import ScanSignals

        decide(RiskPolicy(), ScanSignals())
    except (ImportError, NotImplementedError):
        return None
    return RiskGate


def risk_observers(client: Any, risk: bool) -> list[Any]:
    """The risk layer's drain observer (flags, pre-sale counts), as the worker runs it: with the layer on."""
    from risk.observer import RiskObserver

    return [RiskObserver(client)] if risk else []


@dataclass
class World:
    """One run's world: the stores, the batches (id, key), the campaign, the scanner, the drains."""

    redis: Any
    sessions: Any
    engine: Any
    clock: SimClock
    sizes: Sizes
    batch_ids: list[int]  # on sale from the start
    leak_batch: int  # not on sale until activate_leak
    void_range: tuple[int, int, int]  # (batch, first serial, last serial) voided
    keys: dict[int, bytes]
    campaign_id: int
    scanner: Any
    risk_on: bool
    drainers: list[Any] = field(default_factory=list)
    make_scanner: Callable[[bool], Any] | None = None  # another scanner on this world: (with the risk gate?)
    signers: dict[int, Any] = field(default_factory=dict)
    held_at: dict[str, float] = field(default_factory=dict)  # award id → the clock when first seen held

    def code(self, batch_id: int, serial: int) -> str:
        from codegen.codeformat import CodeSigner, Role

        signer = self.signers.get(batch_id)
        if signer is None:
            signer = self.signers[batch_id] = CodeSigner(self.keys[batch_id], role=Role.INNER, key_id=1,
                                                         batch_id=batch_id)
        return str(signer.code(serial))

    def activate_leak(self) -> None:
        """The leaked batch goes on sale (the distributor ships it), as an operator does it."""
        from codegen import batches
        from codegen.db import transaction

        with transaction(self.sessions) as s:
            batches.activate(s, self.redis, self.leak_batch, None)

    def drain(self) -> None:
        """Every award and event stream into SQL, until nothing is left (without waiting for more);
        then note when each held award was first seen held (flags hold a subject's earlier awards)."""
        for _ in range(10_000):
            moved = sum(d.drain_once(block_ms=0).read for d in self.drainers)
            if not moved:
                break
        self.note_holds()

    def note_holds(self) -> None:
        from sqlalchemy import select

        from rules.models import Award

        with self.sessions() as s:
            for award_id in s.scalars(select(Award.id).where(Award.risk_hold == Award.HELD)):
                self.held_at.setdefault(award_id, self.clock.now)

    def close(self) -> None:
        self.scanner.close()
        self.engine.dispose()


@contextlib.contextmanager
def sql_database(database_url: str, label: str) -> Iterator[str]:
    """A fresh database for one run: a SQLite temp file, or (an admin URL of PostgreSQL) a new database
    dropped afterwards."""
    if not database_url or database_url.startswith("sqlite"):
        # In memory where the box has it: two weeks of five-minute drains commit thousands of times, and the
        # figures are about decisions, not about a disk's fsync.
        shm = "/dev/shm" if Path("/dev/shm").is_dir() else None
        with tempfile.TemporaryDirectory(prefix=f"yima-fraud-{label}-", dir=shm) as tmp:
            yield f"sqlite:///{Path(tmp) / 'yima.sqlite'}"
        return
    from bench.bench_dashboard import bench_database

    with open(os.devnull, "w") as quiet, contextlib.redirect_stdout(quiet), \
            bench_database(database_url, prefix=f"yima_bench_fraud_{label}_") as url:
        yield url


def build_world(redis_url: str, db_url: str, sizes: Sizes, seed: int, *, risk: bool,
                limits: Any = None) -> World:
    """Flush the Redis DB, migrate the database, make the batches and the campaign, publish; the scanner."""
    from codegen import batches
    from codegen.db import make_engine, make_sessionmaker, transaction
    from codegen.keys import Keyring
    from rules.awards import AwardSink
    from rules.campaign_store import save_campaign, set_status
    from rules.drain import Drainer, ScanEventSink
    from rules.ipregion import default_ip_index
    from rules.models import Campaign
    from rules.publish import publish_rules
    from rules.region import default_index
    from rules.scan import ScanLimits, Scanner
    from rules.snapshot import RulesHolder
    from schema import upgrade_schema

    client = redis.Redis.from_url(redis_url, socket_timeout=30)
    client.flushdb()
    engine = make_engine(db_url)
    upgrade_schema(engine)
    sessions = make_sessionmaker(engine)
    if engine.dialect.name == "postgresql":
        from rules.partitions import Month, ensure_months

        with transaction(sessions) as s:
            first = datetime.fromtimestamp(EPOCH, UTC)
            last = datetime.fromtimestamp(EPOCH + (sizes.days + 2) * DAY, UTC)
            ensure_months(s, Month.of(first), Month.of(last))
    ring = Keyring(current=1, keys={1: random.Random(seed).randbytes(32)})
    regions = default_index()
    made: list[int] = []
    with transaction(sessions) as s:
        brand = batches.add_brand(s, BRAND, "Fraud Bench Brewery", "https://q.fraud.example")
        batches.add_product(s, brand, SKU, "风控测试啤酒 500ml", None)
        for n in range(sizes.batches + 1):
            batch = batches.create_batch(s, brand, batches.BatchRequest(
                sku=SKU, lot=f"FB-{n + 1:02d}", count=sizes.items, pack=sizes.pack, factory="Foshan", line="1",
                production_date=date(2027, 2, 1)), key_id=1, max_count=10_000_000)
            made.append(batch.id)
        on_sale, leak = made[:-1], made[-1]
        for batch_id in on_sale:
            batches.activate(s, client, batch_id, None)
        # The leaked batch: its first cases already shipped and on sale (so the batch is known to the scan
        # path: a batch never activated at all answers "not genuine"), the rest not yet.
        batches.activate(s, client, leak, f"0-{LEAK_ON_SALE_CASES * sizes.pack - 1}")
        # A damaged roll: the last 20 cases of the last batch on sale are voided for good.
        void_first = (sizes.items // sizes.pack - 20) * sizes.pack  # whole cases (bench/fraud_actors.py)
        batches.void(s, client, on_sale[-1], f"{void_first}-{sizes.items - 1}", "fraud bench: damaged roll")
    with transaction(sessions) as s:
        row = save_campaign(s, campaign_doc(made), regions)
        set_status(s, row.id, Campaign.ACTIVE, regions)
        campaign_id = row.id
    with transaction(sessions) as s:
        publish_rules(s, client, regions, note="fraud bench")
    clock = SimClock()
    holder = RulesHolder(client)
    gate_class = risk_gate_class() if risk else None
    if risk and gate_class is None:
        raise RuntimeError("the risk layer is not wired into this tree (Scanner has no risk= or decide is a stub)")

    def make_scanner(with_risk: bool) -> Any:
        """The app's scanner (rules from Redis as published, member tokens, the IP table), with the risk gate
        or without it."""
        kwargs: dict[str, Any] = {}
        if with_risk and gate_class is not None:
            kwargs["risk"] = gate_class(client, regions, clock=clock)
        return Scanner(client, ring.batch_key_or_none, regions, limits or ScanLimits(), clock=clock,
                       rules=holder.current, member_secret=MEMBER_SECRET, ip_regions=default_ip_index(), **kwargs)

    scanner = make_scanner(risk)
    # awards first, as the worker drains them (app/worker.py): the observer's flags hold awards of the same pass
    drainers = [Drainer(client, sessions, "fraud-bench", sink=AwardSink()),
                Drainer(client, sessions, "fraud-bench", sink=ScanEventSink(observers=risk_observers(client, risk)))]
    return World(redis=client, sessions=sessions, engine=engine, clock=clock, sizes=sizes, batch_ids=on_sale,
                 leak_batch=leak, void_range=(on_sale[-1], void_first, sizes.items - 1),
                 keys={b: ring.batch_key(1, b) for b in made}, campaign_id=campaign_id, scanner=scanner,
                 risk_on=gate_class is not None, drainers=drainers, make_scanner=make_scanner)


def award_states(world: World, award_ids: list[str]) -> dict[str, tuple[str, str]]:
    """award id → (status, risk_hold) as the SQL ledger holds it."""
    from rules.models import Award

    out: dict[str, tuple[str, str]] = {}
    with world.sessions() as s:
        for i in range(0, len(award_ids), 500):
            chunk = award_ids[i:i + 500]
            for award_id, status, hold in s.execute(
                    select(Award.id, Award.status, Award.risk_hold).where(Award.id.in_(chunk))):
                out[award_id] = (status, hold or "")
    return out


def event_count(world: World) -> int:
    from sqlalchemy import func

    from rules.models import ScanEvent

    with world.sessions() as s:
        return int(s.scalar(select(func.count()).select_from(ScanEvent)) or 0)


def clock_for(world: World) -> Callable[[float], None]:
    def set_time(t: float) -> None:
        world.clock.now = EPOCH + t

    return set_time
