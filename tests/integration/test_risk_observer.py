"""The risk observer, run by the real Drainer over real Redis streams into SQLite and PostgreSQL: the hot
path's flag reasons become one flag per subject with hits adding up, a redelivered entry counts once,
pre-sale scans reach the subjects' state hashes (and flag a leaker), the Redis review field is set and kept,
and the off-path signals (a day-long sweep, out of market) raise their flags."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from codegen.batch_state import EVENT_STREAMS, events_key
from codegen.db import make_engine, make_sessionmaker, transaction
from codegen.models import Batch, Brand, Product
from risk import keys
from risk.models import RiskFlag
from risk.observer import RiskObserver
from rules.drain import GROUP, Drainer, DrainSettings, ScanEventSink
from rules.models import ScanEvent
from schema import upgrade_schema

GUANGZHOU, URUMQI = "440106", "650102"
BATCH_A, BATCH_B = 1, 2  # brand A's, brand B's
PHONE, OTHER_PHONE = "cookie-phone-1", "cookie-phone-2"
MEMBER = "m" * 32
IP = "203.0.113.7"
NOW = int(time.time())


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@dataclass
class Brands:
    a: int
    b: int


@pytest.fixture
def brands(sessions: sessionmaker[Session]) -> Brands:
    return make_brands(sessions)


def make_brands(sessions: sessionmaker[Session]) -> Brands:
    ids = []
    with transaction(sessions) as s:
        for batch_id, slug in ((BATCH_A, "acme"), (BATCH_B, "bolt")):
            brand = Brand(slug=slug, name=slug, base_url=f"https://q.{slug}.example")
            s.add(brand)
            s.flush()
            product = Product(brand_id=brand.id, sku="S", name="Beer")
            s.add(product)
            s.flush()
            s.add(Batch(id=batch_id, product_id=product.id, lot=f"L{batch_id}", quantity=100_000, pack_size=10,
                        key_id=1))
            ids.append(brand.id)
    return Brands(*ids)


def scan(r: redis.Redis, serial: int, *, batch: int = BATCH_A, kind: str = "first", risk: str = "allow",
         why: str = "", device: str = PHONE, member: str = MEMBER, ip: str = IP, adcode: str = GUANGZHOU,
         ts: int = NOW, role: str = "inner") -> None:
    """One scan event as the scan script writes it (rules/scan.lua), with the risk layer's decision."""
    r.xadd(events_key(batch), {
        "kind": kind, "code": f"C{batch}-{serial}", "batch": batch, "serial": serial, "role": role, "ts": ts,
        "adcode": adcode, "count": 1, "ip": ip, "device": device, "member": member, "rules_version": 1,
        "campaigns": "", "src": "gps", "risk": risk, "risk_why": why})
    r.sadd(EVENT_STREAMS, events_key(batch))


def drainer(r: redis.Redis, sessions: sessionmaker[Session], observer: RiskObserver | None = None,
            name: str = "c1", settings: DrainSettings | None = None) -> Drainer:
    return Drainer(r, sessions, name, settings or DrainSettings(),
                   ScanEventSink(observers=[observer or RiskObserver(r)]))


def drain(d: Drainer) -> int:
    stored = 0
    while (stats := d.drain_once(block_ms=10)).read:
        stored += stats.stored
    return stored


def flags(sessions: sessionmaker[Session]) -> dict[tuple[int, str, str], RiskFlag]:
    with sessions() as s:
        return {(f.brand_id, f.kind, f.subject): f for f in s.scalars(select(RiskFlag))}


def state(r: redis.Redis, kind: str, subject: str) -> dict[str, str]:
    return {k.decode(): v.decode() for k, v in r.hgetall(keys.state_key(kind, subject)).items()}


DEVICE = keys.device_subject(PHONE)
NETWORK = keys.network_of(IP)[0]


