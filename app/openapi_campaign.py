"""JSON Schemas of the operations API's campaign documents: the definition an operator writes, the campaign
the API answers with, simulation and backtest results.

The definition's schema is never stricter than rules/campaign.py's validator (schemathesis sends documents
that break it and expects a 4xx); what no schema can say — catalogue references, windows in order, a
budget that covers the prizes — the validator adds. A null optional field means the field is absent.
"""

from __future__ import annotations

from typing import Any

from codegen.codeformat import MAX_BATCH_ID
from rules.campaign import (
    AUDIENCES,
    CODE_ROLES,
    CONSOLATION_KINDS,
    MAX_CASH_FEN,
    MIN_CASH_FEN,
    ORDINALS,
    PRIZE_KINDS,
)
from rules.campaign_fields import MIN_B_CASH_FEN


def _int(low: int, high: int, *, nullable: bool = True, **extra: Any) -> dict[str, Any]:
    return {"type": ["integer", "null"] if nullable else "integer", "minimum": low, "maximum": high, **extra}


def _object(properties: dict[str, Any], *, required: list[str] | None = None, nullable: bool = True,
            description: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {"type": ["object", "null"] if nullable else "object", "additionalProperties": False,
                           "properties": properties}
    if required:
        out["required"] = required
    if description:
        out["description"] = description
    return out


_NAMES = {"type": ["array", "null"], "minItems": 1, "items": {"type": "string", "minLength": 1},
          "description": "Leave out (or null) for 'any'; an empty list would match nothing and is refused."}
_PREFIXES = {"type": "string", "pattern": "^[0-9]{2}([0-9]{2}){0,2}$",
             "description": "A GB/T 2260 adcode prefix: 44 Guangdong, 4403 Shenzhen, 440305 Nanshan."}
_MOMENT = {"type": "string", "examples": ["2026-12-01T00:00:00+08:00"],
           "description": "ISO 8601 date-time, years 2000-2100; without an offset it is read in `timezone`."}

PRIZE = _object({
    "kind": {"enum": list(PRIZE_KINDS)},
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 100,
             "description": "Default for cash 红包, for points 积分; other kinds need one."},
    "weight": {"type": "number", "minimum": 0, "maximum": 1,
               "description": "Probability per draw (0.25 = 25 %); the prizes' weights add up to at most 1."},
    "min_fen": _int(MIN_B_CASH_FEN, MAX_CASH_FEN, description=f"cash only: the amount, or the lowest of a range; at "
                    f"least {MIN_CASH_FEN} (a red packet) except in a B-side campaign (a line on a store's statement)"),
    "max_fen": _int(MIN_B_CASH_FEN, MAX_CASH_FEN, description="cash only: the highest of a range (default min_fen)"),
    "points": _int(1, 1_000_000, description="points only"),
    "total": _int(1, 100_000_000, description="Quantity over the campaign (default: limited by the budget)."),
    "daily": _int(1, 100_000_000, description="Quantity per local day."),
}, required=["kind", "weight"], nullable=False)

CONSOLATION = _object({
    "kind": {"enum": list(CONSOLATION_KINDS)},
    "name": {"type": ["string", "null"], "minLength": 1, "maxLength": 100},
    "points": _int(1, 1_000_000, description="points only"),
}, required=["kind"], description="What a draw that picks no prize gives (1 − Σ weights of the time).")

