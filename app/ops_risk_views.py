"""The risk review in the console (/ops/risk): the queue of flagged subjects, one flag's evidence and its held
awards, the brand's held awards (奖品审核), and the reviewer's actions (block or clear a flag; release or
reject one award), each asked once more on a page of its own before it happens. The brand's block / allow
lists and its policy are in app/ops_risk_settings.py (a blueprint nested in this one).

Operators and admins act; analysts read (no buttons, and a forced POST is 403). Another brand's flag or
award reads like a missing one (404). The domain functions (risk.review) write the audit entries; the payout
rail and the prompt submit of a released award's payout are the risk API's (app/risk_api.py).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for

from app import risk_api
from app.audit_filters import SQL_INT_MAX
from app.auth import current_principal, login_required, require_brand, tr
from app.brand_scope import BrandScope, page_brand
from app.console_format import console_helpers
from app.errors import page_errors
from app.ops_risk_labels import risk_helpers
from app.ops_risk_settings import bp as settings_bp
from app.payout_labels import label_helpers
from codegen.db import transaction
from codegen.models import Brand
from risk import review
from risk.errors import InvalidRisk, RiskConflict
from risk.models import FLAG_SUBJECTS, RiskFlag
from rules.models import Award

bp = Blueprint("ops_risk", __name__, url_prefix="/ops/risk")
page_errors(bp)
bp.context_processor(console_helpers)
bp.context_processor(label_helpers)
bp.context_processor(risk_helpers)
bp.register_blueprint(settings_bp)
ANY = "any"
AWARD_ID_MAX = 48
# (zh, en) of each action's button, and the words of its confirmation.
WORDS = {"block": ("封禁", "Block"), "clear": ("放行", "Clear"),
         "release": ("放行发奖", "Release"), "reject": ("驳回", "Reject")}


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _brand_row(s: Any, brand_id: int) -> tuple[str, str]:
    brand = s.get(Brand, brand_id)
    return brand.name, brand.slug


# --- the queue and the held awards ------------------------------------------------------------------------

@bp.get("")
@login_required
def index() -> Any:
    brand = page_brand("ops_risk.index")
    if not isinstance(brand, BrandScope):
        return brand
    state = request.args.get("state", RiskFlag.OPEN)
    kind = request.args.get("kind") or None
    if state not in (*RiskFlag.STATES, ANY):
        raise InvalidRisk(tr("状态须为 open、blocked、cleared 或 any", "state must be open, blocked, cleared or any"),
                          "state")
    limit, offset = risk_api._paging()
    with _sessions()() as s:
        page = review.flag_queue(s, brand.id, None if state == ANY else state, kind, limit, offset)
        open_total = page.total if (state, kind) == (RiskFlag.OPEN, None) else \
            review.flag_queue(s, brand.id, RiskFlag.OPEN, None, 1).total
        held_total = review.held_awards(s, brand.id, 1).total
        s.expunge_all()
    return render_template("ops/risk/queue.html", brand=brand, rows=page.rows, total=page.total, state=state,
                           kind=kind, kinds=FLAG_SUBJECTS, states=(*RiskFlag.STATES, ANY), limit=limit,
                           offset=offset, open_total=open_total, held_total=held_total,
                           can_operate=brand.may("operate"), tab="queue")


@bp.get("/holds")
@login_required
def holds() -> Any:
    brand = page_brand("ops_risk.holds")
    if not isinstance(brand, BrandScope):
        return brand
    limit, offset = risk_api._paging()
    with _sessions()() as s:
        page = review.held_awards(s, brand.id, limit, offset)
        open_total = review.flag_queue(s, brand.id, RiskFlag.OPEN, None, 1).total
        s.expunge_all()
    return render_template("ops/risk/holds.html", brand=brand, rows=page.rows, total=page.total, limit=limit,
                           offset=offset, open_total=open_total, held_total=page.total,
                           can_operate=brand.may("operate"), tab="holds")


# --- one flag -----------------------------------------------------------------------------------------------

def _flag_brand(flag_id: int, need: str) -> tuple[int, Any]:
    """The flag's brand and the caller when they may `need` there; 404 for another brand's or none, 403."""
    if flag_id > SQL_INT_MAX:
        abort(404)
    with _sessions()() as s:
        brand_id = review.flag_brand(s, flag_id)
    if brand_id is None:
        abort(404)
    return brand_id, require_brand(brand_id, need, current_principal())


@bp.get("/flags/<int:flag_id>")
@login_required
def flag(flag_id: int) -> Any:
    brand_id, who = _flag_brand(flag_id, "read")
    with _sessions()() as s:
        d = review.flag_detail(s, brand_id, flag_id)
        name, slug = _brand_row(s, brand_id)
        s.expunge_all()
    evidence = {k: v for k, v in (d.flag.evidence or {}).items() if k != "events"}
    days = evidence.pop("days", None)
    return render_template("ops/risk/flag.html", f=d.flag, awards=d.awards, evidence=evidence,
                           days=days if isinstance(days, dict) else {}, brand_name=name, brand_slug=slug,
                           can_operate=who.may(brand_id, "operate"), words=WORDS)


def _flag_confirm(flag_id: int, action: str, *, error: str = "", status: int = 200) -> Any:
    brand_id, _who = _flag_brand(flag_id, "operate")
    with _sessions()() as s:
        d = review.flag_detail(s, brand_id, flag_id)
        name, slug = _brand_row(s, brand_id)
        s.expunge_all()
    return render_template("ops/risk/confirm_flag.html", f=d.flag, awards=d.awards, action=action,
                           words=WORDS[action], brand_name=name, brand_slug=slug, error=error), status


def _note() -> str | None:
    """The form's note, or None when it is too long for the audit log."""
    note = request.form.get("note", "").strip()
    return None if len(note) > review.NOTE_MAX or "\x00" in note else note


