"""The 窜货 judge, run by the real Drainer over real Redis streams into SQLite and PostgreSQL: every verdict,
multi-tier paths, a store's supplier, exactly once under redelivery and failure, reloads after a change."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from channel.judge import ChannelJudge, china_day, inside_territory, known_prefix
from channel.models import ChannelJudgementDaily, Distributor, DiversionEvent, Shipment, ShipmentRange, Store
from channel.paths import bump_version
from codegen.batch_state import events_key, write_batch_state
from codegen.codeformat import Role, encode
from codegen.db import make_engine, make_sessionmaker, transaction
from codegen.keys import Keyring
from codegen.models import Batch, Brand, Product
from rules.drain import GROUP, Drainer, DrainSettings, ScanEventSink
from rules.region import default_index
from rules.scan import ScanLimits, Scanner, ScanRequest
from schema import upgrade_schema

RING = Keyring(current=1, keys={1: bytes(range(32))})
PACK = 10
CASED, UNCASED = 1, 2  # batch ids
GUANGZHOU, SHENZHEN, HANGZHOU, URUMQI = "440106", "440305", "330106", "650102"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    upgrade_schema(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@dataclass
class Channel:
    brand: int
    province: int  # Guangdong ("44")
    city: int  # under the province: Guangzhou ("4401")
    zhejiang: int  # "33"
    store: int  # supplied by the city distributor
    zj_store: int  # supplied by the Zhejiang distributor


def ship(s: Session, brand: int, first: int, last: int, *, frm: int | None = None, to: int | None = None,
         store: int | None = None, state: str = Shipment.SHIPPED, batch: int = CASED) -> int:
    sh = Shipment(brand_id=brand, from_distributor_id=frm, to_distributor_id=to, to_store_id=store, state=state,
                  shipped_at=datetime.now(UTC), case_count=last - first + 1)
    s.add(sh)
    s.flush()
    s.add(ShipmentRange(shipment_id=sh.id, brand_id=brand, batch_id=batch, first_case=first, last_case=last))
    bump_version(s, brand)
    return sh.id


@pytest.fixture
def channel(sessions: sessionmaker[Session]) -> Channel:
    return make_channel(sessions)


def make_channel(sessions: sessionmaker[Session]) -> Channel:
    """One brand, a cased batch (pack 10) and an uncased one, and this channel:
    cases 0-9 warehouse → province; 5-9 province → city; 8-9 city → store; 20-21 warehouse → a Zhejiang
    store (its supplier: the Zhejiang distributor); 30 an open shipment, 40 an undone one; the rest unshipped."""
    with transaction(sessions) as s:
        brand = Brand(slug="acme", name="Acme", base_url="https://q.acme.example")
        s.add(brand)
        s.flush()
        product = Product(brand_id=brand.id, sku="S", name="Beer")
        s.add(product)
        s.flush()
        for batch_id, pack in ((CASED, PACK), (UNCASED, 0)):
            s.add(Batch(id=batch_id, product_id=product.id, lot=f"L{batch_id}", quantity=1000, pack_size=pack,
                        key_id=1))
        d = {name: Distributor(brand_id=brand.id, code=name, name=name, territory=t)
             for name, t in (("GD", ["44"]), ("ZJ", ["33"]))}
        s.add_all(d.values())
        s.flush()
        city = Distributor(brand_id=brand.id, code="GZ", name="GZ", territory=["4401"], parent_id=d["GD"].id)
        s.add(city)
        s.flush()
        store = Store(brand_id=brand.id, distributor_id=city.id, name="shop", adcode=GUANGZHOU)
        zj_store = Store(brand_id=brand.id, distributor_id=d["ZJ"].id, name="zj shop", adcode=HANGZHOU)
        s.add_all([store, zj_store])
        s.flush()
        ship(s, brand.id, 0, 9, to=d["GD"].id)
        ship(s, brand.id, 5, 9, frm=d["GD"].id, to=city.id)
        ship(s, brand.id, 8, 9, frm=city.id, store=store.id)
        ship(s, brand.id, 20, 21, store=zj_store.id)
        ship(s, brand.id, 30, 30, to=d["ZJ"].id, state=Shipment.OPEN)
        ship(s, brand.id, 40, 40, to=d["ZJ"].id, state=Shipment.UNDONE)
        return Channel(brand.id, d["GD"].id, city.id, d["ZJ"].id, store.id, zj_store.id)


def scanner(client: redis.Redis) -> Scanner:
    for batch_id, pack in ((CASED, PACK), (UNCASED, 0)):
        meta = {"key_id": 1, "brand": "acme", "sku": "S", "product": "P", "gtin": "", "lot": "L", "factory": "",
                "line": "", "production_date": "", "quantity": 1000, "pack": pack, "status": "active"}
        write_batch_state(client, batch_id, meta, active=[(0, 999)], void=[])
    return Scanner(client, RING.batch_key_or_none, default_index(), ScanLimits(0, 0))


def code(serial: int, batch: int = CASED, role: Role = Role.INNER) -> str:
    return encode(RING.batch_key(1, batch), role=role, key_id=1, batch_id=batch, serial=serial)


def drain(drainer: Drainer) -> int:
    stored = 0
    while (stats := drainer.drain_once(block_ms=10)).read:
        stored += stats.stored
    return stored


def verdicts(sessions: sessionmaker[Session]) -> dict[tuple[int, str, str], int]:
    """(distributor, adcode, verdict) → scans, over every day."""
    out: dict[tuple[int, str, str], int] = {}
    with sessions() as s:
        for row in s.scalars(select(ChannelJudgementDaily)):
            key = (row.distributor_id, row.adcode, row.verdict)
            out[key] = out.get(key, 0) + row.scans
    return out


def diversions(sessions: sessionmaker[Session]) -> list[DiversionEvent]:
    with sessions() as s:
        return list(s.scalars(select(DiversionEvent).order_by(DiversionEvent.serial)))


def test_each_verdict_and_who_is_responsible(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    sc = scanner(redis_client)
    scans: list[tuple[int, int, str | None]] = [
        (CASED, 3, SHENZHEN),  # case 0: the province's, in Guangdong → normal
        (CASED, 4, URUMQI),  # case 0: the province's, in Xinjiang → 窜货 of the province
        (CASED, 55, SHENZHEN),  # case 5: went on to the city distributor (Guangzhou only) → 窜货 of the city
        (CASED, 57, GUANGZHOU),  # case 5, in Guangzhou → normal (the city's)
        (CASED, 85, HANGZHOU),  # case 8: at a store the city supplies; scanned in Hangzhou → 窜货 of the city
        (CASED, 205, HANGZHOU),  # case 20: warehouse → Zhejiang store: its supplier's territory → normal
        (CASED, 206, SHENZHEN),  # … and in Shenzhen → 窜货 of the Zhejiang distributor
        (CASED, 305, URUMQI),  # case 30: an open shipment places nothing → no record
        (CASED, 405, URUMQI),  # case 40: an undone shipment → no record
        (CASED, 995, URUMQI),  # case 99: never shipped → no record
        (UNCASED, 7, URUMQI),  # a batch without cases → no record
        (CASED, 6, None),  # case 0, no location → unlocated (the province's)
    ]
    for batch, serial, adcode in scans:
        sc.scan(ScanRequest(code(serial, batch), adcode=adcode))
    sc.scan(ScanRequest(code(1, role=Role.CASE), adcode=URUMQI))  # a case code: the channel's scan, not judged
    judge = ChannelJudge()
    assert drain(Drainer(redis_client, sessions, "c1", sink=ScanEventSink(observers=[judge]))) == len(scans) + 1
    c = channel
    assert verdicts(sessions) == {
        (c.province, SHENZHEN, "normal"): 1, (c.province, URUMQI, "diverted"): 1,
        (c.city, SHENZHEN, "diverted"): 1, (c.city, GUANGZHOU, "normal"): 1, (c.city, HANGZHOU, "diverted"): 1,
        (c.zhejiang, HANGZHOU, "normal"): 1, (c.zhejiang, SHENZHEN, "diverted"): 1,
        (0, URUMQI, "no_record"): 4, (c.province, "", "unlocated"): 1,
    }
    flagged = diversions(sessions)
    assert [(e.serial, e.distributor_id, e.adcode) for e in flagged] == [
        (4, c.province, URUMQI), (55, c.city, SHENZHEN), (85, c.city, HANGZHOU), (206, c.zhejiang, SHENZHEN)]
    with sessions() as s:
        to_city = s.scalar(select(Shipment.id).where(Shipment.to_distributor_id == c.city))
        to_store = s.scalar(select(Shipment.id).where(Shipment.to_store_id == c.store))
        to_zj_store = s.scalar(select(Shipment.id).where(Shipment.to_store_id == c.zj_store))
    # The hop that put the item in the responsible distributor's hands (its shipment to the store, for a
    # store's goods).
    assert [e.shipment_id for e in flagged[1:]] == [to_city, to_store, to_zj_store]
    assert flagged[0].code == code(4) and flagged[0].region_source == "gps"
    assert flagged[0].scanned_at is not None and flagged[0].batch_id == CASED
    assert judge.stats.judged == len(scans) and judge.stats.diverted == 4


def test_a_redelivered_entry_is_judged_once(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    sc = scanner(redis_client)
    for serial in range(40, 50):  # case 4: the province's
        sc.scan(ScanRequest(code(serial), adcode=URUMQI))
    # A drainer stores the entries (rows, rollups, verdicts) and dies before XACK …
    victim = Drainer(redis_client, sessions, "victim", sink=ScanEventSink(observers=[ChannelJudge()]))
    victim.streams()
    entries = redis_client.xreadgroup(GROUP, "victim", {events_key(CASED): ">"}, count=100)[0][1]
    rows = [victim.sink.row(events_key(CASED), i.decode(), d) for i, d in entries]
    with transaction(sessions) as s:
        assert victim.sink.store(s, rows) == 10
    # … another reclaims and stores the same entries again; a pass also rereads its own pending ones.
    rescuer = Drainer(redis_client, sessions, "rescuer", DrainSettings(claim_idle_ms=0),
                      sink=ScanEventSink(observers=[ChannelJudge()]))
    stats = rescuer.drain_once(block_ms=10)
    assert (stats.read, stats.stored, stats.acked) == (10, 0, 10)
    assert verdicts(sessions) == {(channel.province, URUMQI, "diverted"): 10}
    assert len(diversions(sessions)) == 10
    assert redis_client.xpending(events_key(CASED), GROUP)["pending"] == 0


class Broken:
    def observe(self, session: Session, rows: list[dict[str, Any]]) -> None:
        raise RuntimeError("an observer after the judge fails")


def test_a_failed_transaction_takes_the_verdicts_with_it(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    sc = scanner(redis_client)
    for serial in range(3):
        sc.scan(ScanRequest(code(serial), adcode=URUMQI))
    judge = ChannelJudge()
    with pytest.raises(RuntimeError):
        Drainer(redis_client, sessions, "c1", sink=ScanEventSink(observers=[judge, Broken()])).drain_once(block_ms=10)
    assert verdicts(sessions) == {} and diversions(sessions) == []
    assert drain(Drainer(redis_client, sessions, "c1", sink=ScanEventSink(observers=[judge]))) == 3
    assert verdicts(sessions) == {(channel.province, URUMQI, "diverted"): 3}


def test_a_shipment_change_is_seen_by_the_next_pass(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    sc = scanner(redis_client)
    judge = ChannelJudge()
    drainer = Drainer(redis_client, sessions, "c1", sink=ScanEventSink(observers=[judge]))
    sc.scan(ScanRequest(code(600), adcode=HANGZHOU))  # case 60: not shipped yet
    drain(drainer)
    with transaction(sessions) as s:
        ship(s, channel.brand, 60, 69, to=channel.zhejiang)
    sc.scan(ScanRequest(code(601), adcode=HANGZHOU))
    sc.scan(ScanRequest(code(602), adcode=SHENZHEN))
    drain(drainer)
    with transaction(sessions) as s:  # the shipment of case 0-9 to the province is taken back
        sh = s.scalars(select(Shipment).where(Shipment.to_distributor_id == channel.province)).one()
        sh.state, sh.undone_at = Shipment.UNDONE, datetime.now(UTC)
        bump_version(s, channel.brand)
    sc.scan(ScanRequest(code(1), adcode=URUMQI))
    drain(drainer)
    assert verdicts(sessions) == {
        (0, HANGZHOU, "no_record"): 1, (channel.zhejiang, HANGZHOU, "normal"): 1,
        (channel.zhejiang, SHENZHEN, "diverted"): 1, (0, URUMQI, "no_record"): 1}
    assert judge.stats.reloads == 3  # once per version it saw, not once per pass


def test_a_territory_edit_is_seen_after_the_refresh(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    now = [0.0]
    sc = scanner(redis_client)
    drainer = Drainer(redis_client, sessions, "c1",
                      sink=ScanEventSink(observers=[ChannelJudge(refresh_s=30, clock=lambda: now[0])]))
    sc.scan(ScanRequest(code(1), adcode=URUMQI))
    drain(drainer)
    with transaction(sessions) as s:  # the province distributor now covers Xinjiang too (no version bump)
        d = s.get(Distributor, channel.province)
        assert d is not None
        d.territory = ["44", "65"]
    sc.scan(ScanRequest(code(2), adcode=URUMQI))
    drain(drainer)
    now[0] = 31.0
    sc.scan(ScanRequest(code(3), adcode=URUMQI))
    drain(drainer)
    assert verdicts(sessions) == {(channel.province, URUMQI, "diverted"): 2,
                                  (channel.province, URUMQI, "normal"): 1}


def test_verdicts_count_by_china_day(redis_client: redis.Redis, sessions, channel: Channel) -> None:  # type: ignore[no-untyped-def]
    late = datetime(2026, 12, 3, 16, 30, tzinfo=UTC)  # 00:30 on the 4th in China
    rows = [{"id": f"1-{i}", "batch_id": CASED, "serial": 4, "role": "inner", "code": code(4), "kind": "repeat",
             "scanned_at": at, "adcode": URUMQI, "region_source": "ip"}
            for i, at in enumerate((late, datetime(2026, 12, 3, 15, 59, tzinfo=UTC)))]
    with transaction(sessions) as s:
        ChannelJudge().observe(s, rows)
    with sessions() as s:
        days = {(r.day.isoformat(), r.scans) for r in s.scalars(select(ChannelJudgementDaily))}
    assert days == {("2026-12-04", 1), ("2026-12-03", 1)}
    assert china_day(late.replace(tzinfo=None)).isoformat() == "2026-12-04"  # SQLite's naive UTC


def test_the_territory_match_gives_coarse_locations_the_benefit_of_the_doubt() -> None:
    assert known_prefix("440000") == "44" and known_prefix("440100") == "4401" and known_prefix("440106") == "440106"
    assert inside_territory("440305", ["44"]) and not inside_territory("650102", ["44", "4401"])
    assert inside_territory("440100", ["440106"])  # only "Guangzhou" is known: not evidence of 窜货
    assert not inside_territory("440300", ["440106"])  # Shenzhen is not that Guangzhou district
    assert inside_territory("650102", [])  # no territory set: no limit



def test_the_worker_drain_job_judges_and_the_report_shows_it(redis_client: redis.Redis, sqlite_url: str,
                                                             tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    """The issue's "done": a consumer scan from Xinjiang of a Guangdong distributor's item is on its report
    after the worker's drain job (one pass: under a second), with nothing else in between."""
    from app.worker import drain_job
    from channel.diversion import distributor_report, window
    from channel.judge import CHINA
    from channel.scope import brand_scope
    from tests.conftest import REDIS_TEST_URL

    monkeypatch.setenv("DATABASE_URL", sqlite_url)
    monkeypatch.setenv("REDIS_URL", REDIS_TEST_URL)
    monkeypatch.setenv("YIMA_VAR_DIR", str(tmp_path))
    engine = make_engine(sqlite_url)
    sessions = make_sessionmaker(engine)
    c = make_channel(sessions)
    scanner(redis_client).scan(ScanRequest(code(7), adcode=URUMQI))  # case 0: the Guangdong distributor's
    totals = drain_job(seconds=1.0, chain=False)
    assert totals["stored"] == 1
    with sessions() as s:
        report = distributor_report(s, brand_scope(c.brand, "test", role="analyst"), c.province,
                                    window(None, None, datetime.now(CHINA).date()))
    assert report.distributor.diverted == 1 and report.samples[0].code == code(7)
    assert report.regions[0].place.province == "新疆维吾尔自治区"
    engine.dispose()
