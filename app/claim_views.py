"""The consumer's 领取 (claim): bind a won award to the consumer's WeChat openid, then follow its payout.

    GET  /claim/<award_id>          the prize, and 领取 (or the payout's state once claimed)
    POST /claim/<award_id>          claim it (CSRF): cash → a payout queued for submit; points → the ledger
    GET  /claim/<award_id>/state    the state fragment the page polls (htmx) while the payout moves
    POST /claim/<award_id>/retry    a failed or expired payout, again (a new bill number, per the engine)
    GET  /wx/oauth                  WeChat's OAuth (snsapi_base) comes back here with a code → the openid

The award belongs to the device that drew it: the claim needs the award's signed receipt, which only that
device's cookie holds (rules/receipts.py). Outside WeChat (where no openid can be had) the page shows a
claim link that carries the receipt, to open in WeChat on the same phone. The openid lives in the signed
session cookie; it is never shown.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlencode

from flask import (
    Blueprint,
    Response,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from itsdangerous import BadSignature, URLSafeTimedSerializer

from app.errors import page_errors
from app.i18n import choose_language
from app.payout_services import PayoutServices
from app.scan_views import kept_receipts
from app.voucher_panel import VoucherPanel, voucher_panel
from channel.vouchers import VOUCHER, voucher_state
from payouts.claims import claim_award, payout_for_award, points_balance
from payouts.engine import retry_payout
from payouts.errors import ClaimRefused, PayoutConflict, PayoutNotFound
from payouts.providers.base import State
from payouts.wechat_mp import WechatMpError, exchange_code
from rules.receipts import AwardReceipt, InvalidReceipt, read_receipt

bp = Blueprint("claim", __name__)
page_errors(bp)

OPENID = "wx_openid"
OAUTH_STATE_SECONDS = 600
MOVING = (State.PENDING, State.SUBMITTED, State.UNKNOWN, State.AWAITING_USER)  # the page polls in these


def services() -> PayoutServices:
    return current_app.extensions["yima.payouts"]  # type: ignore[no-any-return]


def in_wechat() -> bool:
    return "MicroMessenger" in request.headers.get("User-Agent", "")


def device_receipt(award_id: str) -> tuple[AwardReceipt, str] | None:
    """This award's receipt as this device holds it: its cookie, or the `r` of a claim link opened in WeChat."""
    tokens = [receipt for _code, receipt in kept_receipts()]
    if (carried := request.values.get("r", "")) and len(carried) < 700:
        tokens.append(carried)
    for token in tokens:
        try:
            receipt = read_receipt(services().receipt_key, token)
        except InvalidReceipt:
            continue
        if receipt.award_id == award_id:
            return receipt, token
    return None


def _page(template: str, status: int = 200, **context: Any) -> Response:
    other = "en" if g.lang == "zh" else "zh"
    keep = {k: v for k, v in request.args.items() if k == "r"}
    resp = make_response(render_template(template, lang=g.lang, switch_href="?" + urlencode({**keep, "lang": other}),
                                         **context), status)
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _oauth_states() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key or "", salt="yima/wechat-oauth")


def _authorize_url(next_path: str) -> str:
    svc = services()
    back = current_app.config["YIMA"].base_url + url_for("claim.oauth_return")
    query = urlencode({"appid": svc.appid, "redirect_uri": back, "response_type": "code", "scope": "snsapi_base",
                       "state": _oauth_states().dumps(next_path)})
    return f"{svc.oauth_base}/connect/oauth2/authorize?{query}#wechat_redirect"


def _voucher(receipt: AwardReceipt) -> VoucherPanel | None:
    """A voucher prize's redemption QR and where it stands (redeemed where and when)."""
    if receipt.kind != VOUCHER:
        return None
    with services().sessions() as db:
        state = voucher_state(db, receipt.award_id)
    return voucher_panel(receipt.award_id, state)


def _claim_context(award_id: str, receipt: AwardReceipt, token: str) -> dict[str, Any]:
    svc = services()
    with svc.sessions() as db:
        payout = payout_for_award(db, award_id)
        credited = bool(receipt.points) and svc.points_credited(award_id)
        balance = points_balance(db, svc.brand_of(receipt), session.get(OPENID, "")) if credited else None
    claimed = svc.claimed_by(award_id)
    return {"receipt": receipt, "token": token, "payout": payout, "balance": balance, "claimed": claimed,
            "waiting": claimed is not None and payout is None and balance is None,
            "mine": claimed is not None and claimed == session.get(OPENID), "in_wechat": in_wechat(),
            "can_claim_here": svc.provider_name == "fake" or in_wechat(), "moving": MOVING,
            "confirm": svc.confirm_target(payout) if payout is not None else None}


