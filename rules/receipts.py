"""Signed award receipts: what a winner was told, in a form that can bring the award back.

Redis decides a draw and acknowledges it before the award is durable anywhere (AOF `everysec` loses up
to a second of writes on power loss; a failover loses what the replica had not received). The draw's
reply therefore carries a receipt: the award's facts, MACed with a key only the app holds. The consumer's
device keeps it (the H5 page in a cookie, an app from the API reply) and presents it with a later scan
of the same code: if Redis lost the award, the receipt restores it under its original id (restore.lua),
and the SQL ledger then accepts or refuses it under the same guards as any award. A receipt never
creates value the guards would refuse, and a code whose receipt was presented never draws again.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass, fields
from typing import Any

from rules.errors import Kind, RulesError

MAC_BYTES = 16  # 128 bits: forging one means guessing the MAC, not brute-forcing a short code
MAX_LENGTH = 600  # a receipt is ~300 characters; anything longer is not one of ours
_DOMAIN = b"yima/award-receipt/v1\n"


class InvalidReceipt(RulesError, ValueError):
    """Not a receipt this deployment issued (bad MAC, mangled, or oversized)."""

    code = "invalid_receipt"
    kind = Kind.INVALID


@dataclass(frozen=True, slots=True)
class AwardReceipt:
    award_id: str  # "<campaign>-<award stream entry id>": the SQL ledger's id of the award
    campaign_id: int
    code: str
    batch_id: int
    role: str
    serial: int
    prize_index: int
    kind: str
    name: str
    amount_fen: int
    points: int
    coupon: str
    rules_version: int
    member: str
    awarded_at: int  # unix seconds
    day: str  # the campaign's local day of the award (its daily counters)
    one_per_code: bool

    @property
    def entry_id(self) -> str:
        return self.award_id.split("-", 1)[1]




_FIELDS = tuple(f.name for f in fields(AwardReceipt))


def receipt_key(secret: bytes) -> bytes:
    """The receipt MAC key, derived from an app secret so receipts and member tokens never share a key."""
    return hmac.new(secret, b"yima/award-receipt-key", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, payload: bytes) -> bytes:
    return hmac.new(key, _DOMAIN + payload, hashlib.sha256).digest()[:MAC_BYTES]


def issue_receipt(key: bytes, receipt: AwardReceipt) -> str:
    values = [getattr(receipt, name) for name in _FIELDS]  # astuple deep-copies: 3x slower
    payload = json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(_mac(key, payload))}"


def read_receipt(key: bytes, token: Any) -> AwardReceipt:
    """The receipt's facts, or InvalidReceipt when it is not one this key signed."""
    if not isinstance(token, str) or len(token) > MAX_LENGTH or token.count(".") != 1:
        raise InvalidReceipt("not an award receipt")
    body, mac = token.split(".")
    try:
        payload, given = _unb64(body), _unb64(mac)
    except (ValueError, TypeError):
        raise InvalidReceipt("not an award receipt") from None
    if not hmac.compare_digest(given, _mac(key, payload)):
        raise InvalidReceipt("the receipt's signature does not match")
    values = json.loads(payload)  # signed by us: well-formed
    return AwardReceipt(*values)
