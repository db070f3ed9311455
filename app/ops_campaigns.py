"""Campaign pages of the console: list, view, the editor (new / edit / clone), status changes, delete.

The form ↔ definition conversion lives in app/campaign_form.py; every check is the API's validator
(rules.campaign_store.validate_campaign), its problems shown at their fields; every change is written with
its audit entry (rules/campaign_changes.py). An edit carries the edit_version it was made on, a create
the form's nonce as its idempotency key. Scoped: a campaign of a brand the user may not see is a 404, and
only operators (and admins) may change anything (403).
"""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from accounts.audit import AuditFilter, list_changes
from accounts.roles import Principal
from app.auth import current_principal, require_brand, tr
from app.campaign_form import CampaignForm, definition_to_form, form_to_definition, read_form
from app.campaign_labels import field_label, problem_text, value_label
from app.errors import page_errors
from codegen.db import transaction
from rules import campaign_listing as listing
from rules.campaign import InvalidCampaign, Problem
from rules.campaign_changes import (
    clone_recorded,
    create_recorded,
    delete_recorded,
    set_status_recorded,
    update_recorded,
)
from rules.campaign_store import CampaignConflict, EditConflict, get_campaign, validate_campaign
from rules.cost_preview import preview_cost
from rules.idempotency import IdempotencyKeyPending, IdempotencyKeyReused
from rules.models import Campaign
from rules.region import default_index
from rules.region_tree import region_children, region_label

bp = Blueprint("ops_campaigns", __name__, url_prefix="/ops/campaigns")
page_errors(bp)
SQL_INT_MAX = (1 << 31) - 1
BEIJING = ZoneInfo("Asia/Shanghai")
STATUS_NAMES = {Campaign.DRAFT: ("草稿", "draft"), Campaign.ACTIVE: ("进行中", "active"),
                Campaign.PAUSED: ("已暂停", "paused"), Campaign.ENDED: ("已结束", "ended")}
STATUS_ACTIONS = {  # target status: (zh verb, en verb, from which statuses)
    Campaign.ACTIVE: ("激活", "Activate", (Campaign.DRAFT, Campaign.PAUSED)),
    Campaign.PAUSED: ("暂停", "Pause", (Campaign.ACTIVE,)),
    Campaign.ENDED: ("结束", "End", (Campaign.DRAFT, Campaign.ACTIVE, Campaign.PAUSED)),
}


def sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def principal() -> Principal:
    who = current_principal()
    assert who is not None  # the blueprint's before_request signed them in
    return who


@bp.context_processor
def formatting() -> dict[str, Any]:
    return {"yuan": _yuan, "pct": _pct, "local_time": _local_time, "STATUS_NAMES": STATUS_NAMES,
            "field_label": field_label, "value_label": value_label, "shown": _shown,
            "problem_text": problem_text}


def _shown(path: str, value: Any) -> str:
    """A definition value as the editor shows it: fen as 元, the rest as JSON."""
    if value is None:
        return "—"
    if path.endswith("_fen") and isinstance(value, int) and not isinstance(value, bool):
        return f"{_yuan(value)} 元"
    return json.dumps(value, ensure_ascii=False)


def _local_time(moment: datetime | None) -> str:
    """A stored time (UTC; SQLite hands it back without its offset) in Beijing time."""
    if moment is None:
        return ""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")


def _yuan(fen: int | float | None) -> str:
    if fen is None:
        return "—"
    return f"{fen / 100:,.2f}"


def _pct(p: float | None) -> str:
    if p is None:
        return "—"
    text = f"{p * 100:.4f}".rstrip("0").rstrip(".")
    return f"{text} %"


@bp.before_request
def signed_in() -> Any:
    if current_principal() is None:
        return redirect(url_for("ops_auth.login", next=request.full_path.rstrip("?")))
    return None


@bp.url_value_preprocessor
def ids_in_sql_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    if any(isinstance(v, int) and v > SQL_INT_MAX for v in (values or {}).values()):
        abort(404)


