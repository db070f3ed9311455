"""The channel's shipments routes (app/shipments_api.py) in the OpenAPI document (joined by app/openapi.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.openapi_audit import _query
from app.shipment_upload import SQL_INT_MAX
from channel.bulk_ship import MAX_BULK_CODES, MAX_PROBLEMS_LISTED
from channel.models import Shipment
from channel.shipment_queries import MAX_PAGE
from channel.shipments import MAX_REASON, MAX_REFERENCE

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}
PARTY = {
    "type": "object", "additionalProperties": False, "required": ["kind", "id", "name", "code"],
    "properties": {"kind": {"enum": ["warehouse", "distributor", "store"]},
                   "id": {"type": ["integer", "null"], "description": "null for the brand's warehouse"},
                   "name": {"type": "string"}, "code": {"type": "string", "description": "a distributor's number"}},
}
_RANGE = {
    "type": "object", "additionalProperties": False,
    "required": ["batch_id", "lot", "sku", "product", "first_case", "last_case", "cases", "first_item", "last_item"],
    "properties": {"batch_id": {"type": "integer"}, "lot": {"type": "string"}, "sku": {"type": "string"},
                   "product": {"type": "string"},
                   "first_case": {"type": "integer"}, "last_case": {"type": "integer", "description": "inclusive"},
                   "cases": {"type": "integer"},
                   "first_item": {"type": "integer", "description": "the first item serial of the first case"},
                   "last_item": {"type": "integer", "description": "the last item serial of the last case"}},
}
_FLAG = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "kind", "batch_id", "first_case", "last_case", "other_shipment_id", "created_at",
                 "resolved_at"],
    "properties": {"id": {"type": "integer"},
                   "kind": {"enum": ["double_ship", "not_held"],
                            "description": "double_ship: these cases are in another live shipment of the same "
                                           "sender to another receiver (other_shipment_id); not_held: the "
                                           "sending distributor never received them"},
                   "batch_id": {"type": "integer"}, "first_case": {"type": "integer"},
                   "last_case": {"type": "integer"}, "other_shipment_id": {"type": ["integer", "null"]},
                   "created_at": _TIME, "resolved_at": _TIME},
}
_SUMMARY_FIELDS: dict[str, Any] = {
    "id": {"type": "integer"},
    "state": {"enum": list(Shipment.STATES),
              "description": "open (being scanned) → shipped → received (入库); shipped or open → undone"},
    "reference": {"type": "string"}, "from": PARTY, "to": PARTY,
    "case_count": {"type": "integer"}, "item_count": {"type": "integer"},
    "created_by": {"type": "string"}, "created_at": _TIME, "shipped_at": _TIME, "received_at": _TIME,
    "received_by": {"type": "string"}, "undone_at": _TIME, "undo_reason": {"type": "string"},
}
SUMMARY = {"type": "object", "additionalProperties": False, "required": list(_SUMMARY_FIELDS),
           "properties": _SUMMARY_FIELDS}
DETAIL = {"type": "object", "additionalProperties": False, "required": [*_SUMMARY_FIELDS, "ranges", "flags"],
          "properties": {**_SUMMARY_FIELDS, "ranges": {"type": "array", "items": _RANGE},
                         "flags": {"type": "array", "items": _FLAG}}}
CREATED = {"type": "object", "additionalProperties": False,
           "required": [*DETAIL["required"], "lines", "duplicates"],
           "properties": {**DETAIL["properties"],
                          "lines": {"type": "integer", "description": "non-blank lines read"},
                          "duplicates": {"type": "integer", "description": "lines repeating a case"}}}
RECORD = {
    "type": "object", "additionalProperties": False,
    "required": ["code", "role", "batch", "case", "items", "hops", "responsible_distributor"],
    "properties": {
        "code": {"type": "string"}, "role": {"enum": ["inner", "outer", "case"]},
        "batch": {"type": "object", "required": ["id", "lot", "product"],
                  "properties": {"id": {"type": "integer"}, "lot": {"type": "string"}, "product": {"type": "string"}}},
        "case": {"type": "integer"},
        "items": {"type": "object", "required": ["first", "last"],
                  "properties": {"first": {"type": "integer"}, "last": {"type": "integer"}}},
        "hops": {"type": "array", "items": SUMMARY,
                 "description": "The live shipments holding the item's case, oldest first (those the caller sees)."},
        "responsible_distributor": {"anyOf": [PARTY, {"type": "null"}],
                                    "description": "Whose territory the item is sold under (if the caller sees it)."},
    },
}
UPLOAD = {
    "type": "object", "additionalProperties": False, "required": ["codes"],
    "properties": {
        "to_distributor": _ID, "to_store": _ID,
        "reference": {"type": "string", "maxLength": MAX_REFERENCE, "description": "Your order number."},
        "codes": {"type": "array", "maxItems": MAX_BULK_CODES,
                  "items": {"type": "string", "maxLength": 600, "description": "A case code or its scan URL."}},
    },
    "description": "Name one receiver: to_distributor or to_store.",
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def shipments_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = _query("brand", "The brand's slug: only the platform token needs it (a seat's or brand's token acts "
                   "in its own brand).", {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"})
    sid = {"name": "shipment_id", "in": "path", "required": True, "schema": _ID}
    missing = {"404": _error("No such shipment, brand or code, or not one the token may see (the same answer).")}
    forbidden = {"403": _error("The seat sees it but may not do this (a store ships nothing, an upstream "
                               "distributor does not sign for its sub-distributor's goods).")}
    conflict = {"409": _error("The shipment's state forbids it (code channel_conflict, `reason`: received, "
                              "undone, open, shipped_on with `onward_shipment`).")}
    create = ops(
        "createShipment", "Ship cases in one call (bulk 出库): scan-gun, PDA or CSV uploads, all or nothing",
        "Shipped.", CREATED, body=UPLOAD, status="201",
        params=[brand,
                _query("to_distributor", "The receiver, for a text/csv or text/plain body.", _ID),
                _query("to_store", "The receiving store, for a text body (a distributor's seat).", _ID),
                _query("reference", "Your order number, for a text body.",
                       {"type": "string", "maxLength": MAX_REFERENCE, "pattern": "^[^\\u0000-\\u001f]*$"})],
        extra={"400": _error(f"A bad line refuses the whole upload: `problems` lists the first "
                             f"{MAX_PROBLEMS_LISTED} by `line` and `reason` (malformed, forged, other_brand, "
                             "item_code, pallet_code), `bad_lines` counts them; or no receiver, no codes."),
               "413": _error("Body over 8 MiB (this route's bound; about 100,000 scan URLs)."),
               "415": _error("Send application/json, text/csv or text/plain."), **missing, **forbidden})
    create["requestBody"]["content"].update({
        "text/csv": {"schema": {"type": "string"},
                     "example": "code,scanned_at\n2040C2P0000000ABCDEFGHJKMNPQ,2026-12-01 10:00\n"},
        "text/plain": {"schema": {"type": "string"}, "example": "https://q.brand.example/q/2040C2P0000000ABCDEFGHJKMNPQ\n"},
    })
    listed = {"type": "object", "additionalProperties": False, "required": ["shipments", "next_before_id"],
              "properties": {"shipments": {"type": "array", "items": SUMMARY},
                             "next_before_id": {"type": ["integer", "null"]}}}
    return {
        "/api/v1/channel/shipments": {
            "post": create,
            "get": ops("listShipments", "Shipments the token sees, newest first", "The shipments.", listed,
                       body=None, params=[
                           brand,
                           _query("direction", "sent (from the caller's warehouse or distributors), received "
                                  "(to them); both when left out.", {"enum": ["sent", "received"]}),
                           _query("state", "Only this state.", {"enum": list(Shipment.STATES)}),
                           _query("before_id", "Paging: the `next_before_id` of the previous page.", _ID),
                           _query("limit", "Per page (default 50).", {"type": "integer", "minimum": 1,
                                                                      "maximum": MAX_PAGE})],
                       extra={"400": _error("A parameter is wrong (or unknown)."), **missing}),
        },
        "/api/v1/channel/shipments/{shipment_id}": {
            "get": ops("getShipment", "One shipment with its case ranges and flags", "The shipment.", DETAIL,
                       body=None, params=[brand, sid], extra=missing),
        },
        "/api/v1/channel/shipments/{shipment_id}/receive": {
            "post": ops("receiveShipment", "Confirm receipt (入库) of a shipped shipment", "The shipment after.",
                        DETAIL, body=None, params=[brand, sid], extra={**missing, **forbidden, **conflict}),
        },
        "/api/v1/channel/shipments/{shipment_id}/undo": {
            "post": ops("undoShipment", "Take back a mistaken shipment before it is received (audited)",
                        "The shipment after.", DETAIL, params=[brand, sid],
                        body={"type": "object", "additionalProperties": False, "required": ["reason"],
                              "properties": {"reason": {"type": "string", "minLength": 1,
                                                        "maxLength": MAX_REASON}}},
                        extra={**missing, **forbidden, **conflict}),
        },
        "/api/v1/channel/items/{code}/path": {
            "get": ops("getItemPath", "The channel record of an item or case code: shipped to whom, when, along "
                       "which path", "The record.", RECORD, body=None,
                       params=[brand, {"name": "code", "in": "path", "required": True,
                                       "schema": {"type": "string", "minLength": 1, "maxLength": 600,
                                                  "pattern": "^[^/]+$"}}],
                       extra={"400": _error("A pallet code, or a code of a batch packed without cases."),
                              **missing}),
        },
    }
