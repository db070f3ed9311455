"""窜货 on a phone: the report (brand staff and inspectors: every distributor and the alerts; a distributor:
its own), one distributor's report at /dist/diversion/<id>, and the inspector's (稽查) scan.

The domain is channel/diversion.py (reports) and channel/inspection.py (the check); this module parses the
query, finds where the inspector stands and renders.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, current_app, redirect, render_template, request, session, url_for

from app.auth import login_required, tr
from app.channel_access import code_keys, page_scope
from app.errors import page_errors
from channel import diversion, inspection
from channel.errors import InvalidChannel
from channel.judge import CHINA, DIVERTED, NO_RECORD, NORMAL, UNLOCATED
from channel.models import DISTRIBUTOR
from codegen.db import transaction
from rules.region_tree import region_children, region_label
from rules.scan import Scanner, ScanRequest

bp = Blueprint("dist_diversion", __name__, url_prefix="/dist/diversion")
page_errors(bp)

DAYS = (7, 30, 90)
PICKED = "inspect_region"  # the region an inspector picked last (kept for the next code)
VERDICT_WORDS = {NORMAL: ("正常", "In territory"), DIVERTED: ("窜货", "Diverted"),
                 NO_RECORD: ("无出库记录", "No outbound record"), UNLOCATED: ("位置未知", "Location unknown"),
                 inspection.NOT_GENUINE: ("非正品", "Not genuine")}
SOURCE_WORDS = {"gps": ("手机定位", "phone location"), "pick": ("所选地区", "region chosen"),
                "ip": ("网络地址", "network address"), "none": ("未知", "unknown")}
PERIOD_WORDS = {"day": ("按日", "By day"), "week": ("按周", "By week"), "month": ("按月", "By month")}


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def today() -> date:
    return datetime.now(CHINA).date()


def _date(name: str) -> date | None:
    return diversion.parse_day(request.args.get(name, ""), name)


def asked_window() -> diversion.Window:
    """?since=&until= (dates), else ?days= (7, 30 or 90; default 30)."""
    raw = request.args.get("days", "30")
    if raw not in {str(d) for d in DAYS}:
        raise InvalidChannel(f"days must be one of {', '.join(map(str, DAYS))}", "days")
    return diversion.window(_date("since"), _date("until"), today(), int(raw))


def china_time(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if moment is None:
        return "—"
    if moment.tzinfo is None:  # SQLite: UTC without its zone
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(CHINA).strftime(fmt)


def share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@bp.app_context_processor
def diversion_helpers() -> dict[str, Any]:
    def verdict_word(verdict: str) -> str:
        zh, en = VERDICT_WORDS.get(verdict, (verdict, verdict))
        return tr(zh, en)

    return {"verdict_word": verdict_word, "china_time": china_time, "share": share}


def _render_report(report: diversion.DiversionReport) -> Any:
    return render_template("dist/diversion_report.html", r=report, days=DAYS, periods=PERIOD_WORDS,
                           chosen_days=request.args.get("days", "30"))


@bp.get("")
@login_required
def report() -> Any:
    scope = page_scope()
    w = asked_window()
    with _sessions()() as s:
        if scope.kind == DISTRIBUTOR and scope.distributor_id is not None:
            return _render_report(diversion.distributor_report(s, scope, scope.distributor_id, w,
                                                               request.args.get("period", "day")))
        found = diversion.overview(s, scope, w)
        flagged = diversion.alerts(s, scope, today(), 7)
    return render_template("dist/diversion_overview.html", o=found, alerts=flagged, days=DAYS,
                           chosen_days=request.args.get("days", "30"), scope=scope)


@bp.get("/<int:distributor_id>")
@login_required
def distributor(distributor_id: int) -> Any:
    scope = page_scope()
    w = asked_window()
    with _sessions()() as s:
        found = diversion.distributor_report(s, scope, distributor_id, w, request.args.get("period", "day"))
    return _render_report(found)


def region_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """(province, [(adcode, name)]) for the picker: the whole province first, then its cities."""
    out = []
    for province in region_children(""):
        whole = (province.prefix.ljust(6, "0"), tr(f"{province.name}（全省）", f"{province.name} (whole)"))
        cities = [(c.prefix.ljust(6, "0"), c.name) for c in region_children(province.prefix) if len(c.prefix) == 4]
        out.append((province.name, [whole, *cities]))
    return out


def _float(name: str, bound: float) -> float | None:
    try:
        value = float(request.form.get(name, ""))
    except ValueError:
        return None
    return value if -bound <= value <= bound else None


def where_inspected() -> tuple[str | None, str]:
    """Where the inspector stands: the phone's position, else the region picked, else the client address."""
    scanner: Scanner = current_app.extensions["yima.scanner"]
    lat, lng = _float("lat", 90), _float("lng", 180)
    if lat is not None and lng is not None:
        region, _ = scanner.locate(ScanRequest("", lat=lat, lng=lng))
        if region is not None:
            return region.adcode, "gps"
    picked = request.form.get("region", "")
    if picked:
        if not (len(picked) == 6 and picked.isdigit()):
            raise InvalidChannel(tr("请选择地区", "pick a region from the list"), "region")
        session[PICKED] = picked
        return picked, "pick"
    session.pop(PICKED, None)
    region, source = scanner.locate(ScanRequest("", ip=request.remote_addr or ""))
    return (region.adcode, "ip") if region is not None and source == "ip" else (None, "none")


@bp.route("/inspect", methods=["GET", "POST"])
@login_required
def inspect() -> Any:
    scope = page_scope()
    scope.require(scope.kind in ("brand", "inspector"), "inspect codes")
    result = None
    if request.method == "POST":
        text = request.form.get("code", "").strip()
        if not text:
            return redirect(url_for(".inspect"))
        adcode, source = where_inspected()
        with transaction(_sessions()) as s:
            result = inspection.inspect_code(s, scope, text, code_keys(), adcode, source=source)
    return render_template("dist/diversion_inspect.html", result=result, regions=region_choices(),
                           picked=session.get(PICKED, ""), source_words=SOURCE_WORDS, region_label=region_label)
