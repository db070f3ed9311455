"""GET /healthz: Redis and SQL reported separately, 503 when either is down."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from rules.drain import total_backlog

bp = Blueprint("health", __name__)


def _probe(check: Any) -> dict[str, Any]:
    start = time.perf_counter()
    try:
        check()
    except Exception as exc:  # any failure is the answer, not an error of this endpoint
        return {"ok": False, "error": exc.__class__.__name__}
    return {"ok": True, "ms": round((time.perf_counter() - start) * 1000, 2)}


@bp.get("/healthz")
def healthz() -> Any:
    db = current_app.extensions["yima.db"]

    def sql() -> None:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))

    r = current_app.extensions["yima.redis"]
    checks = {"redis": _probe(r.ping), "database": _probe(sql)}
    healthy = all(c["ok"] for c in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "degraded", **checks}
    if checks["redis"]["ok"]:
        # Scan events not yet in SQL: grows while the database or the worker is down, drains after.
        body["events"] = {"backlog": total_backlog(r)}
    return jsonify(body), 200 if healthy else 503
