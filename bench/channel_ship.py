"""Bulk 出库 of 100,000 case codes (2.4 million items at 24 per case) against issue 13's target: ≤ 10 s.

    python -m bench.channel_ship [--cases 100000] [--pack 24] [--pg-admin-url URL] [--redis-url URL]
                                 [--skip-postgres]

A batch of cases × pack items is made as one Batch row (no item files: items follow their case by serial),
its case codes are signed with codegen's CodeSigner, and one warehouse shipment of all of them is timed end
to end, commit included:

  1. the domain call (channel.bulk_ship.bulk_ship) on SQLite, codes in printing order;
  2. the same with the codes in random order (the collapse into runs sorts them: still one run);
  3. every other case of a batch twice as big, in random order: no two cases touch, so 100,000 runs of one
     case each, 100,000 ShipmentRange rows (the true worst case for the runs);
  4. all three again on PostgreSQL, in a fresh database `yima_bench_channel_<pid>` (made, migrated, dropped at the
     end, even on failure; one left by a killed run is dropped by the next);
  5. through HTTP: POST /api/v1/channel/shipments with a warehouse seat's token, through the real app's WSGI
     stack (create_app; werkzeug's test client builds the request, so no socket and no server process), on
     SQLite: a JSON body of bare codes, and a text/plain body of scan URLs (the larger body, under the
     route's 8 MiB bound).
Each shipment lands in a batch of its own (a new batch per figure), so no run meets another's cases.

Each figure is printed with the target and PASS / MISS; the exit status is 1 when one misses. The Redis of
--redis-url is only connected to (the app needs a client); nothing is written there.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

TARGET_S = 10.0
DEFAULT_PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/10"
DB_PREFIX = "yima_bench_channel_"
BASE_URL = "https://q.bench.example"


def say(message: str) -> None:
    print(message, flush=True)


@dataclass
class Figure:
    name: str
    seconds: float
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.seconds <= TARGET_S


@dataclass
class Catalogue:
    brand_id: int
    product_id: int
    distributor_id: int
    key_id: int


@contextlib.contextmanager
def pg_database(admin_url: str) -> Iterator[str]:
    """A fresh PostgreSQL database for this run, dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"{DB_PREFIX}{os.getpid()}"
    try:
        with admin.connect() as conn:
            for stale in conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE :p"),
                                      {"p": DB_PREFIX + "%"}).all():
                pid = stale.rsplit("_", 1)[-1]
                if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # left by a run that was killed
                    conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def make_catalogue(sessions: sessionmaker[Session], key_id: int) -> Catalogue:
    from channel.models import Distributor
    from codegen import batches
    from codegen.db import transaction

    with transaction(sessions) as s:
        brand = batches.add_brand(s, "bench-channel", "Bench channel", BASE_URL)
        product = batches.add_product(s, brand, "SKU-BENCH", "基准 500ml", None)
        d = Distributor(brand_id=brand.id, code="GD-001", name="广东经销商", territory=["44"])
        s.add(d)
        s.flush()
        return Catalogue(brand.id, product.id, d.id, key_id)


def make_batch(sessions: sessionmaker[Session], cat: Catalogue, lot: str, cases: int, pack: int) -> int:
    """One Batch row of cases × pack items (no codes generated: a batch's codes are derived, not stored)."""
    from codegen.db import transaction
    from codegen.models import Batch

    with transaction(sessions) as s:
        batch = Batch(product_id=cat.product_id, lot=lot, quantity=cases * pack, pack_size=pack, key_id=cat.key_id,
                      status=Batch.ACTIVE, production_date=date(2026, 12, 1), factory="bench", line="1")
        s.add(batch)
        s.flush()
        return batch.id


def case_codes(ring: Any, key_id: int, batch_id: int, cases: int) -> list[str]:
    from codegen.codeformat import CodeSigner, Role

    signer = CodeSigner(ring.batch_key(key_id, batch_id), role=Role.CASE, key_id=key_id, batch_id=batch_id)
    return [signer.code(n) for n in range(cases)]


def check(shipment: Any, cases: int, pack: int) -> str:
    ok = (shipment.state, shipment.case_count, shipment.item_count) == ("shipped", cases, cases * pack)
    if not ok:
        raise AssertionError(f"shipment {shipment.id}: {shipment.state}, {shipment.case_count} cases, "
                             f"{shipment.item_count} items")
    return f"{shipment.case_count:,} cases, {shipment.item_count:,} items"


def time_domain(sessions: sessionmaker[Session], ring: Any, cat: Catalogue, db: str, args: argparse.Namespace,
                ) -> list[Figure]:
    from channel.bulk_ship import bulk_ship
    from channel.models import WAREHOUSE
    from channel.scope import ChannelScope
    from codegen.db import transaction

    scope = ChannelScope(cat.brand_id, "bench", WAREHOUSE)
    figures = []
    for order in ("in order", "random order", "every other case"):
        sparse = order == "every other case"
        batch_id = make_batch(sessions, cat, f"{db}-{order.split()[0]}", args.cases * (2 if sparse else 1),
                              args.pack)
        t0 = time.perf_counter()
        codes = case_codes(ring, cat.key_id, batch_id, args.cases * (2 if sparse else 1))[::2 if sparse else 1]
        signed = time.perf_counter() - t0
        if order != "in order":
            random.Random(13).shuffle(codes)
        lines = list(enumerate(codes, start=1))
        t0 = time.perf_counter()
        with transaction(sessions) as s:
            result = bulk_ship(s, scope, ring.batch_key_or_none, lines=lines, to_distributor_id=cat.distributor_id,
                               reference=f"bench {order}")
        took = time.perf_counter() - t0
        runs = args.cases if sparse else 1
        figures.append(Figure(f"domain bulk_ship, {db}, {order}", took,
                              f"{check(result.shipment, args.cases, args.pack)} in {runs:,} run(s); "
                              f"signing took {signed:.2f} s"))
        say(f"  {figures[-1].name}: {took:.2f} s")
    return figures


