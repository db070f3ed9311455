"""The redemption lookup (查码) at scale: its latency with 10 million scan events stored.

    python -m bench.channel_lookup [--events 10000000] [--lookups 2000] [--jobs 2] [--keep]
                                   [--pg-admin-url URL] [--redis-url URL]

1. A fresh PostgreSQL database `yima_bench_lookup_<pid>` migrated to head (scan_events partitioned by month),
   dropped at the end, also on failure. Redis (--redis-url) is only read: nothing is written to it or flushed.
2. A brand with 40 batches of 1,000,000 items packed 24 to a case (38 on sale, 2 half on sale, one void
   range), 20 province distributors with 5 city distributors each and 10 stores per city; every case
   shipped warehouse → province → city → store (1,120 shipments a batch); a second brand with one batch.
3. --events scan events over the last 12 months' partitions, by INSERT … SELECT from generate_series in
   chunks of a million on --jobs connections (partitions UNLOGGED, key and indexes built after the load, as
   a restore does; reads do not depend on it): 70 % first scans of distinct codes (17.5 % of the 40 M
   codes), 25 % repeats of them, 5 % scans while not on sale; places skewed to big cities, 4 % unlocated.
   Awards for a tenth of the first scans (cash 40 %, points 40 %, 再来一瓶 vouchers 20 %; 1 % void); 70 % of
   the cash and vouchers claimed, every claimed cash with its payout, 60 % of the claimed vouchers redeemed.
   The `code` column holds a placeholder: the lookup finds a code's rows by (batch, role, serial).
4. --lookups signed codes drawn at random: scanned items (some scanned twice), awarded items, unscanned
   items and outer codes, case codes, and not genuine ones (forged, another brand's, malformed); looked up
   by brand staff, a province distributor and a store clerk in turn:
   - the domain call `channel.lookup.lookup_code` (a session each, the app's keyring cache and Redis),
   - the API through the app (Flask test client, each seat's own token): GET /api/v1/channel/codes/<code>.
   p50 / p95 / p99 of each, and SQL statements per lookup; PASS when both p95 ≤ 50 ms, else MISS (exit 1).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Engine

from bench.bench_dashboard import DEFAULT_PG_ADMIN_URL, bench_database, districts

BATCHES, ITEMS, PACK = 40, 1_000_000, 24
HALF_ON_SALE = 2  # the last batches: only their first half activated
PROVINCES, CITIES, STORES = 20, 5, 10  # cities per province, stores per city
CHUNK = 1_000_000
STRIDE = 7919  # first scan k of a batch is its serial (k * STRIDE) % ITEMS: distinct while k < ITEMS
DAY = 86_400
TARGET_MS = 50.0
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/12"


def say(message: str) -> None:
    print(message, flush=True)


@contextlib.contextmanager
def phase(name: str) -> Iterator[None]:
    started = time.monotonic()
    yield
    say(f"  {name}: {time.monotonic() - started:,.1f} s")


@dataclass
class Layout:
    brand_id: int = 0
    batch0: int = 0  # the brand's batches are batch0 … batch0 + BATCHES - 1
    other_batch: int = 0  # another brand's
    provinces: list[int] = field(default_factory=list)
    cities: list[int] = field(default_factory=list)  # province p's cities: [p * CITIES, (p + 1) * CITIES)
    stores: list[int] = field(default_factory=list)  # city c's stores: [c * STORES, (c + 1) * STORES)
    campaigns: dict[str, int] = field(default_factory=dict)
    firsts: int = 0  # first scans g in [0, firsts): batch g % BATCHES, k = g // BATCHES
    repeats: int = 0
    start: int = 0  # unix s, a year ago; batch b was made at start + b * 8 days
    end: int = 0

    def serial(self, k: int) -> int:
        return (k * STRIDE) % ITEMS

    def scanned(self, serial: int) -> bool:
        k = serial * pow(STRIDE, -1, ITEMS) % ITEMS
        return k < -(-self.firsts // BATCHES)


# --- data -------------------------------------------------------------------------------------------------


def catalogue(engine: Engine, now: datetime) -> Layout:
    from channel.models import Distributor, Store
    from codegen import batches
    from codegen.db import make_sessionmaker, transaction
    from codegen.models import BatchRange
    from rules.models import Campaign

    lay = Layout(start=int((now - timedelta(days=360)).timestamp()), end=int(now.timestamp()))
    with transaction(make_sessionmaker(engine)) as s:
        brand = batches.add_brand(s, "bench", "基准啤酒 Bench Brewery", "https://q.bench.example")
        batches.add_product(s, brand, "LAGER-500", "基准拉格 500ml", "06901234567892")
        ids = []
        for b in range(BATCHES):
            made = date.fromtimestamp(lay.start + b * 8 * DAY)
            batch = batches.create_batch(s, brand, batches.BatchRequest(
                sku="LAGER-500", lot=f"L{b:03d}", count=ITEMS, pack=PACK, factory="广州工厂", line=str(1 + b % 4),
                production_date=made), key_id=1, max_count=ITEMS)
            last = ITEMS // 2 - 1 if b >= BATCHES - HALF_ON_SALE else ITEMS - 1
            batch.ranges.append(BatchRange(kind=BatchRange.ACTIVATE, first_serial=0, last_serial=last))
            batch.status = batch.ACTIVE
            ids.append(batch.id)
        s.flush()
        s.add(BatchRange(batch_id=ids[5], kind=BatchRange.VOID, first_serial=100_000, last_serial=119_999,
                         reason="破损卷 damaged roll"))
        assert ids == list(range(ids[0], ids[0] + BATCHES)), ids
        lay.brand_id, lay.batch0 = brand.id, ids[0]
        other = batches.add_brand(s, "rival", "别家 Rival", "https://q.rival.example")
        batches.add_product(s, other, "R-1", "别家饮料", None)
        lay.other_batch = batches.create_batch(s, other, batches.BatchRequest(sku="R-1", lot="R1", count=10_000),
                                               key_id=1, max_count=ITEMS).id
        for p in range(PROVINCES):
            prov = Distributor(brand_id=brand.id, code=f"P{p:02d}", name=f"省级经销商 {p + 1}",
                               territory=[f"{11 + p}"])
            s.add(prov)
            s.flush()
            lay.provinces.append(prov.id)
            for c in range(CITIES):
                city = Distributor(brand_id=brand.id, code=f"P{p:02d}C{c}", name=f"市级经销商 {p + 1}-{c + 1}",
                                   territory=[f"{11 + p}{c + 1:02d}"], parent_id=prov.id)
                s.add(city)
                s.flush()
                lay.cities.append(city.id)
                stores = [Store(brand_id=brand.id, distributor_id=city.id, name=f"门店 {p + 1}-{c + 1}-{n + 1}",
                                adcode=f"{11 + p}{c + 1:02d}01") for n in range(STORES)]
                s.add_all(stores)
                s.flush()
                lay.stores += [st.id for st in stores]
        for kind, name, prizes in (
                ("cash", "开盖红包", [{"kind": "cash", "name": "现金红包", "min_fen": 100, "max_fen": 888,
                                       "weight": 0.1}]),
                ("points", "扫码积分", [{"kind": "points", "name": "10 积分", "points": 10, "weight": 0.1}]),
                ("voucher", "再来一瓶", [{"kind": "voucher", "name": "再来一瓶", "weight": 0.05}])):
            row = Campaign(brand_id=brand.id, name=name, status=Campaign.ACTIVE,
                           definition={"name": name, "prizes": prizes})
            s.add(row)
            s.flush()
            lay.campaigns[kind] = row.id
    return lay


def _first_time(h: str, bi: str, lay: Layout) -> str:
    """SQL: the unix time of first scan h of batch index bi (after its batch was made and shipped)."""
    made = f"({lay.start} + {bi} * {8 * DAY} + {2 * DAY})"
    return f"({made} + ({h} * 48271) % ({lay.end} - {made}))"


def _scan_sql(lay: Layout, kind: str, lo: int, hi: int, places: int) -> str:
    b = f"({lay.batch0} + x.bi)"
    if kind == "first":
        inner = f"g, g % {BATCHES} AS bi, ((g / {BATCHES}) * {STRIDE}) % {ITEMS} AS serial, 1 AS cnt, " \
                f"{_first_time('g', f'(g % {BATCHES})', lay)} AS ts"
    elif kind == "repeat":
        h = f"((g * 2654435761) % {lay.firsts})"
        inner = f"g, {h} % {BATCHES} AS bi, (({h} / {BATCHES}) * {STRIDE}) % {ITEMS} AS serial, 2 AS cnt, " \
                f"least({lay.end}, {_first_time(h, f'({h} % {BATCHES})', lay)} + 60 + g % {3 * DAY}) AS ts"
    else:  # scans of the half-activated batches' codes not on sale yet
        bi = f"({BATCHES - HALF_ON_SALE} + g % {HALF_ON_SALE})"
        inner = f"g, {bi} AS bi, {ITEMS // 2} + (g * {STRIDE}) % {ITEMS // 2} AS serial, 0 AS cnt, " \
                f"{_first_time('g', bi, lay)} AS ts"
    return f"""
        INSERT INTO scan_events (id, batch_id, serial, role, code, kind, scan_count, scanned_at, adcode, ip,
                                 device_id, member, rules_version, campaigns, ingested_at, region_source)
        SELECT {b} || '-' || (1700000000000 + x.g) || '-0', {b}, x.serial, 'inner',
               'C' || lpad(to_hex(x.g), 27, '0'), '{kind}', x.cnt, to_timestamp(x.ts), p.adcode,
               '10.' || (x.g % 250) || '.' || (x.g / 250 % 250) || '.7', 'dev-' || (x.g % 3000000),
               CASE WHEN x.g % 3 = 0 THEN 'o' || (x.g % 2000000) ELSE '' END, 1,
               CASE WHEN x.g % 4 = 0 THEN '' ELSE '{lay.campaigns["cash"]}' END, to_timestamp(x.ts + 1),
               CASE WHEN p.adcode IS NULL THEN 'none' WHEN x.g % 5 < 3 THEN 'gps' ELSE 'ip' END
        FROM (SELECT {inner}, CASE WHEN random() < 0.04 THEN NULL
                                   ELSE floor({places} * power(random(), 3))::int END AS pi
              FROM generate_series({lo}::bigint, {hi}::bigint) g) x
        LEFT JOIN bench_place p ON p.i = x.pi"""


def load_events(engine: Engine, lay: Layout, events: int, jobs: int) -> None:
    places = districts()
    lay.firsts, lay.repeats = events * 70 // 100, events * 25 // 100
    others = events - lay.firsts - lay.repeats
    with engine.begin() as conn:
        conn.execute(text("ALTER TABLE scan_events DROP CONSTRAINT pk_scan_events"))
        conn.execute(text("DROP INDEX ix_scan_events_batch_serial"))
        conn.execute(text("DROP INDEX ix_scan_events_scanned_at"))
        for (name,) in conn.execute(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                         "WHERE inhparent = 'scan_events'::regclass")):
            conn.execute(text(f"ALTER TABLE {name} SET UNLOGGED"))
        conn.execute(text("CREATE UNLOGGED TABLE bench_place (i int PRIMARY KEY, adcode varchar(6))"))
        conn.execute(text("INSERT INTO bench_place VALUES (:i, :a)"), [{"i": i, "a": a} for i, a in enumerate(places)])
    work = []
    for kind, lo, n in (("first", 0, lay.firsts), ("repeat", lay.firsts, lay.repeats),
                        ("not_on_sale", lay.firsts + lay.repeats, others)):
        work += [(kind, a, min(lo + n, a + CHUNK) - 1) for a in range(lo, lo + n, CHUNK)]

    def chunk(job: tuple[str, int, int]) -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text(_scan_sql(lay, job[0], job[1], job[2], len(places))))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for done, _ in enumerate(pool.map(chunk, work), 1):
            if done % 4 == 0 or done == len(work):
                say(f"    {done}/{len(work)} chunks")


LEDGER = ("awards", "award_claims", "payouts", "voucher_redemptions")


def load_ledger(engine: Engine, lay: Layout, jobs: int) -> None:
    """Awards for a tenth of the first scans (h = 10 g + g % 10: spread over every batch), their claims,
    payouts and voucher redemptions: drawn once into a scratch table, inserted with the tables' secondary
    indexes off (built again after, from their own definitions)."""
    c = lay.campaigns
    h = "(g * 10 + g % 10)"
    campaign = f"CASE a.kind WHEN 'cash' THEN {c['cash']} WHEN 'points' THEN {c['points']} ELSE {c['voucher']} END"
    award_id = f"{campaign} || '-' || (1700000000000 + a.h) || '-0'"
    with engine.begin() as conn:
        conn.execute(text(f"""
            CREATE UNLOGGED TABLE bench_award AS
            SELECT g, {h} AS h, {lay.batch0} + {h} % {BATCHES} AS batch_id,
                   (({h} / {BATCHES}) * {STRIDE}) % {ITEMS} AS serial,
                   CASE WHEN g % 10 < 4 THEN 'cash' WHEN g % 10 < 8 THEN 'points' ELSE 'voucher' END AS kind,
                   to_timestamp({_first_time(h, f'({h} % {BATCHES})', lay)}) AS at
            FROM generate_series(0::bigint, {lay.firsts // 10 - 1}::bigint) g"""))
        indexes = conn.execute(text(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename = ANY(:t) AND NOT EXISTS "
            "(SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)"), {"t": list(LEDGER)}).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    claimed = "FROM bench_award a WHERE a.kind <> 'points' AND (a.g / 10) % 10 < 7 AND a.h % 1000 <> 0"
    stores = ",".join(str(s) for s in lay.stores)
    awards = f"""
        INSERT INTO awards (id, campaign_id, claim, code, batch_id, role, serial, prize_index, kind, amount_fen,
                            points, coupon, rules_version, member, awarded_at, status, void_reason, ingested_at)
        SELECT {award_id}, {campaign}, 'B' || a.batch_id || 'S' || a.serial, 'C' || lpad(to_hex(a.h), 27, '0'),
               a.batch_id, 'inner', a.serial, 0, a.kind, CASE a.kind WHEN 'cash' THEN 100 + a.h % 789 ELSE 0 END,
               CASE a.kind WHEN 'points' THEN 10 ELSE 0 END, '', 1, 'o' || (a.h % 2000000), a.at,
               CASE WHEN a.h % 1000 = 0 THEN 'void' ELSE 'valid' END,
               CASE WHEN a.h % 1000 = 0 THEN 'over budget' ELSE '' END, a.at
        FROM bench_award a"""
    rest = [f"""
        INSERT INTO award_claims (award_id, campaign_id, brand_id, openid, kind, claimed_at)
        SELECT {award_id}, {campaign}, {lay.brand_id}, 'o' || (a.h % 2000000), a.kind, a.at + interval '2 minutes'
        {claimed}""", f"""
        INSERT INTO payouts (award_id, campaign_id, brand_id, openid, amount_fen, provider, state, attempt, bill_no,
                             provider_bill_id, package_info, reason, message, client_ip, created_at, updated_at)
        SELECT {award_id}, {campaign}, {lay.brand_id}, 'o' || (a.h % 2000000), 100 + a.h % 789, 'wechat_transfer',
               CASE WHEN a.h % 20 = 0 THEN 'awaiting_user' ELSE 'succeeded' END, 1, 'B' || a.h, '', '', '', '',
               '', a.at, a.at
        {claimed} AND a.kind = 'cash'""", f"""
        INSERT INTO voucher_redemptions (award_id, brand_id, campaign_id, store_id, staff_user_id, code,
                                         redeemed_at)
        SELECT {award_id}, {lay.brand_id}, {campaign}, (ARRAY[{stores}])[1 + a.h % {len(lay.stores)}], NULL,
               'C' || lpad(to_hex(a.h), 27, '0'), a.at + interval '1 day'
        {claimed} AND a.kind = 'voucher' AND (a.g / 100) % 10 < 6"""]

    def execute(statements: list[str]) -> None:
        with engine.begin() as conn:
            conn.execute(text("SET LOCAL synchronous_commit = off"))
            conn.execute(text("SET LOCAL maintenance_work_mem = '128MB'"))
            for statement in statements:
                conn.execute(text(statement))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(execute, [[awards], rest]))
        list(pool.map(execute, [[definition] for _, definition in indexes]))
    execute(["DROP TABLE bench_award"])


def load_shipments(engine: Engine, lay: Layout) -> None:
    """Every case of every batch: warehouse → its province, → a city, → a store, in contiguous ranges."""
    cases = -(-ITEMS // PACK)
    per_s = -(-cases // (PROVINCES * CITIES * STORES))  # nested: a city's cases lie in its province's
    per_c = per_s * STORES
    per_p = per_c * CITIES
    levels = [  # (level, parts, cases each, sender, receiver column, receiver ids, days after the batch was made)
        ("p", PROVINCES, per_p, "NULL", "to_distributor_id", lay.provinces, 1),
        ("c", PROVINCES * CITIES, per_c, "prov", "to_distributor_id", lay.cities, 3),
        ("s", PROVINCES * CITIES * STORES, per_s, "city", "to_store_id", lay.stores, 6)]
    with engine.begin() as conn:
        conn.execute(text("SET LOCAL synchronous_commit = off"))
        next_id = 1
        for _, parts, each, sender, column, receivers, days in levels:
            senders = {"NULL": "NULL::int", "prov": f"(ARRAY[{','.join(map(str, lay.provinces))}])[1 + n / {CITIES}]",
                       "city": f"(ARRAY[{','.join(map(str, lay.cities))}])[1 + n / {STORES}]"}[sender]
            made = f"to_timestamp({lay.start} + b * {8 * DAY} + {days * DAY})"
            rows = f"""
                SELECT {next_id} + b * {parts} + n AS id, {lay.batch0} + b AS batch_id, n * {each} AS first_case,
                       least({cases} - 1, (n + 1) * {each} - 1) AS last_case, {senders} AS sender,
                       (ARRAY[{','.join(map(str, receivers))}])[1 + n] AS receiver, {made} AS at
                FROM generate_series(0, {BATCHES - 1}) b, generate_series(0, {parts - 1}) n
                WHERE n * {each} < {cases}"""
            conn.execute(text(f"""
                INSERT INTO shipments (id, brand_id, from_distributor_id, {column}, reference, state, case_count,
                                       item_count, created_by, created_at, shipped_at, received_at, received_by,
                                       undo_reason)
                SELECT r.id, {lay.brand_id}, r.sender, r.receiver, 'SO-' || r.id, 'received',
                       r.last_case - r.first_case + 1, (r.last_case - r.first_case + 1) * {PACK}, 'bench', r.at, r.at,
                       r.at + interval '20 hours', 'bench', ''
                FROM ({rows}) r"""))
            conn.execute(text(f"""
                INSERT INTO shipment_ranges (shipment_id, brand_id, batch_id, first_case, last_case)
                SELECT r.id, {lay.brand_id}, r.batch_id, r.first_case, r.last_case FROM ({rows}) r"""))
            next_id += BATCHES * parts
        conn.execute(text("SELECT setval(pg_get_serial_sequence('shipments', 'id'), :n)"), {"n": next_id})


def build_indexes(engine: Engine, jobs: int) -> None:
    """Each partition's indexes and key on their own (--jobs at a time), then the parent's, which adopt them."""
    with engine.connect() as conn:
        parts = conn.scalars(text("SELECT inhrelid::regclass::text FROM pg_inherits "
                                  "WHERE inhparent = 'scan_events'::regclass")).all()

    def index(part: str) -> None:
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("SET maintenance_work_mem = '256MB'"))
            conn.execute(text(f"CREATE INDEX ON {part} (batch_id, role, serial)"))
            conn.execute(text(f"CREATE INDEX ON {part} (scanned_at)"))
            conn.execute(text(f"ALTER TABLE {part} ADD PRIMARY KEY (id, scanned_at)"))
            conn.execute(text(f"ANALYZE {part}"))

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(index, parts))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("CREATE INDEX ix_scan_events_batch_serial ON scan_events (batch_id, role, serial)"))
        conn.execute(text("CREATE INDEX ix_scan_events_scanned_at ON scan_events (scanned_at)"))
        conn.execute(text("ALTER TABLE scan_events ADD CONSTRAINT pk_scan_events PRIMARY KEY (id, scanned_at)"))
        for table in ("awards", "award_claims", "payouts", "voucher_redemptions", "shipments", "shipment_ranges",
                      "batch_ranges", "distributors", "stores", "scan_events"):
            conn.execute(text(f"ANALYZE {table}"))


