"""The channel's staff and policy in the console (/ops/channel/staff, /ops/channel/policy), a part of the
"ops_channel" blueprint (registered inside it).

Staff: the seats of the brand's channel, each a user who signs in at /ops/login and lands on the /dist
desk; operators and admins add one (with a password, or a generated one shown once), switch one off or on,
and issue a seat's API token (role "channel") for a scanner gun or a PDA, shown once. Policy: whether a
store must register before it redeems, and what the brand reimburses per voucher. A one-time password or a
token's secret is rendered into the POST's answer only, with Cache-Control: no-store.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, current_app, render_template, request

from app.auth import login_required
from app.errors import page_errors
from app.ops_channel_forms import (
    TOKEN_DAYS,
    back_to,
    fen_field,
    field,
    form_errors,
    id_field,
    ids_in_sql_range,
    listing_scope,
    sessions,
)
from channel import directory, staff
from channel.errors import ChannelError
from channel.models import SEAT_KINDS
from channel.scope import ChannelScope
from codegen.db import transaction

bp = Blueprint("people", __name__)
page_errors(bp)
bp.url_value_preprocessor(ids_in_sql_range)


def _no_store(body: str, status: int) -> Any:
    resp = current_app.make_response((body, status))
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _staff_page(brand: Any, scope: ChannelScope, *, status: int = 200, **extra: Any) -> Any:
    with sessions()() as s:
        seats = staff.list_staff(s, scope)
        distributors = directory.list_distributors(s, scope)
        stores = directory.list_stores(s, scope)
    body = render_template("ops/channel/staff.html", brand=brand, scope=scope, seats=seats, kinds=SEAT_KINDS,
                           distributors=distributors, stores=stores, token_days=TOKEN_DAYS, tab="staff",
                           form=extra.pop("form", {}), errors=extra.pop("errors", {}), **extra)
    return _no_store(body, status)


def _posted_scope() -> tuple[Any, ChannelScope]:
    found = listing_scope("ops_channel.people.staff_index")
    if not isinstance(found, tuple):
        abort(404)  # a form always names its brand
    return found


@bp.get("/staff")
@login_required
def staff_index() -> Any:
    found = listing_scope("ops_channel.people.staff_index")
    if not isinstance(found, tuple):
        return found
    return _staff_page(*found)


@bp.post("/staff")
@login_required
def add_staff() -> Any:
    brand, scope = _posted_scope()
    form = {n: field(n) for n in ("email", "name", "kind", "distributor_id", "store_id")}
    kind = form["kind"]
    try:
        with transaction(sessions()) as s:
            added = staff.add_staff(
                s, scope, email=form["email"], name=form["name"], password=field("password"), kind=kind,
                distributor_id=id_field("distributor_id") if kind == "distributor" else None,
                store_id=id_field("store_id") if kind in ("clerk", "waiter") else None)
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _staff_page(brand, scope, status=status, form=form, errors={f"add.{k}": v for k, v in refused.items()})
    return _staff_page(brand, scope, status=201, added=added)


def _seat_change(user_id: int, disabled: bool) -> Any:
    brand, scope = _posted_scope()
    try:
        with transaction(sessions()) as s:
            staff.set_staff_disabled(s, scope, user_id, disabled)
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _staff_page(brand, scope, status=status, errors={f"seat-{user_id}": next(iter(refused.values()))})
    return back_to("ops_channel.people.staff_index", brand.slug, _anchor=f"seat-{user_id}")


@bp.post("/staff/<int:user_id>/disable")
@login_required
def disable_staff(user_id: int) -> Any:
    return _seat_change(user_id, True)


@bp.post("/staff/<int:user_id>/enable")
@login_required
def enable_staff(user_id: int) -> Any:
    return _seat_change(user_id, False)


@bp.post("/staff/<int:user_id>/token")
@login_required
def issue_token(user_id: int) -> Any:
    brand, scope = _posted_scope()
    days = field("days").strip()
    try:
        with transaction(sessions()) as s:
            row, secret = staff.issue_staff_token(s, scope, user_id, name=field("name"),
                                                  days=int(days) if days.isascii() and days.isdigit()
                                                  and len(days) < 5 else days)
            created = {"name": row.name, "brand": brand.slug, "role": row.role, "secret": secret,
                       "expires_at": row.expires_at, "user_id": user_id}
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _staff_page(brand, scope, status=status, errors={f"seat-{user_id}": next(iter(refused.values()))})
    return _staff_page(brand, scope, status=201, token_created=created)


# -- the policy -------------------------------------------------------------------------------------------

def _policy_page(brand: Any, scope: ChannelScope, *, status: int = 200, **extra: Any) -> Any:
    with sessions()() as s:
        policy = directory.get_policy(s, scope.brand_id)
    return render_template("ops/channel/policy.html", brand=brand, scope=scope, policy=policy, tab="policy",
                           form=extra.pop("form", {}), errors=extra.pop("errors", {}), **extra), status


@bp.get("/policy")
@login_required
def policy() -> Any:
    found = listing_scope("ops_channel.people.policy")
    if not isinstance(found, tuple):
        return found
    return _policy_page(*found, saved=bool(request.args.get("saved")))


@bp.post("/policy")
@login_required
def set_policy() -> Any:
    brand, scope = _posted_scope()
    form = {n: field(n) for n in ("voucher_face", "redeem_rebate")}
    try:
        with transaction(sessions()) as s:
            directory.set_policy(s, scope, require_registration=bool(request.form.get("require_registration")),
                                 voucher_face_fen=fen_field("voucher_face"),
                                 redeem_rebate_fen=fen_field("redeem_rebate"))
    except ChannelError as exc:
        refused, status = form_errors(exc)
        return _policy_page(brand, scope, status=status, form=form, errors=refused)
    return back_to("ops_channel.people.policy", brand.slug, saved=1)
