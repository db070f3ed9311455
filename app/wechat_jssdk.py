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
from typing import Any

from payouts.wechat_crypto import jsapi_signature

MARGIN_SECONDS = 300  # the cached ticket dies this long before WeChat's, so a page never signs with a dead one
JS_API_LIST = ("getLocation",)


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

    def ticket(self) -> str:
        """The cached ticket, or a fresh one (two processes that miss at once both fetch: WeChat hands out
        the same ticket while it is valid, so either may be kept)."""
        key = ticket_key(self.appid)
        cached = self._redis.get(key)
        if cached:
            return cached.decode() if isinstance(cached, bytes) else str(cached)
        ticket, expires_in = self._fetch()
        self._redis.set(key, ticket, ex=max(60, int(expires_in) - MARGIN_SECONDS))
        return ticket

    def config_for(self, url: str) -> dict[str, Any]:
        """wx.config's arguments for the page at `url` (its #fragment is not signed)."""
        nonce = secrets.token_hex(8)
        timestamp = int(self._clock())
        return {"appId": self.appid, "timestamp": timestamp, "nonceStr": nonce,
                "signature": jsapi_signature(self.ticket(), nonce, timestamp, url), "jsApiList": list(JS_API_LIST)}
