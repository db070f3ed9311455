"""wx.config for the H5 page inside WeChat: the brand's jsapi ticket, cached in Redis, and the signature.

WeChat allows a few thousand jsapi ticket requests a day per official account and each ticket lasts
`expires_in` (7,200) seconds, so every app process shares one ticket through Redis, kept a little less
than WeChat keeps it. Fetching it (`/cgi-bin/token`, then `/cgi-bin/ticket/getticket`) is the MP client's
job (payouts/wechat_mp.py); this module takes any callable that returns `(ticket, expires_in)`, so it is
tested with a plain function. The key `{wx:<appid>}:jsapi_ticket` is owned here.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from payouts.wechat_crypto import jsapi_signature
from payouts.wechat_mp import API_BASE, access_token, jsapi_ticket

if TYPE_CHECKING:
    from flask import Flask

MARGIN_SECONDS = 300  # the cached ticket dies this long before WeChat's, so a page never signs with a dead one
RETRY_SECONDS = 60  # after a failed fetch, pages go without wx.config this long (no MP call per page view)
FETCH_TIMEOUT_S = 2.0  # a page waits at most this for the MP API (then uses the browser's location)
JS_API_LIST = ("getLocation",)


def init_app(app: Flask) -> None:
    """Sign wx.config on the H5 page when the official account's appid and AppSecret are configured
    (YIMA_WECHAT_APPID, YIMA_WECHAT_APP_SECRET; the MP API at YIMA_WECHAT_MP_BASE)."""
    payouts = getattr(app.config["YIMA"], "payouts", None)
    appid, secret = getattr(payouts, "appid", ""), getattr(payouts, "app_secret", "")
    base = getattr(payouts, "mp_base", "") or API_BASE
    if not (appid and secret):
        return

    def fetch() -> tuple[str, int]:
        token = access_token(base, appid, secret, timeout_s=FETCH_TIMEOUT_S)
        ticket = jsapi_ticket(base, token.value, timeout_s=FETCH_TIMEOUT_S)
        return ticket.value, ticket.expires_in

    app.extensions["yima.jssdk"] = JsapiTickets(app.extensions["yima.redis"], appid, fetch)


class JsapiUnavailable(Exception):
    """No jsapi ticket now (the MP API failed recently); the page goes without wx.config."""


def ticket_key(appid: str) -> str:
    return f"{{wx:{appid}}}:jsapi_ticket"


class JsapiTickets:
    """The official account's jsapi ticket for every app process, and wx.config's fields for a page."""

    def __init__(self, redis: Any, appid: str, fetch: Callable[[], tuple[str, int]],
                 clock: Callable[[], float] = time.time) -> None:
        self._redis = redis
        self.appid = appid
        self._fetch = fetch
        self._clock = clock
        self._failed_until = 0.0

    def ticket(self) -> str:
        """The cached ticket, or a fresh one (two processes that miss at once both fetch: WeChat hands out
        the same ticket while it is valid, so either may be kept)."""
        key = ticket_key(self.appid)
        cached = self._redis.get(key)
        if cached:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        if time.monotonic() < self._failed_until:
            raise JsapiUnavailable("the jsapi ticket could not be fetched a moment ago")
        try:
            ticket, expires_in = self._fetch()
        except Exception:
            self._failed_until = time.monotonic() + RETRY_SECONDS
            raise
        self._redis.set(key, ticket, ex=max(60, int(expires_in) - MARGIN_SECONDS))
        return ticket

    def config_for(self, url: str) -> dict[str, Any]:
        """wx.config's arguments for the page at `url` (its #fragment is not signed)."""
        nonce = secrets.token_hex(8)
        timestamp = int(self._clock())
        return {"appId": self.appid, "timestamp": timestamp, "nonceStr": nonce,
                "signature": jsapi_signature(self.ticket(), nonce, timestamp, url), "jsApiList": list(JS_API_LIST)}
