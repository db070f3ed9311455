"""GET /healthz: Redis and SQL reported separately, 503 when either is down."""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

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

    checks = {"redis": _probe(current_app.extensions["yima.redis"].ping), "database": _probe(sql)}
    healthy = all(c["ok"] for c in checks.values())
    return jsonify({"status": "ok" if healthy else "degraded", **checks}), 200 if healthy else 503
