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
from channel.scope import ChannelScope, get_store
from codegen.codeformat import MAX_INPUT_LENGTH, CodeError
from codegen.db import transaction
from rules.draw import ALREADY_WON, CAPPED, CONSOLATION, UNAVAILABLE, WON

bp = Blueprint("dist_bside", __name__, url_prefix="/dist/scan")
page_errors(bp)
bp.context_processor(lambda: {"yuan": fen_to_yuan})

Scan = Callable[[Session, ChannelScope, str, BsideRules], BsideOutcome]


@dataclass(frozen=True)
class Refusal:
    """Why a scan drew nothing, as the card says it, and the status of the page that says so."""

    headline: tuple[str, str]
    advice: tuple[str, str]
    status: int


REFUSALS = {
    BsideRefused.NOT_SHIPPED_HERE: Refusal(("不是发给本店的货", "Not shipped to your store"), (
        "只有发货到本店的箱子才能开箱扫码；如有疑问请联系经销商", "Only cases shipped to your store open here; "
        "ask your distributor if this is wrong"), 409),
    BsideRefused.OPENED_ELSEWHERE: Refusal(("已被别人扫过", "Already scanned by someone else"), (
        "这个码已被其他门店或服务员扫过", "Another store or waiter scanned this code first"), 409),
    BsideRefused.NOT_ON_SALE: Refusal(("此码未激活或已作废", "Not on sale"), (
        "尚未激活或已作废的码不参加活动", "A code not yet activated, or void, takes part in no campaign"), 409),
    "wrong_case": Refusal(("这不是箱码", "Not a case code"), ("请扫描箱子上的箱码", "Scan the code on the case"), 400),
    "wrong_bottle": Refusal(("这不是瓶盖内码", "Not a cap's inner code"), (
        "请扫描瓶盖里面的码", "Scan the code under the cap"), 400),
    "not_genuine": Refusal(("不是本品牌的真码", "Not a genuine code of this brand"), (
        "请检查后重扫；多次出现请联系品牌", "Check it and scan again; tell the brand if it keeps happening"), 404),
    "empty": Refusal(("请扫码或输入码", "Scan or type a code"), ("", ""), 400),
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
    return None, refusal, REFUSALS[refusal].status


def _page(kind: str, scope: ChannelScope, scan: Scan, wrong_role: str) -> Any:
    outcome, refusal, status = _scan(scan, scope, wrong_role) if request.method == "POST" else (None, "", 200)
    with _sessions()() as session:
        store = get_store(session, scope, scope.store_id or 0).name
        month = waiter_month(session, scope) if scope.kind == WAITER else None
    return render_template("dist/bside_scan.html", kind=kind, scope=scope, store=store, outcome=outcome,
                           card=_card(outcome) if outcome else None, refusal=REFUSALS.get(refusal), month=month,
                           camera=_camera()), status


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