def load_campaign(session: Any, campaign_id: int, need: str) -> Campaign:
    """The campaign, if the caller may `need` it: 404 for a missing id or another brand's, 403 too low a role."""
    row = session.get(Campaign, campaign_id)
    if row is None:
        abort(404)
    require_brand(row.brand_id, need)
    return row  # type: ignore[no-any-return]


# --- list and view -----------------------------------------------------------------------------------


@bp.get("/")
def index() -> Any:
    who = principal()
    slug, status = request.args.get("brand", ""), request.args.get("status", "")
    with sessions()() as s:
        readable = who.readable_brand_ids()
        brand = listing.brand_by_slug(s, slug) if slug else None
        if slug and (brand is None or not who.may(brand.id, "read")):
            abort(404)
        scope = {brand.id} if brand else readable
        rows = listing.campaigns(s, scope, status=status if status in Campaign.STATUSES else "")
        brands = listing.brands(s, readable)
        return render_template("ops/campaigns/index.html", rows=rows, brands=brands, brand=brand, status=status,
                               may_create=who.brands_where("operate") != frozenset())


@bp.get("/<int:campaign_id>")
def view(campaign_id: int) -> Any:
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "read")
        brand = listing.brands(s, [row.brand_id])[0]
        changes = list_changes(s, AuditFilter(target=f"campaign:{row.id}"), limit=10)
        form = definition_to_form(row.definition)
        return render_template("ops/campaigns/view.html", row=row, brand=brand, form=form, changes=changes,
                               preview=preview_cost(row.definition), labels=_labels(form),
                               may_operate=principal().may(row.brand_id, "operate"), actions=STATUS_ACTIONS,
                               nonce=secrets.token_urlsafe(16))


# --- the editor --------------------------------------------------------------------------------------


def _labels(form: CampaignForm) -> dict[str, str]:
    return {prefix: region_label(prefix) for prefix in [*form.include, *form.exclude]}


