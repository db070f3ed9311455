"""The batch overview page (headquarters): what was produced, and which serial ranges are live."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template
from sqlalchemy.exc import OperationalError

from codegen.batches import effective_ranges, list_batches
from codegen.ranges import format_ranges, total

bp = Blueprint("catalog", __name__)


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
