"""The console's door: sign in (throttled, locked out after repeated failures), sign out, the home page."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from accounts.errors import InvalidAccount
from accounts.users import authenticate, normalise_email
from app.auth import current_principal, login_required, sign_in, sign_out, tr
from app.auth_limits import GuessLimiter
from app.errors import page_errors
from codegen.models import Brand

bp = Blueprint("ops_auth", __name__, url_prefix="/ops")
page_errors(bp)


def _safe_next(target: str | None) -> str:
    """Only a path on this site: an open redirect would let a phishing link borrow our login page."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return url_for("ops_auth.home")
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else url_for("ops_auth.home")


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        if current_principal() is not None:
            return redirect(_safe_next(request.args.get("next")))
        return render_template("ops/login.html", email="", error=None, next=request.args.get("next", ""))
    email = request.form.get("email", "").strip()[:254]
    password = request.form.get("password", "")[:1000]
    target = request.form.get("next", "")
    limiter: GuessLimiter = current_app.extensions["yima.login_limiter"]
    source = request.remote_addr or ""
    try:
        account = "login:" + normalise_email(email)
    except InvalidAccount:
        account = "login:?"
    locked = limiter.locked_for(source, account)
    if locked:
        return _refused(email, target, 429, tr(f"尝试次数过多，请 {locked} 秒后再试。",
                                                f"Too many attempts; try again in {locked} s."), locked)
    with current_app.extensions["yima.db"].sessions() as s, s.begin():
        user = authenticate(s, email, password) if email and password else None
        ident = (user.id, user.session_epoch) if user else None
    if ident is None:
        locked = limiter.failed(source, account, "console login") if email and password else 0
        if locked:
            return _refused(email, target, 429, tr(f"尝试次数过多，请 {locked} 秒后再试。",
                                                    f"Too many attempts; try again in {locked} s."), locked)
        return _refused(email, target, 401, tr("邮箱或密码不正确。", "Wrong e-mail or password."))
    sign_in(*ident)
    return redirect(_safe_next(target))


def _refused(email: str, target: str, status: int, message: str, retry_after: int = 0) -> Any:
    resp = current_app.make_response((render_template("ops/login.html", email=email, error=message, next=target),
                                      status))
    if retry_after:
        resp.headers["Retry-After"] = str(retry_after)
    return resp


@bp.post("/logout")
def logout() -> Any:
    sign_out()
    return redirect(url_for("ops_auth.login"))


@bp.get("/")
@login_required
def home() -> Any:
    who = current_principal()
    assert who is not None
    if who.seat is not None and not who.brands and not who.platform_admin:
        return redirect(url_for("dist.home"))  # channel staff have no console: their desk is /dist
    readable = who.readable_brand_ids()
    with current_app.extensions["yima.db"].sessions() as s:
        query = select(Brand).order_by(Brand.name)
        if readable is not None:
            query = query.where(Brand.id.in_(readable))
        brands = [(b, who.role_in(b.id)) for b in s.scalars(query)]
    return render_template("ops/home.html", brands=brands)