_DEFINITION_FIELDS: dict[str, Any] = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "brand": {"type": "string", "minLength": 1, "description": "The brand's slug."},
    "priority": _int(-1000, 1000, description="Among exclusive campaigns matching a scan, the highest applies."),
    "exclusive": {"type": "boolean", "description": "When it matches, no other campaign applies."},
    "window": _object({
        "start": _MOMENT, "end": _MOMENT,
        "daily_hours": {"type": ["array", "null"], "minItems": 2, "maxItems": 2,
                        "items": {"type": "string", "pattern": "^[0-9]{2}:[0-9]{2}$"},
                        "description": '["08:00", "22:00"]: from, to (local); may wrap midnight; to may be 24:00.'},
        "timezone": {"type": "string", "description": "IANA zone, default Asia/Shanghai."},
    }, required=["start", "end"], nullable=False),
    "scope": _object({
        "products": {**_NAMES, "description": "SKUs of the brand; leave out for any."},
        "batches": {"type": ["array", "null"], "minItems": 1,
                    "items": {"type": "integer", "minimum": 1, "maximum": MAX_BATCH_ID}},
        "serials": {"type": ["array", "null"], "minItems": 1,
                    "description": "[first, last] code segments (serials are per batch: needs batches).",
                    "items": {"type": "array", "minItems": 2, "maxItems": 2,
                              "items": {"type": "integer", "minimum": 0}}},
        "roles": {"type": ["array", "null"], "minItems": 1, "items": {"enum": list(CODE_ROLES)},
                  "description": "Default [\"inner\"] (the code under the cap); \"case\" only for a "
                                 "store_open_case campaign, which defaults to it."},
    }),
    "regions": _object({
        "include": {"type": ["array", "null"], "minItems": 1, "items": _PREFIXES,
                    "description": "Leave out for everywhere; an empty list would match nothing and is refused."},
        "exclude": {"type": ["array", "null"], "items": _PREFIXES, "description": "May be empty: excludes nothing."},
        "sources": {"type": ["array", "null"], "minItems": 1, "maxItems": 2, "uniqueItems": True,
                    "items": {"enum": ["gps", "ip"]},
                    "description": "Where a scan's region may come from: gps (the phone's location or an adcode "
                                   "the app sends), ip (the client address). Default both; needs include or "
                                   "exclude."},
    }),
    "members": _object({
        "audience": {"enum": list(AUDIENCES),
                     "description": "Consumers: anyone, members, new_members. The B side (docs/channel-bside.md): "
                                    "store_open_case (a store's staff scan a case they received), "
                                    "waiter_open_bottle (a waiter scans a cap's inner code), store_sell_through "
                                    "(a consumer's first scan of an item from a case the store received)."},
        "tiers": _NAMES,
        "tags": {**_NAMES, "description": "The member needs any one of these."},
        "tier_multipliers": {"type": ["object", "null"],
                             "additionalProperties": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                             "description": 'Cash multiplied per tier, e.g. {"gold": 2}.'},
    }),
    "ordinal": _object({
        "kind": {"enum": list(ORDINALS)},
        "n": _int(2, 1_000_000, description="every_nth: draw on every n-th eligible scan."),
    }),
    "first_scan_wins": {"type": "boolean",
                        "description": "首扫必中: needs a consolation for when the draw picks no prize."},
    "caps": _object({
        "per_member_daily": _int(1, 1_000_000), "per_member": _int(1, 1_000_000),
        "one_per_code": {"type": "boolean", "description": "One draw per code (default true)."},
    }),
    "budget": _object({
        "total_fen": _int(0, 10**12, nullable=False, description="Cash budget in fen (1 元 = 100 fen)."),
        "daily_fen": _int(1, 10**12),
    }, required=["total_fen"], nullable=False),
    "prizes": {"type": "array", "minItems": 1, "items": PRIZE},
    "consolation": CONSOLATION,
}
DEFINITION = {**_object(_DEFINITION_FIELDS, required=["name", "brand", "window", "budget", "prizes"], nullable=False),
              "description": "A campaign definition (docs/rules.md). Every problem is reported at once, each at "
                             "its field's path (prizes[2].weight, window.start, regions.include)."}
UPDATE = {**DEFINITION, "required": [*DEFINITION["required"], "edit_version"],
          "properties": {**_DEFINITION_FIELDS, "edit_version": {
              "type": "integer", "description": "The campaign's edit_version as you read it: if it has moved on "
                                                "(someone else saved meanwhile), the edit is refused with 409."}},
          "description": "The new definition, plus the edit_version it was made on."}

