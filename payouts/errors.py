"""The payouts package's errors: one base, mapped by the web layer and the command line in one place each."""

from __future__ import annotations

from codegen.errors import DomainError, Kind


class PayoutError(DomainError):
    """Base of every payouts error."""


class InvalidPayout(PayoutError):
    """Bad input: a malformed bill number, an amount out of range, a bad date (the message says which)."""

    code = "invalid_payout"
    kind = Kind.INVALID


class PayoutNotFound(PayoutError):
    """No such payout, award or claim, or not one the caller may see (both read the same)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class ClaimRefused(PayoutError):
    """This award cannot be claimed by this caller: void, claimed by another openid, not drawn by this device.
    `reason` says which, for the page's words: claimed, void, mismatch, no_openid."""

    code = "claim_refused"
    kind = Kind.CONFLICT

    def __init__(self, message: str, reason: str = "other") -> None:
        super().__init__(message)
        self.reason = reason


class PayoutConflict(PayoutError):
    """Valid but not now: retrying a payout that is not failed, cancelling one the user already confirmed."""

    code = "payout_conflict"
    kind = Kind.CONFLICT


class ProviderUnavailable(PayoutError):
    """The provider could not be reached or answered unclearly; the payout is queried later, never re-billed."""

    code = "provider_unavailable"
    kind = Kind.UNAVAILABLE


class InvalidCallback(PayoutError):
    """A provider callback whose signature, timestamp or ciphertext does not verify: refused, nothing applied."""

    code = "invalid_callback"
    kind = Kind.INVALID



class WechatMpError(PayoutError):
    """WeChat OAuth or the MP API gave no usable answer (unreachable, a 5xx, not JSON). `errcode` is WeChat's
    number when it said no (WechatRefused), else 0."""

    code = "wechat_unavailable"
    kind = Kind.UNAVAILABLE

    def __init__(self, message: str, errcode: int = 0) -> None:
        super().__init__(message)
        self.errcode = errcode


class WechatRefused(WechatMpError):
    """WeChat said no: an invalid or used OAuth code (40029), a wrong app secret (40125), a stale access
    token (40001)."""

    code = "wechat_refused"
    kind = Kind.INVALID
