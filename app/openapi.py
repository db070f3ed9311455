"""The OpenAPI 3.1 document of /api/v1, served at /api/v1/openapi.json: the scan API and the operations API.

tests/web/test_schemathesis.py holds the app to it (every status, content type and body shape).
"""

from __future__ import annotations

from typing import Any

from app.openapi_audit import audit_paths
from app.openapi_campaign import BACKTEST, CAMPAIGN, DEFINITION, SIMULATION, UPDATE
from app.openapi_channel_directory import channel_directory_paths
from app.openapi_diversion import diversion_paths
from app.openapi_lookup import LOOKUP, lookup_paths
from app.openapi_payouts import payouts_paths
from app.openapi_risk import risk_paths
from app.openapi_settlement import settlement_paths
from app.openapi_shipments import shipments_paths
from app.rules_api import SQL_INT_MAX
from codegen.codeformat import MAX_BATCH_ID, MAX_SERIAL
from rules.idempotency import MAX_KEY_LENGTH

# The one error shape of /api/v1: `problems` lists every problem of a 400 from the operations API, each at
# its field's path; an edit conflict adds the campaign's current edit_version.
_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "minLength": 1},
                "message": {"type": "string"},
                "problems": {"type": "array", "items": {
                    "type": "object", "required": ["field", "message"],
                    "properties": {"field": {"type": "string", "description": "e.g. prizes[2].weight"},
                                   "message": {"type": "string"}}}},
                "current_edit_version": {"type": "integer"},
            },
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


def _error(description: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    schema = {"$ref": "#/components/schemas/Error"}
    out: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        out["headers"] = {name: {"description": text, "required": True, "schema": {"type": "string"}}
                          for name, text in headers.items()}
    return out


# --- The operations API (Bearer: a personal API token, or the platform's YIMA_OPS_TOKEN) ---------------------

_OPS_SECURITY = [{"personalToken": []}, {"opsToken": []}]
_OPS_ERRORS = {
    "401": _error("No or wrong `Authorization: Bearer <token>`.", {"WWW-Authenticate": "Bearer challenge."}),
    "429": _error("Too many wrong tokens from this address (or for the token): locked out; see Retry-After. "
                  "The right token is refused too until the lock ends.", {"Retry-After": "Seconds to wait."}),
    "403": _error("The token's role does not allow this (an analyst's token reads only)."),
    "503": _error("Redis or the database is unreachable; retry shortly."),
}
_BODY_ERRORS = {
    "400": _error("The body is not a JSON object, or a field is invalid: every problem is listed in `problems`."),
    "413": _error("Request body over 64 KiB."),
}
_NOT_FOUND = {"404": _error("No such campaign (or prize, or rules version).")}
_CONFLICT = {"409": _error("The campaign's state forbids it (ended, or not a draft).")}
_KEY_ERRORS = {
    "409": _error("The campaign created under this Idempotency-Key has been deleted."),
    "422": _error("This Idempotency-Key was used for a different request in the last 24 h "
                  "(code idempotency_key_reused)."),
}
_CAMPAIGN_ID = {"name": "campaign_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}}
_IDEMPOTENCY_KEY = {
    "name": "Idempotency-Key", "in": "header", "required": False,
    "schema": {"type": "string", "pattern": f"^[!-~]{{1,{MAX_KEY_LENGTH}}}$"},
    "description": "Any unique string (a UUID): a repeat of the same request under the same key within 24 h "
                   "answers 200 with the campaign the first one created, instead of creating another.",
}


def _ops(operation_id: str, summary: str, ok: str, ok_schema: dict[str, Any] | None, *, body: dict[str, Any] | None,
         extra: dict[str, Any] | None = None, params: list[dict[str, Any]] | None = None,
         status: str = "200", body_required: bool = True, also: dict[str, Any] | None = None) -> dict[str, Any]:
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, "tags": ["ops"],
                          "security": _OPS_SECURITY}
    if params:
        op["parameters"] = params
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    ok_response: dict[str, Any] = {"description": ok}
    if ok_schema is not None:
        ok_response["content"] = {"application/json": {"schema": ok_schema}}
    op["responses"] = {status: ok_response, **(also or {}), **(_BODY_ERRORS if body is not None else {}),
                       **(extra or {}), **_OPS_ERRORS}
    return op


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _replayed(description: str) -> dict[str, Any]:
    return {"200": {"description": description, "content": {"application/json": {"schema": _ref("Campaign")}}}}


_VERSION = {"type": "object", "required": ["version", "campaigns"],
            "properties": {"version": {"type": "integer"}, "campaigns": {"type": "integer"}}}
_NOTE = {"type": "string", "maxLength": 200, "pattern": "^[^\\u0000]*$"}
_BRAND_SLUG = {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$",
               "description": "The brand's slug; required with a brand's token, optional with the platform "
                              "token (then: every brand)."}
_BRAND_QUERY = {"name": "brand", "in": "query", "required": False, "schema": _BRAND_SLUG}
_BRAND_ERRORS = {
    "400": _error("A brand's token must name its brand; or a field is invalid."),
    "403": _error("Your role in this brand may only read (analyst)."),
    "404": _error("No such brand or rules version (another brand's reads the same)."),
}
_PUBLISH_CONFLICT = {"409": _error("Another publish went live meanwhile: look at the new diff and try again.")}
_PUBLISHED = {"type": "object", "required": ["version", "campaigns", "diff"],
              "properties": {"version": {"type": "integer"}, "campaigns": {"type": "integer"},
                             "rolled_back_to": {"type": "integer"}, "diff": {"$ref": "#/components/schemas/RulesDiff"}}}
_CAMPAIGN_CHANGE = {"type": "object", "required": ["id", "name", "changes"],
                    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                                   "unrecorded": {"type": "boolean"}, "definition": {"type": ["object", "null"]},
                                   "changes": {"type": "array", "items": {
                                       "type": "object", "required": ["path"],
                                       "properties": {"path": {"type": "string"}, "before": {}, "after": {}}}}}}