def test_reasons_raise_one_flag_per_subject_with_hits_adding_up(redis_client: redis.Redis, sessions,  # type: ignore[no-untyped-def]
                                                                brands: Brands) -> None:
    r = redis_client
    scan(r, 1, risk="no_prize", why="sweep:d,velocity:n")
    scan(r, 2, risk="no_prize", why="sweep:d,farm:d")
    scan(r, 3, risk="hold", why="travel:m")
    scan(r, 4, risk="hold", why="gps:p")  # a point: not on the event, no flag
    scan(r, 5, risk="challenge", why="velocity:n,busy:n")  # not a flagging rule
    scan(r, 6)  # allowed
    scan(r, 7, batch=BATCH_B, risk="no_prize", why="sweep:d")  # the same phone, another brand: its own flag
    observer = RiskObserver(r)
    d = drainer(r, sessions, observer)
    assert drain(d) == 7
    got = flags(sessions)
    assert set(got) == {(brands.a, "d", DEVICE), (brands.a, "m", MEMBER), (brands.b, "d", DEVICE)}
    phone = got[brands.a, "d", DEVICE]
    assert (phone.hits, phone.reasons, phone.state) == (2, {"sweep": 2, "farm": 1}, RiskFlag.OPEN)
    assert phone.samples == ["C1-2", "C1-1"] and phone.first_event.startswith("1-")
    assert got[brands.a, "m", MEMBER].reasons == {"travel": 1}
    assert got[brands.b, "d", DEVICE].hits == 1
    # The decision reached the events too (rules.drain.event_row).
    with sessions() as s:
        stored = {e.serial: (e.risk, e.risk_reasons) for e in s.scalars(select(ScanEvent).where(
            ScanEvent.batch_id == BATCH_A))}
    assert stored[1] == ("no_prize", "sweep:d,velocity:n") and stored[6] == ("allow", "")
    # Redis: the subject is flagged for both brands and kept.
    phone_state = state(r, "d", DEVICE)
    assert phone_state[keys.review_field(brands.a)] == "flagged"
    assert phone_state[keys.review_field(brands.b)] == "flagged"
    assert phone_state["keep"] == "1" and r.ttl(keys.state_key("d", DEVICE)) == -1
    assert state(r, "m", MEMBER)[keys.review_field(brands.a)] == "flagged"
    assert keys.review_field(brands.a) not in state(r, "n", NETWORK)
    # A later pass adds to the same rows.
    scan(r, 8, risk="no_prize", why="farm:d")
    assert drain(d) == 1
    phone = flags(sessions)[brands.a, "d", DEVICE]
    assert (phone.hits, phone.reasons) == (3, {"sweep": 2, "farm": 2})
    assert phone.samples[0] == "C1-8" and len(flags(sessions)) == 3
    assert observer.stats.flagged == 5