def time_http(tmp: Path, args: argparse.Namespace) -> list[Figure]:
    """POST /api/v1/channel/shipments through create_app's WSGI stack, on a SQLite file."""
    from accounts.models import ChannelSeat
    from accounts.tokens import issue_token
    from accounts.users import create_user, get_user
    from app import create_app
    from codegen.db import transaction
    from codegen.keys import load_keyring

    app = create_app({"var_dir": tmp, "database_url": f"sqlite:///{tmp / 'http.db'}", "redis_url": args.redis_url,
                      "keys_file": tmp / "keys.json", "hq_public_file": tmp / "hq-public.json",
                      "base_url": BASE_URL})
    try:
        sessions = app.extensions["yima.db"].sessions
        ring = load_keyring(tmp / "keys.json")
        cat = make_catalogue(sessions, ring.current)
        with transaction(sessions) as s:
            user = create_user(s, "warehouse@bench.example", os.urandom(12).hex())
            s.add(ChannelSeat(user_id=user.id, brand_id=cat.brand_id, kind="warehouse"))
            s.flush()
            s.expire(user)
            _, secret = issue_token(s, get_user(s, user.id), cat.brand_id, "channel", "bench", 1)
        client = app.test_client()
        headers = {"Authorization": f"Bearer {secret}"}
        figures = []
        for shape in ("JSON, bare codes", "text/plain, scan URLs"):
            batch_id = make_batch(sessions, cat, f"http-{shape.split(',')[0].replace('/', '-')}", args.cases,
                                  args.pack)
            codes = case_codes(ring, cat.key_id, batch_id, args.cases)
            if shape.startswith("JSON"):
                import json

                body = json.dumps({"to_distributor": cat.distributor_id, "reference": "bench", "codes": codes})
                kwargs: dict[str, Any] = {"data": body, "content_type": "application/json"}
                url = "/api/v1/channel/shipments"
            else:
                body = "\n".join(f"{BASE_URL}/q/{c}" for c in codes) + "\n"
                kwargs = {"data": body, "content_type": "text/plain"}
                url = f"/api/v1/channel/shipments?to_distributor={cat.distributor_id}&reference=bench"
            t0 = time.perf_counter()
            resp = client.post(url, headers=headers, **kwargs)
            took = time.perf_counter() - t0
            if resp.status_code != 201:
                raise AssertionError(f"HTTP {resp.status_code}: {resp.get_data(as_text=True)[:500]}")
            made = resp.get_json()
            note = f"{made['case_count']:,} cases, {made['item_count']:,} items; body {len(body) / 2**20:.1f} MiB"
            figures.append(Figure(f"HTTP POST (WSGI test client), sqlite, {shape}", took, note))
            say(f"  {figures[-1].name}: {took:.2f} s")
        return figures
    finally:
        app.extensions["yima.scanner"].close()
        app.extensions["yima.redis"].close()
        app.extensions["yima.db"].engine.dispose()


def on_database(url: str, ring: Any, args: argparse.Namespace, db: str) -> list[Figure]:
    from codegen.db import make_engine, make_sessionmaker
    from schema import upgrade_schema

    engine = make_engine(url)
    try:
        upgrade_schema(engine)
        sessions = make_sessionmaker(engine)
        return time_domain(sessions, ring, make_catalogue(sessions, ring.current), db, args)
    finally:
        engine.dispose()


def table(figures: Sequence[Figure]) -> str:
    width = max(len(f.name) for f in figures)
    rows = [f"{'figure':<{width}}  {'seconds':>8}  target   verdict  detail"]
    rows += [f"{f.name:<{width}}  {f.seconds:8.2f}  ≤ {TARGET_S:.0f} s  {'PASS' if f.passed else 'MISS':<7}  {f.note}"
             for f in figures]
    return "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.channel_ship", description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--pack", type=int, default=24)
    parser.add_argument("--pg-admin-url", default=os.environ.get("YIMA_BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN_URL))
    parser.add_argument("--redis-url", default=os.environ.get("YIMA_BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args(argv)
    from codegen.keys import init_keyring

    started = time.perf_counter()
    say(f"bulk 出库 of {args.cases:,} case codes ({args.cases * args.pack:,} items at {args.pack} per case); "
        f"target ≤ {TARGET_S:.0f} s each; {os.cpu_count()} CPUs")
    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="yima-bench-channel-") as tmp_name:
        tmp = Path(tmp_name)
        ring, _ = init_keyring(tmp / "keys.json")
        say("SQLite (a file in a temp dir):")
        figures += on_database(f"sqlite:///{tmp / 'domain.db'}", ring, args, "sqlite")
        if not args.skip_postgres:
            say("PostgreSQL (a fresh database):")
            with pg_database(args.pg_admin_url) as url:
                figures += on_database(url, ring, args, "postgresql")
        say("HTTP:")
        figures += time_http(tmp, args)
    say("")
    say(table(figures))
    missed = [f.name for f in figures if not f.passed]
    say(f"\n{len(figures) - len(missed)}/{len(figures)} within {TARGET_S:.0f} s; the whole run took "
        f"{time.perf_counter() - started:.0f} s")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
