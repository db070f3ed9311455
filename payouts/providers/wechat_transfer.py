"""WeChat Pay v3 商家转账 (scene 1000 现金营销): the default payout rail.

Requests are signed with the merchant key; replies must verify with the platform public key, or the
answer is UNCLEAR (a reply we cannot trust says nothing about the bill). Error mapping (domain-facts
§1.2, §1.4): SYSTEM_ERROR, 5xx, timeouts, lost replies, unknown codes and a reused bill number with other
parameters → UNCLEAR (query it); FREQUENCY_LIMITED → RETRY_LATER; NOT_ENOUGH → RETRY_LATER and pause the
rail; PARAM_ERROR, INVALID_REQUEST, NO_AUTH and the like → REJECTED; a query's 404 → NOT_FOUND.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlsplit

from payouts import wechat_crypto
from payouts.errors import InvalidCallback, ProviderUnavailable
from payouts.providers.base import (
    Answer,
    BillLine,
    CallbackEvent,
    ProviderReply,
    State,
    TransferOrder,
    WechatCredentials,
)
from payouts.providers.transport import HttpReply, TransportError, call

PREFIX = "/v3/fund-app/mch-transfer/transfer-bills"
STATES = {"ACCEPTED": State.SUBMITTED, "PROCESSING": State.SUBMITTED, "TRANSFERING": State.SUBMITTED,
          "CANCELING": State.SUBMITTED, "WAIT_USER_CONFIRM": State.AWAITING_USER, "SUCCESS": State.SUCCEEDED,
          "FAIL": State.FAILED, "CANCELLED": State.CANCELLED}
EXPIRED_REASON = "OVERDUE_CLOSE"  # a FAIL with this reason is the 24 h close of an unconfirmed bill
REJECTING = frozenset({"PARAM_ERROR", "INVALID_REQUEST", "NO_AUTH", "SIGN_ERROR", "USER_ERROR",
                       "APPID_MCHID_NOT_MATCH", "ACCOUNT_ERROR"})
MISMATCH_WORDS = "单号已存在"
FREQUENCY_CODES = frozenset({"FREQUENCY_LIMITED", "FREQUENCY_LIMIT_EXCEED", "RATELIMIT_EXCEEDED"})
NOT_ENOUGH_RETRY_S = 600.0  # after a top-up an operator resumes the rail; this is only the earliest retry


def map_state(state: str, fail_reason: str = "") -> State | None:
    if state == "FAIL" and fail_reason == EXPIRED_REASON:
        return State.EXPIRED
    return STATES.get(state)


class WechatTransfer:
    name = "wechat_transfer"
    bill_no_length = 32

    def __init__(self, creds: WechatCredentials, min_fen: int = 10, max_fen: int = 20000) -> None:
        self.creds, self.min_fen, self.max_fen = creds, min_fen, max_fen
        self._key = wechat_crypto.load_private_key(creds.merchant_key_file)
        self._platform = wechat_crypto.load_public_key(creds.platform_public_key_file)

    # -- the Provider protocol ------------------------------------------------------------------

    def submit(self, order: TransferOrder) -> ProviderReply:
        body = {"appid": self.creds.appid, "out_bill_no": order.bill_no, "transfer_scene_id": "1000",
                "openid": order.openid, "transfer_amount": order.amount_fen, "transfer_remark": order.remark,
                "notify_url": self.creds.notify_url, "user_recv_perception": "活动奖励",
                "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": order.activity},
                                                {"info_type": "奖励说明", "info_content": order.description}]}
        return self._bill_answer("POST", PREFIX, body)

    def query(self, bill_no: str) -> ProviderReply:
        return self._bill_answer("GET", f"{PREFIX}/out-bill-no/{quote(bill_no, safe='')}", None, query=True)

    def cancel(self, bill_no: str) -> ProviderReply:
        return self._bill_answer("POST", f"{PREFIX}/out-bill-no/{quote(bill_no, safe='')}/cancel", None,
                                 query=True)

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        lower = {k.lower(): v for k, v in headers.items()}
        text = body.decode("utf-8", errors="replace")
        if not self._verified(lower, text):
            raise InvalidCallback("the callback's signature does not verify")
        try:
            envelope = json.loads(text)
            plain = json.loads(wechat_crypto.decrypt_resource(self.creds.apiv3_key, envelope["resource"]))
            state = map_state(plain["state"], plain.get("fail_reason", ""))
            if state is None or plain.get("mch_id", self.creds.mchid) != self.creds.mchid:
                raise ValueError("unexpected state or merchant")
            return CallbackEvent(bill_no=plain["out_bill_no"], state=state,
                                 provider_bill_id=plain.get("transfer_bill_no", ""),
                                 reason=plain.get("fail_reason", ""), amount_fen=plain.get("transfer_amount"))
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidCallback("the callback's resource does not decrypt to a transfer bill") from exc

    def bill(self, day: date) -> list[BillLine]:
        """The fund flow bill of `day`; ProviderUnavailable when it cannot be fetched or does not check."""
        try:
            reply = self._signed("GET", f"/v3/bill/fundflowbill?bill_date={day.isoformat()}&account_type=BASIC",
                                 None)
            meta = json.loads(reply.body) if reply.status == 200 and self._verified(reply.headers, reply.text) else {}
            url = meta["download_url"]
            parts = urlsplit(url)
            target = parts.path + (f"?{parts.query}" if parts.query else "")
            file = self._signed("GET", target, None, base=f"{parts.scheme}://{parts.netloc}")
            if file.status != 200 or hashlib.sha1(file.body, usedforsecurity=False).hexdigest() != meta["hash_value"]:
                raise ValueError("the bill file does not match its hash")
            return parse_fundflow(file.text)
        except (TransportError, ValueError, KeyError, TypeError) as exc:
            raise ProviderUnavailable(f"the fund flow bill of {day} could not be fetched") from exc

    def confirm_params(self, package_info: str) -> dict[str, str]:
        return {"mchId": self.creds.mchid, "appId": self.creds.appid, "package": package_info}

    # -- HTTP -----------------------------------------------------------------------------------

    def _signed(self, method: str, path: str, body: dict[str, Any] | None, base: str = "") -> HttpReply:
        text = "" if body is None else json.dumps(body, ensure_ascii=False)
        auth = wechat_crypto.authorization(self._key, self.creds.mchid, self.creds.merchant_serial, method, path,
                                           text)
        headers = {"Authorization": auth, "Accept": "application/json", "User-Agent": "yima-payouts",
                   "Wechatpay-Serial": self.creds.platform_key_id}
        if body is not None:
            headers["Content-Type"] = "application/json"
        return call((base or self.creds.api_base) + path, method, text.encode() if body is not None else None,
                    headers, self.creds.timeout_s)

    def _verified(self, headers: Mapping[str, str], text: str) -> bool:
        timestamp, nonce = headers.get("wechatpay-timestamp", ""), headers.get("wechatpay-nonce", "")
        return (headers.get("wechatpay-serial") == self.creds.platform_key_id and wechat_crypto.fresh(timestamp)
                and wechat_crypto.verify(self._platform, wechat_crypto.response_message(timestamp, nonce, text),
                                         headers.get("wechatpay-signature", "")))

    def _bill_answer(self, method: str, path: str, body: dict[str, Any] | None, query: bool = False
                     ) -> ProviderReply:
        """`query`: a call about an existing bill (query, cancel), where 404 means the bill does not exist."""
        try:
            reply = self._signed(method, path, body)
        except TransportError as exc:
            return ProviderReply(Answer.UNCLEAR, reason="TRANSPORT", message=str(exc))
        if not self._verified(reply.headers, reply.text):
            return ProviderReply(Answer.UNCLEAR, reason="UNVERIFIED_REPLY", message=f"HTTP {reply.status}")
        try:
            data = json.loads(reply.text)
            if not isinstance(data, dict):
                raise ValueError("not an object")
        except ValueError:
            return ProviderReply(Answer.UNCLEAR, reason="BAD_REPLY", message=f"HTTP {reply.status}")
        if reply.status == 200:
            return self._state_reply(data)
        return self._error_reply(reply.status, str(data.get("code", "")), str(data.get("message", "")), query)

    def _state_reply(self, data: dict[str, Any]) -> ProviderReply:
        reason = str(data.get("fail_reason", ""))
        state = map_state(str(data.get("state", "")), reason)
        if state is None:
            return ProviderReply(Answer.UNCLEAR, reason=str(data.get("state", "")), message="unknown state")
        amount = data.get("transfer_amount")
        return ProviderReply(Answer.STATE, state=state, provider_bill_id=str(data.get("transfer_bill_no", "")),
                             package_info=str(data.get("package_info", "")) if state is State.AWAITING_USER else "",
                             reason=reason or (str(data["state"]) if data.get("state") == "CANCELING" else ""),
                             amount_fen=amount if isinstance(amount, int) else None)

    @staticmethod
    def _error_reply(status: int, code: str, message: str, query: bool) -> ProviderReply:
        if query and status == 404:
            return ProviderReply(Answer.NOT_FOUND, reason=code or "NOT_FOUND", message=message)
        if code in FREQUENCY_CODES or status == 429:
            return ProviderReply(Answer.RETRY_LATER, reason=code, message=message, retry_after=1.0)
        if code == "NOT_ENOUGH":
            return ProviderReply(Answer.RETRY_LATER, reason=code, message=message, retry_after=NOT_ENOUGH_RETRY_S,
                                 pause_rail=True)
        if code == "INVALID_REQUEST" and MISMATCH_WORDS in message:  # our bug or a race: look before acting
            return ProviderReply(Answer.UNCLEAR, reason="BILL_MISMATCH", message=message)
        if code in REJECTING and status < 500:
            return ProviderReply(Answer.REJECTED, reason=code, message=message)
        return ProviderReply(Answer.UNCLEAR, reason=code or f"HTTP_{status}", message=message)


def parse_fundflow(text: str) -> list[BillLine]:
    """Rows of the fund flow bill (the fake's columns; see app/fake_wechat/transfer_views.BILL_COLUMNS)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return []
    header = rows[0]
    lines: list[BillLine] = []
    for row in rows[1:]:
        if not row or not row[0].startswith("`"):
            break  # the summary section
        values = dict(zip(header, (v.lstrip("`") for v in row), strict=False))
        state = map_state(values["转账状态"], values.get("失败原因", ""))
        if state is None:
            raise ValueError(f"unknown state in the bill: {values['转账状态']}")
        at = datetime.fromisoformat(values["记账时间"] + "+08:00")
        lines.append(BillLine(bill_no=values["商户单号"], provider_bill_id=values["微信支付业务单号"],
                              amount_fen=round(float(values["收支金额(元)"]) * 100), state=state, at=at))
    return lines
