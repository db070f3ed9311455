"""出库 / 入库 on a phone: build a shipment by scanning case codes, ship it, confirm receipt, undo.

/dist/shipments/new picks the receiver and opens a shipment; /dist/shipments/<id> is its scan page while
it is OPEN and the caller is its sender (a scanner gun types a code then Enter: app/static/dist_scan.js posts
each scan in order through htmx and swaps in the tally, the last case and any warning), else its detail with
receive and undo. Every action is one call of channel/shipments.py; a refusal the person can fix (a wrong
code, a state that moved) comes back inline or as a flash, access errors as the 403 / 404 page.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from app.auth import login_required, tr
from app.channel_access import code_keys, page_scope
from app.console_format import local_time
from app.errors import page_errors
from channel.case_reader import CaseRefused
from channel.errors import InvalidChannel
from channel.scope import ChannelScope
from channel.shipment_queries import Party, inbox, list_shipments, receivers, shipment_detail
from channel.shipments import (
    ScanOutcome,
    ScanWarning,
    ShipmentConflict,
    add_case,
    open_shipment,
    receive,
    remove_case,
    sender_of,
    ship,
    totals,
    undo,
)
from codegen.db import transaction

bp = Blueprint("dist_ship", __name__, url_prefix="/dist/shipments")
page_errors(bp)
PAGE = 30
CODE_MAX = 600  # a scan URL holding a code; longer input is refused by the code reader anyway

STATE_WORDS = {"open": ("扫码中", "Scanning"), "shipped": ("待入库", "Shipped"), "received": ("已入库", "Received"),
               "undone": ("已撤销", "Undone")}
REFUSALS = {
    "malformed": ("无法识别：请对准箱码重新扫描", "Not a code we can read: scan the case code again"),
    "forged": ("不是真码（签名不符）", "Not a genuine code (its signature does not match)"),
    "other_brand": ("不是本品牌的码", "Not a code of this brand"),
    "item_code": ("这是单品码，请扫箱码", "This is an item's code: scan the case code (箱码)"),
    "pallet_code": ("暂不支持垛码，请逐箱扫描", "Pallet codes are not supported yet: scan each case"),
}
CONFLICTS = {
    "shipped": ("此出库单已发出，不能再扫码", "This shipment has been shipped: no more scans"),
    "open": ("此出库单尚未发出", "This shipment has not been shipped yet"),
    "received": ("已入库：不能撤销，如有错误请收货方退回（反向出库）",
                 "Received: it cannot be undone; the receiver ships the cases back"),
    "undone": ("此出库单已被撤销", "This shipment was undone"),
    "shipped_on": ("收货方已将其中的箱发往下游：请先撤销那张出库单",
                   "The receiver has shipped some of these cases on: undo that shipment first"),
}
FLAG_WORDS = {"double_ship": ("重复发货", "Shipped twice"), "not_held": ("无入库记录", "Never received")}


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def party_name(party: Party) -> str:
    if party.kind == "warehouse":
        return tr("品牌仓库", "Brand warehouse")
    return f"{party.name}（{party.code}）" if party.code else party.name


def person(actor: str) -> str:
    """The audit log's actor as a page shows it: "user:3 li@x.example" → "li@x.example"."""
    head, _, rest = actor.partition(" ")
    return rest if head.startswith("user:") and rest else actor


def state_word(state: str) -> str:
    return tr(*STATE_WORDS.get(state, (state, state)))


def conflict_text(exc: ShipmentConflict) -> str:
    text = tr(*CONFLICTS.get(exc.reason, (str(exc), str(exc))))
    return f"{text}（#{exc.onward}）" if exc.onward else text


def warning_text(w: ScanWarning) -> str:
    if w.kind == "not_held":
        return tr("没有发往贵司的出库单含此箱（未入库即发货将被标记）",
                  "No shipment to you holds this case (shipping it will be flagged)")
    return tr(f"此箱已在出库单 #{w.shipment_id} 中：发往 {w.to_name}，{state_word(w.state)}，{local_time(w.at)}",
              f"This case is already in shipment #{w.shipment_id} to {w.to_name} ({state_word(w.state)}, "
              f"{local_time(w.at)})")


@bp.context_processor
def helpers() -> dict[str, Any]:
    return {"party_name": party_name, "state_word": state_word, "warning_text": warning_text, "person": person,
            "local_time": local_time, "flag_word": lambda kind: tr(*FLAG_WORDS.get(kind, (kind, kind)))}


@bp.get("")
@login_required
def index() -> Any:
    scope = page_scope()
    direction = request.args.get("direction", "")
    direction = direction if direction in ("sent", "received") else ""
    before = request.args.get("before_id", "")
    before_id = int(before) if before.isdigit() and len(before) < 10 else None
    with _sessions()() as s:
        rows = list_shipments(s, scope, direction=direction, limit=PAGE, before_id=before_id)
    tabs = [("", "全部", "All"), ("sent", "发出", "Sent"), ("received", "收到", "Received")]
    if scope.brand_wide:
        tabs = tabs[:2]  # the brand's warehouse receives nothing
    elif scope.kind != "distributor":
        tabs = []  # a store only receives
    return render_template("dist/ship_list.html", rows=rows, direction=direction, tabs=tabs,
                           more=rows[-1].id if len(rows) == PAGE else None)


