"""Who is calling: a signed-in user (session cookie, console pages) or a Bearer token (the API).

Pages: `login_required` sends a visitor to the login page; `require_brand(brand_id, need)` answers 404
for a brand the caller may not see (an id of another brand reads exactly like one that does not exist)
and 403 where they may see but not act. The API: `api_principal()` takes a personal token
(`yima_pat_…`) or, for platform bootstrap, YIMA_OPS_TOKEN, and counts wrong guesses (app/auth_limits.py).

Session cookies are Flask's signed cookies holding the user id and the user's `session_epoch`; changing a
password or disabling a user bumps the epoch, which ends every session of that user. Cookies are HttpOnly,
SameSite=Lax and Secure whenever the request came over HTTPS. Every form carries a CSRF token
(Flask-WTF); the token-authenticated JSON API is exempt (a browser never sends a Bearer token by itself).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, abort, current_app, g, redirect, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from flask_wtf.csrf import CSRFProtect  # type: ignore[import-untyped]

from accounts.roles import Principal
from accounts.tokens import PREFIX as TOKEN_PREFIX
from accounts.tokens import resolve_token
from accounts.users import principal_for
from app.auth_limits import GuessLimiter, check_secret
from app.i18n import COOKIE as LANGUAGE_COOKIE
from app.i18n import LANGUAGES, choose_language
from app.runtime import ops_token

F = TypeVar("F", bound=Callable[..., Any])
csrf = CSRFProtect()
PLATFORM = Principal(actor="platform-token", platform_admin=True)


class _SessionInterface(SecureCookieSessionInterface):
    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config["SESSION_COOKIE_SECURE"]) or request.is_secure


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def current_principal() -> Principal | None:
    """The signed-in user of this request (cached per request), or None."""
    if "principal" not in g:
        g.principal = _session_principal()
    return g.principal  # type: ignore[no-any-return]


def _session_principal() -> Principal | None:
    from accounts.models import User

    uid, epoch = session.get("uid"), session.get("epoch")
    if not isinstance(uid, int) or not isinstance(epoch, int):
        return None
    with _sessions()() as s:
        user = s.get(User, uid)
        if user is None or user.disabled or user.session_epoch != epoch:
            session.clear()
            return None
        return principal_for(user)


def sign_in(user_id: int, epoch: int) -> None:
    session.clear()  # a fresh session (and CSRF token) at every login: no fixation
    session["uid"], session["epoch"] = user_id, epoch
    session.permanent = True


def sign_out() -> None:
    session.clear()


def login_required(view: F) -> F:
    @functools.wraps(view)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        if current_principal() is None:
            return redirect(url_for("ops_auth.login", next=request.full_path.rstrip("?")))
        return view(*args, **kwargs)

    return wrapped  # type: ignore[return-value]


def require_brand(brand_id: int, need: str = "read", principal: Principal | None = None) -> Principal:
    """The caller, when they may `need` (read / operate / admin) in the brand: 404 when they may not even
    see it, 403 when they see it but their role is too low."""
    who = principal or current_principal() or api_principal_or_none()
    if who is None or not who.may(brand_id, "read"):
        abort(404)
    if not who.may(brand_id, need):
        abort(403, description="your role in this brand does not allow this")
    return who


def api_principal_or_none() -> Principal | None:
    return g.get("api_principal")


def authenticate_bearer() -> tuple[Principal | None, int | None]:
    """(principal, None) for a valid Bearer token; (None, seconds) when refused: 0 = plain 401, >0 = locked."""
    header = request.headers.get("Authorization", "")
    given = header[7:] if header.startswith("Bearer ") else ""
    limiter: GuessLimiter = current_app.extensions["yima.guess_limiter"]
    source = request.remote_addr or ""
    if given.startswith(TOKEN_PREFIX):
        locked = limiter.locked_for(source, "api-token")
        if locked:
            return None, locked
        with _sessions()() as s, s.begin():
            principal = resolve_token(s, given)
        if principal is not None:
            g.api_principal = principal
            return principal, None
        return None, limiter.failed(source, "api-token", "API token")
    # Every other Bearer attempt guesses the one platform token: one account for all of them.
    refused = check_secret(given, ops_token(current_app.config["YIMA"]), source, "ops-token", "ops API")
    if refused is None:
        g.api_principal = PLATFORM
        return PLATFORM, None
    return None, refused


def tr(zh: str, en: str) -> str:
    """The console's text in the reader's language (zh-CN first)."""
    return en if g.get("lang") == "en" else zh


def init_app(app: Flask) -> None:
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_NAME="yima_session", PERMANENT_SESSION_LIFETIME=12 * 3600,
                      WTF_CSRF_TIME_LIMIT=12 * 3600, WTF_CSRF_SSL_STRICT=True)
    app.config.setdefault("SESSION_COOKIE_SECURE", False)
    csrf.init_app(app)
    app.jinja_env.globals["tr"] = tr
    app.jinja_env.globals["current_principal"] = current_principal
    app.jinja_env.globals["has_endpoint"] = lambda name: name in app.view_functions

    @app.before_request
    def console_language() -> None:
        if request.path.startswith(("/ops", "/dist")) and "lang" not in g:
            g.lang = choose_language()

    @app.after_request
    def remember_language(resp: Response) -> Response:
        """The switch (?lang=en) holds for the next console pages too, as on the scan page."""
        if request.path.startswith(("/ops", "/dist")) and request.args.get("lang") in LANGUAGES:
            resp.set_cookie(LANGUAGE_COOKIE, request.args["lang"], max_age=365 * 86400, samesite="Lax",
                            secure=request.is_secure)
        return resp
