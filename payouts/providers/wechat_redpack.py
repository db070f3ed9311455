"""WeChat 现金红包 (API v2, XML, MD5-signed; the merchant's client certificate on TLS): the legacy rail.

Mapping (domain-facts §1.1, §1.4): SYSTEMERROR, FATAL_ERROR (same number, other parameters), an unparsable
reply or an unknown code → UNCLEAR (query, keep the number); PROCESSING → SUBMITTED; SEND_FAILED → FAILED;
NOTENOUGH → RETRY_LATER + pause the rail; FREQ_LIMIT / SECOND_OVER_LIMITED → RETRY_LATER;
DAY_OVER_LIMITED / SENDNUM_LIMIT → RETRY_LATER until the next day; MONEY_LIMIT, NO_AUTH and configuration
errors → REJECTED. Query statuses: SENDING → SUBMITTED, SENT → AWAITING_USER, RECEIVED → SUCCEEDED,
FAILED → FAILED, RFUND_ING / REFUND → EXPIRED. Red packets have no cancel and no callback.
"""

from __future__ import annotations

import hashlib
import secrets
import ssl
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from datetime import date, datetime, timedelta, timezone
from xml.sax.saxutils import escape

from payouts.errors import InvalidCallback
from payouts.providers.base import (
    Answer,
    BillLine,
    CallbackEvent,
    ProviderReply,
    State,
    TransferOrder,
    WechatCredentials,
)
from payouts.providers.transport import TransportError, call

STATUSES = {"SENDING": State.SUBMITTED, "SENT": State.AWAITING_USER, "RECEIVED": State.SUCCEEDED,
            "FAILED": State.FAILED, "RFUND_ING": State.EXPIRED, "REFUND": State.EXPIRED}
REJECTING = frozenset({"MONEY_LIMIT", "NO_AUTH", "OPENID_ERROR", "ILLEGAL_APPID", "SIGN_ERROR", "CA_ERROR",
                       "XML_ERROR", "PARAM_ERROR"})
NEXT_DAY = frozenset({"DAY_OVER_LIMITED", "DAY_ OVER_LIMITED", "SENDNUM_LIMIT"})
CHINA = timezone(timedelta(hours=8))


def v2_sign(fields: Mapping[str, str], key: str) -> str:
    """API v2 MD5 signature: sorted non-empty fields (without `sign`) as k=v&…&key=KEY, upper-case hex."""
    pairs = "&".join(f"{k}={v}" for k, v in sorted(fields.items()) if v != "" and k != "sign")
    return hashlib.md5(f"{pairs}&key={key}".encode(), usedforsecurity=False).hexdigest().upper()


def _seconds_to_china_midnight(now: datetime) -> float:
    local = now.astimezone(CHINA)
    midnight = (local + timedelta(days=1)).replace(hour=0, minute=5, second=0, microsecond=0)
    return (midnight - local).total_seconds()