@bp.get("/inbox", endpoint="inbox")
@login_required
def inbox_page() -> Any:
    scope = page_scope()
    with _sessions()() as s:
        rows = inbox(s, scope)
    return render_template("dist/ship_inbox.html", rows=rows)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def new() -> Any:
    scope = page_scope()
    with _sessions()() as s:
        sender_of(scope)  # 403 for a seat that does not ship
        choices = receivers(s, scope)
    if request.method == "POST":
        kind, _, raw = request.form.get("to", "").partition(":")
        to = int(raw) if raw.isdigit() and len(raw) < 10 else None
        if kind not in ("d", "s") or to is None:
            flash(tr("请选择收货方", "Choose the receiver"), "error")
        else:
            try:
                with transaction(_sessions()) as s:
                    sh = open_shipment(s, scope, to_distributor_id=to if kind == "d" else None,
                                       to_store_id=to if kind == "s" else None,
                                       reference=request.form.get("reference", "")[:200])
                return redirect(url_for("dist_ship.page", shipment_id=sh.id))
            except InvalidChannel as exc:
                flash(str(exc), "error")
    return render_template("dist/ship_new.html", choices=choices, scope=scope,
                           chosen=request.form.get("to", ""), reference=request.form.get("reference", ""))


@bp.get("/<int:shipment_id>")
@login_required
def page(shipment_id: int) -> Any:
    scope = page_scope()
    with _sessions()() as s:
        view = shipment_detail(s, scope, shipment_id)
        count = totals(s, shipment_id) if view.may_scan else None
    return render_template("dist/ship_detail.html", v=view, totals=count, outcome=None, problem=None)


def _is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"


def _scan_answer(scope: ChannelScope, shipment_id: int, outcome: ScanOutcome | None, problem: str) -> Any:
    if not _is_htmx():
        if problem:
            flash(problem, "error")
        elif outcome is not None:
            flash(tr(f"已录入：批次 {outcome.scanned.batch.lot} 箱号 {outcome.scanned.case}",
                     f"Scanned: lot {outcome.scanned.batch.lot}, case {outcome.scanned.case}")
                  if outcome.added else tr("此箱已扫过", "Already scanned"), "ok")
            for w in outcome.warnings:
                flash(warning_text(w), "error")
        return redirect(url_for("dist_ship.page", shipment_id=shipment_id))
    with _sessions()() as s:
        view = shipment_detail(s, scope, shipment_id)
        count = outcome.totals if outcome is not None else totals(s, shipment_id)
    return render_template("dist/_ship_scan_result.html", v=view, totals=count, outcome=outcome, problem=problem)


@bp.post("/<int:shipment_id>/scan")
@login_required
def scan(shipment_id: int) -> Any:
    scope = page_scope()
    outcome, problem = None, ""
    try:
        with transaction(_sessions()) as s:
            outcome = add_case(s, scope, shipment_id, request.form.get("code", "")[:CODE_MAX], code_keys())
    except CaseRefused as exc:
        problem = tr(*REFUSALS.get(exc.reason, (str(exc), str(exc))))
    except ShipmentConflict as exc:
        problem = conflict_text(exc)
    return _scan_answer(scope, shipment_id, outcome, problem)


@bp.post("/<int:shipment_id>/unscan")
@login_required
def unscan(shipment_id: int) -> Any:
    scope = page_scope()
    try:
        with transaction(_sessions()) as s:
            remove_case(s, scope, shipment_id, request.form.get("code", "")[:CODE_MAX], code_keys())
        flash(tr("已移除该箱", "Case taken out"), "ok")
    except CaseRefused as exc:
        flash(tr(*REFUSALS.get(exc.reason, (str(exc), str(exc)))), "error")
    except ShipmentConflict as exc:
        flash(conflict_text(exc), "error")
    return redirect(url_for("dist_ship.page", shipment_id=shipment_id))


@bp.post("/<int:shipment_id>/ship", endpoint="ship")
@login_required
def ship_page(shipment_id: int) -> Any:
    scope = page_scope()
    try:
        with transaction(_sessions()) as s:
            result = ship(s, scope, shipment_id)
        sh = result.shipment
        flash(tr(f"已出库：{sh.case_count} 箱，{sh.item_count} 件", f"Shipped: {sh.case_count} cases, "
                 f"{sh.item_count} items"), "ok")
        if result.flags:
            flash(tr(f"注意：{len(result.flags)} 段箱码已标记（重复发货或无入库记录），品牌方会核查",
                     f"Note: {len(result.flags)} case range(s) were flagged (shipped twice or never received); "
                     "the brand will look at them"), "error")
    except InvalidChannel:
        flash(tr("请先扫描至少一箱", "Scan at least one case first"), "error")
    except ShipmentConflict as exc:
        flash(conflict_text(exc), "error")
    return redirect(url_for("dist_ship.page", shipment_id=shipment_id))


@bp.post("/<int:shipment_id>/receive", endpoint="receive")
@login_required
def receive_page(shipment_id: int) -> Any:
    scope = page_scope()
    try:
        with transaction(_sessions()) as s:
            sh = receive(s, scope, shipment_id)
        flash(tr(f"已确认入库：{sh.case_count} 箱，{sh.item_count} 件",
                 f"Received: {sh.case_count} cases, {sh.item_count} items"), "ok")
    except ShipmentConflict as exc:
        flash(conflict_text(exc), "error")
    return redirect(url_for("dist_ship.page", shipment_id=shipment_id))


@bp.post("/<int:shipment_id>/undo", endpoint="undo")
@login_required
def undo_page(shipment_id: int) -> Any:
    scope = page_scope()
    try:
        with transaction(_sessions()) as s:
            undo(s, scope, shipment_id, request.form.get("reason", "")[:500])
        flash(tr("已撤销此出库单", "Shipment undone"), "ok")
    except InvalidChannel:
        flash(tr("请填写撤销原因（200 字以内）", "Say why (at most 200 characters)"), "error")
    except ShipmentConflict as exc:
        flash(conflict_text(exc), "error")
    return redirect(url_for("dist_ship.page", shipment_id=shipment_id))
