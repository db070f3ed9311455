"""The brand's block / allow lists (/ops/risk/lists) and its risk policy (/ops/risk/policy) in the console.

Nested in the risk blueprint (app/ops_risk_views.py: its error pages and template helpers apply here too).
A wrong field is shown on the field with the form kept as typed, and nothing is saved; the domain
(risk.lists, risk.policy_store) checks the values and writes the audit entries.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from app import risk_api
from app.audit_filters import SQL_INT_MAX
from app.auth import current_principal, login_required, require_brand, tr
from app.brand_scope import BrandScope, page_brand
from app.errors import page_errors
from app.ops_risk_labels import POLICY_FIELDS, POLICY_GROUPS
from codegen.db import transaction
from codegen.models import Brand
from risk import lists, policy_store
from risk.errors import InvalidRisk
from risk.models import LIST_SUBJECTS
from risk.policy import ACTIONS, RiskPolicy

bp = Blueprint("settings", __name__)
page_errors(bp)  # every blueprint answers domain errors itself (tests/web/test_error_handlers.py)
ENTRY_FIELDS = ("kind", "subject", "action", "note")
VALUE_MAX = 9  # digits of a policy number: the domain's own limit (10,000,000) has 8


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _redis() -> Any:
    return current_app.extensions["yima.redis"]


# --- block / allow lists ------------------------------------------------------------------------------------

def _lists_page(brand: BrandScope, form: dict[str, str], errors: dict[str, str], status: int = 200) -> Any:
    kind = request.args.get("kind") or None
    action = request.args.get("action") or None
    limit, offset = risk_api._paging()
    with _sessions()() as s:
        page = lists.list_entries(s, brand.id, kind=kind, action=action, limit=limit, offset=offset)
        s.expunge_all()
    return render_template("ops/risk/lists.html", brand=brand, entries=page.entries, total=page.total, kind=kind,
                           action=action, kinds=LIST_SUBJECTS, actions=lists.ACTIONS, limit=limit, offset=offset,
                           form=form, errors=errors, can_operate=brand.may("operate"), tab="lists"), status


@bp.get("/lists")
@login_required
def entries() -> Any:
    brand = page_brand("ops_risk.settings.entries")
    if not isinstance(brand, BrandScope):
        return brand
    return _lists_page(brand, {"kind": "d", "action": "block"}, {})


@bp.post("/lists")
@login_required
def add_entry() -> Any:
    brand = page_brand("ops_risk.settings.entries", "operate")
    if not isinstance(brand, BrandScope):
        return brand
    form = {name: request.form.get(name, "")[:600] for name in ENTRY_FIELDS}
    note = form["note"].strip()
    if len(note) > lists.NOTE_MAX or "\x00" in note:
        return _lists_page(brand, form, {"note": tr(f"备注最多 {lists.NOTE_MAX} 个字符。",
                                                    f"A note has at most {lists.NOTE_MAX} characters.")}, 400)
    try:
        with transaction(_sessions()) as s:
            entry = lists.add_entry(s, _redis(), brand_id=brand.id, kind=form["kind"], subject=form["subject"],
                                    action=form["action"], actor=brand.principal.actor, note=note)
            subject = entry.subject
    except InvalidRisk as exc:
        return _lists_page(brand, form, {exc.field or "subject": exc.public_message()}, 400)
    flash(tr(f"已加入名单：{subject}", f"Listed: {subject}"), "ok")
    return redirect(url_for("ops_risk.settings.entries", brand=brand.slug), 303)


@bp.post("/lists/<int:entry_id>/remove")
@login_required
def remove_entry(entry_id: int) -> Any:
    if entry_id > SQL_INT_MAX:
        abort(404)
    with _sessions()() as s:
        found, brand_id = lists.entry_brand(s, entry_id)
    if not found or brand_id is None:  # the platform's entries are the platform admins' (the API)
        abort(404)
    who = require_brand(brand_id, "operate", current_principal())
    with transaction(_sessions()) as s:
        entry = lists.remove_entry(s, _redis(), entry_id, brand_id=brand_id, actor=who.actor)
        brand = s.get(Brand, brand_id)
        subject, slug = entry.subject, brand.slug if brand is not None else None
    flash(tr(f"已移出名单：{subject}", f"Removed from the list: {subject}"), "ok")
    return redirect(url_for("ops_risk.settings.entries", brand=slug), 303)


# --- the policy ---------------------------------------------------------------------------------------------

def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


def _parse_policy(form: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(the overrides the form gives, errors by field): an empty field follows the default."""
    defaults = RiskPolicy()
    doc: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for name, raw in form.items():
        if raw == "":
            continue
        default = getattr(defaults, name)
        if isinstance(default, bool):
            if raw not in ("on", "off"):
                errors[name] = tr("请选择开或关", "choose on or off")
            else:
                doc[name] = raw == "on"
        elif isinstance(default, str):
            if raw not in ACTIONS:
                errors[name] = tr("请从列表中选择", "choose one of the list")
            else:
                doc[name] = raw
        elif raw.isascii() and raw.isdigit() and len(raw) <= VALUE_MAX:
            doc[name] = int(raw)
        else:
            errors[name] = tr("须为不小于 0 的整数", "must be a whole number, 0 or more")
    return doc, errors


def _policy_page(brand: BrandScope, form: dict[str, str] | None, errors: dict[str, str], status: int = 200) -> Any:
    with _sessions()() as s:
        view = policy_store.get_policy(s, brand.id)
    if form is None:
        form = {name: _as_text(view.overrides[name]) if name in view.overrides else "" for name in POLICY_FIELDS}
    return render_template("ops/risk/policy.html", brand=brand, view=view, form=form, errors=errors,
                           groups=POLICY_GROUPS, policy=view.policy, can_operate=brand.may("operate"),
                           tab="policy"), status


@bp.get("/policy")
@login_required
def policy() -> Any:
    brand = page_brand("ops_risk.settings.policy")
    if not isinstance(brand, BrandScope):
        return brand
    return _policy_page(brand, None, {})


@bp.post("/policy")
@login_required
def save_policy() -> Any:
    brand = page_brand("ops_risk.settings.policy", "operate")
    if not isinstance(brand, BrandScope):
        return brand
    form = {name: request.form.get(name, "").strip()[:40] for name in POLICY_FIELDS}
    doc, errors = _parse_policy(form)
    if errors:
        return _policy_page(brand, form, errors, 400)
    try:
        with transaction(_sessions()) as s:
            policy_store.save_policy(s, _redis(), brand.id, doc, brand.principal.actor)
    except InvalidRisk as exc:
        field = exc.field if exc.field in POLICY_FIELDS else "_form"
        return _policy_page(brand, form, {field: exc.public_message()}, 400)
    flash(tr("风控策略已保存，之后的扫码按新策略判断。", "Policy saved; the scans from now on follow it."), "ok")
    return redirect(url_for("ops_risk.settings.policy", brand=brand.slug), 303)