CAMPAIGN = {
    "type": "object", "required": ["id", "name", "status", "edit_version", "definition", "updated_at"],
    "properties": {"id": {"type": "integer"}, "name": {"type": "string"},
                   "status": {"enum": ["draft", "active", "paused", "ended"]},
                   "edit_version": {"type": "integer", "description": "Counts the definition's edits; send it "
                                                                       "back with PUT."},
                   "definition": {"$ref": "#/components/schemas/CampaignDefinition"},
                   "updated_at": {"type": ["string", "null"], "format": "date-time"}},
}

_PROBABILITY = {"type": "number", "minimum": 0, "maximum": 1}
_SIMULATED_PRIZE = {
    "type": "object", "required": ["kind", "name", "probability"],
    "properties": {"kind": {"type": "string"}, "name": {"type": "string"}, "probability": _PROBABILITY,
                   "min_fen": {"type": "integer", "description": "cash, after the tier multiplier"},
                   "max_fen": {"type": "integer"}, "points": {"type": "integer"}},
}
SIMULATION = {
    "type": "object", "required": ["context", "campaigns", "invalid_campaigns", "consumed"],
    "properties": {
        "context": {"type": "object", "required": ["batch_id", "serial", "role", "adcode", "tier", "at"],
                    "properties": {"batch_id": {"type": "integer"}, "serial": {"type": "integer"},
                                   "role": {"type": "string"}, "adcode": {"type": ["string", "null"]},
                                   "tier": {"type": ["string", "null"]}, "at": {"type": "string"}}},
        "campaigns": {"type": "array", "items": {
            "type": "object",
            "required": ["id", "name", "status", "matched", "reason", "priority", "exclusive", "needs",
                         "win_probability", "consolation_probability", "miss_probability", "first_scan_wins",
                         "prizes", "consolation"],
            "properties": {
                "id": {"type": "integer"}, "name": {"type": "string"},
                "status": {"enum": ["draft", "active", "paused"]}, "matched": {"type": "boolean"},
                "reason": {"type": "string"}, "priority": {"type": "integer"}, "exclusive": {"type": "boolean"},
                "needs": {"type": "array", "items": {"type": "string"},
                          "description": "What else the scan needs: its code's first scan, every Nth scan, ..."},
                "win_probability": {**_PROBABILITY, "description": "A prize of the table, per scan that meets "
                                                                   "`needs` (every Nth: 1 in N draws)."},
                "consolation_probability": {**_PROBABILITY, "description": "The consolation: 1 − Σ prizes when "
                                                                           "there is one."},
                "miss_probability": {**_PROBABILITY, "description": "Nothing at all."},
                "first_scan_wins": {"type": "boolean"},
                "prizes": {"type": "array", "items": _SIMULATED_PRIZE},
                "consolation": {"oneOf": [_SIMULATED_PRIZE, {"type": "null"}]},
            }}},
        "invalid_campaigns": {"type": "array", "items": {
            "type": "object", "required": ["id", "problems"],
            "properties": {"id": {"type": "integer"}, "problems": {"type": "string"}}}},
        "consumed": {"const": False},
    },
}

BACKTEST = {
    "type": "object",
    "required": ["campaign_id", "from", "to", "seed", "scans", "matched", "draws", "awards", "cost_fen",
                 "expected_awards", "expected_cost_fen", "truncated", "by_prize"],
    "properties": {
        "campaign_id": {"type": "integer"}, "from": {"type": "string"}, "to": {"type": "string"},
        "seed": {"type": "integer"}, "scans": {"type": "integer"}, "matched": {"type": "integer"},
        "draws": {"type": "integer"}, "awards": {"type": "integer"}, "cost_fen": {"type": "integer"},
        "expected_awards": {"type": "number", "description": "Probability-weighted, without any limit."},
        "expected_cost_fen": {"type": "integer"},
        "truncated": {"type": "boolean", "description": "The period held more events than one backtest reads."},
        "by_prize": {"type": "array", "items": {
            "type": "object", "required": ["index", "name", "awards"],
            "properties": {"index": {"type": "integer"}, "name": {"type": "string"}, "awards": {"type": "integer"}}}},
    },
}
