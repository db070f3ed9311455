"""The fake's control API (JSON, loopback only): inject failures, move the clock, inspect bills.

    GET  /_fake/bills                      every bill (kind, out_bill_no, state, amount_fen, ...)
    GET  /_fake/faults  POST /_fake/faults {"system_errors": {"create": 2}, "rate_per_s": 5, ...}
                                           (the fields of app.fake_wechat.state.Faults)
    GET  /_fake/clock   POST /_fake/clock  {"advance": 86400}
    POST /_fake/bills/<kind>/<out_bill_no>/confirm        the consumer accepts (transfer or redpack)
    POST /_fake/bills/<kind>/<out_bill_no>/fail           {"reason": "TRANSFER_RISK"}
    GET  /_fake/callbacks                  every callback delivery attempt
    POST /_fake/reset                      no bills, default faults, clock back to real time
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Blueprint, Response, abort, jsonify, request

from app.fake_wechat.context import fake

bp = Blueprint("fake_control", __name__, url_prefix="/_fake")


@bp.before_request
def _loopback_only() -> None:
    if request.remote_addr not in ("127.0.0.1", "::1"):
        abort(403)


@bp.get("/bills")
def bills() -> Response:
    return jsonify(bills=fake().state.listing())


@bp.route("/faults", methods=["GET", "POST"])
def faults() -> Any:
    state = fake().state
    if request.method == "POST":
        try:
            with state.lock:
                state.faults.update(request.get_json(force=True) or {})
        except (ValueError, TypeError) as exc:
            return jsonify(error={"code": "invalid", "message": str(exc)}), 400
    with state.lock:
        return jsonify(asdict(state.faults))


@bp.route("/clock", methods=["GET", "POST"])
def clock() -> Response:
    state = fake().state
    if request.method == "POST":
        with state.lock:
            state.clock.advance(float((request.get_json(force=True) or {}).get("advance", 0)))
        state.sweep()
    return jsonify(now=state.clock.now(), offset=state.clock.offset)


@bp.post("/bills/<kind>/<out_bill_no>/<action>")
def act(kind: str, out_bill_no: str, action: str) -> Any:
    state = fake().state
    bill = state.find(kind, out_bill_no)
    if bill is None or action not in ("confirm", "fail"):
        return jsonify(error={"code": "not_found", "message": "no such bill or action"}), 404
    if action == "confirm":
        changed = state.confirm(bill)
    else:
        changed = bill.state in ("WAIT_USER_CONFIRM", "SENT", "ACCEPTED", "PROCESSING", "SENDING")
        reason = str((request.get_json(silent=True) or {}).get("reason", "TRANSFER_RISK"))
        state.finish(bill, "FAIL" if kind == "transfer" else "FAILED", reason)
    return jsonify(changed=changed, state=bill.state)


@bp.get("/callbacks")
def callbacks() -> Response:
    with fake().state.lock:
        return jsonify(deliveries=list(fake().state.deliveries))


@bp.post("/reset")
def reset() -> Response:
    fake().state.reset()
    return jsonify(ok=True)
