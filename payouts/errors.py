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
    """This award cannot be claimed by this caller: void, claimed by another openid, not drawn by this device."""

    code = "claim_refused"
    kind = Kind.CONFLICT


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


class WechatRefused(PayoutError):
    """WeChat OAuth or the MP API said no (an invalid or used OAuth code, a wrong app secret, a stale
    access token): `errcode` holds WeChat's number. Transport failures are ProviderUnavailable instead."""

    code = "wechat_refused"
    kind = Kind.INVALID

    def __init__(self, message: str, errcode: int = 0) -> None:
        super().__init__(message)
        self.errcode = errcode