def _errors(problems: list[Problem]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for p in problems:
        out.setdefault(p.field, []).append(p.message)
    return out


def render_editor(form: CampaignForm, *, problems: list[Problem] = (), campaign: Campaign | None = None,  # type: ignore[assignment]
                  edit_version: int | None = None, nonce: str = "", conflict: dict[str, Any] | None = None,
                  status: int = 200) -> Any:
    who = principal()
    with sessions()() as s:
        operable = listing.brands(s, who.brands_where("operate"))
        brand = listing.brand_by_slug(s, form.brand)
        if campaign is not None and brand is None:
            brand = listing.brands(s, [campaign.brand_id])[0]
        readonly = campaign is not None and (campaign.status == Campaign.ENDED
                                             or not who.may(campaign.brand_id, "operate"))
        if brand is not None and not who.may(brand.id, "read"):
            brand = None
        catalogue = listing.catalogue(s, brand.id if brand else None)
        page = render_template(
            "ops/campaigns/form.html", form=form, errors=_errors(list(problems)), problems=list(problems),
            campaign=campaign, edit_version=edit_version, nonce=nonce or secrets.token_urlsafe(16),
            brands=operable if not readonly else [b for b in [brand] if b], catalogue=catalogue, labels=_labels(form),
            provinces=region_children(""), preview=preview_cost(form_to_definition(form)[0]),
            conflict=conflict, readonly=readonly)
    return page, status


@bp.get("/new")
def new() -> Any:
    who = principal()
    with sessions()() as s:
        operable = listing.brands(s, who.brands_where("operate"))
    if not operable:
        abort(403, description=tr("您没有可以创建活动的品牌。", "You may not create campaigns in any brand."))
    slug = request.args.get("brand", "")
    today = datetime.now(BEIJING).replace(hour=0, minute=0, second=0, microsecond=0, tzinfo=None)
    form = CampaignForm(brand=slug if slug in {b.slug for b in operable} else operable[0].slug,
                        start=today.isoformat(timespec="minutes"),
                        end=(today + timedelta(days=30)).isoformat(timespec="minutes"))
    return render_editor(form)


def _submitted() -> tuple[CampaignForm, dict[str, Any], list[Problem]]:
    """The posted form, its definition, and the form's own problems plus a brand the user may not operate."""
    form = read_form(request.form)
    doc, problems = form_to_definition(form)
    with sessions()() as s:
        brand = listing.brand_by_slug(s, form.brand)
    if form.brand and (brand is None or not principal().may(brand.id, "operate")):
        problems.append(Problem("brand", f"unknown brand {form.brand!r}"))  # another brand reads as unknown
    return form, doc, problems


def _merge(form_problems: list[Problem], exc: InvalidCampaign) -> list[Problem]:
    """The form's problems and the validator's, one list; where the form could not read a field, the
    validator's complaint about it (absent) would only repeat it."""
    taken = {p.field for p in form_problems}
    return [*form_problems, *(p for p in exc.problems if p.field not in taken)]


@bp.post("/new")
def create() -> Any:
    form, doc, problems = _submitted()
    nonce = request.form.get("nonce", "")[:255] or None
    if problems:
        # Still ask the validator, so every problem shows at once.
        return render_editor(form, problems=_validate_only(doc, problems), nonce=nonce or "", status=400)
    try:
        with transaction(sessions()) as s:
            created = create_recorded(s, principal().actor, doc, default_index(), idempotency_key=nonce,
                                      brand_ids=principal().brands_where("operate"))
            row_id = created.campaign.id
            if request.form.get("then") == "activate" and not created.replayed:
                set_status_recorded(s, principal().actor, row_id, Campaign.ACTIVE, default_index())
    except InvalidCampaign as exc:
        return render_editor(form, problems=_merge(problems, exc), nonce=nonce or "", status=400)
    except (IdempotencyKeyReused, IdempotencyKeyPending):
        return render_editor(form, problems=[Problem("", tr(
            "这张表单已经提交过另一份内容；请检查活动列表，或重新打开“新建活动”。",
            "This form was already submitted with other content; check the list, or open “New campaign” again."))],
            status=409)
    flash(tr("活动已保存。", "Campaign saved."), "ok")
    return redirect(url_for("ops_campaigns.view", campaign_id=row_id), 303)


def _validate_only(doc: dict[str, Any], form_problems: list[Problem]) -> list[Problem]:
    try:
        with sessions()() as s:
            validate_campaign(s, doc, default_index())
    except InvalidCampaign as exc:
        return _merge(form_problems, exc)
    return form_problems


@bp.get("/<int:campaign_id>/edit")
def edit(campaign_id: int) -> Any:
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "read")
        s.expunge(row)
    return render_editor(definition_to_form(row.definition), campaign=row, edit_version=row.edit_version)


@bp.post("/<int:campaign_id>/edit")
def update(campaign_id: int) -> Any:
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "operate")
        s.expunge(row)
    form, doc, problems = _submitted()
    try:
        version = int(request.form.get("edit_version", ""))
    except ValueError:
        abort(400, description="edit_version is missing")
    if problems:
        return render_editor(form, problems=_validate_only(doc, problems), campaign=row, edit_version=version,
                             status=400)
    try:
        with transaction(sessions()) as s:
            update_recorded(s, principal().actor, campaign_id, doc, default_index(), edit_version=version,
                            brand_ids=principal().brands_where("operate"))
            if request.form.get("then") == "activate":
                set_status_recorded(s, principal().actor, campaign_id, Campaign.ACTIVE, default_index())
    except EditConflict as exc:
        return render_editor(form, campaign=row, edit_version=version, conflict=_conflict(campaign_id, doc, exc),
                             status=409)
    except InvalidCampaign as exc:
        return render_editor(form, problems=_merge(problems, exc), campaign=row, edit_version=version, status=400)
    except CampaignConflict as exc:
        return render_editor(form, problems=[Problem("", str(exc))], campaign=row, edit_version=version, status=409)
    flash(tr("修改已保存。", "Changes saved."), "ok")
    return redirect(url_for("ops_campaigns.view", campaign_id=campaign_id), 303)


