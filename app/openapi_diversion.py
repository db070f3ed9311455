"""The 窜货 routes of the channel API in the OpenAPI document (app/diversion_api.py; joined by app/openapi.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.diversion_api import MAX_CODE, SQL_INT_MAX
from app.openapi_audit import _query
from channel.diversion import PERIODS
from channel.inspection import LOCATION_SOURCES, NOT_GENUINE
from channel.models import ChannelJudgementDaily

_TIME = {"type": ["string", "null"], "format": "date-time"}
_DAY = {"type": "string", "format": "date", "description": "A day of China time, 2000-01-01 to 2099-12-31."}
_PLACE = {"type": "object", "additionalProperties": False, "required": ["adcode", "province", "city"],
          "properties": {"adcode": {"type": "string", "description": "The city's GB/T 2260 code (the province's "
                                                                    "when only the province is known)."},
                         "province": {"type": "string"}, "city": {"type": "string"}}}
_NULLABLE_PLACE = {"anyOf": [_PLACE, {"type": "null"}]}
_REGION_COUNT = {"type": "object", "additionalProperties": False, "required": ["adcode", "province", "city", "scans"],
                 "properties": {**_PLACE["properties"], "scans": {"type": "integer"}}}
LINE = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "code", "name", "parent_id", "territory", "normal", "diverted", "unlocated", "share",
                 "last_seen"],
    "properties": {
        "id": {"type": "integer"}, "code": {"type": "string", "description": "The brand's dealer number."},
        "name": {"type": "string"}, "parent_id": {"type": ["integer", "null"]},
        "territory": {"type": "array", "items": {"type": "string"}, "description": "GB/T 2260 adcode prefixes."},
        "normal": {"type": "integer", "description": "Consumer scans inside the territory, in the window."},
        "diverted": {"type": "integer", "description": "Consumer scans outside it (窜货), in the window."},
        "unlocated": {"type": "integer", "description": "Consumer scans without a location, in the window."},
        "share": {"type": ["number", "null"], "description": "diverted / (normal + diverted); null: none located."},
        "last_seen": {**_TIME, "description": "Its newest 窜货 scan, ever."},
    },
}
REPORT = {
    "type": "object", "additionalProperties": False,
    "required": ["distributor", "since", "until", "period", "items", "regions", "periods", "samples", "first_seen",
                 "children"],
    "properties": {
        "distributor": LINE,
        "since": {"type": "string", "format": "date"}, "until": {"type": "string", "format": "date"},
        "period": {"enum": list(PERIODS)},
        "items": {"type": "integer", "description": "Distinct codes scanned out of territory in the window."},
        "regions": {"type": "array", "items": _REGION_COUNT, "description": "Where, most first."},
        "periods": {"type": "array", "description": "Newest first; only periods with located scans.", "items": {
            "type": "object", "additionalProperties": False, "required": ["start", "located", "diverted"],
            "properties": {"start": {"type": "string", "format": "date"}, "located": {"type": "integer"},
                           "diverted": {"type": "integer"}}}},
        "samples": {"type": "array", "description": "The newest 窜货 scans.", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["code", "batch_id", "serial", "region", "region_source", "scanned_at"],
            "properties": {"code": {"type": "string"}, "batch_id": {"type": "integer"}, "serial": {"type": "integer"},
                           "region": _NULLABLE_PLACE, "region_source": {"type": "string"}, "scanned_at": _TIME}}},
        "first_seen": {**_TIME, "description": "Its first 窜货 scan, ever."},
        "children": {"type": "array", "items": LINE, "description": "Its sub-distributors the caller sees."},
    },
}
OVERVIEW = {
    "type": "object", "additionalProperties": False, "required": ["since", "until", "no_record", "distributors"],
    "properties": {
        "since": {"type": "string", "format": "date"}, "until": {"type": "string", "format": "date"},
        "no_record": {"type": ["integer", "null"], "description": "Scans of items with no outbound record "
                                                                 "(brand-wide callers; null for a distributor)."},
        "distributors": {"type": "array", "items": LINE, "description": "Most diverted first."},
    },
}
ALERTS = {
    "type": "object", "additionalProperties": False, "required": ["days", "alerts"],
    "properties": {"days": {"type": "integer"}, "alerts": {"type": "array", "items": {
        **LINE, "required": [*LINE["required"], "regions"],
        "properties": {**LINE["properties"], "regions": {"type": "array", "items": _REGION_COUNT}}}}},
}
_PARTY = {"anyOf": [{"type": "null"}, {
    "type": "object", "additionalProperties": False, "required": ["kind", "id", "name", "code"],
    "properties": {"kind": {"enum": ["warehouse", "distributor", "store"]}, "id": {"type": ["integer", "null"]},
                   "name": {"type": "string"}, "code": {"type": "string"}}}]}
INSPECTION = {
    "type": "object", "additionalProperties": False,
    "required": ["verdict", "genuine", "reason", "code", "role", "product", "sku", "lot", "production_date",
                 "batch_id", "serial", "case", "path", "distributor", "territory", "region", "region_source"],
    "properties": {
        "verdict": {"enum": [*ChannelJudgementDaily.VERDICTS, NOT_GENUINE],
                    "description": "normal: inside the responsible distributor's territory; diverted (窜货): "
                                   "outside; no_record: no outbound record; unlocated: no place to judge; "
                                   "not_genuine: forged, mangled or another brand's."},
        "genuine": {"type": "boolean"}, "reason": {"type": "string", "description": "Why not genuine."},
        "code": {"type": "string"}, "role": {"type": "string"}, "product": {"type": "string"},
        "sku": {"type": "string"}, "lot": {"type": "string"},
        "production_date": {"type": ["string", "null"], "format": "date"},
        "batch_id": {"type": ["integer", "null"]}, "serial": {"type": ["integer", "null"]},
        "case": {"type": ["integer", "null"]},
        "path": {"type": "array", "description": "Its live shipments, oldest first.", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["shipment_id", "from", "to", "state", "shipped_at", "received_at"],
            "properties": {"shipment_id": {"type": "integer"}, "from": _PARTY, "to": _PARTY,
                           "state": {"type": "string"}, "shipped_at": _TIME, "received_at": _TIME}}},
        "distributor": _PARTY, "territory": {"type": "array", "items": {"type": "string"}},
        "region": _NULLABLE_PLACE, "region_source": {"enum": list(LOCATION_SOURCES)},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def diversion_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = _query("brand", "The brand's slug: the platform token must name it; a seat's or a brand's token "
                            "acts in its own brand.", {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"})
    window = [_query("since", "First day (default: 30 days before `until`).", _DAY),
              _query("until", "Last day, included (default: today).", _DAY)]
    scope_errors = {
        "400": _error("A parameter is wrong (code invalid_channel; `field` names it)."),
        "404": _error("No such brand or distributor, or not one the token sees (another's reads the same)."),
    }
    report = ops("getDiversion", "One distributor's 窜货 report (with `distributor`), else every distributor the "
                 "token sees, most diverted first", "The report, or the overview.",
                 {"oneOf": [REPORT, OVERVIEW]}, body=None, extra=scope_errors, params=[
                     brand, _query("distributor", "A distributor's id.",
                                   {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}),
                     *window, _query("period", "How the report's periods are cut (default day).",
                                     {"enum": list(PERIODS)})])
    alerts = ops("listDiversionAlerts", "Distributors with 窜货 scans in the last days, with where", "The alerts.",
                 ALERTS, body=None, extra=scope_errors,
                 params=[brand, _query("days", "Days back, today included (default 7).",
                                       {"type": "integer", "minimum": 1, "maximum": 90})])
    body = {"type": "object", "additionalProperties": False, "required": ["code"], "properties": {
        "code": {"type": "string", "minLength": 1, "maxLength": MAX_CODE, "description": "A code or a scan URL."},
        "adcode": {"type": "string", "pattern": "^[0-9]{6}$",
                   "description": "Where the check happens (GB/T 2260); without it the caller's address places it."}}}
    inspect = ops("inspectCode", "The inspector's check (稽查): whom the item was shipped to and whether this place "
                  "is outside that distributor's territory (audited; not a consumer scan)", "The check.",
                  INSPECTION, body=body, params=[brand], extra={
                      **scope_errors, "403": _error("Only brand staff and inspectors check codes (code forbidden)."),
                      "503": _error("The master key file is missing, or the database is unreachable.")})
    return {"/api/v1/channel/diversion": {"get": report}, "/api/v1/channel/diversion/alerts": {"get": alerts},
            "/api/v1/channel/inspect": {"post": inspect}}
