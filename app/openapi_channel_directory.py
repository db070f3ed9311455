"""The channel directory's routes (app/channel_directory_api.py) in the OpenAPI document, joined by
app/openapi.py. The schemas say what the domain accepts (channel/directory.py, channel/staff.py): a value
they allow may still be refused for what no schema can say (a code not in the region tree, a store outside
its supplier's territory, a taken e-mail), with 400 or 409 and `error.field`."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.rules_api import SQL_INT_MAX
from channel.directory import MAX_FEN
from channel.models import SEAT_KINDS
from channel.staff import EMAIL_MAX
from channel.territory import MAX_PREFIXES

_TIME = {"type": ["string", "null"], "format": "date-time"}
_ID = {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}
_NULLABLE_ID = {"type": ["integer", "null"], "minimum": 1, "maximum": SQL_INT_MAX}
_LINE = "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"  # one line: no control characters


def _text(limit: int, min_length: int = 0) -> dict[str, Any]:
    return {"type": "string", "minLength": min_length, "maxLength": limit, "pattern": _LINE}


_PREFIX = {"type": "string", "pattern": "^[0-9]{2}([0-9]{2}){0,2}$",
           "description": "GB/T 2260: 2 digits a province (44), 4 a city (4401), 6 a district (440106). A full "
                          "code of a province or city (440000, 440100) reads as its prefix."}
_TERRITORY = {"type": "array", "minItems": 1, "maxItems": MAX_PREFIXES, "items": _PREFIX,
              "description": "Where its goods may be sold; inside its parent's territory. Prefixes another one "
                             "covers are dropped."}
DISTRIBUTOR = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "code", "name", "territory", "territory_names", "parent_id", "tier", "contact", "disabled",
                 "stores", "created_at"],
    "properties": {
        "id": {"type": "integer"}, "code": {"type": "string", "description": "The brand's dealer number."},
        "name": {"type": "string"}, "territory": {"type": "array", "items": {"type": "string"}},
        "territory_names": {"type": "array", "items": {"type": "string"},
                            "description": "Each prefix's name path, e.g. 广东省 广州市."},
        "parent_id": {"type": ["integer", "null"],
                      "description": "null: supplied by the brand (or a parent outside a seat's part)."},
        "tier": {"type": "integer", "minimum": 1}, "contact": {"type": "string"}, "disabled": {"type": "boolean"},
        "stores": {"type": "integer", "description": "Stores it supplies."}, "created_at": _TIME,
    },
}
STORE = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "name", "adcode", "place", "address", "lat", "lng", "distributor_id", "registered_at",
                 "registered_case", "disabled", "created_at"],
    "properties": {
        "id": {"type": "integer"}, "name": {"type": "string"}, "adcode": {"type": "string"},
        "place": {"type": "string", "description": "e.g. 广东省 广州市 天河区"}, "address": {"type": "string"},
        "lat": {"type": ["number", "null"]}, "lng": {"type": ["number", "null"]},
        "distributor_id": {"type": "integer", "description": "The distributor that supplies it."},
        "registered_at": {**_TIME, "description": "When it qualified to redeem (null: not yet)."},
        "registered_case": {"type": "string", "description": "The case code it scanned; \"\" when the brand "
                                                            "registered it."},
        "disabled": {"type": "boolean"}, "created_at": _TIME,
    },
}
STAFF = {
    "type": "object", "additionalProperties": False,
    "required": ["user_id", "email", "name", "kind", "distributor_id", "store_id", "where", "disabled",
                 "last_login_at", "created_at"],
    "properties": {
        "user_id": {"type": "integer"}, "email": {"type": "string"}, "name": {"type": "string"},
        "kind": {"enum": list(SEAT_KINDS)}, "distributor_id": {"type": ["integer", "null"]},
        "store_id": {"type": ["integer", "null"]},
        "where": {"type": "string", "description": "The seat's distributor or store; \"\" when brand-wide."},
        "disabled": {"type": "boolean"}, "last_login_at": _TIME, "created_at": _TIME,
    },
}
POLICY = {
    "type": "object", "additionalProperties": False,
    "required": ["require_registration", "voucher_face_fen", "redeem_rebate_fen", "updated_at"],
    "properties": {
        "require_registration": {"type": "boolean",
                                 "description": "A store scans a case code it received before it may redeem."},
        "voucher_face_fen": {"type": "integer", "description": "Paid back to the store per redeemed voucher."},
        "redeem_rebate_fen": {"type": "integer", "description": "The store's 核销 rebate on top."},
        "updated_at": {**_TIME, "description": "null: never set; these are the defaults."},
    },
}
_FEN = {"type": "integer", "minimum": 0, "maximum": MAX_FEN, "description": "1 元 = 100 fen."}
_COORD = {"lat": {"type": ["number", "null"], "minimum": -90, "maximum": 90},
          "lng": {"type": ["number", "null"], "minimum": -180, "maximum": 180}}
_DISTRIBUTOR_IN = {"code": {**_text(40, 1), "description": "Unique in the brand, no spaces."},
                   "name": _text(200, 1), "territory": _TERRITORY, "parent_id": _NULLABLE_ID, "contact": _text(100)}
_STORE_IN = {"name": _text(200, 1),
             "adcode": {"type": "string", "pattern": "^[0-9]{6}$",
                        "description": "A district (or a unit with no districts) inside the supplier's territory."},
             "distributor_id": _ID, "address": _text(200), **_COORD, "registered": {"type": "boolean"}}
_STAFF_IN = {
    "type": "object", "additionalProperties": False, "required": ["email", "kind"],
    "properties": {"email": {"type": "string", "minLength": 1, "maxLength": EMAIL_MAX, "pattern": _LINE},
                   "name": _text(100),
                   "password": {"type": "string", "maxLength": 200,
                                "description": "10-200 characters; empty or left out: one is generated and "
                                               "returned once."},
                   "kind": {"enum": list(SEAT_KINDS)},
                   "distributor_id": {**_NULLABLE_ID, "description": "A distributor seat's distributor."},
                   "store_id": {**_NULLABLE_ID, "description": "A clerk's or waiter's store."}},
}


def _error(description: str) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def channel_directory_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = {"name": "brand", "in": "query", "required": False,
             "description": "The brand's slug: needed with the platform token, optional with a brand's or a seat's.",
             "schema": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"}, "example": "demo"}

    def path_id(name: str) -> dict[str, Any]:
        return {"name": name, "in": "path", "required": True, "schema": {"type": "integer", "minimum": 0,
                                                                         "maximum": SQL_INT_MAX}}

    no_brand = {"404": _error("No such brand, or none named with the platform token.")}
    missing = {"404": _error("No such object, or not one this token sees (another brand's, another "
                             "distributor's): both read the same.")}
    bad = {"400": _error("The body is not a JSON object, or a field is unknown or wrong (`field` names it).")}
    taken = {"409": _error("Taken: the brand's dealer number, or an e-mail with an account already.")}
    forbidden = {"403": _error("This token sees it but may not change it (an analyst's, a seat's).")}

    def listed(key: str, item: dict[str, Any]) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": [key],
                "properties": {key: {"type": "array", "items": item}}}

    def body(props: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": False, "required": list(required), "properties": props}

    distributor_patch = body({**_DISTRIBUTOR_IN, "disabled": {"type": "boolean"}})
    store_patch = body({**_STORE_IN, "disabled": {"type": "boolean"}})
    return {
        "/api/v1/channel/distributors": {
            "get": ops("listDistributors", "The distributors this token sees, as a tree (each followed by its "
                       "sub-distributors)", "The distributors.", listed("distributors", DISTRIBUTOR), body=None,
                       params=[brand], extra=no_brand),
            "post": ops("createDistributor", "A new distributor (audited)", "The distributor.", DISTRIBUTOR,
                        body=body(_DISTRIBUTOR_IN, ("code", "name", "territory")), params=[brand], status="201",
                        extra={**no_brand, **taken, **forbidden}),
        },
        "/api/v1/channel/distributors/{distributor_id}": {
            "get": ops("getDistributor", "One distributor", "The distributor.", DISTRIBUTOR, body=None,
                       params=[path_id("distributor_id"), brand], extra=missing),
            "patch": ops("updateDistributor", "Change the fields sent (audited)", "The distributor after.",
                         DISTRIBUTOR, body=distributor_patch, params=[path_id("distributor_id"), brand],
                         extra={**missing, **taken, **forbidden, **bad}),
        },
        "/api/v1/channel/stores": {
            "get": ops("listStores", "The stores this token sees, by name", "The stores.", listed("stores", STORE),
                       body=None, params=[brand, {"name": "distributor", "in": "query", "required": False,
                                                  "description": "Only the stores this distributor supplies.",
                                                  "schema": _ID}],
                       extra={**no_brand, "400": _error("`distributor` is not an id.")}),
            "post": ops("createStore", "A new store (audited)", "The store.", STORE,
                        body=body(_STORE_IN, ("name", "adcode", "distributor_id")), params=[brand], status="201",
                        extra={**no_brand, **forbidden}),
        },
        "/api/v1/channel/stores/{store_id}": {
            "get": ops("getStore", "One store", "The store.", STORE, body=None, params=[path_id("store_id"), brand],
                       extra=missing),
            "patch": ops("updateStore", "Change the fields sent (audited)", "The store after.", STORE,
                         body=store_patch, params=[path_id("store_id"), brand], extra={**missing, **forbidden, **bad}),
        },
        "/api/v1/channel/staff": {
            "get": ops("listChannelStaff", "The channel seats this token sees", "The seats.", listed("staff", STAFF),
                       body=None, params=[brand], extra=no_brand),
            "post": ops("addChannelStaff", "A new user holding a channel seat (audited); they sign in at "
                        "/ops/login and work at /dist", "The seat, with the generated password (null when one "
                        "was sent): shown this once.",
                        {**STAFF, "required": [*STAFF["required"], "password"],
                         "properties": {**STAFF["properties"], "password": {"type": ["string", "null"]}}},
                        body=_STAFF_IN, params=[brand], status="201", extra={**no_brand, **taken, **forbidden}),
        },
        "/api/v1/channel/policy": {
            "get": ops("getChannelPolicy", "The brand's channel policy", "The policy.", POLICY, body=None,
                       params=[brand], extra=no_brand),
            "put": ops("setChannelPolicy", "Replace the brand's channel policy (audited)", "The policy.", POLICY,
                       body=body({"require_registration": {"type": "boolean"}, "voucher_face_fen": _FEN,
                                  "redeem_rebate_fen": _FEN}, ("require_registration", "voucher_face_fen",
                                                               "redeem_rebate_fen")),
                       params=[brand], extra={**no_brand, **forbidden}),
        },
    }
