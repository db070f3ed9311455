"""Users and API tokens: a brand admin's page (/ops/admin) and everyone's own account page (/ops/account).

The rules (who may do what, the last admin, tokens no stronger than their owner) and the audit records
live in accounts/; these views parse the form, call one domain function, and render. A domain refusal is
shown at the form that caused it: 400 for bad input, 409 for a change that is valid but not now.
A one-time password or a new token's secret is rendered once into the POST's answer (never put in the
session cookie, which is signed but readable) with `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from accounts.errors import AccountsError, InvalidAccount
from accounts.members import add_member, change_role, list_members, remove_member, set_member_disabled
from accounts.roles import ROLES, Principal
from accounts.token_admin import create_personal_token, revoke_visible_token, visible_tokens
from accounts.tokens import MAX_DAYS
from accounts.users import change_own_password
from app.auth import current_principal, login_required, sign_in, tr
from app.console_format import console_helpers
from app.errors import STATUS, page_errors
from codegen.db import transaction
from codegen.errors import Kind
from codegen.models import Brand

bp = Blueprint("ops_admin", __name__, url_prefix="/ops")
page_errors(bp)
bp.context_processor(console_helpers)

# The domain speaks English; the console speaks Chinese first. Keyed by the start of the message.
_ZH = {
    "email: not an e-mail address": "邮箱格式不正确",
    "password: must be": "密码须为 10–200 个字符",
    "password: too simple": "密码过于简单（至少使用 5 个不同的字符）",
    "name: ": "名称须为 1–100 个字符",
    "role: a token cannot do more": "令牌的角色不能高于您在该品牌的角色",
    "role: must be one of": "请选择角色",
    "days: must be": f"有效期须为 1–{MAX_DAYS} 天",
    "a brand keeps at least one admin": "每个品牌至少保留一名管理员：请先将另一位用户设为管理员",
    "you cannot disable your own account": "不能停用自己的账户",
    "this user also works for another brand": "该用户还属于其他品牌：请改为将其移出本品牌",
    "a platform admin's account": "平台管理员的账户由平台管理",
    "current_password: ": "当前密码不正确",
    "new_password: ": "新密码须与当前密码不同",
    "confirm: ": "两次输入的新密码不一致",
    "a user ": "该邮箱已有账户",
}


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def _who() -> Principal:
    who = current_principal()
    assert who is not None  # login_required ran
    return who


def _message(exc: AccountsError) -> tuple[str, str]:
    """(field, the message in the reader's language) of a domain refusal; field "" when it names none."""
    text = str(exc)
    zh = next((z for prefix, z in _ZH.items() if text.startswith(prefix)), text)
    field, sep, rest = text.partition(": ")
    known_field = sep and field.isidentifier()
    return (field if known_field else ""), tr(zh, rest if known_field else text)


def _refusal(exc: AccountsError) -> tuple[str, str, int]:
    """(field, message, status) for a refusal shown at its form; not found and forbidden end the request
    with the error page (page_errors)."""
    if exc.kind in (Kind.NOT_FOUND, Kind.FORBIDDEN):
        raise exc
    return (*_message(exc), STATUS[exc.kind])


def _brand(session: Any, slug: str) -> Brand:
    """A brand the caller may see, by slug; any other reads as missing."""
    brand = session.scalar(select(Brand).where(Brand.slug == slug))
    if brand is None or not _who().may(brand.id, "read"):
        abort(404)
    return brand


def _administered(session: Any, who: Principal) -> list[Brand]:
    query = select(Brand).order_by(Brand.name)
    ids = who.brands_where("admin")
    if ids is not None:
        query = query.where(Brand.id.in_(ids))
    return list(session.scalars(query))


def _no_store(body: str, status: int = 200) -> Any:
    resp = current_app.make_response((body, status))
    resp.headers["Cache-Control"] = "no-store"
    return resp


# -- the brand admin's page --------------------------------------------------------------------------

def _admin_page(slug: str | None, status: int = 200, **extra: Any) -> Any:
    who = _who()
    with _sessions()() as s:
        brands = _administered(s, who)
        if slug is None:
            if not brands:
                return redirect(url_for("ops_admin.account"))
            brand = brands[0]
        else:
            brand = _brand(s, slug)
        members = list_members(s, who, brand.id)
        tokens = visible_tokens(s, who, brand.id)
    body = render_template("ops/admin.html", brand=brand, brands=brands, members=members, tokens=tokens,
                           roles=ROLES, max_days=MAX_DAYS, me=who, errors=extra.pop("errors", {}),
                           form=extra.pop("form", {}), **extra)
    return _no_store(body, status)


@bp.get("/admin")
@login_required
def index() -> Any:
    return _admin_page(request.args.get("brand") or None)


def _form(*names: str) -> dict[str, str]:
    return {n: request.form.get(n, "").strip()[:300] for n in names}


@bp.post("/admin/<slug>/users")
@login_required
def add_user(slug: str) -> Any:
    form = _form("email", "name", "role")
    password = request.form.get("password", "")[:300]
    try:
        with transaction(_sessions()) as s:
            added = add_member(s, _who(), _brand(s, slug).id, form["email"], form["name"], form["role"], password)
    except AccountsError as exc:
        field, message, status = _refusal(exc)
        return _admin_page(slug, status, errors={f"add.{field or 'email'}": message}, form=form)
    return _admin_page(slug, 201 if added.created else 200, added=added)


def _member_change(slug: str, user_id: int, change: Any) -> Any:
    try:
        with transaction(_sessions()) as s:
            change(s, _brand(s, slug).id)
    except AccountsError as exc:
        _, message, status = _refusal(exc)
        return _admin_page(slug, status, errors={f"user-{user_id}": message})
    return redirect(url_for("ops_admin.index", brand=slug) + f"#user-{user_id}", 303)


@bp.post("/admin/<slug>/users/<int:user_id>/role")
@login_required
def set_role(slug: str, user_id: int) -> Any:
    role = request.form.get("role", "")
    return _member_change(slug, user_id, lambda s, brand_id: change_role(s, _who(), brand_id, user_id, role))


@bp.post("/admin/<slug>/users/<int:user_id>/remove")
@login_required
def remove_user(slug: str, user_id: int) -> Any:
    return _member_change(slug, user_id, lambda s, brand_id: remove_member(s, _who(), brand_id, user_id))


@bp.post("/admin/<slug>/users/<int:user_id>/disable")
@login_required
def disable_user(slug: str, user_id: int) -> Any:
    return _member_change(slug, user_id,
                          lambda s, brand_id: set_member_disabled(s, _who(), brand_id, user_id, True))


@bp.post("/admin/<slug>/users/<int:user_id>/enable")
@login_required
def enable_user(slug: str, user_id: int) -> Any:
    return _member_change(slug, user_id,
                          lambda s, brand_id: set_member_disabled(s, _who(), brand_id, user_id, False))


# -- everyone's own account and tokens ---------------------------------------------------------------

def _my_brands(session: Any, who: Principal) -> list[tuple[Brand, str]]:
    query = select(Brand).order_by(Brand.name)
    readable = who.readable_brand_ids()
    if readable is not None:
        query = query.where(Brand.id.in_(readable))
    return [(b, who.role_in(b.id) or "") for b in session.scalars(query)]


def _account_page(status: int = 200, **extra: Any) -> Any:
    who = _who()
    with _sessions()() as s:
        brands = _my_brands(s, who)
        tokens = [t for t in visible_tokens(s, who) if t.owner_id == who.user_id]
    highest = max((ROLES.index(role) for _, role in brands if role in ROLES), default=-1)
    body = render_template("ops/account.html", brands=brands, token_brands=[(b.slug, b.name) for b, _ in brands],
                           tokens=tokens, roles=ROLES[:highest + 1],
                           max_days=MAX_DAYS, me=who, errors=extra.pop("errors", {}), form=extra.pop("form", {}),
                           **extra)
    return _no_store(body, status)


@bp.get("/account")
@login_required
def account() -> Any:
    return _account_page()


@bp.post("/account/password")
@login_required
def change_password() -> Any:
    who = _who()
    current, new = request.form.get("current_password", "")[:300], request.form.get("new_password", "")[:300]
    try:
        if new != request.form.get("confirm", "")[:300]:
            raise InvalidAccount("confirm: the two new passwords differ")
        with transaction(_sessions()) as s:
            assert who.user_id is not None
            epoch = change_own_password(s, who.user_id, current, new)
    except AccountsError as exc:
        field, message, status = _refusal(exc)
        return _account_page(status, errors={f"password.{field or 'new_password'}": message})
    sign_in(who.user_id, epoch)  # this session carries on; every other one has ended
    return _account_page(password_changed=True)


def _back(target: str, slug: str, status: int = 200, **extra: Any) -> Any:
    """The page the form came from: the brand's admin page when the caller administers that brand (a
    new token's secret must never land on a page that refuses to render), else their account page."""
    if target == "admin":
        with _sessions()() as s:
            brand = s.scalar(select(Brand).where(Brand.slug == slug))
            if brand is not None and _who().may(brand.id, "admin"):
                return _admin_page(slug, status, **extra)
    return _account_page(status, **extra)


@bp.post("/tokens")
@login_required
def create_token() -> Any:
    form = _form("brand", "role", "name", "days", "back")
    try:
        days = int(form["days"]) if form["days"].isdigit() else 0
        with transaction(_sessions()) as s:
            brand = _brand(s, form["brand"])
            row, secret = create_personal_token(s, _who(), brand.id, form["role"], form["name"], days)
            created = {"name": row.name, "brand": brand.slug, "role": row.role, "secret": secret,
                       "expires_at": row.expires_at}
    except AccountsError as exc:
        field, message, status = _refusal(exc)
        return _back(form["back"], form["brand"], status, errors={f"token.{field or 'name'}": message}, form=form)
    return _back(form["back"], form["brand"], 201, token_created=created)


@bp.post("/tokens/<int:token_id>/revoke")
@login_required
def revoke_token(token_id: int) -> Any:
    back, slug = request.form.get("back", ""), request.form.get("brand", "")
    try:
        with transaction(_sessions()) as s:
            revoke_visible_token(s, _who(), token_id)
    except AccountsError as exc:
        _, message, status = _refusal(exc)
        return _back(back, slug, status, errors={f"token-{token_id}": message})
    target = url_for("ops_admin.index", brand=slug) if back == "admin" else url_for("ops_admin.account")
    return redirect(target + "#tokens", 303)
