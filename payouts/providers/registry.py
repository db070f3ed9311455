"""Which adapter a rail name means."""

from __future__ import annotations

from payouts.errors import InvalidPayout
from payouts.providers.base import Provider, WechatCredentials
from payouts.providers.wechat_redpack import WechatRedpack
from payouts.providers.wechat_transfer import WechatTransfer

NAMES = ("wechat_transfer", "wechat_redpack", "fake")


def make_provider(name: str, creds: WechatCredentials) -> Provider:
    """The adapter for `name`. "fake" is the real 商家转账 adapter pointed at the fake WeChat server
    (creds.api_base is the fake's base URL; its confirm page is `<api_base>/fake/confirm?package=…&return=…`)."""
    if name == "wechat_transfer":
        return WechatTransfer(creds)
    if name == "wechat_redpack":
        return WechatRedpack(creds)
    if name == "fake":
        return WechatTransfer(creds)
    raise InvalidPayout(f"unknown payout provider {name!r}; expected one of {', '.join(NAMES)}")
