"""The channel scope of a request (channel/scope.py), for the /dist phone pages and the /api/v1/channel API.

Pages: a channel seat acts in its own brand; brand staff pick the brand once (`/dist?brand=<slug>`, kept in
the session), or have only one. API: a seat's token (role "channel") or a brand token acts in its brand;
the platform token names the brand with `?brand=<slug>`.

Domain errors (ChannelNotFound → 404, ChannelForbidden → 403, ...) are mapped by the blueprints'
page_errors / json_errors like every other domain error.
"""

from __future__ import annotations

from typing import Any

from flask import abort, current_app, redirect, request, session, url_for
from sqlalchemy import select

from accounts.roles import Principal
from app.auth import api_principal_or_none, current_principal
from channel.codes import KeyFor
from channel.errors import ChannelNotFound
from channel.scope import ChannelScope, brand_scope, seat_scope
from codegen.models import Brand

SESSION_BRAND = "dist_brand"


def _sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def scope_for(principal: Principal, brand_id: int | None) -> ChannelScope:
    """The caller's scope in `brand_id` (None: the brand of their seat, or their only brand); ChannelNotFound
    when they have no place in it (an id of another brand reads like one that does not exist)."""
    with _sessions()() as s:
        seat = principal.seat
        if seat is not None and not principal.brands and not principal.platform_admin:
            if brand_id not in (None, seat.brand_id):
                raise ChannelNotFound("no such brand")
            return seat_scope(s, brand_id=seat.brand_id, kind=seat.kind, actor=principal.actor,
                              user_id=principal.user_id, distributor_id=seat.distributor_id,
                              store_id=seat.store_id)
        if brand_id is None:
            readable = principal.readable_brand_ids()
            if readable is None or len(readable) != 1:
                raise ChannelNotFound("name the brand (?brand=<slug>)")
            brand_id = next(iter(readable))
        return brand_scope(brand_id, principal.actor, role=principal.role_in(brand_id), user_id=principal.user_id)


def _brand_id(slug: str) -> int:
    if not slug or len(slug) > 40:
        raise ChannelNotFound("no such brand")
    with _sessions()() as s:
        brand_id = s.scalar(select(Brand.id).where(Brand.slug == slug))
    if brand_id is None:
        raise ChannelNotFound("no such brand")
    return brand_id


def page_scope() -> ChannelScope:
    """The scope of a signed-in page request (behind login_required). Brand staff with several brands who
    have not picked one are sent to the picker (/dist)."""
    who = current_principal()
    if who is None:
        abort(404)
    slug = request.args.get("brand", "")
    if slug:
        brand_id = _brand_id(slug)
        scope = scope_for(who, brand_id)
        session[SESSION_BRAND] = brand_id
        return scope
    chosen = session.get(SESSION_BRAND)
    try:
        return scope_for(who, chosen if isinstance(chosen, int) else None)
    except ChannelNotFound:
        if who.seat is None and request.endpoint != "dist.home":
            abort(redirect(url_for("dist.home")))
        raise


def api_scope() -> ChannelScope:
    """The scope of an API request (after require_api_token): the token's brand, or `?brand=` for the
    platform token."""
    who = api_principal_or_none()
    if who is None:
        abort(401)
    slug = request.args.get("brand", "")
    return scope_for(who, _brand_id(slug) if slug else None)


def code_keys() -> KeyFor:
    """The batch keys the channel verifies codes with (the scan path's, cached per process)."""
    return current_app.extensions["yima.scanner"].key_for  # type: ignore[no-any-return]
