"""WeChat OAuth (snsapi_base) and the MP API calls the consumer page needs: who is this (openid), and the
JS-SDK ticket that signs wx.config. Base URLs are passed in: https://open.weixin.qq.com (authorize) and
https://api.weixin.qq.com (everything else) in production, the fake's base URL in tests and `make run`.
Caching the access token and the ticket (both live 7200 s) is the caller's job. Every failure is a
WechatMpError (WechatRefused when WeChat answered with an errcode).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from payouts.errors import WechatMpError, WechatRefused
from payouts.providers.transport import TransportError, call

OPEN_BASE = "https://open.weixin.qq.com"
API_BASE = "https://api.weixin.qq.com"
__all__ = ["API_BASE", "OPEN_BASE", "Token", "WechatMpError", "WechatRefused", "access_token", "authorize_url",
           "exchange_code", "jsapi_ticket"]


@dataclass(frozen=True)
class Token:
    value: str
    expires_in: int


def authorize_url(open_base: str, appid: str, redirect_uri: str, state: str) -> str:
    """Where to send the browser for a silent snsapi_base login; WeChat comes back to
    redirect_uri?code=…&state=…."""
    query = urlencode({"appid": appid, "redirect_uri": redirect_uri, "response_type": "code",
                       "scope": "snsapi_base", "state": state})
    return f"{open_base.rstrip('/')}/connect/oauth2/authorize?{query}#wechat_redirect"


def exchange_code(api_base: str, appid: str, secret: str, code: str, timeout_s: float = 5.0) -> str:
    """The openid behind an OAuth code (single use, 5 minutes). WechatRefused for a bad or used code."""
    data = _get(api_base, "/sns/oauth2/access_token",
                {"appid": appid, "secret": secret, "code": code, "grant_type": "authorization_code"}, timeout_s)
    openid = data.get("openid")
    if not isinstance(openid, str) or not openid:
        raise WechatRefused("WeChat returned no openid for the code")
    return openid


def access_token(api_base: str, appid: str, secret: str, timeout_s: float = 5.0) -> Token:
    """The MP access token (client_credential)."""
    data = _get(api_base, "/cgi-bin/token", {"grant_type": "client_credential", "appid": appid, "secret": secret},
                timeout_s)
    return Token(str(data["access_token"]), int(data.get("expires_in", 7200)))


def jsapi_ticket(api_base: str, token: str, timeout_s: float = 5.0) -> Token:
    """The JS-SDK ticket for wx.config (see payouts.wechat_crypto.jsapi_signature)."""
    data = _get(api_base, "/cgi-bin/ticket/getticket", {"access_token": token, "type": "jsapi"}, timeout_s)
    return Token(str(data["ticket"]), int(data.get("expires_in", 7200)))


def _get(api_base: str, path: str, params: dict[str, str], timeout_s: float) -> dict[str, Any]:
    try:
        reply = call(f"{api_base.rstrip('/')}{path}?{urlencode(params)}", timeout_s=timeout_s)
        data = json.loads(reply.body)
    except (TransportError, ValueError) as exc:
        raise WechatMpError(f"WeChat {path} did not answer") from exc
    if not isinstance(data, dict) or reply.status != 200:
        raise WechatMpError(f"WeChat {path} answered HTTP {reply.status}")
    errcode = int(data.get("errcode") or 0)
    if errcode:  # the message may echo the request; keep only the number and WeChat's short text
        raise WechatRefused(f"WeChat {path} refused: errcode {errcode}", errcode)
    return data
