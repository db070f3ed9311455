"""The legacy 现金红包 (API v2, XML) as the fake speaks it: sendredpack and gethbinfo.

Requests are signed with MD5 over the sorted non-empty fields plus `&key=<v2 key>`. The real API also
needs the merchant's client certificate; the fake, on plain HTTP over loopback, does not check one.
Error codes follow domain-facts §1.1 (SYSTEMERROR, FREQ_LIMIT, NOTENOUGH, SENDNUM_LIMIT, FATAL_ERROR,
MONEY_LIMIT, PARAM_ERROR, SIGN_ERROR, NOT_FOUND).
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import datetime

from flask import Blueprint, Response, request

from app.fake_wechat.context import drop_connection, fake
from app.fake_wechat.state import CHINA
from payouts.providers.wechat_redpack import v2_sign

bp = Blueprint("fake_redpack", __name__, url_prefix="/mmpaymkttransfers")
SCENES = {f"PRODUCT_{i}" for i in range(1, 9)}
_BILLNO = re.compile(r"[0-9A-Za-z]{1,28}")
COMPARED = ("mch_billno", "wxappid", "re_openid", "total_amount", "total_num", "send_name", "wishing",
            "act_name", "remark", "scene_id")


class _Fail(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _xml(fields: dict[str, object]) -> Response:
    body = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items())
    return Response(f"<xml>{body}</xml>", mimetype="text/xml")


def _request_fields() -> dict[str, str]:
    try:
        root = ET.fromstring(request.get_data())  # noqa: S314
    except ET.ParseError as exc:
        raise _Fail("XML_ERROR", "输入xml参数格式错误") from exc
    fields = {child.tag: (child.text or "") for child in root}
    keys = fake().keys
    if fields.get("sign") != v2_sign(fields, keys.v2_key):
        raise _Fail("SIGN_ERROR", "签名错误")
    if fields.get("mch_id") != keys.mchid:
        raise _Fail("PARAM_ERROR", "mch_id 错误")
    return fields


def _answer(op: str, fields: dict[str, str], extra: dict[str, object]) -> Response:
    base: dict[str, object] = {"return_code": "SUCCESS", "return_msg": "OK", "result_code": "SUCCESS",
                               "mch_billno": fields.get("mch_billno", ""), "mch_id": fake().keys.mchid}
    if fake().state.take_fault("lost_replies", op):
        drop_connection()
    return _xml({**base, **extra})


def _failure(fields: dict[str, str], exc: _Fail) -> Response:
    return _xml({"return_code": "SUCCESS", "return_msg": exc.message, "result_code": "FAIL",
                 "err_code": exc.code, "err_code_des": exc.message, "mch_billno": fields.get("mch_billno", ""),
                 "mch_id": fake().keys.mchid})


def _checked_send(fields: dict[str, str]) -> dict[str, str]:
    if fields.get("wxappid") != fake().keys.appid:
        raise _Fail("ILLEGAL_APPID", "wxappid 与商户号不匹配")
    if not _BILLNO.fullmatch(fields.get("mch_billno", "")):
        raise _Fail("PARAM_ERROR", "mch_billno 须为28位以内的数字和字母")
    for name in ("re_openid", "send_name", "wishing", "act_name", "remark", "client_ip"):
        if not fields.get(name):
            raise _Fail("PARAM_ERROR", f"{name} 必填")
    if fields.get("total_num") != "1" or not fields.get("total_amount", "").isdigit():
        raise _Fail("PARAM_ERROR", "total_num 须为1，total_amount 须为整数（分）")
    scene = fields.get("scene_id", "")
    if scene and scene not in SCENES:
        raise _Fail("PARAM_ERROR", "scene_id 无效")
    if not 100 <= int(fields["total_amount"]) <= 20000 and not scene:
        raise _Fail("MONEY_LIMIT", "金额超出限制（1-200元，否则须传 scene_id）")
    return {k: fields.get(k, "") for k in COMPARED}


@bp.post("/sendredpack")
def sendredpack() -> Response:
    state = fake().state
    fields: dict[str, str] = {}
    try:
        fields = _request_fields()
        if state.take_fault("system_errors", "sendredpack"):
            raise _Fail("SYSTEMERROR", "系统繁忙，请稍后再试")
        if not state.take_token():
            raise _Fail("FREQ_LIMIT", "超过频率限制，请稍后再试")
        params = _checked_send(fields)
        amount = int(params["total_amount"])
        with state.lock:
            bill = state.find("redpack", params["mch_billno"])
            if bill is not None and bill.params != params:
                raise _Fail("FATAL_ERROR", "重复请求参数与原单不一致")
            if bill is None:
                if state.faults.balance_fen is not None and state.faults.balance_fen < amount:
                    raise _Fail("NOTENOUGH", "帐号余额不足，请到商户平台充值后再重试")
                if state.user_cap_reason(params["re_openid"], amount):
                    raise _Fail("SENDNUM_LIMIT", "该用户今日领取红包个数超过限制")
                bill = state.open_bill("redpack", params["mch_billno"], params["re_openid"], amount, params)
            send_listid = bill.bill_id
    except _Fail as exc:
        return _failure(fields, exc)
    return _answer("sendredpack", fields, {"wxappid": fields["wxappid"], "re_openid": fields["re_openid"],
                                           "total_amount": fields["total_amount"], "send_listid": send_listid})


@bp.post("/gethbinfo")
def gethbinfo() -> Response:
    state = fake().state
    fields: dict[str, str] = {}
    try:
        fields = _request_fields()
        if state.take_fault("system_errors", "gethbinfo"):
            raise _Fail("SYSTEMERROR", "系统繁忙，请稍后再试")
        bill = state.find("redpack", fields.get("mch_billno", ""))
        if bill is None:
            raise _Fail("NOT_FOUND", "指定单号数据不存在")
    except _Fail as exc:
        return _failure(fields, exc)
    sent = datetime.fromtimestamp(bill.created_at, CHINA).strftime("%Y-%m-%d %H:%M:%S")
    extra: dict[str, object] = {"detail_id": bill.bill_id, "status": bill.state, "send_type": "API",
                                "hb_type": "NORMAL", "total_num": 1, "total_amount": bill.amount_fen,
                                "send_time": sent, "openid": bill.openid}
    if bill.state == "REFUND":
        extra["refund_amount"] = bill.amount_fen
    return _answer("gethbinfo", fields, extra)
