"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}
_REGION = {
    "type": ["object", "null"],
    "description": "GB/T 2260 administrative area; never raw coordinates.",
    "properties": {
        "adcode": {"type": "string", "pattern": "^[0-9]{6}$"},
        "province": {"type": "string"},
        "city": {"type": "string"},
        "district": {"type": "string"},
    },
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "yima scan API",
        "version": "1",
        "description": "Verify a one-item-one-code code and record the scan. The scan path never waits on SQL.",
    },
    "paths": {
        "/api/v1/scans": {
            "post": {
                "operationId": "createScan",
                "summary": "Verify a code and record one scan",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScanRequest"}}},
                },
                "responses": {
                    "200": {
                        "description": "A genuine code; `status` says whether it is on sale and scanned before.",
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Scan"}}},
                    },
                    "400": _error("Malformed request body or field."),
                    "404": _error("Not a genuine code (forged, mangled, or unknown batch)."),
                    "413": _error("Request body too large."),
                    "429": _error("Too many scans, or too many invalid codes, from this address or device; "
                                  "see Retry-After."),
                    "503": _error("Verification temporarily unavailable (Redis unreachable)."),
                },
            }
        },
        "/healthz": {
            "get": {
                "operationId": "health",
                "summary": "Redis and SQL reachability, reported separately",
                "responses": {"200": {"description": "All dependencies reachable."},
                              "503": {"description": "A dependency is down; see the body."}},
            }
        },
    },
    "components": {
        "schemas": {
            "Error": _ERROR,
            "Draw": {
                "type": "object",
                "required": ["campaign_id", "outcome", "awarded", "amount_fen", "points"],
                "properties": {
                    "campaign_id": {"type": "integer"},
                    "outcome": {"enum": ["won", "consolation", "lost", "already_won", "already_drawn", "capped",
                                         "unavailable"],
                                "description": "unavailable: the campaign cannot draw right now (its Redis "
                                               "counters are being restored); scan again shortly."},
                    "awarded": {"type": "boolean", "description": "Something of value was (or had been) won."},
                    "prize": {"type": ["object", "null"],
                              "properties": {"kind": {"type": "string"}, "name": {"type": "string"}}},
                    "amount_fen": {"type": "integer", "description": "Cash in fen (1 元 = 100 fen)."},
                    "points": {"type": "integer"},
                    "coupon": {"type": ["string", "null"], "description": "The coupon code handed out."},
                    "award_id": {"type": ["string", "null"], "description": "The award's id in the ledger."},
                    "receipt": {"type": ["string", "null"], "maxLength": 600,
                                "description": "Signed award receipt: keep it and send it in `receipts` with a "
                                               "later scan of this code to restore an award Redis lost."},
                },
            },
            "Region": _REGION,
            "ScanRequest": {
                "type": "object",
                "required": ["code"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "maxLength": 512,
                             "description": "A code or a scan URL ending in /q/<CODE>."},
                    "lat": {"type": "number", "minimum": -90, "maximum": 90},
                    "lng": {"type": "number", "minimum": -180, "maximum": 180},
                    "adcode": {"type": "string", "pattern": "^[0-9]{6}$", "description": "Overrides lat/lng."},
                    "device_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
                    "member_token": {"type": "string", "maxLength": 256,
                                     "description": "Signed member token from POST /api/v1/members/tokens."},
                    "receipts": {"type": "array", "maxItems": 5,
                                 "items": {"type": "string", "minLength": 1, "maxLength": 600},
                                 "description": "Award receipts this device kept from earlier scans of the code."},
                },
            },
            "Scan": {
                "type": "object",
                "required": ["genuine", "code", "role", "serial", "status", "on_sale", "scan_count", "product",
                             "batch"],
                "properties": {
                    "genuine": {"type": "boolean"},
                    "code": {"type": "string"},
                    "role": {"enum": ["inner", "outer", "case", "pallet"]},
                    "serial": {"type": "integer"},
                    "status": {"enum": ["first", "repeat", "not_on_sale", "void"]},
                    "on_sale": {"type": "boolean"},
                    "scan_count": {"type": "integer",
                                   "description": "Scans on sale including this one; 0 if not on sale."},
                    "first_scan": {
                        "type": ["object", "null"],
                        "properties": {"at": {"type": "string", "format": "date-time"},
                                       "region": {"$ref": "#/components/schemas/Region"}},
                    },
                    "region": {"$ref": "#/components/schemas/Region"},
                    "product": {
                        "type": "object",
                        "properties": {"name": {"type": "string"}, "sku": {"type": "string"},
                                       "gtin": {"type": ["string", "null"]}, "brand": {"type": "string"}},
                    },
                    "batch": {
                        "type": "object",
                        "properties": {"id": {"type": "integer"}, "lot": {"type": "string"},
                                       "production_date": {"type": ["string", "null"]}},
                    },
                    "reward": {
                        "type": ["array", "null"],
                        "description": "One entry per campaign this scan drew in (null: none).",
                        "items": {"$ref": "#/components/schemas/Draw"},
                    },
                    "rules_version": {"type": "integer"},
                    "event_id": {"type": "string"},
                },
            },
        }
    },
}