def _note_error() -> str:
    return tr(f"备注最多 {review.NOTE_MAX} 个字符。", f"A note has at most {review.NOTE_MAX} characters.")


@bp.get("/flags/<int:flag_id>/<any(block, clear):action>")
@login_required
def flag_confirm(flag_id: int, action: str) -> Any:
    return _flag_confirm(flag_id, action)


@bp.post("/flags/<int:flag_id>/<any(block, clear):action>")
@login_required
def flag_act(flag_id: int, action: str) -> Any:
    brand_id, who = _flag_brand(flag_id, "operate")
    note = _note()
    if note is None:
        return _flag_confirm(flag_id, action, error=_note_error(), status=400)
    redis = current_app.extensions["yima.redis"]
    try:
        with transaction(_sessions()) as s:
            if action == "block":
                done = review.block_flag(s, redis, brand_id, flag_id, who.actor, note)
            else:
                done = review.clear_flag(s, redis, brand_id, flag_id, who.actor, note, rail=risk_api._rail())
            affected = list(done.awards)
    except RiskConflict:
        return _flag_confirm(flag_id, action, status=409, error=tr(
            "这条标记已经审核过了，请刷新后再看。", "This flag was reviewed meanwhile; reload to see its state."))
    if action == "clear":
        risk_api._enqueue_pending(affected)
        flash(tr(f"已放行，{len(affected)} 个扣留的奖品将照常发放。",
                 f"Cleared; {len(affected)} held award(s) released to be paid."), "ok")
    else:
        flash(tr(f"已封禁，{len(affected)} 个扣留的奖品已驳回（不再发放）。",
                 f"Blocked; {len(affected)} held award(s) rejected (never paid)."), "ok")
    return redirect(url_for("ops_risk.flag", flag_id=flag_id), 303)


# --- one held award -----------------------------------------------------------------------------------------

def _award_brand(award_id: str, need: str) -> tuple[int, Any]:
    if len(award_id) > AWARD_ID_MAX:
        abort(404)
    with _sessions()() as s:
        brand_id = review.award_brand(s, award_id)
    if brand_id is None:
        abort(404)
    return brand_id, require_brand(brand_id, need, current_principal())


def _back_flag() -> int | None:
    """The flag page an award's action came from (the form's or the link's `flag`), if it names one."""
    raw = request.values.get("flag", "")
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < int(raw) <= SQL_INT_MAX else None


def _back_url(brand_slug: str) -> str:
    back = _back_flag()
    return url_for("ops_risk.flag", flag_id=back) if back else url_for("ops_risk.holds", brand=brand_slug)


def _award_confirm(award_id: str, action: str, *, error: str = "", status: int = 200) -> Any:
    brand_id, _who = _award_brand(award_id, "operate")
    with _sessions()() as s:
        award = s.get(Award, award_id)
        name, slug = _brand_row(s, brand_id)
        s.expunge_all()
    return render_template("ops/risk/confirm_award.html", a=award, action=action, words=WORDS[action],
                           brand_name=name, back=_back_flag(), back_url=_back_url(slug), error=error), status


@bp.get("/holds/<award_id>/<any(release, reject):action>")
@login_required
def award_confirm(award_id: str, action: str) -> Any:
    return _award_confirm(award_id, action)


@bp.post("/holds/<award_id>/<any(release, reject):action>")
@login_required
def award_act(award_id: str, action: str) -> Any:
    brand_id, who = _award_brand(award_id, "operate")
    note = _note()
    if note is None:
        return _award_confirm(award_id, action, error=_note_error(), status=400)
    try:
        with transaction(_sessions()) as s:
            if action == "release":
                review.release_award(s, brand_id, award_id, who.actor, rail=risk_api._rail(), note=note)
            else:
                review.reject_award(s, current_app.extensions["yima.redis"], brand_id, award_id, who.actor,
                                    note=note)
            _name, slug = _brand_row(s, brand_id)
    except RiskConflict:
        return _award_confirm(award_id, action, status=409, error=tr(
            "这个奖品已不在扣留中（可能已被审核）。", "This award is no longer held (reviewed meanwhile?)."))
    if action == "release":
        risk_api._enqueue_pending([award_id])
        flash(tr("已放行，奖品将照常发放。", "Released; the award will be paid."), "ok")
    else:
        flash(tr("已驳回，奖品作废，不再发放。", "Rejected; the award is void and never paid."), "ok")
    return redirect(_back_url(slug), 303)
