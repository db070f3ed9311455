"""Benchmark-only endpoints, registered only when YIMA_BENCH_ENDPOINTS=1 (`make bench-scan` sets it).

    POST /bench/bare      the bare-Flask floor: parse the same JSON body, answer a JSON object of about the
                          size of a scan reply, nothing else (no validation, no verification, no Redis).
    POST /bench/bare-redis the floor of any design with one Redis round trip per scan: /bench/bare plus one
                          trivial script call (`return 1`) over the scan's own call path (rules/lua.py).
    POST /bench/sql-scan  the "database-per-scan" design a naive platform uses: the same body parsing and
                          the same CPU verification as POST /api/v1/scans (`Scanner.identify`), then one SQL
                          transaction per request: SELECT the code's state row, INSERT an event row,
                          UPSERT the state row, COMMIT. It answers the same JSON as the real scan.

The SQL variant is deliberately kind to SQL: it keeps no sale-status or range lookups in SQL (the batch
facts come from the same in-process cache the real scan uses) and it takes no row lock, so it is the
cheapest honest form of "one transaction per scan". Its two tables live in the app's database and are
created when the blueprint is registered (never without the flag):

    bench_code_state(code PK, scan_count, first_at, first_adcode)
    bench_scan_events(id PK, code, kind, scan_count, at, adcode, ip, device)
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from flask.blueprints import BlueprintSetupState
from redis.exceptions import RedisError
from sqlalchemy import BigInteger, Column, Integer, MetaData, String, Table, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError

from app.api import MAX_BODY, parse_scan_request, scan_json
from app.errors import error_response, json_errors
from rules.lua import LuaScript, ScriptCall, ScriptCaller
from rules.region import default_index
from rules.scan import FIRST, REPEAT, Scanner, ScanResult

# The floor of a script call: a key of its own slot (a cluster routes by it), touched by nothing.
NOTHING = ScriptCall(LuaScript.of_source("return 1"), ["{bench}:nothing"], [], int)

bp = Blueprint("bench", __name__, url_prefix="/bench")
json_errors(bp)

metadata = MetaData()
code_state = Table(
    "bench_code_state",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("scan_count", Integer, nullable=False),
    Column("first_at", BigInteger, nullable=False),  # unix seconds, as the real scan keeps it
    Column("first_adcode", String(6), nullable=False, default=""),
)
scan_events = Table(
    "bench_scan_events",
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("code", String(32), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("scan_count", Integer, nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("adcode", String(6), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("device", String(64), nullable=False),
)


def ensure_tables(engine: Engine) -> None:
    """CREATE TABLE IF NOT EXISTS for both tables. Several gunicorn workers start at once and may race on
    PostgreSQL's catalogue (a duplicate-type error): the loser checks again and finds the tables."""
    for attempt in range(3):
        try:
            metadata.create_all(engine, checkfirst=True)
            return
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.2)


@bp.record_once
def _set_up(state: BlueprintSetupState) -> None:
    ensure_tables(state.app.extensions["yima.db"].engine)
    state.app.extensions["yima.bench.round_trip"] = ScriptCaller(state.app.extensions["yima.redis"])


@bp.post("/bare")
def bare() -> Any:
    """The floor: what Flask alone costs for this body and a reply of the same size."""
    return _bare_reply()


@bp.post("/bare-redis")
def bare_redis() -> Any:
    """The bare floor plus the one Redis round trip every scan makes, doing nothing in Redis."""
    try:
        current_app.extensions["yima.bench.round_trip"].run(NOTHING)
    except RedisError:
        return error_response(503, "unavailable", "Redis is unavailable")
    return _bare_reply()


def _bare_reply() -> Any:
    body = request.get_json(silent=True)
    code = body.get("code") if isinstance(body, dict) else None
    return jsonify({
        "genuine": True,
        "code": code,
        "role": "inner",
        "serial": 0,
        "status": "first",
        "on_sale": True,
        "scan_count": 1,
        "first_scan": None,
        "region": None,
        "product": {"name": "Bench Lager 500ml", "sku": "BENCH-500", "gtin": None, "brand": "bench"},
        "batch": {"id": 1, "lot": "BENCH-L1", "production_date": None},
        "reward": None,
        "event_id": "0-0",
    })


def _upsert_state(conn: Connection, code: str, now: int, adcode: str) -> None:
    values = {"code": code, "scan_count": 1, "first_at": now, "first_adcode": adcode}
    dialect = conn.dialect.name
    if dialect in ("postgresql", "sqlite"):
        stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(code_state).values(**values)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[code_state.c.code], set_={"scan_count": code_state.c.scan_count + 1}))
        return
    done = conn.execute(
        update(code_state).where(code_state.c.code == code).values(scan_count=code_state.c.scan_count + 1))
    if done.rowcount == 0:
        conn.execute(insert(code_state).values(**values))


@bp.post("/sql-scan")
def sql_scan() -> Any:
    """One consumer scan the database-per-scan way: verify (CPU), then SELECT + INSERT + UPSERT, COMMIT."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return error_response(413, "too_large", f"request body over {MAX_BODY} bytes")
    scan_request = parse_scan_request(request.get_json(silent=True))
    scanner: Scanner = current_app.extensions["yima.scanner"]
    code, fields, batch = scanner.identify(scan_request.code)
    region, _source = scanner.locate(scan_request)
    adcode = region.adcode if region else ""
    now = int(time.time())
    engine: Engine = current_app.extensions["yima.db"].engine
    with engine.begin() as conn:
        row = conn.execute(
            select(code_state.c.scan_count, code_state.c.first_at, code_state.c.first_adcode)
            .where(code_state.c.code == code)
        ).first()
        status, count = (FIRST, 1) if row is None else (REPEAT, row.scan_count + 1)
        event_id = conn.execute(
            insert(scan_events)
            .values(code=code, kind=status, scan_count=count, at=now, adcode=adcode,
                    ip=scan_request.ip[:64], device=scan_request.device_id)
            .returning(scan_events.c.id)
        ).scalar_one()
        _upsert_state(conn, code, now, adcode)
    result = ScanResult(
        status=status,
        code=code,
        fields=fields,
        batch=batch,
        scan_count=count,
        first_at=None if row is None else datetime.fromtimestamp(row.first_at, UTC),
        first_region=default_index().lookup(row.first_adcode) if row is not None and row.first_adcode else None,
        region=region,
        event_id=str(event_id),
    )
    return jsonify(scan_json(result))