class WechatRedpack:
    name = "wechat_redpack"
    bill_no_length = 28

    def __init__(self, creds: WechatCredentials, send_name: str = "yima", min_fen: int = 100,
                 max_fen: int = 20000, scene_id: str = "PRODUCT_2") -> None:
        self.creds, self.send_name, self.min_fen, self.max_fen = creds, send_name, min_fen, max_fen
        self.scene_id = scene_id  # PRODUCT_2 抽奖
        self._ssl: ssl.SSLContext | None = None
        if creds.client_cert_file is not None:
            self._ssl = ssl.create_default_context()
            self._ssl.load_cert_chain(creds.client_cert_file, creds.client_key_file)

    def submit(self, order: TransferOrder) -> ProviderReply:
        fields = {"mch_billno": order.bill_no, "mch_id": self.creds.mchid, "wxappid": self.creds.appid,
                  "send_name": self.send_name[:32], "re_openid": order.openid, "total_amount": str(order.amount_fen),
                  "total_num": "1", "wishing": order.remark[:128] or order.description,
                  "client_ip": order.client_ip or "127.0.0.1", "act_name": order.activity[:32],
                  "remark": order.description[:256], "scene_id": self.scene_id}
        reply = self._post("/mmpaymkttransfers/sendredpack", fields)
        if isinstance(reply, ProviderReply):
            return reply
        if reply.get("result_code") == "SUCCESS":
            return ProviderReply(Answer.STATE, state=State.AWAITING_USER, provider_bill_id=reply.get("send_listid", ""))
        return self._error(reply.get("err_code", ""), reply.get("err_code_des", ""))

    def query(self, bill_no: str) -> ProviderReply:
        fields = {"mch_billno": bill_no, "mch_id": self.creds.mchid, "appid": self.creds.appid, "bill_type": "MCHT"}
        reply = self._post("/mmpaymkttransfers/gethbinfo", fields)
        if isinstance(reply, ProviderReply):
            return reply
        if reply.get("result_code") != "SUCCESS":
            code = reply.get("err_code", "")
            if code == "NOT_FOUND":
                return ProviderReply(Answer.NOT_FOUND, reason=code, message=reply.get("err_code_des", ""))
            return self._error(code, reply.get("err_code_des", ""))
        state = STATUSES.get(reply.get("status", ""))
        if state is None:
            return ProviderReply(Answer.UNCLEAR, reason=reply.get("status", ""), message="unknown status")
        amount = reply.get("total_amount", "")
        return ProviderReply(Answer.STATE, state=state, provider_bill_id=reply.get("detail_id", ""),
                             reason=reply.get("status", "") if state is State.EXPIRED else "",
                             amount_fen=int(amount) if amount.isdigit() else None)

    def cancel(self, bill_no: str) -> ProviderReply:
        return ProviderReply(Answer.REJECTED, reason="UNSUPPORTED", message="red packets cannot be cancelled")

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        raise InvalidCallback("red packets send no callbacks")

    def bill(self, day: date) -> list[BillLine]:
        return []  # no per-bill file for red packets: reconciliation queries each bill instead

    def confirm_params(self, package_info: str) -> dict[str, str]:
        return {}

    def _post(self, path: str, fields: dict[str, str]) -> dict[str, str] | ProviderReply:
        fields = {**fields, "nonce_str": secrets.token_hex(16)}
        fields["sign"] = v2_sign(fields, self.creds.v2_key)
        body = "<xml>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items()) + "</xml>"
        try:
            reply = call(self.creds.api_base + path, "POST", body.encode(), {"Content-Type": "text/xml"},
                         self.creds.timeout_s, self._ssl)
            root = ET.fromstring(reply.body)  # noqa: S314
        except (TransportError, ET.ParseError) as exc:
            return ProviderReply(Answer.UNCLEAR, reason="TRANSPORT", message=type(exc).__name__)
        data = {child.tag: (child.text or "") for child in root}
        if reply.status >= 500 or data.get("return_code") != "SUCCESS":
            if data.get("err_code"):
                return self._error(data["err_code"], data.get("err_code_des", ""))
            return ProviderReply(Answer.UNCLEAR, reason=data.get("return_code", f"HTTP_{reply.status}"),
                                 message=data.get("return_msg", ""))
        return data

    @staticmethod
    def _error(code: str, message: str) -> ProviderReply:
        if code == "PROCESSING":
            return ProviderReply(Answer.STATE, state=State.SUBMITTED, reason=code, message=message)
        if code == "SEND_FAILED":
            return ProviderReply(Answer.STATE, state=State.FAILED, reason=code, message=message)
        if code == "NOTENOUGH":
            return ProviderReply(Answer.RETRY_LATER, reason=code, message=message, retry_after=3600.0,
                                 pause_rail=True)
        if code in ("FREQ_LIMIT", "SECOND_OVER_LIMITED"):
            return ProviderReply(Answer.RETRY_LATER, reason=code, message=message, retry_after=60.0)
        if code in NEXT_DAY:
            return ProviderReply(Answer.RETRY_LATER, reason=code.replace(" ", ""), message=message,
                                 retry_after=_seconds_to_china_midnight(datetime.now(CHINA)))
        if code in REJECTING:
            return ProviderReply(Answer.REJECTED, reason=code, message=message)
        return ProviderReply(Answer.UNCLEAR, reason=code or "UNKNOWN", message=message)  # SYSTEMERROR, FATAL_ERROR
