"""The live dashboard: a brand's or a campaign's figures, refreshed every few seconds, and their CSV.

Pages under /ops/dashboard; a brand is chosen by `?brand=<slug>` (default: the first the user may read),
a period by `?days=` (1, 7, 30 or 90). Every figure comes from the report rollups (reports/), never
from raw events. Another brand's campaign id answers 404, like an id that does not exist.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from flask import Blueprint, Response, abort, current_app, render_template, request, url_for

from app.auth import current_principal, login_required, require_brand, tr
from app.dashboard_charts import charts, local, percent, yuan
from app.errors import page_errors
from channel.diversion import Alert, alerts
from channel.judge import CHINA
from channel.scope import brand_scope
from reports.dashboard import PERIODS, Dashboard, brand_dashboard, campaign_brand, campaign_dashboard, visible_brands
from reports.export import dashboard_csv
from rules.region import default_index

F = TypeVar("F", bound=Callable[..., Any])
bp = Blueprint("ops_dashboard", __name__, url_prefix="/ops/dashboard")
page_errors(bp)
ALERT_DAYS = 7
REFRESH_S = 5  # a scan shows within this plus the drain's pass (under a second), well inside 10 s


def live_login_required(page: str) -> Callable[[F], F]:
    """`login_required` for a fragment htmx fetches: when the session has ended, the whole page goes to
    the login form (HX-Redirect) instead of the login form being swapped into the dashboard."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            if current_principal() is None and request.headers.get("HX-Request"):
                kept = {k: v for k, v in request.args.items() if k in ("brand", "days")}
                target = url_for(page, **kept, **kwargs)
                return Response(status=401, headers={"HX-Redirect": url_for("ops_auth.login", next=target)})
            return login_required(view)(*args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorate


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _days(default: int = 7) -> int:
    raw = request.args.get("days", str(default))
    if not raw.isdigit() or int(raw) not in PERIODS:
        abort(400, description=tr(f"days 只能是 {', '.join(map(str, PERIODS))}",
                                  f"days must be one of {', '.join(map(str, PERIODS))}"))
    return int(raw)


def _brand_dashboard() -> tuple[Dashboard | None, list[Any], Any]:
    """(dashboard, brands the user may read, the chosen brand) for ?brand= and ?days=."""
    who = current_principal()
    assert who is not None
    days = _days()
    with _sessions()() as s:
        brands = visible_brands(s, who.readable_brand_ids())
        slug = request.args.get("brand")
        brand = next((b for b in brands if b.slug == slug), None) if slug else (brands[0] if brands else None)
        if slug and brand is None:
            abort(404)  # no such brand, or not one of the user's: the same answer
        if brand is None:
            return None, brands, None
        require_brand(brand.id)
        return brand_dashboard(s, brand.id, time.time(), days, default_index()), brands, brand


def _campaign_dashboard(campaign_id: int) -> tuple[Dashboard, Any]:
    days = _days()
    with _sessions()() as s:
        brand_id = campaign_brand(s, campaign_id)
        if brand_id is None:
            abort(404)
        require_brand(brand_id)
        d = campaign_dashboard(s, campaign_id, time.time(), days, default_index())
        brand = next(b for b in visible_brands(s, frozenset({brand_id})))
    assert d is not None
    return d, brand


def _context(d: Dashboard, live_url: str) -> dict[str, Any]:
    return {"d": d, "charts": charts(d), "live_url": live_url, "refresh_s": REFRESH_S, "periods": PERIODS,
            "local": local, "yuan": yuan, "percent": percent}


def _csv(d: Dashboard, name: str) -> Response:
    resp = Response(dashboard_csv(d), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _diversion_alerts(brand_id: int) -> list[Alert]:
    """The 窜货预警 panel: distributors flagged in the last ALERT_DAYS days (channel/diversion.py)."""
    who = current_principal()
    assert who is not None
    scope = brand_scope(brand_id, who.actor, role=who.role_in(brand_id), user_id=who.user_id)
    with _sessions()() as s:
        return alerts(s, scope, datetime.now(CHINA).date(), ALERT_DAYS)


@bp.get("/")
@login_required
def index() -> Any:
    d, brands, brand = _brand_dashboard()
    if d is None:
        return render_template("ops/dashboard.html", d=None, brands=brands, brand=None)
    live = url_for(".live", brand=brand.slug, days=d.period.days)
    return render_template("ops/dashboard.html", brands=brands, brand=brand, diversion=_diversion_alerts(brand.id),
                           alert_days=ALERT_DAYS, **_context(d, live))


@bp.get("/live")
@live_login_required(".index")
def live() -> Any:
    d, _brands, brand = _brand_dashboard()
    if d is None:
        abort(404)
    return render_template("ops/dashboard_live.html", brand=brand,
                           **_context(d, url_for(".live", brand=brand.slug, days=d.period.days)))


@bp.get("/export.csv")
@login_required
def export() -> Any:
    d, _brands, brand = _brand_dashboard()
    if d is None:
        abort(404)
    return _csv(d, f"yima-{brand.slug}-{d.period.days}d.csv")


@bp.get("/campaigns/<int:campaign_id>")
@login_required
def campaign(campaign_id: int) -> Any:
    d, brand = _campaign_dashboard(campaign_id)
    live_url = url_for(".campaign_live", campaign_id=campaign_id, days=d.period.days)
    return render_template("ops/dashboard.html", brands=[brand], brand=brand, **_context(d, live_url))


@bp.get("/campaigns/<int:campaign_id>/live")
@live_login_required(".campaign")
def campaign_live(campaign_id: int) -> Any:
    d, brand = _campaign_dashboard(campaign_id)
    live_url = url_for(".campaign_live", campaign_id=campaign_id, days=d.period.days)
    return render_template("ops/dashboard_live.html", brand=brand, **_context(d, live_url))


@bp.get("/campaigns/<int:campaign_id>/export.csv")
@login_required
def campaign_export(campaign_id: int) -> Any:
    d, _brand = _campaign_dashboard(campaign_id)
    return _csv(d, f"yima-campaign-{campaign_id}-{d.period.days}d.csv")
