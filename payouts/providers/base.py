"""The provider interface every payout rail implements, and the vocabulary the engine speaks.

The engine never sees a rail's own states or error codes: an adapter turns each reply into a
`ProviderReply` whose `answer` says what the engine may do next. The rule common to every rail: after an
unclear answer the same bill number is queried (and resubmitted only when the query says the bill does
not exist), never replaced; a new number comes only after a definitive FAILED, CANCELLED or a closed expiry.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Protocol


class State(StrEnum):
    """A payout's internal state (payouts.models.Payout.state)."""

    PENDING = "pending"  # created, not submitted yet (waiting for a token, a cap, or the worker)
    SUBMITTED = "submitted"  # the bill was (maybe) sent; the provider is working on it
    AWAITING_USER = "awaiting_user"  # 商家转账 WAIT_USER_CONFIRM / red packet SENT: the consumer must confirm
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # definitive: this bill number will never pay
    EXPIRED = "expired"  # the consumer never confirmed; the provider closed the bill and kept the money
    CANCELLED = "cancelled"
    UNKNOWN = "unknown"  # the last call's outcome is unclear: the next step is always a query


TERMINAL = frozenset({State.SUCCEEDED, State.FAILED, State.EXPIRED, State.CANCELLED})


class Answer(StrEnum):
    """What one provider call said."""

    STATE = "state"  # the bill exists at the provider and is in `ProviderReply.state`
    NOT_FOUND = "not_found"  # a query: the provider holds no such bill (it was never accepted)
    RETRY_LATER = "retry_later"  # not accepted (FREQUENCY_LIMITED, NOT_ENOUGH): the same bill after retry_after
    REJECTED = "rejected"  # refused for good, no bill made (PARAM_ERROR, INVALID_REQUEST, NO_AUTH, ...)
    UNCLEAR = "unclear"  # timeout, lost reply, 5xx, SYSTEM_ERROR, bill reused with other parameters: query


@dataclass(frozen=True, slots=True)
class ProviderReply:
    answer: Answer
    state: State | None = None  # with Answer.STATE
    provider_bill_id: str = ""  # the provider's own bill id (transfer_bill_no, detail_id)
    package_info: str = ""  # AWAITING_USER on 商家转账: what the H5 page hands to requestMerchantTransfer
    reason: str = ""  # the provider's error code or fail_reason (FREQUENCY_LIMITED, OVERDUE_CLOSE, ...)
    message: str = ""  # the provider's words, for the ops view (never shown to consumers)
    retry_after: float = 0.0  # RETRY_LATER: seconds to wait before the same bill again
    pause_rail: bool = False  # NOT_ENOUGH and the like: stop submitting on this merchant until an operator acts
    amount_fen: int | None = None  # a query: the amount the provider holds for this bill


@dataclass(frozen=True, slots=True)
class TransferOrder:
    """One bill to send. Strings are already cut to the rail's limits by the engine."""

    bill_no: str
    openid: str
    amount_fen: int
    activity: str  # 活动名称 (≤ 32 characters): the campaign's name
    description: str  # 奖励说明 (≤ 32): what was won
    remark: str  # shown to the consumer with the transfer (≤ 32)
    client_ip: str = ""  # red packets require the consumer's IP


@dataclass(frozen=True, slots=True)
class CallbackEvent:
    """A verified, decrypted provider notification."""

    bill_no: str
    state: State
    provider_bill_id: str = ""
    reason: str = ""
    amount_fen: int | None = None


@dataclass(frozen=True, slots=True)
class BillLine:
    """One row of the provider's bill for a day (what `yima payouts reconcile` compares with the ledger)."""

    bill_no: str
    provider_bill_id: str
    amount_fen: int
    state: State
    at: datetime


@dataclass(frozen=True)
class WechatCredentials:
    """A merchant's WeChat Pay identity. Read from the environment by app/config.py; never stored in SQL and
    never logged (repr hides the secrets)."""

    api_base: str  # https://api.mch.weixin.qq.com, or the fake's http://127.0.0.1:<port>
    mchid: str
    appid: str
    merchant_key_file: Path  # the merchant's API private key (PEM): signs every request
    merchant_serial: str  # its certificate's serial number (the Authorization header's serial_no)
    platform_public_key_file: Path  # 微信支付公钥 (PEM): verifies replies and callbacks
    platform_key_id: str  # its id (PUB_KEY_ID_…), sent back as Wechatpay-Serial
    apiv3_key: str  # 32 characters: decrypts callbacks (AEAD_AES_256_GCM)
    notify_url: str  # where the provider posts callbacks (https in production)
    v2_key: str = ""  # red packets (API v2): the MD5/HMAC signing key
    client_cert_file: Path | None = None  # red packets: the merchant's API client certificate (TLS)
    client_key_file: Path | None = None
    timeout_s: float = 5.0

    def __repr__(self) -> str:
        return f"WechatCredentials(api_base={self.api_base!r}, mchid={self.mchid!r}, appid={self.appid!r})"


class Provider(Protocol):
    """One payout rail. Every call may raise nothing but returns an answer: transport failures are UNCLEAR."""

    name: str  # "wechat_transfer", "wechat_redpack" (the fake is wechat_transfer against the fake server)
    bill_no_length: int  # the rail's longest bill number (商家转账 32, 红包 28)
    min_fen: int
    max_fen: int

    def submit(self, order: TransferOrder) -> ProviderReply: ...

    def query(self, bill_no: str) -> ProviderReply: ...

    def cancel(self, bill_no: str) -> ProviderReply: ...

    def parse_callback(self, headers: Mapping[str, str], body: bytes) -> CallbackEvent:
        """Verify and decrypt a callback; InvalidCallback when it does not verify."""
        ...

    def bill(self, day: date) -> list[BillLine]:
        """The provider's record of the bills of one day (China time)."""
        ...

    def confirm_params(self, package_info: str) -> dict[str, str]:
        """What the H5 page hands to WeChat's requestMerchantTransfer ({mchId, appId, package});
        {} for a rail the consumer does not confirm."""
        ...


def bill_number(award_id: str, attempt: int, max_length: int) -> str:
    """The deterministic bill number of an award's attempt: `award_id` with its separators dropped plus
    "A<attempt>" when that fits the rail (readable in the provider's bill), else a digest of the same.
    Only [0-9A-Za-z]; the same award and attempt always give the same number."""
    readable = "Y" + award_id.replace("-", "X") + f"A{attempt}"
    if len(readable) <= max_length and readable.isalnum():
        return readable
    digest = hashlib.sha256(f"{award_id}/{attempt}".encode()).hexdigest()
    return ("Y" + digest)[: max_length - len(str(attempt)) - 1] + f"A{attempt}"
