"""Payouts in the console (/ops/payouts): a brand's payouts by state with their failures' reasons, one
payout's history, retry and cancel (asked once more before they happen), the CSV export, and the
reconciliation runs.

Operators and admins act (the roles that change campaigns); analysts read, and a forced POST is 403. Another
brand's payout id is 404, as one that does not exist. Every action goes through app/payout_actions.py: the
engine's function and the audit entry in one transaction.
"""

from __future__ import annotations

from typing import Any

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)

from app.audit_filters import FilterProblem
from app.auth import current_principal, login_required, require_brand, tr
from app.brand_scope import BrandScope, page_brand
from app.console_format import console_helpers
from app.errors import page_errors
from app.payout_actions import ACTIONS, act_on_payout, submit_queue
from app.payout_filters import FIELDS, parse_before_id, parse_payout_filter
from app.payout_labels import label_helpers, state_label
from codegen.models import Brand
from payouts.errors import PayoutConflict
from payouts.listing import (
    STATES,
    PayoutFilter,
    count_payouts,
    list_payouts,
    payout_brand,
    payout_detail,
    payout_summary,
    payouts_csv,
    reconciliations,
)
from payouts.providers.base import State

bp = Blueprint("ops_payouts", __name__, url_prefix="/ops/payouts")
page_errors(bp)
bp.context_processor(console_helpers)
bp.context_processor(label_helpers)
PAGE = 50
NOTE_MAX = 200
# What the buttons offer; the engine has the last word (PayoutConflict when the state moved meanwhile).
OFFERED = {"retry": frozenset({State.FAILED.value, State.EXPIRED.value}),
           "cancel": frozenset({State.PENDING.value, State.AWAITING_USER.value})}
_WORDS = {"retry": ("重新发放", "Retry"), "cancel": ("撤销", "Cancel")}
_FIELD_ZH = {"state": "状态", "campaign_id": "活动", "q": "搜索", "since": "开始日期", "until": "结束日期",
             "before_id": "分页"}


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _filters() -> tuple[dict[str, str], PayoutFilter | None, dict[str, str]]:
    """(the form's values, the filter or None when a field is wrong, errors by field)."""
    args = {name: request.args.get(name, "")[:100] for name in FIELDS}
    try:
        return args, parse_payout_filter(args), {}
    except FilterProblem as exc:
        return args, None, {exc.field: tr(f"{_FIELD_ZH.get(exc.field, exc.field)}：格式不正确（{exc.message}）",
                                          f"{exc.field}: {exc.message}")}


@bp.get("")
@login_required
def index() -> Any:
    brand = page_brand("ops_payouts.index")
    if not isinstance(brand, BrandScope):
        return brand
    args, f, errors = _filters()
    try:
        before_id = parse_before_id(request.args.get("before"))
    except FilterProblem as exc:
        errors["before_id"], before_id = exc.message, None
    query = {k: v for k, v in args.items() if v}
    if f is None or errors:
        return render_template("ops/payouts.html", brand=brand, args=args, query=query, errors=errors, rows=[],
                               summary=None, total=0, older=None, paged=False, states=STATES), 400
    with _sessions()() as s:
        page = list_payouts(s, brand.id, f, limit=PAGE, before_id=before_id)
        summary = payout_summary(s, brand.id, f)
        total = count_payouts(s, brand.id, f)
        rows = page.rows
        s.expunge_all()
    return render_template("ops/payouts.html", brand=brand, args=args, query=query, errors={}, rows=rows,
                           summary=summary, total=total, older=page.next_before_id, paged=before_id is not None,
                           states=STATES)


@bp.get("/export.csv")
@login_required
def export() -> Any:
    brand = page_brand("ops_payouts.index")
    if not isinstance(brand, BrandScope):
        abort(404)  # the export names its brand; the list page's link always does
    _args, f, errors = _filters()
    if f is None:
        abort(400, description=next(iter(errors.values())))

    def lines() -> Any:
        with _sessions()() as s:
            yield from payouts_csv(s, brand.id, f)

    resp = Response(stream_with_context(lines()), mimetype="text/csv")
    resp.headers["Content-Disposition"] = f'attachment; filename="yima-payouts-{brand.slug}.csv"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _brand_of(payout_id: int, need: str) -> tuple[int, Any]:
    """The payout's brand id and the caller, when they may `need` there (404 for another brand's, 403)."""
    with _sessions()() as s:
        brand_id = payout_brand(s, payout_id)
    if brand_id is None:
        abort(404)
    return brand_id, require_brand(brand_id, need, current_principal())


def _brand_name_slug(s: Any, brand_id: int) -> tuple[str, str]:
    brand = s.get(Brand, brand_id)
    return brand.name, brand.slug


@bp.get("/<int:payout_id>")
@login_required
def detail(payout_id: int) -> Any:
    brand_id, who = _brand_of(payout_id, "read")
    with _sessions()() as s:
        d = payout_detail(s, brand_id, payout_id)
        name, slug = _brand_name_slug(s, brand_id)
        s.expunge_all()
    can_operate = who.may(brand_id, "operate")
    offered = [a for a in ACTIONS if can_operate and d.payout.state in OFFERED[a]]
    return render_template("ops/payout_detail.html", p=d.payout, events=d.events, brand_name=name,
                           brand_slug=slug, can_operate=can_operate, offered=offered, words=_WORDS)


def _confirm(payout_id: int, action: str, *, error: str = "", status: int = 200) -> Any:
    brand_id, _who = _brand_of(payout_id, "operate")
    with _sessions()() as s:
        d = payout_detail(s, brand_id, payout_id)
        name, _slug = _brand_name_slug(s, brand_id)
        s.expunge_all()
    return render_template("ops/payout_confirm.html", p=d.payout, action=action, words=_WORDS[action],
                           brand_name=name, error=error), status


@bp.get("/<int:payout_id>/<any(retry, cancel):action>")
@login_required
def confirm(payout_id: int, action: str) -> Any:
    return _confirm(payout_id, action)


@bp.post("/<int:payout_id>/<any(retry, cancel):action>")
@login_required
def act(payout_id: int, action: str) -> Any:
    _brand_id, who = _brand_of(payout_id, "operate")
    note = request.form.get("note", "").strip()
    if len(note) > NOTE_MAX or "\x00" in note:
        return _confirm(payout_id, action, error=tr(f"备注最多 {NOTE_MAX} 个字符。", f"At most {NOTE_MAX} characters."),
                        status=400)
    try:
        after = act_on_payout(_sessions(), who, payout_id, action, note,
                              enqueue_submit=submit_queue(current_app.extensions))
    except PayoutConflict as exc:
        return _confirm(payout_id, action, status=409, error=tr(
            f"当前状态不允许此操作：{exc.public_message()}", f"Not in this state: {exc.public_message()}"))
    zh, en = _WORDS[action]
    flash(tr(f"已{zh}，当前状态：{state_label(after['state'])}。", f"{en} done; now {state_label(after['state'])}."),
          "ok")
    return redirect(url_for("ops_payouts.detail", payout_id=payout_id), 303)


@bp.get("/reconciliations")
@login_required
def reconciliation_runs() -> Any:
    who = current_principal()
    assert who is not None
    with _sessions()() as s:
        runs = reconciliations(s, 20, brand_ids=who.readable_brand_ids())
    return render_template("ops/payout_reconciliations.html", runs=runs, platform=who.platform_admin)