def _flat(value: Any, path: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, child in value.items():
            out.update(_flat(child, f"{path}.{key}" if path else str(key)))
        return out
    return {path: value}


def _conflict(campaign_id: int, mine: dict[str, Any], exc: EditConflict) -> dict[str, Any]:
    """Who changed the campaign meanwhile, and where the saved version differs from this form."""
    with sessions()() as s:
        current = get_campaign(s, campaign_id)
        latest = list_changes(s, AuditFilter(target=f"campaign:{campaign_id}"), limit=1)
        theirs, yours = _flat(current.definition), _flat(mine)
        differences = [(path, theirs.get(path), yours.get(path)) for path in sorted(theirs.keys() | yours.keys())
                       if theirs.get(path) != yours.get(path)]
        return {"current_version": exc.current, "who": latest[0].actor if latest else "",
                "when": latest[0].at if latest else current.updated_at, "differences": differences}


# --- status, clone, delete ---------------------------------------------------------------------------


@bp.get("/<int:campaign_id>/status/<target>")
def confirm_status(campaign_id: int, target: str) -> Any:
    if target not in STATUS_ACTIONS:
        abort(404)
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "operate")
        return render_template("ops/campaigns/confirm.html", row=row, target=target, action=STATUS_ACTIONS[target])


@bp.post("/<int:campaign_id>/status/<target>")
def change_status(campaign_id: int, target: str) -> Any:
    if target not in STATUS_ACTIONS:
        abort(404)
    with sessions()() as s:
        load_campaign(s, campaign_id, "operate")
    try:
        with transaction(sessions()) as s:
            set_status_recorded(s, principal().actor, campaign_id, target, default_index())
    except InvalidCampaign as exc:
        flash(tr("无法更改状态：", "Cannot change the status: ") + "; ".join(
            f"{p.field}: {p.message}" for p in exc.problems), "error")
    except CampaignConflict as exc:
        flash(str(exc), "error")
    else:
        zh, en, _ = STATUS_ACTIONS[target]
        flash(tr(f"已{zh}。发布后对扫码生效。", f"{en}d. Publish to apply it to scans."), "ok")
    return redirect(url_for("ops_campaigns.view", campaign_id=campaign_id), 303)


@bp.post("/<int:campaign_id>/clone")
def clone(campaign_id: int) -> Any:
    with sessions()() as s:
        load_campaign(s, campaign_id, "operate")
    nonce = request.form.get("nonce", "")[:255] or None
    try:
        with transaction(sessions()) as s:
            created = clone_recorded(s, principal().actor, campaign_id, default_index(), idempotency_key=nonce,
                                     brand_ids=principal().brands_where("operate"))
            new_id = created.campaign.id
    except InvalidCampaign as exc:
        flash(tr("无法复制：", "Cannot clone: ") + "; ".join(f"{p.field}: {p.message}" for p in exc.problems),
              "error")
        return redirect(url_for("ops_campaigns.view", campaign_id=campaign_id), 303)
    except (IdempotencyKeyReused, IdempotencyKeyPending):
        abort(409)
    flash(tr("已复制为草稿，请修改后保存。", "Cloned as a draft: edit it and save."), "ok")
    return redirect(url_for("ops_campaigns.edit", campaign_id=new_id), 303)


@bp.get("/<int:campaign_id>/delete")
def confirm_delete(campaign_id: int) -> Any:
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "operate")
        return render_template("ops/campaigns/confirm.html", row=row, target="delete", action=None)


@bp.post("/<int:campaign_id>/delete")
def delete(campaign_id: int) -> Any:
    with sessions()() as s:
        row = load_campaign(s, campaign_id, "operate")
        slug = listing.brands(s, [row.brand_id])[0].slug
    try:
        with transaction(sessions()) as s:
            delete_recorded(s, principal().actor, campaign_id)
    except CampaignConflict as exc:
        flash(str(exc), "error")
        return redirect(url_for("ops_campaigns.view", campaign_id=campaign_id), 303)
    flash(tr("草稿已删除。", "Draft deleted."), "ok")
    return redirect(url_for("ops_campaigns.index", brand=slug), 303)


from app import ops_campaign_parts, ops_campaign_trials  # noqa: E402,F401  (their routes join this blueprint)
