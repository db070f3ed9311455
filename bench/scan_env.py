"""The scan bench's world: a temp var dir, a flushed Redis DB, a PostgreSQL database, two batches, one campaign.

    scan batch  --items items, matched by no campaign: POST /api/v1/scans verifies, counts, answers.
    draw batch  --items items under one live 首扫必中 (first_scan_wins) campaign, created, activated and
                published through the real publish path (rules.publish.publish_rules), so every first scan
                of its codes draws: a red packet 30 % of the time, else the points consolation.

Both batches are activated through codegen.batches like any brand's; their codes are signed in process
(bench.scan_plan.CodeSource). Everything is undone on exit: the database dropped, the Redis DB flushed,
the temp dir removed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import redis
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bench.scan_plan import CodeSource, Phones

BRAND = "bench"
SKU = "BENCH-500"
# The bench brand's risk policy overrides (risk.policy.RiskPolicy; 0 turns a rule off). Every scan comes from
# one loopback client, so the risk layer sees one address and one network doing the whole load: the rules
# about a busy address or network would challenge every new phone. Every other rule stays as shipped.
RISK_POLICY = {"ip_per_minute": 0, "network_per_hour": 0}


@dataclass
class BenchEnv:
    workdir: Path
    env: dict[str, str]
    source: CodeSource  # the scan batch's codes
    draw_source: CodeSource  # the draw batch's codes
    phones: Phones  # the phones the bodies come from (member tokens signed with the servers' member secret)
    redis_pid: int | None
    pg_version: str
    db_name: str
    brand_id: int
    batch_id: int
    draw_batch_id: int
    campaign_id: int
    rules_version: int
    shipped_workers: int
    shipped_class: str


def draw_campaign(batch_id: int) -> dict[str, Any]:
    """首扫必中 over one batch, both roles: every first scan draws; budget and quantity never run out."""
    return {
        "name": "bench: first scan wins",
        "brand": BRAND,
        "window": {"start": "2026-01-01T00:00:00+08:00", "end": "2099-12-31T00:00:00+08:00"},
        "scope": {"batches": [batch_id]},
        "ordinal": {"kind": "first_scan"},
        "first_scan_wins": True,
        "budget": {"total_fen": 10**12},
        "prizes": [{"kind": "cash", "name": "红包", "min_fen": 100, "max_fen": 500, "weight": 0.3,
                    "total": 10**8}],
        "consolation": {"kind": "points", "name": "积分", "points": 5},
    }


def server_env(workdir: Path, db_url: str, redis_url: str) -> dict[str, str]:
    """The app servers' environment: bench endpoints on, the per-client limits off (one client IP would trip
    them; the limits-on run sets the scan limits very high instead)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("YIMA_", "DATABASE_URL", "REDIS_URL"))}
    env.update({
        "YIMA_VAR_DIR": str(workdir / "var"),
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "YIMA_BENCH_ENDPOINTS": "1",
        "YIMA_SCAN_LIMIT_IP": "0",
        "YIMA_SCAN_LIMIT_DEVICE": "0",
        # 5 % of the bodies are forged, all from one client address: the enumeration floor would block it
        # after 30 and every later answer would be a cheap 429.
        "YIMA_INVALID_LIMIT_IP": "0",
        "YIMA_INVALID_LIMIT_DEVICE": "0",
        "YIMA_SECRET_KEY": "bench-" + os.urandom(16).hex(),
        "YIMA_MEMBER_SECRET": "bench-member-" + os.urandom(16).hex(),
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    return env


def _drop_stale_databases(conn: Any) -> None:
    for stale in conn.scalars(text("SELECT datname FROM pg_database WHERE datname LIKE 'yima_bench_%'")):
        pid = stale.rsplit("_", 1)[-1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():  # left by a run that was killed
            conn.execute(text(f'DROP DATABASE IF EXISTS "{stale}" WITH (FORCE)'))


def _redis_pid(rds: redis.Redis) -> int | None:
    """The Redis server's process id, if it runs on this machine (for the CPU meter and the layouts)."""
    try:
        pid = int(rds.info("server")["process_id"])
    except (redis.RedisError, KeyError, ValueError):
        return None
    return pid if Path(f"/proc/{pid}").exists() else None


@contextlib.contextmanager
def bench_environment(args: argparse.Namespace) -> Iterator[BenchEnv]:
    """Temp var dir, Redis DB flushed, PostgreSQL database created, batches and campaign made; undone on exit."""
    from app import bench_views, gunicorn_conf
    from app.config import load_config
    from app.runtime import connect_database
    from codegen import batches, keys
    from codegen.db import transaction
    from rules.campaign_store import create_campaign, set_status
    from rules.models import Campaign
    from rules.publish import publish_rules
    from rules.region import default_index

    workdir = Path(tempfile.mkdtemp(prefix="yima-bench-scan-"))
    rds = redis.Redis.from_url(args.redis_url, socket_timeout=10)
    admin = create_engine(args.pg_admin_url, isolation_level="AUTOCOMMIT")
    db_name = f"yima_bench_{os.getpid()}"
    created_db = False
    db = None
    try:
        rds.ping()
        rds.flushdb()
        with admin.connect() as conn:
            pg_version = str(conn.scalar(text("SHOW server_version")))
            _drop_stale_databases(conn)
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
            created_db = True
        db_url = make_url(args.pg_admin_url).set(database=db_name).render_as_string(hide_password=False)
        env = server_env(workdir, db_url, args.redis_url)
        cfg = load_config(env)
        db = connect_database(cfg)
        bench_views.ensure_tables(db.engine)
        ring, _ = keys.init_keyring(cfg.keys_file)
        keys.save_public_keys(cfg.hq_public_file, ring)
        made: list[tuple[int, int]] = []
        with transaction(db.sessions) as session:
            brand = batches.add_brand(session, BRAND, "Bench Brewery", "https://q.bench.example")
            brand_id = brand.id
            batches.add_product(session, brand, SKU, "Bench Lager 500ml", "6901234567892")
            for lot in ("BENCH-SCAN", "BENCH-DRAW"):
                req = batches.BatchRequest(sku=SKU, lot=lot, count=args.items, pack=24, factory="Bench", line="1",
                                           production_date=date.today())
                batch = batches.create_batch(session, brand, req, key_id=ring.current,
                                             max_count=cfg.max_batch_count)
                batches.activate(session, rds, batch.id, None)
                made.append((batch.id, batch.key_id))
        (batch_id, key_id), (draw_batch_id, draw_key_id) = made
        with transaction(db.sessions) as session:
            campaign = create_campaign(session, draw_campaign(draw_batch_id), default_index()).campaign
            set_status(session, campaign.id, Campaign.ACTIVE, default_index())
            campaign_id = campaign.id
        with transaction(db.sessions) as session:
            rules_version = publish_rules(session, rds, default_index(), note="bench-scan").version.version
        publish_risk_policy(args.redis_url, brand_id, RISK_POLICY)
        db.engine.dispose()
        yield BenchEnv(
            workdir=workdir, env=env,
            source=CodeSource(ring.batch_key(key_id, batch_id), key_id, batch_id, args.items),
            draw_source=CodeSource(ring.batch_key(draw_key_id, draw_batch_id), draw_key_id, draw_batch_id,
                                   args.items),
            phones=Phones(env["YIMA_MEMBER_SECRET"].encode()),
            redis_pid=_redis_pid(rds), pg_version=pg_version, db_name=db_name, brand_id=brand_id, batch_id=batch_id,
            draw_batch_id=draw_batch_id, campaign_id=campaign_id, rules_version=rules_version,
            shipped_workers=int(getattr(gunicorn_conf, "workers", 1)),
            shipped_class=str(getattr(gunicorn_conf, "worker_class", "sync")),
        )
    finally:
        if db is not None:
            db.engine.dispose()
        if created_db:
            with contextlib.suppress(Exception), admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        admin.dispose()
        with contextlib.suppress(redis.RedisError):
            rds.flushdb()
        rds.close()
        shutil.rmtree(workdir, ignore_errors=True)


def event_mix(redis_url: str, batch_id: int, last: int = 3000) -> dict[str, int]:
    """Kinds of the last scan events in a batch's stream: proves the mix really was first/repeat."""
    from codegen.batch_state import events_key

    rds = redis.Redis.from_url(redis_url)
    try:
        rows = rds.xrevrange(events_key(batch_id), count=last)
        return dict(Counter(fields[b"kind"].decode() for _id, fields in rows))
    finally:
        rds.close()


def publish_risk_policy(redis_url: str, brand_id: int, overrides: dict[str, Any]) -> None:
    """The brand's risk policy document where the risk gate reads it (risk.keys.POLICIES_KEY), checked as the
    gate checks it (a policy it refused would silently be the defaults)."""
    from risk.keys import POLICIES_KEY
    from risk.policy import RiskPolicy

    RiskPolicy.from_doc(overrides)
    rds = redis.Redis.from_url(redis_url)
    try:
        rds.hset(POLICIES_KEY, str(brand_id), json.dumps(overrides, separators=(",", ":")))
    finally:
        rds.close()


def risk_keys(redis_url: str) -> dict[str, dict[str, int]]:
    """The risk layer's keys in the bench's Redis DB, by subject kind: subjects (their state hashes `{r:<kind>:
    <id>}:s`) and keys in all. Proves the risk-on runs really went through the risk layer."""
    from risk.keys import SUBJECT_KINDS, SUBJECT_NAMES

    found = {SUBJECT_NAMES[k]: {"subjects": 0, "keys": 0} for k in SUBJECT_KINDS}
    rds = redis.Redis.from_url(redis_url)
    try:
        for key in rds.scan_iter(match="{r:*", count=10_000):
            kind = SUBJECT_NAMES.get(key[3:4].decode(errors="replace")) if key[4:5] == b":" else None
            if kind is None:
                continue
            found[kind]["keys"] += 1
            if key.endswith(b"}:s"):
                found[kind]["subjects"] += 1
    finally:
        rds.close()
    return found


def stream_tips(redis_url: str, batch_ids: list[int]) -> dict[int, str]:
    """The newest event id of each batch's scan stream ("0-0" when empty): where a run's own events begin."""
    from codegen.batch_state import events_key

    rds = redis.Redis.from_url(redis_url)
    try:
        tips = {}
        for batch_id in batch_ids:
            rows = rds.xrevrange(events_key(batch_id), count=1)
            tips[batch_id] = rows[0][0].decode() if rows else "0-0"
        return tips
    finally:
        rds.close()


def risk_decisions(redis_url: str, since: dict[int, str], into: Counter[str], reasons: Counter[str],
                   limit: int = 200_000) -> None:
    """Count the risk decisions (and their reasons) on the scan events written after `since` (stream tips)."""
    from codegen.batch_state import events_key

    rds = redis.Redis.from_url(redis_url)
    try:
        for batch_id, tip in since.items():
            start = f"({tip}"
            left = limit
            while left > 0:
                rows = rds.xrange(events_key(batch_id), min=start, max="+", count=min(left, 10_000))
                if not rows:
                    break
                for _id, fields in rows:
                    into[fields.get(b"risk", b"?").decode()] += 1
                    for why in filter(None, fields.get(b"risk_why", b"").decode().split(",")):
                        reasons[why] += 1
                start, left = f"({rows[-1][0].decode()}", left - len(rows)
    finally:
        rds.close()


def award_count(redis_url: str) -> int:
    """Awards the draws wrote (the registered award streams' lengths): proves the draw variant drew."""
    from rules.awards import AWARD_STREAMS

    rds = redis.Redis.from_url(redis_url)
    try:
        return sum(int(rds.xlen(stream)) for stream in rds.smembers(AWARD_STREAMS))
    finally:
        rds.close()


def export_codes(path: Path, count: int) -> int:
    """A fresh activated batch of the demo product in the configured environment (DATABASE_URL, REDIS_URL,
    YIMA_VAR_DIR, as `yima run` uses), and its inner codes, one a line, for loadtests/locustfile.py."""
    from app.config import load_config
    from app.runtime import connect_database, connect_redis
    from app.seed import DEMO_BRAND, DEMO_SKU, seed_demo
    from codegen import batches, keys
    from codegen.codeformat import CodeSigner, Role
    from codegen.db import transaction

    cfg = load_config()
    db = connect_database(cfg)
    rds = connect_redis(cfg)
    try:
        seed_demo(cfg, db, rds)
        ring = keys.load_keyring(cfg.keys_file)
        with transaction(db.sessions) as session:
            brand = batches.resolve_brand(session, DEMO_BRAND)
            req = batches.BatchRequest(sku=DEMO_SKU, lot=f"LOAD-{time.strftime('%Y%m%d-%H%M%S')}-{count}",
                                       count=count, pack=24, factory="Load test", line="1",
                                       production_date=date.today())
            batch = batches.create_batch(session, brand, req, key_id=ring.current, max_count=cfg.max_batch_count)
            batches.activate(session, rds, batch.id, None)
            batch_id, key_id = batch.id, batch.key_id
        signer = CodeSigner(ring.batch_key(key_id, batch_id), role=Role.INNER, key_id=key_id, batch_id=batch_id)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w") as fh:
            for serial in range(count):
                fh.write(signer.code(serial) + "\n")
        tmp.replace(path)
    finally:
        db.engine.dispose()
        rds.close()
    print(f"wrote {count:,} codes of batch {batch_id} (lot {req.lot}, active) to {path}")
    return 0
