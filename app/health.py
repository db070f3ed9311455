"""GET /healthz (readiness: Redis, SQL and the drain, each reported) and GET /livez (the process is up).

/healthz answers within YIMA_HEALTH_TIMEOUT_MS whatever Redis and SQL do: its checks run in threads of
their own (app/probes.py), and one that has not answered in time is reported as "timeout". It is 503
only when Redis, which every scan needs, is down. SQL down or the drain behind is "degraded" with 200:
scans do not touch SQL, and taking every replica out of the load balancer for it would stop scans that
would have worked. /livez never looks at a dependency, so a liveness probe does not restart every
replica during a Redis or PostgreSQL blip.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, current_app, jsonify
from sqlalchemy import text

from app.errors import json_errors
from app.probes import Probe, gather
from rules.drain import drain_lag

bp = Blueprint("health", __name__)
json_errors(bp)


def _probes(app: Flask) -> list[Probe]:
    probes: list[Probe] | None = app.extensions.get("yima.health")
    if probes is None:
        # The checks look the clients up on every run: tests (and nothing else) swap them.
        def redis() -> None:
            app.extensions["yima.redis"].ping()

        def sql() -> None:
            with app.extensions["yima.db"].engine.connect() as conn:
                conn.execute(text("SELECT 1"))

        def events() -> dict[str, Any]:
            lag = drain_lag(app.extensions["yima.redis"])
            return {"backlog": lag.backlog, "oldest_age_s": lag.oldest_age_s}

        probes = [Probe("redis", redis),
                  Probe("database", sql), Probe("events", events)]
        app.extensions["yima.health"] = probes
    return probes


@bp.get("/healthz")
def healthz() -> Any:
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    cfg = app.config["YIMA"]
    checks = gather(_probes(app), cfg.health_timeout)
    events = checks["events"]
    age = events.get("oldest_age_s")
    if events["ok"] and age is not None and age > cfg.drain_lag_max_s:
        # Scans still work; their events (and awards) are not reaching SQL: the worker is down or behind.
        checks["events"] = {**events, "ok": False, "error": f"drain behind: oldest event {age:.0f} s old "
                                                            f"(limit {cfg.drain_lag_max_s} s)"}
    problems = [name for name, check in checks.items() if not check["ok"]]
    body: dict[str, Any] = {"status": "degraded" if problems else "ok", **checks}
    if problems:
        body["problems"] = problems
    return jsonify(body), 503 if not checks["redis"]["ok"] else 200


@bp.get("/livez")
def livez() -> Any:
    return jsonify({"status": "alive"})
