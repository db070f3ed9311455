"""Shipments through the API: bulk 出库 from scanner guns, PDAs and CSV files; 入库; undo; an item's path.

POST /shipments takes JSON, text/plain or text/csv (app/shipment_upload.py) and ships in one call, all or
nothing (channel.bulk_ship). Its body may be up to BULK_MAX_BYTES (8 MiB: about 100,000 scan URLs;
200,000 lines at most); every other request keeps the app's 64 KiB. A seat's token (role "channel") acts as
the seat; a brand's token as brand staff; the platform token names the brand with ?brand=<slug>.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.auth import csrf
from app.channel_access import api_scope, code_keys
from app.errors import error_response, json_errors
from app.rules_api import require_api_token
from app.shipment_upload import SQL_INT_MAX, Upload, UploadError, from_json, from_text
from channel.bulk_ship import bulk_ship
from channel.shipment_queries import (
    MAX_PAGE,
    ChannelRecord,
    FlagView,
    Party,
    RangeView,
    ShipmentView,
    channel_record,
    list_shipments,
    shipment_detail,
)
from channel.shipments import MAX_REASON, receive, undo
from codegen.db import transaction

bp = Blueprint("shipments_api", __name__, url_prefix="/api/v1/channel")
bp.before_request(require_api_token)
json_errors(bp)
csrf.exempt(bp)  # Bearer-authenticated JSON: no cookie, so no CSRF to forge
BULK_MAX_BYTES = 8 * 1024 * 1024
LIST_PARAMETERS = frozenset({"brand", "state", "direction", "limit", "before_id"})


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()  # SQLite: naive UTC


def party_json(p: Party) -> dict[str, Any]:
    return {"kind": p.kind, "id": p.id, "name": p.name, "code": p.code}


def range_json(r: RangeView) -> dict[str, Any]:
    return {"batch_id": r.batch_id, "lot": r.lot, "sku": r.sku, "product": r.product, "first_case": r.first_case,
            "last_case": r.last_case, "cases": r.cases, "first_item": r.first_item, "last_item": r.last_item}


def flag_json(f: FlagView) -> dict[str, Any]:
    return {"id": f.id, "kind": f.kind, "batch_id": f.batch_id, "first_case": f.first_case,
            "last_case": f.last_case, "other_shipment_id": f.other_shipment_id, "created_at": _iso(f.created_at),
            "resolved_at": _iso(f.resolved_at)}


def shipment_json(v: ShipmentView, *, detail: bool = True) -> dict[str, Any]:
    out = {"id": v.id, "state": v.state, "reference": v.reference, "from": party_json(v.sender),
           "to": party_json(v.receiver), "case_count": v.case_count, "item_count": v.item_count,
           "created_by": v.created_by, "created_at": _iso(v.created_at), "shipped_at": _iso(v.shipped_at),
           "received_at": _iso(v.received_at), "received_by": v.received_by, "undone_at": _iso(v.undone_at),
           "undo_reason": v.undo_reason}
    if detail:
        out["ranges"] = [range_json(r) for r in v.ranges]
        out["flags"] = [flag_json(f) for f in v.flags]
    return out


def record_json(r: ChannelRecord) -> dict[str, Any]:
    return {"code": r.code, "role": r.role, "batch": {"id": r.batch_id, "lot": r.lot, "product": r.product},
            "case": r.case, "items": {"first": r.first_item, "last": r.last_item},
            "hops": [shipment_json(h, detail=False) for h in r.hops],
            "responsible_distributor": party_json(r.responsible) if r.responsible else None}


def _upload() -> Upload | tuple[Any, int]:
    mimetype = request.mimetype
    if mimetype == "application/json":
        body = request.get_json(silent=True)
        if body is None:
            raise UploadError("the body is not valid JSON")
        return from_json(body)
    if mimetype in ("text/csv", "text/plain"):
        return from_text(request.get_data(cache=False), mimetype, request.args.to_dict())
    return error_response(415, "unsupported_media_type", "send application/json, text/csv or text/plain")


@bp.post("/shipments")
def create() -> Any:
    # This route alone takes a bulk upload: the bound must be set before anything reads the body.
    request.max_content_length = BULK_MAX_BYTES
    scope = api_scope()
    upload = _upload()
    if not isinstance(upload, Upload):
        return upload
    with transaction(_sessions()) as s:
        result = bulk_ship(s, scope, code_keys(), lines=upload.lines, to_distributor_id=upload.to_distributor,
                           to_store_id=upload.to_store, reference=upload.reference)
        view = shipment_detail(s, scope, result.shipment.id)
    return jsonify({**shipment_json(view), "lines": len(upload.lines), "duplicates": result.duplicates}), 201


def _int_arg(name: str, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    if not raw.isdigit() or len(raw) > 10 or not low <= int(raw) <= high:
        raise UploadError(f"{name} must be an integer from {low} to {high}")
    return int(raw)


@bp.get("/shipments")
def index() -> Any:
    unknown = set(request.args) - LIST_PARAMETERS
    if unknown:
        raise UploadError(f"unknown parameter(s): {', '.join(sorted(unknown))}")
    limit = _int_arg("limit", 1, MAX_PAGE) or 50
    before_id = _int_arg("before_id", 1, SQL_INT_MAX)
    scope = api_scope()
    with _sessions()() as s:
        rows = list_shipments(s, scope, direction=request.args.get("direction", ""),
                              state=request.args.get("state", ""), limit=limit, before_id=before_id)
    return jsonify({"shipments": [shipment_json(v, detail=False) for v in rows],
                    "next_before_id": rows[-1].id if len(rows) == limit else None})


@bp.get("/shipments/<int:shipment_id>")
def show(shipment_id: int) -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(shipment_json(shipment_detail(s, scope, shipment_id)))


@bp.post("/shipments/<int:shipment_id>/receive")
def receive_shipment(shipment_id: int) -> Any:
    scope = api_scope()
    with transaction(_sessions()) as s:
        receive(s, scope, shipment_id)
        return jsonify(shipment_json(shipment_detail(s, scope, shipment_id)))


@bp.post("/shipments/<int:shipment_id>/undo")
def undo_shipment(shipment_id: int) -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) - {"reason"} or not isinstance(body.get("reason"), str):
        raise UploadError(f'send {{"reason": "..."}} (at most {MAX_REASON} characters)')
    scope = api_scope()
    with transaction(_sessions()) as s:
        undo(s, scope, shipment_id, body["reason"])
        return jsonify(shipment_json(shipment_detail(s, scope, shipment_id)))


@bp.get("/items/<code>/path")
def item_path(code: str) -> Any:
    scope = api_scope()
    with _sessions()() as s:
        return jsonify(record_json(channel_record(s, scope, code, code_keys())))
