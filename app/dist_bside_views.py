"""B-side scans through the rules engine (/dist/scan): a store's 开箱 scan of a case it received, a waiter's 开瓶
scan of a cap after the sale (channel/bside.py). One scan box each (a scanner gun's code then Enter, a typed
code or a pasted URL; the camera where dist_scan.js offers it), the answer as a card, and for a waiter their
month so far with the ladder (channel/ladder.py).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Blueprint, current_app, render_template, request
from sqlalchemy.orm import Session

from app.auth import login_required
from app.campaign_form import fen_to_yuan
from app.channel_access import page_scope
from app.console_format import local_time
from app.errors import page_errors
from channel.bside import BsideOutcome, BsideRefused, BsideRules, open_bottle, open_case
from channel.errors import InvalidChannel
from channel.ladder import waiter_month
from channel.models import STORE_SEATS, WAITER, BsideScan
from channel.scope import ChannelScope
from codegen.codeformat import MAX_INPUT_LENGTH, CodeError
from codegen.db import transaction
from rules.draw import ALREADY_WON, CAPPED, CONSOLATION, UNAVAILABLE, WON

bp = Blueprint("dist_bside", __name__, url_prefix="/dist/scan")
page_errors(bp)
bp.context_processor(lambda: {"yuan": fen_to_yuan})

Scan = Callable[[Session, ChannelScope, str, BsideRules], BsideOutcome]
# Why a scan drew nothing: (zh, en) and the status of the page that says so.
REFUSALS = {
    BsideRefused.NOT_SHIPPED_HERE: ("这箱货不是发给本店的", "This case was not shipped to your store", 409),
    BsideRefused.OPENED_ELSEWHERE: ("已被其他门店或服务员扫过", "Already scanned by another store or waiter", 409),
    BsideRefused.NOT_ON_SALE: ("此码尚未激活或已作废", "This code is not on sale (not activated, or void)", 409),
    "wrong_case": ("这不是箱码：请扫描箱子上的码", "Not a case code: scan the code on the case", 400),
    "wrong_bottle": ("这不是瓶盖内码：请扫描瓶盖里面的码", "Not a cap's inner code: scan the code under the cap", 400),
    "not_genuine": ("不是本品牌的真码", "Not a genuine code of this brand", 404),
    "empty": ("请扫码或输入码", "Scan or type a code", 400),
}


@dataclass(frozen=True)
class Card:
    """The answer to a scan, as the result card says it: a state (its colour) and (zh, en) lines."""

    state: str  # won, repeat, none, missed
    headline: tuple[str, str]
    lines: tuple[tuple[str, str], ...]


def _card(outcome: BsideOutcome) -> Card:
    what = ("这箱", "This case") if outcome.kind == BsideScan.OPEN_CASE else ("这个瓶盖", "This cap")
    lines: list[tuple[str, str]] = []
    if outcome.registered:
        lines.append(("门店登记完成：可以核销了", "Your store is registered: it may redeem vouchers now"))
    fresh = [d for d in outcome.draws if d.outcome in (WON, CONSOLATION) and d.awarded]
    kept = [d for d in outcome.draws if d.outcome == ALREADY_WON]
    for d in fresh + kept:
        if d.amount_fen:
            lines.append((f"现金 ¥{fen_to_yuan(d.amount_fen)}（记入门店结算）",
                          f"Cash ¥{fen_to_yuan(d.amount_fen)} (on the store's statement)"))
        if d.points:
            lines.append((f"积分 {d.points}", f"{d.points} points"))
    if not outcome.first:
        when = local_time(outcome.opened_at)
        return Card("repeat", (f"{what[0]}已扫过", f"{what[1]} was scanned before"),
                    ((f"首次扫码：{when}", f"First scanned {when}"), *lines))
    if fresh:
        return Card("won", ("中奖了！", "You won!"), tuple(lines))
    if not outcome.draws:
        done = ("已记录开箱", "Case opened") if outcome.kind == BsideScan.OPEN_CASE else ("已记录开瓶", "Bottle opened")
        return Card("none", done, (*lines, ("暂无进行中的活动", "No campaign is running")))
    outcomes = {d.outcome for d in outcome.draws}
    if CAPPED in outcomes:
        lines.append(("今日奖励已达上限", "Today's reward limit is reached"))
    elif UNAVAILABLE in outcomes:
        lines.append(("活动暂时不可用，请稍后再扫", "The campaign is briefly unavailable: scan again shortly"))
    else:
        lines.append(("本次未中奖", "No reward this time"))
    return Card("missed", ("已记录", "Recorded"), tuple(lines))


def _rules() -> BsideRules:
    scanner = current_app.extensions["yima.scanner"]
    return BsideRules(current_app.extensions["yima.redis"], scanner.rules, scanner.key_for)


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _camera() -> bool:
    """Whether the camera script (static/dist_scan.js) is installed."""
    return (Path(current_app.static_folder or "") / "dist_scan.js").is_file()


def _scan(scan: Scan, scope: ChannelScope, wrong_role: str) -> tuple[BsideOutcome | None, str, int]:
    """(the outcome, or the refusal's key, and the page's status) of the posted code."""
    text = request.form.get("code", "").strip()
    if not text or len(text) > MAX_INPUT_LENGTH:
        return None, "empty", 400
    try:
        with transaction(_sessions()) as session:
            return scan(session, scope, text, _rules()), "", 200
    except BsideRefused as exc:
        refusal = exc.reason
    except InvalidChannel:
        refusal = wrong_role
    except CodeError:
        refusal = "not_genuine"
    return None, refusal, REFUSALS[refusal][2]


def _page(kind: str, scope: ChannelScope, scan: Scan, wrong_role: str) -> Any:
    outcome, refusal, status = _scan(scan, scope, wrong_role) if request.method == "POST" else (None, "", 200)
    month = None
    if scope.kind == WAITER:
        with _sessions()() as session:
            month = waiter_month(session, scope)
    return render_template("dist/bside_scan.html", kind=kind, scope=scope, card=_card(outcome) if outcome else None,
                           refusal=REFUSALS.get(refusal), month=month, camera=_camera()), status


@bp.route("/case", methods=["GET", "POST"], endpoint="open_case")
@login_required
def open_case_page() -> Any:
    scope = page_scope()
    scope.require(scope.kind in STORE_SEATS, "open a case")
    return _page("case", scope, open_case, "wrong_case")


@bp.route("/bottle", methods=["GET", "POST"], endpoint="open_bottle")
@login_required
def open_bottle_page() -> Any:
    scope = page_scope()
    scope.require(scope.kind == WAITER, "open a bottle")
    return _page("bottle", scope, open_bottle, "wrong_bottle")