@bp.get("/claim/<award_id>")
def claim_page(award_id: str) -> Response:
    g.lang = choose_language()
    held = device_receipt(award_id)
    if held is None:
        return _page("h5/claim_refused.html", 403, reason="not_this_device")
    receipt, token = held
    if receipt.kind != "cash" and not receipt.points:
        return _page("h5/claim.html", receipt=receipt, token=token, payout=None, claimed=None, mine=False,
                     balance=None, waiting=False, in_wechat=in_wechat(), can_claim_here=False, moving=MOVING,
                     confirm=None, voucher=_voucher(receipt))
    if OPENID not in session and (services().provider_name == "fake" or in_wechat()):
        return redirect(_authorize_url(request.full_path))  # type: ignore[return-value]
    return _page("h5/claim.html", **_claim_context(award_id, receipt, token))


@bp.get("/claim/<award_id>/state")
def claim_state(award_id: str) -> Response:
    g.lang = choose_language()
    held = device_receipt(award_id)
    if held is None or OPENID not in session:
        return _page("h5/claim_refused.html", 403, reason="not_this_device")
    return _page("h5/claim_state.html", **_claim_context(award_id, *held))


@bp.post("/claim/<award_id>")
def claim(award_id: str) -> Response:
    g.lang = choose_language()
    held = device_receipt(award_id)
    openid = session.get(OPENID)
    if held is None:
        return _page("h5/claim_refused.html", 403, reason="not_this_device")
    if not openid:
        return redirect(_authorize_url(url_for("claim.claim_page", award_id=award_id)))  # type: ignore[return-value]
    receipt, token = held
    svc = services()
    try:
        with svc.sessions.begin() as db:
            result = claim_award(db, receipt=receipt, brand_id=svc.brand_of(receipt), openid=openid,
                                 provider=svc.provider, client_ip=request.remote_addr or "")
    except ClaimRefused as exc:
        return _page("h5/claim_refused.html", 409, reason=exc.reason)
    if result.payout_id is not None and result.created:
        svc.enqueue_submit(result.payout_id)
    return redirect(url_for("claim.claim_page", award_id=award_id, **({"r": token} if request.values.get("r") else {})),
                    303)  # type: ignore[return-value]


@bp.post("/claim/<award_id>/retry")
def retry(award_id: str) -> Response:
    g.lang = choose_language()
    held = device_receipt(award_id)
    openid = session.get(OPENID)
    svc = services()
    if held is None or not openid or svc.claimed_by(award_id) != openid:
        return _page("h5/claim_refused.html", 403, reason="not_this_device")
    with svc.sessions.begin() as db:
        payout = payout_for_award(db, award_id)
        if payout is None:
            raise PayoutNotFound("no payout for this award")
        with contextlib.suppress(PayoutConflict):  # it moved on meanwhile (a callback, another tap): shown as is
            retry_payout(db, payout.id, actor="consumer")
        payout_id = payout.id
    svc.enqueue_submit(payout_id)
    return redirect(url_for("claim.claim_page", award_id=award_id), 303)  # type: ignore[return-value]


@bp.get("/wx/oauth")
def oauth_return() -> Response:
    g.lang = choose_language()
    try:
        next_path = _oauth_states().loads(request.args.get("state", ""), max_age=OAUTH_STATE_SECONDS)
    except BadSignature:
        return _page("h5/claim_refused.html", 400, reason="oauth_expired")
    if not isinstance(next_path, str) or not next_path.startswith("/claim/"):
        return _page("h5/claim_refused.html", 400, reason="oauth_expired")
    code = request.args.get("code", "")
    svc = services()
    try:
        openid = exchange_code(svc.mp_base, svc.appid, svc.app_secret, code) if 0 < len(code) < 200 else ""
    except WechatMpError as exc:
        current_app.logger.warning("WeChat OAuth code exchange failed: %s", exc.__class__.__name__)
        openid = ""
    if not openid:
        return _page("h5/claim_refused.html", 400, reason="oauth_expired")
    session[OPENID] = openid
    session.permanent = True
    return redirect(next_path)  # type: ignore[return-value]
