"""Voucher 核销 on a store clerk's phone: scan the consumer's voucher QR, redeem it once.

    GET  /dist/redeem                  the scan box (a scanner gun, a pasted URL, the camera) and the store's
                                       latest redemptions
    GET  /dist/redeem/go?q=            what was scanned → the voucher's page
    GET  /dist/redeem/v/<token>        what the clerk's phone opens from the QR: the voucher and 确认核销
                                       (read-only for other seats; for someone not signed in, the consumer's
                                       view: "show this at a store", and a sign-in link for the clerk)
    POST /dist/redeem/v/<token>        redeem → the green success page or the red refusal
    GET  /dist/redeem/v/<token>/panel  the consumer's QR panel with the voucher's state (the H5 pages poll it)
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, flash, make_response, redirect, render_template, request, url_for

from app.auth import current_principal, login_required, tr
from app.channel_access import page_scope
from app.errors import page_errors
from app.voucher_panel import CHINA, app_voucher_key, voucher_panel
from channel.errors import RedeemRefused
from channel.settlement import yuan
from channel.vouchers import (
    LEDGER_READERS,
    REDEEMABLE,
    award_of_token,
    aware,
    list_redemptions,
    read_voucher,
    redeem,
    token_from_text,
    voucher_state,
)

bp = Blueprint("dist_redeem", __name__, url_prefix="/dist/redeem")
page_errors(bp)


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


@bp.app_template_filter("fen_yuan")
def fen_yuan(fen: int | None) -> str:
    return "¥" + yuan(fen or 0)


@bp.app_template_filter("china_time")
def china_time(moment: datetime | None) -> str:
    return aware(moment).astimezone(CHINA).strftime("%Y-%m-%d %H:%M") if moment else ""


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.get("")
@login_required
def scan() -> Any:
    scope = page_scope()
    recent = []
    if scope.kind in LEDGER_READERS:
        with _sessions()() as s:
            recent = list_redemptions(s, scope, limit=10)
    return render_template("dist/redeem_scan.html", scope=scope, recent=recent)


@bp.get("/go")
@login_required
def go() -> Any:
    token = token_from_text(request.args.get("q", ""))
    if not token:
        flash(tr("请扫描消费者出示的核销码。", "Scan the voucher QR the consumer shows."), "error")
        return redirect(url_for("dist_redeem.scan"))
    return redirect(url_for("dist_redeem.voucher", token=token))


@bp.get("/v/<token>")
def voucher(token: str) -> Any:
    if current_principal() is None:  # the consumer (or a clerk not signed in yet) opened the QR
        with _sessions()() as s:
            state = voucher_state(s, award_of_token(app_voucher_key(), token))
        return _no_store(make_response(render_template("dist/redeem_public.html", state=state, token=token)))
    scope = page_scope()
    with _sessions()() as s:
        state = read_voucher(s, scope, app_voucher_key(), token)
    return _no_store(make_response(render_template("dist/redeem_voucher.html", scope=scope, state=state,
                                                   token=token, can_redeem=scope.may_redeem and
                                                   state.state == REDEEMABLE)))


@bp.post("/v/<token>")
@login_required
def confirm(token: str) -> Any:
    scope = page_scope()
    try:
        done = redeem(_sessions(), scope, token, datetime.now(UTC), key=app_voucher_key())
    except RedeemRefused as refused:
        with _sessions()() as s:
            state = read_voucher(s, scope, app_voucher_key(), token)
        return _no_store(make_response(render_template("dist/redeem_refused.html", scope=scope, refused=refused,
                                                       state=state, token=token), 409))
    with _sessions()() as s:
        state = read_voucher(s, scope, app_voucher_key(), token)
    return _no_store(make_response(render_template("dist/redeem_done.html", scope=scope, done=done, state=state)))


@bp.get("/v/<token>/panel")
def panel(token: str) -> Any:
    with _sessions()() as s:
        state = voucher_state(s, award_of_token(app_voucher_key(), token))
    return _no_store(make_response(render_template("h5/voucher_panel.html", v=voucher_panel(state.award_id, state))))