OPS_PATHS: dict[str, Any] = {
    "/api/v1/campaigns": {
        "get": _ops("listCampaigns", "Every campaign, any status", "The campaigns.",
                    {"type": "object", "required": ["campaigns"],
                     "properties": {"campaigns": {"type": "array", "items": _ref("Campaign")}}}, body=None),
        "post": _ops("createCampaign", "Create a draft campaign", "Created (a draft).", _ref("Campaign"),
                     body=_ref("CampaignDefinition"), status="201", params=[_IDEMPOTENCY_KEY], extra=_KEY_ERRORS,
                     also=_replayed("Created earlier by the same request under the same Idempotency-Key.")),
    },
    "/api/v1/campaigns/{campaign_id}": {
        "parameters": [_CAMPAIGN_ID],
        "get": _ops("getCampaign", "One campaign", "The campaign.", _ref("Campaign"), body=None, extra=_NOT_FOUND),
        "put": _ops("updateCampaign", "Replace a campaign's definition, from the edit_version it was made on",
                    "The campaign, edit_version + 1.", _ref("Campaign"), body=_ref("CampaignUpdate"),
                    extra={**_NOT_FOUND, "409": _error(
                        "`edit_conflict`: someone saved the campaign since you read it (the error carries its "
                        "current_edit_version: reload, reapply, send again); or `conflict`: it has ended.")}),
        "delete": _ops("deleteCampaign", "Delete a draft", "Deleted.", None, body=None,
                       extra={**_NOT_FOUND, **_CONFLICT}, status="204"),
    },
    "/api/v1/campaigns/{campaign_id}/clone": {
        "parameters": [_CAMPAIGN_ID],
        "post": _ops("cloneCampaign", "A new draft with this campaign's definition", "Created (a draft).",
                     _ref("Campaign"), status="201", params=[_IDEMPOTENCY_KEY], body_required=False,
                     body={"type": "object", "additionalProperties": False,
                           "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200,
                                                   "description": "Default: the source's name + ' (副本)'."}}},
                     extra={**_NOT_FOUND, **_KEY_ERRORS},
                     also=_replayed("Created earlier by the same request under the same Idempotency-Key.")),
    },
    "/api/v1/campaigns/{campaign_id}/status": {
        "parameters": [_CAMPAIGN_ID],
        "post": _ops("setCampaignStatus", "Activate, pause or end a campaign (publish to take effect)",
                     "The campaign.", _ref("Campaign"),
                     body={"type": "object", "additionalProperties": False, "required": ["status"],
                           "properties": {"status": {"enum": ["draft", "active", "paused", "ended"]}}},
                     extra={**_NOT_FOUND, **_CONFLICT}),
    },
    "/api/v1/campaigns/{campaign_id}/backtest": {
        "parameters": [_CAMPAIGN_ID],
        "post": _ops("backtestCampaign", "Replay stored scans of a period against a campaign",
                     "Would-be draws, awards and cost.", _ref("Backtest"),
                     body={"type": "object", "additionalProperties": False, "required": ["from", "to"],
                           "properties": {"from": {"type": "string", "format": "date-time"},
                                          "to": {"type": "string", "format": "date-time"},
                                          "seed": {"type": "integer"}}},
                     extra=_NOT_FOUND),
    },
    "/api/v1/campaigns/{campaign_id}/prizes/{prize_index}/coupons": {
        "parameters": [_CAMPAIGN_ID, {"name": "prize_index", "in": "path", "required": True,
                                      "schema": {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}}],
        "post": _ops("uploadCoupons", "Add coupon codes to a coupon prize's pool (duplicates skipped)",
                     "Added.", {"type": "object", "required": ["added", "duplicates", "pool_size"],
                                "properties": {"added": {"type": "integer"}, "duplicates": {"type": "integer"},
                                               "pool_size": {"type": "integer"}}},
                     body={"type": "object", "additionalProperties": False, "required": ["codes"],
                           "properties": {"codes": {"type": "array", "minItems": 1, "maxItems": 10_000,
                                                    "items": {"type": "string", "pattern": "^[!-~]{1,64}$"}}}},
                     extra=_NOT_FOUND, status="201"),
    },
    "/api/v1/members/tokens": {
        "post": _ops("issueMemberToken", "Issue a signed member token (sent as `member_token` with scans)",
                     "The token.", {"type": "object", "required": ["member_token", "expires_in"],
                                    "properties": {"member_token": {"type": "string"},
                                                   "expires_in": {"type": "integer"}}},
                     body={"type": "object", "additionalProperties": False, "required": ["member_id"],
                           "properties": {"member_id": {"type": "string", "pattern": "^[A-Za-z0-9_.:@-]{1,64}$"},
                                          # Labels are 1-32 letters or digits of any script, _ . or -:
                                          # no portable JSON Schema pattern says "letter of any script".
                                          "tier": {"type": ["string", "null"], "minLength": 1, "maxLength": 32},
                                          "tags": {"type": "array", "maxItems": 32,
                                                   "items": {"type": "string", "minLength": 1, "maxLength": 32}},
                                          "joined_at": {"type": "string", "format": "date-time"}}},
                     status="201"),
    },
    "/api/v1/rules/publish": {
        "post": _ops("publishRules", "Publish a brand's active campaigns (the other brands stay as live); "
                     "without `brand` (platform token only), every brand's",
                     "The new version and what it changed.", _PUBLISHED,
                     body={"type": "object", "additionalProperties": False,
                           "properties": {"note": _NOTE, "brand": _BRAND_SLUG}},
                     extra={**_BRAND_ERRORS, **_PUBLISH_CONFLICT}, body_required=False),
    },
    "/api/v1/rules/rollback": {
        "post": _ops("rollbackRules", "A brand: a new version with its campaigns as in `version`, the other "
                     "brands as live; the platform (no `brand`): `version` made current again",
                     "The version now current.", _PUBLISHED,
                     body={"type": "object", "additionalProperties": False, "required": ["version"],
                           "properties": {"version": {"type": "integer"}, "note": _NOTE, "brand": _BRAND_SLUG}},
                     extra={**_BRAND_ERRORS, **_PUBLISH_CONFLICT}),
    },
    "/api/v1/rules/versions": {
        "get": _ops("listRulesVersions", "The current version and the last 50 (a brand's own publishes and "
                    "the platform-wide ones)", "The versions.",
                    {"type": "object", "required": ["current", "versions"],
                     "properties": {"current": {"type": "integer"}, "versions": {"type": "array", "items": {
                         "type": "object", "required": ["version", "campaigns", "note", "created_at"],
                         "properties": {"version": {"type": "integer"}, "campaigns": {"type": "integer"},
                                        "all_campaigns": {"type": "integer"},
                                        "brand_id": {"type": ["integer", "null"]}, "actor": {"type": "string"},
                                        "note": {"type": "string"}, "created_at": {"type": "string"}}}}}},
                    body=None, params=[_BRAND_QUERY], extra=_BRAND_ERRORS),
    },
    "/api/v1/rules/diff": {
        "get": _ops("pendingRulesDiff", "What publishing the brand now would change against the live version",
                    "The diff.", _ref("RulesDiff"), body=None, params=[_BRAND_QUERY], extra=_BRAND_ERRORS),
    },
    "/api/v1/simulate": {
        "post": _ops("simulateScan", "Which campaigns a scan would take part in, why, and the odds (consumes "
                     "nothing; drafts included)", "The verdicts.", _ref("Simulation"),
                     body=_ref("SimulationRequest")),
    },
}

