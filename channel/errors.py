"""The channel package's errors: one base, mapped by the web layer and the command line in one place each."""

from __future__ import annotations

from typing import Any

from codegen.errors import DomainError, Kind


class ChannelError(DomainError):
    """Base of every channel error."""


class InvalidChannel(ChannelError):
    """Bad input: a malformed adcode, an unknown seat kind, a code that is not a case code (the message says
    which; `field` names the input it is about, when there is one)."""

    code = "invalid_channel"
    kind = Kind.INVALID

    def __init__(self, message: str, field: str = "") -> None:
        super().__init__(message)
        self.field = field

    def details(self) -> dict[str, Any]:
        return {"field": self.field} if self.field else {}


class ChannelNotFound(ChannelError):
    """No such distributor, store, shipment, statement or voucher, or not one the caller may see (both read
    the same: an id of another distributor is a 404, exactly like an id that does not exist)."""

    code = "not_found"
    kind = Kind.NOT_FOUND


class ChannelForbidden(ChannelError):
    """The caller sees the object but their seat may not do this (a waiter redeeming, a store shipping)."""

    code = "forbidden"
    kind = Kind.FORBIDDEN


class ChannelConflict(ChannelError):
    """Valid but not now: receiving a shipment twice, undoing a received one, settling a settled statement."""

    code = "channel_conflict"
    kind = Kind.CONFLICT


class RedeemRefused(ChannelError):
    """A voucher that cannot be redeemed here: already redeemed (`redeemed`, with where and when), void,
    not a voucher, the store not qualified (`unregistered`). `reason` picks the page's words."""

    code = "redeem_refused"
    kind = Kind.CONFLICT

    def __init__(self, message: str, reason: str = "other", **facts: Any) -> None:
        super().__init__(message)
        self.reason = reason
        self.facts = facts

    def details(self) -> dict[str, Any]:
        return {"reason": self.reason, **{k: str(v) for k, v in self.facts.items()}}
