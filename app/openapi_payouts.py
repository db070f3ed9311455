"""The payouts routes of the ops API in the OpenAPI document (app/payouts_api.py; joined by app/openapi.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.audit_filters import SQL_INT_MAX
from app.openapi_audit import _MOMENT, _query
from payouts.listing import CSV_HEADER, MAX_PAGE, QUERY_MAX, STATES

_NULLABLE_TIME = {"type": ["string", "null"], "format": "date-time"}
PAYOUT = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "award_id", "campaign_id", "openid", "amount_fen", "provider", "state", "attempt", "bill_no",
                 "provider_bill_id", "reason", "message", "created_at", "updated_at", "submitted_at",
                 "finished_at"],
    "properties": {
        "id": {"type": "integer"},
        "award_id": {"type": "string"},
        "campaign_id": {"type": "integer"},
        "openid": {"type": "string", "description": "The consumer's WeChat openid (of the brand's app id)."},
        "amount_fen": {"type": "integer", "description": "1 元 = 100 fen."},
        "provider": {"type": "string", "description": "wechat_transfer, wechat_redpack, …"},
        "state": {"enum": list(STATES),
                  "description": "pending → submitted → awaiting_user (the consumer confirms) → succeeded; or "
                                 "failed, expired, cancelled; unknown: the last call's outcome is unclear and "
                                 "the next step is a query of the same bill."},
        "attempt": {"type": "integer", "description": "Raised only after a definitive failure, a cancel or a "
                                                      "closed expiry: each attempt has its own bill number."},
        "bill_no": {"type": "string", "description": "The current attempt's out_bill_no / mch_billno."},
        "provider_bill_id": {"type": "string"},
        "reason": {"type": "string", "description": "The provider's last error code or fail_reason."},
        "message": {"type": "string"},
        "created_at": {"type": ["string", "null"], "format": "date-time"},
        "updated_at": {"type": ["string", "null"], "format": "date-time"},
        "submitted_at": _NULLABLE_TIME,
        "finished_at": _NULLABLE_TIME,
    },
}
EVENT = {
    "type": "object", "additionalProperties": False,
    "required": ["at", "source", "from_state", "to_state", "bill_no", "reason", "detail"],
    "properties": {
        "at": {"type": ["string", "null"], "format": "date-time"},
        "source": {"type": "string", "description": "submit, query, callback, operator, expiry, cap"},
        "from_state": {"type": "string"}, "to_state": {"type": "string"}, "bill_no": {"type": "string"},
        "reason": {"type": "string"}, "detail": {"type": "string"},
    },
}
POINTS = {
    "type": "object", "additionalProperties": False, "required": ["member", "balance", "history"],
    "properties": {
        "member": {"type": "string"}, "balance": {"type": "integer"},
        "history": {"type": "array", "items": {
            "type": "object", "additionalProperties": False,
            "required": ["delta", "balance", "reason", "award_id", "at"],
            "properties": {"delta": {"type": "integer"}, "balance": {"type": "integer"}, "reason": {"type": "string"},
                           "award_id": {"type": ["string", "null"]},
                           "at": {"type": ["string", "null"], "format": "date-time"}}}},
    },
}
PAYOUT_DETAIL = {**PAYOUT, "required": [*PAYOUT["required"], "events"],
                 "properties": {**PAYOUT["properties"], "events": {"type": "array", "items": EVENT,
                                                                  "description": "Oldest first."}}}
RUN = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "day", "provider", "ran_at", "matched", "missing", "extra", "mismatched", "details"],
    "properties": {
        "id": {"type": "integer"},
        "day": {"type": "string", "format": "date", "description": "The provider's bill day (China time)."},
        "provider": {"type": "string"},
        "ran_at": {"type": ["string", "null"], "format": "date-time"},
        "matched": {"type": ["integer", "null"],
                    "description": "null for a brand's token: matched lines are not attributed to brands."},
        "missing": {"type": "integer", "description": "Paid at the provider, not in the ledger (platform only)."},
        "extra": {"type": "integer", "description": "Succeeded in the ledger, not in the provider's bill."},
        "mismatched": {"type": "integer", "description": "In both; amounts or states differ."},
        "details": {"type": "array", "items": {
            "type": "object", "required": ["bill_no", "what", "ledger", "provider"],
            "properties": {"bill_no": {"type": "string"}, "what": {"type": "string"},
                           "ledger": {}, "provider": {}}}},
    },
}
_PAYOUT_ID = {"name": "payout_id", "in": "path", "required": True,
              "schema": {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def payouts_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = _query("brand", "A brand's slug; a token of one brand may leave it out.",
                   {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"})
    filters = [
        brand,
        _query("state", "Only payouts in this state.", {"enum": list(STATES)}),
        _query("campaign_id", "Only this campaign's.", {"type": "integer", "minimum": 0, "maximum": SQL_INT_MAX}),
        _query("q", "A prefix of the bill number, the award id or the openid.",
               {"type": "string", "maxLength": QUERY_MAX, "pattern": "^[^\\u0000]*$"}),
        _query("since", "Created from (included).", _MOMENT),
        _query("until", "Created until: a day is included whole; a date-time is excluded.", _MOMENT),
    ]
    paging = [
        _query("before_id", "Paging: the `next_before_id` of the previous page.",
               {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}),
        _query("limit", "Payouts per page (default 50).", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    ]
    listed = {"type": "object", "additionalProperties": False, "required": ["payouts", "next_before_id"],
              "properties": {"payouts": {"type": "array", "items": PAYOUT},
                             "next_before_id": {"type": ["integer", "null"]}}}
    bad = {"400": _error("A filter is wrong (`problems` names it), or a token of several brands named none."),
           "404": _error("No such brand (another brand's reads the same).")}
    missing = {"404": _error("No such payout (another brand's reads the same).")}
    export = ops("exportPayouts", "The payouts the filters select as CSV (oldest first, streamed)",
                 f"CSV, UTF-8, header: {','.join(CSV_HEADER)}. A cell starting with = + - @ gets a leading '.",
                 None, body=None, params=filters, extra=bad)
    export["responses"]["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    conflict = {"409": _error("The payout's state does not allow it (code payout_conflict): retry takes a failed "
                              "or expired payout, cancel one the consumer has not confirmed.")}
    return {
        "/api/v1/payouts": {"get": ops("listPayouts", "A brand's payouts, newest first", "The payouts.", listed,
                                       body=None, params=filters + paging, extra=bad)},
        "/api/v1/payouts.csv": {"get": export},
        "/api/v1/payouts/{payout_id}": {"get": ops("getPayout", "One payout and its state changes",
                                                   "The payout.", PAYOUT_DETAIL, body=None, params=[_PAYOUT_ID],
                                                   extra=missing)},
        "/api/v1/payouts/{payout_id}/retry": {
            "post": ops("retryPayout", "Pay a failed or expired payout again, under a new bill number (audited)",
                        "The payout after.", PAYOUT_DETAIL, body=None, params=[_PAYOUT_ID],
                        extra={**missing, **conflict})},
        "/api/v1/payouts/{payout_id}/cancel": {
            "post": ops("cancelPayout", "Stop a payout that has not been paid (audited)", "The payout after.",
                        PAYOUT_DETAIL, body=None, params=[_PAYOUT_ID], extra={**missing, **conflict})},
        "/api/v1/points": {
            "get": ops("getPoints", "A member's points balance and history in one brand (points prizes are "
                       "credited when the consumer claims them)", "The balance and the newest entries first.",
                       POINTS, body=None,
                       params=[_query("brand", "The brand's slug (a one-brand token may leave it out).",
                                      {"type": "string", "maxLength": 64}),
                               {**_query("member", "The member: the consumer's WeChat openid.",
                                         {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$"}),
                                "required": True},
                               _query("limit", "Entries (default 50).",
                                      {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
                               _query("before_id", "Page back: entries older than this id.",
                                      {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX})],
                       extra={"400": _error("A parameter is wrong or missing."),
                              "404": _error("No such brand, or not one the token may read.")})},
        "/api/v1/reconciliations": {
            "get": ops("listReconciliations", "The latest `yima payouts reconcile` runs, newest first (a brand's "
                       "token sees only its own payouts' lines)", "The runs.",
                       {"type": "object", "additionalProperties": False, "required": ["reconciliations"],
                        "properties": {"reconciliations": {"type": "array", "items": RUN}}},
                       body=None, params=[_query("limit", "Runs (default 20).",
                                                 {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})],
                       extra={"400": _error("`limit` is wrong.")})},
    }
