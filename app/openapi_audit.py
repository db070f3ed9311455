"""GET /api/v1/audit in the OpenAPI document (kept beside the route's own module, joined by app/openapi.py)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from accounts.audit import MAX_PAGE
from app.audit_filters import SQL_INT_MAX


def _query(name: str, description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": description,
            "schema": schema or {"type": "string", "maxLength": 100, "pattern": "^[^\\u0000]*$"}}


_MOMENT = {"anyOf": [{"type": "string", "format": "date"}, {"type": "string", "format": "date-time"}],
           "description": "A day (2026-12-02, China time) or a date-time with its offset."}
ENTRY = {
    "type": "object", "additionalProperties": False,
    "required": ["id", "at", "actor", "action", "target", "brand", "before", "after", "note"],
    "properties": {
        "id": {"type": "integer"},
        "at": {"type": "string", "format": "date-time"},
        "actor": {"type": "string", "description": "user:<id> <email>, token:<id> <prefix>… of <email>, "
                                                   "platform-token, cli"},
        "action": {"type": "string", "description": "campaign.create, campaign.status, rules.publish, user.role, "
                                                    "token.revoke, …"},
        "target": {"type": "string", "description": "campaign:12, batch:3, user:4, token:7, …"},
        "brand": {"type": ["string", "null"], "description": "The brand's slug; null: platform-wide."},
        "before": {"description": "The object before the change (null for a creation)."},
        "after": {"description": "The object after the change (null for a deletion)."},
        "note": {"type": "string"},
    },
}


def audit_paths(ops: Callable[..., dict[str, Any]]) -> dict[str, Any]:
    """The path item, built with openapi.py's `_ops` (security, the ops API's error responses)."""
    params = [
        _query("brand", "A brand's slug (one the token may read; another reads as unknown: 400)."),
        _query("action", "An action prefix: `campaign` matches campaign.create, campaign.status, …"),
        _query("actor", "A part of the actor."),
        _query("target", "Exactly, e.g. `campaign:12`."),
        _query("since", "From (included).", _MOMENT),
        _query("until", "Until: a day is included whole; a date-time is excluded.", _MOMENT),
        _query("before_id", "Paging: the `next_before_id` of the previous page.",
               {"type": "integer", "minimum": 1, "maximum": SQL_INT_MAX}),
        _query("limit", "Entries per page (default 50).", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}),
    ]
    ok = {"type": "object", "additionalProperties": False, "required": ["entries", "next_before_id"],
          "properties": {"entries": {"type": "array", "items": ENTRY},
                         "next_before_id": {"type": ["integer", "null"]}}}
    bad = {"400": {"description": "A filter is wrong: `problems` names it.",
                   "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}}
    return {"/api/v1/audit": {"get": ops("listAuditEntries", "The audit log of the token's brand, newest first",
                                         "The entries.", ok, body=None, params=params, extra=bad)}}