def test_events_without_risk_fields_drain_as_before(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    redis_client.xadd(events_key(BATCH_A), {"kind": "first", "code": "X", "batch": BATCH_A, "serial": 1,
                                            "role": "inner", "ts": NOW, "adcode": "", "count": 1})
    redis_client.sadd(EVENT_STREAMS, events_key(BATCH_A))
    assert drain(drainer(redis_client, sessions)) == 1
    with sessions() as s:
        event = s.scalars(select(ScanEvent)).one()
    assert (event.risk, event.risk_reasons) == (None, "")
    assert flags(sessions) == {}


def test_a_redelivered_entry_counts_once(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    for serial in range(4):
        scan(r, serial, risk="no_prize", why="sweep:d")
    for serial in range(10, 13):
        scan(r, serial, kind="not_on_sale", device=OTHER_PHONE, member="", ip="")
    # A drainer stores the entries (rows, flags, counts) and dies before XACK …
    victim = drainer(r, sessions, name="victim")
    victim.streams()
    entries = r.xreadgroup(GROUP, "victim", {events_key(BATCH_A): ">"}, count=100)[0][1]
    rows = [victim.sink.row(events_key(BATCH_A), i.decode(), d) for i, d in entries]
    with transaction(sessions) as s:
        assert victim.sink.store(s, rows) == 7
    # … another reclaims and stores the same entries again.
    rescuer = drainer(r, sessions, name="rescuer", settings=DrainSettings(claim_idle_ms=0))
    stats = rescuer.drain_once(block_ms=10)
    assert (stats.read, stats.stored, stats.acked) == (7, 0, 7)
    got = flags(sessions)
    assert got[brands.a, "d", DEVICE].hits == 4
    assert got[brands.a, "d", keys.device_subject(OTHER_PHONE)].hits == 3
    assert state(r, "d", keys.device_subject(OTHER_PHONE))[keys.PRESALE_FIELD] == "3"


def test_an_event_observed_twice_adds_to_its_flag_once(redis_client: redis.Redis, sessions,  # type: ignore[no-untyped-def]
                                                      brands: Brands) -> None:
    """Past the drain's own guard (inserted rows only): the flag knows the events it counted."""
    r = redis_client
    scan(r, 1, risk="no_prize", why="sweep:d")
    scan(r, 2, risk="no_prize", why="sweep:d")
    d = drainer(r, sessions)
    assert drain(d) == 2
    with sessions() as s:
        rows = [{"id": e.id, "batch_id": e.batch_id, "serial": e.serial, "role": e.role, "code": e.code,
                 "kind": e.kind, "scanned_at": e.scanned_at, "adcode": e.adcode, "ip": e.ip,
                 "device_id": e.device_id, "member": e.member, "risk_reasons": e.risk_reasons}
                for e in s.scalars(select(ScanEvent))]
    for _ in range(2):
        with transaction(sessions) as s:
            RiskObserver(r).observe(s, rows)
    flag = flags(sessions)[brands.a, "d", DEVICE]
    assert (flag.hits, flag.reasons) == (2, {"sweep": 2})


def test_two_drainers_raising_one_flag_at_once_add_up(redis_client: redis.Redis, postgres_url: str) -> None:
    """PostgreSQL: the second insert waits for the first, finds the row, and adds to it."""
    import threading

    engine = make_engine(postgres_url)
    sessions = make_sessionmaker(engine)
    b = make_brands(sessions)
    r = redis_client
    scan(r, 1, risk="no_prize", why="sweep:d")
    scan(r, 2, risk="no_prize", why="farm:d")
    entries = r.xrange(events_key(BATCH_A))
    sink = ScanEventSink(rollups=False, observers=[RiskObserver(r)])  # rollups would make it wait earlier
    first, second = ([sink.row(events_key(BATCH_A), i.decode(), d)] for i, d in entries)
    holding = sessions()
    holding.begin()
    sink.store(holding, first)  # the flag inserted, not committed
    done: list[int] = []
    other = threading.Thread(target=lambda: done.append(_store(sessions, sink, second)))
    other.start()
    other.join(0.5)
    assert other.is_alive()  # waiting on the first drainer's row
    holding.commit()
    holding.close()
    other.join(10)
    assert done == [1]
    flag = flags(sessions)[b.a, "d", DEVICE]
    assert (flag.hits, flag.reasons) == (2, {"sweep": 1, "farm": 1})
    engine.dispose()


def _store(sessions: sessionmaker[Session], sink: ScanEventSink, rows: list[dict[str, Any]]) -> int:
    with transaction(sessions) as s:
        return sink.store(s, rows)


class Broken:
    def observe(self, session: Session, rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("an observer after the risk observer fails")


def test_a_failed_transaction_takes_the_flags_with_it(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    scan(r, 1, risk="no_prize", why="sweep:d")
    observer = RiskObserver(r)
    with pytest.raises(RuntimeError):
        Drainer(r, sessions, "c1", sink=ScanEventSink(observers=[observer, Broken()])).drain_once(block_ms=10)
    assert flags(sessions) == {}
    assert drain(drainer(r, sessions, observer)) == 1
    assert flags(sessions)[brands.a, "d", DEVICE].hits == 1


def test_presale_scans_reach_the_subject_hashes_and_flag_the_leaker(redis_client: redis.Redis, sessions,  # type: ignore[no-untyped-def]
                                                                    brands: Brands) -> None:
    r = redis_client
    r.hset(keys.state_key("d", DEVICE), "first", NOW)  # as the hot path left it: with its TTL
    r.expire(keys.state_key("d", DEVICE), 1000)
    scan(r, 1, kind="not_on_sale")
    scan(r, 2, kind="void")
    scan(r, 3, kind="first")  # on sale: not counted
    scan(r, 4, kind="not_on_sale", role="case")  # the channel's own scan of a case code: not counted
    scan(r, 5, kind="not_on_sale", device=OTHER_PHONE, ip="198.51.100.9")
    d = drainer(r, sessions)
    assert drain(d) == 5
    assert state(r, "d", DEVICE)[keys.PRESALE_FIELD] == "2"
    assert state(r, "d", keys.device_subject(OTHER_PHONE))[keys.PRESALE_FIELD] == "1"
    assert state(r, "m", MEMBER)[keys.PRESALE_FIELD] == "3"
    assert state(r, "n", NETWORK)[keys.PRESALE_FIELD] == "2"
    assert state(r, "n", "198.51.100")[keys.PRESALE_FIELD] == "1"
    assert flags(sessions) == {}  # nobody reached 3 yet
    # Hashes the count made get the state TTL; the hot path's keeps its own.
    assert r.ttl(keys.state_key("m", MEMBER)) > 0 and 0 < r.ttl(keys.state_key("d", DEVICE)) <= 1000
    scan(r, 6, kind="not_on_sale")  # the phone's third
    assert drain(d) == 1
    got = flags(sessions)
    assert set(got) == {(brands.a, "d", DEVICE)}
    leak = got[brands.a, "d", DEVICE]
    assert (leak.hits, leak.reasons, leak.evidence["presale"]) == (1, {"presale": 1}, 3)
    assert state(r, "d", DEVICE)[keys.review_field(brands.a)] == "flagged"
    assert r.ttl(keys.state_key("d", DEVICE)) == -1  # kept


def test_a_reviewed_subject_keeps_its_review_state(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    r.hset(keys.state_key("d", DEVICE), keys.review_field(brands.a), "cleared")
    r.hset(keys.state_key("m", MEMBER), keys.review_field(brands.a), "blocked")
    scan(r, 1, risk="no_prize", why="sweep:d,farm:m")
    assert drain(drainer(r, sessions)) == 1
    assert state(r, "d", DEVICE)[keys.review_field(brands.a)] == "cleared"
    assert state(r, "m", MEMBER)[keys.review_field(brands.a)] == "blocked"
    assert len(flags(sessions)) == 2  # the evidence is still on the flags


def test_a_slow_sweep_over_the_day_is_flagged(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    """One code every 12 minutes, serials a few apart: never twice in the hot path's 10-minute window."""
    r = redis_client
    start = NOW - NOW % 86_400 + 2 * 3600  # 10:00 in China, today (UTC day start + 2 h)
    for i in range(17):
        scan(r, 100 + 5 * i, ts=start + 720 * i)
        scan(r, 10_000 * (i + 1), device=OTHER_PHONE, ts=start + 720 * i)  # far apart: no sweep
    scan(r, 100, ts=start + 720 * 17)  # a rescan of a code already seen: not a step
    assert drain(drainer(r, sessions)) == 35
    got = flags(sessions)
    assert set(got) == {(brands.a, "d", DEVICE)}
    sweep = got[brands.a, "d", DEVICE]
    # the 2nd … 17th scans are near a previous one: the 15th near scan (the 16th code) flags, the 17th adds
    assert (sweep.hits, sweep.reasons, sweep.evidence["near_today"]) == (2, {"sweep": 2}, 16)
    assert sweep.samples[:2] == ["C1-180", "C1-175"]


def test_out_of_market_scanning_is_flagged(redis_client: redis.Redis, sessions, brands: Brands) -> None:  # type: ignore[no-untyped-def]
    r = redis_client
    hour = NOW - NOW % 3600
    for i in range(60):  # the batch's market: Guangdong, many phones
        scan(r, 1000 + i, device=f"gd-{i}", ip=f"10.0.{i}.1", ts=hour + i)
    for i in range(21):  # one phone in Xinjiang, 21 codes of the batch this hour
        scan(r, 5000 + 37 * i, adcode=URUMQI, ts=hour + 100 + i)
    for i in range(21):  # a Guangdong phone doing the same at home: its market
        scan(r, 9000 + 37 * i, device="gd-home", ip="10.9.9.9", ts=hour + 200 + i)
    assert drain(drainer(r, sessions)) == 102
    got = flags(sessions)
    assert set(got) == {(brands.a, "d", DEVICE), (brands.a, "n", NETWORK)}
    market = got[brands.a, "d", DEVICE]
    assert market.reasons == {"market": 2} and market.hits == 2  # the 20th and 21st codes
    assert market.evidence["market"] == {"batch": BATCH_A, "codes_this_hour": 21, "province": "65",
                                         "batch_province": "44"}


def test_the_worker_drain_job_flags(redis_client: redis.Redis, sqlite_url: str, tmp_path,  # type: ignore[no-untyped-def]
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from app.worker import drain_job
    from tests.conftest import REDIS_TEST_URL

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("YIMA_RISK", "1")
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    b = make_brands(sessions)
    scan(redis_client, 1, risk="no_prize", why="farm:d")
    assert drain_job(seconds=1.0, chain=False)["stored"] == 1
    assert flags(sessions)[b.a, "d", DEVICE].reasons == {"farm": 1}
    assert state(redis_client, "d", DEVICE)[keys.review_field(b.a)] == "flagged"
    engine.dispose()
