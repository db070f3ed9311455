"""The batch overview page (headquarters): what was produced, and which serial ranges are live."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, render_template, request
from sqlalchemy.exc import OperationalError

from app.auth_limits import check_secret
from app.runtime import ops_token
from codegen.batches import effective_ranges, list_batches
from codegen.ranges import format_ranges, total

bp = Blueprint("catalog", __name__)


@bp.before_request
def require_ops_login() -> Any:
    """Headquarters pages show production volumes: HTTP Basic with any user name and the ops token as the
    password (the browser asks), until user accounts arrive with the rule editor."""
    auth = request.authorization
    basic = auth is not None and auth.type == "basic"
    given = (auth.password or "") if basic and auth else ""
    user = (auth.username or "")[:64] if basic and auth else ""
    refused = check_secret(given, ops_token(current_app.config["YIMA"]), request.remote_addr or "", f"basic:{user}",
                           "headquarters login")
    if refused:
        return Response(f"Too many wrong passwords; retry in {refused} s.\n", 429, {"Retry-After": str(refused)},
                        mimetype="text/plain")
    if refused == 0:
        return Response("Sign in with the ops token as the password.\n", 401,
                        {"WWW-Authenticate": 'Basic realm="yima headquarters", charset="UTF-8"'}, mimetype="text/plain")
    return None


@bp.get("/")
def batches() -> Any:
    db = current_app.extensions["yima.db"]
    try:
        with db.sessions() as session:
            rows = []
            for batch in list_batches(session):
                active, void = effective_ranges(batch)
                rows.append(
                    {
                        "batch": batch,
                        "product": batch.product,
                        "brand": batch.product.brand,
                        "active": format_ranges(active) or "—",
                        "void": format_ranges(void) or "—",
                        "live": total(active) - total(void) if active else 0,
                    }
                )
    except OperationalError:
        return render_template("error.html", status=503, title="Database unavailable",
                               message="The batch list needs the database, which is not reachable right now."), 503
    return render_template("batches.html", rows=rows)
