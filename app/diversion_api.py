"""窜货 through the API (Bearer: a seat's token, a brand token, or the platform token with ?brand=<slug>).

GET  /api/v1/channel/diversion?distributor=<id>&since=&until=&period=   one distributor's report; without
     `distributor` the overview of every distributor the token sees
GET  /api/v1/channel/diversion/alerts?days=7                            distributors flagged in the last days
POST /api/v1/channel/inspect {"code": "...", "adcode": "440305"?}       the inspector's check (audited);
     without an adcode, the caller's address places it
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.channel_access import api_scope, code_keys
from app.dist_diversion_views import today
from app.errors import json_errors
from app.rules_api import require_api_token
from channel import diversion, inspection
from channel.errors import InvalidChannel
from codegen.db import transaction
from rules.scan import Scanner, ScanRequest

bp = Blueprint("diversion_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)

SQL_INT_MAX = 2**31 - 1
MAX_CODE = 512


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()  # SQLite: naive UTC


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise InvalidChannel(f"{name} must be a whole number from {low} to {high}", name)
    return int(raw)


def _date_arg(name: str) -> date | None:
    return diversion.parse_day(request.args.get(name, ""), name)


def place_json(p: diversion.Place | None) -> dict[str, str] | None:
    return None if p is None else {"adcode": p.adcode, "province": p.province, "city": p.city}


def line_json(line: diversion.DistributorLine) -> dict[str, Any]:
    return {"id": line.id, "code": line.code, "name": line.name, "parent_id": line.parent_id,
            "territory": list(line.territory), "normal": line.normal, "diverted": line.diverted,
            "unlocated": line.unlocated, "share": line.share, "last_seen": _iso(line.last_seen)}


def regions_json(regions: tuple[diversion.RegionCount, ...]) -> list[dict[str, Any]]:
    return [{**(place_json(r.place) or {}), "scans": r.scans} for r in regions]


def report_json(r: diversion.DiversionReport) -> dict[str, Any]:
    return {
        "distributor": line_json(r.distributor), "since": r.window.since.isoformat(),
        "until": r.window.until.isoformat(), "period": r.period, "items": r.items,
        "regions": regions_json(r.regions),
        "periods": [{"start": p.start.isoformat(), "located": p.located, "diverted": p.diverted} for p in r.periods],
        "samples": [{"code": s.code, "batch_id": s.batch_id, "serial": s.serial, "region": place_json(s.place),
                     "region_source": s.region_source, "scanned_at": _iso(s.scanned_at)} for s in r.samples],
        "first_seen": _iso(r.first_seen), "children": [line_json(c) for c in r.children],
    }


@bp.get("/diversion")
def report() -> Any:
    scope = api_scope()
    w = diversion.window(_date_arg("since"), _date_arg("until"), today())
    distributor_id = _int_arg("distributor", None, 1, SQL_INT_MAX)
    period = request.args.get("period", "day")
    if period not in diversion.PERIODS:
        raise InvalidChannel(f"period must be one of {', '.join(diversion.PERIODS)}", "period")
    with _sessions()() as s:
        if distributor_id is not None:
            return jsonify(report_json(diversion.distributor_report(s, scope, distributor_id, w, period)))
        found = diversion.overview(s, scope, w)
    return jsonify({"since": w.since.isoformat(), "until": w.until.isoformat(), "no_record": found.no_record,
                    "distributors": [line_json(line) for line in found.lines]})


@bp.get("/diversion/alerts")
def alerts() -> Any:
    scope = api_scope()
    days = _int_arg("days", 7, 1, 90) or 7
    with _sessions()() as s:
        found = diversion.alerts(s, scope, today(), days)
    return jsonify({"days": days, "alerts": [{**line_json(a.line), "regions": regions_json(a.regions)}
                                             for a in found]})


def inspection_json(i: inspection.Inspection) -> dict[str, Any]:
    def party(p: inspection.Party | None) -> dict[str, Any] | None:
        return None if p is None else {"kind": p.kind, "id": p.id, "name": p.name, "code": p.code}

    return {
        "verdict": i.verdict, "genuine": i.genuine, "reason": i.reason, "code": i.code, "role": i.role,
        "product": i.product, "sku": i.sku, "lot": i.lot,
        "production_date": i.production_date.isoformat() if i.production_date else None,
        "batch_id": i.batch_id, "serial": i.serial, "case": i.case,
        "path": [{"shipment_id": st.shipment_id, "from": party(st.sender), "to": party(st.receiver),
                  "state": st.state, "shipped_at": _iso(st.shipped_at), "received_at": _iso(st.received_at)}
                 for st in i.path],
        "distributor": party(i.distributor), "territory": list(i.territory),
        "region": place_json(i.place), "region_source": i.source,
    }


@bp.post("/inspect")
def inspect() -> Any:
    scope = api_scope()
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise InvalidChannel("the body must be a JSON object")
    unknown = sorted(set(body) - {"code", "adcode"})
    if unknown:
        raise InvalidChannel(f"unknown field {unknown[0]!r}", unknown[0])
    text, adcode = body.get("code"), body.get("adcode")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_CODE or "\x00" in text:
        raise InvalidChannel(f"code must be a code or a scan URL (1 to {MAX_CODE} characters)", "code")
    if "adcode" in body and not (isinstance(adcode, str) and len(adcode) == 6 and adcode.isdigit()):
        raise InvalidChannel("adcode must be a GB/T 2260 code of 6 digits", "adcode")
    source = "gps"
    if adcode is None:
        scanner: Scanner = current_app.extensions["yima.scanner"]
        region, source = scanner.locate(ScanRequest("", ip=request.remote_addr or ""))
        adcode = region.adcode if region is not None else None
    with transaction(_sessions()) as s:
        found = inspection.inspect_code(s, scope, text, code_keys(), adcode, source=source)
    return jsonify(inspection_json(found))
