"""POST /wechat/pay/notify: WeChat Pay's callbacks (商家转账 MCHTRANSFER.BILL.FINISHED), verified, decrypted and
applied idempotently. WeChat sends duplicates and expects an answer within 5 s: the work here is one
signature check, one decryption and one indexed update. A callback that does not verify changes nothing and
gets 401 (WeChat retries; a forger learns nothing). A missed callback is made up by the worker's queries.
"""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify

from app.claim_views import services
from app.errors import json_errors
from payouts.engine import apply_callback
from payouts.errors import InvalidCallback

bp = Blueprint("payout_notify", __name__)
json_errors(bp)


@bp.post("/wechat/pay/notify")
def notify() -> tuple[Response, int]:
    from flask import request

    svc = services()
    try:
        event = svc.provider.parse_callback(request.headers, request.get_data(cache=False))
    except InvalidCallback as exc:
        current_app.logger.warning("payout callback refused: %s", exc)
        return jsonify(code="FAIL", message="the callback does not verify"), 401
    with svc.sessions.begin() as db:
        changed = apply_callback(db, event)
    current_app.logger.info("payout callback %s → %s (%s)", event.bill_no, event.state.value,
                            "applied" if changed else "duplicate")
    return jsonify(code="SUCCESS", message="成功"), 200
