"""The risk review routes of the ops API in the OpenAPI document (app/risk_api.py; joined by app/openapi.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import Any

from app.audit_filters import SQL_INT_MAX
from app.openapi_audit import _query
from risk.models import FLAG_SUBJECTS, LIST_SUBJECTS, RiskFlag, RiskListEntry
from risk.policy import ACTIONS, RiskPolicy
from risk.review import MAX_PAGE, NOTE_MAX

_TIME = {"type": ["string", "null"], "format": "date-time"}
FLAG: dict[str, Any] = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "kind", "subject", "state", "reasons", "hits", "samples", "evidence", "first_at", "last_at",
                 "first_event", "reviewed_by", "reviewed_at", "note"],
    "properties": {
        "id": {"type": "integer"},
        "kind": {"enum": list(FLAG_SUBJECTS), "description": "d device (its digest), m member (its ref), n network "
                                                             "(/24 or /64), p GPS point, range (batch:first-last)."},
        "subject": {"type": "string"},
        "state": {"enum": list(RiskFlag.STATES), "description": "open: its prizes are held; blocked: no prizes, "
                                                                "held ones rejected; cleared: let through."},
        "reasons": {"type": "object", "additionalProperties": {"type": "integer"},
                    "description": "Rule word → flagged scans (sweep, farm, presale, gps, travel, velocity)."},
        "hits": {"type": "integer", "description": "Flagged scans."},
        "samples": {"type": "array", "items": {"type": "string"}, "description": "Codes it scanned, newest first."},
        "evidence": {"type": "object", "description": "The figures the rules saw."},
        "first_at": _TIME, "last_at": _TIME, "first_event": {"type": "string"},
        "reviewed_by": {"type": "string"}, "reviewed_at": _TIME, "note": {"type": "string"},
        "held": {"type": "integer", "description": "Awards of the subject held now."},
    },
}
HOLD = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "campaign_id", "code", "batch_id", "serial", "kind", "amount_fen", "points", "member",
                 "awarded_at", "status", "risk_hold", "void_reason", "claimed_by", "payout_state"],
    "properties": {
        "id": {"type": "string"}, "campaign_id": {"type": "integer"}, "code": {"type": "string"},
        "batch_id": {"type": "integer"}, "serial": {"type": "integer"}, "kind": {"type": "string"},
        "amount_fen": {"type": "integer"}, "points": {"type": "integer"}, "member": {"type": "string"},
        "awarded_at": _TIME, "status": {"enum": ["valid", "void"]},
        "risk_hold": {"enum": ["", "held", "released"]}, "void_reason": {"type": "string"},
        "claimed_by": {"type": ["string", "null"], "description": "The openid that claimed it (审核中 on its page)."},
        "payout_state": {"type": ["string", "null"], "description": "Its payout's state, if it has one."},
    },
}
ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "platform", "kind", "subject", "action", "note", "created_by", "created_at", "expires_at"],
    "properties": {
        "id": {"type": "integer"}, "platform": {"type": "boolean", "description": "Every brand's (platform admins)."},
        "kind": {"enum": list(LIST_SUBJECTS)}, "subject": {"type": "string"},
        "action": {"enum": [RiskListEntry.BLOCK, RiskListEntry.ALLOW]}, "note": {"type": "string"},
        "created_by": {"type": "string"}, "created_at": _TIME, "expires_at": _TIME,
    },
}


def _policy_schema() -> dict[str, Any]:
    props: dict[str, Any] = {}
    defaults = RiskPolicy()
    for f in fields(RiskPolicy):
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            props[f.name] = {"type": "boolean"}
        elif isinstance(value, int):
            props[f.name] = {"type": "integer", "minimum": 0}
        else:
            props[f.name] = {"enum": list(ACTIONS)}
    return {"type": "object", "additionalProperties": False, "properties": props}


POLICY = _policy_schema()
POLICY_VIEW = {
    "type": "object", "additionalProperties": False,
    "required": ["brand", "overrides", "policy", "defaults", "updated_by", "updated_at"],
    "properties": {"brand": {"type": "string"},
                   "overrides": {"type": "object", "description": "What the brand set."},
                   "policy": {"type": "object", "description": "The overrides on the defaults: what scans meet."},
                   "defaults": {"type": "object"}, "updated_by": {"type": "string"}, "updated_at": _TIME},
}
_NOTE_BODY = {"type": "object", "additionalProperties": False,
              "properties": {"note": {"type": "string", "maxLength": NOTE_MAX, "pattern": "^[^\\u0000]*$"}}}
_ENTRY_BODY = {
    "type": "object", "additionalProperties": False, "required": ["kind", "subject", "action"],
    "properties": {
        "kind": {"enum": list(LIST_SUBJECTS)},
        "subject": {"type": "string", "minLength": 1, "maxLength": 64,
                    "description": "d: the device id or its digest (20 hex); m: the member ref (32 hex); n: "
                                   "\"1.2.3\" or an IPv6 /64 (\"2001:db8:1:2\"); ip: one address; range: "
                                   "\"<batch>:<first>-<last>\" (block only)."},
        "action": {"enum": [RiskListEntry.BLOCK, RiskListEntry.ALLOW]},
        "note": {"type": "string", "maxLength": NOTE_MAX, "pattern": "^[^\\u0000]*$"},
        "expires_at": {"type": "string", "format": "date-time", "description": "Taken off by the worker then."},
        "platform": {"type": "boolean", "description": "An entry for every brand (platform admins only)."},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def risk_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = _query("brand", "A brand's slug; a token of one brand may leave it out.",
                   {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"})
    paging = [_query("limit", "Rows per page (default 50).", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
              _query("offset", "Rows to skip.", {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX})]
    flag_id = {"name": "flag_id", "in": "path", "required": True,
               "schema": {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}}
    award_id = {"name": "award_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 48}}
    entry_id = {"name": "entry_id", "in": "path", "required": True,
                "schema": {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}}
    bad = {"400": _error("A parameter is wrong (`problems` or `field` names it), or a token of several brands "
                         "named none."),
           "404": _error("No such brand (another brand's reads the same).")}
    no_flag = {"404": _error("No such flag (another brand's reads the same).")}
    no_award = {"404": _error("No such award (another brand's reads the same).")}
    conflict = {"409": _error("The state does not allow it: the flag is already so, or the award is not held.")}
    flags = {"type": "object", "additionalProperties": False, "required": ["flags", "total"],
             "properties": {"flags": {"type": "array", "items": FLAG}, "total": {"type": "integer"}}}
    detail = {**FLAG, "required": [*FLAG["required"], "awards"],
              "properties": {**FLAG["properties"], "awards": {"type": "array", "items": HOLD}}}
    reviewed = {**FLAG, "required": [*FLAG["required"], "affected"],
                "properties": {**FLAG["properties"], "affected": {
                    "type": "array", "items": {"type": "string"},
                    "description": "The held awards it rejected (block) or released (clear)."}}}
    holds = {"type": "object", "additionalProperties": False, "required": ["holds", "total"],
             "properties": {"holds": {"type": "array", "items": HOLD}, "total": {"type": "integer"}}}
    entries = {"type": "object", "additionalProperties": False, "required": ["entries", "total"],
               "properties": {"entries": {"type": "array", "items": ENTRY}, "total": {"type": "integer"}}}
    note_body = {"body": _NOTE_BODY, "body_required": False}
    return {
        "/api/v1/risk/flags": {"get": ops(
            "listRiskFlags", "A brand's review queue, newest evidence first", "The flags.", flags, body=None,
            params=[brand, _query("state", "open (default), blocked, cleared, or any.",
                                  {"enum": [*RiskFlag.STATES, "any"]}),
                    _query("kind", "Only flags on this kind of subject.", {"enum": list(FLAG_SUBJECTS)}), *paging],
            extra=bad)},
        "/api/v1/risk/flags/{flag_id}": {"get": ops(
            "getRiskFlag", "One flag, with its subject's held awards", "The flag.", detail, body=None,
            params=[flag_id], extra=no_flag)},
        "/api/v1/risk/flags/{flag_id}/block": {"post": ops(
            "blockRiskFlag", "Block the subject: no prizes for it; its held awards are rejected (audited)",
            "The flag after.", reviewed, params=[flag_id], extra={**no_flag, **conflict}, **note_body)},
        "/api/v1/risk/flags/{flag_id}/clear": {"post": ops(
            "clearRiskFlag", "Clear the subject: its held awards are released and paid (audited)",
            "The flag after.", reviewed, params=[flag_id], extra={**no_flag, **conflict}, **note_body)},
        "/api/v1/risk/holds": {"get": ops(
            "listRiskHolds", "Awards the risk layer holds, not reviewed yet, newest first", "The held awards.",
            holds, body=None, params=[brand, *paging], extra=bad)},
        "/api/v1/risk/holds/{award_id}/release": {"post": ops(
            "releaseRiskHold", "Let a held award be paid (a claim waiting for it is settled) (audited)",
            "The award after.", HOLD, params=[award_id], extra={**no_award, **conflict}, **note_body)},
        "/api/v1/risk/holds/{award_id}/reject": {"post": ops(
            "rejectRiskHold", "Void a held award: never paid, its budget back to the campaign (audited)",
            "The award after.", HOLD, params=[award_id], extra={**no_award, **conflict}, **note_body)},
        "/api/v1/risk/lists": {
            "get": ops("listRiskLists", "A brand's (or with platform=true, every brand's) block and allow entries",
                       "The entries, newest first.", entries, body=None,
                       params=[brand, _query("platform", "The platform's entries (platform admins).",
                                             {"type": "boolean"}),
                               _query("kind", "Only this kind.", {"enum": list(LIST_SUBJECTS)}),
                               _query("action", "Only blocks or allows.", {"enum": ["block", "allow"]}), *paging],
                       extra=bad),
            "post": ops("createRiskListEntry", "Put a subject on the block or allow list, or change its entry "
                        "(audited; the scan path sees it at once)", "The entry.", ENTRY, body=_ENTRY_BODY,
                        params=[brand], status="201", extra=bad),
        },
        "/api/v1/risk/lists/{entry_id}": {"delete": ops(
            "deleteRiskListEntry", "Take an entry off its list (audited)", "The entry removed.", ENTRY, body=None,
            params=[entry_id], extra={"404": _error("No such entry (another brand's reads the same).")})},
        "/api/v1/risk/policy": {
            "get": ops("getRiskPolicy", "A brand's risk policy: its overrides and what scans meet",
                       "The policy.", POLICY_VIEW, body=None, params=[brand], extra=bad),
            "put": ops("putRiskPolicy", "Replace the brand's overrides ({} for the defaults) (audited; scans "
                       "follow within 30 s)", "The policy.", POLICY_VIEW, body=POLICY, params=[brand], extra=bad),
        },
    }
