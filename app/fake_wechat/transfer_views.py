"""WeChat Pay v3 商家转账 as the fake speaks it: create, query, cancel, and the fund flow bill.

Every request must carry a merchant Authorization header that verifies with the merchant public key
(401 SIGN_ERROR otherwise); every reply, errors included, is signed with the platform key. Checks run in
WeChat's order as far as it is known: injected SYSTEM_ERROR, rate, fields, a reused number, balance.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from typing import Any

from flask import Blueprint, Response, request

from app.fake_wechat.context import drop_connection, fake
from app.fake_wechat.notifier import signed_headers
from app.fake_wechat.state import Bill, Refusal, rfc3339
from payouts import wechat_crypto

bp = Blueprint("fake_transfer", __name__)
_ALNUM = re.compile(r"[0-9A-Za-z]{1,32}")
PREFIX = "/v3/fund-app/mch-transfer/transfer-bills"
INFO_TYPES = ("活动名称", "奖励说明")
MISMATCH = "单号已存在但信息不一致，请查单后比较确认"
BILL_COLUMNS = ("记账时间", "微信支付业务单号", "商户单号", "业务名称", "业务类型", "收支类型", "收支金额(元)",
                "转账状态", "失败原因", "备注")


def _reply(status: int, body: dict[str, Any]) -> Response:
    text = json.dumps(body, ensure_ascii=False)
    f = fake()
    headers = signed_headers(f.platform_key, f.keys.platform_key_id, text)
    headers["Request-ID"] = secrets.token_hex(16)
    return Response(text, status=status, mimetype="application/json", headers=headers)


@bp.errorhandler(Refusal)
def _refused(exc: Refusal) -> Response:
    return _reply(exc.status, {"code": exc.code, "message": exc.message})


@bp.before_request
def _verify_merchant() -> None:
    f = fake()
    fields = wechat_crypto.parse_authorization(request.headers.get("Authorization", ""))
    query = request.query_string.decode()
    path = request.path + (f"?{query}" if query else "")
    message = wechat_crypto.request_message(request.method, path, fields.timestamp if fields else "",
                                            fields.nonce if fields else "", request.get_data(as_text=True))
    if (fields is None or fields.mchid != f.keys.mchid or fields.serial != f.keys.merchant_serial
            or not wechat_crypto.fresh(fields.timestamp)
            or not wechat_crypto.verify(f.merchant_public, message, fields.signature)):
        raise Refusal(401, "SIGN_ERROR", "签名错误")


def _bill_view(bill: Bill, *, full: bool) -> dict[str, Any]:
    view: dict[str, Any] = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.bill_id,
                            "create_time": rfc3339(bill.created_at), "state": bill.state}
    if bill.state == "WAIT_USER_CONFIRM":
        view["package_info"] = bill.package_info
    if bill.fail_reason:
        view["fail_reason"] = bill.fail_reason
    if full:
        view.update(mch_id=fake().keys.mchid, appid=bill.params["appid"], transfer_amount=bill.amount_fen,
                    transfer_remark=bill.params["transfer_remark"], openid=bill.openid,
                    update_time=rfc3339(bill.updated_at))
    return view


def _checked_fields(body: Any) -> dict[str, Any]:
    """The fields a bill is made of, validated as WeChat does (Refusal otherwise)."""
    def param_error(message: str) -> Refusal:
        return Refusal(400, "PARAM_ERROR", message)

    if not isinstance(body, dict):
        raise param_error("请求体不是合法的JSON")
    if body.get("appid") != fake().keys.appid:
        raise Refusal(400, "INVALID_REQUEST", "appid和mch_id不匹配")
    if not isinstance(body.get("out_bill_no"), str) or not _ALNUM.fullmatch(body["out_bill_no"]):
        raise param_error("out_bill_no 须为32位以内的数字和字母")
    if body.get("transfer_scene_id") != "1000":
        raise param_error("transfer_scene_id 无效（本商户仅开通 1000 现金营销）")
    if not isinstance(body.get("openid"), str) or not 0 < len(body["openid"]) <= 128:
        raise param_error("openid 无效")
    amount = body.get("transfer_amount")
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise param_error("transfer_amount 须为整数（分）")
    if not 10 <= amount <= fake().state.faults.max_amount_fen:
        raise Refusal(400, "INVALID_REQUEST", "超过单笔转账上下限")
    if not isinstance(body.get("transfer_remark"), str) or not 0 < len(body["transfer_remark"]) <= 32:
        raise param_error("transfer_remark 须为1-32个字符")
    url = body.get("notify_url")
    if not isinstance(url, str) or not url.startswith(("https://", "http://")) or "?" in url:
        raise param_error("notify_url 须为不带参数的 http(s) 地址")
    if body.get("user_recv_perception", "活动奖励") not in ("现金奖励", "活动奖励"):
        raise Refusal(400, "INVALID_REQUEST", "暂不支持展示当前传入的用户收款感知")
    infos = body.get("transfer_scene_report_infos")
    if not infos:
        raise param_error("需传入转账场景报备信息")
    if (not isinstance(infos, list) or len(infos) != 2
            or sorted(str(i.get("info_type")) if isinstance(i, dict) else "" for i in infos) != sorted(INFO_TYPES)
            or any(not isinstance(i.get("info_content"), str) or not 0 < len(i["info_content"]) <= 32
                   for i in infos)):
        raise param_error("转账场景报备信息须为两项：活动名称、奖励说明（各1-32个字符）")
    keep = ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark",
            "user_recv_perception", "transfer_scene_report_infos", "user_name")
    return {k: body[k] for k in keep if k in body}


@bp.post(PREFIX)
def create() -> Response:
    state = fake().state
    if state.take_fault("system_errors", "create"):
        raise Refusal(500, "SYSTEM_ERROR", "系统错误，请使用相同参数稍后重试")
    if not state.take_token():
        raise Refusal(429, "FREQUENCY_LIMITED", "频率超限，请降低请求频率")
    body: Any = request.get_json(silent=True)
    params = _checked_fields(body)
    with state.lock:
        bill = state.find("transfer", params["out_bill_no"])
        if bill is not None and bill.params != params:
            raise Refusal(400, "INVALID_REQUEST", MISMATCH)
        if bill is None:
            if state.faults.balance_fen is not None and state.faults.balance_fen < params["transfer_amount"]:
                raise Refusal(403, "NOT_ENOUGH", "商户运营账户资金不足")
            cap = state.user_cap_reason(params["openid"], params["transfer_amount"])
            bill = state.open_bill("transfer", params["out_bill_no"], params["openid"], params["transfer_amount"],
                                   params, body["notify_url"])
            if cap:
                state.finish(bill, "FAIL", cap)
        view = _bill_view(bill, full=False)
    if state.take_fault("lost_replies", "create"):
        drop_connection()
    if state.faults.reply_delay_s > 0:
        time.sleep(state.faults.reply_delay_s)
    return _reply(200, view)


def _existing(out_bill_no: str, op: str) -> Bill:
    state = fake().state
    if state.take_fault("system_errors", op):
        raise Refusal(500, "SYSTEM_ERROR", "系统错误，请稍后重试")
    bill = state.find("transfer", out_bill_no)
    if bill is None or state.take_fault("not_found", op):  # WeChat may not show a bill it is still processing
        raise Refusal(404, "NOT_FOUND", "记录不存在")
    return bill


@bp.get(f"{PREFIX}/out-bill-no/<out_bill_no>")
def query(out_bill_no: str) -> Response:
    view = _bill_view(_existing(out_bill_no, "query"), full=True)
    if fake().state.take_fault("lost_replies", "query"):
        drop_connection()
    return _reply(200, view)


@bp.post(f"{PREFIX}/out-bill-no/<out_bill_no>/cancel")
def cancel(out_bill_no: str) -> Response:
    state = fake().state
    bill = _existing(out_bill_no, "cancel")
    with state.lock:
        if bill.state not in ("ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "CANCELLED"):
            raise Refusal(400, "INVALID_REQUEST", "当前转账单状态不允许撤销")
        state.finish(bill, "CANCELLED")
        view = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.bill_id, "state": bill.state,
                "update_time": rfc3339(bill.updated_at)}
    if state.take_fault("lost_replies", "cancel"):
        drop_connection()
    return _reply(200, view)


@bp.get("/v3/bill/fundflowbill")
def fundflow_bill() -> Response:
    day = request.args.get("bill_date", "")
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", day):
        raise Refusal(400, "PARAM_ERROR", "bill_date 格式应为 YYYY-MM-DD")
    state = fake().state
    with state.lock:
        state.sweep()
        bills = sorted((b for b in state.bills.values() if b.kind == "transfer" and b.day() == day),
                       key=lambda b: b.created_at)
        csv = fundflow_csv(bills).encode("utf-8")
        token = secrets.token_urlsafe(16)
        state.downloads[token] = csv
    return _reply(200, {"download_url": f"{request.host_url.rstrip('/')}/v3/billdownload/file?token={token}",
                        "hash_type": "SHA1", "hash_value": hashlib.sha1(csv, usedforsecurity=False).hexdigest()})


@bp.get("/v3/billdownload/file")
def download() -> Response:
    csv = fake().state.downloads.get(request.args.get("token", ""))
    if csv is None:
        raise Refusal(404, "NOT_FOUND", "账单文件不存在或已过期")
    return Response(csv, mimetype="text/csv")  # WeChat does not sign the file: hash_value checks it


def fundflow_csv(bills: list[Bill]) -> str:
    """WeChat's bill style: a header, one row per bill with every value prefixed by a backtick, then a
    summary header and row. Columns: BILL_COLUMNS (金额 in 元, 转账状态 the bill's current state)."""
    lines = [",".join(BILL_COLUMNS)]
    for b in bills:
        values = (rfc3339(b.created_at).replace("T", " ")[:19], b.bill_id, b.out_bill_no, "商家转账", "现金营销",
                  "支出", f"{b.amount_fen / 100:.2f}", b.state, b.fail_reason, b.params.get("transfer_remark", ""))
        lines.append(",".join("`" + str(v).replace(",", "，") for v in values))
    total = sum(b.amount_fen for b in bills)
    lines.append("资金流水总笔数,收入笔数,收入金额,支出笔数,支出金额")
    lines.append(f"`{len(bills)},`0,`0.00,`{len(bills)},`{total / 100:.2f}")
    return "\n".join(lines) + "\n"