OPS_SCHEMAS: dict[str, Any] = {
    "CampaignDefinition": DEFINITION,
    "CampaignUpdate": UPDATE,
    "Campaign": CAMPAIGN,
    "Simulation": SIMULATION,
    "Backtest": BACKTEST,
    "RulesDiff": {
        "type": "object", "required": ["base_version", "added", "removed", "changed", "unchanged"],
        "description": "Campaigns added, removed (with their status change) and changed field by field "
                       "(dotted paths of the definition; a side is absent where the field is).",
        "properties": {"base_version": {"type": "integer"}, "unchanged": {"type": "integer"},
                       "added": {"type": "array", "items": _CAMPAIGN_CHANGE},
                       "removed": {"type": "array", "items": _CAMPAIGN_CHANGE},
                       "changed": {"type": "array", "items": _CAMPAIGN_CHANGE}}},
    "SimulationRequest": {
        "type": "object", "additionalProperties": False,
        "description": "A code (or scan URL), or batch_id + serial + role; where, when, and who scans.",
        "properties": {
            "code": {"type": "string", "maxLength": 512},
            "batch_id": {"type": "integer", "minimum": 0, "maximum": MAX_BATCH_ID},
            "serial": {"type": "integer", "minimum": 0, "maximum": MAX_SERIAL},
            "role": {"enum": ["inner", "outer"]},
            "adcode": {"type": ["string", "null"]},
            "at": {"type": ["string", "null"], "format": "date-time"},
            "member": {"type": ["object", "null"], "additionalProperties": False,
                       "properties": {"tier": {"type": ["string", "null"]},
                                      "tags": {"type": "array", "items": {"type": "string"}},
                                      "new": {"type": "boolean"}}},
        },
    },
}


