"""The channel's code lookup (app/lookup_api.py) in the OpenAPI document; joined by app/openapi.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from codegen.codeformat import MAX_INPUT_LENGTH

_TIME = {"type": "string", "format": "date-time"}
_NULL_TIME = {"type": ["string", "null"], "format": "date-time"}
_PLACE = {"type": ["object", "null"], "additionalProperties": False, "required": ["adcode", "name"],
          "description": "A GB/T 2260 area (never coordinates); name is \"\" for an adcode not in the table.",
          "properties": {"adcode": {"type": "string"}, "name": {"type": "string"}}}
_PARTY = {"type": "object", "additionalProperties": False, "required": ["kind", "id", "name"],
          "description": "One end of a shipment. id and name are null when it is not the caller's to see "
                         "(a distributor outside a distributor seat's subtree, another store): the page says "
                         "\"another distributor\". The brand's warehouse has neither.",
          "properties": {"kind": {"enum": ["warehouse", "distributor", "store"]},
                         "id": {"type": ["integer", "null"]}, "name": {"type": ["string", "null"]}}}
_HOP = {"type": "object", "additionalProperties": False,
        "required": ["shipment_id", "sender", "receiver", "state", "shipped_at", "received_at"],
        "properties": {"shipment_id": {"type": ["integer", "null"],
                                       "description": "null when neither end is the caller's to see."},
                       "sender": _PARTY, "receiver": _PARTY, "state": {"enum": ["shipped", "received"]},
                       "shipped_at": _NULL_TIME, "received_at": _NULL_TIME}}
_SCAN = {"type": "object", "additionalProperties": False, "required": ["at", "kind", "place", "source"],
         "properties": {"at": _TIME, "kind": {"enum": ["first", "repeat", "not_on_sale", "void"]},
                        "place": _PLACE, "source": {"enum": ["gps", "ip", "none"]}}}
_SCANS = {
    "type": ["object", "null"], "additionalProperties": False,
    "required": ["count", "attempts", "first_at", "first_place", "last_at", "recent", "live", "pending"],
    "properties": {
        "count": {"type": "integer", "description": "Consumer scans while on sale, the first included."},
        "attempts": {"type": "integer", "description": "Every scan, also those while not on sale or void."},
        "first_at": _NULL_TIME, "first_place": _PLACE, "last_at": _NULL_TIME,
        "recent": {"type": "array", "items": _SCAN, "maxItems": 8, "description": "Newest first."},
        "live": {"type": "boolean", "description": "false: Redis was unreachable and the answer is the stored "
                                                   "history alone, which may miss the last seconds' scans."},
        "pending": {"type": "integer", "description": "Scans counted in Redis that the history holds not yet."},
    },
}
_AWARD = {
    "type": "object", "additionalProperties": False,
    "required": ["award_id", "campaign_id", "campaign", "kind", "prize", "amount_fen", "points", "valid",
                 "void_reason", "awarded_at", "claimed_at", "payout_state", "redeemed_at", "redeemed_store"],
    "properties": {
        "award_id": {"type": "string"}, "campaign_id": {"type": "integer"}, "campaign": {"type": "string"},
        "kind": {"type": "string", "description": "cash, points, coupon, voucher, physical, thanks"},
        "prize": {"type": "string"}, "amount_fen": {"type": "integer"}, "points": {"type": "integer"},
        "valid": {"type": "boolean", "description": "false: the ledger voided it (see void_reason): never paid."},
        "void_reason": {"type": "string"}, "awarded_at": _TIME,
        "claimed_at": {**_NULL_TIME, "description": "When the consumer claimed it (领取)."},
        "payout_state": {"type": ["string", "null"], "description": "A claimed cash prize's payout state."},
        "redeemed_at": {**_NULL_TIME, "description": "A voucher's 核销 at a store."},
        "redeemed_store": {"anyOf": [_PARTY, {"type": "null"}]},
    },
}
LOOKUP = {
    "type": "object", "additionalProperties": False,
    "required": ["genuine", "reason", "message", "code", "role", "serial", "product", "batch", "sale",
                 "void_reason", "case", "path", "hidden_hops", "scans", "awards"],
    "properties": {
        "genuine": {"type": "boolean"},
        "reason": {"enum": ["malformed", "not_this_brand", "forged", None],
                   "description": "Why not genuine: not a code at all; a code naming no batch of this brand "
                                  "(another brand's, or made up); a code of the brand's batch whose signature "
                                  "is wrong or whose serial was never printed."},
        "message": {"type": "string"},
        "code": {"type": "string", "description": "The canonical code, when one could be read."},
        "role": {"enum": ["inner", "outer", "case", ""]},
        "serial": {"type": ["integer", "null"]},
        "product": {"type": ["object", "null"], "additionalProperties": False,
                    "required": ["brand", "sku", "name", "gtin"],
                    "properties": {"brand": {"type": "string"}, "sku": {"type": "string"},
                                   "name": {"type": "string"}, "gtin": {"type": "string"}}},
        "batch": {"type": ["object", "null"], "additionalProperties": False,
                  "required": ["id", "lot", "production_date", "factory", "line", "quantity", "pack_size",
                               "activated"],
                  "properties": {"id": {"type": "integer"}, "lot": {"type": "string"},
                                 "production_date": {"type": ["string", "null"], "format": "date"},
                                 "factory": {"type": "string"}, "line": {"type": "string"},
                                 "quantity": {"type": "integer"}, "pack_size": {"type": "integer"},
                                 "activated": {"type": "integer", "description": "Items on sale."}}},
        "sale": {"enum": ["on_sale", "not_on_sale", "void", ""]},
        "void_reason": {"type": "string"},
        "case": {"type": ["object", "null"], "additionalProperties": False,
                 "required": ["case", "first_item", "last_item", "items_scanned"],
                 "description": "The case the code belongs to (a case code: itself); null without cases.",
                 "properties": {"case": {"type": "integer"}, "first_item": {"type": "integer"},
                                "last_item": {"type": "integer"},
                                "items_scanned": {"type": ["integer", "null"],
                                                  "description": "A case code: its items consumers scanned."}}},
        "path": {"type": "array", "items": _HOP, "description": "The case's live shipments, oldest first."},
        "hidden_hops": {"type": "integer", "description": "Shipments a store's seat is not shown."},
        "scans": _SCANS,
        "awards": {"type": "array", "items": _AWARD},
    },
}


def lookup_paths(ops: Callable[..., dict[str, Any]], error: Callable[[str], dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the API's error responses) and `_error`."""
    brand = {"name": "brand", "in": "query", "required": False,
             "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"},
             "description": "The brand's slug: the platform token must name one; a brand's or a seat's token "
                            "acts in its own brand."}
    code = {"name": "code", "in": "path", "required": True,
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_INPUT_LENGTH},
            "description": "A bare code (a scan URL: POST /api/v1/channel/lookup)."}
    not_found = {"404": error("No such brand, or none named with the platform token (another brand's reads the "
                              "same).")}
    ok = "The lookup; a code that is not genuine is an answer too (genuine false, with the reason)."
    return {
        "/api/v1/channel/codes/{code}": {
            "get": {**ops("lookupCode", "Look a code up: genuine or not, product, batch, path, scans, prizes",
                          ok, {"$ref": "#/components/schemas/CodeLookup"}, body=None, params=[code, brand],
                          extra=not_found), "tags": ["channel"]},
        },
        "/api/v1/channel/lookup": {
            "post": {**ops("lookupCodeOrUrl", "Look a code or a scan URL up (the same answer)", ok,
                           {"$ref": "#/components/schemas/CodeLookup"}, params=[brand], extra=not_found,
                           body={"type": "object", "additionalProperties": False, "required": ["code"],
                                 "properties": {"code": {"type": "string", "minLength": 1,
                                                         "maxLength": MAX_INPUT_LENGTH,
                                                         "description": "A code or a scan URL …/q/<CODE>."}}}),
                     "tags": ["channel"]},
        },
    }