# --- the lookups ------------------------------------------------------------------------------------------


def sample_codes(lay: Layout, key_for: Any, count: int, rng: random.Random) -> list[tuple[str, str]]:
    """(kind, text) of `count` codes: what distributors and stores would scan."""
    from codegen.codeformat import Role, encode

    def sign(batch: int, serial: int, role: Role = Role.INNER) -> str:
        return encode(key_for(1, batch), role=role, key_id=1, batch_id=batch, serial=serial)

    per_batch = -(-lay.firsts // BATCHES)
    out: list[tuple[str, str]] = []
    while len(out) < count:
        r = rng.random()
        b = rng.randrange(BATCHES)
        if r < 0.35:
            out.append(("scanned", sign(lay.batch0 + b, lay.serial(rng.randrange(per_batch)))))
        elif r < 0.45:  # a first scan that was awarded (load_ledger's h)
            g = rng.randrange(lay.firsts // 10)
            h = g * 10 + g % 10
            out.append(("awarded", sign(lay.batch0 + h % BATCHES, lay.serial(h // BATCHES))))
        elif r < 0.65:
            serial = rng.randrange(ITEMS)
            out.append(("scanned" if lay.scanned(serial) else "unscanned", sign(lay.batch0 + b, serial)))
        elif r < 0.72:
            out.append(("outer", sign(lay.batch0 + b, rng.randrange(ITEMS), Role.OUTER)))
        elif r < 0.90:
            out.append(("case", sign(lay.batch0 + b, rng.randrange(-(-ITEMS // PACK)), Role.CASE)))
        elif r < 0.95:
            good = sign(lay.batch0 + b, rng.randrange(ITEMS))
            out.append(("forged", good[:-3] + ("ZZZ" if good[-3:] != "ZZZ" else "YYY")))
        elif r < 0.98:
            out.append(("other brand", sign(lay.other_batch, rng.randrange(10_000))))
        else:
            out.append(("malformed", rng.choice(["ABC123", "https://example.com/p/1", "6901234567892"])))
    return out


def percentiles(values: list[float]) -> tuple[float, float, float]:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return at(0.50), at(0.95), at(0.99)


def seats(app: Any, lay: Layout) -> list[tuple[str, Any, dict[str, str]]]:
    """(who, scope, API headers): brand staff (an analyst), a province distributor and a store clerk."""
    from accounts.models import ChannelSeat
    from accounts.tokens import issue_token
    from accounts.users import create_user, grant_role
    from channel.scope import brand_scope, seat_scope
    from codegen.db import transaction

    out = []
    with transaction(app.extensions["yima.db"].sessions) as s:
        staff = create_user(s, "analyst@bench.example", "bench password 0123")
        grant_role(s, staff, lay.brand_id, "analyst")
        _, secret = issue_token(s, staff, lay.brand_id, "analyst", "bench", 30)
        out.append(("brand staff", brand_scope(lay.brand_id, "bench", role="analyst"), secret))
        for kind, email, dist, store in (("distributor", "dist@bench.example", lay.provinces[3], None),
                                         ("clerk", "clerk@bench.example", None, lay.stores[123])):
            user = create_user(s, email, "bench password 0123")
            s.add(ChannelSeat(user_id=user.id, brand_id=lay.brand_id, kind=kind, distributor_id=dist, store_id=store))
            s.flush()
            s.refresh(user)
            _, secret = issue_token(s, user, lay.brand_id, "channel", "bench", 30)
            out.append((kind, seat_scope(s, brand_id=lay.brand_id, kind=kind, actor=email, user_id=user.id,
                                         distributor_id=dist, store_id=store), secret))
    return [(who, scope, {"Authorization": f"Bearer {secret}"}) for who, scope, secret in out]


def backends_cpu(engine: Engine) -> float | None:
    """CPU seconds used so far by the PostgreSQL backends serving this database (from /proc: a server on this
    machine), None when they cannot be read. With the client's own CPU time, what a lookup costs whatever
    else the machine is running."""
    with engine.connect() as conn:
        pids = conn.scalars(text("SELECT pid FROM pg_stat_activity WHERE datname = current_database()")).all()
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / os.sysconf("SC_CLK_TCK")


@dataclass
class Timing:
    wall_ms: list[float] = field(default_factory=list)
    client_cpu_s: float = 0.0
    server_cpu_s: float | None = None

    def cpu_per_call(self) -> str:
        n = len(self.wall_ms)
        server = "" if self.server_cpu_s is None else f" + database {self.server_cpu_s / n * 1000:.1f} ms"
        return f"CPU per call: this process {self.client_cpu_s / n * 1000:.1f} ms{server}"


def timed_calls(engine: Engine, calls: list[Any], warmup: int) -> Timing:
    """Each call's wall time after `warmup` calls; the CPU the measured calls cost, client and server."""
    for call in calls[:warmup]:
        call()
    out = Timing()
    server, client = backends_cpu(engine), time.process_time()
    for call in calls[warmup:]:
        started = time.perf_counter()
        call()
        out.wall_ms.append((time.perf_counter() - started) * 1000)
    out.client_cpu_s = time.process_time() - client
    after = backends_cpu(engine)
    out.server_cpu_s = None if server is None or after is None else after - server
    return out


def measure(app: Any, lay: Layout, codes: list[tuple[str, str]], warmup: int) -> dict[str, Any]:
    from app.dist_lookup_views import lookup_session
    from channel.lookup import lookup_code

    ext = app.extensions
    engine = ext["yima.db"].engine
    key_for, redis = ext["yima.scanner"].key_for, ext["yima.redis"]
    who = seats(app, lay)
    asked = codes[:warmup] + codes
    statements = [0]

    def count(*_: Any) -> None:
        statements[0] += 1

    answers: dict[str, Any] = {}

    def domain_call(i: int, code: str) -> Any:
        def call() -> None:
            with lookup_session(engine) as s:  # as the page and the API open it
                answers[code] = lookup_code(s, who[i % len(who)][1], code, key_for, redis=redis)
        return call

    client = app.test_client()

    def api_call(i: int, code: str) -> Any:
        headers = who[i % len(who)][2]

        def call() -> None:
            if "/" in code:  # a scan URL: the body, not a path segment
                resp = client.post("/api/v1/channel/lookup", headers=headers, json={"code": code})
            else:
                resp = client.get(f"/api/v1/channel/codes/{code}", headers=headers)
            assert resp.status_code == 200, (code, resp.status_code, resp.get_data(as_text=True)[:300])
        return call

    event.listen(engine, "before_cursor_execute", count)
    domain = timed_calls(engine, [domain_call(i, code) for i, (_, code) in enumerate(asked)], warmup)
    event.remove(engine, "before_cursor_execute", count)
    api = timed_calls(engine, [api_call(i, code) for i, (_, code) in enumerate(asked)], warmup)
    kinds: dict[str, list[float]] = {}
    for (kind, _), took in zip(codes, domain.wall_ms, strict=True):
        kinds.setdefault(kind, []).append(took)
    return {"domain": domain, "api": api, "kinds": kinds, "statements": statements[0] / len(asked),
            "checks": check_answers(codes, answers)}


def check_answers(codes: list[tuple[str, str]], answers: dict[str, Any]) -> list[str]:
    """What each kind of code must have shown, counted: the latencies are of real answers, not empty ones."""
    expect = {
        "scanned": ("with scans", lambda a: a.genuine and a.scans.count >= 1 and a.scans.first_at is not None),
        "awarded": ("with a prize", lambda a: a.genuine and len(a.awards) >= 1),
        "unscanned": ("never scanned", lambda a: a.genuine and a.scans.count == 0),
        "outer": ("genuine", lambda a: a.genuine and a.role == "outer"),
        "case": ("with 3 hops (a store sees 1)", lambda a: a.genuine and a.role == "case"
                 and len(a.path) + a.hidden_hops == 3),
        "forged": ("forged", lambda a: a.reason == "forged"),
        "other brand": ("not this brand's", lambda a: a.reason == "not_this_brand"),
        "malformed": ("malformed", lambda a: a.reason == "malformed"),
    }
    out = []
    for kind, (what, ok) in expect.items():
        asked = [answers[code] for k, code in codes if k == kind]
        out.append(f"{kind} {sum(1 for a in asked if ok(a))}/{len(asked)} {what}")
    return out


# --- the run ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> int:
    import redis

    from app import create_app
    from codegen import keys
    from codegen.db import make_engine, make_sessionmaker, transaction
    from rules.partitions import Month, ensure_months
    from schema import upgrade_schema

    now = datetime.now(UTC)
    began = time.monotonic()
    with bench_database(args.pg_admin_url, "yima_bench_lookup_", keep=args.keep) as db_url, \
            tempfile.TemporaryDirectory(prefix="yima-bench-lookup-") as tmp:
        engine = make_engine(db_url)
        try:
            with phase("migrate to head"):
                upgrade_schema(engine)
                with transaction(make_sessionmaker(engine)) as s:
                    ensure_months(s, Month.of(now - timedelta(days=365)), Month.of(now))
            load_started = time.monotonic()
            with phase("catalogue, channel (120 distributors, 1,000 stores), campaigns"):
                lay = catalogue(engine, now)
            with phase(f"{args.events:,} scan events ({args.jobs} connections)"):
                load_events(engine, lay, args.events, args.jobs)
            with phase("awards, claims, payouts, redemptions"):
                load_ledger(engine, lay, args.jobs)
            with phase("shipments"):
                load_shipments(engine, lay)
            with phase("indexes, key, ANALYZE"):
                build_indexes(engine, args.jobs)
            load_s = time.monotonic() - load_started
            with engine.connect() as conn:
                counts = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in (
                    "scan_events", "awards", "award_claims", "payouts", "voucher_redemptions", "shipments")}
                size = conn.scalar(text("SELECT pg_size_pretty(pg_database_size(current_database()))"))
            say("  " + ", ".join(f"{t} {n:,}" for t, n in counts.items()) + f"; database {size}")
            say(f"  loaded in {load_s:,.0f} s")

            ring, _ = keys.init_keyring(Path(tmp) / "keys.json")
            r = redis.Redis.from_url(args.redis_url)
            r.ping()  # the lookup reads the code's live scan state; nothing here writes to this Redis
            r.close()
            app = create_app({"database_url": db_url, "redis_url": args.redis_url, "var_dir": Path(tmp),
                              "keys_file": Path(tmp) / "keys.json", "hq_public_file": Path(tmp) / "hq.json"})
            try:
                codes = sample_codes(lay, ring.batch_key, args.lookups, random.Random(args.seed))
                say(f"  load average before the lookups: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
                with phase(f"{args.lookups:,} lookups, domain call then API ({args.warmup} warm-up each)"):
                    got = measure(app, lay, codes, args.warmup)
            finally:
                app.extensions["yima.scanner"].close()
                app.extensions["yima.redis"].close()
                app.extensions["yima.db"].engine.dispose()
        finally:
            engine.dispose()
    mix = ", ".join(f"{k} {len(v)}" for k, v in sorted(got["kinds"].items()))
    say(f"\nlookups: {mix}; {got['statements']:.1f} SQL statements per lookup")
    say("answers: " + "; ".join(got["checks"]))
    for kind, took in sorted(got["kinds"].items()):
        p50, p95, _ = percentiles(took)
        say(f"  domain, {kind:<12} p50 {p50:6.2f} ms  p95 {p95:6.2f} ms")
    missed = []
    for name in ("domain", "api"):
        timing: Timing = got[name]
        p50, p95, p99 = percentiles(timing.wall_ms)
        ok = p95 <= TARGET_MS
        missed += [] if ok else [name]
        label = "lookup_code (domain)" if name == "domain" else "GET /api/v1/channel/codes/<code> (app)"
        say(f"{label:<40} p50 {p50:6.2f} ms   p95 {p95:6.2f} ms   p99 {p99:6.2f} ms   "
            f"target p95 ≤ {TARGET_MS:.0f} ms: {'PASS' if ok else 'MISS'}")
        say(f"{'':<40} {timing.cpu_per_call()}")
    say(f"load average (1, 5, 15 min) at the end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} "
        f"on {os.cpu_count()} CPUs")
    say(f"with {args.events:,} scan events stored; load {load_s:,.0f} s, whole run {time.monotonic() - began:,.0f} s")
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=int(env("YIMA_BENCH_EVENTS", 10_000_000)))
    p.add_argument("--lookups", type=int, default=1000, help="codes looked up, each by the domain and the API")
    p.add_argument("--warmup", type=int, default=100)
    p.add_argument("--jobs", type=int, default=2, help="connections loading events and building indexes")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--keep", action="store_true", help="leave the database (its name is printed)")
    p.add_argument("--redis-url", default=env("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    p.add_argument("--pg-admin-url", default=env("YIMA_BENCH_PG_URL", DEFAULT_PG_ADMIN_URL))
    args = p.parse_args(argv)
    if args.events < 100 * BATCHES:
        p.error(f"--events must be at least {100 * BATCHES}")
    say(f"bench channel-lookup: {args.events:,} scan events, {args.lookups:,} lookups; {os.cpu_count()} CPUs")
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
