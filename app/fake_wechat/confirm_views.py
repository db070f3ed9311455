"""The page standing in for WeChat's requestMerchantTransfer sheet, and WeChat OAuth + the MP API.

Confirm: `GET /fake/confirm?package=…&return=…` shows the bill; its 确认收款 button POSTs back, the bill
moves to SUCCESS (callback queued) and the browser goes to `return`. OAuth (snsapi_base): each browser is
one consumer, its openid kept in a cookie the fake sets, so two browsers are two users.
"""

from __future__ import annotations

import secrets
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, jsonify, redirect, render_template, request

from app.fake_wechat.context import fake
from app.fake_wechat.state import CODE_TTL_S, TOKEN_TTL_S

bp = Blueprint("fake_confirm", __name__, template_folder="templates")
OPENID_COOKIE = "fake_wx_openid"


def _safe_return(url: str) -> str:
    return url if urlsplit(url).scheme in ("http", "https") else ""


@bp.get("/fake/confirm")
def confirm_page() -> str:
    package, back = request.args.get("package", ""), _safe_return(request.args.get("return", ""))
    bill = fake().state.find_by_package(package)
    return render_template("fake_confirm.html", bill=bill, package=package, back=back,
                           mchid=fake().keys.mchid, done=False)


@bp.post("/fake/confirm")
def confirm() -> Any:
    package, back = request.form.get("package", ""), _safe_return(request.form.get("return", ""))
    state = fake().state
    bill = state.find_by_package(package)
    if bill is not None:
        state.confirm(bill)
    if back and bill is not None and bill.state == "SUCCESS":
        return redirect(back, code=303)
    return render_template("fake_confirm.html", bill=bill, package=package, back=back, mchid=fake().keys.mchid,
                           done=True)


def _mp_error(errcode: int, errmsg: str) -> Response:
    return jsonify(errcode=errcode, errmsg=errmsg)  # WeChat answers errors with HTTP 200


@bp.get("/connect/oauth2/authorize")
def authorize() -> Any:
    args = request.args
    if args.get("appid") != fake().keys.appid:
        return Response("appid 参数错误 / invalid appid", status=400, mimetype="text/plain")
    target = args.get("redirect_uri", "")
    if args.get("response_type") != "code" or args.get("scope") not in ("snsapi_base", "snsapi_userinfo") \
            or not _safe_return(target):
        return Response("redirect_uri / scope 参数错误 / invalid parameters", status=400, mimetype="text/plain")
    openid = request.cookies.get(OPENID_COOKIE) or "o" + secrets.token_urlsafe(20)[:27]
    code = secrets.token_hex(16)
    state = fake().state
    with state.lock:
        state.codes[code] = (openid, state.clock.now() + CODE_TTL_S)
    query = urlencode({"code": code, "state": args.get("state", "")})
    response = redirect(f"{target}{'&' if '?' in target else '?'}{query}", code=302)
    response.set_cookie(OPENID_COOKIE, openid, max_age=365 * 86400, httponly=True, samesite="Lax")
    return response


def _app_checked() -> Response | None:
    keys = fake().keys
    if request.args.get("appid") != keys.appid:
        return _mp_error(40013, "invalid appid")
    if request.args.get("secret") != keys.app_secret:
        return _mp_error(40125, "invalid appsecret")
    return None


@bp.get("/sns/oauth2/access_token")
def oauth_access_token() -> Response:
    refused = _app_checked()
    if refused is not None:
        return refused
    if request.args.get("grant_type") != "authorization_code":
        return _mp_error(40002, "invalid grant_type")
    state = fake().state
    with state.lock:
        found = state.codes.pop(request.args.get("code", ""), None)  # single use
        now = state.clock.now()
    if found is None or found[1] <= now:
        return _mp_error(40029, "invalid code")
    return jsonify(access_token=secrets.token_urlsafe(32), expires_in=TOKEN_TTL_S,
                   refresh_token=secrets.token_urlsafe(32), openid=found[0], scope="snsapi_base")


@bp.get("/cgi-bin/token")
def mp_access_token() -> Response:
    refused = _app_checked()
    if refused is not None:
        return refused
    if request.args.get("grant_type") != "client_credential":
        return _mp_error(40002, "invalid grant_type")
    token = secrets.token_urlsafe(48)
    state = fake().state
    with state.lock:
        state.tokens[token] = state.clock.now() + TOKEN_TTL_S
    return jsonify(access_token=token, expires_in=TOKEN_TTL_S)


@bp.get("/cgi-bin/ticket/getticket")
def jsapi_ticket() -> Response:
    state = fake().state
    with state.lock:
        expires = state.tokens.get(request.args.get("access_token", ""), 0.0)
        now = state.clock.now()
    if expires <= now:
        return _mp_error(40001, "invalid credential, access_token is invalid or not latest")
    if request.args.get("type") != "jsapi":
        return _mp_error(40097, "invalid args")
    return jsonify(errcode=0, errmsg="ok", ticket=secrets.token_urlsafe(64), expires_in=TOKEN_TTL_S)
