"""GET /api/v1/audit: the audit log as JSON, with the console page's filters, scoped to the caller's token
(a personal token sees its brand's entries; the platform token every entry, platform-wide ones included).

Parameters: brand (slug), action (prefix), actor (substring), target (exact), since / until (a day in
China time, or a date-time with offset), before_id (paging: the last id of the previous page), limit
(1-200, default 50). Answers {"entries": [...], "next_before_id": id or null}.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select

from accounts.audit import MAX_PAGE, list_changes
from accounts.models import AuditEntry
from app.audit_filters import FilterProblem, parse_audit_filter, parse_before_id
from app.auth import api_principal_or_none
from app.errors import json_errors
from app.rules_api import require_api_token
from codegen.models import Brand

bp = Blueprint("audit_api", __name__, url_prefix="/api/v1")
bp.before_request(require_api_token)
json_errors(bp)
PARAMETERS = frozenset({"brand", "action", "actor", "target", "since", "until", "before_id", "limit"})


def _entry_json(entry: AuditEntry, slugs: dict[int, str]) -> dict[str, Any]:
    at = entry.at if entry.at.tzinfo else entry.at.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return {"id": entry.id, "at": at.isoformat(), "actor": entry.actor, "action": entry.action,
            "target": entry.target, "brand": slugs.get(entry.brand_id) if entry.brand_id is not None else None,
            "before": entry.before, "after": entry.after, "note": entry.note}


@bp.get("/audit")
def audit_index() -> Any:
    who = api_principal_or_none()
    assert who is not None  # require_api_token ran
    unknown = sorted(set(request.args) - PARAMETERS)
    if unknown:
        raise FilterProblem(unknown[0], "unknown parameter")
    raw_limit = request.args.get("limit", "50")
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= MAX_PAGE:
        raise FilterProblem("limit", f"must be a whole number 1-{MAX_PAGE}")
    limit = int(raw_limit)
    readable = who.readable_brand_ids()
    with current_app.extensions["yima.db"].sessions() as s:
        query = select(Brand.id, Brand.slug)
        if readable is not None:
            query = query.where(Brand.id.in_(readable))
        slugs: dict[int, str] = {bid: slug for bid, slug in s.execute(query)}
        audit_filter = parse_audit_filter(request.args, who, {slug: bid for bid, slug in slugs.items()}, strict=True)
        entries = list_changes(s, audit_filter, before_id=parse_before_id(request.args.get("before_id")),
                               limit=limit)
        more = len(entries) == limit and bool(list_changes(s, audit_filter, before_id=entries[-1].id, limit=1))
        return jsonify({"entries": [_entry_json(e, slugs) for e in entries],
                        "next_before_id": entries[-1].id if more else None})
