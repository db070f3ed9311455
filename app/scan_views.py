"""The consumer H5 page: GET /q/<CODE> (any case, /Q/ too). The scan happens when the page is opened.

When a campaign that could take the scan needs a region the scan does not have, the page draws nothing
yet: it carries a draw ticket, asks the phone for its location (static/scan_location.js) and posts both to
POST /q/<CODE>/draw, which draws as the scan would have (docs/scan-path.md, "Location before the draw").
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from flask import Blueprint, Response, current_app, g, make_response, render_template, request, url_for
from itsdangerous import BadSignature, URLSafeTimedSerializer
from redis.exceptions import RedisError

from app.errors import page_errors
from app.i18n import COOKIE, choose_language, translate
from app.metrics import count_draws, count_scan
from app.voucher_panel import VoucherPanel, voucher_panel
from codegen.codeformat import MAX_INPUT_LENGTH
from rules.campaign import Prize
from rules.draw import DrawResult
from rules.draw_ticket import InvalidTicket
from rules.enumeration import SourceBlocked
from rules.receipts import InvalidReceipt
from rules.region import Region, default_index
from rules.scan import RATE_LIMITED, NotGenuine, Scanner, ScanRequest, ScanResult, ScanUnavailable

bp = Blueprint("scan", __name__)
page_errors(bp)

DEVICE_COOKIE = "yima_did"
RECEIPTS_COOKIE = "yima_rc"  # award receipts this phone won, newest first, "~"-separated
KEEP_RECEIPTS = 4  # ~300 characters each: well inside a browser's 4 KB per cookie
CHINA = ZoneInfo("Asia/Shanghai")
VIEW_TOKEN_SECONDS = 600


def scanner() -> Scanner:
    return current_app.extensions["yima.scanner"]  # type: ignore[no-any-return]


def device_id() -> str:
    did = request.cookies.get(DEVICE_COOKIE, "")
    return did if len(did) == 32 and did.isalnum() else secrets.token_hex(16)


def kept_receipts() -> list[tuple[str, str]]:
    """The (code, receipt) pairs this phone's cookie holds ("CODE:receipt" entries, newest first); a
    receipt is verified only when its code is scanned."""
    raw = request.cookies.get(RECEIPTS_COOKIE, "")
    entries = raw.split("~")[:KEEP_RECEIPTS] if raw and len(raw) < 4096 else []
    return [(code, receipt) for code, _, receipt in (e.partition(":") for e in entries) if receipt]


def _page(template: str, status: int, did: str, view: str = "", receipts: list[tuple[str, str]] | None = None,
          switch_path: str = "", **context: Any) -> Response:
    other = "en" if g.lang == "zh" else "zh"
    switch = switch_path + "?" + urlencode({"lang": other, **({"v": view} if view else {})})
    resp = make_response(render_template(template, lang=g.lang, switch_href=switch, **context), status)
    # Secure over HTTPS (X-Forwarded-Proto counts behind YIMA_TRUSTED_PROXIES); plain HTTP is the local demo.
    secure = request.is_secure
    resp.set_cookie(DEVICE_COOKIE, did, max_age=2 * 365 * 86400, httponly=True, samesite="Lax", secure=secure)
    if receipts is not None:
        entries = [f"{code}:{receipt}" for code, receipt in receipts[:KEEP_RECEIPTS]]
        resp.set_cookie(RECEIPTS_COOKIE, "~".join(entries), max_age=365 * 86400, httponly=True,
                        samesite="Lax", secure=secure)
    if request.args.get("lang") == g.lang:
        resp.set_cookie(COOKIE, g.lang, max_age=365 * 86400, samesite="Lax", secure=secure)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _views() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="yima/scan-view")


def view_token(result: ScanResult) -> str:
    """A signed snapshot of what this page showed, so switching language re-renders without re-scanning."""
    first = result.first_at.timestamp() if result.first_at else None
    adcode = result.first_region.adcode if result.first_region else None
    draws = [[d.campaign_id, d.outcome, d.prize.kind if d.prize else "", d.prize.name if d.prize else "",
              d.amount_fen, d.points, d.coupon, d.award_id] for d in result.draws]
    held = [result.ticket, [c.id for c in result.pending]] if result.ticket else []
    return _views().dumps([result.code, result.status, result.scan_count, first, adcode,
                           result.first_by_this_device, draws, result.risk, *held])


def from_view_token(token: str, code: str) -> ScanResult | None:
    try:
        saved, status, count, first, adcode, mine, draws, risk, *held = _views().loads(token,
                                                                                    max_age=VIEW_TOKEN_SECONDS)
        identified, fields, batch = scanner().identify(code)
    except (BadSignature, NotGenuine, ValueError, TypeError):
        return None
    if saved != identified:
        return None
    ticket, pending_ids = held if len(held) == 2 else ("", [])
    pending = tuple(c for c in scanner().rules().campaigns if c.id in pending_ids)
    return ScanResult(
        status=status, code=identified, fields=fields, batch=batch, scan_count=count,
        first_at=datetime.fromtimestamp(first, UTC) if first else None,
        first_region=default_index().lookup(adcode) if adcode else None,
        region=None, event_id="", first_by_this_device=mine, ticket=ticket if pending else "", pending=pending,
        risk=risk if isinstance(risk, str) else "allow",
        draws=tuple(DrawResult(cid, outcome, Prize(-2, kind, name, 0.0) if kind else None, amount, points, coupon,
                               award_id) for cid, outcome, kind, name, amount, points, coupon, award_id in draws),
    )


def describe_first(result: ScanResult) -> tuple[str, str]:
    """(time, place) of the first scan, China time, city-level place."""
    if result.first_at is None:
        return "", ""
    when = result.first_at.astimezone(CHINA).strftime("%Y-%m-%d %H:%M")
    region = result.first_region
    place = (region.city or region.province) if region else ""
    return when, place


@bp.get("/q/<code>")
@bp.get("/Q/<code>")
def scan_page(code: str) -> Response:
    g.lang = choose_language()
    did = device_id()
    if len(code) > MAX_INPUT_LENGTH:
        count_scan("page", "not_genuine")
        return _page("not_genuine.html", 404, did)
    token = request.args.get("v", "")
    shown = from_view_token(token, code) if token and len(token) < 600 else None
    kept = kept_receipts()
    mine = tuple(receipt for c, receipt in kept if c == code.upper())
    try:
        try:
            result = shown or scanner().scan(ScanRequest(code=code, ip=request.remote_addr or "", device_id=did,
                                                         receipts=mine), defer_for_location=True, tell_repeats=True)
        except InvalidReceipt:  # signed with another key (or altered): forget them; nothing was counted yet
            kept = [(c, receipt) for c, receipt in kept if receipt not in mine]
            result = scanner().scan(ScanRequest(code=code, ip=request.remote_addr or "", device_id=did),
                                    defer_for_location=True, tell_repeats=True)
    except NotGenuine:
        count_scan("page", "not_genuine")
        return _page("not_genuine.html", 404, did)
    except SourceBlocked as exc:
        count_scan("page", "blocked")
        resp = _page("rate_limited.html", 429, did)
        resp.headers["Retry-After"] = str(exc.retry_after)
        return resp
    except (RedisError, ScanUnavailable) as exc:
        count_scan("page", "unavailable")
        current_app.logger.warning("scan page unavailable: %s", exc.__class__.__name__)
        return _page("unavailable.html", 503, did)
    if not shown:  # a language switch re-renders a scan already counted
        count_scan("page", result.status, result.draws)
    if result.status == RATE_LIMITED:
        return _page("rate_limited.html", 429, did)
    first_time, first_place = describe_first(result)
    won = [(result.code, d.receipt) for d in result.draws if d.receipt]
    receipts = [*won, *(pair for pair in kept if pair not in won)] if won else None
    return _page("scan.html", 200, did, r=result, first_time=first_time, first_place=first_place,
                 view=token if shown else view_token(result), receipts=receipts, locate=locate_context(result),
                 vouchers=voucher_panels(result))


def _coordinate(raw: str | None, low: float, high: float) -> float | None:
    try:
        value = float(raw) if raw else None
    except ValueError:
        return None
    return value if value is not None and low <= value <= high else None  # NaN fails the comparison too


@bp.post("/q/<code>/draw")
@bp.post("/Q/<code>/draw")
def draw_page(code: str) -> Response:
    """The draw a scan held for the phone's location: the ticket from the page, the location if the phone
    gave one. CSRF-exempt (app/__init__.py): the ticket is bound to this code and the device cookie, and
    what a forged post could do is draw for the phone that owns the ticket, where it would draw anyway."""
    g.lang = choose_language()
    did = request.cookies.get(DEVICE_COOKIE, "")
    if len(code) > MAX_INPUT_LENGTH:
        return _page("not_genuine.html", 404, did or device_id())
    lat, lng = _coordinate(request.form.get("lat"), -90, 90), _coordinate(request.form.get("lng"), -180, 180)
    if lat is None or lng is None:
        lat = lng = None
    token = request.form.get("ticket", "")
    kept = kept_receipts()
    mine = tuple(receipt for c, receipt in kept if c == code.upper())
    try:
        result = scanner().draw_located(token, ScanRequest(code=code, ip=request.remote_addr or "", device_id=did,
                                                           lat=lat, lng=lng, receipts=mine))
    except NotGenuine:
        return _page("not_genuine.html", 404, did or device_id())
    except (InvalidTicket, InvalidReceipt):
        return _page("ticket_invalid.html", 400, did or device_id())
    except (RedisError, ScanUnavailable) as exc:
        current_app.logger.warning("draw page unavailable: %s", exc.__class__.__name__)
        return _page("unavailable.html", 503, did or device_id())
    count_draws(result.draws)
    if result.status == RATE_LIMITED:
        return _page("rate_limited.html", 429, did)
    if result.pending:
        result = replace(result, ticket=token)  # the same ticket for another try
    won = [(result.code, d.receipt) for d in result.draws if d.receipt]
    receipts = [*won, *(pair for pair in kept if pair not in won)] if won else None
    return _page("scan.html", 200, did, r=result, first_time="", first_place="", receipts=receipts,
                 locate=locate_context(result, tried=True), switch_path=url_for("scan.scan_page", code=result.code),
                 vouchers=voucher_panels(result))


def voucher_panels(result: ScanResult) -> dict[str, VoucherPanel]:
    """The redemption QR of each voucher prize on the page, by award id (no SQL: the page asks for the
    voucher's state afterwards)."""
    panels = (voucher_panel(d.award_id) for d in result.draws if d.prize and d.prize.kind == "voucher" and d.award_id)
    return {p.award_id: p for p in panels if p is not None}


def _region_name(region: Region | None) -> str:
    return (region.district or region.city or region.province) if region else ""


def locate_context(result: ScanResult, tried: bool = False) -> dict[str, Any] | None:
    """What the page says while a draw waits for the location: the campaigns' regions, where the scan
    was placed and how, and the wx.config of the page inside WeChat (when the JS-SDK is set up)."""
    if not result.pending:
        return None
    index = default_index()
    names: list[str] = []
    for c in result.pending:
        for prefix in c.region_include:
            name = _region_name(index.lookup(prefix.ljust(6, "0")))
            if name and name not in names:
                names.append(name)
    regions = ("、" if g.lang == "zh" else ", ").join(names) if names else translate("locate_some_regions")
    place = _region_name(result.region)
    if result.region_source == "gps" and place:
        where = translate("locate_where_gps", place=place)
    elif result.region_source == "ip" and place:
        where = translate("locate_where_ip", place=place)
    else:
        where = translate("locate_where_unknown")
    wx = wechat_config()
    return {"regions": regions, "where": where, "tried": tried, "wx": wx, "sdk": WX_SDK if wx and _has_sdk() else ""}


# WeChat's JS-SDK is not shipped (no copy under a licence we could check; docs/location.md): an operator who
# has one puts it here and the page loads it inside WeChat. Without it the page uses the browser's location.
WX_SDK = "vendor/jweixin.js"


def _has_sdk() -> bool:
    return bool(current_app.static_folder) and os.path.exists(os.path.join(current_app.static_folder or "", WX_SDK))


def wechat_config() -> str:
    """wx.config's arguments as JSON for a page opened inside WeChat, "" elsewhere or when not set up."""
    tickets = current_app.extensions.get("yima.jssdk")
    if tickets is None or "MicroMessenger" not in request.headers.get("User-Agent", ""):
        return ""
    try:
        return json.dumps(tickets.config_for(request.url))
    except Exception as exc:  # the MP API down: the page falls back to the browser's location
        current_app.logger.warning("wx.config unavailable: %s", exc.__class__.__name__)
        return ""
