"""What the console's channel pages share: the caller's channel scope in a brand, the brand of a distributor or
store named by id, a domain refusal as a form error, and the forms' fields parsed for the domain (which
checks them: a field the form cannot even parse is handed on as typed, for the domain to refuse in words).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from flask import abort, current_app, redirect, request, url_for
from sqlalchemy import select

from app.auth import current_principal, tr
from app.brand_scope import BrandScope, page_brand
from app.channel_messages import field_of, in_chinese
from app.errors import STATUS
from app.rules_api import SQL_INT_MAX
from channel.errors import ChannelConflict, ChannelError, ChannelNotFound, InvalidChannel
from channel.models import Distributor, Store
from channel.scope import ChannelScope, brand_scope
from channel.territory import MAX_PREFIXES
from codegen.models import Brand

SEAT_WORDS = {"warehouse": ("仓库", "Warehouse"), "inspector": ("稽查", "Inspector"),
              "distributor": ("经销商", "Distributor"), "clerk": ("门店核销员", "Store clerk"),
              "waiter": ("服务员 / 导购", "Waiter")}
TOKEN_DAYS = 180


def seat_kind(kind: str) -> str:
    zh, en = SEAT_WORDS.get(kind, (kind, kind))
    return tr(zh, en)


def tier_label(tier: int) -> str:
    zh = "一二三四五六七八九"[tier - 1] + "级" if 1 <= tier <= 9 else f"{tier} 级"
    return tr(zh, f"tier {tier}")


def yuan(fen: int) -> str:
    return f"{fen / 100:,.2f}"


def sessions() -> Any:
    return current_app.extensions["yima.db"].sessions


def console_scope(brand_id: int) -> ChannelScope:
    """The caller's scope in the brand: ChannelNotFound (404) when they hold no console role there."""
    who = current_principal()
    assert who is not None  # login_required ran
    return brand_scope(brand_id, who.actor, role=who.role_in(brand_id), user_id=who.user_id)


def listing_scope(endpoint: str) -> tuple[BrandScope, ChannelScope] | Any:
    brand = page_brand(endpoint)
    if not isinstance(brand, BrandScope):
        return brand  # the brand picker, or a redirect to the caller's only brand
    return brand, console_scope(brand.id)


def owner_scope(model: type[Distributor] | type[Store], object_id: int) -> tuple[Brand, ChannelScope]:
    """The brand of a distributor or store and the caller's scope there; 404 for an id that names nothing."""
    if object_id > SQL_INT_MAX:
        abort(404)
    with sessions()() as s:
        brand_id = s.scalar(select(model.brand_id).where(model.id == object_id))
        brand = s.get(Brand, brand_id) if brand_id is not None else None
        if brand is None:
            abort(404)
        s.expunge(brand)
    return brand, console_scope(brand.id)


def form_errors(exc: ChannelError) -> tuple[dict[str, str], int]:
    """{field: message} of a refusal shown at its form, and the status; 404 and 403 end the request."""
    if not isinstance(exc, InvalidChannel | ChannelConflict):
        raise exc
    return {field_of(exc) or "form": tr(in_chinese(str(exc)), str(exc))}, STATUS[exc.kind]


def field(name: str) -> str:
    return request.form.get(name, "")[:1000]


def territory_field() -> list[str]:
    return [p for p in re.split(r"[\s,，、;；]+", field("territory")) if p][:MAX_PREFIXES + 1]


def id_field(name: str) -> int | str | None:
    value = field(name).strip()
    if not value:
        return None
    return int(value) if value.isascii() and value.isdigit() and int(value) <= SQL_INT_MAX else value


def number_field(name: str) -> float | str | None:
    value = field(name).strip()
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return value


def fen_field(name: str) -> int | str:
    """Yuan as typed ("5", "0.5") → fen; anything else is handed on for the domain to refuse."""
    value = field(name).strip()[:20] or "0"
    try:
        fen = Decimal(value) * 100
    except InvalidOperation:
        return value
    whole = fen.is_finite() and fen == fen.to_integral_value() and abs(fen) <= 10**12  # int() of 1e999999 hangs
    return int(fen) if whole else value


def back_to(endpoint: str, slug: str, **values: Any) -> Any:
    return redirect(url_for(endpoint, brand=slug, **values), 303)


def ids_in_sql_range(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A blueprint's url_value_preprocessor: an id beyond SQL INTEGER names nothing (404, before SQL sees it)."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and value > SQL_INT_MAX:
            raise ChannelNotFound(f"no {name.removesuffix('_id')} {value}")
