"""The OpenAPI paths of voucher 核销, the store ledger and settlement statements (app/settlement_api.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.rules_api import SQL_INT_MAX
from channel.settlement import CSV_HEADER, MAX_PAGE

_MOMENT = {"type": "string", "format": "date-time"}
_DAY = {"type": "string", "format": "date", "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}$"}
_ID = {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}

REDEMPTION = {
    "type": "object", "additionalProperties": False,
    "required": ["award_id", "store_id", "store", "redeemed_at", "face_fen", "rebate_fen", "total_fen",
                 "ledger_line_id"],
    "properties": {"award_id": {"type": "string"}, "store_id": {"type": "integer"}, "store": {"type": "string"},
                   "redeemed_at": _MOMENT,
                   "face_fen": {"type": "integer", "description": "What the brand reimburses (its policy)."},
                   "rebate_fen": {"type": "integer", "description": "The store's 核销 reward."},
                   "total_fen": {"type": "integer"}, "ledger_line_id": {"type": "integer"}},
}
REDEMPTION_ROW = {
    "type": "object", "additionalProperties": False,
    "required": ["award_id", "store_id", "campaign_id", "code", "staff_user_id", "redeemed_at"],
    "properties": {"award_id": {"type": "string"}, "store_id": {"type": "integer"},
                   "campaign_id": {"type": "integer"}, "code": {"type": "string"},
                   "staff_user_id": {"type": ["integer", "null"]}, "redeemed_at": _MOMENT},
}
STATEMENT = {
    "type": "object",
    "required": ["id", "store_id", "store", "period_start", "period_end", "state", "lines", "face_fen", "rebate_fen",
                 "total_fen", "created_at", "created_by", "settled_at", "settled_by"],
    "properties": {"id": {"type": "integer"}, "store_id": {"type": "integer"}, "store": {"type": "string"},
                   "period_start": {"type": "string", "format": "date"},
                   "period_end": {"type": "string", "format": "date", "description": "Included."},
                   "state": {"enum": ["pending", "settled"]}, "lines": {"type": "integer"},
                   "face_fen": {"type": "integer"}, "rebate_fen": {"type": "integer"}, "total_fen": {"type": "integer"},
                   "created_at": _MOMENT, "created_by": {"type": "string"},
                   "settled_at": {"type": ["string", "null"], "format": "date-time"},
                   "settled_by": {"type": "string"}},
}
LINE = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "store_id", "kind", "source", "code", "face_fen", "rebate_fen", "total_fen", "at",
                 "statement_id"],
    "properties": {"id": {"type": "integer"}, "store_id": {"type": "integer"},
                   "kind": {"enum": ["redemption", "open_case", "open_bottle", "sell_through", "ladder"]},
                   "source": {"type": "string", "description": "The redeemed award's id (or the B-side award's)."},
                   "code": {"type": "string", "description": "The redeemed voucher's code; \"\" for other kinds."},
                   "face_fen": {"type": "integer"}, "rebate_fen": {"type": "integer"},
                   "total_fen": {"type": "integer"}, "at": _MOMENT, "statement_id": {"type": ["integer", "null"]}},
}
RECONCILIATION = {
    "type": "object", "additionalProperties": False,
    "required": ["brand_id", "ok", "voucher_awards", "redeemed_awards", "redemptions", "ledger_lines", "face_fen",
                 "rebate_fen", "pending_fen", "settled_fen", "unassigned_fen", "discrepancies"],
    "properties": {
        "brand_id": {"type": "integer"}, "ok": {"type": "boolean"},
        "voucher_awards": {"type": "integer", "description": "Valid voucher awards in the awards ledger."},
        "redeemed_awards": {"type": "integer", "description": "Of those, redeemed."},
        "redemptions": {"type": "integer"}, "ledger_lines": {"type": "integer"},
        "face_fen": {"type": "integer"}, "rebate_fen": {"type": "integer"},
        "pending_fen": {"type": "integer"}, "settled_fen": {"type": "integer"}, "unassigned_fen": {"type": "integer"},
        "discrepancies": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["kind", "ref", "detail"],
            "properties": {"kind": {"enum": ["redemption_without_award", "redemption_of_void_award",
                                             "redemption_not_voucher", "redemption_other_brand",
                                             "redemption_without_line", "line_without_redemption", "line_mismatch",
                                             "statement_totals", "count"]},
                           "ref": {"type": "string"}, "detail": {"type": "string"}}}},
    },
}


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def settlement_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path items, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    brand = _query("brand", "The brand's slug: the platform token names it; a seat's or a brand's token may "
                   "leave it out.", {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,39}$"})
    limit = _query("limit", "Rows per page (default 50).", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE})
    statement_id = {"name": "statement_id", "in": "path", "required": True, "schema": _ID}
    not_found = {"404": _error("No such brand, or none you may see; a statement of another store or brand reads "
                               "the same as a missing one.")}
    bad = {"400": _error("A parameter or field is invalid (`field` names it).")}
    forbidden = {"403": _error("Your seat may not do this (only a store's clerk redeems; brand operators close "
                               "periods and settle; waiters, the warehouse and inspectors read no ledger).")}
    statements = {"type": "object", "additionalProperties": False, "required": ["statements", "next_before_id"],
                  "properties": {"statements": {"type": "array", "items": STATEMENT},
                                 "next_before_id": {"type": ["integer", "null"]}}}
    export = ops("exportStatement", "A statement as CSV: a UTF-8 BOM (Excel) and the header, one row per ledger "
                 "line, the totals last", f"CSV, UTF-8 with BOM, header: {','.join(CSV_HEADER)}.", None, body=None,
                 params=[brand, statement_id], extra={**not_found, **forbidden})
    export["responses"]["200"]["content"] = {"text/csv": {"schema": {"type": "string"}}}
    return {
        "/api/v1/channel/redemptions": {
            "post": ops("redeemVoucher", "Redeem a voucher at the clerk's store, once (a clerk's seat token)",
                        "Redeemed: the ledger line written.", REDEMPTION, status="201", params=[brand],
                        body={"type": "object", "additionalProperties": False, "required": ["token"],
                              "properties": {"token": {"type": "string", "minLength": 1, "maxLength": 400,
                                                       "description": "The voucher QR's URL "
                                                                      "(…/dist/redeem/v/<token>) or the token."}}},
                        extra={**not_found, **forbidden, "409": _error(
                            "`redeem_refused`, with `reason`: redeemed (and `store`, `at`: where and when), "
                            "unregistered (scan a case code at 开箱 first), pending (not in the ledger yet: retry "
                            "in a few seconds), not_found, void, not_voucher.")}),
            "get": ops("listRedemptions", "The redemptions of the caller's stores, newest first", "The redemptions.",
                       {"type": "object", "additionalProperties": False, "required": ["redemptions", "next_before"],
                        "properties": {"redemptions": {"type": "array", "items": REDEMPTION_ROW},
                                       "next_before": {"type": ["string", "null"]}}},
                       body=None, params=[brand, limit, _query("before", "Paging: the previous page's next_before.",
                                                               {"type": "string", "maxLength": 120})],
                       extra={**bad, **not_found, **forbidden}),
        },
        "/api/v1/channel/statements": {
            "get": ops("listStatements", "Settlement statements of the caller's stores, newest first",
                       "The statements.", statements, body=None,
                       params=[brand, _query("state", "Only this state.", {"enum": ["pending", "settled"]}),
                               _query("store_id", "Only this store's.", _ID), limit,
                               _query("before_id", "Paging: the previous page's next_before_id.", _ID)],
                       extra={**bad, **not_found, **forbidden}),
            "post": ops("closePeriod", "Close a period (China's calendar days, both ends included): each store's "
                        "lines not on a statement yet go onto its statement for it (idempotent; audited)",
                        "The statements made or topped up.",
                        {"type": "object", "additionalProperties": False,
                         "required": ["period_start", "period_end", "added_lines", "held_back", "statements"],
                         "properties": {"period_start": {"type": "string", "format": "date"},
                                        "period_end": {"type": "string", "format": "date"},
                                        "added_lines": {"type": "integer"},
                                        "held_back": {"type": "integer", "description": "Lines of the period whose "
                                                      "statement is already settled: left out."},
                                        "statements": {"type": "array", "items": STATEMENT}}},
                        params=[brand],
                        body={"type": "object", "additionalProperties": False,
                              "required": ["period_start", "period_end"],
                              "properties": {"period_start": _DAY, "period_end": _DAY, "store_id": _ID}},
                        extra={**not_found, **forbidden}),
        },
        "/api/v1/channel/statements/{statement_id}": {
            "get": ops("getStatement", "One statement with its ledger lines", "The statement.",
                       {**STATEMENT, "required": [*STATEMENT["required"], "items"],  # type: ignore[list-item]
                        "properties": {**STATEMENT["properties"],  # type: ignore[dict-item]
                                       "items": {"type": "array", "items": LINE}}},
                       body=None, params=[brand, statement_id], extra={**not_found, **forbidden}),
        },
        "/api/v1/channel/statements/{statement_id}/settle": {
            "post": ops("settleStatement", "Mark a statement paid: pending → settled (brand operators; audited)",
                        "The statement.", STATEMENT, body=None, params=[brand, statement_id],
                        extra={**not_found, **forbidden,
                               "409": _error("`channel_conflict`: it was settled already.")}),
        },
        "/api/v1/channel/statements/{statement_id}.csv": {"get": export},
        "/api/v1/channel/reconciliation": {
            "get": ops("getReconciliation", "The brand's redemptions against the awards ledger and the store ledger "
                       "(brand staff)", "The totals and every discrepancy found.", RECONCILIATION, body=None,
                       params=[brand], extra={**not_found, **forbidden}),
        },
    }
