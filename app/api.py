"""JSON API v1: POST /api/v1/scans and the OpenAPI document. Errors: {"error": {"code", "message"}}."""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, current_app, jsonify, request

from app.errors import RequestError, error_response, json_errors
from app.metrics import count_scan, count_scan_refused
from app.openapi import OPENAPI
from codegen.codeformat import MAX_INPUT_LENGTH
from codegen.errors import Kind
from rules.draw import DrawResult
from rules.receipts import MAX_LENGTH as RECEIPT_LENGTH
from rules.region import Region
from rules.scan import RATE_LIMITED, Scanner, ScanRequest, ScanResult

bp = Blueprint("api", __name__, url_prefix="/api/v1")
json_errors(bp)

MAX_BODY = 8192
# fullmatch, ASCII only: "$" alone would let a trailing newline through, and \d any script's digits.
_DEVICE = re.compile(r"[A-Za-z0-9_.:-]{1,64}")
_ADCODE = re.compile(r"[0-9]{6}")
_FIELDS = frozenset({"code", "lat", "lng", "adcode", "device_id", "member_token", "receipts"})
MAX_RECEIPTS = 5


class BadRequest(RequestError):
    """The scan request's body is not what the API takes; the message says which field and why."""

    code = "invalid_request"
    kind = Kind.INVALID


def _number(body: dict[str, Any], name: str, low: float, high: float) -> float | None:
    value = body.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"{name} must be a number")
    # Range first, float() after: JSON allows integers of any size (float() of 1e400 as an int overflows),
    # and NaN and ±Infinity fail the comparison too.
    if not low <= value <= high:
        raise BadRequest(f"{name} must be between {low} and {high}")
    return float(value)


def _string(body: dict[str, Any], name: str, pattern: re.Pattern[str] | None, max_len: int) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise BadRequest(f"{name} must be a non-empty string of at most {max_len} characters")
    if pattern is not None and not pattern.fullmatch(value):
        raise BadRequest(f"{name} has an invalid format")
    return value


def parse_scan_request(body: Any) -> ScanRequest:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object")
    unknown = body.keys() - _FIELDS
    if unknown:
        raise BadRequest(f"unknown field(s): {', '.join(sorted(unknown))}")
    code = _string(body, "code", None, MAX_INPUT_LENGTH)
    if code is None:
        raise BadRequest("code is required")
    lat, lng = _number(body, "lat", -90, 90), _number(body, "lng", -180, 180)
    if (lat is None) != (lng is None):
        raise BadRequest("lat and lng go together")
    receipts = body.get("receipts", [])
    if not isinstance(receipts, list) or len(receipts) > MAX_RECEIPTS or not all(
            isinstance(t, str) and 0 < len(t) <= RECEIPT_LENGTH for t in receipts):
        raise BadRequest(f"receipts must be a list of at most {MAX_RECEIPTS} award receipts")
    return ScanRequest(
        receipts=tuple(receipts),
        code=code,
        ip=request.remote_addr or "",
        device_id=_string(body, "device_id", _DEVICE, 64) or "",
        adcode=_string(body, "adcode", _ADCODE, 6),
        lat=lat,
        lng=lng,
        member_token=_string(body, "member_token", None, 256),
    )


def region_json(region: Region | None) -> dict[str, str] | None:
    if region is None:
        return None
    return {"adcode": region.adcode, "province": region.province, "city": region.city, "district": region.district}


def draw_json(d: DrawResult) -> dict[str, Any]:
    prize = d.prize
    return {
        "campaign_id": d.campaign_id,
        "outcome": d.outcome,
        "awarded": d.awarded,
        "prize": None if prize is None else {"kind": prize.kind, "name": prize.name},
        "amount_fen": d.amount_fen,
        "points": d.points,
        "coupon": d.coupon or None,
        "award_id": d.award_id or None,
        "receipt": d.receipt or None,
        "held": d.held,
    }


def scan_json(r: ScanResult) -> dict[str, Any]:
    return {
        "genuine": True,
        "code": r.code,
        "role": r.fields.role.label,
        "serial": r.fields.serial,
        "status": r.status,
        "on_sale": r.status in ("first", "repeat"),
        "scan_count": r.scan_count,
        "first_scan": None if r.first_at is None else {
            "at": r.first_at.isoformat(), "region": region_json(r.first_region)},
        "region": region_json(r.region),
        "region_source": r.region_source,
        "product": {"name": r.batch.product, "sku": r.batch.sku, "gtin": r.batch.gtin or None, "brand": r.batch.brand},
        "batch": {"id": r.batch.batch_id, "lot": r.batch.lot, "production_date": r.batch.production_date or None},
        "reward": [draw_json(d) for d in r.draws] or None,
        "rules_version": r.rules_version,
        "event_id": r.event_id,
        "risk": r.risk,
    }


@bp.post("/scans")
def create_scan() -> Any:
    if request.content_length is not None and request.content_length > MAX_BODY:
        count_scan("api", "invalid_request")
        return error_response(413, "too_large", f"request body over {MAX_BODY} bytes")
    scanner: Scanner = current_app.extensions["yima.scanner"]
    try:
        result = scanner.scan(parse_scan_request(request.get_json(silent=True)))
    except Exception as exc:  # counted here, answered by json_errors (not genuine, a bad token, blocked, ...)
        count_scan_refused("api", exc)
        raise
    count_scan("api", result.status, result.draws)
    if result.status == RATE_LIMITED:
        resp, status = error_response(429, "rate_limited", "too many scans; retry in a minute")
        resp.headers["Retry-After"] = "60"
        return resp, status
    return jsonify(scan_json(result))


@bp.get("/openapi.json")
def openapi() -> Any:
    return jsonify(OPENAPI)