OPENAPI: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {
        "title": "yima scan and operations API",
        "version": "1",
        "description": "Verify a one-item-one-code code and record the scan (the scan path never waits on SQL); "
                       "operations: campaigns, coupons, member tokens, rules publish/rollback, simulation.",
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
                                  "see Retry-After.", {"Retry-After": "Seconds to wait."}),
                    "503": _error("Verification temporarily unavailable (Redis unreachable)."),
                },
            }
        },
        **OPS_PATHS,
        **audit_paths(_ops),
        **payouts_paths(_ops),
        **risk_paths(_ops),
        **channel_directory_paths(_ops),
        **diversion_paths(_ops),
        **lookup_paths(_ops, _error),
        **settlement_paths(_ops),
        **shipments_paths(_ops),
        "/api/v1/openapi.json": {
            "get": {"operationId": "openapi", "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document.",
                                          "content": {"application/json": {"schema": {"type": "object"}}}}}}
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
        "securitySchemes": {
            "personalToken": {"type": "http", "scheme": "bearer", "bearerFormat": "yima_pat_…",
                              "description": "A personal API token (`yima_pat_…`): scoped to one brand and role, "
                                             "with an expiry, revocable; stored hashed."},
            "opsToken": {"type": "http", "scheme": "bearer",
                         "description": "The platform's YIMA_OPS_TOKEN, for bootstrapping (embedded default: "
                                        "var/ops_token)."},
        },
        "schemas": {
            **OPS_SCHEMAS,
            "CodeLookup": LOOKUP,
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
                    "held": {"type": "boolean",
                             "description": "The risk layer holds this award for review: it is in the ledger "
                                            "and is paid only once a reviewer releases it."},
                },
            },
            "Region": _REGION,
            "ScanRequest": {
                "type": "object",
                "required": ["code"],
                "additionalProperties": False,
                "properties": {
                    "code": {"type": "string", "minLength": 1, "maxLength": 512,
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
                    "region_source": {
                        "enum": ["gps", "ip", "none"],
                        "description": "Where `region` came from: gps (the lat/lng or adcode sent), ip (the client "
                                       "address, resolved offline to a city), none. A campaign may accept only "
                                       "some sources (definition `regions.sources`).",
                    },
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
                    "risk": {"enum": ["allow", "hold", "challenge", "no_prize", "block"],
                             "description": "The risk layer's decision (docs/risk.md): allow; hold (awards are "
                                            "held for review); challenge (nothing drawn now, scan again in a few "
                                            "minutes); no_prize (nothing drawn); block (rewards paused for this "
                                            "phone or account). The code's authenticity is answered either way."},
                },
            },
        }
    },
}
