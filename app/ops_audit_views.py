"""The audit log page (/ops/audit): every change in the caller's brands, newest first, filtered and paged,
each entry's before and after shown as the fields that changed."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, render_template, request
from sqlalchemy import select

from accounts.audit import AuditFilter, count_changes, list_changes
from accounts.audit_diff import field_changes
from app.audit_filters import FilterProblem, parse_audit_filter, parse_before_id
from app.auth import current_principal, login_required, tr
from app.console_format import console_helpers
from app.errors import page_errors
from codegen.models import Brand

bp = Blueprint("ops_audit", __name__, url_prefix="/ops")
page_errors(bp)
bp.context_processor(console_helpers)
PAGE = 50
FILTERS = ("brand", "action", "actor", "target", "since", "until")
_FIELD_ZH = {"brand": "品牌", "action": "操作", "actor": "操作人", "target": "对象", "since": "开始日期",
             "until": "结束日期", "before_id": "分页"}


@bp.get("/audit")
@login_required
def index() -> Any:
    who = current_principal()
    assert who is not None
    args = {name: request.args.get(name, "")[:200] for name in FILTERS}
    readable = who.readable_brand_ids()
    errors: dict[str, str] = {}
    with current_app.extensions["yima.db"].sessions() as s:
        query = select(Brand).order_by(Brand.name)
        if readable is not None:
            query = query.where(Brand.id.in_(readable))
        brands = list(s.scalars(query))
        try:
            audit_filter = parse_audit_filter(args, who, {b.slug: b.id for b in brands})
            before_id = parse_before_id(request.args.get("before"))
        except FilterProblem as exc:
            errors[exc.field] = tr(f"{_FIELD_ZH.get(exc.field, exc.field)}：格式不正确（{exc.message}）", exc.message)
            audit_filter, before_id = AuditFilter(brand_ids=frozenset()), None  # show nothing rather than too much
        entries = list_changes(s, audit_filter, before_id=before_id, limit=PAGE + 1)
        total = count_changes(s, audit_filter)
    older = entries[PAGE - 1].id if len(entries) > PAGE else None
    entries = entries[:PAGE]
    slugs = {b.id: b.slug for b in brands}
    shown = [(e, slugs.get(e.brand_id) if e.brand_id is not None else None, field_changes(e.before, e.after))
             for e in entries]
    query = {k: v for k, v in args.items() if v}
    page = render_template("ops/audit.html", entries=shown, brands=brands, args=args, query=query, errors=errors,
                           total=total, older=older, paged=before_id is not None, platform=readable is None)
    return page, 400 if errors else 200
